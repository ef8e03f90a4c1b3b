//! The native (C ABI) plugin boundary: one versioned entry symbol returning a vtable.
//!
//! Everything crossing the boundary is bytes: tool calls as JSON, outputs and images as
//! [`wire`](crate::wire) frames (JSON header + PNG blobs). A buffer is always freed by the
//! side that allocated it, through that side's `free` function, so host and plugin may use
//! different allocators. Every entry point catches panics: a panic becomes a `failed`
//! error naming the panic message and location, and never unwinds across `extern "C"`.
//!
//! Plugins must be built with `panic = "unwind"` (the default) for panics to be caught.

use crate::{
    Host, HttpOutcome, HttpRequest, Image, ImageId, LogLevel, Plugin, ToolCall, ToolError,
    ToolOutput, UnitActivation, wire,
};
use std::cell::RefCell;
use std::ffi::{CStr, c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Version of the native ABI (the layout of [`PluginVTable`] and [`HostVTable`]).
pub const ABI_VERSION: u32 = 1;

/// The entry symbol for this ABI version. Its name carries the version so a host can tell
/// "not a maia plugin" from "a maia plugin for another ABI".
pub const ENTRY_SYMBOL: &str = "maia_plugin_entry_v1";

/// Prefix of every entry symbol (`maia_plugin_entry_v{N}`).
pub const ENTRY_SYMBOL_PREFIX: &str = "maia_plugin_entry_v";

/// The SDK version as a C string, embedded in every vtable.
pub const SDK_VERSION_C: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(s) => s,
        Err(_) => panic!("SDK version is not a C string"),
    };

/// Status codes returned by vtable functions.
pub mod status {
    /// Success; the out-buffer holds the result.
    pub const OK: u32 = 0;
    /// The tool returned an error; the out-buffer holds a JSON `ToolError`.
    pub const TOOL_ERROR: u32 = 1;
    /// The plugin panicked; the out-buffer holds the panic message (UTF-8).
    pub const PANIC: u32 = 2;
}

/// Host services (`HostVTable::request` operations).
pub mod op {
    /// Request: image id (UTF-8). Reply: wire image frame.
    pub const IMAGE: u32 = 1;
    /// Request: JSON list of image ids. Reply: JSON list of `UnitActivation`.
    pub const CALL_UNIT: u32 = 2;
    /// Request: 16 bytes, `done` and `total` as little-endian u64. Reply: empty.
    pub const PROGRESS: u32 = 3;
    /// Request: JSON `{"level": .., "message": ..}`. Reply: empty.
    pub const LOG: u32 = 4;
    /// Since SDK 1.1. Request: [`http::encode_requests`](crate::http::encode_requests)
    /// frame (requests and the concurrency limit). Reply:
    /// [`http::encode_outcomes`](crate::http::encode_outcomes) frame, or `TOOL_ERROR`
    /// with a JSON `ToolError` when the host refuses the batch.
    pub const HTTP: u32 = 5;
    /// Since SDK 1.1. Request: empty. Reply: the plugin's settings as JSON.
    pub const CONFIG: u32 = 6;
}

/// Owned bytes handed across the boundary; freed by the allocating side's `free`.
#[repr(C)]
#[derive(Debug)]
pub struct Buffer {
    /// Start of the bytes (may be dangling when `len` is 0).
    pub ptr: *mut u8,
    /// Number of bytes.
    pub len: usize,
    /// Allocation capacity (needed to free a `Vec`).
    pub cap: usize,
}

impl Buffer {
    /// An empty buffer.
    pub const fn empty() -> Self {
        Buffer {
            ptr: std::ptr::null_mut(),
            len: 0,
            cap: 0,
        }
    }

    /// Takes ownership of a vector's allocation.
    pub fn from_vec(v: Vec<u8>) -> Self {
        let mut v = std::mem::ManuallyDrop::new(v);
        Buffer {
            ptr: v.as_mut_ptr(),
            len: v.len(),
            cap: v.capacity(),
        }
    }

    /// Views the bytes.
    ///
    /// # Safety
    /// `ptr`/`len` must describe live bytes (or `len == 0`).
    pub unsafe fn as_slice(&self) -> &[u8] {
        if self.len == 0 || self.ptr.is_null() {
            &[]
        } else {
            // SAFETY: the caller guarantees ptr/len describe live bytes.
            unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
        }
    }

