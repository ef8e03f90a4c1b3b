//! TorchModel against real libtorch and models exported by the project's own Python
//! recipe (scripts/export_model.py, run with the venv's torch): a tiny CNN and a
//! torchvision ResNet-18 with random weights (no download). Layers are discovered,
//! activations equal what PyTorch computes, bad units and bad files get clear errors.

use crate::support::python;
use maia_core::target::torch::{TorchModel, parse_device};
use maia_core::target::{TargetModel, UnitRef, open_target};
use maia_plugin_sdk::Image;
use std::path::{Path, PathBuf};
use std::process::Command;

fn world_png(prompt: &str) -> Vec<u8> {
    let parsed = maia_shapes_world::parse_prompt(prompt, 1).unwrap_or_else(|e| panic!("{e}"));
    maia_shapes_world::render_png(&parsed.scene).unwrap_or_else(|e| panic!("{e}"))
}

/// Exports the tiny model at 224 px and asks PyTorch for its per-unit maxima on `png`.
fn export_tiny(dir: &Path, png: &[u8]) -> (PathBuf, serde_json::Value) {
    export(dir, png, &["--arch", "tiny"], "tiny.pt")
}

/// Runs scripts/export_model.py with `args` (224 px unless they say `--size`), writing
/// `name` into `dir`, and asks PyTorch for every layer's per-unit maxima on `png` (resized
/// to the input as maia does).
fn export(dir: &Path, png: &[u8], args: &[&str], name: &str) -> (PathBuf, serde_json::Value) {
    let image = dir.join("check.png");
    std::fs::write(&image, png).unwrap_or_else(|e| panic!("{e}"));
    let model = dir.join(name);
    let expected = dir.join("expected.json");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/export_model.py");
    let out = Command::new(python())
        .arg(script)
        .args(args)
        .args(if args.contains(&"--size") {
            &["--out"][..]
        } else {
            &["--size", "224", "--out"][..]
        })
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
    assert!(msg.contains("not an image"), "{msg}");
}

