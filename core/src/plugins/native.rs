//! The native plugin runtime: loads a `cdylib` with `libloading` and talks to it through the
//! SDK's versioned C ABI. Native plugins are trusted, in-process code.

use super::net::{self, NetPolicy};
use super::{PluginError, PluginFiles, check_sdk_version};
use crate::tools::{ToolProvider, ToolSource};
use maia_plugin_sdk::native::{self as abi, Buffer, HostVTable, PluginVTable, op, status};
use maia_plugin_sdk::{
    Description, Host, ImageId, LogLevel, ToolCall, ToolError, ToolOutput, http as sdk_http, wire,
};
use std::ffi::{CStr, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// A loaded native plugin instance.
pub struct NativePlugin {
    // Field order matters only for clarity: Drop destroys the instance before the
    // library is unloaded.
    instance: *mut c_void,
    vtable: *const PluginVTable,
    description: Description,
    path: PathBuf,
    services: Services,
    library: Option<libloading::Library>,
}

/// What the host lends this plugin beyond the per-call [`Host`]: its settings
/// (`op::CONFIG`) and its network (`op::HTTP`), checked against its policy and grant.
#[derive(Clone, Debug, Default)]
pub struct Services {
    /// The plugin's name, for messages.
    pub plugin: String,
    /// `Host::config`'s answer.
    pub config: serde_json::Value,
    /// Destinations the manifest declares, resolved.
    pub policy: NetPolicy,
    /// Whether the user granted the plugin network access.
    pub net_granted: bool,
}

impl Services {
    /// Checks every destination of a batch; the first refusal refuses it whole, with a
    /// message naming the refused host, the allowed ones, and how to change them.
    pub fn check_batch(&self, requests: &[maia_plugin_sdk::HttpRequest]) -> Result<(), ToolError> {
        let plugin = &self.plugin;
        if !self.net_granted {
            return Err(ToolError::denied(format!(
                "plugin `{plugin}` has no network grant; allow it with `--allow-net {plugin}`"
            )));
        }
        for request in requests {
            if let Err(why) = self.policy.check(&request.url) {
                let mut message = format!(
                    "plugin `{plugin}` may not connect there: {why}; allowed: {}",
                    self.policy.describe()
                );
                for note in self.policy.unresolved() {
                    message.push_str(&format!(" (unresolved: {note})"));
                }
                message.push_str(&format!(
                    ". The allowed hosts come from its plugin.toml `[permissions] net`; \
                     for `config:base_url` set `base_url` under `[plugins.{plugin}]` in maia.toml"
                ));
                return Err(ToolError::denied(message));
            }
        }
        Ok(())
    }
}

// SAFETY: the instance is only touched through `&mut self` (the registry serializes calls
// with a mutex), and the plugin contract requires instances to be movable across threads.
unsafe impl Send for NativePlugin {}

fn not_a_plugin(path: &Path, reason: impl Into<String>) -> PluginError {
    PluginError::NotAPlugin {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

impl NativePlugin {
    /// Loads and instantiates the library, checking ABI and SDK versions first. The
    /// plugin gets no settings and no network; see [`NativePlugin::load_with`].
    pub fn load(files: &PluginFiles) -> Result<Self, PluginError> {
        Self::load_with(
            files,
            Services {
                plugin: files.manifest.name.clone(),
                ..Services::default()
            },
        )
    }

    /// Loads and instantiates the library, lending it `services`.
    pub fn load_with(files: &PluginFiles, services: Services) -> Result<Self, PluginError> {
        let path = &files.artifact;
        // SAFETY: loading a library runs its initializers; native plugins are trusted code
        // by design (sandboxed plugins are wasm).
        let library = unsafe { libloading::Library::new(path) }.map_err(|e| {
            // libloading's Display is only "dlopen failed"; the loader's reason
            // ("invalid ELF header", a missing dependency, ...) is its source.
            let reason = std::error::Error::source(&e)
                .map_or_else(|| e.to_string(), |source| format!("{e}: {source}"));
            not_a_plugin(
                path,
                format!("cannot load it as a shared library ({reason})"),
            )
        })?;
        let entry = unsafe {
            library
                .get::<unsafe extern "C" fn() -> *const PluginVTable>(abi::ENTRY_SYMBOL.as_bytes())
        };
        let entry = match entry {
            Ok(entry) => entry,
            Err(_) => return Err(missing_entry(&library, path)),
        };
        // SAFETY: the symbol has the documented signature for this ABI version.
        let vtable = unsafe { entry() };
        if vtable.is_null() {
            return Err(not_a_plugin(path, "its entry point returned no vtable"));
        }
        // SAFETY: `abi_version` is the first field in every ABI version.
        let abi_version = unsafe { (*vtable).abi_version };
        if abi_version != abi::ABI_VERSION {
            return Err(PluginError::Abi {
                path: path.clone(),
                found: abi_version,
                expected: abi::ABI_VERSION,
                sdk: maia_plugin_sdk::SDK_VERSION.into(),
            });
        }
        // SAFETY: ABI v1 layout confirmed; sdk_version is a static C string.
        let vt = unsafe { &*vtable };
        let sdk = if vt.sdk_version.is_null() {
            String::new()
        } else {
            unsafe { CStr::from_ptr(vt.sdk_version) }
                .to_string_lossy()
                .into_owned()
        };
        let mut embedded = files.manifest.clone();
        embedded.sdk_version = sdk;
        check_sdk_version(
            &embedded,
            &format!("{}, embedded SDK version", path.display()),
        )?;

        // SAFETY: calling into the plugin per the ABI contract.
        let instance = unsafe { (vt.create)() };
        if instance.is_null() {
            return Err(PluginError::Startup {
                plugin: files.manifest.name.clone(),
                message: "its constructor panicked".into(),
            });
        }
        let mut plugin = NativePlugin {
            instance,
            vtable,
            description: Description {
                manifest: files.manifest.clone(),
                tools: Vec::new(),
            },
            path: path.clone(),
            services,
            library: Some(library),
        };
        let mut out = Buffer::empty();
        // SAFETY: instance is live; out is ours.
        let code = unsafe { (vt.describe)(instance, &mut out) };
        let bytes = plugin.take(out);
        if code != status::OK {
            return Err(PluginError::Startup {
                plugin: files.manifest.name.clone(),
                message: format!("describe failed: {}", String::from_utf8_lossy(&bytes)),
            });
        }
        plugin.description = serde_json::from_slice(&bytes).map_err(|e| PluginError::Startup {
            plugin: files.manifest.name.clone(),
            message: format!("its description is not valid JSON: {e}"),
        })?;
        Ok(plugin)
    }

    fn vt(&self) -> &PluginVTable {
        // SAFETY: the vtable is static data in the library, which outlives `self`'s use.
        unsafe { &*self.vtable }
    }

    /// Copies a plugin-allocated buffer and frees it with the plugin's allocator.
    fn take(&self, buf: Buffer) -> Vec<u8> {
        // SAFETY: the plugin filled `buf`; we copy, then return it to the plugin's free.
        let bytes = unsafe { buf.as_slice() }.to_vec();
        unsafe { (self.vt().free)(buf) };
        bytes
    }
}

fn missing_entry(library: &libloading::Library, path: &Path) -> PluginError {
    for version in (0..16).filter(|v| *v != abi::ABI_VERSION) {
        let name = format!("{}{version}", abi::ENTRY_SYMBOL_PREFIX);
        // SAFETY: only probing for the symbol's presence; it is never called.
        if unsafe { library.get::<*const c_void>(name.as_bytes()) }.is_ok() {
            return PluginError::Abi {
                path: path.to_path_buf(),
                found: version,
                expected: abi::ABI_VERSION,
                sdk: maia_plugin_sdk::SDK_VERSION.into(),
            };
        }
    }
    not_a_plugin(
        path,
        format!(
            "it has no `{}` symbol (export one with maia_plugin_sdk::export_native!)",
            abi::ENTRY_SYMBOL
        ),
    )
}

impl Drop for NativePlugin {
    fn drop(&mut self) {
        if !self.instance.is_null() {
            // SAFETY: instance came from this vtable's create and is destroyed once.
            unsafe { (self.vt().destroy)(self.instance) };
            self.instance = std::ptr::null_mut();
        }
        drop(self.library.take());
    }
}

impl ToolProvider for NativePlugin {
    fn description(&self) -> &Description {
        &self.description
    }

    fn source(&self) -> ToolSource {
        ToolSource::Native {
            plugin: self.description.manifest.name.clone(),
            path: self.path.clone(),
        }
    }

    fn call(&mut self, call: &ToolCall, host: &mut dyn Host) -> Result<ToolOutput, ToolError> {
        let request = serde_json::to_vec(call)
            .map_err(|e| ToolError::failed(format!("encoding call: {e}")))?;
        let mut ctx = CallCtx {
            host,
            services: &self.services,
        };
        let host_vtable = HostVTable {
            ctx: (&mut ctx as *mut CallCtx<'_>).cast(),
            request: host_request,
            free: abi::free_buffer,
        };
        let mut out = Buffer::empty();
        // SAFETY: instance is live; request, host vtable and out outlive the call.
        let code = unsafe {
            (self.vt().call)(
                self.instance,
                request.as_ptr(),
                request.len(),
                &host_vtable,
                &mut out,
            )
        };
        let bytes = self.take(out);
        abi::decode_call_reply(code, &bytes).map_err(|mut e| {
            if code == status::PANIC {
                e.message = format!("plugin `{}` {}", self.description.manifest.name, e.message);
            }
            e
        })
    }
}

/// What `host_request` reaches through its context pointer during one call.
struct CallCtx<'a> {
    host: &'a mut dyn Host,
    services: &'a Services,
}

/// The host's side of `HostVTable::request`: dispatches a plugin's service request to
/// the `&mut dyn Host` of the current call. Never unwinds into the plugin.
unsafe extern "C" fn host_request(
    ctx: *mut c_void,
    op_code: u32,
    req: *const u8,
    len: usize,
    out: *mut Buffer,
) -> u32 {
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: ctx is the `CallCtx` set up in `call`, live for the call.
        let ctx: &mut CallCtx<'_> = unsafe { &mut *ctx.cast::<CallCtx<'_>>() };
        let req = if req.is_null() || len == 0 {
            &[][..]
        } else {
            unsafe { std::slice::from_raw_parts(req, len) }
        };
        serve(ctx, op_code, req)
    }));
    let (code, bytes) = result.unwrap_or_else(|_| {
        (
            status::PANIC,
            b"host panicked while serving the plugin".to_vec(),
        )
    });
    if !out.is_null() {
        // SAFETY: the plugin passes a writable out pointer.
        unsafe { out.write(Buffer::from_vec(bytes)) };
    }
    code
}

