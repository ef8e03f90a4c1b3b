//! Which world network to train: the CNN or the ViT, with its knobs. Training, the cache
//! and the sidecar's `training.config` all go through [`WorldModelConfig`].

use serde::{Deserialize, Serialize};
use tch::nn;

use super::WorldCnnError;
use super::config::WorldCnnConfig;
use super::net::{Net, WorldNet};
use super::vit::Vit;
use super::vit_config::WorldVitConfig;
use maia_shapes_world::{Color, Shape};

/// A world network's configuration, whichever the architecture. In a sidecar it is the
/// bare config object (the ViT's has `patch`, `width` and `depth`; the CNN's `channels`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WorldModelConfig {
    /// The world CNN (`world-cnn`).
    Cnn(WorldCnnConfig),
    /// The world ViT (`world-vit`).
    Vit(WorldVitConfig),
}

impl From<WorldCnnConfig> for WorldModelConfig {
    fn from(config: WorldCnnConfig) -> Self {
        WorldModelConfig::Cnn(config)
    }
}

impl From<&WorldCnnConfig> for WorldModelConfig {
    fn from(config: &WorldCnnConfig) -> Self {
        WorldModelConfig::Cnn(config.clone())
    }
}

impl From<&WorldModelConfig> for WorldModelConfig {
    fn from(config: &WorldModelConfig) -> Self {
        config.clone()
    }
}

impl From<WorldVitConfig> for WorldModelConfig {
    fn from(config: WorldVitConfig) -> Self {
        WorldModelConfig::Vit(config)
    }
}

impl From<&WorldVitConfig> for WorldModelConfig {
    fn from(config: &WorldVitConfig) -> Self {
        WorldModelConfig::Vit(config.clone())
    }
}

/// Which optimiser a network trains with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Optimiser {
    /// Adam with L2 weight decay (the CNN).
    Adam,
    /// AdamW, decoupled weight decay, gradients clipped to norm 1 (the ViT).
    AdamW,
}

/// The training knobs every architecture shares.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TrainingPlan {
    pub seed: u64,
    pub input_size: u32,
    pub min_dominance: f32,
    pub train_images: usize,
    pub heldout_images: usize,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub optimiser: Optimiser,
    pub train_world_seed: u64,
    pub heldout_world_seed: u64,
    /// Planted-flaw scenes instead of the world's ([`super::planted`]).
    pub planted: Option<super::planted::PlantedFlaw>,
    /// A pretraining phase on world scenes of the given world seed, before the training.
    pub pretrain: Option<(super::config::Pretrain, u64)>,
}

impl TrainingPlan {
    /// Checks the shared training knobs are in a range that can train, naming the field.
    pub(crate) fn validate(&self) -> Result<(), WorldCnnError> {
        let bad = |field: &'static str, value: String, hint: &'static str| {
            Err(WorldCnnError::Config { field, value, hint })
        };
        if !(self.min_dominance.is_finite() && (1.0..=10.0).contains(&self.min_dominance)) {
            return bad(
                "min_dominance",
                self.min_dominance.to_string(),
                "use a ratio in 1.0..=10.0 (1.0 keeps every scene)",
            );
        }
        if self.train_images == 0 || self.train_images > 1_000_000 {
            return bad(
                "train_images",
                self.train_images.to_string(),
                "use 1..=1000000 scenes",
            );
        }
        if self.heldout_images == 0 || self.heldout_images > 1_000_000 {
            return bad(
                "heldout_images",
                self.heldout_images.to_string(),
                "use 1..=1000000 scenes",
            );
        }
        if self.batch_size < 2 || self.batch_size > 4096 {
            return bad(
                "batch_size",
                self.batch_size.to_string(),
                "use 2..=4096 (batch norm needs at least two scenes per batch)",
            );
        }
        if self.train_images < self.batch_size {
            return bad(
                "train_images",
                self.train_images.to_string(),
                "use at least batch_size scenes (every step needs a full batch)",
            );
        }
        if self.epochs == 0 || self.epochs > 1000 {
            return bad("epochs", self.epochs.to_string(), "use 1..=1000 epochs");
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0 && self.learning_rate < 1.0)
        {
            return bad(
                "learning_rate",
                self.learning_rate.to_string(),
                "use a value in (0, 1), for example 1e-3",
            );
        }
        if let Some((pretrain, _)) = self.pretrain {
            if pretrain.images < self.batch_size || pretrain.images > 1_000_000 {
                return bad(
                    "pretrain.images",
                    pretrain.images.to_string(),
                    "use batch_size..=1000000 scenes",
                );
            }
            if pretrain.epochs == 0 || pretrain.epochs > 1000 {
                return bad(
                    "pretrain.epochs",
                    pretrain.epochs.to_string(),
                    "use 1..=1000 epochs",
                );
            }
            if !(pretrain.learning_rate.is_finite()
                && pretrain.learning_rate > 0.0
                && pretrain.learning_rate < 1.0)
            {
                return bad(
                    "pretrain.learning_rate",
                    pretrain.learning_rate.to_string(),
                    "use a value in (0, 1), for example 1e-2",
                );
            }
        }
        if !(self.weight_decay.is_finite() && (0.0..1.0).contains(&self.weight_decay)) {
            return bad(
                "weight_decay",
                self.weight_decay.to_string(),
                "use a value in [0, 1), for example 1e-4",
            );
        }
        Ok(())
    }
}

