//! The world CNN: a small convolutional network trained with libtorch on the shapes world,
//! whose real, learned units are the "neurons in the wild" maia is evaluated on (next to
//! the synthetic units, whose ground truth is known by construction). Its sibling the world
//! ViT ([`WorldVitConfig`], module `vit`) is a small vision transformer trained the same
//! way on the same scenes and labels, exported with token layers `block1` … whose units
//! are channels over an 8×8 patch grid; everything below holds for both, through
//! [`WorldModelConfig`].
//!
//! - **Data** ([`data`]): scenes of the world's seeded dataset, rendered in memory at
//!   224×224 and area-resized to [`WorldCnnConfig::input_size`] (64 by default). Training
//!   and held-out scenes come from two distinct world seeds derived from the config seed.
//! - **Labels**: the shape (9 classes) and color (12 classes) of each scene's dominant
//!   object, the one covering the most visible pixels ([`dominant_object`]).
//! - **Network**: four conv3×3–batch-norm–ReLU blocks (16/32/64/128 channels by default,
//!   2×2 max-pool after the first three), global average and max pooling concatenated,
//!   two linear heads. (Average pooling alone learns the shape head far more slowly: the
//!   heads must tell the largest object from up to five distractors.)
//! - **Training**: Adam with a one-cycle schedule and random left-right mirroring,
//!   deterministic from the seed. The default config trains in about three minutes on two
//!   CPU cores (18 000 scenes, 12 epochs) and reaches about 90% shape and 96% color
//!   accuracy on 2 000 held-out scenes.
//! - **Export**: a traced TorchScript module whose `forward` takes the normalised
//!   `[N, 3, S, S]` batch and returns `conv1, conv2, conv3, conv4, shape_logits,
//!   color_logits` packed into one `[N, packed_width]` tensor (a traced method can only
//!   return one tensor), plus a JSON [`Sidecar`] (`<model>.json`) naming the outputs and
//!   their places in the packed tensor, and recording preprocessing, classes, the config
//!   and held-out accuracy. [`Sidecar::preprocess`] and [`Sidecar::unpack`] do both ends.
//! - **Cache** ([`train_or_load`]): keyed by [`WorldCnnConfig::cache_key`], so set-up
//!   trains once; a damaged or half-written cache entry is detected and retrained.
//!
//! ```no_run
//! use maia_core::world_cnn::{WorldCnnConfig, train_or_load};
//!
//! let cnn = train_or_load(std::path::Path::new("cache"), &WorldCnnConfig::default())?;
//! println!("{}: shape {:.1}%", cnn.model_path.display(), 100.0 * cnn.accuracies.shape);
//! let module = cnn.load_module()?;
//! # Ok::<(), maia_core::world_cnn::WorldCnnError>(())
//! ```

mod config;
pub mod data;
mod error;
mod export;
mod model_config;
mod net;
pub mod planted;
pub mod planted_dataset;
mod progress_log;
pub mod sidecar;
mod train;
mod vit;
mod vit_config;

use std::path::{Path, PathBuf};

pub use config::{CODE_VERSION, Disentangle, Pretrain, WorldCnnConfig};
pub use data::{SOURCE_SIDE, color_class, dominant_object, shape_class};
pub use error::WorldCnnError;
pub use model_config::WorldModelConfig;
pub use net::{LAYER_NAMES, OUTPUT_NAMES};
pub use progress_log::ProgressLog;
pub use sidecar::{
    Accuracies, InputSpec, OutputKind, OutputSpec, SIDECAR_FORMAT, SIDECAR_VERSION, Sidecar,
    TrainingRecord,
};
pub use train::TrainProgress;
pub use vit_config::{VIT_CODE_VERSION, WorldVitConfig};

/// A world network (CNN or ViT) on disk, ready to load.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainedWorldModel {
    /// The TorchScript module.
    pub model_path: PathBuf,
    /// Its sidecar (`model_path` + `.json`).
    pub sidecar_path: PathBuf,
    /// The sidecar's content.
    pub sidecar: Sidecar,
    /// Held-out accuracy (same as `sidecar.heldout`).
    pub accuracies: Accuracies,
    /// True when this call trained the model; false when it came from the cache.
    pub trained: bool,
    /// Why an existing cache entry could not be used and was replaced, if one was.
    pub replaced: Option<String>,
}

impl TrainedWorldModel {
    /// Loads the TorchScript module on the CPU, in eval mode.
    pub fn load_module(&self) -> Result<tch::CModule, WorldCnnError> {
        let mut module = tch::CModule::load(&self.model_path)
            .map_err(WorldCnnError::torch("loading the world model"))?;
        module.set_eval();
        Ok(module)
    }
}

/// The model file a config is cached under in `cache_dir`.
pub fn cached_model_path(cache_dir: &Path, config: impl Into<WorldModelConfig>) -> PathBuf {
    let config = config.into();
    cache_dir.join(format!("{}-{}.pt", config.kind(), config.cache_key()))
}

