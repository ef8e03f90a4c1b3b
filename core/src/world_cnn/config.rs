//! What to train: the knobs of the world CNN and the cache key derived from them.

use serde::{Deserialize, Serialize};

use super::WorldCnnError;
use super::model_config::{Optimiser, TrainingPlan};

/// Bumped whenever a code change alters what a given config trains (data, labels,
/// architecture, optimiser, export), so that caches written by older code are not reused.
pub const CODE_VERSION: u32 = 1;

/// The configuration of one world CNN. Every field takes part in the cache key, so two
/// configs that differ anywhere train (and cache) separately.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorldCnnConfig {
    /// Seeds everything: weight initialisation, the order batches are drawn in, and the
    /// shapes-world seeds of the training and held-out scenes (derived from it, distinct).
    pub seed: u64,
    /// Side of the square input the network sees, in pixels. Scenes are rendered at the
    /// world's 224×224 and area-resized to this size, as any other image is at inference.
    pub input_size: u32,
    /// Output channels of the four conv blocks.
    pub channels: [i64; 4],
    /// Keep only scenes whose dominant object covers at least this many times the visible
    /// area of the runner-up (1.0 keeps every scene). Scenes with two near-equal largest
    /// objects have no clear answer; skipping them makes the labels clean.
    pub min_dominance: f32,
    /// Number of training scenes.
    pub train_images: usize,
    /// Number of held-out scenes (another world seed) the accuracies are measured on.
    pub heldout_images: usize,
    /// Passes over the training scenes.
    pub epochs: usize,
    /// Scenes per optimiser step.
    pub batch_size: usize,
    /// Peak Adam learning rate (one-cycle: linear warm-up, then cosine decay to zero).
    pub learning_rate: f64,
    /// Adam weight decay (L2).
    pub weight_decay: f64,
    /// Train a classifier with a planted flaw on planted-flaw scenes instead of the
    /// world's ([`super::planted`]); absent for the world CNN (and from its cache key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planted: Option<super::planted::PlantedFlaw>,
    /// Pretrain on the world's own scenes first, then fine-tune on the training scenes
    /// (the planted presets: a backbone that already sees shapes, fine-tuned on biased data,
    /// as the paper's ImageNet-pretrained ResNet is); absent for the world CNN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrain: Option<Pretrain>,
}

/// The pretraining phase of a [`WorldCnnConfig`]: world scenes (another world seed), with
/// the same one-cycle schedule at its own peak learning rate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pretrain {
    /// Number of world scenes.
    pub images: usize,
    /// Passes over them.
    pub epochs: usize,
    /// Peak Adam learning rate of the phase.
    pub learning_rate: f64,
    /// Then train only the heads, on the frozen backbone (its batch-norm statistics
    /// included): a linear probe on pretrained features.
    pub head_only: bool,
    /// Pretrain the last layer's units in two kinds: most that the background colour does
    /// not move, and a few that read it (absent: no such split).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disentangle: Option<Disentangle>,
}

/// A planted split of the last layer's units, made in pretraining: the last
/// `background_units` channels feed a background-colour probe (a linear read-out used only
/// in pretraining), and every other channel is trained to keep its pooled response when
/// the same scene is shown on another background colour. A classifier fitted on top can
/// then take the background as a shortcut through the background units, while the object
/// units carry the shapes and nothing of the background: the planted truth of which units
/// a spurious-feature removal should keep.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Disentangle {
    /// The last layer's channels that read the background colour (its last ones).
    pub background_units: i64,
    /// Weight of the invariance term: the object units' pooled responses to a scene and
    /// to the same scene on another background should agree (squared difference, in units
    /// of each response's variance over the batch).
    pub invariance: f64,
}

impl Default for WorldCnnConfig {
    /// The model maia trains on first use: about three minutes on two CPU cores, for
    /// roughly 90% held-out shape and 97% color accuracy.
    fn default() -> Self {
        WorldCnnConfig {
            seed: 1,
            input_size: 64,
            channels: [16, 32, 64, 128],
            min_dominance: 1.5,
            train_images: 18_000,
            heldout_images: 2_000,
            epochs: 12,
            batch_size: 64,
            learning_rate: 1e-2,
            weight_decay: 1e-4,
            planted: None,
            pretrain: None,
        }
    }
}

