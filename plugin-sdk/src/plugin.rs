//! The two traits of the contract: what a plugin implements, and what the host lends it.

use crate::{
    HttpOutcome, HttpRequest, Image, ImageId, LogLevel, Manifest, ToolCall, ToolError, ToolOutput,
    ToolSpec, UnitActivation,
};

/// A tool plugin. Implement this once; export it with [`export_native!`](crate::export_native)
/// or [`export_wasm!`](crate::export_wasm) — the same impl works for both.
///
/// The host creates the plugin with `Default::default()`, asks for its manifest and tools
/// once, then calls [`Plugin::call`] for each tool call, one at a time. Arguments have
/// already been validated against the tool's JSON Schema.
pub trait Plugin {
    /// Identity; build it with [`Manifest::new`] so `sdk_version` is filled in.
    fn manifest(&self) -> Manifest;

    /// The tools offered, with JSON Schemas and example arguments.
    fn tools(&self) -> Vec<ToolSpec>;

    /// Runs one call. `host` gives access to the run's images, the target unit, progress
    /// and logging for the duration of the call.
    fn call(&mut self, call: &ToolCall, host: &mut dyn Host) -> Result<ToolOutput, ToolError>;
}

/// Services the host lends a plugin during a call.
pub trait Host {
    /// Fetches an image from the run's store. Unknown ids give `invalid_args`.
    fn image(&mut self, id: &ImageId) -> Result<Image, ToolError>;

    /// Runs the target unit on images (by id): activation and mask per image.
    fn call_unit(&mut self, images: &[ImageId]) -> Result<Vec<UnitActivation>, ToolError>;

    /// Reports progress of the current call (`done` of `total` steps).
    fn progress(&mut self, done: u64, total: u64);

    /// Writes a line to the run's log.
    fn log(&mut self, level: LogLevel, message: &str);

    /// Makes HTTP requests for the plugin, up to `max_concurrent` at once (since SDK
    /// 1.1). Outcomes come back in request order.
    ///
    /// The host checks every destination against the hosts the plugin's `plugin.toml`
    /// declares and the user granted; if one is not allowed, or the host lends no
    /// network at all, the whole batch is refused with an `Err` (nothing is sent). A
    /// request that was allowed but got no answer is an [`HttpOutcome::Failed`] in its
    /// slot; an HTTP error status is an ordinary [`HttpOutcome::Response`]. See
    /// [`crate::http`].
    ///
    /// The default, for hosts that lend no network (wasm plugins keep WASI sockets, and
    /// test hosts), refuses every batch.
    fn http(
        &mut self,
        requests: &[HttpRequest],
        max_concurrent: usize,
    ) -> Result<Vec<HttpOutcome>, ToolError> {
        let _ = (requests, max_concurrent);
        Err(ToolError::denied(
            "this host lends plugins no network (Host::http is not available here)",
        ))
    }

    /// The plugin's settings (since SDK 1.1): the `[plugins.NAME]` table of the user's
    /// `maia.toml` as JSON, plus the host-wide keys `cache_dir` (a directory the plugin
    /// may keep a cache in) and `no_cache` (true when the user asked for fresh results).
    /// `Null` when the host has none.
    fn config(&mut self) -> serde_json::Value {
        serde_json::Value::Null
    }
}