impl WorldModelConfig {
    /// The target name and cache file prefix: `world-cnn` or `world-vit`.
    pub fn kind(&self) -> &'static str {
        match self {
            WorldModelConfig::Cnn(_) => "world-cnn",
            WorldModelConfig::Vit(_) => "world-vit",
        }
    }

    /// The network in words, for progress and messages: `world CNN` or `world ViT`.
    pub fn label(&self) -> &'static str {
        match self {
            WorldModelConfig::Cnn(c) if c.planted.is_some() => "planted-flaw classifier",
            WorldModelConfig::Cnn(_) => "world CNN",
            WorldModelConfig::Vit(_) => "world ViT",
        }
    }

    /// Checks every field is in a range that can train.
    pub fn validate(&self) -> Result<(), WorldCnnError> {
        match self {
            WorldModelConfig::Cnn(c) => c.validate(),
            WorldModelConfig::Vit(c) => c.validate(),
        }
    }

    /// The cache key (16 hex digits; see each config's `cache_key`).
    pub fn cache_key(&self) -> String {
        match self {
            WorldModelConfig::Cnn(c) => c.cache_key(),
            WorldModelConfig::Vit(c) => c.cache_key(),
        }
    }

    /// The code version models of this architecture are trained with.
    pub fn code_version(&self) -> u32 {
        match self {
            WorldModelConfig::Cnn(_) => super::config::CODE_VERSION,
            WorldModelConfig::Vit(_) => super::vit_config::VIT_CODE_VERSION,
        }
    }

    /// Side of the square input, in pixels.
    pub fn input_size(&self) -> u32 {
        match self {
            WorldModelConfig::Cnn(c) => c.input_size,
            WorldModelConfig::Vit(c) => c.input_size,
        }
    }

    pub(crate) fn plan(&self) -> TrainingPlan {
        match self {
            WorldModelConfig::Cnn(c) => c.plan(),
            WorldModelConfig::Vit(c) => c.plan(),
        }
    }

    /// Creates the network's parameters under `root`.
    pub(crate) fn build(&self, root: &nn::Path) -> Box<dyn WorldNet> {
        let shapes = Shape::ALL.len() as i64;
        let colors = Color::ALL.len() as i64;
        match self {
            WorldModelConfig::Cnn(c) => Box::new(Net::new(root, c.channels, shapes, colors)),
            WorldModelConfig::Vit(c) => Box::new(Vit::new(root, c, shapes, colors)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sidecar_config_reads_back_as_its_own_architecture() {
        for config in [
            WorldModelConfig::from(WorldCnnConfig::default()),
            WorldModelConfig::from(WorldVitConfig::tiny(4)),
        ] {
            let json = serde_json::to_string(&config).unwrap_or_default();
            let back: Option<WorldModelConfig> = serde_json::from_str(&json).ok();
            assert_eq!(back.as_ref(), Some(&config), "{json}");
        }
        // The CNN's config is written bare, as before the ViT existed: old caches stay valid.
        let cnn = WorldCnnConfig::default();
        assert_eq!(
            serde_json::to_value(WorldModelConfig::from(&cnn)).ok(),
            serde_json::to_value(&cnn).ok()
        );
        assert_eq!(WorldModelConfig::from(&cnn).cache_key(), cnn.cache_key());
    }
}
