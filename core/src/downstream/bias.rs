//! MAIA's bias-discovery experiment, scored against planted truth: the failure condition an
//! agent reports is read into a concept over the shapes world and compared with the
//! subgroup the bias preset was taught wrongly (intersection over union of the two, over
//! held-out probe scenes), and the classifier's accuracy is measured inside and outside
//! the reported subgroup.

use maia_plugin_sdk::Image;
use maia_shapes_world::{Concept, Scene, Shape, read_description, render_png};
use serde::Serialize;

use crate::target::{TargetError, TargetModel};
use crate::world_cnn::planted::{DARK, PlantedFlaw};

/// The class whose subgroup the bias preset fails on.
pub const BIAS_CLASS: Shape = Shape::Square;

/// The planted subgroup of the bias preset: small squares on a dark background.
pub fn planted_subgroup() -> Concept {
    let dark = DARK
        .iter()
        .map(|c| format!("bg:{}", c.name()))
        .collect::<Vec<_>>()
        .join(" | ");
    Concept::parse(&format!("square & small & ({dark})")).unwrap_or(Concept::Or(Vec::new()))
}

/// Held-out scenes of the bias preset of `seed` (labelled truly), the probes both
/// subgroups are measured on.
pub fn probe_scenes(n: usize, seed: u64) -> Vec<(Scene, Shape)> {
    (0..n)
        .map(|i| PlantedFlaw::Bias.scene(i, seed ^ 0x5eed_b1a5, true))
        .collect()
}

/// How a reported failure condition compares with the planted one.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BiasScore {
    /// The report, read as a concept (`square & small & bg:black`).
    pub concept: String,
    /// Words of the report the reader did not understand.
    pub ignored: Vec<String>,
    /// Probe scenes in both subgroups over probe scenes in either.
    pub iou: f64,
    /// Probe scenes in the reported subgroup.
    pub reported: usize,
    /// Probe scenes in the planted subgroup.
    pub planted: usize,
    /// Probe scenes.
    pub probes: usize,
    /// The classifier's accuracy on probe scenes inside the reported subgroup (none if it
    /// holds no probe).
    pub accuracy_inside: Option<f64>,
    /// Its accuracy on the probe scenes outside it.
    pub accuracy_outside: Option<f64>,
}

impl BiasScore {
    /// The score of a report that could not be read: it matches no probe.
    pub fn unread(truth: &Concept, probes: &[(Scene, Shape)]) -> BiasScore {
        BiasScore {
            concept: String::new(),
            ignored: Vec::new(),
            iou: 0.0,
            reported: 0,
            planted: probes.iter().filter(|(s, _)| truth.present_in(s)).count(),
            probes: probes.len(),
            accuracy_inside: None,
            accuracy_outside: None,
        }
    }
}

