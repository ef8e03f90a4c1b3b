//! The `maia` binary as users run it: every subcommand's help, the tools listing, calls,
//! and the plugin scaffold → build → check loop for both plugin kinds.

use crate::support::*;

use std::path::PathBuf;
use std::process::Command;

#[test]
fn every_subcommand_has_help() {
    // Walks the whole command tree from `maia --help`, so a new subcommand is covered
    // without being listed here.
    let mut todo: Vec<Vec<String>> = vec![Vec::new()];
    let mut seen = Vec::new();
    while let Some(path) = todo.pop() {
        let mut args = path.clone();
        args.push("--help".into());
        let (code, out, err) = run(maia().args(&args));
        assert_eq!(code, 0, "maia {args:?} failed: {err}");
        let usage = format!("Usage: maia {}", path.join(" "));
        assert!(
            out.contains(usage.trim_end()),
            "maia {args:?} has no usage line: {out}"
        );
        for sub in subcommands(&out) {
            let mut child = path.clone();
            child.push(sub);
            todo.push(child);
        }
        seen.push(path.join(" "));
    }
    for expected in [
        "demo",
        "exemplars",
        "model info",
        "world train-cnn",
        "world train-vit",
        "batch plan",
        "batch status",
        "eval wild",
        "plugin check",
    ] {
        assert!(
            seen.iter().any(|s| s == expected),
            "`maia {expected}` was not reached from `maia --help`: {seen:?}"
        );
    }
    let (_, out, _) = run(maia().args(["tools", "--help"]));
    assert!(
        out.contains("--allow-net") && out.contains("--wasm-timeout") && out.contains("--plugin"),
        "{out}"
    );
}

/// The subcommands a help text lists under `Commands:` (without clap's `help`), each
/// checked to have a description.
fn subcommands(help: &str) -> Vec<String> {
    let Some((_, rest)) = help.split_once("Commands:\n") else {
        return Vec::new();
    };
    rest.lines()
        .take_while(|l| l.starts_with("  "))
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let name = words.next()?.trim_end_matches(',').to_owned();
            assert!(
                words.next().is_some(),
                "`{name}` has no description: {help}"
            );
            (name != "help").then_some(name)
        })
        .collect()
}

#[test]
fn run_refuses_bad_input_with_clear_errors() {
    let runs = tempfile::tempdir().expect("tempdir");
    let (code, _, err) = run(maia()
        .args(["run", "--headless", "--backend", "gpt5"])
        .arg("--runs-dir")
        .arg(runs.path()));
    assert_ne!(code, 0);
    assert!(
        err.contains("unknown backend `gpt5`")
            && err.contains("offline, openai, anthropic, replay"),
        "{err}"
    );
    let (code, _, err) = run(maia()
        .args(["run", "--headless", "--task", "paint"])
        .arg("--runs-dir")
        .arg(runs.path()));
    assert_ne!(code, 0);
    assert!(
        err.contains("unknown task `paint`") && err.contains("describe-unit"),
        "{err}"
    );
    let (code, _, err) = run(maia()
        .args(["run", "--headless", "--backend", "replay"])
        .arg("--runs-dir")
        .arg(runs.path()));
    assert_ne!(code, 0);
    assert!(err.contains("--replay RUN"), "{err}");
    let (code, _, err) = run(maia()
        .args(["resume", "nope", "--runs-dir"])
        .arg(runs.path()));
    assert_ne!(code, 0);
    assert!(
        err.contains("no run `nope`") && err.contains("maia runs"),
        "{err}"
    );
    let cfg = runs.path().join("maia.toml");
    std::fs::write(&cfg, "[openai]\napi_key = \"sk-live-123\"\n").expect("write");
    let (code, out, err) = run(maia().args(["config", "--config"]).arg(&cfg));
    assert_ne!(code, 0);
    assert!(
        err.contains("api_key_env") && !err.contains("sk-live-123") && !out.contains("sk-live-123"),
        "{err}"
    );
}

#[test]
fn config_prints_the_resolved_layers_with_keys_masked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("maia.toml");
    std::fs::write(&cfg, "[run]\nmax_rounds = 7\n").expect("write");
    let (code, out, err) = run(maia()
        .args(["config", "--config"])
        .arg(&cfg)
        .env("OPENAI_API_KEY", "sk-secret-value-42"));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("max_rounds = 7") && out.contains("(read)"),
        "{out}"
    );
    assert!(
        out.contains("OPENAI_API_KEY set (18 characters, hidden)"),
        "{out}"
    );
    assert!(!out.contains("sk-secret-value-42"));
}

