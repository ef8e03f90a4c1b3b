//! The wasm plugin runtime: runs WebAssembly components (`maia:plugin/plugin@1.x`) in
//! wasmtime with a per-call deadline (epoch interruption), a memory cap, and WASI with no
//! preopened directories, no environment and no network unless the manifest asks for
//! them *and* the user grants them.

use super::{Grants, PluginError, PluginFiles};
use crate::tools::{ToolProvider, ToolSource};
use maia_plugin_sdk::{
    Description, ErrorKind, Host, ImageId, LogLevel, SDK_MAJOR, SDK_VERSION, ToolCall, ToolError,
    ToolOutput, major_version,
};
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, ResourceLimiter, Store, Trap};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../plugin-sdk/wit",
        world: "maia:plugin/plugin@1.0.0",
    });
}

use bindings::maia::plugin::types as wit;

/// One epoch tick; deadlines are counted in ticks.
const TICK: Duration = Duration::from_millis(10);

/// Sandbox limits for wasm plugin calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WasmLimits {
    /// Wall-clock deadline of one call (default 5 s).
    pub timeout: Duration,
    /// Cap on each linear memory (default 256 MiB).
    pub memory_bytes: usize,
}

impl Default for WasmLimits {
    fn default() -> Self {
        WasmLimits {
            timeout: Duration::from_secs(5),
            memory_bytes: 256 << 20,
        }
    }
}

impl WasmLimits {
    fn deadline_ticks(&self) -> u64 {
        (self.timeout.as_millis() / TICK.as_millis()).max(1) as u64 + 1
    }
}

/// The engine, linker and epoch ticker shared by all wasm plugins of a process.
pub struct WasmRuntime {
    engine: Engine,
    linker: Linker<WasmState>,
    stop: Arc<AtomicBool>,
    ticker: Option<std::thread::JoinHandle<()>>,
}

impl WasmRuntime {
    /// Starts the engine and its epoch ticker thread.
    pub fn new() -> wasmtime::Result<Self> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        bindings::Plugin::add_to_linker::<WasmState, HasSelf<WasmState>>(&mut linker, |s| s)?;
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let engine = engine.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("maia-wasm-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(TICK);
                        engine.increment_epoch();
                    }
                })?
        };
        Ok(WasmRuntime {
            engine,
            linker,
            stop,
            ticker: Some(ticker),
        })
    }

    /// Compiles a component, reusing a cached compilation when the bytes and engine match.
    fn compile(&self, path: &Path) -> Result<Component, PluginError> {
        let bytes = std::fs::read(path).map_err(|source| PluginError::Io {
            path: path.into(),
            source,
        })?;
        let cache = compiled_cache_path(&self.engine, &bytes);
        if let Some(cache) = &cache
            && cache.is_file()
        {
            // SAFETY: the file was written by `Component::serialize` of this same engine
            // configuration (the name includes the engine's compatibility hash).
            if let Ok(component) = unsafe { Component::deserialize_file(&self.engine, cache) } {
                return Ok(component);
            }
        }
        let component =
            Component::new(&self.engine, &bytes).map_err(|e| PluginError::NotAPlugin {
                path: path.into(),
                reason: format!("not a WebAssembly component ({e}); build it for wasm32-wasip2"),
            })?;
        if let (Some(cache), Ok(serialized)) = (cache, component.serialize()) {
            let _ = std::fs::create_dir_all(cache.parent().unwrap_or(Path::new(".")));
            let tmp = cache.with_extension("tmp");
            if std::fs::write(&tmp, serialized).is_ok() {
                let _ = std::fs::rename(&tmp, &cache);
            }
        }
        Ok(component)
    }
}

impl Drop for WasmRuntime {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
    }
}

fn compiled_cache_path(engine: &Engine, wasm: &[u8]) -> Option<PathBuf> {
    let wasm_dir = crate::cache::cache_dir("wasm")?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let content = blake3::hash(wasm).to_hex();
    Some(wasm_dir.join(format!("{}-{:016x}.cwasm", &content[..32], hasher.finish())))
}

