//! Sparse-autoencoder latents as units: an SAE in SAELens' file layout (`cfg.json` plus
//! `sae_weights.safetensors`) read with libtorch and applied at every spatial position or
//! token of a layer, so latent `N` of layer `L` is the unit `L:sae:N` with a map, a mask
//! and an activation exactly like a channel's.
//!
//! The layout, as SAELens writes it (`SAE.save_model`):
//! - `cfg.json`: `d_in`, `d_sae`, `architecture` (`standard`, `topk`, `jumprelu`),
//!   `hook_name` (the layer it was trained on), `apply_b_dec_to_input` (default true), `k`
//!   for TopK (older files: `activation_fn_str: "topk"` with `activation_fn_kwargs.k`),
//!   `normalize_activations` (only `none` is read).
//! - `sae_weights.safetensors`: `W_enc [d_in, d_sae]`, `b_enc [d_sae]`, `W_dec [d_sae,
//!   d_in]`, `b_dec [d_in]`, and for JumpReLU `threshold [d_sae]`; any float dtype.
//!
//! Encoding, for `x` of width `d_in`: `pre = (x − b_dec·apply_b_dec_to_input) W_enc +
//! b_enc`; standard: `relu(pre)`; TopK: the `k` largest of `pre` through a ReLU, zero
//! elsewhere; JumpReLU: `relu(pre)` where `pre > threshold`, zero elsewhere.

mod model;

pub use model::{SAE_SUFFIX, SaeTarget};

use std::path::{Path, PathBuf};

use serde::Deserialize;
use tch::{Kind, Tensor};

use super::TargetError;

/// The file names of an SAE folder.
pub const CONFIG_FILE: &str = "cfg.json";
/// The weights file of an SAE folder.
pub const WEIGHTS_FILE: &str = "sae_weights.safetensors";

/// How latents are computed from the pre-activations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    /// `relu(pre)`.
    Standard,
    /// The `k` largest pre-activations through a ReLU; zero elsewhere.
    TopK(i64),
    /// `relu(pre)` where `pre > threshold`.
    JumpRelu,
}

/// `cfg.json`, the fields maia reads.
#[derive(Clone, Debug, Deserialize)]
struct RawConfig {
    d_in: i64,
    d_sae: i64,
    #[serde(default)]
    architecture: Option<String>,
    #[serde(default)]
    hook_name: Option<String>,
    #[serde(default)]
    apply_b_dec_to_input: Option<bool>,
    #[serde(default)]
    k: Option<f64>,
    #[serde(default)]
    activation_fn_str: Option<String>,
    #[serde(default)]
    activation_fn_kwargs: Option<serde_json::Value>,
    #[serde(default)]
    normalize_activations: Option<String>,
}

/// A sparse autoencoder, loaded on the CPU in float32.
#[derive(Debug)]
pub struct Sae {
    /// The folder it came from.
    pub dir: PathBuf,
    /// Input width.
    pub d_in: i64,
    /// Number of latents.
    pub d_sae: i64,
    /// How latents are computed.
    pub architecture: Architecture,
    /// The layer SAELens says it was trained on (`hook_name`), if it says.
    pub hook_name: Option<String>,
    /// BLAKE3 of `cfg.json` and the weights file, for caches and resumes.
    pub hash: String,
    apply_b_dec_to_input: bool,
    weights: Weights,
}

/// The SAE's tensors, never written after loading.
#[derive(Debug)]
struct Weights {
    w_enc: Tensor,
    b_enc: Tensor,
    w_dec: Tensor,
    b_dec: Tensor,
    threshold: Option<Tensor>,
}

// SAFETY: the tensors are created in `Sae::load` and only ever read afterwards: every use
// passes them by shared reference to libtorch operators that allocate their results and
// leave their inputs untouched (reference counts are atomic), which libtorch supports from
// several threads at once. Bulk passes call `encode` from one thread per core.
unsafe impl Sync for Weights {}

fn bad(dir: &Path, what: impl std::fmt::Display) -> TargetError {
    TargetError::Spec(format!("SAE {}: {what}", dir.display()))
}