#[test]
fn tools_lists_both_plugin_kinds_with_sources_and_schemas() {
    let (code, out, err) = run(with_bundled(maia().arg("tools")));
    assert_eq!(code, 0, "{err}");
    let line = |tool: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{tool} ")))
            .unwrap_or_else(|| panic!("{tool} missing:\n{out}"))
            .to_owned()
    };
    assert!(line("grayscale").contains("native:image-ops"), "{out}");
    assert!(line("grayscale").contains("image_ids: [string]"), "{out}");
    assert!(line("image_stats").contains("wasm:image-stats"), "{out}");

    let (code, out, _) = run(with_bundled(maia().args(["tools", "--json"])));
    assert_eq!(code, 0);
    let tools: serde_json::Value = serde_json::from_str(&out).expect("tools --json is JSON");
    let crop = tools
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "crop"))
        .expect("crop listed");
    assert_eq!(crop["parameters"]["type"], "object");
    assert!(
        !crop["examples"]
            .as_array()
            .map(Vec::is_empty)
            .unwrap_or(true)
    );
}

#[test]
fn run_program_is_listed_and_maia_call_runs_one_against_a_target() {
    let (code, out, err) = run(with_bundled(maia().arg("tools")));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("run_program ") && l.contains("code: string")),
        "{out}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let program = dir.path().join("prog.json");
    let code_text = "r = text2image(prompts=['a red circle', 'a blue square', 'a red square'], seed=3)\n\
                     a = call_unit(image_ids=r['image_ids'])\n\
                     acts = [x['activation'] for x in a['data']]\n\
                     print('order', argsort(acts, descending=True))\n\
                     display(r['image_ids'][0], 'top')\n";
    std::fs::write(
        &program,
        serde_json::json!({ "code": code_text }).to_string(),
    )
    .expect("write program");
    let (code, out, err) = run(with_bundled(
        maia()
            .args([
                "call",
                "--target",
                "synthetic:red_and_circle",
                "run_program",
            ])
            .arg(format!("@{}", program.display()))
            .arg("--out")
            .arg(dir.path().join("out")),
    ));
    assert_eq!(code, 0, "{err}\n{out}");
    assert!(
        err.contains("#1 text2image ok") && err.contains("#2 call_unit ok"),
        "{err}"
    );
    assert!(out.contains("2 tool calls, 1 image displayed"), "{out}");
    assert!(
        out.contains("order [0, 1, 2]") || out.contains("order [0, 2, 1]"),
        "{out}"
    );

    std::fs::write(
        &program,
        serde_json::json!({ "code": "def f(n):\n    return f(n + 1)\nf(0)\n" }).to_string(),
    )
    .expect("write program");
    let (code, _, err) = run(with_bundled(
        maia()
            .args(["call", "run_program"])
            .arg(format!("@{}", program.display()))
            .arg("--out")
            .arg(dir.path().join("out")),
    ));
    assert_eq!(code, 2);
    assert!(
        err.contains("limit error") && err.contains("recursion"),
        "{err}"
    );
}

#[test]
fn call_stores_returned_images_as_png_files() {
    let out_dir = tempfile::tempdir().expect("tempdir");
    let (code, out, err) = run(with_bundled(
        maia()
            .args([
                "call",
                "--samples",
                "grayscale",
                r#"{"image_ids": ["img_2"]}"#,
                "--out",
            ])
            .arg(out_dir.path()),
    ));
    assert_eq!(code, 0, "{err}\n{out}");
    let saved: Vec<PathBuf> = std::fs::read_dir(out_dir.path())
        .expect("out dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    // Three samples plus one grayscale result, all content-addressed PNGs (the hidden
    // `.meta/` folder holds their ids and captions for resume).
    assert_eq!(saved.len(), 4, "{saved:?}");
    for path in &saved {
        let bytes = std::fs::read(path).expect("readable");
        assert!(bytes.starts_with(b"\x89PNG"), "{}", path.display());
    }
    assert!(out.contains("img_4"), "the result gets the next id: {out}");
}

#[test]
fn call_errors_name_the_problem() {
    let (code, _, err) = run(with_bundled(maia().args(["call", "grayscal", "{}"])));
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown tool `grayscal`")
            && err.contains("Did you mean `grayscale`")
            && err.contains("image_stats"),
        "{err}"
    );

    let (code, _, err) = run(with_bundled(maia().args([
        "call",
        "--samples",
        "crop",
        r#"{"image_ids": ["img_1"], "box": {"x": "left"}}"#,
    ])));
    assert_eq!(code, 2);
    assert!(
        err.contains("[invalid_args]") && err.contains("/box"),
        "{err}"
    );

    let (code, _, err) =
        run(maia().args(["call", "--no-default-plugins", "grayscale", "{not json"]));
    assert_ne!(code, 0);
    assert!(err.contains("not valid JSON"), "{err}");

    let (code, _, err) = run(maia().args([
        "call",
        "--no-default-plugins",
        "--image",
        "Cargo.toml",
        "grayscale",
        "{}",
    ]));
    assert_ne!(code, 0);
    assert!(
        err.contains("Cargo.toml: not an image") && err.contains("JPEG, PNG and WebP"),
        "{err}"
    );

    let (code, _, err) = run(maia().args(["tools", "--wasm-timeout", "0"]));
    assert_ne!(code, 0);
    assert!(err.contains("out of range"), "{err}");
}

