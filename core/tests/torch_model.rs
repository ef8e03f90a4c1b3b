//! TorchModel against real libtorch and a model exported by the project's own Python
//! recipe (scripts/export_model.py, run with the venv's torch): layers are discovered,
//! activations equal what PyTorch computes, bad units and bad files get clear errors.

use maia_core::target::torch::{TorchModel, parse_device};
use maia_core::target::{TargetModel, UnitRef, open_target};
use maia_plugin_sdk::Image;
use std::path::{Path, PathBuf};
use std::process::Command;

fn python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let venv = std::env::var_os("VIRTUAL_ENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv"));
    venv.join("bin/python")
}

fn world_png(prompt: &str) -> Vec<u8> {
    let parsed = maia_shapes_world::parse_prompt(prompt, 1).unwrap_or_else(|e| panic!("{e}"));
    maia_shapes_world::render_png(&parsed.scene).unwrap_or_else(|e| panic!("{e}"))
}

/// Exports the tiny model at 224 px and asks PyTorch for its per-unit maxima on `png`.
fn export_tiny(dir: &Path, png: &[u8]) -> (PathBuf, serde_json::Value) {
    let image = dir.join("check.png");
    std::fs::write(&image, png).unwrap_or_else(|e| panic!("{e}"));
    let model = dir.join("tiny.pt");
    let expected = dir.join("expected.json");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/export_model.py");
    let out = Command::new(python())
        .arg(script)
        .args(["--arch", "tiny", "--size", "224", "--out"])
        .arg(&model)
        .arg("--check-image")
        .arg(&image)
        .arg("--check-out")
        .arg(&expected)
        .output()
        .unwrap_or_else(|e| panic!("running the venv's python: {e}"));
    assert!(
        out.status.success(),
        "export failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected =
        serde_json::from_str(&std::fs::read_to_string(&expected).unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"));
    (model, expected)
}

#[test]
fn a_scripted_dict_model_matches_pytorch() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let png = world_png("two red striped circles and a blue star");
    let (path, expected) = export_tiny(dir.path(), &png);
    let model = TorchModel::load(
        &path,
        parse_device("cpu").unwrap_or_else(|e| panic!("{e}")),
        false,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let info = model.info();
    let layers: Vec<(&str, usize, u32)> = info
        .layers
        .iter()
        .map(|l| (l.name.as_str(), l.units, l.map_width))
        .collect();
    assert_eq!(
        layers,
        vec![
            ("block1", 8, 224),
            ("block2", 16, 112),
            ("block3", 32, 56),
            ("logits", 10, 1)
        ]
    );
    assert_eq!(info.input_size, 224);
    let image = Image::new(png, "check");
    for layer in ["block2", "block3", "logits"] {
        let units: Vec<usize> = (0..info.layer(layer).map(|l| l.units).unwrap_or(0)).collect();
        let maps = model
            .activations(&[&image], layer, &units)
            .unwrap_or_else(|e| panic!("{e}"));
        let want: Vec<f64> =
            serde_json::from_value(expected[layer].clone()).unwrap_or_else(|e| panic!("{e}"));
        for (u, map) in maps[0].iter().enumerate() {
            assert!(
                (f64::from(map.max()) - want[u]).abs() < 1e-3,
                "{layer}:{u}: rust {} vs torch {}",
                map.max(),
                want[u]
            );
        }
    }
    // Batches give the same maps as single images.
    let other = Image::new(world_png("a green heart"), "other");
    let batch = model
        .activations(&[&image, &other, &image], "block3", &[3, 7])
        .unwrap_or_else(|e| panic!("{e}"));
    let single = model
        .activations(&[&image], "block3", &[3, 7])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(batch[2], single[0]);
}

#[test]
fn units_and_files_are_checked_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (path, _) = export_tiny(dir.path(), &world_png("a red circle"));
    let model = open_target(&format!("torch:{}", path.display())).unwrap_or_else(|e| panic!("{e}"));
    let far: UnitRef = "block3:900".parse().unwrap_or_else(|e| panic!("{e}"));
    let msg = far
        .validate(model.info())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        msg.contains("unit 900 out of range for block3 (0..32)"),
        "{msg}"
    );
    let msg = "layer9:1"
        .parse::<UnitRef>()
        .ok()
        .and_then(|u| u.validate(model.info()).err())
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(msg.contains("block1 (8 units)"), "{msg}");

    let junk = dir.path().join("junk.pt");
    std::fs::write(&junk, b"not torchscript").unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(
        path.with_extension("pt.json"),
        dir.path().join("junk.pt.json"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let msg = open_target(&format!("torch:{}", junk.display()))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(msg.contains("not a loadable TorchScript module"), "{msg}");

    let lonely = dir.path().join("lonely.pt");
    std::fs::copy(&path, &lonely).unwrap_or_else(|e| panic!("{e}"));
    let msg = open_target(&format!("torch:{}", lonely.display()))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        msg.contains("sidecar") && msg.contains("export recipe"),
        "{msg}"
    );

    let photo = Image::new(b"not a png".to_vec(), "x");
    let msg = model
        .activations(&[&photo], "block1", &[0])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(msg.contains("cannot decode PNG"), "{msg}");
}
