//! Helpers the `maia` binary's integration tests share: running the binary, and the
//! bundled example plugins built once per test run by the project's own script; `ui` (the
//! recorded sample run and a test terminal) and `slurm` (a private one-node cluster).

pub mod llama;
pub mod slurm;
pub mod ui;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The `maia` binary under test.
pub fn maia() -> Command {
    Command::new(env!("CARGO_BIN_EXE_maia"))
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs a command to completion: exit code, stdout, stderr.
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("maia starts");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// The bundled example plugins (`target/plugins`), built once per test binary by
/// `scripts/build-plugins.sh --examples-only`.
pub fn bundled_plugins() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let status = Command::new("bash")
                .arg(workspace().join("scripts/build-plugins.sh"))
                .arg("--examples-only")
                .status()
                .expect("bash runs");
            assert!(
                status.success(),
                "scripts/build-plugins.sh --examples-only failed"
            );
            workspace().join("target/plugins")
        })
        .clone()
}

/// Loads only the bundled plugins (not the user's).
pub fn with_bundled(cmd: &mut Command) -> &mut Command {
    cmd.arg("--no-default-plugins")
        .arg("--plugin")
        .arg(bundled_plugins())
}

/// `(unit, state)` of every unit in a `maia batch status --json` document, in plan order
/// (collect into a `Vec`) or by unit (a `BTreeMap`).
pub fn unit_states<C: FromIterator<(String, String)>>(status: &serde_json::Value) -> C {
    status["units"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| {
            (
                u["unit"].as_str().unwrap_or_default().to_owned(),
                u["state"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// A spurious-preset classifier trained in seconds (one epoch of pretraining and one of
/// fitting on 512 scenes each), trained once per test process and copied to
/// `dir/spurious.pt` (with its sidecar): its path and what training printed.
pub fn small_planted_classifier(dir: &Path) -> (PathBuf, String) {
    static TRAINED: std::sync::OnceLock<(PathBuf, String)> = std::sync::OnceLock::new();
    let (home, out) = TRAINED.get_or_init(|| {
        // Under cargo's scratch folder for tests, cleared first: trained afresh by every
        // test process, never left in /tmp.
        let home = Path::new(env!("CARGO_TARGET_TMPDIR")).join("small-planted-classifier");
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).expect("scratch folder");
        let (code, out, err) = run(maia()
            .env("MAIA_CACHE_DIR", home.join("cache"))
            .args(["world", "train-classifier", "--preset", "spurious"])
            .args(["--train-images", "512", "--epochs", "1"])
            .args([
                "--pretrain-images",
                "512",
                "--pretrain-epochs",
                "1",
                "--out",
            ])
            .arg(home.join("spurious.pt")));
        assert_eq!(code, 0, "{out}{err}");
        (home, out)
    });
    let model = dir.join("spurious.pt");
    for name in ["spurious.pt", "spurious.pt.json"] {
        std::fs::copy(home.join(name), dir.join(name)).expect("copying the classifier");
    }
    (model, out.clone())
}
