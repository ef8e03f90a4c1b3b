//! Synthetic units: neurons with known ground truth over the shapes world.
//!
//! A unit's activation map is the visible pixel coverage of the regions its concept picks,
//! times the unit's strength, plus small seeded noise; its scalar activation is the spatial
//! maximum (as in MAIA). Following MAIA's synthetic-neuron design, an AND unit whose parts
//! are not all present in an image outputs only noise — which per-region conjunction and the
//! `+` co-occurrence operator give by construction.

use serde::{Deserialize, Serialize};

use crate::concept::{Concept, ConceptError};
use crate::render::{RenderError, SceneMasks, object_masks};
use crate::rng::{SeededRng, hash_str};
use crate::scene::Scene;

/// Noise added to every pixel of an activation map is uniform in `[0, NOISE_AMPLITUDE)`.
pub const NOISE_AMPLITUDE: f32 = 0.05;

/// The four kinds of synthetic unit in MAIA's design.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnitKind {
    /// One concept (`red`, `star`).
    Mono,
    /// Either of several concepts (`circle | star`).
    Or,
    /// All of several concepts (`red & circle`, `circle + star`).
    And,
    /// One concept but not another (`circle & !red`).
    AndNot,
}

impl UnitKind {
    /// The kind a concept's top-level structure implies.
    pub fn of(concept: &Concept) -> UnitKind {
        match concept {
            Concept::Atom(_) => UnitKind::Mono,
            Concept::Or(_) => UnitKind::Or,
            Concept::Not(_) => UnitKind::AndNot,
            Concept::And(parts) if parts.iter().any(|p| matches!(p, Concept::Not(_))) => {
                UnitKind::AndNot
            }
            Concept::And(_) | Concept::With(_) => UnitKind::And,
        }
    }

    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            UnitKind::Mono => "mono",
            UnitKind::Or => "or",
            UnitKind::And => "and",
            UnitKind::AndNot => "andnot",
        }
    }
}

/// A unit with a known concept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyntheticUnit {
    /// Unique name (`red_and_circle`).
    pub name: String,
    /// Mono / Or / And / AndNot.
    pub kind: UnitKind,
    /// What it responds to.
    pub concept: Concept,
    /// Ground-truth English description, what a perfect interpretation would say.
    pub description: String,
    /// Peak activation on a fully covered pixel of a matching region.
    pub strength: f32,
}

impl SyntheticUnit {
    /// A unit for a concept, with kind and description derived from it and strength 1.
    pub fn new(name: impl Into<String>, concept: Concept) -> SyntheticUnit {
        SyntheticUnit {
            name: name.into(),
            kind: UnitKind::of(&concept),
            description: concept.describe(),
            concept,
            strength: 1.0,
        }
    }

    /// A unit from any concept expression; its name is the canonical expression.
    pub fn from_expr(expr: &str) -> Result<SyntheticUnit, ConceptError> {
        let concept = Concept::parse(expr)?;
        Ok(SyntheticUnit::new(concept.to_string(), concept))
    }

    /// The unit's activation map over a scene; see [`activation_map`].
    pub fn activation_map(&self, scene: &Scene, seed: u64) -> Result<ActivationMap, RenderError> {
        activation_map(self, scene, seed)
    }

    /// The activation map from precomputed masks (compute them once with
    /// [`object_masks`] to evaluate many units on one scene).
    pub fn activation_map_with(
        &self,
        scene: &Scene,
        masks: &SceneMasks,
        seed: u64,
    ) -> ActivationMap {
        let picked = self.concept.regions(scene);
        let pixels = masks.width as usize * masks.height as usize;
        let mut rng = SeededRng::new(seed, hash_str(&self.name));
        let mut values: Vec<f32> = (0..pixels).map(|_| rng.unit() * NOISE_AMPLITUDE).collect();
        let object_count = masks.objects.len();
        for (index, &on) in picked.iter().enumerate() {
            if !on {
                continue;
            }
            let coverage = if index < object_count {
                masks.objects.get(index)
            } else {
                Some(&masks.background)
            };
            if let Some(coverage) = coverage {
                for (v, &c) in values.iter_mut().zip(coverage) {
                    *v += self.strength * c;
                }
            }
        }
        ActivationMap {
            width: masks.width,
            height: masks.height,
            values,
        }
    }

    /// The scalar activation (spatial max of the map).
    pub fn activation(&self, scene: &Scene, seed: u64) -> Result<f32, RenderError> {
        Ok(self.activation_map(scene, seed)?.max())
    }
}

/// A unit's response at every pixel of an image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivationMap {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Row-major values.
    pub values: Vec<f32>,
}

impl ActivationMap {
    /// The spatial maximum, the unit's scalar activation (0 for an empty map).
    pub fn max(&self) -> f32 {
        self.values.iter().copied().fold(0.0, f32::max)
    }

    /// The value at pixel (x, y), if inside.
    pub fn get(&self, x: u32, y: u32) -> Option<f32> {
        if x >= self.width || y >= self.height {
            return None;
        }
        self.values
            .get(y as usize * self.width as usize + x as usize)
            .copied()
    }
}

/// The activation map of `unit` on `scene`: matching regions' visible coverage × strength,
/// plus noise seeded by `seed` and the unit's name.
pub fn activation_map(
    unit: &SyntheticUnit,
    scene: &Scene,
    seed: u64,
) -> Result<ActivationMap, RenderError> {
    let masks = object_masks(scene)?;
    Ok(unit.activation_map_with(scene, &masks, seed))
}
