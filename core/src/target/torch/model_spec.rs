//! The `maia-model` sidecar users write when exporting a model (README: "Exporting a model").
//!
//! ```json
//! {"format": "maia-model", "format_version": 1, "name": "resnet18",
//!  "input": {"size": 224, "resize": 256, "interpolation": "bilinear", "antialias": true,
//!            "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
//!  "layers": ["layer1", "layer2", "layer3", "layer4"]}
//! ```
//! `layers` is optional (default: every output of `forward`, in its order); `layouts`
//! declares transformer token layers (`{"blocks.5": {"tokens": {"prefix": 1, "grid": [14,
//! 14]}}}`) and channels-last maps (`"channels_last"`), see [`LayerLayout`]; `mean`/`std`
//! apply to pixel values scaled to 0..1. With `resize`, an image is prepared as torchvision
//! and timm evaluate: the shorter side resized to `resize`, then the center `size × size`
//! cropped (`crop`, if given, must equal `size`); without it, the whole image is
//! area-averaged to the input square.

use super::layout::LayerLayout;
use super::resample::{EvalTransform, Interpolation};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `format` value of a user model's sidecar.
pub const SIDECAR_FORMAT: &str = "maia-model";

/// Input preprocessing in a `maia-model` sidecar.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Side of the square input, in pixels.
    pub size: u32,
    /// Per-channel mean of 0..1 pixel values.
    pub mean: [f64; 3],
    /// Per-channel std.
    pub std: [f64; 3],
    /// The shorter side after resizing, before the center crop (torchvision's
    /// `Resize(256)`); absent: no crop, the whole image is area-resized to `size`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize: Option<u32>,
    /// The center crop's side (torchvision's `CenterCrop(224)`); must equal `size`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop: Option<u32>,
    /// The resize filter: `bilinear` (torchvision's default) or `bicubic` (timm's).
    #[serde(default)]
    pub interpolation: Interpolation,
    /// Widen the filter when reducing, as Pillow always does (default true).
    #[serde(default = "antialias_default")]
    pub antialias: bool,
}

fn antialias_default() -> bool {
    true
}

impl InputSpec {
    /// The resize-then-crop transform, when the sidecar asks for one.
    pub fn eval_transform(&self) -> Option<EvalTransform> {
        self.resize.map(|resize| EvalTransform {
            resize,
            crop: self.size,
            interpolation: self.interpolation,
            antialias: self.antialias,
        })
    }
}

/// A `maia-model` sidecar.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSidecar {
    /// Always `maia-model`.
    pub format: String,
    /// 1.
    pub format_version: u32,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Preprocessing.
    pub input: InputSpec,
    /// Layers to expose, in order (default: all outputs).
    #[serde(default)]
    pub layers: Option<Vec<String>>,
    /// Layers that are not `[N, C, H, W]` maps or `[N, C]` vectors: transformer tokens
    /// (`{"tokens": {"prefix": 1, "grid": [14, 14]}}`) or `"channels_last"` maps. A token
    /// layer left out has its grid inferred from its token count.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub layouts: BTreeMap<String, LayerLayout>,
}

impl ModelSidecar {
    /// Parses and checks a sidecar.
    pub fn parse(text: &str) -> Result<ModelSidecar, String> {
        let spec: ModelSidecar =
            serde_json::from_str(text).map_err(|e| format!("invalid sidecar: {e}"))?;
        if spec.layers.as_ref().is_some_and(Vec::is_empty) {
            return Err(
                "\"layers\" is empty: list the outputs to expose, or leave the key out for all of them"
                    .into(),
            );
        }
        if spec.format_version != 1 {
            return Err(format!(
                "sidecar format_version {} is not supported (this maia reads 1)",
                spec.format_version
            ));
        }
        if !(8..=4096).contains(&spec.input.size) {
            return Err(format!(
                "input.size {} is out of range (8..=4096)",
                spec.input.size
            ));
        }
        if let Some(resize) = spec.input.resize
            && !(8..=4096).contains(&resize)
        {
            return Err(format!("input.resize {resize} is out of range (8..=4096)"));
        }
        if let Some(crop) = spec.input.crop
            && crop != spec.input.size
        {
            return Err(format!(
                "input.crop {crop} differs from input.size {}: the center crop is the model's input, so they must be equal",
                spec.input.size
            ));
        }
        if spec.input.crop.is_some() && spec.input.resize.is_none() {
            return Err("input.crop needs input.resize (the shorter side before the crop)".into());
        }
        if spec.input.std.iter().any(|s| *s <= 0.0) {
            return Err("input.std values must be positive".into());
        }
        Ok(spec)
    }
}