/// Why a report cannot be scored.
#[derive(Debug, thiserror::Error)]
pub enum BiasError {
    /// The report names nothing the shapes world knows.
    #[error("the reported failure condition {0:?} names nothing the shapes world knows: {1}")]
    Unreadable(String, String),
    /// The classifier failed.
    #[error(transparent)]
    Target(#[from] TargetError),
}

/// Scores `report` against `truth` over `probes`; `predictions[i]` is the classifier's
/// class for probe `i` (none: not measured).
pub fn score(
    report: &str,
    truth: &Concept,
    probes: &[(Scene, Shape)],
    predictions: Option<&[Shape]>,
) -> Result<BiasScore, BiasError> {
    let reading = read_description(report)
        .map_err(|e| BiasError::Unreadable(report.to_owned(), e.to_string()))?;
    let (mut both, mut either, mut reported, mut planted) = (0, 0, 0, 0);
    let (mut inside, mut inside_right, mut outside, mut outside_right) = (0, 0, 0, 0);
    for (i, (scene, label)) in probes.iter().enumerate() {
        let r = reading.concept.present_in(scene);
        let t = truth.present_in(scene);
        both += usize::from(r && t);
        either += usize::from(r || t);
        reported += usize::from(r);
        planted += usize::from(t);
        if let Some(predicted) = predictions.and_then(|p| p.get(i)) {
            let right = usize::from(predicted == label);
            if r {
                inside += 1;
                inside_right += right;
            } else {
                outside += 1;
                outside_right += right;
            }
        }
    }
    let share = |right: usize, n: usize| (n > 0).then(|| right as f64 / n as f64);
    Ok(BiasScore {
        concept: reading.concept.to_string(),
        ignored: reading.ignored,
        iou: if either == 0 {
            0.0
        } else {
            both as f64 / either as f64
        },
        reported,
        planted,
        probes: probes.len(),
        accuracy_inside: share(inside_right, inside),
        accuracy_outside: share(outside_right, outside),
    })
}

/// The classifier's class for every probe scene: the highest of `logits`' outputs, whose
/// names are `classes` (outputs with other names are ignored).
pub fn predict(
    model: &dyn TargetModel,
    logits: &str,
    classes: &[String],
    probes: &[(Scene, Shape)],
) -> Result<Vec<Shape>, BiasError> {
    let shapes: Vec<(usize, Shape)> = classes
        .iter()
        .enumerate()
        .filter_map(|(i, name)| {
            Shape::ALL
                .iter()
                .find(|s| s.name() == name)
                .map(|&s| (i, s))
        })
        .collect();
    let units: Vec<usize> = shapes.iter().map(|(i, _)| *i).collect();
    let mut predictions = Vec::with_capacity(probes.len());
    for chunk in probes.chunks(64) {
        let images = chunk
            .iter()
            .map(|(scene, _)| {
                render_png(scene)
                    .map(|png| Image::new(png, "probe"))
                    .map_err(|e| TargetError::Unit(format!("rendering a probe scene: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&Image> = images.iter().collect();
        for maxima in model.unit_maxima(&refs, logits, &units)? {
            let maxima = maxima?;
            let best = maxima
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i);
            predictions.push(shapes.get(best).map_or(Shape::Circle, |(_, s)| *s));
        }
    }
    Ok(predictions)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLANTED_WORDS: &str = "small squares on a black, brown, blue or purple background";

    #[test]
    fn the_planted_subgroup_scores_one_and_a_partial_report_less() -> Result<(), BiasError> {
        let truth = planted_subgroup();
        let probes = probe_scenes(3000, 1);
        let exact = score(PLANTED_WORDS, &truth, &probes, None)?;
        assert!(exact.planted > 20, "{exact:?}");
        assert_eq!(exact.iou, 1.0, "{exact:?}");
        let part = score("small squares on a black background", &truth, &probes, None)?;
        assert!((0.1..0.5).contains(&part.iou), "{part:?}");
        let broad = score("squares", &truth, &probes, None)?;
        assert!(broad.iou < 0.2, "{broad:?}");
        let wrong = score("large circles on a white background", &truth, &probes, None)?;
        assert_eq!(wrong.iou, 0.0);
        assert!(score("zzz qqq", &truth, &probes, None).is_err());
        Ok(())
    }

    #[test]
    fn accuracy_is_split_by_the_reported_subgroup() -> Result<(), BiasError> {
        let truth = planted_subgroup();
        let probes = probe_scenes(2000, 2);
        // A classifier that calls every planted-subgroup scene a circle.
        let predictions: Vec<Shape> = probes
            .iter()
            .map(|(scene, label)| {
                if truth.present_in(scene) {
                    Shape::Circle
                } else {
                    *label
                }
            })
            .collect();
        let s = score(PLANTED_WORDS, &truth, &probes, Some(&predictions))?;
        assert_eq!(s.accuracy_inside, Some(0.0));
        assert_eq!(s.accuracy_outside, Some(1.0));
        Ok(())
    }
}