#[test]
fn plugin_check_reports_each_step_and_fails_on_a_missing_manifest() {
    let (code, out, err) = run(maia()
        .args(["plugin", "check", "--json"])
        .arg(bundled_plugins().join("image-ops")));
    assert_eq!(code, 0, "{out}{err}");
    let checks: Vec<serde_json::Value> = serde_json::from_str(&out).expect("JSON");
    let names: Vec<&str> = checks.iter().filter_map(|c| c["check"].as_str()).collect();
    for expected in [
        "manifest",
        "sdk version",
        "load",
        "schemas",
        "call grayscale",
        "call crop",
        "call tile",
    ] {
        assert!(
            names.iter().any(|n| n.starts_with(expected)),
            "{expected} missing from {names:?}"
        );
    }
    assert!(checks.iter().all(|c| c["result"] != "fail"), "{out}");

    let empty = tempfile::tempdir().expect("tempdir");
    let (code, out, _) = run(maia().args(["plugin", "check"]).arg(empty.path()));
    assert_eq!(code, 1);
    assert!(
        out.contains("FAIL") && out.contains("no plugin.toml found"),
        "{out}"
    );
}

fn scaffold_build_check(kind: &str) {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = parent.path().join(format!("hello-{kind}"));
    let (code, out, err) = run(maia()
        .args([
            "plugin",
            "new",
            &format!("hello-{kind}"),
            "--kind",
            kind,
            "--dir",
        ])
        .arg(&dir));
    assert_eq!(code, 0, "{out}{err}");
    let mut build = Command::new(env!("CARGO"));
    build
        .current_dir(&dir)
        .args(["build", "--release", "--quiet"]);
    if kind == "wasm" {
        build.args(["--target", "wasm32-wasip2"]);
    }
    // The scaffold is its own workspace: it must not inherit this build's target dir.
    build.env_remove("CARGO_TARGET_DIR");
    let built = build.output().expect("cargo runs");
    assert!(
        built.status.success(),
        "scaffold does not build:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let (code, out, err) = run(maia().args(["plugin", "check"]).arg(&dir));
    assert_eq!(code, 0, "scaffold fails its check:\n{out}{err}");
    assert!(
        out.contains(&format!("call hello_{kind}_png_info")) && out.contains("plugin OK"),
        "{out}"
    );
    // Installing rewrites the artifact path so the copy stands alone.
    let dest = parent.path().join("installed");
    let (code, _, err) = run(maia()
        .args(["plugin", "install"])
        .arg(&dir)
        .arg("--dest")
        .arg(&dest));
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = run(maia()
        .args(["tools", "--no-default-plugins", "--plugin"])
        .arg(&dest));
    assert_eq!(code, 0);
    assert!(out.contains(&format!("hello_{kind}_png_info")), "{out}");
}

#[test]
fn native_scaffold_builds_and_passes_check() {
    scaffold_build_check("native");
}

#[test]
fn wasm_scaffold_builds_and_passes_check() {
    scaffold_build_check("wasm");
}

#[test]
fn scaffold_refuses_bad_names_and_existing_folders() {
    let (code, _, err) = run(maia().args(["plugin", "new", "Bad_Name", "--kind", "native"]));
    assert_ne!(code, 0);
    assert!(err.contains("not a valid plugin name"), "{err}");
    let parent = tempfile::tempdir().expect("tempdir");
    std::fs::write(parent.path().join("keep.txt"), "mine").expect("write");
    let (code, _, err) = run(maia()
        .args(["plugin", "new", "ok", "--kind", "wasm", "--dir"])
        .arg(parent.path()));
    assert_ne!(code, 0);
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(
        std::fs::read_to_string(parent.path().join("keep.txt")).expect("kept"),
        "mine"
    );
}

#[test]
fn doctor_sees_libtorch_without_ld_library_path() {
    let (code, out, err) = run(maia()
        .arg("doctor")
        .arg("--no-default-plugins")
        .env_remove("LD_LIBRARY_PATH"));
    assert_eq!(code, 0, "{out}{err}");
    let status = |component: &str| {
        let line = out
            .lines()
            .find(|l| l.starts_with(component))
            .unwrap_or_default();
        line[component.len().min(line.len())..]
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(status("libtorch"), "ok", "{out}");
    assert_eq!(status("wasm runtime"), "ok", "{out}");
}

#[test]
fn demo_runs_the_offline_agent_to_a_correct_answer() {
    let runs = tempfile::tempdir().expect("tempdir");
    let cache = tempfile::tempdir().expect("tempdir");
    let (code, out, err) = run(with_bundled(
        maia()
            .args(["demo", "--headless", "--dataset-size", "300", "--runs-dir"])
            .arg(runs.path())
            .env("MAIA_CACHE_DIR", cache.path()),
    ));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ground truth: red circles"), "{out}");
    let answer = out
        .lines()
        .find(|l| l.starts_with("answer:"))
        .unwrap_or_else(|| panic!("no answer:\n{out}"));
    assert!(
        answer.contains("red") && answer.contains("circle"),
        "{answer}"
    );
    let run_dir = std::fs::read_dir(runs.path())
        .expect("runs")
        .flatten()
        .next()
        .expect("a run")
        .path();
    let result: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("result.json")).expect("result.json"))
            .expect("json");
    assert_eq!(result["status"], "completed");
    assert!(
        std::fs::read_dir(run_dir.join("images"))
            .expect("images")
            .count()
            > 20
    );
    // One line per event, tail -f friendly: tool calls and results are on their own lines.
    assert!(
        out.lines().any(|l| l.contains("→ r1 dataset_exemplars")),
        "{out}"
    );
    let (code, listed, _) = run(maia().args(["runs", "--runs-dir"]).arg(runs.path()));
    assert_eq!(code, 0);
    assert!(
        listed.contains("completed") && listed.contains("red circles"),
        "{listed}"
    );
}

