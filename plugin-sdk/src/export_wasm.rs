//! The `export_wasm!` macro (defined on every target so docs and native builds see it).

/// Exports a [`Plugin`](crate::Plugin) as a maia WebAssembly component. Build the crate
/// for `wasm32-wasip2` as a `cdylib`; the type must implement `Plugin + Default + 'static`.
///
/// On other targets this expands to nothing, so the same crate builds natively for its
/// unit tests.
#[macro_export]
macro_rules! export_wasm {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct MaiaWasmExport;
            impl $crate::wasm::bindings::exports::maia::plugin::tool::Guest for MaiaWasmExport {
                fn describe() -> ::std::string::String {
                    $crate::wasm::describe::<$plugin>()
                }
                fn call(
                    call_json: ::std::string::String,
                ) -> ::std::result::Result<
                    $crate::wasm::bindings::maia::plugin::types::ToolOutput,
                    $crate::wasm::bindings::maia::plugin::types::ToolError,
                > {
                    $crate::wasm::call::<$plugin>(&call_json)
                }
            }
            $crate::wasm::bindings::__maia_export_world!(MaiaWasmExport with_types_in $crate::wasm::bindings);
        };
    };
}