/// The real export path of a large model: torchvision's ResNet-18 with random weights
/// (`weights=None`, nothing downloaded), scripted over a feature extractor that returns
/// layer1..layer4 and fc as a dict.
#[test]
fn a_random_resnet18_from_torchvision_loads_and_matches_pytorch() {
    let started = std::time::Instant::now();
    let has_torchvision = Command::new(python())
        .args(["-c", "import torchvision"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        has_torchvision,
        "torchvision is missing from {}; run scripts/install-deps.sh",
        python().display()
    );
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let png = world_png("a big blue striped star and a small red circle");
    let (path, expected) = export(
        dir.path(),
        &png,
        &[
            "--arch",
            "resnet18",
            "--layers",
            "layer1,layer2,layer3,layer4,fc",
            // maia's plain area resize: this test is about layers and activations; the
            // eval transform has its own test (eval_transform.rs).
            "--transform",
            "area",
        ],
        "resnet18.pt",
    );
    let model = TorchModel::load(
        &path,
        parse_device("cpu").unwrap_or_else(|e| panic!("{e}")),
        false,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let info = model.info();
    let layers: Vec<(&str, usize, u32, u32)> = info
        .layers
        .iter()
        .map(|l| (l.name.as_str(), l.units, l.map_height, l.map_width))
        .collect();
    assert_eq!(
        layers,
        vec![
            ("layer1", 64, 56, 56),
            ("layer2", 128, 28, 28),
            ("layer3", 256, 14, 14),
            ("layer4", 512, 7, 7),
            ("fc", 1000, 1, 1),
        ]
    );
    assert_eq!((info.input_size, info.name.as_str()), (224, "resnet18.pt"));
    let image = Image::new(png, "check");
    let mut compared = 0;
    for layer in ["layer1", "layer3", "layer4", "fc"] {
        let units: Vec<usize> = (0..info.layer(layer).map_or(0, |l| l.units)).collect();
        let maps = model
            .activations(&[&image], layer, &units)
            .unwrap_or_else(|e| panic!("{e}"));
        let want: Vec<f64> =
            serde_json::from_value(expected[layer].clone()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(maps[0].len(), want.len(), "{layer}");
        for (u, (map, want)) in maps[0].iter().zip(&want).enumerate() {
            let got = f64::from(map.max());
            assert!(
                (got - want).abs() <= 1e-3 * want.abs().max(1.0),
                "{layer}:{u}: rust {got} vs torch {want}"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, 64 + 256 + 512 + 1000);
    let far: UnitRef = "layer4:512".parse().unwrap_or_else(|e| panic!("{e}"));
    let msg = far
        .validate(info)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        msg.contains("unit 512 out of range for layer4 (0..512)"),
        "{msg}"
    );
    eprintln!(
        "ResNet-18 export, load and check: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

fn encode(image: image::DynamicImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap_or_else(|e| panic!("{e}"));
    out.into_inner()
}

/// Grayscale, gray+alpha, RGBA, 16-bit and odd-sized images all run; modes that carry the
/// same colors give the same activations as 8-bit RGB.
#[test]
fn images_of_any_mode_and_size_are_taken() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let png = world_png("two red striped circles and a blue star");
    let (path, expected) = export(
        dir.path(),
        &png,
        &["--arch", "tiny", "--size", "64"],
        "tiny64.pt",
    );
    let model = TorchModel::load(
        &path,
        parse_device("cpu").unwrap_or_else(|e| panic!("{e}")),
        false,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let rgba = image::load_from_memory(&png)
        .unwrap_or_else(|e| panic!("{e}"))
        .to_rgba8();
    let rgb =
        image::DynamicImage::ImageRgb8(image::DynamicImage::ImageRgba8(rgba.clone()).to_rgb8());
    let gray =
        image::DynamicImage::ImageRgb8(image::DynamicImage::ImageLuma8(rgb.to_luma8()).to_rgb8());
    let variants = [
        ("rgb", encode(rgb.clone()), "rgb"),
        ("rgba", encode(image::DynamicImage::ImageRgba8(rgba)), "rgb"),
        (
            "rgb16",
            encode(image::DynamicImage::ImageRgb16(rgb.to_rgb16())),
            "rgb",
        ),
        (
            "gray",
            encode(image::DynamicImage::ImageLuma8(rgb.to_luma8())),
            "gray",
        ),
        (
            "gray+alpha",
            encode(image::DynamicImage::ImageLumaA8(rgb.to_luma_alpha8())),
            "gray",
        ),
        (
            "gray16",
            encode(image::DynamicImage::ImageLuma16(rgb.to_luma16())),
            "gray",
        ),
        ("gray as rgb", encode(gray), "gray"),
        (
            "odd size",
            encode(rgb.resize_exact(301, 173, image::imageops::FilterType::Triangle)),
            "",
        ),
        (
            "smaller than the input",
            encode(rgb.resize_exact(40, 23, image::imageops::FilterType::Triangle)),
            "",
        ),
    ];
    let images: Vec<Image> = variants
        .iter()
        .map(|(name, png, _)| Image::new(png.clone(), *name))
        .collect();
    let refs: Vec<&Image> = images.iter().collect();
    let maps = model
        .activations(&refs, "block3", &[0, 5, 9])
        .unwrap_or_else(|e| panic!("{e}"));
    let by_name = |name: &str| {
        let i = variants
            .iter()
            .position(|(n, _, _)| *n == name)
            .unwrap_or(0);
        &maps[i]
    };
    for (name, _, same_as) in &variants {
        let got = by_name(name);
        assert!(
            got.iter()
                .all(|m| m.values.iter().all(|v| v.is_finite()) && m.width == 16),
            "{name}"
        );
        match *same_as {
            "rgb" => assert_eq!(got, by_name("rgb"), "{name} differs from RGB"),
            "gray" => assert_eq!(got, by_name("gray"), "{name} differs from gray"),
            _ => {}
        }
    }
    assert_ne!(by_name("gray"), by_name("rgb"));
    // The 224 px image area-averaged down to 64 px, as PyTorch does it.
    let want: Vec<f64> =
        serde_json::from_value(expected["block3"].clone()).unwrap_or_else(|e| panic!("{e}"));
    for (i, unit) in [0, 5, 9].into_iter().enumerate() {
        let got = f64::from(by_name("rgb")[i].max());
        assert!(
            (got - want[unit]).abs() < 1e-3,
            "block3:{unit}: rust {got} vs torch {}",
            want[unit]
        );
    }
    // The bulk API agrees with the maps, and fails only the image it cannot take.
    let broken = Image::new(png[..png.len() / 2].to_vec(), "broken.png");
    let mut with_broken = refs.clone();
    with_broken.insert(2, &broken);
    let maxima = model
        .unit_maxima(&with_broken, "block3", &[0, 5, 9])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(maxima.len(), refs.len() + 1);
    let msg = maxima[2]
        .as_ref()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(msg.contains("broken.png: cannot decode PNG"), "{msg}");
    let good: Vec<&Vec<f32>> = maxima.iter().filter_map(|m| m.as_ref().ok()).collect();
    for (values, per_unit) in good.iter().zip(&maps) {
        let want: Vec<f32> = per_unit.iter().map(|m| m.max()).collect();
        assert_eq!(**values, want);
    }
}

#[test]
fn missing_files_models_without_a_dict_and_absent_gpus_are_explained() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let missing = dir.path().join("nowhere.pt");
    for spec in [
        missing.display().to_string(),
        format!("torch:{}", missing.display()),
    ] {
        let msg = open_target(&spec)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            msg.contains("no such model file") || msg.contains("does not exist"),
            "{spec}: {msg}"
        );
    }
    let msg = TorchModel::load(&missing, tch::Device::Cpu, false)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(msg.contains("no such model file"), "{msg}");

    // A module whose forward returns a tensor (or a tuple), not a dict of layers.
    for (name, returns, said) in [
        ("tensor.pt", "self.conv(x)", "forward returned a tensor"),
        ("tuple.pt", "(self.conv(x), x)", "forward returned a tuple"),
    ] {
        let path = dir.path().join(name);
        let script = r#"
import json, sys, torch

class M(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return RETURNS

torch.jit.script(M()).save(sys.argv[1])
sidecar = {"format": "maia-model", "format_version": 1,
           "input": {"size": 32, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}}
json.dump(sidecar, open(sys.argv[1] + ".json", "w"))
"#
        .replace("RETURNS", returns);
        script_model(dir.path(), &script, &path);
        let msg = open_target(&format!("torch:{}", path.display()))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            msg.contains(said) && msg.contains("must return Dict[str, Tensor]"),
            "{name}: {msg}"
        );
    }

    // A GPU asked for where there is none.
    let (path, _) = export_tiny(dir.path(), &world_png("a red circle"));
    let count = tch::Cuda::device_count();
    let device = format!("cuda:{count}");
    let msg = maia_core::target::open_target_with(
        &format!("torch:{}", path.display()),
        &maia_core::target::TorchOptions {
            device: device.clone(),
            half: false,
            sae: None,
            directions: None,
        },
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    if count == 0 {
        assert!(
            msg.contains("cuda:0: no CUDA device") && msg.contains("use --device cpu"),
            "{msg}"
        );
    } else {
        assert!(msg.contains(&format!("only {count} CUDA device")), "{msg}");
    }
}

/// The bulk API runs on one intra-op thread, and leaves libtorch's thread count as it was
/// for the caller and for threads that start later.
#[test]
fn bulk_calls_leave_the_thread_count_as_it_was() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let png = world_png("a red circle");
    let (path, _) = export_tiny(dir.path(), &png);
    let model = TorchModel::load(&path, tch::Device::Cpu, false).unwrap_or_else(|e| panic!("{e}"));
    let image = Image::new(png, "x");
    let before = tch::get_num_threads();
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                model
                    .unit_maxima(&[&image, &image], "block2", &[0, 1])
                    .unwrap_or_else(|e| panic!("{e}"))
            });
        }
    });
    assert_eq!(tch::get_num_threads(), before);
    let later = std::thread::spawn(tch::get_num_threads)
        .join()
        .unwrap_or_else(|_| panic!("thread"));
    assert_eq!(
        later, before,
        "threads started later keep libtorch's default"
    );
}