#[test]
fn world_commands_write_datasets_list_units_and_report_unknown_words() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (code, out, err) = run(maia()
        .args(["world", "dataset", "--n", "20", "--seed", "3"])
        .arg(&data));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        std::fs::read_dir(&data).expect("dir").count(),
        21,
        "20 PNGs + scenes.jsonl"
    );
    let index = std::fs::read_to_string(data.join("scenes.jsonl")).expect("index");
    assert_eq!(index.lines().count(), 20);

    let (code, out, _) = run(maia().args(["world", "units", "--json"]));
    assert_eq!(code, 0);
    let units: Vec<serde_json::Value> = serde_json::from_str(&out).expect("JSON");
    assert!(units.len() >= 60);
    for kind in ["mono", "or", "and", "andnot"] {
        assert!(units.iter().any(|u| u["kind"] == kind), "no {kind} unit");
    }

    let png = dir.path().join("x.png");
    let (code, out, _) = run(maia()
        .args(["world", "render", "a blurple circle", "-o"])
        .arg(&png));
    assert_eq!(code, 0);
    assert!(out.contains("blurple"), "unknown words are reported: {out}");
    assert!(std::fs::read(&png).expect("png").starts_with(b"\x89PNG"));
}

#[test]
fn synthetic_targets_take_catalogue_names_and_expressions_and_refuse_photos() {
    let dir = tempfile::tempdir().expect("tempdir");
    let args = r#"{"image_ids": ["img_1", "img_2"]}"#;
    let (code, out, err) = run(maia()
        .args([
            "call",
            "--no-default-plugins",
            "--samples",
            "--target",
            "synthetic:circle & !blue",
            "call_unit",
            args,
            "--out",
        ])
        .arg(dir.path()));
    assert_eq!(code, 0, "{err}");
    // img_1 is a red circle, img_2 blue squares and a yellow star.
    assert!(
        out.contains("img_1: activation 1.0") && out.contains("img_2: activation 0.0"),
        "{out}"
    );

    let (code, _, err) = run(maia().args([
        "call",
        "--no-default-plugins",
        "--target",
        "synthetic:circle &&",
        "call_unit",
        args,
    ]));
    assert_ne!(code, 0);
    assert!(err.contains("concept expression"), "{err}");

    let photo = dir.path().join("photo.png");
    // A PNG file carries no scene graph, even one the world drew.
    run(maia()
        .args(["world", "render", "a red circle", "-o"])
        .arg(&photo));
    let (code, _, err) = run(maia()
        .args(["call", "--no-default-plugins", "--image"])
        .arg(&photo)
        .args([
            "--target",
            "synthetic:red",
            "call_unit",
            r#"{"image_ids": ["img_1"]}"#,
        ]));
    assert_eq!(code, 2);
    assert!(err.contains("img_1 has no scene graph"), "{err}");
}

