//! Named directions as units on a real world CNN: direction files written by Python
//! (`safetensors.torch.save_file`, `numpy.save`), applied by maia at every position of
//! `conv3`, checked against the channels they are built from, and every kind of bad file
//! named clearly.

use crate::support::{check, python, scene_png, world_cnn};
use maia_core::target::{TargetModel, TorchOptions, UnitMap, open_target_with};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Writes a direction file with Python: `body` builds `t`, a dict of name → tensor, from
/// `torch` (seeded) and the layer width `d`; saved as safetensors, or with `npy` as the
/// `.npy` of `t["v"]`.
fn write_directions(dir: &Path, name: &str, body: &str) -> PathBuf {
    let out = dir.join(name);
    let code = format!(
        r#"
import sys, numpy, torch
from safetensors.torch import save_file
torch.manual_seed(0)
out, d = sys.argv[1], 16
meta = None
{body}
if out.endswith(".npy"):
    numpy.save(out, t["v"].numpy())
else:
    save_file(t, out, metadata=meta)
"#
    );
    check(Command::new(python()).arg("-c").arg(code).arg(&out));
    out
}

fn open_with(model: &Path, directions: &Path) -> Result<Box<dyn TargetModel>, String> {
    open_target_with(
        &format!("torch:{}", model.display()),
        &TorchOptions {
            device: "cpu".into(),
            half: false,
            sae: None,
            directions: Some(directions.to_path_buf()),
        },
    )
    .map_err(|e| e.to_string())
}

fn maps(model: &dyn TargetModel, layer: &str, units: &[usize]) -> Vec<UnitMap> {
    let image = scene_png("a large red circle and a small blue star");
    model
        .activations(&[&image], layer, units)
        .unwrap_or_else(|e| panic!("{e}"))
        .remove(0)
}

fn assert_close(a: &UnitMap, b: &[f32], what: &str) {
    assert_eq!(a.values.len(), b.len(), "{what}");
    for (x, y) in a.values.iter().zip(b) {
        assert!(
            (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
            "{what}: {x} vs {y}"
        );
    }
}

#[test]
fn directions_project_every_position_and_are_addressed_by_name() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let model_path = world_cnn(&dir.path().join("cache"));
    // e2: channel 2; three_e5: channel 5 scaled (projection onto the unit vector reads
    // channel 5 itself); minus_e7: channel 7 negated; mix: (e0 + e1) / √2 after scaling.
    let file = write_directions(
        dir.path(),
        "probes.safetensors",
        r#"
e = torch.eye(d)
t = {"e2": e[2].clone(), "three_e5": (3 * e[5]).clone(), "minus_e7": (-e[7]).reshape(1, d).clone(),
     "mix": (e[0] + e[1]).clone()}
meta = {"layer": "conv3"}
"#,
    );
    let model = open_with(&model_path, &file).unwrap_or_else(|e| panic!("{e}"));
    let info = model.info();
    let layer = info
        .layer("conv3:dir")
        .unwrap_or_else(|| panic!("no conv3:dir in {:?}", info.layers));
    // Name order is unit order.
    assert_eq!(layer.unit_names, ["e2", "minus_e7", "mix", "three_e5"]);
    assert_eq!(layer.units, 4);
    let e2 = info.unit("conv3:dir:e2").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((e2.layer.as_str(), e2.unit), ("conv3:dir", 0));
    assert_eq!(info.address(&e2), "conv3:dir:e2");
    assert_eq!(
        info.unit("conv3:dir:3").map(|u| u.unit).ok(),
        Some(3),
        "numbered addresses still work"
    );
    let missing = info
        .unit("conv3:dir:dog")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        missing.contains("no unit named `dog`") && missing.contains("three_e5"),
        "{missing}"
    );

    let channels = maps(model.as_ref(), "conv3", &[0, 1, 2, 5, 7]);
    let projected = maps(model.as_ref(), "conv3:dir", &[0, 1, 2, 3]);
    assert_close(&projected[0], &channels[2].values, "e2 is channel 2");
    let negated: Vec<f32> = channels[4].values.iter().map(|v| -v).collect();
    assert_close(&projected[1], &negated, "minus_e7 is channel 7 negated");
    let mixed: Vec<f32> = channels[0]
        .values
        .iter()
        .zip(&channels[1].values)
        .map(|(a, b)| (a + b) / 2f32.sqrt())
        .collect();
    assert_close(&projected[2], &mixed, "mix is (c0 + c1)/√2");
    assert_close(&projected[3], &channels[3].values, "3·e5 reads channel 5");
    // A direction's activation is its map's max, as for a channel; and the bulk path
    // (unit_maxima, used by exemplars) agrees with the maps.
    let image = scene_png("a large red circle and a small blue star");
    let maxima = model
        .unit_maxima(&[&image], "conv3:dir", &[0, 1, 2, 3])
        .unwrap_or_else(|e| panic!("{e}"))
        .remove(0)
        .unwrap_or_else(|e| panic!("{e}"));
    for (max, map) in maxima.iter().zip(&projected) {
        assert!((max - map.max()).abs() < 1e-4, "{max} vs {}", map.max());
    }

    // A .npy vector is one direction named after its file; the layer is found by width.
    let npy = write_directions(dir.path(), "dog_probe.npy", "t = {'v': torch.randn(d)}");
    let model = open_with(&model_path, &npy).unwrap_or_else(|e| panic!("{e}"));
    let dog = model
        .info()
        .unit("conv3:dir:dog_probe")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(dog.unit, 0);
}

#[test]
fn bad_direction_files_are_named() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let model_path = world_cnn(&dir.path().join("cache"));
    for (name, body, expect) in [
        (
            "several.npy",
            "t = {'v': torch.randn(3, d)}",
            "3 vectors of width 16 and no name for each",
        ),
        (
            "several.safetensors",
            "t = {'probes': torch.randn(2, d)}",
            "save each direction as its own named tensor",
        ),
        (
            "zero.safetensors",
            "t = {'z': torch.zeros(d)}",
            "`z` is the zero vector",
        ),
        (
            "nan.safetensors",
            "t = {'a': torch.full((d,), float('nan'))}",
            "`a` holds NaN",
        ),
        (
            "widths.safetensors",
            "t = {'a': torch.randn(d), 'b': torch.randn(d + 1)}",
            "every direction in one file has the layer's width",
        ),
        (
            "narrow.safetensors",
            "t = {'a': torch.randn(5)}",
            "d_in = 5 fits no layer",
        ),
        (
            "wrong_layer.safetensors",
            "t = {'a': torch.randn(d)}\nmeta = {'layer': 'conv1'}",
            "does not match layer `conv1`, which has 8 units",
        ),
        (
            "ints.safetensors",
            "t = {'a': torch.ones(d, dtype=torch.int32)}",
            "floating point",
        ),
    ] {
        let file = write_directions(dir.path(), name, body);
        let message = open_with(&model_path, &file)
            .err()
            .unwrap_or_else(|| panic!("{name} loaded"));
        assert!(
            message.contains(expect) && message.contains(name),
            "{name}: {message}"
        );
    }
    let missing = open_with(&model_path, &dir.path().join("absent.safetensors"))
        .err()
        .unwrap_or_default();
    assert!(missing.contains("cannot read it"), "{missing}");
    // A direction address without --directions says what to give.
    let plain = open_target_with(
        &format!("torch:{}", model_path.display()),
        &TorchOptions {
            device: "cpu".into(),
            ..TorchOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let message = plain
        .info()
        .unit("conv3:dir:dog")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(message.contains("--directions FILE"), "{message}");
}
