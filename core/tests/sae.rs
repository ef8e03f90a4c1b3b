//! SAE latents as units on a real world CNN: SAEs written in SAELens' layout by Python
//! (`safetensors.torch.save_file`), applied by maia at every position of `conv3`, and
//! compared with the same encoding computed by PyTorch from the same maps; and every kind
//! of bad SAE named clearly.

use crate::support::{check, python, scene_png, world_cnn};
use maia_core::target::sae::{Sae, SaeTarget};
use maia_core::target::torch::TorchModel;
use maia_core::target::{TargetModel, TorchOptions, UnitMap, open_target_with};
use maia_plugin_sdk::Image;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Writes an SAE folder with Python: `arch` is standard, topk or jumprelu; weights are
/// seeded random; `edit` is Python run on the dict `t` of tensors and `cfg` before saving.
fn write_sae(dir: &Path, arch: &str, d_in: i64, d_sae: i64, edit: &str) -> PathBuf {
    let out = dir.join(format!("sae-{arch}"));
    let code = format!(
        r#"
import json, os, sys, torch
from safetensors.torch import save_file
torch.manual_seed(0)
out, arch, d_in, d_sae = sys.argv[1], "{arch}", {d_in}, {d_sae}
os.makedirs(out, exist_ok=True)
t = {{"W_enc": torch.randn(d_in, d_sae) * 0.5, "b_enc": torch.randn(d_sae) * 0.1,
      "W_dec": torch.randn(d_sae, d_in) * 0.5, "b_dec": torch.randn(d_in) * 0.1}}
cfg = {{"d_in": d_in, "d_sae": d_sae, "architecture": arch, "hook_name": "conv3",
        "apply_b_dec_to_input": True, "normalize_activations": "none", "dtype": "float32"}}
if arch == "topk":
    cfg["k"] = 4
if arch == "jumprelu":
    t["threshold"] = torch.rand(d_sae) * 0.5
{edit}
save_file(t, os.path.join(out, "sae_weights.safetensors"))
json.dump(cfg, open(os.path.join(out, "cfg.json"), "w"))
"#
    );
    check(Command::new(python()).arg("-c").arg(code).arg(&out));
    out
}

