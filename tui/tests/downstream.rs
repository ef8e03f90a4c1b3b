//! MAIA's downstream experiments through the binary: `maia spurious` on a small planted
//! classifier and its own scenes, and what it says of bad input.

use crate::support::{maia, run, small_planted_classifier};
use std::path::Path;

fn scenes(dir: &Path, split: &str, n: &str) -> std::path::PathBuf {
    let data = dir.join(split);
    let (code, out, err) = run(maia()
        .args([
            "world",
            "dataset",
            "--planted",
            "spurious",
            "--split",
            split,
            "--n",
            n,
        ])
        .arg(&data));
    assert_eq!(code, 0, "{out}{err}");
    data
}

#[test]
fn maia_spurious_sets_a_selection_beside_every_baseline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (model, _) = small_planted_classifier(dir.path());
    let train = scenes(dir.path(), "train", "120");
    let test = scenes(dir.path(), "test", "80");
    let out = dir.path().join("result");
    let spurious = |units: &str, test: &Path| {
        run(maia()
            .args(["spurious", "--device", "cpu", "--target"])
            .arg(format!("torch:{}", model.display()))
            .args([
                "--layer",
                "conv4",
                "--head",
                "shape_logits",
                "--units",
                units,
                "--seeds",
                "3",
                "--train",
            ])
            .arg(&train)
            .arg("--test")
            .arg(test)
            .arg("--out")
            .arg(&out))
    };
    let (code, stdout, err) = spurious("conv4:0,conv4:5,conv4:9", &test);
    assert_eq!(code, 0, "{stdout}{err}");
    for row in [
        "| selected units | 3 |",
        "| all units | 128 |",
        "| ℓ1 top-3 | 3 |",
        "| random 3 | 3 |",
        "| oracle (balanced data) | 128 |",
        "| the classifier itself (shape_logits) | 128 |",
    ] {
        assert!(stdout.contains(row), "{row} missing:\n{stdout}");
    }
    let results = std::fs::read_to_string(out.join("results.jsonl")).expect("results");
    let rows: Vec<serde_json::Value> = results
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(rows.len(), 6);
    for row in &rows {
        let accuracy = row["accuracy"].as_f64().expect("accuracy");
        assert!((0.0..=1.0).contains(&accuracy), "{row}");
    }
    assert!(rows[3]["sd"].is_number(), "random k has a spread");
    let html = std::fs::read_to_string(out.join("summary.html")).expect("html");
    assert!(html.contains("<td>ℓ1 top-3</td>"), "{html}");
    assert!(
        std::fs::read_to_string(out.join("summary.md"))
            .expect("md")
            .contains("circle, square, star, triangle")
    );

    // The offline agent chooses among a batch's descriptions: objects kept (by their shape,
    // size, texture or own colour), per class or shared; backgrounds left out.
    let described = dir.path().join("results.jsonl");
    let row = |unit: &str, state: &str, description: &str| {
        serde_json::json!({"unit": unit, "layer": "conv4", "state": state,
            "description": description, "label": "", "rounds": 3, "tokens": 0,
            "cost_usd": 0.0, "seconds": 1.0, "run": "runs/x"})
        .to_string()
    };
    std::fs::write(
        &described,
        [
            row("conv4:2", "done", "circles"),
            row("conv4:7", "done", "green backgrounds"),
            row("conv4:8", "done", "large stars of any color"),
            row("conv4:9", "failed", ""),
            row("conv4:11", "done", "triangles on a yellow background"),
            row("conv4:12", "done", "striped objects"),
            row("conv4:13", "done", "red objects"),
        ]
        .join("\n"),
    )
    .expect("results");
    let (code, stdout, err) = run(maia()
        .args(["spurious", "--device", "cpu", "--target"])
        .arg(format!("torch:{}", model.display()))
        .args(["--layer", "conv4", "--seeds", "2", "--descriptions"])
        .arg(&described)
        .arg("--train")
        .arg(&train)
        .arg("--test")
        .arg(&test)
        .arg("--out")
        .arg(&out));
    assert_eq!(code, 0, "{stdout}{err}");
    for line in [
        "the agent keeps 4 units",
        "left out 2 that respond to a background and 0 that never fired",
        "  circle: conv4:2\n",
        "  star: conv4:8\n",
        "  triangle: none\n",
        "  shared: conv4:12, conv4:13\n",
        "| selected units | 4 |",
    ] {
        assert!(stdout.contains(line), "{line:?} missing:\n{stdout}");
    }
    let selection: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("selection.json")).expect("selection.json"),
    )
    .expect("json");
    assert_eq!(selection["per_class"]["circle"], serde_json::json!([2]));
    assert_eq!(selection["shared"], serde_json::json!([12, 13]));

    // Units of another layer, and data whose classes differ, are refused with the reason.
    let (code, _, err) = spurious("conv3:1", &test);
    assert_ne!(code, 0);
    assert!(err.contains("not a unit of conv4"), "{err}");
    // Another layer than the penultimate is allowed, and said.
    let (code, stdout, err) = run(maia()
        .args(["spurious", "--device", "cpu", "--target"])
        .arg(format!("torch:{}", model.display()))
        .args([
            "--layer",
            "conv3",
            "--head",
            "shape_logits",
            "--units",
            "conv3:1",
        ])
        .args(["--seeds", "1", "--train"])
        .arg(&train)
        .arg("--test")
        .arg(&test)
        .arg("--out")
        .arg(dir.path().join("conv3")));
    assert_eq!(code, 0, "{stdout}{err}");
    assert!(
        err.contains("`conv3` is not the classifier's penultimate layer (`conv4` comes just before its head `shape_logits`)"),
        "{err}"
    );
    let two = dir.path().join("two");
    for class in ["circle", "square"] {
        std::fs::create_dir_all(two.join(class)).expect("dir");
        let from = test.join(class);
        let first = std::fs::read_dir(&from)
            .expect("class folder")
            .filter_map(Result::ok)
            .next()
            .expect("an image");
        std::fs::copy(first.path(), two.join(class).join(first.file_name())).expect("copy");
    }
    std::fs::create_dir_all(two.join("star")).expect("an empty class folder");
    let (code, _, err) = spurious("conv4:0", &two);
    assert_ne!(code, 0);
    assert!(err.contains("class folder `star` has no images"), "{err}");
    std::fs::remove_dir(two.join("star")).expect("removed");
    let (code, _, err) = spurious("conv4:0", &two);
    assert_ne!(code, 0);
    assert!(
        err.contains(
            "classes (circle, square, star, triangle) are not the balanced data's (circle, square)"
        ),
        "{err}"
    );
}

