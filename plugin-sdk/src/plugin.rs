//! The two traits of the contract: what a plugin implements, and what the host lends it.

use crate::{
    Image, ImageId, LogLevel, Manifest, ToolCall, ToolError, ToolOutput, ToolSpec, UnitActivation,
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
}