/// PyTorch's latents of `maps` (`[C][H·W]`, one image) under the SAE in `sae`, SAELens'
/// formulas: `[d_sae][H·W]`.
fn torch_latents(dir: &Path, sae: &Path, maps: &[UnitMap]) -> Vec<Vec<f64>> {
    let input = dir.join("maps.json");
    let output = dir.join("latents.json");
    let values: Vec<&Vec<f32>> = maps.iter().map(|m| &m.values).collect();
    std::fs::write(
        &input,
        serde_json::to_string(&values).unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let code = r#"
import json, os, sys, torch
from safetensors.torch import load_file
sae, maps, out = sys.argv[1], sys.argv[2], sys.argv[3]
cfg = json.load(open(os.path.join(sae, "cfg.json")))
t = load_file(os.path.join(sae, "sae_weights.safetensors"))
x = torch.tensor(json.load(open(maps))).T  # [positions, d_in]
pre = (x - t["b_dec"]) @ t["W_enc"] + t["b_enc"]
if cfg["architecture"] == "topk":
    top = torch.topk(pre, k=cfg["k"], dim=-1)
    z = torch.zeros_like(pre).scatter(-1, top.indices, torch.relu(top.values))
elif cfg["architecture"] == "jumprelu":
    z = torch.relu(pre) * (pre > t["threshold"]).to(pre.dtype)
else:
    z = torch.relu(pre)
json.dump(z.T.tolist(), open(out, "w"))
"#;
    check(
        Command::new(python())
            .arg("-c")
            .arg(code)
            .arg(sae)
            .arg(&input)
            .arg(&output),
    );
    serde_json::from_str(&std::fs::read_to_string(&output).unwrap_or_else(|e| panic!("{e}")))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn open_with_sae(model: &Path, sae: &Path) -> Result<Box<dyn TargetModel>, String> {
    open_target_with(
        &format!("torch:{}", model.display()),
        &TorchOptions {
            device: "cpu".into(),
            half: false,
            sae: Some(sae.to_path_buf()),
            directions: None,
        },
    )
    .map_err(|e| e.to_string())
}

#[test]
fn sae_latents_are_units_whose_maps_match_pytorch_for_every_architecture() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let model_path = world_cnn(&dir.path().join("cache"));
    let plain =
        TorchModel::load(&model_path, tch::Device::Cpu, false).unwrap_or_else(|e| panic!("{e}"));
    let conv3 = plain
        .info()
        .layer("conv3")
        .cloned()
        .unwrap_or_else(|| panic!("no conv3"));
    let image = scene_png("a large red circle and a blue star");
    let channels: Vec<usize> = (0..conv3.units).collect();
    let maps = plain
        .activations(&[&image], "conv3", &channels)
        .unwrap_or_else(|e| panic!("{e}"))
        .remove(0);
    for arch in ["standard", "topk", "jumprelu"] {
        let sae = write_sae(dir.path(), arch, conv3.units as i64, 64, "");
        let model = open_with_sae(&model_path, &sae).unwrap_or_else(|e| panic!("{arch}: {e}"));
        // The latents are a layer of their own, next to the layer they read.
        let info = model.info();
        let at = info
            .layers
            .iter()
            .position(|l| l.name == "conv3:sae")
            .unwrap_or_else(|| panic!("{arch}: no conv3:sae"));
        assert_eq!(info.layers[at - 1].name, "conv3");
        assert_eq!(
            (info.layers[at].units, info.layers[at].map_height),
            (64, conv3.map_height)
        );
        let units: Vec<usize> = (0..64).collect();
        let got = model
            .activations(&[&image], "conv3:sae", &units)
            .unwrap_or_else(|e| panic!("{arch}: {e}"))
            .remove(0);
        let want = torch_latents(dir.path(), &sae, &maps);
        let mut active = 0;
        for (u, (map, expected)) in got.iter().zip(&want).enumerate() {
            assert_eq!(map.values.len(), expected.len());
            for (rust, torch) in map.values.iter().zip(expected) {
                assert!(
                    (f64::from(*rust) - torch).abs() < 1e-3,
                    "{arch} latent {u}: rust {rust} vs torch {torch}"
                );
                active += usize::from(*rust > 0.0);
            }
        }
        assert!(active > 0, "{arch}: no latent fired at all");
        if arch == "topk" {
            let positions = got[0].values.len();
            assert!(
                active <= 4 * positions,
                "TopK kept more than k per position"
            );
        }
        // The bulk pass, which encodes several images at once, ranks by the same maxima
        // as each image's maps; other layers are untouched.
        let others = [
            scene_png("a small green square"),
            image.clone(),
            scene_png("two yellow triangles on gray"),
        ];
        let batch: Vec<&Image> = others.iter().collect();
        let maxima = model
            .unit_maxima(&batch, "conv3:sae", &units)
            .unwrap_or_else(|e| panic!("{e}"));
        for (one, row) in batch.iter().zip(&maxima) {
            let row = row.as_ref().unwrap_or_else(|e| panic!("{e}"));
            let maps = model
                .activations(&[one], "conv3:sae", &units)
                .unwrap_or_else(|e| panic!("{e}"))
                .remove(0);
            for (u, map) in maps.iter().enumerate() {
                assert!(
                    (row[u] - map.max()).abs() < 1e-4,
                    "{arch} latent {u}: bulk {} vs map {}",
                    row[u],
                    map.max()
                );
            }
        }
        let row = maxima[1].as_ref().unwrap_or_else(|e| panic!("{e}"));
        for u in [0usize, 7, 63] {
            assert!((row[u] - got[u].max()).abs() < 1e-4);
        }
        let same = model
            .activations(&[&image], "conv3", &[2])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(same[0][0], maps[2]);
        // The fingerprint (cache keys, resumes) changes with the SAE.
        assert_ne!(model.fingerprint(), plain.fingerprint());
    }
}

#[test]
fn bad_saes_and_bad_latents_are_named() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let model_path = world_cnn(&dir.path().join("cache"));
    let err = |sae: &Path| {
        open_with_sae(&model_path, sae)
            .err()
            .unwrap_or_else(|| panic!("{} loaded", sae.display()))
    };

    // d_in 12 fits no layer; hook_name conv3 has 16 units: both widths and the hook named.
    let narrow = write_sae(&dir.path().join("narrow"), "standard", 12, 32, "");
    let message = err(&narrow);
    assert!(
        message.contains("d_in = 12") && message.contains("conv3") && message.contains("16 units"),
        "{message}"
    );
    // A missing tensor, an integer tensor, a NaN, a TopK without k, a gated SAE.
    for (name, arch, edit, expect) in [
        ("missing", "standard", "del t['b_dec']", "no tensor `b_dec`"),
        (
            "ints",
            "standard",
            "t['W_enc'] = t['W_enc'].to(torch.int32)",
            "floating point",
        ),
        (
            "nan",
            "standard",
            "t['W_dec'][0, 0] = float('nan')",
            "NaN or infinite",
        ),
        ("nok", "topk", "del cfg['k']", "needs `k`"),
        ("gated", "gated", "", "not supported"),
        (
            "shape",
            "standard",
            "t['b_enc'] = torch.zeros(5)",
            "tensor `b_enc` has shape [5]",
        ),
    ] {
        let sae = write_sae(&dir.path().join(name), arch, 16, 32, edit);
        let message = err(&sae);
        assert!(message.contains(expect), "{name}: {message}");
    }
    let message = err(&dir.path().join("nowhere"));
    assert!(
        message.contains("cfg.json") && message.contains("SAELens"),
        "{message}"
    );

    // A good SAE: a latent out of range names the range; a latent without --sae says how.
    let good = write_sae(&dir.path().join("good"), "standard", 16, 32, "");
    let model = open_with_sae(&model_path, &good).unwrap_or_else(|e| panic!("{e}"));
    let image = scene_png("a green square");
    let message = model
        .activations(&[&image], "conv3:sae", &[32])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(message.contains("32"), "{message}");
    let message = model
        .activations(&[&image], "conv4:sae", &[0])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        message.contains("conv3") && message.contains("conv4"),
        "{message}"
    );
    let plain =
        TorchModel::load(&model_path, tch::Device::Cpu, false).unwrap_or_else(|e| panic!("{e}"));
    let message = "conv3:sae:4"
        .parse::<maia_core::target::UnitRef>()
        .and_then(|u| u.validate(plain.info()))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(message.contains("--sae DIR"), "{message}");
    // The loader is usable directly, and says what it read.
    let sae = Sae::load(&good).unwrap_or_else(|e| panic!("{e}"));
    assert!(sae.describe().contains("16 → 32 latents, trained on conv3"));
    let wrapped = SaeTarget::new(Box::new(plain), sae).unwrap_or_else(|e| panic!("{e}"));
    assert!(wrapped.info().layer("conv3:sae").is_some());
    assert!(wrapped.info().layer("conv4:sae").is_none());
}

