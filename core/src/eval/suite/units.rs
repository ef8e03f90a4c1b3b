//! Which units a suite evaluates: the synthetic catalogue (a sample spread over the four
//! kinds) or units of one layer of a real model.

use crate::target::{SYNTHETIC_LAYER, TargetModel, UnitRef};
use maia_shapes_world::{Concept, UnitKind, catalogue};
use serde::{Deserialize, Serialize};

/// The target spec the synthetic suite runs on: the whole catalogue as one layer, so a
/// unit's address (`synthetic:40`) says nothing about its concept to a model reading the
/// task, and any run can be reopened with `maia resume` or scored with `maia report`.
pub const SYNTHETIC_TARGET: &str = "synthetic:all";

/// The order kinds are reported in.
pub const SYNTHETIC_KINDS: [UnitKind; 4] = [
    UnitKind::Mono,
    UnitKind::Or,
    UnitKind::And,
    UnitKind::AndNot,
];

/// One unit of a suite.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuiteUnit {
    /// Its address in the suite's target (`synthetic:40`, `conv3:7`).
    pub unit: UnitRef,
    /// What to call it in tables (`red_and_circle`, `conv3:7`); never shown to the agent.
    pub name: String,
    /// The group it is reported in: `mono`, `or`, `and`, `andnot`, or a layer name.
    pub kind: String,
    /// The ground-truth concept, for synthetic units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truth: Option<Concept>,
    /// The ground truth in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truth_said: Option<String>,
}

impl SuiteUnit {
    /// A folder-safe name for the unit's files (`synthetic-40`).
    pub fn slug(&self) -> String {
        crate::batch::unit_slug(&self.unit)
    }
}

/// A permutation of `0..len` that visits the range evenly (a golden-ratio stride), so
/// the first few picks of a kind cover its shapes, colors and textures alike.
fn spread(len: usize) -> Vec<usize> {
    if len == 0 {
        return Vec::new();
    }
    let gcd = |mut a: usize, mut b: usize| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    let mut stride = ((len as f64) * 0.618).round().max(1.0) as usize;
    while gcd(stride, len) != 1 {
        stride += 1;
    }
    (0..len).map(|i| (i * stride) % len).collect()
}

fn synthetic(index: usize, unit: &maia_shapes_world::SyntheticUnit) -> SuiteUnit {
    SuiteUnit {
        unit: UnitRef {
            layer: SYNTHETIC_LAYER.into(),
            unit: index,
        },
        name: unit.name.clone(),
        kind: unit.kind.name().to_owned(),
        truth: Some(unit.concept.clone()),
        truth_said: Some(unit.description.clone()),
    }
}

/// `n` units of the synthetic catalogue (all of them when `n` is `None` or too large),
/// taken in turn from each kind — mono, OR, AND, AND-NOT — until a kind runs out, so a
/// small suite has every kind and a large one every non-mono unit. The same `n` always
/// gives the same units, in catalogue order.
pub fn synthetic_units(n: Option<usize>) -> Vec<SuiteUnit> {
    let all = catalogue();
    let mut queues: Vec<Vec<usize>> = SYNTHETIC_KINDS
        .iter()
        .map(|kind| {
            let of_kind: Vec<usize> = (0..all.len()).filter(|&i| all[i].kind == *kind).collect();
            let mut order: Vec<usize> = spread(of_kind.len())
                .into_iter()
                .map(|i| of_kind[i])
                .collect();
            order.reverse(); // popped from the back
            order
        })
        .collect();
    let want = n.unwrap_or(all.len()).min(all.len());
    let mut picked = Vec::with_capacity(want);
    while picked.len() < want && queues.iter().any(|q| !q.is_empty()) {
        for queue in &mut queues {
            if picked.len() < want
                && let Some(i) = queue.pop()
            {
                picked.push(i);
            }
        }
    }
    picked.sort_unstable();
    picked.into_iter().map(|i| synthetic(i, &all[i])).collect()
}