/// `--half` (float16) is refused on CPU with the reason; on a CUDA device (only where one
/// exists) half-precision activations stay within float16's error of float32's.
#[test]
fn half_precision_is_refused_on_cpu_and_close_to_float_on_cuda() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let png = world_png("a green striped square and a red dot");
    let (path, _) = export_tiny(dir.path(), &png);
    let msg = TorchModel::load(&path, tch::Device::Cpu, true)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        msg.contains("--half needs a CUDA device"),
        "half on CPU should be refused: {msg:?}"
    );
    if !tch::Cuda::is_available() {
        eprintln!("no CUDA device: the float16 comparison runs only on a GPU");
        return;
    }
    let cuda = tch::Device::Cuda(0);
    let full = TorchModel::load(&path, cuda, false).unwrap_or_else(|e| panic!("{e}"));
    let half = TorchModel::load(&path, cuda, true).unwrap_or_else(|e| panic!("{e}"));
    let image = Image::new(png, "check");
    for layer in &full.info().layers {
        let units: Vec<usize> = (0..layer.units).collect();
        let a = full
            .activations(&[&image], &layer.name, &units)
            .unwrap_or_else(|e| panic!("{e}"));
        let b = half
            .activations(&[&image], &layer.name, &units)
            .unwrap_or_else(|e| panic!("{e}"));
        for (x, y) in a[0].iter().zip(&b[0]) {
            let (x, y) = (x.max(), y.max());
            assert!(
                (x - y).abs() <= 0.02 + 0.01 * x.abs(),
                "{}: float32 {x} vs float16 {y}",
                layer.name
            );
        }
    }
}