#[test]
fn a_topk_sae_trained_on_the_world_cnn_reconstructs_conv3_and_is_in_saelens_layout() {
    use maia_core::sae_train::{SaeProgress, SaeTrainConfig, train_sae};
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("data");
    maia_shapes_world::write_dataset(&data, 60, 3).unwrap_or_else(|e| panic!("{e}"));
    let model_path = world_cnn(&dir.path().join("cache"));
    let model =
        TorchModel::load(&model_path, tch::Device::Cpu, false).unwrap_or_else(|e| panic!("{e}"));
    let config = SaeTrainConfig {
        layer: "conv3".into(),
        latents: 64,
        k: 8,
        epochs: 60,
        batch_size: 256,
        ..SaeTrainConfig::default()
    };
    let out = dir.path().join("sae");
    let mut steps = Vec::new();
    let quality = train_sae(
        &model,
        &data,
        &config,
        &out,
        "world-cnn",
        tch::Device::Cpu,
        &mut |p| {
            if let SaeProgress::Step { loss, .. } = p {
                steps.push(*loss);
            }
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // It learned: the held-out variance unexplained is small, and the loss fell.
    assert!(quality.fvu < 0.25, "{quality:?}");
    assert!(quality.l0 <= 8.0 + 1e-9 && quality.l0 > 1.0, "{quality:?}");
    assert!(quality.dead < 64, "{quality:?}");
    let (first, last) = (steps[0], steps[steps.len() - 1]);
    assert!(last < first * 0.8, "loss {first} -> {last}");
    assert!(
        !out.join("checkpoint.json").exists(),
        "the checkpoint outlived training"
    );

    // SAELens' tensor names, shapes and dtype, read back by Python's safetensors.
    let code = r#"
import json, os, sys
from safetensors.torch import load_file
t = load_file(os.path.join(sys.argv[1], "sae_weights.safetensors"))
cfg = json.load(open(os.path.join(sys.argv[1], "cfg.json")))
shapes = {name: list(v.shape) for name, v in t.items()}
want = {"W_enc": [16, 64], "b_enc": [64], "W_dec": [64, 16], "b_dec": [16]}
assert shapes == want, shapes
assert all(str(v.dtype) == "torch.float32" for v in t.values())
assert (cfg["architecture"], cfg["d_in"], cfg["d_sae"], cfg["k"], cfg["hook_name"]) == ("topk", 16, 64, 8, "conv3"), cfg
"#;
    check(Command::new(python()).arg("-c").arg(code).arg(&out));
    // And maia reads it back as units.
    let wrapped = open_with_sae(&model_path, &out).unwrap_or_else(|e| panic!("{e}"));
    let image = scene_png("a red star");
    let maps = wrapped
        .activations(&[&image], "conv3:sae", &[0, 1])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(maps[0].len(), 2);
}

#[test]
fn an_interrupted_sae_training_resumes_from_its_checkpoint() {
    use maia_core::sae_train::{SaeProgress, SaeTrainConfig, train_sae};
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("data");
    maia_shapes_world::write_dataset(&data, 40, 5).unwrap_or_else(|e| panic!("{e}"));
    let model_path = world_cnn(&dir.path().join("cache"));
    let model =
        TorchModel::load(&model_path, tch::Device::Cpu, false).unwrap_or_else(|e| panic!("{e}"));
    let config = SaeTrainConfig {
        layer: "conv3".into(),
        latents: 32,
        k: 4,
        epochs: 40,
        batch_size: 128,
        ..SaeTrainConfig::default()
    };
    let out = dir.path().join("sae");
    let train = |stop_at: Option<usize>, events: &mut Vec<SaeProgress>| {
        train_sae(
            &model,
            &data,
            &config,
            &out,
            "world-cnn",
            tch::Device::Cpu,
            &mut |p| {
                events.push(p.clone());
                if let (SaeProgress::Step { step, .. }, Some(stop)) = (p, stop_at)
                    && *step == stop
                {
                    panic!("interrupted at step {step}");
                }
            },
        )
    };
    // The first training is cut off (a panic stands in for a kill) at step 250.
    let interrupted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut events = Vec::new();
        let _ = train(Some(250), &mut events);
    }));
    assert!(interrupted.is_err());
    assert!(
        out.join("checkpoint.json").exists(),
        "no checkpoint was left"
    );
    assert!(
        !out.join("cfg.json").exists(),
        "an unfinished SAE was written"
    );

    let mut events = Vec::new();
    let quality = train(None, &mut events).unwrap_or_else(|e| panic!("{e}"));
    let resumed = events.iter().find_map(|e| match e {
        SaeProgress::Resumed { step } => Some(*step),
        _ => None,
    });
    let resumed = resumed.unwrap_or_else(|| panic!("it did not resume: {events:?}"));
    assert!((200..250).contains(&resumed), "resumed at {resumed}");
    let first_step = events.iter().find_map(|e| match e {
        SaeProgress::Step { step, .. } => Some(*step),
        _ => None,
    });
    assert_eq!(
        first_step,
        Some(resumed + 1),
        "steps before the checkpoint were redone"
    );
    assert!(quality.fvu < 0.5, "{quality:?}");
    assert!(out.join("cfg.json").exists() && !out.join("checkpoint.json").exists());
}