/// Catalogue units by name (`red_and_circle`) or index (`40`), in the order given.
pub fn synthetic_named(names: &[String]) -> Result<Vec<SuiteUnit>, String> {
    let all = catalogue();
    names
        .iter()
        .map(|name| {
            let name = name.trim();
            let index = name
                .strip_prefix("synthetic:")
                .unwrap_or(name)
                .parse::<usize>()
                .ok()
                .filter(|&i| i < all.len())
                .or_else(|| all.iter().position(|u| u.name == name));
            index.map(|i| synthetic(i, &all[i])).ok_or_else(|| {
                format!(
                    "no synthetic unit `{name}`: give a catalogue name or an index below {} (see `maia world units`)",
                    all.len()
                )
            })
        })
        .collect()
}

/// Units of `layer` of `model`: the ones listed, or `n` spread evenly over the layer
/// (`0, len/n, 2·len/n, …`).
pub fn layer_units(
    model: &dyn TargetModel,
    layer: &str,
    units: &[usize],
    n: usize,
) -> Result<Vec<SuiteUnit>, String> {
    let info = model.info();
    let Some(found) = info.layer(layer) else {
        let names: Vec<String> = info
            .layers
            .iter()
            .map(|l| format!("{} ({} units)", l.name, l.units))
            .collect();
        return Err(format!(
            "{} has no layer `{layer}`; its layers: {}",
            info.name,
            names.join(", ")
        ));
    };
    let indices: Vec<usize> = if units.is_empty() {
        let n = n.clamp(1, found.units.max(1));
        (0..n).map(|i| i * found.units / n).collect()
    } else {
        units.to_vec()
    };
    indices
        .into_iter()
        .map(|unit| {
            let address = UnitRef {
                layer: layer.to_owned(),
                unit,
            };
            address.validate(info).map_err(|e| e.to_string())?;
            Ok(SuiteUnit {
                name: address.to_string(),
                unit: address,
                kind: layer.to_owned(),
                truth: None,
                truth_said: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn kinds(units: &[SuiteUnit]) -> HashMap<String, usize> {
        let mut count = HashMap::new();
        for u in units {
            *count.entry(u.kind.clone()).or_insert(0) += 1;
        }
        count
    }

    #[test]
    fn small_suites_have_every_kind_and_large_ones_every_combination() {
        let four = synthetic_units(Some(4));
        assert_eq!(kinds(&four).len(), 4, "{four:?}");
        let sixty = synthetic_units(Some(60));
        assert_eq!(sixty.len(), 60);
        let count = kinds(&sixty);
        let all = kinds(&synthetic_units(None));
        for kind in ["or", "and", "andnot"] {
            assert_eq!(count[kind], all[kind], "{kind}");
        }
        assert_eq!(synthetic_units(Some(60)), sixty);
        // Every unit's address finds its own concept.
        for u in &sixty {
            assert_eq!(
                crate::eval::synthetic_truth(SYNTHETIC_TARGET, &u.unit),
                u.truth
            );
        }
        let mono: Vec<&str> = sixty
            .iter()
            .filter(|u| u.kind == "mono")
            .map(|u| u.name.as_str())
            .collect();
        assert!(
            mono.contains(&"circle") && mono.contains(&"red"),
            "{mono:?}"
        );
    }

    #[test]
    fn units_are_found_by_name_or_index() {
        let units = synthetic_named(&["red_and_circle".into(), "synthetic:0".into()])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(units[0].name, "red_and_circle");
        assert_eq!(units[0].kind, "and");
        assert_eq!(units[1].unit.unit, 0);
        assert_eq!(units[0].slug(), format!("synthetic-{}", units[0].unit.unit));
        let err = synthetic_named(&["purple_unicorn".into()]).err();
        assert!(err.is_some_and(|e| e.contains("maia world units")));
    }

    #[test]
    fn spread_is_a_permutation() {
        for len in 1..40 {
            let mut order = spread(len);
            order.sort_unstable();
            assert_eq!(order, (0..len).collect::<Vec<_>>());
        }
    }
}
