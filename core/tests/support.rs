//! What the test modules share: the project venv's Python and the scripts it runs.

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