/// Files researchers hand maia by mistake get one clear line each: a `torch.save`
/// checkpoint (state dict, or a pickled module) instead of TorchScript, a truncated
/// sidecar (a JSON error with its place), and a sidecar that lists no layers.
#[test]
fn checkpoints_truncated_sidecars_and_empty_layer_lists_are_explained() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (path, _) = export_tiny(dir.path(), &world_png("a red circle"));
    let sidecar = maia_core::world_cnn::Sidecar::path_for(&path);
    let good = std::fs::read_to_string(&sidecar).unwrap_or_else(|e| panic!("{e}"));
    let load_error = |p: &Path| {
        TorchModel::load(p, tch::Device::Cpu, false)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };

    for (name, code) in [
        (
            "state_dict.pt",
            "torch.save(torch.nn.Conv2d(3, 4, 3).state_dict(), p)",
        ),
        ("module.pt", "torch.save(torch.nn.Conv2d(3, 4, 3), p)"),
    ] {
        let checkpoint = dir.path().join(name);
        let out = Command::new(python())
            .args(["-c", &format!("import sys, torch; p = sys.argv[1]; {code}")])
            .arg(&checkpoint)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(maia_core::world_cnn::Sidecar::path_for(&checkpoint), &good)
            .unwrap_or_else(|e| panic!("{e}"));
        let msg = load_error(&checkpoint);
        assert!(
            msg.contains("torch.save checkpoint") && msg.contains("torch.jit.script"),
            "{name}: {msg}"
        );
        assert_eq!(msg.lines().count(), 1, "{name}: {msg}");
    }

    std::fs::write(&sidecar, &good[..good.len() / 2]).unwrap_or_else(|e| panic!("{e}"));
    let msg = load_error(&path);
    assert!(
        msg.contains("not valid JSON") && msg.contains("line"),
        "{msg}"
    );

    let mut json: serde_json::Value = serde_json::from_str(&good).unwrap_or_else(|e| panic!("{e}"));
    json["layers"] = serde_json::json!([]);
    std::fs::write(&sidecar, json.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let msg = load_error(&path);
    assert!(msg.contains("\"layers\" is empty"), "{msg}");
}

