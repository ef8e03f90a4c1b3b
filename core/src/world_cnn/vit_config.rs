//! What to train for the world ViT: its knobs and the cache key derived from them.

use serde::{Deserialize, Serialize};

use super::WorldCnnError;
use super::config::{config_key, derive_seed};
use super::model_config::{Optimiser, TrainingPlan};

/// Bumped whenever a code change alters what a given ViT config trains (architecture,
/// optimiser, export), so that caches written by older code are not reused.
pub const VIT_CODE_VERSION: u32 = 1;

/// The configuration of one world ViT: a small vision transformer trained on the same
/// scenes and labels as the world CNN. Every field takes part in the cache key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldVitConfig {
    /// Seeds weight initialisation, batch order and (derived, distinct) the shapes-world
    /// seeds of the training and held-out scenes — the same scenes a world CNN of this
    /// seed trains on.
    pub seed: u64,
    /// Side of the square input, in pixels (scenes are area-resized from 224).
    pub input_size: u32,
    /// Side of a square patch; the token grid is `input_size / patch` on each side.
    pub patch: u32,
    /// Channels of every token (the units of each block).
    pub width: i64,
    /// Transformer blocks (each one an exported layer, `block1` …).
    pub depth: usize,
    /// Attention heads per block (`width` must divide evenly).
    pub heads: i64,
    /// Hidden width of each block's MLP, as a multiple of `width`.
    pub mlp_ratio: i64,
    /// Keep only scenes whose dominant object covers at least this many times the visible
    /// area of the runner-up (1.0 keeps every scene).
    pub min_dominance: f32,
    /// Number of training scenes.
    pub train_images: usize,
    /// Number of held-out scenes the accuracies are measured on.
    pub heldout_images: usize,
    /// Passes over the training scenes.
    pub epochs: usize,
    /// Scenes per optimiser step.
    pub batch_size: usize,
    /// Peak AdamW learning rate (one-cycle: linear warm-up, then cosine decay to zero).
    pub learning_rate: f64,
    /// AdamW weight decay (decoupled).
    pub weight_decay: f64,
}

impl Default for WorldVitConfig {
    /// The ViT maia trains on first use of `world-vit`: 64×64 inputs in an 8×8 grid of
    /// 8-pixel patches, four blocks of 96 channels. About nine minutes on two CPU cores;
    /// about 52% held-out shape and 96% color accuracy (the CNN: 90% and 96%).
    fn default() -> Self {
        WorldVitConfig {
            seed: 1,
            input_size: 64,
            patch: 8,
            width: 96,
            depth: 4,
            heads: 4,
            mlp_ratio: 2,
            min_dominance: 1.5,
            train_images: 18_000,
            heldout_images: 2_000,
            epochs: 12,
            batch_size: 64,
            learning_rate: 2e-3,
            weight_decay: 0.05,
        }
    }
}

impl WorldVitConfig {
    /// A config that trains in seconds, for tests: a 4×4 grid, two blocks of 16 channels,
    /// a few hundred scenes, one epoch. Its accuracy is poor; it exercises the pipeline.
    pub fn tiny(seed: u64) -> WorldVitConfig {
        WorldVitConfig {
            seed,
            input_size: 32,
            width: 16,
            depth: 2,
            heads: 2,
            train_images: 256,
            heldout_images: 64,
            epochs: 1,
            batch_size: 32,
            ..WorldVitConfig::default()
        }
    }

    /// Patch rows (and columns) of the token grid.
    pub fn grid(&self) -> u32 {
        self.input_size / self.patch.max(1)
    }

    /// Checks every field is in a range that can train.
    pub fn validate(&self) -> Result<(), WorldCnnError> {
        let bad = |field: &'static str, value: String, hint: &'static str| {
            Err(WorldCnnError::Config { field, value, hint })
        };
        if !(16..=224).contains(&self.input_size) {
            return bad(
                "input_size",
                self.input_size.to_string(),
                "use 16..=224 pixels",
            );
        }
        if !(2..=32).contains(&self.patch) || !self.input_size.is_multiple_of(self.patch) {
            return bad(
                "patch",
                self.patch.to_string(),
                "use 2..=32 pixels, dividing input_size evenly",
            );
        }
        if self.grid() < 2 || self.grid() > 32 {
            return bad(
                "patch",
                self.patch.to_string(),
                "the grid input_size / patch must be 2..=32 patches on a side",
            );
        }
        if !(1..=64).contains(&self.heads) {
            return bad("heads", self.heads.to_string(), "use 1..=64 heads");
        }
        if !(4..=2048).contains(&self.width) || self.width % self.heads != 0 {
            return bad(
                "width",
                self.width.to_string(),
                "use 4..=2048 channels, a multiple of heads",
            );
        }
        if !(1..=24).contains(&self.depth) {
            return bad("depth", self.depth.to_string(), "use 1..=24 blocks");
        }
        if !(1..=8).contains(&self.mlp_ratio) {
            return bad("mlp_ratio", self.mlp_ratio.to_string(), "use 1..=8");
        }
        self.plan().validate()
    }

    /// The training knobs, as the shared trainer reads them (AdamW, clipped gradients).
    pub(crate) fn plan(&self) -> TrainingPlan {
        TrainingPlan {
            seed: self.seed,
            input_size: self.input_size,
            min_dominance: self.min_dominance,
            train_images: self.train_images,
            heldout_images: self.heldout_images,
            epochs: self.epochs,
            batch_size: self.batch_size,
            learning_rate: self.learning_rate,
            weight_decay: self.weight_decay,
            optimiser: Optimiser::AdamW,
            train_world_seed: self.train_world_seed(),
            heldout_world_seed: self.heldout_world_seed(),
            planted: None,
            pretrain: None,
        }
    }

    /// The cache key: 16 hex digits of BLAKE3 over [`VIT_CODE_VERSION`] and the config.
    pub fn cache_key(&self) -> String {
        config_key(b"maia-world-vit\0", VIT_CODE_VERSION, self)
    }

    /// The shapes-world seed of the training scenes (as a world CNN of the same seed).
    pub fn train_world_seed(&self) -> u64 {
        derive_seed(self.seed, 1)
    }

    /// The shapes-world seed of the held-out scenes.
    pub fn heldout_world_seed(&self) -> u64 {
        derive_seed(self.seed, 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world_cnn::WorldCnnConfig;

    #[test]
    fn defaults_validate_and_keys_differ_by_field() {
        let base = WorldVitConfig::default();
        assert!(base.validate().is_ok());
        assert!(WorldVitConfig::tiny(2).validate().is_ok());
        assert_eq!(base.grid(), 8);
        let key = base.cache_key();
        for variant in [
            WorldVitConfig {
                patch: 16,
                ..base.clone()
            },
            WorldVitConfig {
                depth: 3,
                ..base.clone()
            },
            WorldVitConfig {
                seed: 9,
                ..base.clone()
            },
        ] {
            assert_ne!(variant.cache_key(), key);
        }
        let cnn = WorldCnnConfig::default();
        assert_eq!(base.train_world_seed(), cnn.train_world_seed());
    }

    #[test]
    fn validation_names_the_field() {
        let message = |config: WorldVitConfig| {
            config
                .validate()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        let base = WorldVitConfig::default();
        assert!(
            message(WorldVitConfig {
                patch: 7,
                ..base.clone()
            })
            .contains("patch = 7")
        );
        assert!(
            message(WorldVitConfig {
                width: 90,
                heads: 4,
                ..base.clone()
            })
            .contains("width = 90")
        );
        assert!(message(WorldVitConfig { depth: 0, ..base }).contains("depth = 0"));
    }
}
