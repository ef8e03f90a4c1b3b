//! From result lines to numbers: per unit kind and method, the means with 95 % intervals
//! ([`crate::eval::summarize`]'s rules), dead units counted apart, and the markdown
//! `summary.md` shows.

use super::Method;
use super::results::ResultLine;
use crate::eval::metrics::{MeanCi, mean_ci};
use crate::eval::{FailureKind, Summary, summarize};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Coverage of every interval reported.
pub const LEVEL: f64 = 0.95;

/// The name of the row that pools every kind.
pub const ALL: &str = "all";

/// One method's numbers over the live units of one kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MethodSummary {
    /// The method.
    pub method: Method,
    /// Predictive scores: Pearson, AUPRC, F1 (dead units left out beforehand).
    pub summary: Summary,
    /// Ground truth: IoU of the described and the true concept (a description that
    /// cannot be read counts 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truth_iou: Option<MeanCi>,
    /// Ground truth: phi coefficient of the two concepts (unreadable: 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truth_phi: Option<MeanCi>,
    /// CoSy's AUC (positive images against the dataset control), over scored units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cosy_auc: Option<MeanCi>,
    /// CoSy's MAD, over scored units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cosy_mad: Option<MeanCi>,
    /// Dataset simulation: mean correlation of the simulator's ratings with the unit's
    /// activations over both halves (`--simulate`; failed simulations left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulation: Option<MeanCi>,
    /// Mean seconds to write a description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<MeanCi>,
    /// Dollars spent on the kind.
    pub cost_usd: f64,
    /// Tokens the evaluator's model used to score the kind's descriptions (MAIA's
    /// protocol; none with the world evaluator).
    #[serde(default)]
    pub scoring_tokens: u64,
    /// What scoring them cost.
    #[serde(default)]
    pub scoring_cost_usd: f64,
}

/// One unit kind (or layer, or [`ALL`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KindSummary {
    /// `mono`, `or`, `and`, `andnot`, a layer name, or [`ALL`].
    pub kind: String,
    /// Units of the kind with results.
    pub units: usize,
    /// Units that never fired (left out of every mean).
    pub dead: usize,
    /// Their addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dead_units: Vec<String>,
    /// Per method, in [`Method::ALL`] order.
    pub methods: Vec<MethodSummary>,
}

impl KindSummary {
    /// The numbers of one method.
    pub fn method(&self, method: Method) -> Option<&MethodSummary> {
        self.methods.iter().find(|m| m.method == method)
    }
}

/// Whether a unit is dead: any of its scores found it never firing. (The probe set makes
/// deadness a property of the unit, so the methods agree; one that did not see it fire
/// is enough to leave it out of every method's mean alike.)
pub fn unit_dead(lines: &[ResultLine]) -> bool {
    lines.iter().any(|l| l.score.dead)
}

fn method_summary(method: Method, units: &[&Vec<ResultLine>]) -> MethodSummary {
    let lines: Vec<&ResultLine> = units
        .iter()
        .filter_map(|lines| lines.iter().find(|l| l.method == method))
        .collect();
    let scores: Vec<_> = lines.iter().map(|l| l.score.clone()).collect();
    let truth_column = |f: fn(&crate::eval::TruthScore) -> Option<f64>| -> Option<MeanCi> {
        let values: Vec<f64> = lines
            .iter()
            .filter_map(|l| match (&l.truth, &l.truth_failure) {
                (Some(t), _) => Some(f(t).unwrap_or(0.0)),
                (None, Some(f)) if f.kind == FailureKind::Description => Some(0.0),
                _ => None,
            })
            .collect();
        mean_ci(&values, LEVEL)
    };
    let seconds: Vec<f64> = lines.iter().map(|l| l.seconds).collect();
    let cosy = |f: fn(&crate::eval::Score) -> Option<f64>| -> Option<MeanCi> {
        let values: Vec<f64> = scores
            .iter()
            .filter(|s| s.is_scored())
            .filter_map(f)
            .collect();
        mean_ci(&values, LEVEL)
    };
    MethodSummary {
        cosy_auc: cosy(|s| s.cosy_auc),
        cosy_mad: cosy(|s| s.cosy_mad),
        simulation: {
            let values: Vec<f64> = lines
                .iter()
                .filter_map(|l| l.simulation.as_ref()?.all)
                .collect();
            mean_ci(&values, LEVEL)
        },
        method,
        summary: summarize(&scores, LEVEL),
        truth_iou: truth_column(|t| t.iou),
        truth_phi: truth_column(|t| t.pearson),
        seconds: mean_ci(&seconds, LEVEL),
        cost_usd: lines.iter().map(|l| l.cost_usd).sum(),
        scoring_tokens: lines.iter().map(|l| l.score.evaluator_usage.total()).sum(),
        scoring_cost_usd: lines
            .iter()
            .map(|l| crate::eval::Scorer::cost_of(&l.score))
            .sum(),
    }
}