impl Sae {
    /// Reads the SAE in `dir` (SAELens layout), checking every tensor's name, shape and
    /// dtype against `cfg.json`.
    pub fn load(dir: &Path) -> Result<Sae, TargetError> {
        let config_path = dir.join(CONFIG_FILE);
        let weights_path = dir.join(WEIGHTS_FILE);
        let config_text = std::fs::read(&config_path).map_err(|e| {
            bad(
                dir,
                format!(
                    "cannot read {CONFIG_FILE} ({e}); --sae names a folder in SAELens layout ({CONFIG_FILE} and {WEIGHTS_FILE}, as SAE.save_model or `maia sae train` writes)"
                ),
            )
        })?;
        let raw: RawConfig = serde_json::from_slice(&config_text)
            .map_err(|e| bad(dir, format!("{CONFIG_FILE} is not an SAE config ({e})")))?;
        if raw.d_in < 1 || raw.d_sae < 1 {
            return Err(bad(
                dir,
                format!(
                    "d_in = {} and d_sae = {} must be positive",
                    raw.d_in, raw.d_sae
                ),
            ));
        }
        if let Some(norm) = raw
            .normalize_activations
            .as_deref()
            .filter(|n| *n != "none")
        {
            return Err(bad(
                dir,
                format!(
                    "normalize_activations = {norm:?} is not supported; maia reads SAEs trained on raw activations (\"none\")"
                ),
            ));
        }
        let architecture = architecture(dir, &raw)?;
        let weights_bytes = std::fs::read(&weights_path)
            .map_err(|e| bad(dir, format!("cannot read {WEIGHTS_FILE} ({e})")))?;
        let mut hasher = blake3::Hasher::new();
        hasher.update(&config_text);
        hasher.update(&weights_bytes);
        let hash = hasher.finalize().to_hex()[..16].to_owned();
        // The bytes just hashed are the ones parsed: the file is read once.
        let not_safetensors = |e: &dyn std::fmt::Display| {
            bad(
                dir,
                format!("{WEIGHTS_FILE} is not a safetensors file ({e})"),
            )
        };
        let parsed = safetensors::SafeTensors::deserialize(&weights_bytes)
            .map_err(|e| not_safetensors(&e))?;
        let tensors: Vec<(String, Tensor)> = parsed
            .tensors()
            .into_iter()
            .map(|(name, view)| Tensor::try_from(view).map(|t| (name, t)))
            .collect::<Result<_, _>>()
            .map_err(|e| not_safetensors(&e))?;
        let take = |name: &str,
                    shape: &[i64],
                    required: bool|
         -> Result<Option<Tensor>, TargetError> {
            let Some(tensor) = tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t) else {
                if !required {
                    return Ok(None);
                }
                let names: Vec<&str> = tensors.iter().map(|(n, _)| n.as_str()).collect();
                return Err(bad(
                    dir,
                    format!(
                        "{WEIGHTS_FILE} has no tensor `{name}` (it has: {}); SAELens names them W_enc, b_enc, W_dec, b_dec (and threshold for JumpReLU)",
                        names.join(", ")
                    ),
                ));
            };
            if !matches!(
                tensor.kind(),
                Kind::Float | Kind::Double | Kind::Half | Kind::BFloat16
            ) {
                return Err(bad(
                    dir,
                    format!(
                        "tensor `{name}` is {:?}; SAE weights must be floating point (float32, float16, bfloat16 or float64)",
                        tensor.kind()
                    ),
                ));
            }
            if tensor.size() != shape {
                return Err(bad(
                    dir,
                    format!(
                        "tensor `{name}` has shape {:?}, but d_in = {} and d_sae = {} in {CONFIG_FILE} make it {shape:?}",
                        tensor.size(),
                        raw.d_in,
                        raw.d_sae
                    ),
                ));
            }
            let tensor = tensor.to_kind(Kind::Float).contiguous();
            let finite = tensor.isfinite().all().int64_value(&[]) == 1;
            if !finite {
                return Err(bad(
                    dir,
                    format!(
                        "tensor `{name}` holds NaN or infinite values; the SAE's training diverged"
                    ),
                ));
            }
            Ok(Some(tensor))
        };
        let (d_in, d_sae) = (raw.d_in, raw.d_sae);
        let required =
            |t: Option<Tensor>| t.unwrap_or_else(|| Tensor::zeros([0], tch::kind::FLOAT_CPU));
        let w_enc = required(take("W_enc", &[d_in, d_sae], true)?);
        let b_enc = required(take("b_enc", &[d_sae], true)?);
        let w_dec = required(take("W_dec", &[d_sae, d_in], true)?);
        let b_dec = required(take("b_dec", &[d_in], true)?);
        let threshold = take(
            "threshold",
            &[d_sae],
            architecture == Architecture::JumpRelu,
        )?;
        Ok(Sae {
            dir: dir.to_path_buf(),
            d_in,
            d_sae,
            architecture,
            hook_name: raw.hook_name.filter(|h| !h.is_empty()),
            hash,
            apply_b_dec_to_input: raw.apply_b_dec_to_input.unwrap_or(true),
            weights: Weights {
                w_enc,
                b_enc,
                w_dec,
                b_dec,
                threshold: if architecture == Architecture::JumpRelu {
                    threshold
                } else {
                    None
                },
            },
        })
    }

    /// `(x − b_dec·apply_b_dec_to_input) W_enc + b_enc`.
    fn pre_activations(&self, x: &Tensor) -> Tensor {
        let w = &self.weights;
        let input = if self.apply_b_dec_to_input {
            x - &w.b_dec
        } else {
            x.shallow_clone()
        };
        input.matmul(&w.w_enc) + &w.b_enc
    }

    /// Latent activations of `x` (`[..., d_in]`, float32, CPU): `[..., d_sae]`.
    pub fn encode(&self, x: &Tensor) -> Tensor {
        let w = &self.weights;
        let pre = self.pre_activations(x);
        match self.architecture {
            Architecture::Standard => pre.relu(),
            Architecture::JumpRelu => match &w.threshold {
                Some(threshold) => pre.relu() * pre.gt_tensor(threshold).to_kind(Kind::Float),
                None => pre.relu(),
            },
            Architecture::TopK(k) => {
                let (values, indices) = pre.topk(k.min(self.d_sae), -1, true, false);
                pre.zeros_like().scatter(-1, &indices, &values.relu())
            }
        }
    }

    /// Each latent's maximum over the positions of each image of `x` (`[images, positions,
    /// d_in]`): `[images, d_sae]`, the same as [`Sae::encode`]'s maximum over positions
    /// without building every position's latents where that can be avoided: a ReLU
    /// commutes with the maximum, and TopK's few nonzero values are reduced where they
    /// land.
    pub fn maxima(&self, x: &Tensor) -> Tensor {
        let over_positions = [1i64];
        match self.architecture {
            Architecture::Standard => self
                .pre_activations(x)
                .amax(over_positions.as_slice(), false)
                .relu(),
            Architecture::JumpRelu => self.encode(x).amax(over_positions.as_slice(), false),
            Architecture::TopK(k) => {
                let pre = self.pre_activations(x);
                let size = pre.size();
                let (images, d_sae) = (size[0], size[size.len() - 1]);
                let (values, indices) = pre.topk(k.min(self.d_sae), -1, true, false);
                // Every position's k winners, per image; the maximum with zero is the ReLU.
                Tensor::zeros([images, d_sae], (Kind::Float, pre.device())).internal_scatter_reduce(
                    1,
                    &indices.reshape([images, -1]),
                    &values.reshape([images, -1]),
                    "amax",
                    true,
                )
            }
        }
    }

    /// The reconstruction of `x` from its latents: `latents W_dec + b_dec`.
    pub fn decode(&self, latents: &Tensor) -> Tensor {
        latents.matmul(&self.weights.w_dec) + &self.weights.b_dec
    }

    /// Where it came from and what it is, in one line.
    pub fn describe(&self) -> String {
        let arch = match self.architecture {
            Architecture::Standard => "standard".to_owned(),
            Architecture::TopK(k) => format!("TopK k={k}"),
            Architecture::JumpRelu => "JumpReLU".to_owned(),
        };
        format!(
            "SAE {} ({arch}, {} → {} latents{})",
            self.dir.display(),
            self.d_in,
            self.d_sae,
            self.hook_name
                .as_deref()
                .map(|h| format!(", trained on {h}"))
                .unwrap_or_default()
        )
    }
}

