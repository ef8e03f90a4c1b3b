//! The WebAssembly component boundary (guest side), for plugins built for `wasm32-wasip2`.
//!
//! Bindings for the WIT world `maia:plugin/plugin@1.0.0` (see `plugin-sdk/wit/`) are
//! generated here, once, so a plugin crate needs no WIT files of its own:
//! [`export_wasm!`](crate::export_wasm) wires a [`Plugin`] impl to the world's exports.

use crate::{
    Host, Image, ImageId, LogLevel, Plugin, PluginKind, ToolCall, ToolError, UnitActivation,
};
use std::any::Any;
use std::cell::RefCell;

pub use wit_bindgen;

/// Generated bindings of the `maia:plugin@1.0.0` world.
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "maia:plugin/plugin@1.0.0",
        pub_export_macro: true,
        export_macro_name: "__maia_export_world",
        default_bindings_module: "maia_plugin_sdk::wasm::bindings",
        runtime_path: "maia_plugin_sdk::wasm::wit_bindgen::rt",
    });
}

use bindings::maia::plugin::{host, types as wit};

thread_local! {
    // The single plugin instance of this component (components are single-threaded).
    static INSTANCE: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

fn with_plugin<P: Plugin + Default + 'static, R>(f: impl FnOnce(&mut P) -> R) -> R {
    INSTANCE.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|b| !b.is::<P>()) {
            *slot = Some(Box::new(P::default()));
        }
        match slot.as_mut().and_then(|b| b.downcast_mut::<P>()) {
            Some(p) => f(p),
            None => unreachable!("instance was just set to P"),
        }
    })
}

/// The `describe` export for plugin type `P`.
pub fn describe<P: Plugin + Default + 'static>() -> String {
    with_plugin::<P, _>(|p| {
        let mut manifest = p.manifest();
        manifest.kind = PluginKind::Wasm;
        manifest.sdk_version = crate::SDK_VERSION.to_owned();
        let description = crate::Description {
            manifest,
            tools: p.tools(),
        };
        serde_json::to_string(&description).unwrap_or_default()
    })
}

/// The `call` export for plugin type `P`.
pub fn call<P: Plugin + Default + 'static>(
    call_json: &str,
) -> Result<wit::ToolOutput, wit::ToolError> {
    let call: ToolCall = serde_json::from_str(call_json).map_err(|e| {
        to_wit_error(ToolError::invalid_args(format!(
            "tool call is not valid JSON: {e}"
        )))
    })?;
    with_plugin::<P, _>(|p| p.call(&call, &mut WasmHost))
        .map(|out| wit::ToolOutput {
            text: out.text,
            images: out.images.into_iter().map(to_wit_image).collect(),
            data_json: out.data.to_string(),
        })
        .map_err(to_wit_error)
}

fn to_wit_image(image: Image) -> wit::Image {
    wit::Image {
        id: image.id.0,
        png: image.png,
        caption: image.caption,
        meta_json: image.meta.to_string(),
    }
}

fn from_wit_image(image: wit::Image) -> Image {
    Image {
        id: ImageId(image.id),
        png: image.png,
        caption: image.caption,
        meta: serde_json::from_str(&image.meta_json).unwrap_or(serde_json::Value::Null),
    }
}

fn to_wit_error(e: ToolError) -> wit::ToolError {
    let kind = match e.kind {
        crate::ErrorKind::InvalidArgs => wit::ErrorKind::InvalidArgs,
        crate::ErrorKind::Failed => wit::ErrorKind::Failed,
        crate::ErrorKind::Timeout => wit::ErrorKind::Timeout,
        crate::ErrorKind::Denied => wit::ErrorKind::Denied,
    };
    wit::ToolError {
        kind,
        message: e.message,
    }
}

fn from_wit_error(e: wit::ToolError) -> ToolError {
    let kind = match e.kind {
        wit::ErrorKind::InvalidArgs => crate::ErrorKind::InvalidArgs,
        wit::ErrorKind::Failed => crate::ErrorKind::Failed,
        wit::ErrorKind::Timeout => crate::ErrorKind::Timeout,
        wit::ErrorKind::Denied => crate::ErrorKind::Denied,
    };
    ToolError::new(kind, e.message)
}

/// The guest's view of the host: the world's imports.
struct WasmHost;

impl Host for WasmHost {
    fn image(&mut self, id: &ImageId) -> Result<Image, ToolError> {
        host::get_image(id.as_str())
            .map(from_wit_image)
            .map_err(from_wit_error)
    }

    fn call_unit(&mut self, images: &[ImageId]) -> Result<Vec<UnitActivation>, ToolError> {
        let ids: Vec<String> = images.iter().map(|i| i.0.clone()).collect();
        let json = host::call_unit(&ids).map_err(from_wit_error)?;
        serde_json::from_str(&json).map_err(|e| ToolError::failed(format!("host reply: {e}")))
    }

    fn progress(&mut self, done: u64, total: u64) {
        host::progress(done, total);
    }

    fn log(&mut self, level: LogLevel, message: &str) {
        let level = match level {
            LogLevel::Trace => wit::LogLevel::Trace,
            LogLevel::Debug => wit::LogLevel::Debug,
            LogLevel::Info => wit::LogLevel::Info,
            LogLevel::Warn => wit::LogLevel::Warn,
            LogLevel::Error => wit::LogLevel::Error,
        };
        host::log(level, message);
    }
}