#[test]
fn exemplars_are_computed_once_then_served_from_cache_and_as_a_tool() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let cache = dir.path().join("cache");
    let (code, _, err) = run(maia()
        .args(["world", "dataset", "--n", "24", "--seed", "2"])
        .arg(&data));
    assert_eq!(code, 0, "{err}");
    let pass = |extra: &[&str]| {
        run(maia()
            .env("MAIA_CACHE_DIR", &cache)
            .args([
                "exemplars",
                "--model",
                "synthetic:star",
                "--layer",
                "synthetic",
                "--k",
                "4",
                "--data",
            ])
            .arg(&data)
            .args(extra))
    };
    let (code, out, err) = pass(&[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("computed") && out.contains("synthetic:0"),
        "{out}{err}"
    );
    let (code, _, err) = pass(&[
        "--unit",
        "0",
        "--out",
        dir.path().join("ex").to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 0);
    assert!(err.contains("from cache"), "{err}");
    assert_eq!(
        std::fs::read_dir(dir.path().join("ex"))
            .expect("ex")
            .count(),
        4
    );

    let (code, out, err) = run(maia()
        .env("MAIA_CACHE_DIR", &cache)
        .args([
            "call",
            "--no-default-plugins",
            "--target",
            "synthetic:star",
            "--k",
            "4",
            "--data",
        ])
        .arg(&data)
        .args(["dataset_exemplars", "{}", "--out"])
        .arg(dir.path().join("out")));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("top 4 of 24 dataset images for synthetic:0")
            && out.contains("1. activation 1.0"),
        "{out}"
    );
}

#[test]
fn a_trained_world_cnn_is_a_target_with_named_layers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dir.path().join("cnn.pt");
    let train = || {
        run(maia()
            .env("MAIA_CACHE_DIR", dir.path().join("cache"))
            .args([
                "world",
                "train-cnn",
                "--seed",
                "3",
                "--epochs",
                "1",
                "--train-images",
                "256",
                "--out",
            ])
            .arg(&model))
    };
    let (code, out, err) = train();
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("world CNN trained") && out.contains("held-out accuracy"),
        "{out}"
    );
    let (code, out, _) = train();
    assert_eq!(code, 0);
    assert!(out.contains("loaded from cache"), "{out}");

    let (code, out, err) = run(maia()
        .args(["model", "info", "--device", "cpu"])
        .arg(&model));
    assert_eq!(code, 0, "{err}");
    for layer in [
        "conv1",
        "conv2",
        "conv3",
        "conv4",
        "shape_logits",
        "color_logits",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(layer)),
            "{layer} missing:\n{out}"
        );
    }
    let (code, out, err) = run(maia()
        .args([
            "call",
            "--no-default-plugins",
            "--samples",
            "--device",
            "cpu",
            "--unit",
            "conv3:0",
            "--target",
        ])
        .arg(&model)
        .args(["call_unit", r#"{"image_ids": ["img_1", "img_2"]}"#, "--out"])
        .arg(dir.path().join("out")));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("img_1: activation") && out.contains("img_2: activation"),
        "{out}"
    );
}

