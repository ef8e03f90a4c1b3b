//! Target models: the networks whose units the agent explains. Everything else in maia
//! sees them through [`TargetModel`]; a unit is addressed as `layer:unit` ([`UnitRef`]).
//!
//! Implementations: [`SyntheticTarget`] (units of the shapes world with ground truth);
//! libtorch models and [`RemoteModel`] (a model served by `maia host serve`) implement the
//! same trait.

pub mod directions;
pub mod features;
pub mod mask;
mod remote;
pub mod sae;
mod spec;
mod synthetic;
pub mod torch;
mod unit_caller;
mod unit_ref;

pub use remote::RemoteModel;
pub use spec::{
    TorchOptions, absolute_spec, open_target, open_target_with, world_cnn_cache_dir,
    world_model_config,
};
pub use synthetic::{SYNTHETIC_LAYER, SyntheticTarget, scene_of};
pub use unit_caller::TargetUnit;
pub use unit_ref::UnitRef;

use maia_plugin_sdk::Image;
use serde::{Deserialize, Serialize};

/// One layer of a target model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerInfo {
    /// Layer name, as used in `layer:unit`.
    pub name: String,
    /// Number of units (channels).
    pub units: usize,
    /// Height of each unit's spatial map.
    pub map_height: u32,
    /// Width of each unit's spatial map.
    pub map_width: u32,
    /// For a transformer layer: how its tokens form the map (absent for feature maps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<TokenGrid>,
    /// Names of the units, in unit order, where they have names (directions); empty
    /// where units are only numbered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unit_names: Vec<String>,
}

/// A transformer layer's tokens: `prefix` tokens (class, registers), then a
/// `height × width` grid of patch tokens whose values are each unit's map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenGrid {
    /// Tokens before the patches.
    pub prefix: u32,
    /// Patch rows.
    pub height: u32,
    /// Patch columns.
    pub width: u32,
    /// True when maia inferred the layout from the token count (no sidecar layout).
    #[serde(default)]
    pub inferred: bool,
}

/// What a target model is, for `maia model info` and the agent's task prompt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Display name (file name, or `synthetic:NAME`).
    pub name: String,
    /// `synthetic`, `torch` or `remote`.
    pub kind: String,
    /// Side of the square input images, in pixels.
    pub input_size: u32,
    /// Where it runs (`cpu`, `cuda:0`, a host address).
    pub device: String,
    /// Layers in forward order.
    pub layers: Vec<LayerInfo>,
}

impl ModelInfo {
    /// The layer called `name`.
    pub fn layer(&self, name: &str) -> Option<&LayerInfo> {
        self.layers.iter().find(|l| l.name == name)
    }

    /// The unit a `LAYER:UNIT` or `LAYER:NAME` address names in this model, checked:
    /// a name is looked up among its layer's unit names (directions).
    pub fn unit(&self, address: &str) -> Result<UnitRef, TargetError> {
        let unit = match address.parse::<UnitRef>() {
            Ok(unit) => unit,
            Err(numeric) => {
                let Some((layer, name)) = address.trim().rsplit_once(':') else {
                    return Err(numeric);
                };
                let Some(info) = self.layer(layer).filter(|l| !l.unit_names.is_empty()) else {
                    if layer.ends_with(directions::DIR_SUFFIX) {
                        return Err(TargetError::Unit(format!(
                            "`{address}` names a direction, but {} has no layer `{layer}`: give the directions with --directions FILE (a safetensors file of named vectors, or a .npy vector) whose width fits the layer",
                            self.name
                        )));
                    }
                    return Err(numeric);
                };
                let Some(index) = info.unit_names.iter().position(|n| n == name) else {
                    return Err(TargetError::Unit(format!(
                        "{layer} has no unit named `{name}`; its units: {}",
                        info.unit_names.join(", ")
                    )));
                };
                UnitRef {
                    layer: layer.to_owned(),
                    unit: index,
                }
            }
        };
        unit.validate(self)?;
        Ok(unit)
    }

    /// A unit's address as people read it: `LAYER:NAME` where its layer names its units,
    /// else `LAYER:UNIT`.
    pub fn address(&self, unit: &UnitRef) -> String {
        match self
            .layer(&unit.layer)
            .and_then(|l| l.unit_names.get(unit.unit))
        {
            Some(name) => format!("{}:{name}", unit.layer),
            None => unit.to_string(),
        }
    }
}

/// A unit's response over an image: a row-major map and its spatial max.
#[derive(Clone, Debug, PartialEq)]
pub struct UnitMap {
    /// Map width.
    pub width: u32,
    /// Map height.
    pub height: u32,
    /// `width * height` values, row-major.
    pub values: Vec<f32>,
}

impl UnitMap {
    /// The unit's scalar activation on the image: the spatial max (as MAIA).
    pub fn max(&self) -> f32 {
        self.values
            .iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max)
    }
}

/// A short hash of what a model is ([`TargetModel::fingerprint`]: its file's content,
/// preprocessing and precision), recorded by a run so a resume notices another model.
pub fn fingerprint_hash(model: &dyn TargetModel) -> String {
    blake3::hash(model.fingerprint().as_bytes()).to_hex()[..16].to_owned()
}

