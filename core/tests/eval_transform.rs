//! The model's evaluation transform: JPEGs of ImageNet-like sizes (made by Pillow) are
//! prepared by maia (its decoder, resize of the shorter side, center crop, normalization)
//! and by torchvision's `Resize` + `CenterCrop` + `ToTensor` + `Normalize` on the Pillow
//! image, for a torchvision ResNet-18 exported with its weights' transform (256, bilinear)
//! and a timm ResNet-18 with timm's (floor(224 / 0.95) = 235, bicubic); the input tensors
//! and one layer's activations agree within the stated tolerances.

use crate::support::{check, python, script};
use maia_core::target::TargetModel;
use maia_core::target::torch::{Interpolation, TorchModel, parse_device};
use maia_plugin_sdk::Image;
use std::process::Command;

/// Per-value tolerances, on normalized inputs (1/255/0.225 ≈ 0.017 per byte level): the
/// two JPEG decoders (zune-jpeg, libjpeg-turbo) differ by a few levels at most, the
/// resampling by rounding (Pillow's fixed point against maia's floats).
const INPUT_MEAN_TOLERANCE: f32 = 0.01;
const INPUT_MAX_TOLERANCE: f32 = 0.2;
/// Relative tolerance on a layer's per-unit maxima (random weights).
const ACTIVATION_TOLERANCE: f64 = 0.03;

#[test]
fn jpegs_are_prepared_as_torchvision_prepares_them() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let pngs = dir.path().join("png");
    maia_shapes_world::write_dataset(&pngs, 2, 9).unwrap_or_else(|e| panic!("{e}"));
    let mut compared = 0;
    for (arch, size, resize, interpolation) in [
        ("resnet18", "500x375", 256, Interpolation::Bilinear),
        ("resnet18", "375x500", 256, Interpolation::Bilinear),
        ("timm:resnet18", "500x375", 235, Interpolation::Bicubic),
    ] {
        let jpegs = dir.path().join(size);
        let size = format!("{arch} {size}");
        check(
            Command::new(python())
                .arg(script("jpeg_dataset.py"))
                .args(["convert", "--src"])
                .arg(&pngs)
                .arg("--out")
                .arg(&jpegs)
                .args(["--size", &size[arch.len() + 1..], "--limit", "1"]),
        );
        let jpeg = jpegs.join("00000.jpg");
        let model_path = dir.path().join("r18.pt");
        let (expected, input) = (
            dir.path().join("expected.json"),
            dir.path().join("input.f32"),
        );
        check(
            Command::new(python())
                .arg(script("export_model.py"))
                .args(["--arch", arch, "--layers", "layer1", "--out"])
                .arg(&model_path)
                .arg("--check-image")
                .arg(&jpeg)
                .arg("--check-out")
                .arg(&expected)
                .arg("--check-input")
                .arg(&input),
        );
        let model = TorchModel::load(
            &model_path,
            parse_device("cpu").unwrap_or_else(|e| panic!("{e}")),
            false,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let eval = model
            .preprocess()
            .eval
            .unwrap_or_else(|| panic!("the sidecar has no eval transform"));
        assert_eq!(
            (eval.resize, eval.crop, eval.interpolation),
            (resize, 224, interpolation),
            "{arch}"
        );

        let bytes = std::fs::read(&jpeg).unwrap_or_else(|e| panic!("{e}"));
        let mut ours = Vec::new();
        model
            .preprocess()
            .append(&bytes, &mut ours)
            .unwrap_or_else(|e| panic!("{e}"));
        let theirs: Vec<f32> = std::fs::read(&input)
            .unwrap_or_else(|e| panic!("{e}"))
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert_eq!(ours.len(), theirs.len(), "{size}");
        let diffs: Vec<f32> = ours
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (a - b).abs())
            .collect();
        let mean = diffs.iter().sum::<f32>() / diffs.len() as f32;
        let max = diffs.iter().copied().fold(0.0, f32::max);
        eprintln!("{size}: input mean abs diff {mean:.4}, max {max:.4}");
        assert!(
            mean <= INPUT_MEAN_TOLERANCE && max <= INPUT_MAX_TOLERANCE,
            "{size}: input differs from torchvision's: mean {mean:.4} (limit {INPUT_MEAN_TOLERANCE}), max {max:.4} (limit {INPUT_MAX_TOLERANCE})"
        );

        let want: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&expected).unwrap_or_else(|e| panic!("{e}")),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let want: Vec<f64> =
            serde_json::from_value(want["layer1"].clone()).unwrap_or_else(|e| panic!("{e}"));
        let image = Image::new(bytes, "check.jpg");
        let units: Vec<usize> = (0..want.len()).collect();
        let got = model
            .unit_maxima(&[&image], "layer1", &units)
            .unwrap_or_else(|e| panic!("{e}"))
            .remove(0)
            .unwrap_or_else(|e| panic!("{e}"));
        let worst = got
            .iter()
            .zip(&want)
            .map(|(g, w)| (f64::from(*g) - w).abs() / w.abs().max(1.0))
            .fold(0.0, f64::max);
        eprintln!("{size}: layer1 maxima worst relative diff {worst:.4}");
        assert!(
            worst <= ACTIVATION_TOLERANCE,
            "{size}: layer1 maxima differ by {worst:.4}"
        );
        // The masks are drawn over what the model saw: the 224 × 224 center crop.
        let view = model
            .input_view(&image.png)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_default();
        let view = image::load_from_memory(&view).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((view.width(), view.height()), (224, 224));
        compared += 1;
    }
    assert_eq!(compared, 3);
}