#[test]
fn a_trained_world_vit_is_a_target_whose_token_units_an_agent_can_study() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dir.path().join("vit.pt");
    let (code, out, err) = run(maia()
        .env("MAIA_CACHE_DIR", dir.path().join("cache"))
        .args([
            "world",
            "train-vit",
            "--seed",
            "3",
            "--epochs",
            "1",
            "--train-images",
            "256",
            "--out",
        ])
        .arg(&model));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("world ViT trained") && out.contains("--target world-vit"),
        "{out}"
    );

    let (code, out, err) = run(maia()
        .args(["model", "info", "--device", "cpu"])
        .arg(&model));
    assert_eq!(code, 0, "{err}");
    for layer in ["block1", "block4"] {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("{layer} ")))
            .unwrap_or_else(|| panic!("{layer} missing:\n{out}"));
        assert!(
            line.contains("8×8 patch tokens (+1 prefix)") && !line.contains("inferred"),
            "{line}"
        );
        assert!(
            out.lines().any(|l| l.starts_with(&format!("{layer}:cls "))),
            "{out}"
        );
    }

    // An agent run on a patch-token unit and one on a class-token unit, offline.
    let data = dir.path().join("data");
    let (code, _, err) = run(maia()
        .args(["world", "dataset", "--n", "30", "--seed", "4"])
        .arg(&data));
    assert_eq!(code, 0, "{err}");
    for (unit, id) in [("block3:5", "patch"), ("block2:cls:7", "cls")] {
        let (code, out, err) = run(maia()
            .env("MAIA_CACHE_DIR", dir.path().join("cache"))
            .args(["run", "--headless", "--device", "cpu", "--target"])
            .arg(&model)
            .args(["--unit", unit, "--max-rounds", "6", "--data"])
            .arg(&data)
            .arg("--runs-dir")
            .arg(dir.path().join("runs"))
            .args(["--id", id]));
        assert_eq!(code, 0, "{unit}: {out}{err}");
        let journal =
            std::fs::read_to_string(dir.path().join("runs").join(id).join("events.jsonl"))
                .expect("journal");
        assert!(
            journal.contains("dataset_exemplars") && journal.contains(unit),
            "{unit}: {journal}"
        );
    }
}

#[test]
fn an_sae_given_with_sae_turns_its_latents_into_units_an_agent_can_study() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let model = small_world_cnn(dir.path(), &cache);
    // A TopK SAE over conv3 (64 channels) in SAELens' layout, written by Python.
    let sae = dir.path().join("sae");
    let code = r#"
import json, os, sys, torch
from safetensors.torch import save_file
torch.manual_seed(0)
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
# Latents 0..9 can never fire: their bias keeps them far below zero.
b_enc = torch.zeros(256)
b_enc[:10] = -1e6
save_file({"W_enc": torch.randn(64, 256), "b_enc": b_enc,
           "W_dec": torch.randn(256, 64), "b_dec": torch.zeros(64)},
          os.path.join(out, "sae_weights.safetensors"))
json.dump({"d_in": 64, "d_sae": 256, "architecture": "topk", "k": 8, "hook_name": "conv3"},
          open(os.path.join(out, "cfg.json"), "w"))