/// Returns the cached model for `config` in `cache_dir`, training and caching it first if
/// it is missing or unusable. See [`train_or_load_with`].
pub fn train_or_load(
    cache_dir: &Path,
    config: impl Into<WorldModelConfig>,
) -> Result<TrainedWorldModel, WorldCnnError> {
    train_or_load_with(cache_dir, config, &mut |_| {})
}

/// [`train_or_load`] reporting training progress (nothing is reported on a cache hit).
///
/// A cache hit reads the sidecar and hashes the model file (milliseconds); it does not
/// load libtorch state. An entry whose sidecar is missing, unreadable, of another format
/// version, for another config, or whose model file is missing or has another hash is
/// retrained and overwritten; the reason is in [`TrainedWorldModel::replaced`]. Training holds an
/// exclusive lock on `<model>.lock`, so concurrent callers train once between them.
pub fn train_or_load_with(
    cache_dir: &Path,
    config: impl Into<WorldModelConfig>,
    progress: &mut dyn FnMut(&TrainProgress),
) -> Result<TrainedWorldModel, WorldCnnError> {
    let config = &config.into();
    config.validate()?;
    // Fail on an unwritable cache before minutes of training, not after.
    std::fs::create_dir_all(cache_dir).map_err(WorldCnnError::io("create directory", cache_dir))?;
    let model_path = cached_model_path(cache_dir, config);
    if let Lookup::Hit(cnn) = lookup(&model_path, config) {
        return Ok(*cnn);
    }
    // Two processes that both need the model (a batch of local workers, two terminals)
    // train it once: the second waits for the first and then finds it cached.
    let lock_path = model_path.with_extension("lock");
    let lock = std::fs::File::create(&lock_path)
        .map_err(WorldCnnError::io("create lock file", &lock_path))?;
    lock.lock().map_err(WorldCnnError::io("lock", &lock_path))?;
    let replaced = match lookup(&model_path, config) {
        Lookup::Hit(cnn) => return Ok(*cnn),
        Lookup::Missing => None,
        Lookup::Unusable(reason) => Some(reason),
    };
    let mut cnn = train_to(&model_path, config, progress)?;
    cnn.replaced = replaced;
    Ok(cnn)
}

/// The cached model for `config`, if `cache_dir` holds a usable one; never trains.
pub fn cached(cache_dir: &Path, config: impl Into<WorldModelConfig>) -> Option<TrainedWorldModel> {
    let config = &config.into();
    match lookup(&cached_model_path(cache_dir, config), config) {
        Lookup::Hit(cnn) => Some(*cnn),
        Lookup::Missing | Lookup::Unusable(_) => None,
    }
}

/// Trains a model for `config` and writes it to `model_path` (plus the sidecar), whatever
/// is there already.
pub fn train_to(
    model_path: &Path,
    config: impl Into<WorldModelConfig>,
    progress: &mut dyn FnMut(&TrainProgress),
) -> Result<TrainedWorldModel, WorldCnnError> {
    let config = &config.into();
    let mut trained = train::train(config, progress)?;
    progress(&TrainProgress::Exporting);
    let sidecar = export::write_model(&mut trained, config, model_path)?;
    Ok(TrainedWorldModel {
        model_path: model_path.to_path_buf(),
        sidecar_path: Sidecar::path_for(model_path),
        accuracies: sidecar.heldout,
        sidecar,
        trained: true,
        replaced: None,
    })
}

enum Lookup {
    Hit(Box<TrainedWorldModel>),
    Missing,
    Unusable(String),
}

fn lookup(model_path: &Path, config: &WorldModelConfig) -> Lookup {
    let sidecar_path = Sidecar::path_for(model_path);
    if !sidecar_path.exists() {
        return Lookup::Missing;
    }
    let sidecar = match Sidecar::read(&sidecar_path) {
        Ok(sidecar) => sidecar,
        Err(e) => return Lookup::Unusable(e.to_string()),
    };
    if sidecar.training.config != *config || sidecar.training.cache_key != config.cache_key() {
        return Lookup::Unusable(format!(
            "{} records another config (cache key {})",
            sidecar_path.display(),
            sidecar.training.cache_key
        ));
    }
    let expected_file = model_path.file_name().and_then(|n| n.to_str());
    if expected_file != Some(sidecar.model_file.as_str()) {
        return Lookup::Unusable(format!(
            "{} names model file {:?}",
            sidecar_path.display(),
            sidecar.model_file
        ));
    }
    if let Err(e) = sidecar.verify_model(model_path) {
        return Lookup::Unusable(e.to_string());
    }
    Lookup::Hit(Box::new(TrainedWorldModel {
        model_path: model_path.to_path_buf(),
        sidecar_path,
        accuracies: sidecar.heldout,
        sidecar,
        trained: false,
        replaced: None,
    }))
}
