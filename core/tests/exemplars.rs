//! The exemplar pass: the top-k of every unit equals a brute-force ranking, a synthetic
//! unit's exemplars satisfy its concept, the cache answers a second request and notices a
//! changed dataset, and bad folders and layers get clear errors.

use maia_core::exemplars::{Dataset, exemplars};
use maia_core::target::{TargetModel, open_target};
use maia_shapes_world::{Concept, Scene};

fn dataset(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    maia_shapes_world::write_dataset(dir.path(), n, 11).unwrap_or_else(|e| panic!("{e}"));
    dir
}

fn scene(dir: &std::path::Path, file: &str) -> Scene {
    let index = std::fs::read_to_string(dir.join("scenes.jsonl")).unwrap_or_else(|e| panic!("{e}"));
    let line = index
        .lines()
        .find(|l| l.contains(&format!("\"{file}\"")))
        .unwrap_or_else(|| panic!("{file} not indexed"));
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}"));
    serde_json::from_value(v["scene"].clone()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn synthetic_exemplars_show_the_concept_and_match_brute_force() {
    let data = dataset(48);
    let model = open_target("synthetic:(circle|star) & !red").unwrap_or_else(|e| panic!("{e}"));
    let (found, cached) = exemplars(
        model.as_ref(),
        "synthetic",
        data.path(),
        5,
        None,
        &mut |_, _| {},
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(!cached);
    assert_eq!(found.images, 48);
    let concept = Concept::parse("(circle|star) & !red").unwrap_or_else(|e| panic!("{e}"));
    for e in &found.units[0] {
        assert!(
            concept.present_in(&scene(data.path(), &e.file)),
            "{} does not show the concept",
            e.file
        );
    }
    // Brute force: every image alone, ranked.
    let set = Dataset::open(data.path()).unwrap_or_else(|e| panic!("{e}"));
    let mut all: Vec<(f32, usize)> = (0..set.len())
        .map(|i| {
            let img = set.image(i).unwrap_or_else(|e| panic!("{e}"));
            (
                model
                    .activations(&[&img], "synthetic", &[0])
                    .unwrap_or_else(|e| panic!("{e}"))[0][0]
                    .max(),
                i,
            )
        })
        .collect();
    all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let expected: Vec<usize> = all.iter().take(5).map(|(_, i)| *i).collect();
    let got: Vec<usize> = found.units[0].iter().map(|e| e.index).collect();
    assert_eq!(got, expected);
    let masked = found
        .masked_images(model.as_ref(), 0)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(masked.len(), 5);
    assert!(
        masked
            .iter()
            .all(|(_, img)| img.png.starts_with(b"\x89PNG"))
    );
}

#[test]
fn the_cache_answers_again_and_notices_changed_data() {
    let data = dataset(12);
    let cache = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let model = open_target("synthetic:red").unwrap_or_else(|e| panic!("{e}"));
    let run = |m: &dyn TargetModel| {
        exemplars(
            m,
            "synthetic",
            data.path(),
            3,
            Some(cache.path()),
            &mut |_, _| {},
        )
        .unwrap_or_else(|e| panic!("{e}"))
    };
    let (first, cached) = run(model.as_ref());
    assert!(!cached);
    let (second, cached) = run(model.as_ref());
    assert!(cached, "the second request is served from the cache");
    assert_eq!(first, second);
    // Another unit definition is another key.
    let other = open_target("synthetic:blue").unwrap_or_else(|e| panic!("{e}"));
    assert!(!run(other.as_ref()).1);
    // Changed content is another key, even under the same file name.
    let replacement =
        std::fs::read(data.path().join("00001.png")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(data.path().join("00000.png"), replacement).unwrap_or_else(|e| panic!("{e}"));
    assert!(!run(model.as_ref()).1, "a changed dataset is recomputed");
    // A corrupt cache file is recomputed, not fatal.
    for entry in std::fs::read_dir(cache.path())
        .unwrap_or_else(|e| panic!("{e}"))
        .flatten()
    {
        std::fs::write(entry.path(), b"{torn").unwrap_or_else(|e| panic!("{e}"));
    }
    assert!(!run(model.as_ref()).1);
}

#[test]
fn bad_folders_and_layers_are_named() {
    let empty = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let model = open_target("synthetic:red").unwrap_or_else(|e| panic!("{e}"));
    let msg = exemplars(
        model.as_ref(),
        "synthetic",
        empty.path(),
        3,
        None,
        &mut |_, _| {},
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(
        msg.contains("no .png images") && msg.contains("maia world dataset"),
        "{msg}"
    );
    let data = dataset(3);
    let msg = exemplars(
        model.as_ref(),
        "conv9",
        data.path(),
        3,
        None,
        &mut |_, _| {},
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(
        msg.contains("no layer `conv9`") && msg.contains("synthetic"),
        "{msg}"
    );
    let msg = exemplars(
        model.as_ref(),
        "synthetic",
        &data.path().join("missing"),
        3,
        None,
        &mut |_, _| {},
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(msg.contains("missing"), "{msg}");
}
