//! Two evaluations of the same descriptions set side by side: how far two evaluators (the
//! shapes world's and a language model's, MAIA's protocol) agree. Lines are joined on unit
//! and method; a pair counts only when both describe the unit with the same words and both
//! were scored, so the comparison isolates the evaluator.

use super::{Method, ResultLine};
use crate::eval::metrics;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Agreement over one set of description pairs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    /// The method (`None`: every method together).
    pub method: Option<Method>,
    /// Descriptions scored by both.
    pub pairs: usize,
    /// Pearson correlation of the two evaluations' Pearson scores.
    pub pearson: Option<f64>,
    /// Spearman rank correlation of them (ties share their mean rank).
    pub spearman: Option<f64>,
    /// Mean absolute difference.
    pub mean_abs_diff: Option<f64>,
    /// Mean score in each evaluation.
    pub mean_a: Option<f64>,
    /// In the other.
    pub mean_b: Option<f64>,
}

/// The whole comparison.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Per method, then all together.
    pub agreements: Vec<Agreement>,
    /// Units where both evaluations rank the agent's description against the random
    /// control's the same way, of those where both scored both.
    pub same_order: usize,
    /// Units where both scored both.
    pub ordered_units: usize,
    /// Lines left out: in one evaluation only, different words, or not scored in one.
    pub unmatched: usize,
}

/// Compares evaluation `a` with `b`.
pub fn compare(a: &[ResultLine], b: &[ResultLine]) -> Comparison {
    let key = |l: &ResultLine| (l.unit.clone(), l.method);
    let b_by: HashMap<(String, Method), &ResultLine> = b.iter().map(|l| (key(l), l)).collect();
    let score = |l: &ResultLine| l.score.counted().map(|(p, _, _)| p);
    let mut pairs: Vec<(Method, String, f64, f64)> = Vec::new();
    let mut unmatched = b.len().saturating_sub(a.len());
    for line in a {
        let other = b_by.get(&key(line));
        match other.filter(|o| o.description == line.description && !o.description.is_empty()) {
            Some(o) => match (score(line), score(o)) {
                (Some(x), Some(y)) => pairs.push((line.method, line.unit.clone(), x, y)),
                _ => unmatched += 1,
            },
            None => unmatched += 1,
        }
    }
    let agreement = |method: Option<Method>| {
        let (xs, ys): (Vec<f64>, Vec<f64>) = pairs
            .iter()
            .filter(|p| method.is_none_or(|m| p.0 == m))
            .map(|p| (p.2, p.3))
            .unzip();
        let diffs: Vec<f64> = xs.iter().zip(&ys).map(|(x, y)| (x - y).abs()).collect();
        Agreement {
            method,
            pairs: xs.len(),
            pearson: metrics::pearson(&xs, &ys),
            spearman: metrics::pearson(&ranks(&xs), &ranks(&ys)),
            mean_abs_diff: metrics::mean(&diffs),
            mean_a: metrics::mean(&xs),
            mean_b: metrics::mean(&ys),
        }
    };
    let mut agreements: Vec<Agreement> = Method::ALL.iter().map(|&m| agreement(Some(m))).collect();
    agreements.push(agreement(None));
    let find = |unit: &str, method: Method| {
        pairs
            .iter()
            .find(|p| p.1 == unit && p.0 == method)
            .map(|p| (p.2, p.3))
    };
    let (mut same_order, mut ordered_units) = (0, 0);
    let mut units: Vec<&String> = pairs.iter().map(|p| &p.1).collect();
    units.sort();
    units.dedup();
    for unit in units {
        if let (Some(agent), Some(control)) =
            (find(unit, Method::Agent), find(unit, Method::Control))
        {
            ordered_units += 1;
            if order(agent.0, control.0) == order(agent.1, control.1) {
                same_order += 1;
            }
        }
    }
    Comparison {
        agreements,
        same_order,
        ordered_units,
        unmatched,
    }
}

/// -1, 0 or 1 as `x` is below, level with (within 1e-9) or above `y`.
fn order(x: f64, y: f64) -> i8 {
    if (x - y).abs() < 1e-9 {
        0
    } else if x > y {
        1
    } else {
        -1
    }
}

/// Ranks from 1, ties sharing their mean rank.
fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut out = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        let rank = (start + end + 1) as f64 / 2.0;
        for &i in &order[start..end] {
            out[i] = rank;
        }
        start = end;
    }
    out
}

/// The comparison as markdown: a table per method and all together.
pub fn markdown(c: &Comparison, a: &str, b: &str) -> String {
    let n = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), |v| format!("{v:.3}"));
    let mut out = format!(
        "Agreement of two evaluations of the same descriptions (Pearson r of each description's score): A = {a}, B = {b}.\n\n| method | pairs | mean A | mean B | Pearson | Spearman | mean abs diff |\n|---|---:|---:|---:|---:|---:|---:|\n"
    );
    for g in &c.agreements {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            g.method.map_or("all", Method::title),
            g.pairs,
            n(g.mean_a),
            n(g.mean_b),
            n(g.pearson),
            n(g.spearman),
            n(g.mean_abs_diff)
        ));
    }
    out.push_str(&format!(
        "\nAgent above or below the random control the same way in both: {} of {} units. Left out (in one only, different words, or unscored in one): {}.\n",
        c.same_order, c.ordered_units, c.unmatched
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(unit: &str, method: Method, description: &str, pearson: f64) -> ResultLine {
        ResultLine::sample(unit, "mono", method, description, pearson)
    }

    #[test]
    fn pairs_join_on_unit_method_and_words() {
        let a = vec![
            line("u1", Method::Agent, "red", 0.9),
            line("u1", Method::Control, "blue", 0.1),
            line("u2", Method::Agent, "star", 0.8),
            line("u2", Method::Control, "dots", 0.2),
            line("u3", Method::Agent, "only in a", 0.5),
        ];
        let b = vec![
            line("u1", Method::Agent, "red", 0.7),
            line("u1", Method::Control, "blue", 0.0),
            line("u2", Method::Agent, "star", 0.3),
            line("u2", Method::Control, "dots", 0.3),
            line("u3", Method::Agent, "other words", 0.5),
        ];
        let c = compare(&a, &b);
        let all = c.agreements.last().expect("all");
        assert_eq!(all.method, None);
        assert_eq!(all.pairs, 4);
        assert_eq!(c.unmatched, 1, "u3's words differ");
        assert_eq!((c.same_order, c.ordered_units), (1, 2));
        let diff = all.mean_abs_diff.expect("diff");
        assert!((diff - (0.2 + 0.1 + 0.5 + 0.1) / 4.0).abs() < 1e-12);
        assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
        let md = markdown(&c, "world", "llm");
        assert!(md.contains("| all | 4 |"), "{md}");
    }
}