/// Exports `arch` at 32 px with its token layout (patch 8: a class token and a 4×4 grid);
/// returns the model, PyTorch's maxima and its maps per layer.
fn export_vit(
    dir: &Path,
    png: &[u8],
    arch: &str,
) -> (PathBuf, serde_json::Value, serde_json::Value) {
    let maps = dir.join("maps.json");
    let maps_arg = maps.display().to_string();
    let (model, maxima) = export(
        dir,
        png,
        &["--arch", arch, "--size", "32", "--check-maps", &maps_arg],
        "vit.pt",
    );
    let maps =
        serde_json::from_str(&std::fs::read_to_string(&maps).unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"));
    (model, maxima, maps)
}

/// `layer` of `model` is a 32-unit token layer on a 4×4 grid after one class token, and
/// its maps of `image` equal PyTorch's, patch for patch; returns maia's maps.
fn assert_token_maps_match(
    model: &TorchModel,
    image: &Image,
    layer: &str,
    maxima: &serde_json::Value,
    maps: &serde_json::Value,
) -> Vec<Vec<maia_core::target::UnitMap>> {
    assert_token_maps_match_after(model, image, layer, 1, maxima, maps)
}

/// [`assert_token_maps_match`] for a layer with `prefix` tokens before the patches.
fn assert_token_maps_match_after(
    model: &TorchModel,
    image: &Image,
    layer: &str,
    prefix: u32,
    maxima: &serde_json::Value,
    maps: &serde_json::Value,
) -> Vec<Vec<maia_core::target::UnitMap>> {
    let info = model
        .info()
        .layer(layer)
        .cloned()
        .unwrap_or_else(|| panic!("no {layer}"));
    assert_eq!((info.units, info.map_height, info.map_width), (32, 4, 4));
    let tokens = info
        .tokens
        .unwrap_or_else(|| panic!("{layer} is not a token layer"));
    assert_eq!((tokens.prefix, tokens.inferred), (prefix, false));
    let units: Vec<usize> = (0..32).collect();
    let got = model
        .activations(&[image], layer, &units)
        .unwrap_or_else(|e| panic!("{e}"));
    let want_max: Vec<f64> =
        serde_json::from_value(maxima[layer].clone()).unwrap_or_else(|e| panic!("{e}"));
    let want_maps: Vec<Vec<Vec<f64>>> =
        serde_json::from_value(maps[layer].clone()).unwrap_or_else(|e| panic!("{e}"));
    for (u, map) in got[0].iter().enumerate() {
        assert!(
            (f64::from(map.max()) - want_max[u]).abs() < 1e-3,
            "{layer}:{u} max"
        );
        let want: Vec<f64> = want_maps[u].iter().flatten().copied().collect();
        for (i, (rust, torch)) in map.values.iter().zip(&want).enumerate() {
            assert!(
                (f64::from(*rust) - torch).abs() < 1e-3,
                "{layer}:{u} patch {i}: rust {rust} vs torch {torch}"
            );
        }
    }
    got
}

#[test]
fn vit_token_layers_are_patch_grids_that_match_pytorch() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let png = world_png("two red striped circles and a blue star");
    let (path, maxima, maps) = export_vit(dir.path(), &png, "tiny_vit");
    let cpu = parse_device("cpu").unwrap_or_else(|e| panic!("{e}"));
    let model = TorchModel::load(&path, cpu, false).unwrap_or_else(|e| panic!("{e}"));
    let layer = "encoder.layers.encoder_layer_1";
    let image = Image::new(png, "check");
    let units: Vec<usize> = (0..32).collect();
    let got = assert_token_maps_match(&model, &image, layer, &maxima, &maps);
    assert_mask_matches_python(dir.path(), &image, &got[0][3], &maps[layer][3]);

    // The class token is a layer of scalar units of its own.
    let cls = format!("{layer}:cls");
    let cls_info = model
        .info()
        .layer(&cls)
        .cloned()
        .unwrap_or_else(|| panic!("no {cls}"));
    assert_eq!(
        (cls_info.units, cls_info.map_height, cls_info.tokens),
        (32, 1, None)
    );
    let cls_maps = model
        .activations(&[&image], &cls, &units)
        .unwrap_or_else(|e| panic!("{e}"));
    let want_cls: Vec<f64> =
        serde_json::from_value(maxima[cls.as_str()].clone()).unwrap_or_else(|e| panic!("{e}"));
    for (u, map) in cls_maps[0].iter().enumerate() {
        assert!(
            (f64::from(map.max()) - want_cls[u]).abs() < 1e-3,
            "{cls}:{u}"
        );
    }

    // Without the sidecar's layout the grid is inferred from the 17 tokens, to the same maps.
    let sidecar = path.with_extension("pt.json");
    let text = std::fs::read_to_string(&sidecar).unwrap_or_else(|e| panic!("{e}"));
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let declared = json
        .as_object_mut()
        .and_then(|o| o.remove("layouts"))
        .unwrap_or_else(|| panic!("the export recorded no layouts: {text}"));
    assert_eq!(
        declared[layer],
        serde_json::json!({"tokens": {"prefix": 1, "grid": [4, 4]}})
    );
    std::fs::write(&sidecar, json.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let inferred = TorchModel::load(&path, cpu, false).unwrap_or_else(|e| panic!("{e}"));
    let grid = inferred.info().layer(layer).and_then(|l| l.tokens);
    assert_eq!(
        grid.map(|g| (g.prefix, g.height, g.inferred)),
        Some((1, 4, true))
    );
    let again = inferred
        .activations(&[&image], layer, &units)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again, got);

    // A declared grid that does not fit the tokens names both.
    json["layouts"] = serde_json::json!({layer: {"tokens": {"prefix": 1, "grid": [3, 3]}}});
    std::fs::write(&sidecar, json.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let err = TorchModel::load(&path, cpu, false)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("17 tokens") && err.contains("3×3"), "{err}");

    // A layout for a layer the model does not have is refused, naming the layers.
    json["layouts"] = serde_json::json!({"nope": "channels_last"});
    std::fs::write(&sidecar, json.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let err = TorchModel::load(&path, cpu, false)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("layout for `nope`") && err.contains(layer),
        "{err}"
    );
}

