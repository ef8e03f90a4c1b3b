//! What an outside test of the release binary found, each as the user met it: a stale
//! exemplar cache path, relative paths in run records, a replaced model under a resumed
//! run, silent fallbacks (flags, config values, a typo, a dead image server), errors said
//! twice, out-of-range values taken, and empty run folders left by failed runs.

use crate::support::{maia, run};
use std::path::Path;

/// A shapes-world dataset of `n` images in `dir`.
fn dataset(dir: &Path, n: u32) {
    let (code, _, err) = run(maia()
        .args(["world", "dataset", "--n", &n.to_string(), "--seed", "2"])
        .arg(dir));
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_cache_hit_uses_the_folder_asked_for_now_and_no_cache_refreshes_it() {
    let root = tempfile::tempdir().expect("tempdir");
    let cache = root.path().join("cache");
    let first = root.path().join("first");
    std::fs::create_dir_all(&first).expect("mkdir");
    dataset(&first.join("shapes"), 12);
    // Typed relative, from `first`.
    let exemplars = |cwd: &Path, data: &Path, extra: &[&str]| {
        run(maia()
            .current_dir(cwd)
            .env("MAIA_CACHE_DIR", &cache)
            .args([
                "exemplars",
                "--model",
                "synthetic:star",
                "--layer",
                "synthetic",
                "--k",
                "3",
                "--data",
            ])
            .arg(data)
            .args(extra))
    };
    let (code, _, err) = exemplars(&first, Path::new("shapes"), &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("computed"), "{err}");
    // The same images elsewhere, asked for by absolute path from another folder: the
    // cached result is found by content and must point at this folder.
    let moved = root.path().join("elsewhere/shapes");
    std::fs::create_dir_all(moved.parent().expect("parent")).expect("mkdir");
    std::fs::rename(first.join("shapes"), &moved).expect("move the dataset");
    let (code, out, err) = run(maia()
        .current_dir(root.path())
        .env("MAIA_CACHE_DIR", &cache)
        .args([
            "call",
            "--no-default-plugins",
            "--target",
            "synthetic:star",
            "--k",
            "3",
            "--data",
        ])
        .arg(&moved)
        .args(["dataset_exemplars", "{}", "--out"])
        .arg(root.path().join("out")));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("top 3 of 12 dataset images"), "{out}{err}");

    // --no-cache recomputes and refreshes the entry: a new dataset, computed with
    // --no-cache, is then served from the cache.
    let fresh = root.path().join("fresh");
    dataset(&fresh, 9);
    let (code, _, err) = exemplars(root.path(), &fresh, &["--no-cache"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("computed"), "{err}");
    let (code, _, err) = exemplars(root.path(), &fresh, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("from cache"), "{err}");

    // A unit outside the layer is refused before any pass over the data.
    let (code, _, err) = exemplars(root.path(), &fresh, &["--unit", "440", "--no-cache"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("unit 440 out of range") && !err.contains("computed"),
        "{err}"
    );
}

/// `maia run` with relative paths, from a folder; what it records is absolute, and a
/// resume notices a model that is not the one the run started on.
#[test]
fn runs_record_absolute_paths_and_resume_refuses_another_model() {
    let root = tempfile::tempdir().expect("tempdir");
    dataset(&root.path().join("shapes"), 12);
    let (code, out, err) = run(maia().current_dir(root.path()).args([
        "run",
        "--headless",
        "--target",
        "synthetic:red",
        "--data",
        "shapes",
        "--runs-dir",
        "runs",
        "--id",
        "r1",
    ]));
    assert_eq!(code, 0, "{out}{err}");
    let run_toml = root.path().join("runs/r1/run.toml");
    let text = std::fs::read_to_string(&run_toml).expect("run.toml");
    let table: toml::Table = text.parse().expect("toml");
    let data = table["run"]["data"].as_str().expect("data");
    assert!(
        Path::new(data).is_absolute() && data.ends_with("shapes"),
        "{text}"
    );
    let hash = table["model_hash"].as_str().expect("model_hash").to_owned();
    assert_eq!(hash.len(), 16, "{text}");

    // The model changes under the run (here: another synthetic unit).
    std::fs::write(
        &run_toml,
        text.replace("target = \"synthetic:red\"", "target = \"synthetic:blue\""),
    )
    .expect("edit run.toml");
    let resume = |extra: &[&str]| {
        run(maia()
            .args(["resume", "r1", "--headless", "--runs-dir"])
            .arg(root.path().join("runs"))
            .args(extra))
    };
    let (code, out, err) = resume(&[]);
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("is not the model run")
            && err.contains(&hash)
            && err.contains("--force-model"),
        "{err}"
    );
    let (_, _, err) = resume(&["--force-model"]);
    assert!(!err.contains("is not the model run"), "{err}");
}

#[test]
fn flags_and_config_values_are_checked_in_one_place() {
    let root = tempfile::tempdir().expect("tempdir");
    let runs = root.path().join("runs");
    // --replay implies the replay backend, and refuses another.
    let (code, _, err) = run(maia()
        .args(["run", "--headless", "--backend", "openai", "--replay"])
        .arg(root.path())
        .arg("--runs-dir")
        .arg(&runs));
    assert_ne!(code, 0);
    assert!(
        err.contains("--replay") && err.contains("--backend replay"),
        "{err}"
    );
    let (code, _, err) = run(maia()
        .args(["run", "--headless", "--target", "synthetic:red", "--replay"])
        .arg(root.path().join("no-such-run"))
        .arg("--runs-dir")
        .arg(&runs));
    assert_ne!(code, 0);
    assert!(
        err.contains("no-such-run"),
        "the replay backend did not run: {err}"
    );

    // Values `maia config` took and `maia run` refused are refused by both.
    for (toml, expected) in [
        ("[run]\nbackend = \"ofline\"\n", "unknown backend `ofline`"),
        (
            "[run]\nimages_from = \"diffusion\"\n",
            "images_from = `diffusion`",
        ),
        ("[run]\nmax_rounds = 0\n", "max_rounds = 0"),
    ] {
        let file = root.path().join("maia.toml");
        std::fs::write(&file, toml).expect("write maia.toml");
        for args in [
            vec!["config"],
            vec!["run", "--headless", "--target", "synthetic:red"],
        ] {
            let (code, out, err) = run(maia()
                .current_dir(root.path())
                .env("MAIA_CONFIG_DIR", root.path().join("user"))
                .args(&args));
            assert_ne!(code, 0, "{args:?} took {toml:?}: {out}");
            assert!(err.contains(expected), "{args:?}: {err}");
        }
    }

    for (flag, value) in [("--k", "0"), ("--max-rounds", "0")] {
        let (code, _, err) = run(maia()
            .args([
                "run",
                "--headless",
                "--target",
                "synthetic:red",
                flag,
                value,
            ])
            .arg("--runs-dir")
            .arg(&runs));
        assert_eq!(code, 2, "{flag} {value}: {err}");
        assert!(err.contains(flag), "{err}");
    }
    assert!(
        !runs.exists() || std::fs::read_dir(&runs).expect("runs").next().is_none(),
        "a refused run left a folder behind"
    );
}

#[test]
fn errors_are_said_once_and_failed_runs_leave_no_folder() {
    let root = tempfile::tempdir().expect("tempdir");
    let (code, _, err) = run(maia().args([
        "exemplars",
        "--model",
        "synthetic:star",
        "--layer",
        "synthetic",
        "--data",
        "nope",
    ]));
    assert_ne!(code, 0);
    assert!(err.contains("nope"), "{err}");
    assert_eq!(
        err.matches("no such file or folder").count(),
        1,
        "said twice: {err}"
    );

    let runs = root.path().join("runs");
    let (code, _, err) = run(maia()
        .args(["run", "--headless", "--target", "synthetic:red", "--data"])
        .arg(root.path().join("no-images"))
        .args(["--id", "broken", "--runs-dir"])
        .arg(&runs));
    assert_ne!(code, 0);
    assert!(err.contains("no-images"), "{err}");
    assert!(
        !runs.join("broken").exists(),
        "a failed run left its folder"
    );
}

/// `--images-from http` with a typo in `[plugins.http-images]` names the key; with a
/// server that is down, the run stops with the reason instead of ending "completed".
#[test]
fn an_image_server_typo_is_named_and_a_dead_server_fails_the_run() {
    let root = tempfile::tempdir().expect("tempdir");
    let runs = root.path().join("runs");
    let maia_toml = root.path().join("maia.toml");
    let http_run = |id: &str| {
        run(crate::support::with_bundled(
            maia()
                .current_dir(root.path())
                .env("MAIA_CONFIG_DIR", root.path().join("user"))
                .env("MAIA_CACHE_DIR", root.path().join("cache"))
                .arg("run"),
        )
        .args([
            "--headless",
            "--target",
            "synthetic:red",
            "--images-from",
            "http",
            "--id",
            id,
            "--runs-dir",
        ])
        .arg(&runs))
    };
    std::fs::write(
        &maia_toml,
        "[plugins.http-images]\nbackend = \"a1111\"\nbase_ur = \"http://127.0.0.1:9\"\n",
    )
    .expect("write");
    let (code, _, err) = http_run("typo");
    assert_ne!(code, 0);
    assert!(
        err.contains("`base_ur`") && err.contains("did you mean `base_url`"),
        "{err}"
    );

    // A port nobody listens on, no retries: every text2image fails at once.
    std::fs::write(
        &maia_toml,
        "[plugins.http-images]\nbackend = \"a1111\"\nbase_url = \"http://127.0.0.1:9\"\nretries = 0\n",
    )
    .expect("write");
    let (code, out, err) = http_run("down");
    assert_eq!(code, 1, "{out}{err}");
    let journal = std::fs::read_to_string(runs.join("down/events.jsonl")).expect("journal");
    let last = journal.lines().last().unwrap_or_default();
    assert!(
        last.contains("\"status\":\"failed\"")
            && last.contains("text2image")
            && last.contains("maia resume"),
        "{last}"
    );
}
