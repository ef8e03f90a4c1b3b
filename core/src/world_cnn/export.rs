//! Writing a trained network as TorchScript plus its sidecar, atomically.
//!
//! The model is traced in eval mode (running batch-norm statistics, weights baked in as
//! constants) over a `[2, 3, S, S]` example batch; every op is batch-size agnostic, so the
//! module accepts any batch size. Its outputs come packed into one tensor (see
//! [`super::sidecar`]); the file is loaded back and checked against the in-memory network
//! before it is moved into place. Each file is written to a temporary name in the target
//! directory, synced, and renamed into place; the sidecar goes last and is what marks the
//! pair complete, so a run killed at any point never leaves a pair that later loads.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use maia_shapes_world::{Color, Shape};
use tch::{CModule, Device, Kind, Tensor};

use super::WorldCnnError;
use super::model_config::WorldModelConfig;
use super::net::WorldNet;
use super::sidecar::{
    OutputKind, OutputSpec, SIDECAR_FORMAT, SIDECAR_VERSION, Sidecar, TrainingRecord, hash_file,
};
use super::train::TrainedNet;

/// What the heads predict, recorded in the sidecar.
const LABELS: &str = "shape and color of the dominant object: the object covering the most \
visible pixels (occlusion and ring holes counted; ties go to the object in front). Training and \
held-out scenes are the world dataset's scenes whose dominant object covers at least \
training.config.min_dominance times the visible area of the runner-up.";

/// Traces `trained` and writes `model_path` and its sidecar; returns the sidecar.
pub(crate) fn write_model(
    trained: &mut TrainedNet,
    config: &WorldModelConfig,
    model_path: &Path,
) -> Result<Sidecar, WorldCnnError> {
    let model_file = model_path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| WorldCnnError::Config {
            field: "model path",
            value: model_path.display().to_string(),
            hint: "name a file with a UTF-8 file name, like world-cnn.pt",
        })?
        .to_string();
    if let Some(dir) = model_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(WorldCnnError::io("create directory", dir))?;
    }

    trained.vs.freeze();
    let side = i64::from(config.input_size());
    // A varied (not constant) example, so the check below exercises every channel.
    let example = (Tensor::arange(2 * 3 * side * side, (Kind::Float, Device::Cpu)) * 0.37)
        .sin()
        .view([2, 3, side, side]);
    let net = trained.net.as_ref();
    let _no_grad = tch::no_grad_guard();
    // The table of outputs, and the packed answer the saved module must reproduce.
    let reference = net.forward(&example, false).into_vec();
    let outputs = output_specs(net, &reference);
    let expected = pack(&reference);
    let mut closure = |inputs: &[Tensor]| match inputs.first() {
        Some(xs) => vec![pack(&net.forward(xs, false).into_vec())],
        None => Vec::new(),
    };
    let module = CModule::create_by_tracing(
        if matches!(config, WorldModelConfig::Vit(_)) {
            "WorldVit"
        } else {
            "WorldCnn"
        },
        "forward",
        &[example.shallow_clone()],
        &mut closure,
    )
    .map_err(WorldCnnError::torch("tracing the world model"))?;

    // libtorch names the archive's top folder after the file, so the model is saved under
    // its final name inside a private temporary folder: the bytes then depend only on the
    // weights, and the same config gives the same file.
    let tmp_dir = temp_path(model_path);
    let tmp_model = tmp_dir.join(&model_file);
    let saved = std::fs::create_dir(&tmp_dir)
        .map_err(WorldCnnError::io("create directory", &tmp_dir))
        .and_then(|()| {
            module
                .save(&tmp_model)
                .map_err(WorldCnnError::torch("saving the TorchScript module"))
        })
        .and_then(|()| sync_file(&tmp_model))
        .and_then(|()| hash_file(&tmp_model))
        .and_then(|digest| {
            check_saved(&tmp_model, &example, &expected)?;
            Ok(digest)
        });
    let model_blake3 = match saved {
        Ok(digest) => digest,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp_dir);
            return Err(e);
        }
    };
    let moved = rename(&tmp_model, model_path);
    let _ = std::fs::remove_dir_all(&tmp_dir);
    moved?;

    let plan = config.plan();
    let sidecar = Sidecar {
        format: SIDECAR_FORMAT.into(),
        format_version: SIDECAR_VERSION,
        model_file,
        model_blake3,
        method: "forward".into(),
        input: trained.input.clone(),
        packed_width: outputs.iter().map(|o| o.numel).sum(),
        outputs,
        labels: LABELS.into(),
        training: TrainingRecord {
            cache_key: config.cache_key(),
            code_version: config.code_version(),
            config: config.clone(),
            train_world_seed: plan.train_world_seed,
            heldout_world_seed: plan.heldout_world_seed,
            seconds: trained.seconds,
            torch_threads: trained.torch_threads,
            final_loss: trained.final_loss,
        },
        heldout: trained.heldout,
    };
    let json = serde_json::to_string_pretty(&sidecar).map_err(|e| WorldCnnError::Sidecar {
        path: Sidecar::path_for(model_path),
        reason: format!("cannot serialize ({e})"),
    })?;
    write_atomic(&Sidecar::path_for(model_path), json.as_bytes())?;
    Ok(sidecar)
}

