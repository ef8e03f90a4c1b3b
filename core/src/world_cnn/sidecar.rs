//! The sidecar: `<model>.json` next to the TorchScript file, saying how to feed the model
//! and how to read what it returns.
//!
//! A TorchScript method returns a single value, and tch's tracer can only return tensors
//! (it cannot build a tuple or dict), so the module's `forward` returns **one packed
//! tensor** `[N, packed_width]`: every output flattened per image (C order) and
//! concatenated in `outputs` order. Output `o` of image `i` is
//! `packed[i, o.offset : o.offset + o.numel].reshape(o.shape)`;
//! [`Sidecar::unpack`] does this. Example (default config, abridged):
//!
//! ```json
//! {
//!   "format": "maia-world-cnn",
//!   "format_version": 1,
//!   "model_file": "world-cnn-3f9c0d6e1a2b4c5d.pt",
//!   "model_blake3": "5d41…",
//!   "method": "forward",
//!   "input": {
//!     "layout": "NCHW", "dtype": "float32", "color": "RGB", "channels": 3,
//!     "size": 64, "source_size": 224, "resize": "area", "scale": 0.00392156862745098,
//!     "mean": [0.52, 0.49, 0.45], "std": [0.3, 0.29, 0.31]
//!   },
//!   "packed_width": 122901,
//!   "outputs": [
//!     {"name": "conv1", "kind": "feature_map", "shape": [16, 64, 64], "units": 16,
//!      "offset": 0, "numel": 65536,
//!      "description": "block 1: conv3x3-batchnorm-ReLU output, before its 2x2 max-pool"},
//!     …,
//!     {"name": "shape_logits", "kind": "logits", "shape": [9], "units": 9,
//!      "offset": 122880, "numel": 9, "classes": ["circle", "square", …], "description": "…"},
//!     {"name": "color_logits", "kind": "logits", "shape": [12], "units": 12,
//!      "offset": 122889, "numel": 12, "classes": ["red", "green", …], "description": "…"}
//!   ],
//!   "labels": "shape and color of the dominant object: …",
//!   "training": {"cache_key": "3f9c0d6e1a2b4c5d", "code_version": 1, "config": {…},
//!                "train_world_seed": …, "heldout_world_seed": …, "seconds": 150.2,
//!                "torch_threads": 2, "final_loss": 0.31},
//!   "heldout": {"images": 2000, "shape": 0.9, "color": 0.97, "both": 0.88}
//! }
//! ```
//!
//! To run the model: load `model_file` with `torch.jit.load` / `tch::CModule::load`, take
//! RGB images, area-resize them to `input.size` (world images are `source_size`), scale
//! bytes by `input.scale`, subtract `input.mean` and divide by `input.std` per channel,
//! call `method` on the `[N, 3, size, size]` float32 batch, and unpack the result as
//! above. Feature maps are non-negative (post-ReLU); a unit is a channel of a feature map.
//! The world ViT's sidecar has the same format: its layers are `"kind": "tokens"` outputs of
//! shape `[1 + h·w, C]` with `"layout": {"tokens": {"prefix": 1, "grid": [h, w]}}`, and
//! `training.config` is the ViT's config (with `patch`, `width`, `depth`).
//! [`Sidecar::preprocess`] and [`Sidecar::unpack`] do both ends.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use super::WorldCnnError;
use super::data::area_resize;
use super::model_config::WorldModelConfig;
use crate::target::torch::LayerLayout;

/// The `format` value of every world CNN sidecar.
pub const SIDECAR_FORMAT: &str = "maia-world-cnn";
/// The sidecar layout version this code writes and reads. Readers reject other versions.
pub const SIDECAR_VERSION: u32 = 1;

/// How to turn images into the model's input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    /// Always `"NCHW"`.
    pub layout: String,
    /// Always `"float32"`.
    pub dtype: String,
    /// Channel order, always `"RGB"` (alpha dropped).
    pub color: String,
    /// Always 3.
    pub channels: u32,
    /// Side of the square input, in pixels.
    pub size: u32,
    /// Side of the images the model was trained from (the shapes world's 224).
    pub source_size: u32,
    /// Resize method: `"area"` (box average; `adaptive_avg_pool2d`,
    /// `interpolate(mode="area")`), with the result rounded to whole bytes.
    pub resize: String,
    /// Multiplier taking bytes to [0, 1] (1/255).
    pub scale: f64,
    /// Per-channel mean subtracted after scaling (of the training images).
    pub mean: [f64; 3],
    /// Per-channel standard deviation divided by after subtracting the mean.
    pub std: [f64; 3],
}