/// maia's mask of `map` over `image` equals the mask PyTorch draws from the map it computed
/// (`torch_map`, `[H][W]`): bilinear upsampling (`align_corners=False`), the top 5 % and at
/// least half a positive peak kept, the rest dimmed to a quarter. A pixel may differ only where the
/// two float computations straddle the threshold.
fn assert_mask_matches_python(
    dir: &Path,
    image: &Image,
    map: &maia_core::target::UnitMap,
    torch_map: &serde_json::Value,
) {
    use maia_core::target::mask::{DEFAULT_TOP_QUANTILE, mask_overlay};
    let mask =
        mask_overlay(&image.png, map, DEFAULT_TOP_QUANTILE).unwrap_or_else(|e| panic!("{e}"));
    let (png, map_json, out) = (
        dir.join("mask-in.png"),
        dir.join("mask-map.json"),
        dir.join("mask-torch.png"),
    );
    std::fs::write(&png, &image.png).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&map_json, torch_map.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let code = r#"
import json, sys, numpy as np, torch
from PIL import Image
m = torch.tensor(json.load(open(sys.argv[1])), dtype=torch.float32)[None, None]
img = np.array(Image.open(sys.argv[2]).convert("RGB")).astype(np.float32)
h, w = img.shape[:2]
up = torch.nn.functional.interpolate(m, size=(h, w), mode="bilinear", align_corners=False)[0, 0].numpy()
s = np.sort(up.ravel())
threshold = s[int(round((len(s) - 1) * 0.95))]
if s[-1] > 0:
    threshold = max(threshold, s[-1] * 0.5)
Image.fromarray(np.where((up < threshold)[..., None], np.floor(img * 0.25), img).astype(np.uint8)).save(sys.argv[3])
"#;
    crate::support::check(
        Command::new(python())
            .arg("-c")
            .arg(code)
            .arg(&map_json)
            .arg(&png)
            .arg(&out),
    );
    let ours = image::load_from_memory(&mask)
        .unwrap_or_else(|e| panic!("{e}"))
        .to_rgb8();
    let theirs = image::open(&out)
        .unwrap_or_else(|e| panic!("{e}"))
        .to_rgb8();
    assert_eq!(ours.dimensions(), theirs.dimensions());
    let differing = ours
        .pixels()
        .zip(theirs.pixels())
        .filter(|(a, b)| a != b)
        .count();
    let total = (ours.width() * ours.height()) as usize;
    let kept = ours
        .pixels()
        .zip(
            image::load_from_memory(&image.png)
                .unwrap_or_else(|e| panic!("{e}"))
                .to_rgb8()
                .pixels(),
        )
        .filter(|(a, b)| a == b)
        .count();
    assert!(
        kept > total / 100,
        "the mask keeps almost nothing: {kept} of {total}"
    );
    assert!(
        differing * 200 < total,
        "{differing} of {total} pixels differ from PyTorch's mask"
    );
}

/// A model whose maps are NaN on bright images (mean above 0.5) and the image otherwise.
fn nan_model(dir: &Path) -> PathBuf {
    let path = dir.join("nan.pt");
    let code = r#"
import json, sys, torch
class M(torch.nn.Module):
    def forward(self, x):
        maps = x[:, :2] + 0.0
        bright = x.mean(dim=(1, 2, 3), keepdim=True) > 0.5
        return {"maps": torch.where(bright, torch.full_like(maps, float("nan")), maps)}
torch.jit.script(M()).save(sys.argv[1])
json.dump({"format": "maia-model", "format_version": 1,
           "input": {"size": 16, "mean": [0, 0, 0], "std": [1, 1, 1]}}, open(sys.argv[1] + ".json", "w"))
"#;
    script_model(dir, code, &path);
    path
}