/// Flattens every output per image and concatenates them: `[N, total]`. TorchScript
/// methods return one value and tch's tracer cannot build a tuple, so the outputs travel
/// packed; [`Sidecar::unpack`](super::Sidecar::unpack) takes them apart again.
fn pack(outputs: &[Tensor]) -> Tensor {
    let flat: Vec<Tensor> = outputs.iter().map(|t| t.flatten(1, -1)).collect();
    Tensor::cat(&flat, 1)
}

/// Loads the file just written and checks it reproduces the in-memory network.
fn check_saved(path: &Path, example: &Tensor, expected: &Tensor) -> Result<(), WorldCnnError> {
    let mut saved =
        CModule::load(path).map_err(WorldCnnError::torch("loading the saved world model"))?;
    saved.set_eval();
    let got = saved
        .forward_ts(&[example])
        .map_err(WorldCnnError::torch("running the saved world model"))?;
    // One image alone must give that image's row: the module is batch-size agnostic.
    let one = saved
        .forward_ts(&[example.narrow(0, 1, 1)])
        .map_err(WorldCnnError::torch("running the saved world model"))?;
    // Another batch size takes other matrix-multiply kernels: the same to float rounding,
    // which is measured against the largest value, not each one.
    let scale = 1.0 + expected.abs().max().double_value(&[]);
    let alone = (one - expected.narrow(0, 1, 1))
        .abs()
        .max()
        .double_value(&[]);
    let same = got.size() == expected.size()
        && got.allclose(expected, 1e-5, 1e-5, false)
        && alone <= 1e-4 * scale;
    if !same {
        return Err(WorldCnnError::Torch {
            doing: "checking the saved world model",
            source: tch::TchError::Kind(format!(
                "the traced module answers {:?}, the network {:?}, or their values differ (this is a bug in maia)",
                got.size(),
                expected.size()
            )),
        });
    }
    Ok(())
}

/// The output table, from one forward pass over the example batch.
fn output_specs(net: &dyn WorldNet, outputs: &[Tensor]) -> Vec<OutputSpec> {
    let shape_classes: Vec<String> = Shape::ALL.iter().map(|s| s.name().to_string()).collect();
    let color_classes: Vec<String> = Color::ALL.iter().map(|c| c.name().to_string()).collect();
    let heads = [
        (
            "shape_logits",
            shape_classes,
            "shape of the dominant object",
        ),
        (
            "color_logits",
            color_classes,
            "color of the dominant object",
        ),
    ];
    let mut entries: Vec<(String, OutputKind, Option<Vec<String>>, String, _)> = net
        .layers()
        .into_iter()
        .map(|doc| {
            let kind = if doc.layout.is_some() {
                OutputKind::Tokens
            } else {
                OutputKind::FeatureMap
            };
            (doc.name, kind, None, doc.description, doc.layout)
        })
        .collect();
    entries.extend(heads.into_iter().map(|(name, classes, what)| {
        (
            name.to_owned(),
            OutputKind::Logits,
            Some(classes),
            format!("{what} (linear head on {})", net.head_input()),
            None,
        )
    }));
    let mut offset = 0;
    entries
        .into_iter()
        .zip(outputs)
        .map(|((name, kind, classes, description, layout), tensor)| {
            let shape: Vec<i64> = tensor.size().into_iter().skip(1).collect();
            // Channels come first in a map, last in a token sequence.
            let units = match kind {
                OutputKind::Tokens => shape.last(),
                _ => shape.first(),
            }
            .copied()
            .unwrap_or(0) as usize;
            let numel: i64 = shape.iter().product();
            let spec = OutputSpec {
                name,
                kind,
                shape,
                units,
                offset,
                numel,
                classes,
                layout,
                description,
            };
            offset += numel;
            spec
        })
        .collect()
}

/// A fresh temporary name next to `path` (hidden, unique per process and call, ending in
/// `.tmp`).
fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let unique = format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    path.with_file_name(unique)
}

fn sync_file(path: &Path) -> Result<(), WorldCnnError> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(WorldCnnError::io("sync", path))
}

fn rename(from: &Path, to: &Path) -> Result<(), WorldCnnError> {
    std::fs::rename(from, to).map_err(|source| {
        let _ = std::fs::remove_file(from);
        WorldCnnError::Io {
            doing: "move a finished file into place at",
            path: to.to_path_buf(),
            source,
        }
    })
}

/// Writes `bytes` to `path` through a synced temporary file and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WorldCnnError> {
    let tmp = temp_path(path);
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .map_err(WorldCnnError::io("write", &tmp));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    rename(&tmp, path)
}