fn kind_summary(kind: &str, units: &[&Vec<ResultLine>]) -> KindSummary {
    let (dead, live): (Vec<&Vec<ResultLine>>, Vec<&Vec<ResultLine>>) =
        units.iter().partition(|lines| unit_dead(lines));
    KindSummary {
        kind: kind.to_owned(),
        units: units.len(),
        dead: dead.len(),
        dead_units: dead
            .iter()
            .filter_map(|lines| lines.first().map(|l| l.unit.clone()))
            .collect(),
        methods: Method::ALL
            .iter()
            .map(|&m| method_summary(m, &live))
            .collect(),
    }
}

/// Per kind (in `kinds` order, then any other kind met, then [`ALL`]), the summary of
/// the complete units given (each its lines in method order).
pub fn summarize_kinds(
    units: &BTreeMap<String, Vec<ResultLine>>,
    kinds: &[String],
) -> Vec<KindSummary> {
    let mut order: Vec<String> = kinds.to_vec();
    for lines in units.values() {
        if let Some(first) = lines.first()
            && !order.contains(&first.kind)
        {
            order.push(first.kind.clone());
        }
    }
    let mut out: Vec<KindSummary> = order
        .iter()
        .filter_map(|kind| {
            let of_kind: Vec<&Vec<ResultLine>> = units
                .values()
                .filter(|lines| lines.first().is_some_and(|l| &l.kind == kind))
                .collect();
            (!of_kind.is_empty()).then(|| kind_summary(kind, &of_kind))
        })
        .collect();
    if out.len() > 1 {
        let all: Vec<&Vec<ResultLine>> = units.values().collect();
        out.push(kind_summary(ALL, &all));
    }
    out
}

/// `0.83 ± 0.05`, or `—`.
pub fn cell(value: Option<&MeanCi>) -> String {
    match value {
        Some(m) if m.n > 1 => format!("{:.3} ± {:.3}", m.mean, m.half_width()),
        Some(m) => format!("{:.3}", m.mean),
        None => "—".to_owned(),
    }
}

/// The headline table: mean predictive correlation per kind, the three methods side by
/// side.
pub fn pearson_table(kinds: &[KindSummary]) -> String {
    let mut out = String::from(
        "| kind | units | dead | agent | exemplar-only baseline | random control |\n|---|---:|---:|---:|---:|---:|\n",
    );
    for k in kinds {
        let p = |m: Method| cell(k.method(m).and_then(|s| s.summary.pearson.as_ref()));
        let name = if k.kind == ALL {
            format!("**{ALL}**")
        } else {
            k.kind.clone()
        };
        out.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {} |\n",
            k.units,
            k.dead,
            p(Method::Agent),
            p(Method::Baseline),
            p(Method::Control)
        ));
    }
    out
}

/// Dataset simulation per kind: the agent's, the baseline's and the control's mean
/// correlation of ratings with activations; `None` when no description was simulated.
pub fn simulation_table(kinds: &[KindSummary]) -> Option<String> {
    if !kinds
        .iter()
        .any(|k| k.methods.iter().any(|m| m.simulation.is_some()))
    {
        return None;
    }
    let mut out = String::from("| kind | agent | baseline | control |\n|---|---:|---:|---:|\n");
    for k in kinds {
        let get = |m: Method| cell(k.method(m).and_then(|s| s.simulation.as_ref()));
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            k.kind,
            get(Method::Agent),
            get(Method::Baseline),
            get(Method::Control)
        ));
    }
    Some(out)
}

/// CoSy's metrics (Kopf et al., NeurIPS 2024) per kind: AUC and MAD of the agent's, the
/// baseline's and the control's positive images against the dataset control.
pub fn cosy_table(kinds: &[KindSummary]) -> String {
    let mut out = String::from(
        "| kind | agent AUC | agent MAD | baseline AUC | baseline MAD | control AUC | control MAD |\n|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for k in kinds {
        let get = |m: Method, auc: bool| {
            cell(k.method(m).and_then(|s| {
                if auc {
                    s.cosy_auc.as_ref()
                } else {
                    s.cosy_mad.as_ref()
                }
            }))
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            k.kind,
            get(Method::Agent, true),
            get(Method::Agent, false),
            get(Method::Baseline, true),
            get(Method::Baseline, false),
            get(Method::Control, true),
            get(Method::Control, false)
        ));
    }
    out
}