/// Runs the Python `code` with `model` as its argument (it writes the model and its
/// sidecar). TorchScript reads a module's source, so the code runs from a file in `dir`.
fn script_model(dir: &Path, code: &str, model: &Path) {
    let file = model.with_extension("py");
    std::fs::write(&file, code).unwrap_or_else(|e| panic!("{e}"));
    crate::support::check(
        Command::new(python())
            .current_dir(dir)
            .arg(&file)
            .arg(model),
    );
}

#[test]
fn non_finite_activations_are_skipped_by_exemplars_and_refused_by_call_unit() {
    use maia_core::ImageStore;
    use maia_core::call_context::UnitCaller;
    use maia_core::exemplars::exemplars;
    use maia_core::target::TargetUnit;
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap_or_else(|e| panic!("{e}"));
    let solid = |name: &str, v: u8| {
        image::RgbImage::from_pixel(16, 16, image::Rgb([v, v, v]))
            .save(data.join(name))
            .unwrap_or_else(|e| panic!("{e}"));
    };
    solid("a_white.png", 250);
    solid("b_dark.png", 40);
    solid("c_gray.png", 90);
    let cpu = parse_device("cpu").unwrap_or_else(|e| panic!("{e}"));
    let model: Arc<dyn TargetModel> = Arc::new(
        TorchModel::load(&nan_model(dir.path()), cpu, false).unwrap_or_else(|e| panic!("{e}")),
    );
    let (found, _) = exemplars(model.as_ref(), "maps", &data, 3, None, &mut |_, _| {})
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(found.skipped, 1, "{:?}", found.skipped_files);
    assert_eq!(found.skipped_files[0].file, "a_white.png");
    assert!(
        found.skipped_files[0].reason.contains("not finite"),
        "{:?}",
        found.skipped_files
    );
    let ranked: Vec<&str> = found.units[0].iter().map(|e| e.file.as_str()).collect();
    assert_eq!(ranked, ["c_gray.png", "b_dark.png"]);

    let store = Arc::new(ImageStore::new());
    let id = |name: &str| {
        let png = std::fs::read(data.join(name)).unwrap_or_else(|e| panic!("{e}"));
        store
            .insert(Image::new(png, name))
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let (white, dark) = (id("a_white.png"), id("b_dark.png"));
    let unit = TargetUnit::new(
        model,
        "maps:0".parse().unwrap_or_else(|e| panic!("{e}")),
        store,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let err = unit
        .call_unit(&[dark.clone(), white.clone()])
        .err()
        .map(|e| e.message)
        .unwrap_or_default();
    assert!(
        err.contains("not finite") && err.contains(white.as_str()),
        "{err}"
    );
    assert!(
        !err.contains(dark.as_str()),
        "only the broken image is named: {err}"
    );
    let fine = unit
        .call_unit(&[dark])
        .unwrap_or_else(|e| panic!("{}", e.message));
    assert!((fine[0].activation - 40.0 / 255.0).abs() < 1e-4, "{fine:?}");
}

#[test]
fn hugging_face_vits_dinov2_and_clip_export_as_token_layers() {
    let png = world_png("a large yellow star on a blue background");
    let cpu = parse_device("cpu").unwrap_or_else(|e| panic!("{e}"));
    for family in ["vit", "dinov2", "clip"] {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (path, maxima, maps) = export_vit(dir.path(), &png, &format!("hf-tiny:{family}"));
        let model = TorchModel::load(&path, cpu, false).unwrap_or_else(|e| panic!("{family}: {e}"));
        let names: Vec<&str> = model
            .info()
            .layers
            .iter()
            .map(|l| l.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "hidden_states.1",
                "hidden_states.1:cls",
                "hidden_states.2",
                "hidden_states.2:cls"
            ],
            "{family}"
        );
        let image = Image::new(png.clone(), "check");
        assert_token_maps_match(&model, &image, "hidden_states.2", &maxima, &maps);
    }
}

#[test]
fn an_open_clip_visual_tower_exports_as_token_layers() {
    let png = world_png("a small green ring on a striped red background");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (path, maxima, maps) = export_vit(dir.path(), &png, "openclip-tiny");
    let cpu = parse_device("cpu").unwrap_or_else(|e| panic!("{e}"));
    let model = TorchModel::load(&path, cpu, false).unwrap_or_else(|e| panic!("{e}"));
    let image = Image::new(png, "check");
    assert_token_maps_match(&model, &image, "transformer.resblocks.1", &maxima, &maps);
}

#[test]
fn a_timm_vit_with_register_tokens_reads_its_patches_after_all_five_prefix_tokens() {
    let png = world_png("a large red square and a small blue circle");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (path, maxima, maps) = export_vit(dir.path(), &png, "timm-tiny:reg");
    let cpu = parse_device("cpu").unwrap_or_else(|e| panic!("{e}"));
    let model = TorchModel::load(&path, cpu, false).unwrap_or_else(|e| panic!("{e}"));
    let image = Image::new(png, "check");
    assert_token_maps_match_after(&model, &image, "blocks.1", 5, &maxima, &maps);
    // The class token is token 0, not one of the registers.
    let cls = model
        .activations(&[&image], "blocks.1:cls", &[0, 1, 2])
        .unwrap_or_else(|e| panic!("{e}"));
    let want: Vec<f64> =
        serde_json::from_value(maxima["blocks.1:cls"].clone()).unwrap_or_else(|e| panic!("{e}"));
    for (u, map) in cls[0].iter().enumerate() {
        assert!((f64::from(map.max()) - want[u]).abs() < 1e-3, "cls:{u}");
    }
}

#[test]
fn a_token_layer_of_4096_units_streams_through_one_exemplar_pass() {
    use maia_core::exemplars::exemplars;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap_or_else(|e| panic!("{e}"));
    // 40 flat gray images, darkest first by name.
    for k in 0..40u8 {
        image::RgbImage::from_pixel(16, 16, image::Rgb([k * 6 + 10; 3]))
            .save(data.join(format!("g{k:02}.png")))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    // Tokens [N, 1 + 16, 4096]: patch token p of unit u is the patch's brightness times
    // (u - 2048), so units above 2048 prefer bright images and those below dark ones.
    let path = dir.path().join("wide.pt");
    let code = r#"
import json, sys, torch
class M(torch.nn.Module):
    def forward(self, x):
        patches = torch.nn.functional.avg_pool2d(x.mean(dim=1, keepdim=True), 4).flatten(1)
        scale = torch.arange(4096, dtype=x.dtype, device=x.device) - 2048.0
        tokens = patches.unsqueeze(2) * scale
        cls = torch.zeros_like(tokens[:, :1, :])
        return {"tokens": torch.cat([cls, tokens], dim=1)}
torch.jit.script(M()).save(sys.argv[1])
json.dump({"format": "maia-model", "format_version": 1,
           "input": {"size": 16, "mean": [0, 0, 0], "std": [1, 1, 1]},
           "layouts": {"tokens": {"tokens": {"prefix": 1, "grid": [4, 4]}}}},
          open(sys.argv[1] + ".json", "w"))
"#;
    script_model(dir.path(), code, &path);
    let cpu = parse_device("cpu").unwrap_or_else(|e| panic!("{e}"));
    let model = TorchModel::load(&path, cpu, false).unwrap_or_else(|e| panic!("{e}"));
    let info = model.info().layer("tokens").cloned();
    assert_eq!(
        info.map(|l| (l.units, l.map_height, l.map_width)),
        Some((4096, 4, 4))
    );
    let mut reports = 0;
    let (found, _) = exemplars(&model, "tokens", &data, 3, None, &mut |_, _| reports += 1)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(reports > 0, "no progress was reported");
    assert_eq!(found.units.len(), 4096);
    let top = |u: usize| -> Vec<&str> { found.units[u].iter().map(|e| e.file.as_str()).collect() };
    assert_eq!(top(4095), ["g39.png", "g38.png", "g37.png"]);
    assert_eq!(top(0), ["g00.png", "g01.png", "g02.png"]);
    assert_eq!(top(3000).first(), Some(&"g39.png"));
    assert_eq!(top(100).first(), Some(&"g00.png"));
}
