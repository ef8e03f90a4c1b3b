//! The `maia-model` sidecar users write when exporting a model (README: "Exporting a model").
//!
//! ```json
//! {"format": "maia-model", "format_version": 1, "name": "resnet18",
//!  "input": {"size": 224, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
//!  "layers": ["layer1", "layer2", "layer3", "layer4"]}
//! ```
//! `layers` is optional (default: every output of `forward`, in its order); `mean`/`std`
//! apply to pixel values scaled to 0..1.

use serde::{Deserialize, Serialize};

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
        if spec.input.std.iter().any(|s| *s <= 0.0) {
            return Err("input.std values must be positive".into());
        }
        Ok(spec)
    }
}
