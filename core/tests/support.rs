//! What the test modules share: the project venv's Python and the scripts it runs, a tiny
//! trained world CNN and shapes-world scenes.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The venv's Python (`$VIRTUAL_ENV`, else the project's `.venv`).
pub fn python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::env::var_os("VIRTUAL_ENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv"))
        .join("bin/python")
}

/// A file of the project's `scripts/`.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts")
        .join(name)
}

/// Runs `cmd` and fails the test with its stderr if it fails.
pub fn check(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running the venv's python: {e}"));
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        cmd.get_args().collect::<Vec<_>>(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The tiny world CNN (trained once into `cache`, then loaded): its model file.
pub fn world_cnn(cache: &Path) -> PathBuf {
    maia_core::world_cnn::train_or_load(cache, maia_core::world_cnn::WorldCnnConfig::tiny(5))
        .unwrap_or_else(|e| panic!("{e}"))
        .model_path
}

/// The shapes-world scene a prompt describes, as a PNG image.
pub fn scene_png(prompt: &str) -> maia_plugin_sdk::Image {
    let parsed = maia_shapes_world::parse_prompt(prompt, 1).unwrap_or_else(|e| panic!("{e}"));
    let png = maia_shapes_world::render_png(&parsed.scene).unwrap_or_else(|e| panic!("{e}"));
    maia_plugin_sdk::Image::new(png, "check")
}