/// A pointer to the current call's host, valid only while a call is in flight.
struct HostPtr(*mut (dyn Host + 'static));

// SAFETY: the pointer is set and cleared around a call on one thread; the store is never
// used concurrently.
unsafe impl Send for HostPtr {}

/// Caps linear memory growth and remembers that the cap was hit.
struct MemoryCap {
    cap: usize,
    exceeded: Option<usize>,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.cap {
            self.exceeded = Some(desired);
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// Per-instance store data.
struct WasmState {
    wasi: WasiCtx,
    table: ResourceTable,
    memory: MemoryCap,
    host: Option<HostPtr>,
    denied: Arc<Mutex<Vec<String>>>,
    stderr: MemoryOutputPipe,
}

impl WasiView for WasmState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasmState {
    fn host(&mut self) -> Result<&mut dyn Host, wit::ToolError> {
        match &mut self.host {
            // SAFETY: set for the duration of the call by `WasmPlugin::call`.
            Some(ptr) => Ok(unsafe { &mut *ptr.0 }),
            None => Err(to_wit_error(ToolError::failed(
                "host services are only available during a tool call",
            ))),
        }
    }
}

impl wit::Host for WasmState {}

impl bindings::maia::plugin::host::Host for WasmState {
    fn get_image(&mut self, id: String) -> Result<wit::Image, wit::ToolError> {
        let image = self.host()?.image(&ImageId(id)).map_err(to_wit_error)?;
        Ok(wit::Image {
            id: image.id.0,
            png: image.png,
            caption: image.caption,
            meta_json: image.meta.to_string(),
        })
    }

    fn call_unit(&mut self, image_ids: Vec<String>) -> Result<String, wit::ToolError> {
        let ids: Vec<ImageId> = image_ids.into_iter().map(ImageId).collect();
        let acts = self.host()?.call_unit(&ids).map_err(to_wit_error)?;
        Ok(serde_json::to_string(&acts).unwrap_or_default())
    }

    fn progress(&mut self, done: u64, total: u64) {
        if let Ok(host) = self.host() {
            host.progress(done, total);
        }
    }

    fn log(&mut self, level: wit::LogLevel, message: String) {
        let level = match level {
            wit::LogLevel::Trace => LogLevel::Trace,
            wit::LogLevel::Debug => LogLevel::Debug,
            wit::LogLevel::Info => LogLevel::Info,
            wit::LogLevel::Warn => LogLevel::Warn,
            wit::LogLevel::Error => LogLevel::Error,
        };
        if let Ok(host) = self.host() {
            host.log(level, &message);
        }
    }
}

fn to_wit_error(e: ToolError) -> wit::ToolError {
    let kind = match e.kind {
        ErrorKind::InvalidArgs => wit::ErrorKind::InvalidArgs,
        ErrorKind::Failed => wit::ErrorKind::Failed,
        ErrorKind::Timeout => wit::ErrorKind::Timeout,
        ErrorKind::Denied => wit::ErrorKind::Denied,
    };
    wit::ToolError {
        kind,
        message: e.message,
    }
}

fn from_wit_error(e: wit::ToolError) -> ToolError {
    let kind = match e.kind {
        wit::ErrorKind::InvalidArgs => ErrorKind::InvalidArgs,
        wit::ErrorKind::Failed => ErrorKind::Failed,
        wit::ErrorKind::Timeout => ErrorKind::Timeout,
        wit::ErrorKind::Denied => ErrorKind::Denied,
    };
    ToolError::new(kind, e.message)
}

/// Reads the `maia:plugin` interface version a component exports and refuses another
/// major version, naming both.
fn check_world_version(
    engine: &Engine,
    component: &Component,
    files: &PluginFiles,
) -> Result<(), PluginError> {
    let ty = component.component_type();
    let version = ty.exports(engine).find_map(|(name, _)| {
        name.strip_prefix("maia:plugin/")
            .map(|rest| rest.split_once('@').map(|(_, v)| v.to_owned()))
    });
    match version {
        None => Err(PluginError::NotAPlugin {
            path: files.artifact.clone(),
            reason: "the component exports no `maia:plugin/tool` interface (export one with maia_plugin_sdk::export_wasm!)".into(),
        }),
        Some(v) => {
            let v = v.unwrap_or_default();
            if major_version(&v) == Some(SDK_MAJOR) {
                Ok(())
            } else {
                Err(PluginError::SdkVersion {
                    plugin: files.manifest.name.clone(),
                    origin: format!("{}, WIT world maia:plugin@{v}", files.artifact.display()),
                    plugin_sdk: v,
                    host_sdk: SDK_VERSION.to_owned(),
                })
            }
        }
    }
}

/// Who may be connected to: resolved from the manifest's `net` entries when granted.
#[derive(Clone, Default)]
struct NetPolicy {
    allowed: Vec<(IpAddr, Option<u16>)>,
}

impl NetPolicy {
    fn resolve(entries: &[String]) -> Self {
        let mut allowed = Vec::new();
        for entry in entries {
            let (host, port) = match entry.rsplit_once(':') {
                Some((h, p)) if p.parse::<u16>().is_ok() => (h.to_owned(), p.parse().ok()),
                _ => (entry.clone(), None),
            };
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            if let Ok(addrs) = (host.as_str(), port.unwrap_or(0)).to_socket_addrs() {
                allowed.extend(addrs.map(|a| (a.ip(), port)));
            }
        }
        NetPolicy { allowed }
    }

    fn permits(&self, addr: SocketAddr) -> bool {
        self.allowed
            .iter()
            .any(|(ip, port)| *ip == addr.ip() && port.is_none_or(|p| p == addr.port()))
    }
}

/// A loaded wasm plugin. A trap (deadline, memory cap, panic) discards the instance;
/// the next call gets a fresh one, so the plugin keeps serving.
pub struct WasmPlugin {
    runtime: Arc<WasmRuntime>,
    pre: bindings::PluginPre<WasmState>,
    live: Option<(Store<WasmState>, bindings::Plugin)>,
    files: PluginFiles,
    grants: Grants,
    limits: WasmLimits,
    description: Description,
}

impl WasmPlugin {
    /// Compiles (or loads from cache), checks the world version, instantiates, and reads
    /// the plugin's description.
    pub fn load(
        runtime: Arc<WasmRuntime>,
        files: &PluginFiles,
        grants: &Grants,
        limits: WasmLimits,
    ) -> Result<Self, PluginError> {
        let component = runtime.compile(&files.artifact)?;
        check_world_version(&runtime.engine, &component, files)?;
        let instance_pre =
            runtime
                .linker
                .instantiate_pre(&component)
                .map_err(|e| PluginError::NotAPlugin {
                    path: files.artifact.clone(),
                    reason: format!("its imports cannot be satisfied: {e:#}"),
                })?;
        let pre = bindings::PluginPre::new(instance_pre).map_err(|e| PluginError::NotAPlugin {
            path: files.artifact.clone(),
            reason: format!("it does not match the maia:plugin world: {e:#}"),
        })?;
        let mut plugin = WasmPlugin {
            runtime,
            pre,
            live: None,
            files: files.clone(),
            grants: grants.clone(),
            limits,
            description: Description {
                manifest: files.manifest.clone(),
                tools: Vec::new(),
            },
        };
        let startup = |message: String| PluginError::Startup {
            plugin: files.manifest.name.clone(),
            message,
        };
        let (store, instance) = plugin.live_instance().map_err(|e| startup(e.message))?;
        store.set_epoch_deadline(limits.deadline_ticks());
        let json = match instance.maia_plugin_tool().call_describe(&mut *store) {
            Ok(json) => json,
            Err(trap) => return Err(startup(format!("describe trapped: {trap:#}"))),
        };
        let mut description: Description = serde_json::from_str(&json)
            .map_err(|e| startup(format!("its description is not valid JSON: {e}")))?;
        // Permissions come from plugin.toml (what the user reviewed), not the binary.
        description.manifest.permissions = files.manifest.permissions.clone();
        plugin.description = description;
        Ok(plugin)
    }

    fn new_instance(&self) -> Result<(Store<WasmState>, bindings::Plugin), ToolError> {
        let name = &self.files.manifest.name;
        let perms = &self.files.manifest.permissions;
        let stderr = MemoryOutputPipe::new(64 << 10);
        let denied = Arc::new(Mutex::new(Vec::new()));
        let mut wasi = WasiCtxBuilder::new();
        wasi.stderr(stderr.clone());
        if self.grants.env(name) {
            for var in &perms.env {
                if let Ok(value) = std::env::var(var) {
                    wasi.env(var, value);
                }
            }
        }
        if self.grants.fs(name) {
            for dir in &perms.fs {
                wasi.preopened_dir(dir, dir, FsPerms::ReadWrite)
                    .map_err(|e| ToolError::failed(format!("granting directory {dir}: {e:#}")))?;
            }
        }
        let net_granted = self.grants.net(name) && !perms.net.is_empty();
        let policy = if net_granted {
            NetPolicy::resolve(&perms.net)
        } else {
            NetPolicy::default()
        };
        // TCP sockets can be created, but every connect/bind address goes through the
        // policy; refusals are recorded so the error can say what was attempted.
        wasi.allow_tcp(true)
            .allow_udp(net_granted)
            .allow_ip_name_lookup(net_granted);
        let record = denied.clone();
        wasi.socket_addr_check(move |addr, addr_use| {
            use wasmtime_wasi::sockets::SocketAddrUse as Use;
            let ok = match addr_use {
                // Before every connect/send on an unbound socket wasmtime checks a bind of
                // the wildcard address, port 0 (the OS's implicit bind). Allow exactly that:
                // what the socket then reaches is checked below.
                Use::TcpBind | Use::UdpBind => addr.ip().is_unspecified() && addr.port() == 0,
                Use::TcpConnect | Use::UdpSend | Use::UdpReceive => policy.permits(addr),
                // A plugin never serves connections.
                Use::TcpListen | Use::TcpAccept => false,
            };
            // Incoming datagrams and connections are dropped silently; report the rest.
            let attempted = !matches!(addr_use, Use::UdpReceive | Use::TcpAccept);
            if !ok
                && attempted
                && let Ok(mut d) = record.lock()
            {
                d.push(addr.to_string());
            }
            Box::pin(async move { ok })
        });
        let state = WasmState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            memory: MemoryCap {
                cap: self.limits.memory_bytes,
                exceeded: None,
            },
            host: None,
            denied,
            stderr,
        };
        let mut store = Store::new(&self.runtime.engine, state);
        store.limiter(|s| &mut s.memory);
        store.set_epoch_deadline(self.limits.deadline_ticks());
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| trap_error(name, self.limits, &store, &e, "instantiating"))?;
        Ok((store, instance))
    }

    fn live_instance(&mut self) -> Result<&mut (Store<WasmState>, bindings::Plugin), ToolError> {
        if self.live.is_none() {
            self.live = Some(self.new_instance()?);
        }
        self.live
            .as_mut()
            .ok_or_else(|| ToolError::failed("no instance"))
    }
}

/// Turns a wasmtime trap into the error the user sees: timeout, memory cap, or crash
/// (with the tail of the plugin's stderr, where panics print).
fn trap_error(
    name: &str,
    limits: WasmLimits,
    store: &Store<WasmState>,
    err: &wasmtime::Error,
    during: &str,
) -> ToolError {
    {
        if matches!(err.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
            return ToolError::timeout(format!(
                "plugin `{name}` did not finish {during} within {:.1} s and was stopped (raise the limit with --wasm-timeout SECS)",
                limits.timeout.as_secs_f64()
            ));
        }
        if let Some(wanted) = store.data().memory.exceeded {
            return ToolError::failed(format!(
                "plugin `{name}` exceeded its memory cap of {} MiB (tried to grow to {} MiB) and was stopped (raise it with --wasm-memory-mb MB)",
                limits.memory_bytes >> 20,
                wanted >> 20
            ));
        }
        let stderr = store.data().stderr.contents();
        let stderr = String::from_utf8_lossy(&stderr);
        let tail: String = stderr
            .trim()
            .lines()
            .rev()
            .take(6)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        let trap = err
            .downcast_ref::<Trap>()
            .map(|t| t.to_string())
            .unwrap_or_else(|| format!("{err:#}"));
        if tail.is_empty() {
            ToolError::failed(format!("plugin `{name}` crashed {during}: {trap}"))
        } else {
            ToolError::failed(format!(
                "plugin `{name}` crashed {during}: {trap}; its stderr said:\n{tail}"
            ))
        }
    }
}

impl ToolProvider for WasmPlugin {
    fn description(&self) -> &Description {
        &self.description
    }

    fn source(&self) -> ToolSource {
        ToolSource::Wasm {
            plugin: self.files.manifest.name.clone(),
            path: self.files.artifact.clone(),
        }
    }

    fn call(&mut self, call: &ToolCall, host: &mut dyn Host) -> Result<ToolOutput, ToolError> {
        let json = serde_json::to_string(call)
            .map_err(|e| ToolError::failed(format!("encoding call: {e}")))?;
        let ticks = self.limits.deadline_ticks();
        let (mut store, instance) = match self.live.take() {
            Some(live) => live,
            None => self.new_instance()?,
        };
        let host_ptr: *mut (dyn Host + '_) = host;
        // SAFETY: the pointer is cleared below before `host`'s borrow ends; the lifetime
        // is erased only to park it in the store for the duration of this call.
        let host_ptr: *mut (dyn Host + 'static) = unsafe { std::mem::transmute(host_ptr) };
        store.data_mut().host = Some(HostPtr(host_ptr));
        if let Ok(mut d) = store.data().denied.lock() {
            d.clear();
        }
        store.set_epoch_deadline(ticks);
        let result = instance.maia_plugin_tool().call_call(&mut store, &json);
        store.data_mut().host = None;
        let denied: Vec<String> = store
            .data()
            .denied
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default();
        let result = match result {
            Ok(result) => result,
            // The instance may be corrupt after a trap: drop it and start fresh next call.
            Err(trap) => {
                return Err(trap_error(
                    &self.files.manifest.name,
                    self.limits,
                    &store,
                    &trap,
                    "its call",
                ));
            }
        };
        self.live = Some((store, instance));
        match result {
            Ok(out) => Ok(ToolOutput {
                text: out.text,
                images: out
                    .images
                    .into_iter()
                    .map(|i| maia_plugin_sdk::Image {
                        id: ImageId(i.id),
                        png: i.png,
                        caption: i.caption,
                        meta: serde_json::from_str(&i.meta_json).unwrap_or(serde_json::Value::Null),
                    })
                    .collect(),
                data: serde_json::from_str(&out.data_json).unwrap_or(serde_json::Value::Null),
            }),
            Err(e) => {
                let mut e = from_wit_error(e);
                if !denied.is_empty() {
                    e = ToolError::denied(format!(
                        "plugin `{}` tried to connect to {} without network permission ({}); {}",
                        self.files.manifest.name,
                        denied.join(", "),
                        if self.files.manifest.permissions.net.is_empty() {
                            "its plugin.toml asks for none".to_owned()
                        } else {
                            format!(
                                "grant the hosts its plugin.toml names with --allow-net {}",
                                self.files.manifest.name
                            )
                        },
                        e.message
                    ));
                }
                Err(e)
            }
        }
    }
}