/// One kind's table: every metric of every method.
pub fn kind_table(k: &KindSummary, with_truth: bool) -> String {
    let mut out = format!(
        "### {} ({} units, {} dead{})\n\n",
        k.kind,
        k.units,
        k.dead,
        if k.dead_units.is_empty() {
            String::new()
        } else {
            format!(": {}", k.dead_units.join(", "))
        }
    );
    out.push_str("| method | n | Pearson | AUPRC | F1 |");
    if with_truth {
        out.push_str(" truth IoU | truth phi |");
    }
    let with_scoring = k
        .methods
        .iter()
        .any(|m| m.scoring_tokens > 0 || m.scoring_cost_usd > 0.0);
    out.push_str(" failed | s / unit | $ |");
    if with_scoring {
        out.push_str(" scoring tokens | scoring $ |");
    }
    out.push_str("\n|---|---:|---:|---:|---:|");
    if with_truth {
        out.push_str("---:|---:|");
    }
    out.push_str("---:|---:|---:|");
    if with_scoring {
        out.push_str("---:|---:|");
    }
    out.push('\n');
    for m in &k.methods {
        let s = &m.summary;
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |",
            m.method.title(),
            s.pearson.as_ref().map_or(0, |p| p.n),
            cell(s.pearson.as_ref()),
            cell(s.auprc.as_ref()),
            cell(s.f1.as_ref()),
        ));
        if with_truth {
            out.push_str(&format!(
                " {} | {} |",
                cell(m.truth_iou.as_ref()),
                cell(m.truth_phi.as_ref())
            ));
        }
        out.push_str(&format!(
            " {} | {} | {:.4} |",
            s.failed_description + s.failed_other,
            m.seconds
                .as_ref()
                .map_or_else(|| "—".to_owned(), |t| format!("{:.1}", t.mean)),
            m.cost_usd
        ));
        if with_scoring {
            out.push_str(&format!(
                " {} | {:.4} |",
                m.scoring_tokens, m.scoring_cost_usd
            ));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(unit: &str, kind: &str, method: Method, pearson: f64, dead: bool) -> ResultLine {
        let mut line = ResultLine::sample(unit, kind, method, "x", pearson);
        if dead {
            line.score.dead = true;
            line.score.pearson = None;
            line.score.auprc = None;
            line.score.f1 = None;
        }
        line
    }

    fn unit(name: &str, kind: &str, values: [f64; 3], dead: bool) -> (String, Vec<ResultLine>) {
        (
            name.to_owned(),
            Method::ALL
                .iter()
                .zip(values)
                .map(|(&m, v)| line(name, kind, m, v, dead))
                .collect(),
        )
    }

    #[test]
    fn dead_units_are_counted_and_left_out_of_every_mean() {
        let units: BTreeMap<String, Vec<ResultLine>> = [
            unit("u1", "and", [0.9, 0.5, 0.1], false),
            unit("u2", "and", [0.7, 0.3, -0.1], false),
            unit("u3", "and", [0.0, 0.0, 0.0], true),
            unit("u4", "mono", [1.0, 1.0, 0.0], false),
        ]
        .into_iter()
        .collect();
        let kinds = summarize_kinds(&units, &["mono".into(), "and".into()]);
        let names: Vec<&str> = kinds.iter().map(|k| k.kind.as_str()).collect();
        assert_eq!(names, ["mono", "and", ALL]);
        let and = &kinds[1];
        assert_eq!((and.units, and.dead), (3, 1));
        assert_eq!(and.dead_units, ["u3"]);
        let agent = and.method(Method::Agent).and_then(|m| m.summary.pearson);
        assert!(agent.is_some_and(|p| (p.mean - 0.8).abs() < 1e-12 && p.n == 2));
        let table = pearson_table(&kinds);
        assert!(table.contains("| and | 3 | 1 | 0.800 ± "), "{table}");
        assert!(
            table.contains("| mono | 1 | 0 | 1.000 | 1.000 | 0.000 |"),
            "{table}"
        );
        assert!(kind_table(and, false).contains("dead: u3"));
    }
}
