//! Build script shared by the crates that link libtorch (through tch/torch-sys): embeds
//! libtorch's directory as an rpath so binaries and tests find `libtorch*.so` without
//! `LD_LIBRARY_PATH`, and keeps `libtorch_cuda` linked so CUDA devices are visible.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    if Path::new(&lib).join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}