/// The whole experiment with no selection given: the offline agent describes every unit
/// of the layer (a batch in OUT/batch), chooses among them, and the table measures its
/// choice; a second run resumes the finished batch instead of describing again.
#[test]
fn maia_spurious_describes_every_unit_and_the_agent_chooses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (model, _) = small_planted_classifier(dir.path());
    let train = scenes(dir.path(), "train", "96");
    let test = scenes(dir.path(), "test", "64");
    let out = dir.path().join("result");
    let spurious = || {
        run(maia()
            .args(["spurious", "--device", "cpu", "--target"])
            .arg(format!("torch:{}", model.display()))
            .args(["--layer", "conv1", "--seeds", "2", "--max-rounds", "4"])
            .args(["--workers", "2", "--train"])
            .arg(&train)
            .arg("--test")
            .arg(&test)
            .arg("--out")
            .arg(&out))
    };
    let (code, stdout, err) = spurious();
    assert_eq!(code, 0, "{stdout}{err}");
    let described = std::fs::read_to_string(out.join("batch/results.jsonl")).expect("batch");
    assert_eq!(
        described.lines().count(),
        16,
        "every conv1 unit: {described}"
    );
    let selection: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("selection.json")).expect("selection.json"),
    )
    .expect("json");
    let mut kept: Vec<u64> = selection["per_class"]
        .as_object()
        .expect("per_class")
        .values()
        .chain(std::iter::once(&selection["shared"]))
        .flat_map(|v| v.as_array().cloned().unwrap_or_default())
        .filter_map(|u| u.as_u64())
        .collect();
    kept.sort_unstable();
    kept.dedup();
    assert!(!kept.is_empty(), "{selection}");
    assert!(kept.iter().all(|&u| u < 16), "{selection}");
    let row = format!("| selected units | {} |", kept.len());
    assert!(stdout.contains(&row), "{row} missing:\n{stdout}");
    assert!(
        stdout.contains(&format!("the agent keeps {} units", kept.len())),
        "{stdout}"
    );

    // Again: the batch is done, so nothing is described twice and the choice is the same.
    let runs = |dir: &Path| {
        std::fs::read_dir(dir.join("batch/runs"))
            .map(|d| d.filter_map(Result::ok).count())
            .unwrap_or(0)
    };
    let before = runs(&out);
    let (code, again, err) = spurious();
    assert_eq!(code, 0, "{again}{err}");
    assert_eq!(runs(&out), before);
    assert!(again.contains("nothing to resume"), "{again}{err}");
    assert!(again.contains(&row), "{again}");
}

/// Bias discovery end to end with the offline agent on a small bias preset: each seed's
/// hunt is a run whose final answer is read into a concept and scored against the planted
/// subgroup; a rerun reuses the finished hunts.
#[test]
fn maia_eval_bias_scores_each_seeds_report_against_the_planted_subgroup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("bias");
    let eval = || {
        run(maia()
            .env("MAIA_CACHE_DIR", dir.path().join("cache"))
            .args(["eval", "bias", "--seeds", "3", "--device", "cpu"])
            .args(["--train-images", "256", "--epochs", "2", "--probes", "600"])
            .arg("--out")
            .arg(&out))
    };
    let (code, stdout, err) = eval();
    assert_eq!(code, 0, "{stdout}{err}");
    assert!(
        stdout.contains(
            "planted subgroup (square & small & (bg:black | bg:brown | bg:blue | bg:purple))"
        ),
        "{stdout}"
    );
    let line = std::fs::read_to_string(out.join("results.jsonl")).expect("results");
    let row: serde_json::Value = serde_json::from_str(line.trim()).expect("json");
    assert_eq!(row["seed"], 3);
    assert_eq!(row["probes"], 600);
    let iou = row["iou"].as_f64().expect("iou");
    assert!((0.0..=1.0).contains(&iou), "{row}");
    assert_eq!(row["found"], iou >= 0.7, "{row}");
    assert!(row["planted"].as_u64().expect("planted") > 0, "{row}");
    // The report is the run's own final answer, and the run is a normal journal.
    let run_dir = out.join("runs/seed-3");
    let result: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run_dir.join("result.json")).expect("result.json"),
    )
    .expect("json");
    assert_eq!(result["description"], row["report"]);
    assert!(run_dir.join("events.jsonl").is_file());
    let summary = std::fs::read_to_string(out.join("summary.md")).expect("summary");
    assert!(
        summary.contains("| seed | reported | read as | IoU |"),
        "{summary}"
    );
    assert!(summary.contains("of 1 seeds"), "{summary}");

    let (code, again, err) = eval();
    assert_eq!(code, 0, "{again}{err}");
    assert!(err.contains("finished before; reusing it"), "{err}");
}
