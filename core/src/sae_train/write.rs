//! Writing a trained SAE in SAELens' layout: `cfg.json` and `sae_weights.safetensors`.

use std::path::Path;

use tch::Tensor;

use super::{SaeQuality, SaeTrainConfig, SaeTrainError};
use crate::target::sae::{CONFIG_FILE, WEIGHTS_FILE};

/// The tensors, under SAELens' names.
pub(super) struct Weights<'a> {
    pub w_enc: &'a Tensor,
    pub b_enc: &'a Tensor,
    pub w_dec: &'a Tensor,
    pub b_dec: &'a Tensor,
}

/// Writes both files into `out` (weights first; `cfg.json` last marks the folder done).
pub(super) fn write_saelens(
    out: &Path,
    weights: &Weights<'_>,
    config: &SaeTrainConfig,
    model_name: &str,
    quality: &SaeQuality,
) -> Result<(), SaeTrainError> {
    let failed = |path: &Path, reason: String| SaeTrainError::Write {
        path: path.to_path_buf(),
        reason,
    };
    let cpu = |t: &Tensor| t.detach().to_device(tch::Device::Cpu).contiguous();
    let tensors = [
        ("W_enc", cpu(weights.w_enc)),
        ("b_enc", cpu(weights.b_enc)),
        ("W_dec", cpu(weights.w_dec)),
        ("b_dec", cpu(weights.b_dec)),
    ];
    let weights_path = out.join(WEIGHTS_FILE);
    Tensor::write_safetensors(&tensors, &weights_path)
        .map_err(|e| failed(&weights_path, e.to_string()))?;
    let d_in = tensors[0].1.size()[0];
    let cfg = serde_json::json!({
        "architecture": "topk",
        "d_in": d_in,
        "d_sae": config.latents,
        "k": config.k,
        "dtype": "float32",
        "device": "cpu",
        "model_name": model_name,
        "hook_name": config.layer,
        "hook_head_index": null,
        "apply_b_dec_to_input": true,
        "normalize_activations": "none",
        "reshape_activations": "none",
        "metadata": {
            "trained_by": "maia sae train",
            "epochs": config.epochs,
            "batch_size": config.batch_size,
            "learning_rate": config.learning_rate,
            "seed": config.seed,
            "quality": quality,
        },
    });
    let cfg_path = out.join(CONFIG_FILE);
    let text = serde_json::to_string_pretty(&cfg).map_err(|e| failed(&cfg_path, e.to_string()))?;
    std::fs::write(&cfg_path, text).map_err(|e| failed(&cfg_path, e.to_string()))
}
