//! The dataset generator: determinism, balance, and files on disk.

use std::collections::HashMap;

use maia_shapes_world::{Shape, generate, scene_at, write_dataset};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[test]
fn deterministic_and_random_access() {
    let a: Vec<_> = generate(50, 1).collect();
    let b: Vec<_> = generate(50, 1).collect();
    let c: Vec<_> = generate(50, 2).collect();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(a[37].1, scene_at(37, 1));
    assert!(a.iter().all(|(_, s)| s.validate().is_ok()));
}

#[test]
fn balanced_by_construction() {
    let scenes: Vec<_> = generate(9 * 12 * 4, 5).map(|(_, s)| s).collect();
    let mut counts: HashMap<usize, usize> = HashMap::new();
    let mut shapes: HashMap<Shape, usize> = HashMap::new();
    for scene in &scenes {
        *counts.entry(scene.objects.len()).or_default() += 1;
        for object in &scene.objects {
            *shapes.entry(object.shape).or_default() += 1;
        }
    }
    // Object counts 1..=6 appear equally often.
    for n in 1..=6 {
        assert_eq!(counts.get(&n), Some(&(scenes.len() / 6)), "count {n}");
    }
    // Every shape appears at least as the balanced object's share.
    for shape in Shape::ALL {
        assert!(
            shapes.get(&shape).copied().unwrap_or(0) >= scenes.len() / 9,
            "{shape:?}"
        );
    }
    // Background never hides the balanced object entirely: colors differ at least once.
    assert!(
        scenes
            .iter()
            .all(|s| s.objects.iter().any(|o| o.color != s.background.color))
    );
}

#[test]
fn writes_pngs_and_jsonl() -> TestResult {
    let dir = std::env::temp_dir().join(format!("maia-shapes-dataset-{}", std::process::id()));
    let summary = write_dataset(&dir, 5, 3)?;
    assert_eq!(summary.images, 5);
    let index = std::fs::read_to_string(&summary.index)?;
    let lines: Vec<serde_json::Value> = index
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[2]["file"], "00002.png");
    let png = std::fs::read(dir.join("00002.png"))?;
    assert!(png.starts_with(b"\x89PNG"));
    let scene: maia_shapes_world::Scene = serde_json::from_value(lines[2]["scene"].clone())?;
    assert_eq!(scene, scene_at(2, 3));
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn threaded_writing_gives_the_same_bytes_and_reports_progress() -> TestResult {
    let base = std::env::temp_dir().join(format!("maia-shapes-threads-{}", std::process::id()));
    let (one, three) = (base.join("one"), base.join("three"));
    write_dataset(&one, 9, 4)?;
    let mut reports = Vec::new();
    maia_shapes_world::write_dataset_with(&three, 9, 4, 3, &mut |done, total| {
        reports.push((done, total))
    })?;
    assert_eq!(reports.last(), Some(&(9, 9)));
    assert!(
        reports.windows(2).all(|w| w[0].0 <= w[1].0),
        "progress never goes back: {reports:?}"
    );
    for name in ["00000.png", "00004.png", "00008.png", "scenes.jsonl"] {
        assert_eq!(
            std::fs::read(one.join(name))?,
            std::fs::read(three.join(name))?,
            "{name}"
        );
    }
    std::fs::remove_dir_all(&base)?;
    Ok(())
}