/// What one output of the tuple is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    /// A `[units, height, width]` activation map per image.
    FeatureMap,
    /// A `[classes]` vector of unnormalised class scores per image.
    Logits,
    /// A `[tokens, units]` token sequence per image (a ViT block), laid out as `layout`
    /// says: the class token, then the patch grid.
    Tokens,
}

/// One output of the tuple the model returns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputSpec {
    /// Layer name (`conv1`…`conv4`, `shape_logits`, `color_logits`).
    pub name: String,
    /// Feature map or logits.
    pub kind: OutputKind,
    /// Shape per image (without the batch dimension).
    pub shape: Vec<i64>,
    /// Number of units (channels, or classes for logits).
    pub units: usize,
    /// Where this output starts in a row of the packed tensor.
    pub offset: i64,
    /// How many values it takes there (the product of `shape`).
    pub numel: i64,
    /// Class names, for logits, in score order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<String>>,
    /// For token outputs, how the tokens lie: `{"tokens": {"prefix": 1, "grid": [h, w]}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<LayerLayout>,
    /// What it is, in words.
    pub description: String,
}

/// How the model was trained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingRecord {
    /// The cache key of `config` (see [`WorldModelConfig::cache_key`]).
    pub cache_key: String,
    /// The code version the model was trained with.
    pub code_version: u32,
    /// The full configuration (seed, architecture, sizes, epochs, …).
    pub config: WorldModelConfig,
    /// Shapes-world seed of the training scenes (indices `0..train_images`).
    pub train_world_seed: u64,
    /// Shapes-world seed of the held-out scenes (indices `0..heldout_images`).
    pub heldout_world_seed: u64,
    /// Wall time of rendering, training and evaluation, in seconds.
    pub seconds: f64,
    /// libtorch intra-op threads during training.
    pub torch_threads: i32,
    /// Mean loss (shape + color cross-entropy) over the last epoch.
    pub final_loss: f64,
}

/// Accuracy on the held-out scenes.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Accuracies {
    /// Held-out scenes evaluated.
    pub images: usize,
    /// Fraction whose dominant shape was predicted right.
    pub shape: f64,
    /// Fraction whose dominant color was predicted right.
    pub color: f64,
    /// Fraction with both right.
    pub both: f64,
}

/// The sidecar file's content; see the module docs for the format.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sidecar {
    /// Always [`SIDECAR_FORMAT`].
    pub format: String,
    /// [`SIDECAR_VERSION`] when written.
    pub format_version: u32,
    /// File name of the TorchScript module, in the sidecar's directory.
    pub model_file: String,
    /// BLAKE3 hex digest of the model file, to detect a truncated or swapped file.
    pub model_blake3: String,
    /// The TorchScript method to call (`"forward"`).
    pub method: String,
    /// Preprocessing.
    pub input: InputSpec,
    /// Width of the packed `[N, packed_width]` tensor `method` returns.
    pub packed_width: i64,
    /// The outputs packed in it, in order.
    pub outputs: Vec<OutputSpec>,
    /// What the two heads were trained to predict.
    pub labels: String,
    /// Training facts.
    pub training: TrainingRecord,
    /// Held-out accuracy.
    pub heldout: Accuracies,
}

impl Sidecar {
    /// The sidecar path of a model file: the model path with `.json` appended.
    pub fn path_for(model: &Path) -> PathBuf {
        let mut name = model.as_os_str().to_os_string();
        name.push(".json");
        PathBuf::from(name)
    }

