//! Training a TopK sparse autoencoder on a layer's activations, written in SAELens' layout
//! so that `--sae DIR` (and SAELens itself) reads it.
//!
//! - **Samples**: every spatial position (or token) of the layer on every image of a data
//!   set is one `d_in`-wide sample; with more than [`MAX_SAMPLES`] in all, each image gives
//!   an even, seeded share of its positions. The last 1/20 of the images are held out for
//!   the quality figures.
//! - **Model** (Gao et al. 2024, "Scaling and evaluating sparse autoencoders"): latents
//!   `z = TopK(relu((x − b_dec) W_enc + b_enc))`, reconstruction `z W_dec + b_dec`; `b_dec`
//!   starts at the samples' mean, `W_dec` at random unit rows and `W_enc` at its transpose;
//!   decoder rows are renormalised after every step. Loss: mean squared error over the
//!   samples' variance (the fraction of variance unexplained, FVU).
//! - **Quality** on the held-out samples: FVU, L0 (active latents per sample, at most `k`)
//!   and dead latents (never active on them).
//! - **Checkpoint**: `checkpoint.safetensors` + `checkpoint.json` in the output folder every
//!   few hundred steps and at each epoch's end; a run with the same settings resumes there.

mod write;

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tch::nn::OptimizerConfig;
use tch::{Device, Kind, Tensor, nn};

use crate::dataset::Dataset;
use crate::target::TargetModel;

/// At most this many samples are kept in memory (`d_in` floats each).
pub const MAX_SAMPLES: usize = 1 << 20;

/// Steps between checkpoints.
const CHECKPOINT_EVERY: usize = 200;

/// What to train.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SaeTrainConfig {
    /// The layer whose activations are encoded.
    pub layer: String,
    /// Number of latents (`d_sae`).
    pub latents: i64,
    /// Active latents per sample.
    pub k: i64,
    /// Passes over the training samples.
    pub epochs: usize,
    /// Samples per optimiser step.
    pub batch_size: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Seeds initialisation, position sampling and batch order.
    pub seed: u64,
}

impl Default for SaeTrainConfig {
    fn default() -> Self {
        SaeTrainConfig {
            layer: String::new(),
            latents: 4096,
            k: 32,
            epochs: 8,
            batch_size: 4096,
            learning_rate: 1e-3,
            seed: 0,
        }
    }
}

/// What training is doing, for progress bars.
#[derive(Clone, Debug, PartialEq)]
pub enum SaeProgress {
    /// Reading activations: `done` of `total` images.
    Collecting {
        /// Images read.
        done: usize,
        /// Images to read.
        total: usize,
    },
    /// Resumed from a checkpoint at this step.
    Resumed {
        /// The step training goes on from.
        step: usize,
    },
    /// One optimiser step finished.
    Step {
        /// 1-based step over all epochs.
        step: usize,
        /// Steps over all epochs.
        total: usize,
        /// This step's FVU on its batch.
        loss: f64,
    },
}

/// How good the trained SAE is, on the held-out samples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SaeQuality {
    /// Fraction of variance unexplained (0 is perfect).
    pub fvu: f64,
    /// Mean number of active latents per sample.
    pub l0: f64,
    /// Latents never active on the held-out samples.
    pub dead: usize,
    /// Training samples.
    pub train_samples: usize,
    /// Held-out samples.
    pub heldout_samples: usize,
    /// Wall time, in seconds.
    pub seconds: f64,
    /// Samples per second through the optimiser.
    pub samples_per_second: f64,
}

