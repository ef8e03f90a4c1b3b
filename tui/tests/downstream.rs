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

    // A batch's descriptions select the units: shapes kept, backgrounds left out.
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
    assert!(
        stdout.contains("2 of 4 described units of conv4 name a class's shape and no background: conv4:2, conv4:8"),
        "{stdout}"
    );
    assert!(stdout.contains("| selected units | 2 |"), "{stdout}");

    // Units of another layer, and data whose classes differ, are refused with the reason.
    let (code, _, err) = spurious("conv3:1", &test);
    assert_ne!(code, 0);
    assert!(err.contains("not a unit of conv4"), "{err}");
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
    let (code, _, err) = spurious("conv4:0", &two);
    assert_ne!(code, 0);
    assert!(
        err.contains(
            "classes (circle, square, star, triangle) are not the balanced data's (circle, square)"
        ),
        "{err}"
    );
}