    /// Rebuilds the vector so it can be dropped by this side's allocator.
    ///
    /// # Safety
    /// The buffer must have been made by [`Buffer::from_vec`] in this same binary.
    pub unsafe fn into_vec(self) -> Vec<u8> {
        if self.ptr.is_null() {
            Vec::new()
        } else {
            // SAFETY: made by from_vec with this allocator.
            unsafe { Vec::from_raw_parts(self.ptr, self.len, self.cap) }
        }
    }
}

/// Frees a buffer allocated by this binary. Each side exports one of these in its vtable.
///
/// # Safety
/// `buf` must come from [`Buffer::from_vec`] in this binary and not be freed twice.
pub unsafe extern "C" fn free_buffer(buf: Buffer) {
    // SAFETY: per the contract above.
    drop(unsafe { buf.into_vec() });
}

/// What the host passes into each call: an opaque context and one request function.
#[repr(C)]
#[derive(Debug)]
pub struct HostVTable {
    /// Host-private context.
    pub ctx: *mut c_void,
    /// Performs a host service `op` (see [`op`]); writes the reply into `out` and returns
    /// a [`status`] code.
    pub request: unsafe extern "C" fn(
        ctx: *mut c_void,
        op: u32,
        req: *const u8,
        req_len: usize,
        out: *mut Buffer,
    ) -> u32,
    /// Frees a buffer the host allocated.
    pub free: unsafe extern "C" fn(buf: Buffer),
}

/// What a native plugin's entry symbol returns. `abi_version` comes first and stays first
/// in every ABI version, so a host can read it before trusting the rest of the layout.
#[repr(C)]
#[derive(Debug)]
pub struct PluginVTable {
    /// Must equal the host's [`ABI_VERSION`].
    pub abi_version: u32,
    /// NUL-terminated SDK version the plugin was built with.
    pub sdk_version: *const c_char,
    /// Creates an instance; null if construction panicked.
    pub create: unsafe extern "C" fn() -> *mut c_void,
    /// Destroys an instance.
    pub destroy: unsafe extern "C" fn(instance: *mut c_void),
    /// Writes JSON `Description` (manifest + tools) into `out`.
    pub describe: unsafe extern "C" fn(instance: *mut c_void, out: *mut Buffer) -> u32,
    /// Runs a call: `req` is JSON `ToolCall`; `out` gets a wire `ToolOutput` (OK), JSON
    /// `ToolError` (TOOL_ERROR) or a panic message (PANIC).
    pub call: unsafe extern "C" fn(
        instance: *mut c_void,
        req: *const u8,
        req_len: usize,
        host: *const HostVTable,
        out: *mut Buffer,
    ) -> u32,
    /// Frees a buffer the plugin allocated.
    pub free: unsafe extern "C" fn(buf: Buffer),
}

// SAFETY: the vtable is immutable static data: function pointers and a pointer to a
// static C string.
unsafe impl Sync for PluginVTable {}

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn install_panic_hook() {
    // Each cdylib carries its own std, so this hook only sees the plugin's own panics.
    // It records the message and location for the error instead of printing to stderr
    // (which would tear the host's terminal UI).
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let message = info
                .payload_as_str()
                .unwrap_or("panic with a non-string payload");
            let text = match info.location() {
                Some(at) => format!("{message} (at {}:{})", at.file(), at.line()),
                None => message.to_owned(),
            };
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(text));
        }));
    });
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(text) = LAST_PANIC.with(|p| p.borrow_mut().take()) {
        return text;
    }
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-string payload".to_owned())
}

fn guarded(out: *mut Buffer, f: impl FnOnce() -> (u32, Vec<u8>)) -> u32 {
    let (code, bytes) = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => (status::PANIC, panic_text(payload).into_bytes()),
    };
    if !out.is_null() {
        // SAFETY: the host passes a valid out pointer.
        unsafe { out.write(Buffer::from_vec(bytes)) };
    }
    code
}

/// `create` for plugin type `P`.
///
/// # Safety
/// Called by the host through the vtable only.
pub unsafe extern "C" fn create<P: Plugin + Default>() -> *mut c_void {
    install_panic_hook();
    match catch_unwind(P::default) {
        Ok(p) => Box::into_raw(Box::new(p)).cast(),
        Err(_) => std::ptr::null_mut(),
    }
}

