//! Scoring a description against a synthetic unit's ground-truth concept directly.
//!
//! No rendering and no unit: the description's concept (as the [`WorldEvaluator`] reads
//! it) and the true concept are both predicates on scenes, compared over a fixed probe set
//! of held-out scenes — random dataset scenes plus scenes that show each of the two
//! concepts, so that rare concepts are represented. Agreement is reported as the phi
//! coefficient (Pearson of the two predicates), F1 (Dice) and IoU.

use super::evaluator::WorldEvaluator;
use super::metrics;
use super::{Failure, FailureKind, HELD_OUT_SEED_BASE};
use crate::target::{SYNTHETIC_LAYER, UnitRef};
use maia_shapes_world::{Concept, Scene, SyntheticUnit, catalogue, lookup, scenes_with};
use serde::{Deserialize, Serialize};

/// Random dataset scenes in the probe set.
pub const TRUTH_PROBE_RANDOM: usize = 400;

/// Scenes showing each concept added to the probe set.
pub const TRUTH_PROBE_SHOWING: usize = 100;

/// How a description's concept agrees with the truth.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TruthScore {
    /// The description.
    pub description: String,
    /// Its concept, as read.
    pub understood: String,
    /// The true concept.
    pub truth: String,
    /// Probe scenes compared on.
    pub probe: usize,
    /// Phi coefficient of the two predicates (`None` when one is constant on the probe).
    pub pearson: Option<f64>,
    /// F1 (Dice) of the described set against the true set.
    pub f1: Option<f64>,
    /// Intersection over union of the two sets.
    pub iou: Option<f64>,
    /// Of the scenes the description picks, the share the truth picks.
    pub precision: Option<f64>,
    /// Of the scenes the truth picks, the share the description picks.
    pub recall: Option<f64>,
}

/// Scores `description` against `truth` on the probe set drawn from `seed` (the random
/// part is [`maia_shapes_world::scene_at`] on a held-out dataset seed). A description the
/// world evaluator cannot read, or whose concept can never occur, fails with
/// [`FailureKind::Description`].
pub fn score_against_truth(
    description: &str,
    truth: &Concept,
    seed: u64,
) -> Result<TruthScore, Failure> {
    let described = WorldEvaluator.read(description)?.concept;
    let probe_seed = HELD_OUT_SEED_BASE
        .wrapping_add(seed.wrapping_mul(31))
        .max(HELD_OUT_SEED_BASE);
    let mut scenes: Vec<Scene> = maia_shapes_world::generate(TRUTH_PROBE_RANDOM, probe_seed)
        .map(|(_, scene)| scene)
        .collect();
    // A truth that never occurs (a dead unit) adds no scenes; a description that never
    // occurs is the description's failure.
    if let Ok(showing) = scenes_with(truth, TRUTH_PROBE_SHOWING, probe_seed) {
        scenes.extend(showing);
    }
    let showing =
        scenes_with(&described, TRUTH_PROBE_SHOWING, probe_seed ^ 0x5eed).map_err(|e| {
            Failure::new(
                FailureKind::Description,
                format!("'{description}' read as `{described}`: {e}"),
            )
        })?;
    scenes.extend(showing);
    let d: Vec<bool> = scenes.iter().map(|s| described.present_in(s)).collect();
    let t: Vec<bool> = scenes.iter().map(|s| truth.present_in(s)).collect();
    let both = d.iter().zip(&t).filter(|(a, b)| **a && **b).count() as f64;
    let (nd, nt) = (
        d.iter().filter(|&&x| x).count() as f64,
        t.iter().filter(|&&x| x).count() as f64,
    );
    let as_f64 = |v: &[bool]| {
        v.iter()
            .map(|&b| f64::from(u8::from(b)))
            .collect::<Vec<_>>()
    };
    Ok(TruthScore {
        description: description.to_owned(),
        understood: described.to_string(),
        truth: truth.to_string(),
        probe: scenes.len(),
        pearson: metrics::pearson(&as_f64(&d), &as_f64(&t)),
        f1: (nd + nt > 0.0).then(|| 2.0 * both / (nd + nt)),
        iou: metrics::iou(&d, &t),
        precision: (nd > 0.0).then(|| both / nd),
        recall: (nt > 0.0).then(|| both / nt),
    })
}

/// The ground-truth concept of a synthetic target's unit, from its `--target` spec:
/// `synthetic:NAME` and `synthetic:EXPR` (unit 0) or `synthetic:all` (catalogue entry
/// `unit`). `None` for other targets.
pub fn synthetic_truth(spec: &str, unit: &UnitRef) -> Option<Concept> {
    let rest = spec.trim().strip_prefix("synthetic:")?.trim();
    if unit.layer != SYNTHETIC_LAYER {
        return None;
    }
    if rest == "all" {
        return catalogue().into_iter().nth(unit.unit).map(|u| u.concept);
    }
    if unit.unit != 0 {
        return None;
    }
    lookup(rest)
        .map(|u| u.concept)
        .or_else(|| SyntheticUnit::from_expr(rest).ok().map(|u| u.concept))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn concept(text: &str) -> Concept {
        Concept::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_truth_agrees_with_itself_and_a_wrong_guess_does_not() {
        let truth = concept("red & circle");
        let right = score_against_truth("red circles", &truth, 1).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (right.iou, right.f1, right.pearson),
            (Some(1.0), Some(1.0), Some(1.0))
        );
        let broad = score_against_truth("red objects", &truth, 1).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            broad.recall == Some(1.0) && broad.precision.is_some_and(|p| p < 0.7),
            "{broad:?}"
        );
        let wrong =
            score_against_truth("blue squares", &truth, 1).unwrap_or_else(|e| panic!("{e}"));
        assert!(wrong.iou.is_some_and(|i| i < 0.1), "{wrong:?}");
        let err = score_against_truth("", &truth, 1).err();
        assert!(err.is_some_and(|e| e.kind == FailureKind::Description));
    }

    #[test]
    fn synthetic_specs_give_their_concepts() {
        let unit0 = UnitRef {
            layer: SYNTHETIC_LAYER.into(),
            unit: 0,
        };
        assert_eq!(
            synthetic_truth("synthetic:red", &unit0),
            Some(concept("red"))
        );
        assert_eq!(
            synthetic_truth("synthetic:circle & !red", &unit0),
            Some(concept("circle & !red"))
        );
        assert_eq!(
            synthetic_truth("synthetic:all", &unit0),
            catalogue().first().map(|u| u.concept.clone())
        );
        assert_eq!(synthetic_truth("torch:m.pt", &unit0), None);
    }
}