/// An activation as text: three decimals, and below 0.01 as many as keep three
/// significant digits (`0.157`, `12.346`, `0.050`, `0.000123`, `0`) rather than reading
/// `0.000`. Plain decimals, never exponents, so whoever parses tool text keeps working.
pub fn format_activation(v: f32) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    if v.abs() >= 0.01 {
        return format!("{v:.3}");
    }
    let magnitude = f64::from(v.abs()).log10().floor() as i32;
    let decimals = (2 - magnitude).clamp(3, 12) as usize;
    format!("{v:.decimals$}")
}

/// Why a target model could not answer.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// A `--target` value that names nothing maia can open.
    #[error("{0}")]
    Spec(String),
    /// A `layer:unit` that does not exist in the model.
    #[error("{0}")]
    Unit(String),
    /// An image the model cannot take.
    #[error("{0}")]
    Input(String),
    /// The model failed while computing.
    #[error("{0}")]
    Compute(String),
}

/// A network whose units can be probed.
pub trait TargetModel: Send + Sync {
    /// Name, layers, input size, device.
    fn info(&self) -> &ModelInfo;

    /// Spatial maps of `units` of `layer` for each image: `result[image][i]` is the map of
    /// `units[i]` on `images[image]`.
    fn activations(
        &self,
        images: &[&Image],
        layer: &str,
        units: &[usize],
    ) -> Result<Vec<Vec<UnitMap>>, TargetError>;

    /// What identifies this model's behaviour for caches: weights and preprocessing for a
    /// torch model, the unit definitions for synthetic ones.
    fn fingerprint(&self) -> String {
        serde_json::to_string(self.info()).unwrap_or_default()
    }

    /// Ground truth of a unit, when the model knows it (synthetic units do).
    fn ground_truth(&self, _unit: &UnitRef) -> Option<String> {
        None
    }

    /// The part of an image the model sees, as PNG, when that is not the whole image (a
    /// torch model with an eval transform sees the center crop): activation maps cover
    /// this view, so masks are drawn over it. `None`: the whole image.
    fn input_view(&self, _image: &[u8]) -> Result<Option<Vec<u8>>, TargetError> {
        Ok(None)
    }

    /// The scalar activation (spatial max) of each of `units` on each image, or why the
    /// model could not take that image: what a bulk pass such as the exemplar pass ranks
    /// by. An image the model cannot take fails only its own entry; an error for the whole
    /// call (a bad layer or unit, a failing model) is the outer error.
    ///
    /// Bulk passes call this from one thread per core at once, so an implementation should
    /// not spread one call over every core itself ([`TorchModel`](torch::TorchModel) runs
    /// it on one intra-op thread per calling thread). The default computes the maps with
    /// [`activations`](TargetModel::activations) and, if that fails for an image, retries
    /// the images one by one to find which.
    fn unit_maxima(
        &self,
        images: &[&Image],
        layer: &str,
        units: &[usize],
    ) -> Result<Vec<ImageMaxima>, TargetError> {
        isolating_bad_images(images, |images| {
            Ok(self
                .activations(images, layer, units)?
                .into_iter()
                .map(|maps| maps.iter().map(UnitMap::max).collect())
                .collect())
        })
    }
}

/// `maxima` of all `images` at once; if that fails on an image the model cannot take (a
/// [`TargetError::Input`]), of each image alone, so only that image's entry fails.
pub(crate) fn isolating_bad_images(
    images: &[&Image],
    maxima: impl Fn(&[&Image]) -> Result<Vec<Vec<f32>>, TargetError>,
) -> Result<Vec<ImageMaxima>, TargetError> {
    match maxima(images) {
        Ok(all) => Ok(all.into_iter().map(Ok).collect()),
        Err(TargetError::Input(_)) => images
            .iter()
            .map(|image| match maxima(&[image]) {
                Ok(mut one) => Ok(Ok(one.pop().unwrap_or_default())),
                Err(e @ TargetError::Input(_)) => Ok(Err(e)),
                Err(e) => Err(e),
            })
            .collect(),
        Err(e) => Err(e),
    }
}

/// One image's entry in [`TargetModel::unit_maxima`]: a value per requested unit, or why
/// the model could not take the image (a [`TargetError::Input`]).
pub type ImageMaxima = Result<Vec<f32>, TargetError>;

#[cfg(test)]
mod format_tests {
    use super::format_activation;

    #[test]
    fn small_activations_keep_three_significant_digits() {
        assert_eq!(format_activation(0.157), "0.157");
        assert_eq!(format_activation(12.34567), "12.346");
        assert_eq!(format_activation(0.000_123_4), "0.000123");
        assert_eq!(format_activation(-0.004_56), "-0.00456");
        assert_eq!(format_activation(0.0), "0");
        assert_eq!(format_activation(1.0), "1.000");
        assert_eq!(format_activation(0.05), "0.050");
    }
}