"#;
    python(code, &sae);

    let (code, out, err) = run(maia()
        .args(["model", "info", "--device", "cpu", "--sae"])
        .arg(&sae)
        .arg(&model));
    assert_eq!(code, 0, "{err}");
    let line = out
        .lines()
        .find(|l| l.starts_with("conv3:sae "))
        .unwrap_or_else(|| panic!("no conv3:sae:\n{out}"));
    assert!(
        line.contains("256") && line.contains("conv3:sae:255"),
        "{line}"
    );

    // Without --sae the address says what is missing.
    let data = dir.path().join("data");
    let (code, _, err) = run(maia()
        .args(["world", "dataset", "--n", "30", "--seed", "4"])
        .arg(&data));
    assert_eq!(code, 0, "{err}");
    let agent = |extra: &[&std::ffi::OsStr], id: &str| {
        run(maia()
            .env("MAIA_CACHE_DIR", &cache)
            .args(["run", "--headless", "--device", "cpu", "--target"])
            .arg(&model)
            .args(["--unit", "conv3:sae:3", "--max-rounds", "6", "--data"])
            .arg(&data)
            .arg("--runs-dir")
            .arg(dir.path().join("runs"))
            .args(["--id", id])
            .args(extra))
    };
    let (code, out, err) = agent(&[], "without");
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("--sae DIR"), "{err}");
    let (code, out, err) = agent(&["--sae".as_ref(), sae.as_os_str()], "latent");
    assert_eq!(code, 0, "{out}{err}");
    let run_dir = dir.path().join("runs").join("latent");
    let journal = std::fs::read_to_string(run_dir.join("events.jsonl")).expect("journal");
    assert!(
        journal.contains("dataset_exemplars") && journal.contains("conv3:sae:3"),
        "{journal}"
    );
    // The SAE is recorded with the run, so a resume applies it again.
    let toml = std::fs::read_to_string(run_dir.join("run.toml")).expect("run.toml");
    assert!(toml.contains("sae = "), "{toml}");

    // A batch of every latent leaves out those that never fire on the data, and says so.
    let batch = dir.path().join("batch");
    let (code, out, err) = run(maia()
        .env("MAIA_CACHE_DIR", &cache)
        .args(["batch", "plan", "--device", "cpu", "--target"])
        .arg(&model)
        .arg("--sae")
        .arg(&sae)
        .args(["--units", "conv3:sae:*", "--data"])
        .arg(&data)
        .arg(&batch));
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("dead SAE latents"), "{err}");
    let planned = std::fs::read_to_string(batch.join("units.txt")).expect("units.txt");
    let planned: Vec<&str> = planned.lines().collect();
    assert!(planned.len() <= 246, "{} planned", planned.len());
    assert!(!planned.contains(&"conv3:sae:0") && !planned.contains(&"conv3:sae:9"));

    // model info measures each latent's firing rate on the data.
    let (code, out, err) = run(maia()
        .args(["model", "info", "--device", "cpu", "--sae"])
        .arg(&sae)
        .arg("--data")
        .arg(&data)
        .arg(&model));
    assert_eq!(code, 0, "{err}");
    let summary = out
        .lines()
        .find(|l| l.starts_with("conv3:sae: 256 latents"))
        .unwrap_or_else(|| panic!("no firing-rate summary:\n{out}"));
    let never: usize = summary
        .split(", ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{summary}"));
    assert!((10..=246).contains(&never), "{summary}");
}

#[test]
fn named_directions_given_with_directions_are_units_addressed_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let model = small_world_cnn(dir.path(), &cache);
    // Two probes over conv3 (64 channels), written by Python with safetensors.
    let probes = dir.path().join("probes.safetensors");
    let code = r#"
import sys, torch
from safetensors.torch import save_file
torch.manual_seed(0)
save_file({"red_probe": torch.randn(64), "round_probe": torch.randn(64)}, sys.argv[1],
          metadata={"layer": "conv3"})
"#;
    python(code, &probes);

    let (code, out, err) = run(maia()
        .args(["model", "info", "--device", "cpu", "--directions"])
        .arg(&probes)
        .arg(&model));
    assert_eq!(code, 0, "{err}");
    let line = out
        .lines()
        .find(|l| l.starts_with("conv3:dir "))
        .unwrap_or_else(|| panic!("no conv3:dir:\n{out}"));
    assert!(
        line.contains("conv3:dir:red_probe, conv3:dir:round_probe"),
        "{line}"
    );

    let data = dir.path().join("data");
    let (code, _, err) = run(maia()
        .args(["world", "dataset", "--n", "30", "--seed", "4"])
        .arg(&data));
    assert_eq!(code, 0, "{err}");
    let agent = |unit: &str, id: &str| {
        run(maia()
            .env("MAIA_CACHE_DIR", &cache)
            .args(["run", "--headless", "--device", "cpu", "--target"])
            .arg(&model)
            .arg("--directions")
            .arg(&probes)
            .args(["--unit", unit, "--max-rounds", "6", "--data"])
            .arg(&data)
            .arg("--runs-dir")
            .arg(dir.path().join("runs"))
            .args(["--id", id]))
    };
    let (code, out, err) = agent("conv3:dir:blue_probe", "missing");
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("no unit named `blue_probe`") && err.contains("red_probe, round_probe"),
        "{err}"
    );
    let (code, out, err) = agent("conv3:dir:round_probe", "probe");
    assert_eq!(code, 0, "{out}{err}");
    let run_dir = dir.path().join("runs").join("probe");
    // The agent studies the unit by number (a name such as `red_probe` would hand it an
    // answer); the directions file is recorded with the run for resume and scoring.
    let journal = std::fs::read_to_string(run_dir.join("events.jsonl")).expect("journal");
    assert!(
        journal.contains("dataset_exemplars") && journal.contains("conv3:dir:1"),
        "{journal}"
    );
    assert!(!journal.contains("round_probe"), "{journal}");
    let toml = std::fs::read_to_string(run_dir.join("run.toml")).expect("run.toml");
    assert!(toml.contains("directions = "), "{toml}");

    // A batch names directions by name or takes them all.
    let batch = dir.path().join("batch");
    let (code, out, err) = run(maia()
        .env("MAIA_CACHE_DIR", &cache)
        .args(["batch", "plan", "--device", "cpu", "--target"])
        .arg(&model)
        .arg("--directions")
        .arg(&probes)
        .args(["--units", "conv3:dir:*", "--data"])
        .arg(&data)
        .arg(&batch));
    assert_eq!(code, 0, "{out}{err}");
    let planned = std::fs::read_to_string(batch.join("units.txt")).expect("units.txt");
    assert_eq!(
        planned.lines().collect::<Vec<_>>(),
        ["conv3:dir:0", "conv3:dir:1"]
    );
}

