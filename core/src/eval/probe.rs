//! Running the unit under evaluation on images.

use super::{Failure, FailureKind};
use crate::target::{TargetError, TargetModel, TargetUnit, UnitRef};
use maia_plugin_sdk::Image;
use std::sync::Arc;

/// Images sent to a model in one batch.
const BATCH: usize = 64;

/// A unit that can be run on images: its scalar activation (the spatial max of its map, as
/// in MAIA) per image. Scoring needs nothing else, so anything — a [`TargetUnit`], a
/// [`ModelUnit`], a test double — can be scored.
pub trait UnitProbe: Send + Sync {
    /// What to call the unit in results (`synthetic:0 of synthetic:red`).
    fn label(&self) -> String;

    /// One activation per image, in order.
    fn activations(&self, images: &[Image]) -> Result<Vec<f32>, Failure>;

    /// The largest spread of activations that is still "never fires": a unit whose
    /// activations over the evaluation and probe images vary by no more than this is
    /// reported dead. Synthetic units add noise below
    /// [`maia_shapes_world::units::NOISE_AMPLITUDE`]; real units are dead only when
    /// constant.
    fn noise_floor(&self) -> f32 {
        0.0
    }

    /// A key that identifies the unit's behaviour (model fingerprint and unit), so a
    /// [`super::Scorer`] runs it on the probe images once however many descriptions it
    /// scores. `None` (the default): no caching.
    fn cache_key(&self) -> Option<String> {
        None
    }
}

/// One unit of a model, without an image store (what the evaluation suite scores).
pub struct ModelUnit {
    model: Arc<dyn TargetModel>,
    unit: UnitRef,
}

impl ModelUnit {
    /// Checks the unit exists in the model.
    pub fn new(model: Arc<dyn TargetModel>, unit: UnitRef) -> Result<Self, TargetError> {
        unit.validate(model.info())?;
        Ok(ModelUnit { model, unit })
    }

    /// The unit's address.
    pub fn unit(&self) -> &UnitRef {
        &self.unit
    }

    /// The model.
    pub fn model(&self) -> &Arc<dyn TargetModel> {
        &self.model
    }
}

fn label(model: &dyn TargetModel, unit: &UnitRef) -> String {
    format!("{unit} of {}", model.info().name)
}

fn run(model: &dyn TargetModel, unit: &UnitRef, images: &[Image]) -> Result<Vec<f32>, Failure> {
    let mut out = Vec::with_capacity(images.len());
    for batch in images.chunks(BATCH) {
        let refs: Vec<&Image> = batch.iter().collect();
        let maps = model
            .activations(&refs, &unit.layer, &[unit.unit])
            .map_err(|e| {
                Failure::new(
                    FailureKind::Unit,
                    format!("running {} failed: {e}", label(model, unit)),
                )
            })?;
        if maps.len() != batch.len() {
            return Err(Failure::new(
                FailureKind::Unit,
                format!(
                    "{} returned {} maps for {} images",
                    label(model, unit),
                    maps.len(),
                    batch.len()
                ),
            ));
        }
        for per_unit in maps {
            let map = per_unit.first().ok_or_else(|| {
                Failure::new(
                    FailureKind::Unit,
                    format!("{} returned no map for an image", label(model, unit)),
                )
            })?;
            out.push(map.max());
        }
    }
    Ok(out)
}

fn cache_key(model: &dyn TargetModel, unit: &UnitRef) -> String {
    let fingerprint = blake3::hash(model.fingerprint().as_bytes());
    format!("{}#{unit}", fingerprint.to_hex())
}

fn noise_floor(model: &dyn TargetModel) -> f32 {
    if model.info().kind == "synthetic" {
        maia_shapes_world::units::NOISE_AMPLITUDE
    } else {
        0.0
    }
}

impl UnitProbe for ModelUnit {
    fn label(&self) -> String {
        label(self.model.as_ref(), &self.unit)
    }

    fn activations(&self, images: &[Image]) -> Result<Vec<f32>, Failure> {
        run(self.model.as_ref(), &self.unit, images)
    }

    fn noise_floor(&self) -> f32 {
        noise_floor(self.model.as_ref())
    }

    fn cache_key(&self) -> Option<String> {
        Some(cache_key(self.model.as_ref(), &self.unit))
    }
}

/// Scoring reads activations only: no masks are drawn and nothing enters the unit's
/// image store.
impl UnitProbe for TargetUnit {
    fn label(&self) -> String {
        label(self.model().as_ref(), self.unit())
    }

    fn activations(&self, images: &[Image]) -> Result<Vec<f32>, Failure> {
        run(self.model().as_ref(), self.unit(), images)
    }

    fn noise_floor(&self) -> f32 {
        noise_floor(self.model().as_ref())
    }

    fn cache_key(&self) -> Option<String> {
        Some(cache_key(self.model().as_ref(), self.unit()))
    }
}
