//! The target unit as the [`UnitCaller`] tools reach through `Host::call_unit`: looks the
//! images up, runs the model, stores a mask overlay per image.

use super::mask::{DEFAULT_TOP_QUANTILE, mask_overlay};
use super::{TargetModel, UnitRef};
use crate::call_context::UnitCaller;
use crate::images::ImageStore;
use maia_plugin_sdk::{Image, ImageId, ToolError, UnitActivation};
use std::sync::Arc;

/// One unit of one model, with the store its images live in.
pub struct TargetUnit {
    model: Arc<dyn TargetModel>,
    unit: UnitRef,
    store: Arc<ImageStore>,
}

impl TargetUnit {
    /// Checks the unit exists in the model.
    pub fn new(
        model: Arc<dyn TargetModel>,
        unit: UnitRef,
        store: Arc<ImageStore>,
    ) -> Result<Self, super::TargetError> {
        unit.validate(model.info())?;
        Ok(TargetUnit { model, unit, store })
    }

    /// The model.
    pub fn model(&self) -> &Arc<dyn TargetModel> {
        &self.model
    }

    /// The unit's address.
    pub fn unit(&self) -> &UnitRef {
        &self.unit
    }
}

impl UnitCaller for TargetUnit {
    fn call_unit(&self, ids: &[ImageId]) -> Result<Vec<UnitActivation>, ToolError> {
        let images: Vec<Arc<Image>> = ids
            .iter()
            .map(|id| self.store.get_or_error(id))
            .collect::<Result<_, _>>()?;
        let refs: Vec<&Image> = images.iter().map(|i| i.as_ref()).collect();
        let maps = self
            .model
            .activations(&refs, &self.unit.layer, &[self.unit.unit])
            .map_err(|e| ToolError::failed(e.to_string()))?;
        let broken: Vec<&str> = images
            .iter()
            .zip(&maps)
            .filter(|(_, per_unit)| {
                per_unit
                    .iter()
                    .any(|m| m.values.iter().any(|v| !v.is_finite()))
            })
            .map(|(image, _)| image.id.as_str())
            .collect();
        if !broken.is_empty() {
            return Err(ToolError::failed(format!(
                "the model's activations of {} are not finite (NaN or infinite) on {}: the model (or its weights) is broken for these inputs, so nothing is measured; call again without them",
                self.unit,
                broken.join(", ")
            )));
        }
        images
            .iter()
            .zip(maps)
            .map(|(image, mut per_unit)| {
                let map = per_unit
                    .pop()
                    .ok_or_else(|| ToolError::failed("the model returned no map"))?;
                let activation = map.max();
                let overlay = mask_overlay(&image.png, &map, DEFAULT_TOP_QUANTILE)
                    .map_err(|e| ToolError::failed(e.to_string()))?;
                let caption = format!(
                    "{} mask of {} (activation {})",
                    self.unit,
                    image.id,
                    super::format_activation(activation)
                );
                let mask = self
                    .store
                    .insert(Image::new(overlay, caption).with_meta(
                        serde_json::json!({"mask_of": image.id, "unit": self.unit.to_string()}),
                    ))
                    .map_err(|e| ToolError::failed(format!("storing a mask: {e}")))?;
                Ok(UnitActivation {
                    image: image.id.clone(),
                    activation,
                    mask: Some(mask),
                })
            })
            .collect()
    }
}