/// Why training failed.
#[derive(Debug, thiserror::Error)]
pub enum SaeTrainError {
    /// A setting out of range, a layer that does not exist, data that yields nothing.
    #[error("{0}")]
    Input(String),
    /// The model or libtorch failed.
    #[error("{0}")]
    Compute(String),
    /// Writing the result failed.
    #[error("cannot write {path}: {reason}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

fn compute(e: impl std::fmt::Display) -> SaeTrainError {
    SaeTrainError::Compute(e.to_string())
}

/// The trainable SAE.
struct TopKSae {
    w_enc: Tensor,
    b_enc: Tensor,
    w_dec: Tensor,
    b_dec: Tensor,
    k: i64,
}

impl TopKSae {
    fn new(vs: &nn::Path, d_in: i64, d_sae: i64, k: i64, mean: &Tensor) -> TopKSae {
        let w_dec = vs.var(
            "W_dec",
            &[d_sae, d_in],
            nn::Init::Randn {
                mean: 0.0,
                stdev: 1.0,
            },
        );
        let w_enc = vs.var("W_enc", &[d_in, d_sae], nn::Init::Const(0.0));
        let b_enc = vs.var("b_enc", &[d_sae], nn::Init::Const(0.0));
        let b_dec = vs.var("b_dec", &[d_in], nn::Init::Const(0.0));
        tch::no_grad(|| {
            let unit = &w_dec / w_dec.norm_scalaropt_dim(2, [1i64].as_slice(), true);
            let mut w_dec_mut = w_dec.shallow_clone();
            w_dec_mut.copy_(&unit);
            let mut w_enc_mut = w_enc.shallow_clone();
            w_enc_mut.copy_(&unit.transpose(0, 1));
            let mut b_dec_mut = b_dec.shallow_clone();
            b_dec_mut.copy_(mean);
        });
        TopKSae {
            w_enc,
            b_enc,
            w_dec,
            b_dec,
            k,
        }
    }

    fn encode(&self, x: &Tensor) -> Tensor {
        let pre = (x - &self.b_dec).matmul(&self.w_enc) + &self.b_enc;
        let (values, indices) = pre.topk(self.k, -1, true, false);
        pre.zeros_like().scatter(-1, &indices, &values.relu())
    }

    fn decode(&self, z: &Tensor) -> Tensor {
        z.matmul(&self.w_dec) + &self.b_dec
    }