fn serve(ctx: &mut CallCtx<'_>, op_code: u32, req: &[u8]) -> (u32, Vec<u8>) {
    let host = &mut *ctx.host;
    let error = |e: ToolError| {
        (
            status::TOOL_ERROR,
            serde_json::to_vec(&e).unwrap_or_default(),
        )
    };
    match op_code {
        op::IMAGE => match host.image(&ImageId(String::from_utf8_lossy(req).into_owned())) {
            Ok(image) => (status::OK, wire::encode_image(&image)),
            Err(e) => error(e),
        },
        op::CALL_UNIT => {
            let ids: Vec<ImageId> = match serde_json::from_slice(req) {
                Ok(ids) => ids,
                Err(e) => return error(ToolError::invalid_args(format!("call_unit request: {e}"))),
            };
            match host.call_unit(&ids) {
                Ok(acts) => (status::OK, serde_json::to_vec(&acts).unwrap_or_default()),
                Err(e) => error(e),
            }
        }
        op::PROGRESS if req.len() == 16 => {
            let mut done = [0u8; 8];
            let mut total = [0u8; 8];
            done.copy_from_slice(&req[..8]);
            total.copy_from_slice(&req[8..]);
            host.progress(u64::from_le_bytes(done), u64::from_le_bytes(total));
            (status::OK, Vec::new())
        }
        op::LOG => {
            #[derive(serde::Deserialize)]
            struct Line {
                level: LogLevel,
                message: String,
            }
            match serde_json::from_slice::<Line>(req) {
                Ok(line) => {
                    host.log(line.level, &line.message);
                    (status::OK, Vec::new())
                }
                Err(e) => error(ToolError::invalid_args(format!("log request: {e}"))),
            }
        }
        op::CONFIG => (
            status::OK,
            serde_json::to_vec(&ctx.services.config).unwrap_or_default(),
        ),
        op::HTTP => {
            let (requests, max_concurrent) = match sdk_http::decode_requests(req) {
                Ok(r) => r,
                Err(e) => return error(ToolError::invalid_args(format!("http request: {e}"))),
            };
            if let Err(e) = ctx.services.check_batch(&requests) {
                return error(e);
            }
            let outcomes = net::execute(&requests, max_concurrent);
            (status::OK, sdk_http::encode_outcomes(&outcomes))
        }
        other => error(ToolError::invalid_args(format!(
            "unknown host service {other}"
        ))),
    }
}