/// `destroy` for plugin type `P`.
///
/// # Safety
/// `instance` must come from [`create::<P>`] and not be used afterwards.
pub unsafe extern "C" fn destroy<P: Plugin>(instance: *mut c_void) {
    if !instance.is_null() {
        // SAFETY: instance came from Box::into_raw in create::<P>.
        let boxed = unsafe { Box::from_raw(instance.cast::<P>()) };
        let _ = catch_unwind(AssertUnwindSafe(move || drop(boxed)));
    }
}

/// `describe` for plugin type `P`.
///
/// # Safety
/// `instance` must come from [`create::<P>`]; `out` must be writable.
pub unsafe extern "C" fn describe<P: Plugin>(instance: *mut c_void, out: *mut Buffer) -> u32 {
    guarded(out, || {
        // SAFETY: instance came from create::<P>; the host serializes calls.
        let plugin = unsafe { &*instance.cast::<P>() };
        let mut manifest = plugin.manifest();
        manifest.kind = crate::PluginKind::Native;
        manifest.sdk_version = crate::SDK_VERSION.to_owned();
        let description = crate::Description {
            manifest,
            tools: plugin.tools(),
        };
        (
            status::OK,
            serde_json::to_vec(&description).unwrap_or_default(),
        )
    })
}

/// `call` for plugin type `P`.
///
/// # Safety
/// `instance` must come from [`create::<P>`]; `req`/`req_len` must describe live bytes;
/// `host` must point to a valid [`HostVTable`] for the duration of the call.
pub unsafe extern "C" fn call<P: Plugin>(
    instance: *mut c_void,
    req: *const u8,
    req_len: usize,
    host: *const HostVTable,
    out: *mut Buffer,
) -> u32 {
    guarded(out, || {
        // SAFETY: per the function contract.
        let plugin = unsafe { &mut *instance.cast::<P>() };
        let bytes = if req.is_null() {
            &[][..]
        } else {
            unsafe { std::slice::from_raw_parts(req, req_len) }
        };
        let call: ToolCall = match serde_json::from_slice(bytes) {
            Ok(c) => c,
            Err(e) => {
                return error_reply(&ToolError::invalid_args(format!(
                    "tool call is not valid JSON: {e}"
                )));
            }
        };
        // SAFETY: per the function contract.
        let mut host = NativeHost {
            vtable: unsafe { &*host },
        };
        match plugin.call(&call, &mut host) {
            Ok(output) => (status::OK, wire::encode_output(&output)),
            Err(e) => error_reply(&e),
        }
    })
}

fn error_reply(e: &ToolError) -> (u32, Vec<u8>) {
    (
        status::TOOL_ERROR,
        serde_json::to_vec(e).unwrap_or_default(),
    )
}

/// Builds the vtable for plugin type `P` (used by [`export_native!`](crate::export_native)).
pub const fn vtable<P: Plugin + Default>() -> PluginVTable {
    vtable_with_sdk_version::<P>(SDK_VERSION_C)
}

/// Builds a vtable that reports another SDK version. For tests of the host's version
/// check only.
#[doc(hidden)]
pub const fn vtable_with_sdk_version<P: Plugin + Default>(
    sdk_version: &'static CStr,
) -> PluginVTable {
    PluginVTable {
        abi_version: ABI_VERSION,
        sdk_version: sdk_version.as_ptr(),
        create: create::<P>,
        destroy: destroy::<P>,
        describe: describe::<P>,
        call: call::<P>,
        free: free_buffer,
    }
}

/// The plugin side's view of the host: each service is one `request` through the vtable.
struct NativeHost<'a> {
    vtable: &'a HostVTable,
}

impl NativeHost<'_> {
    fn request(&mut self, op: u32, req: &[u8]) -> (u32, Vec<u8>) {
        let mut out = Buffer::empty();
        // SAFETY: the host's vtable is valid during the call; `out` is ours to fill.
        let code = unsafe {
            (self.vtable.request)(self.vtable.ctx, op, req.as_ptr(), req.len(), &mut out)
        };
        // SAFETY: the host allocated `out`; copy it and hand it back to the host's free.
        let bytes = unsafe { out.as_slice() }.to_vec();
        unsafe { (self.vtable.free)(out) };
        (code, bytes)
    }

    fn reply_error(code: u32, bytes: &[u8]) -> ToolError {
        if code == status::TOOL_ERROR {
            serde_json::from_slice(bytes).unwrap_or_else(|e| {
                ToolError::failed(format!("host sent an unreadable error: {e}"))
            })
        } else {
            ToolError::failed(format!(
                "host service failed: {}",
                String::from_utf8_lossy(bytes)
            ))
        }
    }
}