fn architecture(dir: &Path, raw: &RawConfig) -> Result<Architecture, TargetError> {
    let k = raw.k.or_else(|| {
        raw.activation_fn_kwargs
            .as_ref()
            .and_then(|kw| kw.get("k"))
            .and_then(serde_json::Value::as_f64)
    });
    let arch = raw.architecture.as_deref().unwrap_or("standard");
    let topk =
        arch == "topk" || (arch == "standard" && raw.activation_fn_str.as_deref() == Some("topk"));
    if topk {
        let k = k.ok_or_else(|| bad(dir, "a TopK SAE needs `k` in cfg.json"))?;
        if !(k >= 1.0 && k.fract() == 0.0 && k <= raw.d_sae as f64) {
            return Err(bad(
                dir,
                format!("k = {k} must be a whole number in 1..={}", raw.d_sae),
            ));
        }
        return Ok(Architecture::TopK(k as i64));
    }
    match arch {
        "standard" => Ok(Architecture::Standard),
        "jumprelu" => Ok(Architecture::JumpRelu),
        other => Err(bad(
            dir,
            format!(
                "architecture {other:?} is not supported; maia reads standard (ReLU), topk and jumprelu SAEs"
            ),
        )),
    }
}

/// How often each unit of `layer` fires on the images of `data`: the fraction of images on
/// which its activation (spatial max) is above zero, one entry per unit. Images the model
/// cannot take are left out of the count; `progress(done, total)` after each chunk.
pub fn firing_rates(
    model: &dyn super::TargetModel,
    layer: &str,
    data: &crate::dataset::Dataset,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<f32>, TargetError> {
    let units = model.info().layer(layer).map(|l| l.units).ok_or_else(|| {
        TargetError::Unit(format!("{} has no layer `{layer}`", model.info().name))
    })?;
    let all: Vec<usize> = (0..units).collect();
    let mut fired = vec![0u32; units];
    let mut seen = 0u32;
    const CHUNK: usize = 64;
    let mut start = 0;
    while start < data.len() {
        let end = (start + CHUNK).min(data.len());
        let images: Vec<_> = (start..end).filter_map(|i| data.image(i).ok()).collect();
        let refs: Vec<_> = images.iter().collect();
        for maxima in model.unit_maxima(&refs, layer, &all)?.into_iter().flatten() {
            seen += 1;
            for (count, value) in fired.iter_mut().zip(&maxima) {
                *count += u32::from(*value > 0.0);
            }
        }
        start = end;
        progress(start, data.len());
    }
    Ok(fired
        .into_iter()
        .map(|c| c as f32 / seen.max(1) as f32)
        .collect())
}