#[test]
fn a_planted_flaw_classifier_records_its_flaw_and_is_a_target_with_a_class_head() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (model, out) = crate::support::small_planted_classifier(dir.path());
    assert!(
        out.contains("planted (spurious)") && out.contains("circle on blue"),
        "{out}"
    );
    assert!(out.contains("planted-flaw classifier trained"), "{out}");
    // The flaw is in the sidecar's training record, for the experiment to read.
    let sidecar: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("spurious.pt.json")).expect("sidecar"),
    )
    .expect("json");
    assert_eq!(sidecar["training"]["config"]["planted"], "spurious");
    // It is an ordinary torch target whose class head a find-bias run can probe.
    let (code, out, err) = run(maia()
        .args(["model", "info", "--device", "cpu"])
        .arg(&model));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines().any(|l| l.starts_with("shape_logits ")) && out.contains("conv4"),
        "{out}"
    );
    // Its scenes as an image folder with one subfolder per class: the training split
    // keeps the shortcut, the test split breaks it.
    let share_on_own_background = |split: &str| {
        let data = dir.path().join(format!("data-{split}"));
        let (code, out, err) = run(maia()
            .args([
                "world",
                "dataset",
                "--planted",
                "spurious",
                "--split",
                split,
            ])
            .args(["--n", "80"])
            .arg(&data));
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("wrote 80 images"), "{out}");
        let own = |class: &str| match class {
            "circle" => "blue",
            "square" => "green",
            "triangle" => "yellow",
            _ => "purple",
        };
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(data.join("scenes.jsonl"))
            .expect("scenes.jsonl")
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(lines.len(), 80);
        for line in &lines {
            let file = line["file"].as_str().expect("file");
            assert!(data.join(file).is_file(), "{file}");
            assert!(file.starts_with(line["label"].as_str().expect("label")));
        }
        lines
            .iter()
            .filter(|l| l["background"] == own(l["shape"].as_str().unwrap_or_default()))
            .count()
    };
    assert!(share_on_own_background("train") >= 60);
    assert!(share_on_own_background("test") <= 30);
    // Another preset trains (and caches) separately.
    let (code, out, err) = run(maia()
        .env("MAIA_CACHE_DIR", dir.path().join("cache"))
        .args([
            "world",
            "train-classifier",
            "--preset",
            "bias",
            "--train-images",
            "512",
            "--epochs",
            "1",
        ]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("small squares on dark backgrounds") && out.contains("trained in"),
        "{out}"
    );
}

/// A world CNN trained in seconds (one epoch on 256 scenes) into `cache`, copied to
/// `dir/cnn.pt`.
fn small_world_cnn(dir: &std::path::Path, cache: &std::path::Path) -> std::path::PathBuf {
    let model = dir.join("cnn.pt");
    let (code, out, err) = run(maia()
        .env("MAIA_CACHE_DIR", cache)
        .args([
            "world",
            "train-cnn",
            "--epochs",
            "1",
            "--train-images",
            "256",
            "--out",
        ])
        .arg(&model));
    assert_eq!(code, 0, "{out}{err}");
    model
}

/// Runs `code` with the venv's Python, `arg` as its first argument; fails the test if it
/// fails.
fn python(code: &str, arg: &std::path::Path) {
    let status = std::process::Command::new(workspace().join(".venv/bin/python"))
        .arg("-c")
        .arg(code)
        .arg(arg)
        .status()
        .expect("python");
    assert!(status.success(), "python failed on {}", arg.display());
}