impl Host for NativeHost<'_> {
    fn image(&mut self, id: &ImageId) -> Result<Image, ToolError> {
        match self.request(op::IMAGE, id.as_str().as_bytes()) {
            (status::OK, bytes) => {
                wire::decode_image(&bytes).map_err(|e| ToolError::failed(e.to_string()))
            }
            (code, bytes) => Err(Self::reply_error(code, &bytes)),
        }
    }

    fn call_unit(&mut self, images: &[ImageId]) -> Result<Vec<UnitActivation>, ToolError> {
        let req = serde_json::to_vec(images).unwrap_or_default();
        match self.request(op::CALL_UNIT, &req) {
            (status::OK, bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| ToolError::failed(format!("host reply: {e}"))),
            (code, bytes) => Err(Self::reply_error(code, &bytes)),
        }
    }

    fn progress(&mut self, done: u64, total: u64) {
        let mut req = [0u8; 16];
        req[..8].copy_from_slice(&done.to_le_bytes());
        req[8..].copy_from_slice(&total.to_le_bytes());
        self.request(op::PROGRESS, &req);
    }

    fn log(&mut self, level: LogLevel, message: &str) {
        let req = serde_json::to_vec(&serde_json::json!({"level": level, "message": message}))
            .unwrap_or_default();
        self.request(op::LOG, &req);
    }

    fn http(
        &mut self,
        requests: &[HttpRequest],
        max_concurrent: usize,
    ) -> Result<Vec<HttpOutcome>, ToolError> {
        let req = crate::http::encode_requests(requests, max_concurrent);
        match self.request(op::HTTP, &req) {
            (status::OK, bytes) => {
                let outcomes = crate::http::decode_outcomes(&bytes)
                    .map_err(|e| ToolError::failed(format!("host reply: {e}")))?;
                if outcomes.len() != requests.len() {
                    return Err(ToolError::failed(format!(
                        "host answered {} of {} requests",
                        outcomes.len(),
                        requests.len()
                    )));
                }
                Ok(outcomes)
            }
            (code, bytes) => Err(Self::reply_error(code, &bytes)),
        }
    }

    fn config(&mut self) -> serde_json::Value {
        match self.request(op::CONFIG, &[]) {
            (status::OK, bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
            // A host from before SDK 1.1 does not know the operation: no settings.
            _ => serde_json::Value::Null,
        }
    }
}

/// Decodes a plugin's successful `call` reply (host side helper).
pub fn decode_call_reply(code: u32, bytes: &[u8]) -> Result<ToolOutput, ToolError> {
    match code {
        status::OK => wire::decode_output(bytes).map_err(|e| ToolError::failed(e.to_string())),
        status::TOOL_ERROR => Err(serde_json::from_slice(bytes).unwrap_or_else(|e| {
            ToolError::failed(format!("plugin sent an unreadable error: {e}"))
        })),
        status::PANIC => Err(ToolError::failed(format!(
            "panicked: {}",
            String::from_utf8_lossy(bytes)
        ))),
        other => Err(ToolError::failed(format!(
            "plugin returned unknown status {other}"
        ))),
    }
}

/// Exports a [`Plugin`] as a native maia plugin: emits the `extern "C"` entry symbol
/// `maia_plugin_entry_v1` returning the plugin's vtable. Build the crate as a `cdylib`.
/// The type must implement [`Plugin`] and [`Default`].
///
/// On `wasm32` targets this expands to nothing, so one crate can export both ways.
#[macro_export]
macro_rules! export_native {
    ($plugin:ty) => {
        #[cfg(not(target_arch = "wasm32"))]
        #[unsafe(no_mangle)]
        pub extern "C" fn maia_plugin_entry_v1() -> *const $crate::native::PluginVTable {
            static VTABLE: $crate::native::PluginVTable = $crate::native::vtable::<$plugin>();
            &VTABLE
        }
    };
}