impl WorldCnnConfig {
    /// The classifier of a planted-flaw preset ([`super::planted`]), on the world CNN's
    /// architecture. The spurious preset is pretrained as the world CNN is (18 000 world
    /// scenes, 12 epochs), with conv4 split into 96 object units and 32 background units
    /// ([`Disentangle`]), then only its heads are fitted on 8 000 planted scenes for 3
    /// epochs, as a classifier is fitted on a pretrained backbone; the bias preset is
    /// trained from scratch on 8 000 planted scenes for 8 epochs, so its subgroup failure
    /// is learned in every layer.
    pub fn planted(flaw: super::planted::PlantedFlaw, seed: u64) -> WorldCnnConfig {
        let base = WorldCnnConfig {
            seed,
            train_images: 8_000,
            heldout_images: 2_000,
            epochs: 8,
            planted: Some(flaw),
            ..WorldCnnConfig::default()
        };
        match flaw {
            super::planted::PlantedFlaw::Spurious => WorldCnnConfig {
                epochs: 3,
                learning_rate: 1e-3,
                pretrain: Some(Pretrain {
                    images: 18_000,
                    epochs: 12,
                    learning_rate: 1e-2,
                    head_only: true,
                    disentangle: Some(Disentangle {
                        background_units: 32,
                        invariance: 0.5,
                    }),
                }),
                ..base
            },
            super::planted::PlantedFlaw::Bias => base,
        }
    }

    /// The last layer's units pretrained to ignore the background (all but the
    /// [`Disentangle`] split's background units), or `None` without a split: the planted
    /// truth of which units a spurious-feature removal should keep.
    pub fn planted_object_units(&self) -> Option<Vec<usize>> {
        let split = self.pretrain?.disentangle?;
        let objects = (self.channels[3] - split.background_units).max(0) as usize;
        Some((0..objects).collect())
    }

    /// The [`Disentangle`] split in words (for the trainer's report and the sidecar
    /// reader; never for the agent), or `None` without one.
    pub fn planted_units_text(&self) -> Option<String> {
        let split = self.pretrain?.disentangle?;
        let objects = self.channels[3] - split.background_units;
        Some(format!(
            "conv4 units 0-{} were pretrained to keep their response when the background colour changes (object units), units {objects}-{} to read the background colour",
            objects - 1,
            self.channels[3] - 1
        ))
    }

    /// A config that trains in seconds, for tests: a few hundred scenes, one epoch.
    /// Its accuracy is poor; it exists to exercise the pipeline.
    pub fn tiny(seed: u64) -> WorldCnnConfig {
        WorldCnnConfig {
            seed,
            input_size: 32,
            channels: [8, 8, 16, 16],
            train_images: 256,
            heldout_images: 64,
            epochs: 1,
            batch_size: 32,
            ..WorldCnnConfig::default()
        }
    }

    /// Checks every field is in a range that can train.
    pub fn validate(&self) -> Result<(), WorldCnnError> {
        let bad = |field: &'static str, value: String, hint: &'static str| {
            Err(WorldCnnError::Config { field, value, hint })
        };
        if !(16..=224).contains(&self.input_size) || !self.input_size.is_multiple_of(8) {
            return bad(
                "input_size",
                self.input_size.to_string(),
                "use a multiple of 8 in 16..=224 (three 2x poolings follow the first block)",
            );
        }
        if self.channels.iter().any(|&c| !(1..=1024).contains(&c)) {
            return bad(
                "channels",
                format!("{:?}", self.channels),
                "every block needs 1..=1024 channels",
            );
        }
        if let Some(split) = self.pretrain.and_then(|p| p.disentangle) {
            if !(1..self.channels[3]).contains(&split.background_units) {
                return bad(
                    "pretrain.disentangle.background_units",
                    split.background_units.to_string(),
                    "use 1..channels[3]: some of the last block's channels, not all",
                );
            }
            if !(split.invariance.is_finite() && (0.0..=100.0).contains(&split.invariance)) {
                return bad(
                    "pretrain.disentangle.invariance",
                    split.invariance.to_string(),
                    "use a weight in 0..=100, for example 2",
                );
            }
        }
        self.plan().validate()
    }