    fn normalize_decoder(&self) {
        tch::no_grad(|| {
            let norms = self
                .w_dec
                .norm_scalaropt_dim(2, [1i64].as_slice(), true)
                .clamp_min(1e-8);
            let mut w = self.w_dec.shallow_clone();
            w.copy_(&(&self.w_dec / norms));
        });
    }
}

/// The layer's activations on `data`: `(train, heldout)` samples, `[n, d_in]` each.
fn collect(
    model: &dyn TargetModel,
    data: &Dataset,
    config: &SaeTrainConfig,
    progress: &mut dyn FnMut(&SaeProgress),
) -> Result<(Tensor, Tensor), SaeTrainError> {
    let info = model.info().layer(&config.layer).cloned().ok_or_else(|| {
        let names: Vec<&str> = model
            .info()
            .layers
            .iter()
            .map(|l| l.name.as_str())
            .collect();
        SaeTrainError::Input(format!(
            "{} has no layer `{}`; its layers: {}",
            model.info().name,
            config.layer,
            names.join(", ")
        ))
    })?;
    let n = data.len();
    let positions = (info.map_height * info.map_width) as usize;
    let per_image = positions.min((MAX_SAMPLES / n.max(1)).max(1));
    let channels: Vec<usize> = (0..info.units).collect();
    let heldout_from = n - (n / 20).max(1).min(n.saturating_sub(1));
    let (mut train, mut heldout) = (Vec::new(), Vec::new());
    let mut rng = crate::rng::SplitMix::new(config.seed, 1);
    const CHUNK: usize = 32;
    let mut index = 0;
    while index < n {
        let end = (index + CHUNK).min(n);
        let images: Vec<_> = (index..end).filter_map(|i| data.image(i).ok()).collect();
        let refs: Vec<_> = images.iter().collect();
        let maps = model
            .activations(&refs, &config.layer, &channels)
            .map_err(compute)?;
        for (offset, per_channel) in maps.into_iter().enumerate() {
            let mut flat = Vec::with_capacity(per_channel.len() * positions);
            for map in &per_channel {
                flat.extend_from_slice(&map.values);
            }
            let x = Tensor::from_slice(&flat)
                .view([info.units as i64, positions as i64])
                .transpose(0, 1);
            let x = if per_image < positions {
                let mut order: Vec<i64> = (0..positions as i64).collect();
                shuffle(&mut rng, &mut order);
                x.index_select(0, &Tensor::from_slice(&order[..per_image]))
            } else {
                x
            };
            if index + offset >= heldout_from {
                heldout.push(x.contiguous());
            } else {
                train.push(x.contiguous());
            }
        }
        index = end;
        progress(&SaeProgress::Collecting {
            done: index,
            total: n,
        });
    }
    if train.is_empty() || heldout.is_empty() {
        return Err(SaeTrainError::Input(format!(
            "the data set gave {} usable images; an SAE needs at least 2 (one held out)",
            train.len() + heldout.len()
        )));
    }
    let (train, heldout) = (Tensor::cat(&train, 0), Tensor::cat(&heldout, 0));
    let finite = train.isfinite().all().int64_value(&[]) == 1
        && heldout.isfinite().all().int64_value(&[]) == 1;
    if !finite {
        return Err(SaeTrainError::Input(format!(
            "layer `{}` gives NaN or infinite activations on this data set; an SAE cannot be trained on them",
            config.layer
        )));
    }
    Ok((train, heldout))
}

/// Fisher–Yates, seeded.
fn shuffle(rng: &mut crate::rng::SplitMix, items: &mut [i64]) {
    for i in (1..items.len()).rev() {
        let j = rng.below(i + 1);
        items.swap(i, j);
    }
}

/// What a checkpoint records besides the weights.
#[derive(Debug, Serialize, Deserialize)]
struct CheckpointInfo {
    config: SaeTrainConfig,
    data: String,
    step: usize,
}

/// Trains a TopK SAE on `config.layer` of `model` over `data` and writes it to `out` in
/// SAELens' layout; `model_name` goes into `cfg.json`. Resumes from a checkpoint in `out`
/// written with the same settings and data.
pub fn train_sae(
    model: &dyn TargetModel,
    data_path: &Path,
    config: &SaeTrainConfig,
    out: &Path,
    model_name: &str,
    device: Device,
    progress: &mut dyn FnMut(&SaeProgress),
) -> Result<SaeQuality, SaeTrainError> {
    let started = Instant::now();
    if config.latents < 1 || config.k < 1 || config.k > config.latents {
        return Err(SaeTrainError::Input(format!(
            "--k {} must be in 1..={} (the number of latents)",
            config.k, config.latents
        )));
    }
    if config.epochs == 0 || config.batch_size == 0 {
        return Err(SaeTrainError::Input(
            "--epochs and the batch size must be at least 1".into(),
        ));
    }
    std::fs::create_dir_all(out).map_err(|e| SaeTrainError::Write {
        path: out.to_path_buf(),
        reason: e.to_string(),
    })?;
    let data = Dataset::open(data_path).map_err(|e| SaeTrainError::Input(e.to_string()))?;
    let (train, heldout) = collect(model, &data, config, progress)?;
    let d_in = train.size()[1];
    tch::manual_seed(config.seed as i64);
    let vs = nn::VarStore::new(device);
    let mean = train
        .mean_dim([0i64].as_slice(), false, Kind::Float)
        .to_device(device);
    let variance = (&train - train.mean_dim([0i64].as_slice(), true, Kind::Float))
        .square()
        .sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
        .mean(Kind::Float)
        .double_value(&[])
        .max(1e-12);
    let sae = TopKSae::new(&vs.root(), d_in, config.latents, config.k, &mean);
    let mut opt = nn::Adam::default()
        .build(&vs, config.learning_rate)
        .map_err(compute)?;

    let n = train.size()[0] as usize;
    let batch = config.batch_size.min(n);
    let steps_per_epoch = n.div_ceil(batch);
    let total = steps_per_epoch * config.epochs;
    let checkpoint = Checkpoint::new(out, config, &data.manifest_hash());
    let mut step = checkpoint.load(&vs).unwrap_or(0).min(total);
    if step > 0 {
        progress(&SaeProgress::Resumed { step });
    }
    let train_device = train.to_device(device);
    while step < total {
        let epoch = step / steps_per_epoch;
        let mut rng = crate::rng::SplitMix::new(config.seed, 2 + epoch as u64);
        let mut order: Vec<i64> = (0..n as i64).collect();
        shuffle(&mut rng, &mut order);
        let order = Tensor::from_slice(&order).to_device(device);
        let within = step % steps_per_epoch;
        for b in within..steps_per_epoch {
            let start = (b * batch) as i64;
            let len = batch.min(n - b * batch) as i64;
            let x = train_device.index_select(0, &order.narrow(0, start, len));
            let recon = sae.decode(&sae.encode(&x));
            let loss = (&recon - &x)
                .square()
                .sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
                .mean(Kind::Float)
                / variance;
            opt.backward_step(&loss);
            sae.normalize_decoder();
            step += 1;
            let value = loss.double_value(&[]);
            if !value.is_finite() {
                return Err(SaeTrainError::Compute(format!(
                    "the loss became {value} at step {step}; lower the learning rate"
                )));
            }
            progress(&SaeProgress::Step {
                step,
                total,
                loss: value,
            });
            if step.is_multiple_of(CHECKPOINT_EVERY) || b + 1 == steps_per_epoch {
                checkpoint.save(&vs, step)?;
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let quality = tch::no_grad(|| -> Result<SaeQuality, SaeTrainError> {
        let x = heldout.to_device(device);
        let z = sae.encode(&x);
        let recon = sae.decode(&z);
        let centred = &x - x.mean_dim([0i64].as_slice(), true, Kind::Float);
        let fvu = (&recon - &x).square().sum(Kind::Float).double_value(&[])
            / centred
                .square()
                .sum(Kind::Float)
                .double_value(&[])
                .max(1e-12);
        let active = z.gt(0.0);
        let l0 = active
            .to_kind(Kind::Float)
            .sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
            .mean(Kind::Float)
            .double_value(&[]);
        let ever = active
            .any_dim(0, false)
            .to_kind(Kind::Int64)
            .sum(Kind::Int64);
        let dead = config.latents - ever.int64_value(&[]);
        Ok(SaeQuality {
            fvu,
            l0,
            dead: dead.max(0) as usize,
            train_samples: n,
            heldout_samples: heldout.size()[0] as usize,
            seconds,
            samples_per_second: (n * config.epochs) as f64 / seconds.max(1e-9),
        })
    })?;
    write::write_saelens(
        out,
        &write::Weights {
            w_enc: &sae.w_enc,
            b_enc: &sae.b_enc,
            w_dec: &sae.w_dec,
            b_dec: &sae.b_dec,
        },
        config,
        model_name,
        &quality,
    )?;
    checkpoint.remove();
    Ok(quality)
}

/// The checkpoint files of a training.
struct Checkpoint {
    weights: PathBuf,
    info: PathBuf,
    config: SaeTrainConfig,
    data: String,
}

impl Checkpoint {
    fn new(out: &Path, config: &SaeTrainConfig, data: &str) -> Checkpoint {
        Checkpoint {
            weights: out.join("checkpoint.safetensors"),
            info: out.join("checkpoint.json"),
            config: config.clone(),
            data: data.to_owned(),
        }
    }

    /// The step a usable checkpoint was written at, its weights loaded into `vs`.
    fn load(&self, vs: &nn::VarStore) -> Option<usize> {
        let text = std::fs::read_to_string(&self.info).ok()?;
        let info: CheckpointInfo = serde_json::from_str(&text).ok()?;
        if info.config != self.config || info.data != self.data {
            return None;
        }
        // Copying into variables that require grad is only allowed without autograd.
        tch::no_grad(|| vs.read_safetensors(&self.weights)).ok()?;
        Some(info.step)
    }

    fn save(&self, vs: &nn::VarStore, step: usize) -> Result<(), SaeTrainError> {
        let failed = |path: &Path, e: String| SaeTrainError::Write {
            path: path.to_path_buf(),
            reason: e,
        };
        let tmp = self.weights.with_extension("tmp.safetensors");
        vs.save(&tmp).map_err(|e| failed(&tmp, e.to_string()))?;
        std::fs::rename(&tmp, &self.weights).map_err(|e| failed(&self.weights, e.to_string()))?;
        let info = CheckpointInfo {
            config: self.config.clone(),
            data: self.data.clone(),
            step,
        };
        let json = serde_json::to_string(&info).map_err(|e| failed(&self.info, e.to_string()))?;
        std::fs::write(&self.info, json).map_err(|e| failed(&self.info, e.to_string()))
    }

    fn remove(&self) {
        let _ = std::fs::remove_file(&self.weights);
        let _ = std::fs::remove_file(&self.info);
    }
}
