//! # maia-plugin-sdk
//!
//! The contract between maia and every tool it can call. A plugin is one type that
//! implements [`Plugin`]; the same impl can be exported as a **native** dynamic library
//! ([`export_native!`], loaded with `libloading`, trusted, fastest) or as a sandboxed
//! **WebAssembly component** ([`export_wasm!`], built for `wasm32-wasip2`, run by
//! wasmtime with a deadline, a memory cap, and no files, network or environment unless
//! the manifest asks and the user grants).
//!
//! The agent sees each tool as a [`ToolSpec`]: a name, a description and a JSON Schema of
//! its arguments. maia validates every call against that schema before the plugin sees
//! it, so `call` may rely on the shape of `args`. Images travel as PNG bytes; the host
//! keeps them in a content-addressed store and the agent refers to them by short ids
//! (`img_12`), so a tool can take images made by another tool ([`Host::image`]).
//!
//! ## A complete plugin
//!
//! `Cargo.toml`:
//! ```toml
//! [package]
//! name = "invert"
//! version = "0.1.0"
//! edition = "2024"
//!
//! [lib]
//! crate-type = ["cdylib", "rlib"]
//!
//! [dependencies]
//! maia-plugin-sdk = "1"
//! serde_json = "1"
//! ```
//!
//! `src/lib.rs`:
//! ```
//! use maia_plugin_sdk::{Host, Image, ImageId, Manifest, Plugin, ToolCall, ToolError, ToolOutput, ToolSpec};
//! use serde_json::json;
//!
//! #[derive(Default)]
//! pub struct Invert;
//!
//! impl Plugin for Invert {
//!     fn manifest(&self) -> Manifest {
//!         Manifest::new("invert", "0.1.0", "Byte-level PNG tools")
//!     }
//!
//!     fn tools(&self) -> Vec<ToolSpec> {
//!         vec![ToolSpec::new(
//!             "png_size",
//!             "Reports the encoded size of images, in bytes.",
//!             json!({
//!                 "type": "object",
//!                 "properties": {"image_ids": {"type": "array", "items": {"type": "string"}, "minItems": 1}},
//!                 "required": ["image_ids"],
//!                 "additionalProperties": false
//!             }),
//!         )
//!         .returns("one line per image: id and size")
//!         .example(json!({"image_ids": ["img_1"]}))]
//!     }
//!
//!     fn call(&mut self, call: &ToolCall, host: &mut dyn Host) -> Result<ToolOutput, ToolError> {
//!         #[derive(serde::Deserialize)]
//!         struct Args { image_ids: Vec<ImageId> }
//!         let args: Args = call.parse_args()?;
//!         let mut lines = Vec::new();
//!         for id in &args.image_ids {
//!             let image = host.image(id)?; // unknown ids come back as invalid_args
//!             lines.push(format!("{id}: {} bytes", image.png.len()));
//!         }
//!         Ok(ToolOutput::text(lines.join("\n")))
//!     }
//! }
//!
//! // One line each; both expand to nothing on the other kind of target.
//! maia_plugin_sdk::export_native!(Invert);
//! maia_plugin_sdk::export_wasm!(Invert);
//! ```
//!
//! Build natively with `cargo build --release` (→ `target/release/libinvert.so`) or as a
//! sandboxed component with `cargo build --release --target wasm32-wasip2`
//! (→ `target/wasm32-wasip2/release/invert.wasm`), put a `plugin.toml` beside the
//! artifact (see [`Manifest`]), and check it with `maia plugin check DIR`.
//! `maia plugin new NAME --kind native|wasm` writes all of this for you.
//!
//! ## Network and settings (since 1.1)
//! A plugin that talks to a web service asks the host to make its requests
//! ([`Host::http`], types in [`http`]): the host checks each destination against the
//! manifest's `[permissions] net` list and the user's `--allow-net` grant, runs the batch
//! concurrently with per-request deadlines, and keeps headers (API keys) out of its logs.
//! [`Host::config`] hands the plugin its `[plugins.NAME]` table from `maia.toml`, plus a
//! `cache_dir` and a `no_cache` flag. Both methods have defaults (no network, no
//! settings), so hosts and test doubles written for 1.0 still compile. Native plugins get
//! them through two more host operations ([`native::op::HTTP`], [`native::op::CONFIG`]);
//! the native ABI version is unchanged, and a 1.0 host answers the new operations with an
//! error the plugin sees as a `ToolError`. Wasm plugins keep WASI sockets and the defaults.
//!
//! ## Versions
//! The host refuses a plugin whose SDK major version differs from its own, naming both.
//! The native ABI is versioned separately ([`native::ABI_VERSION`], in the entry symbol's
//! name); the wasm world is `maia:plugin/plugin@1.0.0`.

// Lets generated bindings name this crate by its public path from inside it.
extern crate self as maia_plugin_sdk;

pub mod contracts;
mod export_wasm;
pub mod http;
mod manifest;
pub mod native;
mod plugin;
mod types;
#[cfg(target_arch = "wasm32")]
pub mod wasm;
pub mod wire;

pub use http::{HttpFailureKind, HttpOutcome, HttpRequest, HttpResponse};
pub use manifest::{Description, Manifest, Permissions, PluginKind, major_version};
pub use plugin::{Host, Plugin};
pub use types::{
    ErrorKind, Image, ImageId, LogLevel, ToolCall, ToolError, ToolOutput, ToolSpec, UnitActivation,
};

/// The SDK version plugins are built against (semver; the major must match the host's).
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The SDK's major version.
pub const SDK_MAJOR: u64 = 1;

#[cfg(test)]
mod tests {
    #[test]
    fn sdk_major_matches_package_version() {
        assert_eq!(
            super::major_version(super::SDK_VERSION),
            Some(super::SDK_MAJOR)
        );
    }
}