    /// Reads and checks a sidecar (format name and version; not the model file).
    pub fn read(path: &Path) -> Result<Sidecar, WorldCnnError> {
        let text = std::fs::read_to_string(path).map_err(WorldCnnError::io("read", path))?;
        Sidecar::parse(&text).map_err(|reason| WorldCnnError::Sidecar {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Parses sidecar JSON, checking the format name and version.
    pub fn parse(text: &str) -> Result<Sidecar, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("invalid JSON ({e})"))?;
        let format = value.get("format").and_then(|v| v.as_str());
        if format != Some(SIDECAR_FORMAT) {
            return Err(format!("format is {format:?}, expected {SIDECAR_FORMAT:?}"));
        }
        let version = value.get("format_version").and_then(|v| v.as_u64());
        if version != Some(u64::from(SIDECAR_VERSION)) {
            return Err(format!(
                "format_version is {version:?}; this maia reads version {SIDECAR_VERSION}"
            ));
        }
        serde_json::from_value(value).map_err(|e| format!("unexpected content ({e})"))
    }

    /// The model file this sidecar describes, if it sits at `sidecar_path`.
    pub fn model_path(&self, sidecar_path: &Path) -> PathBuf {
        sidecar_path
            .parent()
            .unwrap_or(Path::new("."))
            .join(&self.model_file)
    }

    /// Checks that `model` is the file this sidecar was written for (same BLAKE3 digest).
    pub fn verify_model(&self, model: &Path) -> Result<(), WorldCnnError> {
        let digest = hash_file(model)?;
        if digest != self.model_blake3 {
            return Err(WorldCnnError::Sidecar {
                path: model.to_path_buf(),
                reason: format!(
                    "the model file's BLAKE3 is {digest}, the sidecar expects {}; the file was truncated or replaced",
                    self.model_blake3
                ),
            });
        }
        Ok(())
    }

    /// The output called `name`.
    pub fn output(&self, name: &str) -> Option<&OutputSpec> {
        self.outputs.iter().find(|o| o.name == name)
    }

    /// Takes the packed `[N, packed_width]` answer of `method` apart: one `[N, …shape]`
    /// tensor per output, in `outputs` order (views, no copies).
    pub fn unpack(&self, packed: &Tensor) -> Result<Vec<Tensor>, WorldCnnError> {
        let size = packed.size();
        let (n, width) = match size.as_slice() {
            &[n, width] => (n, width),
            _ => (-1, -1),
        };
        if width != self.packed_width {
            return Err(WorldCnnError::Input {
                what: "packed output of shape",
                got: format!("{size:?}"),
                hint: "pass the [N, packed_width] tensor the sidecar's model returned",
            });
        }
        self.outputs
            .iter()
            .map(|o| {
                let mut shape = vec![n];
                shape.extend(&o.shape);
                packed
                    .f_narrow(1, o.offset, o.numel)
                    .and_then(|t| t.f_reshape(shape.as_slice()))
                    .map_err(WorldCnnError::torch("unpacking the world model's outputs"))
            })
            .collect()
    }

    /// Output `name` of a packed answer, as `[N, …shape]`.
    pub fn unpack_one(&self, packed: &Tensor, name: &str) -> Result<Tensor, WorldCnnError> {
        let index = self.outputs.iter().position(|o| o.name == name);
        let mut all = self.unpack(packed)?;
        match index {
            Some(index) if index < all.len() => Ok(all.swap_remove(index)),
            _ => Err(WorldCnnError::Input {
                what: "output name",
                got: format!("{name:?}"),
                hint: "use an output the sidecar lists (conv1 … conv4 or block1 …, shape_logits, color_logits)",
            }),
        }
    }

    /// The feature-map and token outputs (the layers whose channels are units).
    pub fn layers(&self) -> impl Iterator<Item = &OutputSpec> {
        self.outputs
            .iter()
            .filter(|o| matches!(o.kind, OutputKind::FeatureMap | OutputKind::Tokens))
    }

    /// Preprocesses uint8 RGB images `[N, 3, H, W]` exactly as training did: area resize to
    /// `input.size` (rounded to bytes), scale, normalise. Returns `[N, 3, size, size]` f32.
    pub fn preprocess(&self, rgb: &Tensor) -> Result<Tensor, WorldCnnError> {
        let size = rgb.size();
        if size.len() != 4 || size.get(1) != Some(&3) || rgb.kind() != Kind::Uint8 {
            return Err(WorldCnnError::Input {
                what: "image batch",
                got: format!("{size:?} of {:?}", rgb.kind()),
                hint: "pass uint8 RGB images as an [N, 3, H, W] tensor",
            });
        }
        let resized = area_resize(rgb, i64::from(self.input.size));
        Ok(normalize(&resized, &self.input))
    }
}

/// Bytes → normalised floats, per [`InputSpec`].
pub(crate) fn normalize(bytes: &Tensor, input: &InputSpec) -> Tensor {
    let mean = Tensor::from_slice(&input.mean.map(|m| m as f32)).view([1, 3, 1, 1]);
    let std = Tensor::from_slice(&input.std.map(|s| s as f32)).view([1, 3, 1, 1]);
    (bytes.to_kind(Kind::Float) * input.scale - mean) / std
}

/// BLAKE3 hex digest of a file.
pub(crate) fn hash_file(path: &Path) -> Result<String, WorldCnnError> {
    let bytes = std::fs::read(path).map_err(WorldCnnError::io("read", path))?;
    Ok(blake3::hash(&bytes).to_hex().to_string())
}
