//! `call_unit` and `dataset_exemplars`: the target unit's answers.
//!
//! `call_unit`'s `data` is a list of [`UnitActivation`](crate::UnitActivation), the type
//! `Host::call_unit` returns.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{MAX_IMAGES_PER_CALL, schema_of};
use crate::ImageId;

/// Arguments of `call_unit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CallUnitArgs {
    /// The images to run the unit on.
    #[schemars(
        length(min = 1, max = MAX_IMAGES_PER_CALL),
        description = "Images to run the unit on, by id"
    )]
    pub image_ids: Vec<ImageId>,
}

impl CallUnitArgs {
    /// The JSON Schema `call_unit` advertises.
    pub fn schema() -> Value {
        schema_of::<Self>()
    }
}

/// Arguments of `dataset_exemplars`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetExemplarsArgs {
    /// How many exemplars, highest first; all the pass kept when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1), description = "How many exemplars (default all)")]
    pub k: Option<usize>,
}

impl DatasetExemplarsArgs {
    /// The JSON Schema `dataset_exemplars` advertises, for a pass that kept `kept`
    /// exemplars per unit.
    pub fn schema(kept: usize) -> Value {
        let mut schema = schema_of::<Self>();
        schema["properties"]["k"]["maximum"] = kept.into();
        schema
    }
}

/// `data` of a `dataset_exemplars` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetExemplarsData {
    /// The unit, as maia names it (`layer4:17`).
    pub unit: String,
    /// How many images the exemplar pass read.
    pub dataset_images: usize,
    /// The exemplars, highest activation first.
    pub exemplars: Vec<Exemplar>,
    /// The median over the layer's units of their top activation, a yardstick for
    /// "strong" (absent for passes that did not record it).
    #[serde(default)]
    pub layer_top_median: Option<f32>,
}

/// One dataset exemplar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exemplar {
    /// Rank, from 1 (the highest activation).
    pub rank: usize,
    /// Position among the call's returned images, from 1.
    pub image: usize,
    /// The file inside the data set.
    pub file: String,
    /// The image's class (its folder or label), for labelled data sets.
    #[serde(default)]
    pub class: Option<String>,
    /// The class in words, where the data set maps classes to words.
    #[serde(default)]
    pub class_name: Option<String>,
    /// The unit's activation (the spatial max of its map).
    pub activation: f32,
    /// What the image shows, for shapes-world data sets.
    #[serde(default)]
    pub summary: Option<String>,
    /// The scene graph, for shapes-world data sets.
    #[serde(default)]
    pub scene: Option<Value>,
}