    /// The training knobs, as the shared trainer reads them (Adam with L2 decay).
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
            optimiser: Optimiser::Adam,
            train_world_seed: self.train_world_seed(),
            heldout_world_seed: self.heldout_world_seed(),
            planted: self.planted,
            pretrain: self.pretrain.map(|p| (p, self.pretrain_world_seed())),
        }
    }

    /// The cache key: 16 hex digits of BLAKE3 over [`CODE_VERSION`] and the config as JSON.
    /// A planted-flaw classifier's key also covers [`super::planted::SCENES_VERSION`], so
    /// a change to its scenes retrains it without retraining the world CNN.
    pub fn cache_key(&self) -> String {
        match self.planted {
            Some(_) => config_key(
                b"maia-world-cnn-planted\0",
                CODE_VERSION * 1000 + super::planted::SCENES_VERSION,
                self,
            ),
            None => config_key(b"maia-world-cnn\0", CODE_VERSION, self),
        }
    }

    /// The shapes-world seed of the training scenes.
    pub fn train_world_seed(&self) -> u64 {
        derive_seed(self.seed, 1)
    }

    /// The shapes-world seed of the pretraining scenes (distinct from the others).
    pub fn pretrain_world_seed(&self) -> u64 {
        derive_seed(self.seed, 3)
    }

    /// The shapes-world seed of the held-out scenes (distinct from the training one).
    pub fn heldout_world_seed(&self) -> u64 {
        derive_seed(self.seed, 2)
    }
}

/// The cache key of any world model config: 16 hex digits of BLAKE3 over a tag naming the
/// architecture, its code version and the config as JSON.
pub(crate) fn config_key(tag: &[u8], code_version: u32, config: &impl Serialize) -> String {
    let json = serde_json::to_string(config).unwrap_or_default();
    let mut hasher = blake3::Hasher::new();
    hasher.update(tag);
    hasher.update(&code_version.to_le_bytes());
    hasher.update(json.as_bytes());
    hasher.finalize().to_hex()[..16].to_string()
}

/// SplitMix64 finaliser over `seed` and a stream number: well-mixed, stable forever.
pub(crate) fn derive_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_key_changes_with_every_field() {
        let base = WorldCnnConfig::default();
        let key = base.cache_key();
        assert_eq!(key.len(), 16);
        assert_eq!(key, WorldCnnConfig::default().cache_key());
        let variants = [
            WorldCnnConfig {
                seed: 2,
                ..base.clone()
            },
            WorldCnnConfig {
                input_size: 96,
                ..base.clone()
            },
            WorldCnnConfig {
                channels: [16, 32, 64, 64],
                ..base.clone()
            },
            WorldCnnConfig {
                min_dominance: 1.0,
                ..base.clone()
            },
            WorldCnnConfig {
                train_images: 1,
                ..base.clone()
            },
            WorldCnnConfig {
                heldout_images: 1,
                ..base.clone()
            },
            WorldCnnConfig {
                epochs: 1,
                ..base.clone()
            },
            WorldCnnConfig {
                batch_size: 2,
                ..base.clone()
            },
            WorldCnnConfig {
                learning_rate: 1e-3,
                ..base.clone()
            },
            WorldCnnConfig {
                weight_decay: 0.0,
                ..base.clone()
            },
            WorldCnnConfig {
                pretrain: Some(Pretrain {
                    images: 64,
                    epochs: 1,
                    learning_rate: 1e-2,
                    head_only: true,
                    disentangle: None,
                }),
                ..base.clone()
            },
        ];
        for variant in variants {
            assert_ne!(variant.cache_key(), key, "{variant:?}");
        }
    }

    #[test]
    fn validation_names_the_field() {
        let config = WorldCnnConfig {
            input_size: 30,
            ..WorldCnnConfig::default()
        };
        let message = config
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(message.contains("input_size = 30"), "{message}");
        assert!(WorldCnnConfig::default().validate().is_ok());
        assert!(WorldCnnConfig::tiny(3).validate().is_ok());
        let config = WorldCnnConfig {
            batch_size: 1,
            ..WorldCnnConfig::default()
        };
        assert!(config.validate().is_err());
    }

    #[test]
    fn world_seeds_are_distinct() {
        let config = WorldCnnConfig::default();
        assert_ne!(config.train_world_seed(), config.heldout_world_seed());
        assert_ne!(config.train_world_seed(), config.seed);
    }
}
