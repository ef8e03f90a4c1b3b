//! The numbers a score is made of: Pearson correlation, average precision (AUPRC), F1 at a
//! threshold chosen on held-out data, intersection over union, and confidence intervals
//! for means (Student's t and a seeded percentile bootstrap).
//!
//! Labels are `bool` (true = positive); scores are activations. Every function returns
//! `None` when its value is undefined (no data, no positives, zero variance, a non-finite
//! input) rather than a NaN that would poison a mean later.

use crate::rng::SplitMix;
use serde::{Deserialize, Serialize};

fn finite(values: &[f64]) -> bool {
    values.iter().all(|v| v.is_finite())
}

/// The arithmetic mean (`None` for no values or a non-finite one).
pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() || !finite(values) {
        return None;
    }
    Some(values.iter().sum::<f64>() / values.len() as f64)
}

/// Pearson's correlation coefficient of `x` and `y`. With `x` the 0/1 labels this is the
/// point-biserial correlation MAIA-style evaluations report. `None` when the lengths
/// differ, there are fewer than two pairs, or either side is constant.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 2 || !finite(x) || !finite(y) {
        return None;
    }
    let mx = mean(x)?;
    let my = mean(y)?;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx <= 0.0 || syy <= 0.0 {
        return None;
    }
    Some((sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0))
}

/// Pearson correlation of boolean labels with scores.
pub fn pearson_labels(labels: &[bool], scores: &[f64]) -> Option<f64> {
    let x: Vec<f64> = labels.iter().map(|&l| f64::from(u8::from(l))).collect();
    pearson(&x, scores)
}

/// Groups of tied scores, highest first: (score, positives, negatives).
fn tied_groups(labels: &[bool], scores: &[f64]) -> Option<Vec<(f64, usize, usize)>> {
    if labels.len() != scores.len() || labels.is_empty() || !finite(scores) {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut groups: Vec<(f64, usize, usize)> = Vec::new();
    for i in order {
        let (s, l) = (scores[i], labels[i]);
        match groups.last_mut() {
            Some(g) if g.0 == s => {
                if l {
                    g.1 += 1;
                } else {
                    g.2 += 1;
                }
            }
            _ => groups.push((s, usize::from(l), usize::from(!l))),
        }
    }
    Some(groups)
}

/// Average precision, the step-wise area under the precision–recall curve (as
/// scikit-learn's `average_precision_score`): Σ (Rₖ − Rₖ₋₁) · Pₖ over the distinct score
/// thresholds, highest first; tied scores enter together. `None` without positives.
pub fn average_precision(labels: &[bool], scores: &[f64]) -> Option<f64> {
    let groups = tied_groups(labels, scores)?;
    let positives = labels.iter().filter(|&&l| l).count();
    if positives == 0 {
        return None;
    }
    let (mut tp, mut fp, mut ap) = (0usize, 0usize, 0.0);
    for (_, pos, neg) in groups {
        tp += pos;
        fp += neg;
        if pos > 0 {
            ap += (pos as f64 / positives as f64) * (tp as f64 / (tp + fp) as f64);
        }
    }
    Some(ap)
}

/// F1 when a score ≥ `threshold` predicts positive. `None` when there are no positives
/// and nothing is predicted positive (F1 is undefined).
pub fn f1_at(labels: &[bool], scores: &[f64], threshold: f64) -> Option<f64> {
    if labels.len() != scores.len() || !finite(scores) {
        return None;
    }
    let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
    for (&l, &s) in labels.iter().zip(scores) {
        match (l, s >= threshold) {
            (true, true) => tp += 1,
            (false, true) => fp += 1,
            (true, false) => fn_ += 1,
            (false, false) => {}
        }
    }
    let denominator = 2 * tp + fp + fn_;
    (denominator > 0).then(|| 2.0 * tp as f64 / denominator as f64)
}

/// The threshold with the highest F1 on some data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct F1Choice {
    /// F1 on the data the threshold was chosen on (optimistic).
    pub f1: f64,
    /// Predict positive when score ≥ this: halfway between the lowest score kept and the
    /// next lower score, so it generalises to scores in between.
    pub threshold: f64,
}

/// The best-F1 rule: of all thresholds that split the data differently, the one with the
/// highest F1 (ties go to the higher threshold). `None` without positives.
pub fn best_f1(labels: &[bool], scores: &[f64]) -> Option<F1Choice> {
    let groups = tied_groups(labels, scores)?;
    let positives = labels.iter().filter(|&&l| l).count();
    if positives == 0 {
        return None;
    }
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut best: Option<F1Choice> = None;
    for (i, &(score, pos, neg)) in groups.iter().enumerate() {
        tp += pos;
        fp += neg;
        let f1 = 2.0 * tp as f64 / (2 * tp + fp + (positives - tp)) as f64;
        let threshold = match groups.get(i + 1) {
            Some(&(lower, _, _)) => (score + lower) / 2.0,
            None => score,
        };
        if best.is_none_or(|b| f1 > b.f1) {
            best = Some(F1Choice { f1, threshold });
        }
    }
    best
}

/// F1 with the threshold chosen on held-out data, by two-fold cross-fitting: the images
/// are split in two halves (alternating within each class, in input order), the best-F1
/// threshold of one half is applied to the other, and the two F1s are averaged. Every
/// image is scored by a threshold that never saw it. With fewer than two positives or two
/// negatives there is nothing to hold out, and the in-sample best F1 is returned.
pub fn cross_fitted_f1(labels: &[bool], scores: &[f64]) -> Option<f64> {
    if labels.len() != scores.len() {
        return None;
    }
    let mut folds: [(Vec<bool>, Vec<f64>); 2] = Default::default();
    let (mut seen_pos, mut seen_neg) = (0usize, 0usize);
    for (&l, &s) in labels.iter().zip(scores) {
        let counter = if l { &mut seen_pos } else { &mut seen_neg };
        let fold = &mut folds[*counter % 2];
        *counter += 1;
        fold.0.push(l);
        fold.1.push(s);
    }
    if seen_pos < 2 || seen_neg < 2 {
        return best_f1(labels, scores).map(|c| c.f1);
    }
    let mut total = 0.0;
    for k in 0..2 {
        let (train, test) = (&folds[1 - k], &folds[k]);
        let threshold = best_f1(&train.0, &train.1)?.threshold;
        total += f1_at(&test.0, &test.1, threshold)?;
    }
    Some(total / 2.0)
}

/// Intersection over union of two boolean sets (`None` when both are empty).
pub fn iou(a: &[bool], b: &[bool]) -> Option<f64> {
    if a.len() != b.len() {
        return None;
    }
    let both = a.iter().zip(b).filter(|(x, y)| **x && **y).count();
    let either = a.iter().zip(b).filter(|(x, y)| **x || **y).count();
    (either > 0).then(|| both as f64 / either as f64)
}

/// CoSy's AUC (Kopf et al., NeurIPS 2024): the probability that an image made from the
/// description activates the unit more than a control image, ties counting half (the
/// Mann–Whitney U over the product of the sizes). `None` when either side is empty.
pub fn cosy_auc(made: &[f64], control: &[f64]) -> Option<f64> {
    if made.is_empty() || control.is_empty() {
        return None;
    }
    let mut sorted = control.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut wins = 0.0;
    for &a in made {
        let below = sorted.partition_point(|&c| c < a);
        let not_above = sorted.partition_point(|&c| c <= a);
        wins += below as f64 + (not_above - below) as f64 / 2.0;
    }
    Some(wins / (made.len() * control.len()) as f64)
}

/// CoSy's MAD: how far the mean activation on images made from the description lies
/// above the control's mean, in the control's standard deviations. `None` when either
/// side is empty or the control is constant.
pub fn cosy_mad(made: &[f64], control: &[f64]) -> Option<f64> {
    let (m, c) = (mean(made)?, mean(control)?);
    let sd = (control.iter().map(|x| (x - c).powi(2)).sum::<f64>() / control.len() as f64).sqrt();
    (sd > 0.0).then(|| (m - c) / sd)
}

/// A mean with a confidence interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeanCi {
    /// The mean.
    pub mean: f64,
    /// Lower end of the interval.
    pub lo: f64,
    /// Upper end of the interval.
    pub hi: f64,
    /// Number of values. With one value the interval has width zero: it says nothing
    /// about spread.
    pub n: usize,
    /// Coverage, e.g. 0.95.
    pub level: f64,
}

impl MeanCi {
    /// Half the interval's width (for "mean ± x" tables).
    pub fn half_width(&self) -> f64 {
        (self.hi - self.lo) / 2.0
    }
}

/// Mean with Student's t interval: mean ± t₍₁₊ₗₑᵥₑₗ₎/₂,ₙ₋₁ · s/√n. `None` for no values, a
/// non-finite one, or a level outside (0, 1).
pub fn mean_ci(values: &[f64], level: f64) -> Option<MeanCi> {
    if !(level > 0.0 && level < 1.0) {
        return None;
    }
    let m = mean(values)?;
    let n = values.len();
    if n == 1 {
        return Some(MeanCi {
            mean: m,
            lo: m,
            hi: m,
            n,
            level,
        });
    }
    let var = values.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (n - 1) as f64;
    let half = student_t_quantile((1.0 + level) / 2.0, (n - 1) as f64) * (var / n as f64).sqrt();
    Some(MeanCi {
        mean: m,
        lo: m - half,
        hi: m + half,
        n,
        level,
    })
}

/// Mean with a percentile-bootstrap interval from `resamples` seeded resamples; no
/// normality assumed, which suits bounded scores such as correlations near 1.
pub fn bootstrap_mean_ci(
    values: &[f64],
    level: f64,
    resamples: usize,
    seed: u64,
) -> Option<MeanCi> {
    if !(level > 0.0 && level < 1.0) || resamples == 0 {
        return None;
    }
    let m = mean(values)?;
    let n = values.len();
    let mut rng = SplitMix::new(seed, 0xB007);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| (0..n).map(|_| values[rng.below(n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let index = ((q * resamples as f64).floor() as usize).min(resamples - 1);
        means[index]
    };
    Some(MeanCi {
        mean: m,
        lo: at((1.0 - level) / 2.0),
        hi: at((1.0 + level) / 2.0),
        n,
        level,
    })
}

/// The `p`-quantile of Student's t distribution with `df` degrees of freedom, by
/// bisection on the CDF (accurate to ~1e-10).
pub fn student_t_quantile(p: f64, df: f64) -> f64 {
    if !(p > 0.0 && p < 1.0) || df <= 0.0 || !df.is_finite() {
        return f64::NAN;
    }
    if p < 0.5 {
        return -student_t_quantile(1.0 - p, df);
    }
    let mut hi = 1.0;
    while student_t_cdf(hi, df) < p && hi < 1e12 {
        hi *= 2.0;
    }
    let mut lo = 0.0;
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if student_t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

/// Student's t CDF: for t ≥ 0, 1 − ½·I_{df/(df+t²)}(df/2, ½).
pub fn student_t_cdf(t: f64, df: f64) -> f64 {
    let tail = 0.5 * incomplete_beta(df / 2.0, 0.5, df / (df + t * t));
    if t >= 0.0 { 1.0 - tail } else { tail }
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularised incomplete beta function I_x(a, b).
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_fraction(b, a, 1.0 - x) / b
    }
}

/// Continued fraction for the incomplete beta (modified Lentz).
fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..300 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() < tol
    }

    #[test]
    fn pearson_by_hand() {
        // x̄ = 3, ȳ = 4; Σdxdy = 6, Σdx² = 10, Σdy² = 6 → r = 6/√60.
        let r = pearson(&[1.0, 2.0, 3.0, 4.0, 5.0], &[2.0, 4.0, 5.0, 4.0, 5.0]);
        assert!(
            r.is_some_and(|r| close(r, 6.0 / 60f64.sqrt(), 1e-12)),
            "{r:?}"
        );
        assert_eq!(pearson(&[1.0, 2.0], &[3.0, 3.0]), None, "constant side");
        assert_eq!(pearson(&[1.0], &[1.0]), None);
        assert_eq!(pearson(&[1.0, f64::NAN], &[1.0, 2.0]), None);
        // Point-biserial: labels 1,1,0,0 vs 0.9,0.7,0.2,0.2: x̄ = ȳ = 0.5,
        // Σdxdy = 0.6, Σdx² = 1, Σdy² = 0.38 → 0.6/√0.38.
        let r = pearson_labels(&[true, true, false, false], &[0.9, 0.7, 0.2, 0.2]);
        assert!(
            r.is_some_and(|r| close(r, 0.6 / 0.38f64.sqrt(), 1e-12)),
            "{r:?}"
        );
    }

    #[test]
    fn average_precision_by_hand() {
        // Ranked: + (P 1, R .5), −, + (P 2/3, R 1), − → .5·1 + .5·2/3 = 5/6.
        let ap = average_precision(&[true, false, true, false], &[0.9, 0.8, 0.7, 0.1]);
        assert!(ap.is_some_and(|a| close(a, 5.0 / 6.0, 1e-12)), "{ap:?}");
        // Perfect ranking → 1; everything tied → the base rate.
        assert_eq!(average_precision(&[true, false], &[1.0, 0.0]), Some(1.0));
        let tied = average_precision(&[true, false, false, false], &[0.5; 4]);
        assert!(tied.is_some_and(|a| close(a, 0.25, 1e-12)));
        // A tie between a positive and a negative at the top: P = 1/2 at R = 1/2,
        // then P = 2/3 at R = 1 → .25 + 1/3.
        let ap = average_precision(&[true, false, true], &[0.9, 0.9, 0.5]);
        assert!(
            ap.is_some_and(|a| close(a, 0.25 + 1.0 / 3.0, 1e-12)),
            "{ap:?}"
        );
        assert_eq!(average_precision(&[false, false], &[0.1, 0.2]), None);
    }

    #[test]
    fn f1_by_hand() {
        let labels = [true, true, false, false, true];
        let scores = [0.9, 0.4, 0.6, 0.1, 0.8];
        // ≥ 0.5: tp 2 (0.9, 0.8), fp 1 (0.6), fn 1 (0.4) → 4/6.
        assert!(f1_at(&labels, &scores, 0.5).is_some_and(|f| close(f, 4.0 / 6.0, 1e-12)));
        // Best: ≥ 0.4 → tp 3, fp 1 → 6/7, threshold halfway to 0.1.
        let best = best_f1(&labels, &scores).unwrap_or(F1Choice {
            f1: 0.0,
            threshold: 0.0,
        });
        assert!(close(best.f1, 6.0 / 7.0, 1e-12), "{best:?}");
        assert!(close(best.threshold, 0.25, 1e-12), "{best:?}");
        assert_eq!(f1_at(&[false], &[0.0], 0.5), None);
    }

    #[test]
    fn cross_fitted_f1_uses_the_other_half() {
        // Positives 0.9, 0.8, 0.7, 0.2; negatives 0.1, 0.3, 0.6, 0.05.
        // Fold 0 = positives 0.9, 0.7 + negatives 0.1, 0.6: best is ≥ 0.7 (F1 1),
        // threshold (0.7 + 0.6)/2 = 0.65.
        // Fold 1 = positives 0.8, 0.2 + negatives 0.3, 0.05: ≥ 0.8 gives 2/3, ≥ 0.3 1/2,
        // ≥ 0.2 4/5 (best), ≥ 0.05 2/3 → threshold (0.2 + 0.05)/2 = 0.125.
        let labels = [true, false, true, false, true, false, true, false];
        let scores = [0.9, 0.1, 0.8, 0.3, 0.7, 0.6, 0.2, 0.05];
        // Fold 0 tested at 0.125: tp 2, fp 1 (0.6) → 4/5. Fold 1 tested at 0.65:
        // tp 1 (0.8), fn 1 → 2/3. Mean 11/15.
        let f1 = cross_fitted_f1(&labels, &scores);
        assert!(
            f1.is_some_and(|f| close(f, (0.8 + 2.0 / 3.0) / 2.0, 1e-12)),
            "{f1:?}"
        );
        // Too few to hold out: the in-sample best.
        assert_eq!(cross_fitted_f1(&[true, false], &[1.0, 0.0]), Some(1.0));
    }

    #[test]
    fn iou_by_hand() {
        assert_eq!(
            iou(&[true, true, false, false], &[true, false, true, false]),
            Some(1.0 / 3.0)
        );
        assert_eq!(iou(&[false], &[false]), None);
    }

    #[test]
    fn t_quantiles_match_tables() {
        for (p, df, want) in [
            (0.975, 1.0, 12.706_204_736),
            (0.975, 4.0, 2.776_445_105),
            (0.95, 10.0, 1.812_461_123),
            (0.975, 30.0, 2.042_272_456),
            (0.5, 7.0, 0.0),
        ] {
            let got = student_t_quantile(p, df);
            assert!(close(got, want, 1e-6), "t({p}, {df}) = {got}, want {want}");
        }
        assert!(close(student_t_quantile(0.025, 4.0), -2.776_445_105, 1e-6));
    }

    #[test]
    fn confidence_intervals() {
        // 1..5: mean 3, s = √2.5, se = √0.5, t(.975, 4) = 2.776445.
        let ci = mean_ci(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.95);
        let ci = ci.unwrap_or(MeanCi {
            mean: 0.0,
            lo: 0.0,
            hi: 0.0,
            n: 0,
            level: 0.0,
        });
        assert!(close(ci.mean, 3.0, 1e-12));
        assert!(
            close(ci.half_width(), 2.776_445_105 * 0.5f64.sqrt(), 1e-6),
            "{ci:?}"
        );
        assert_eq!(mean_ci(&[], 0.95), None);
        assert_eq!(
            mean_ci(&[2.0], 0.95).map(|c| (c.lo, c.hi)),
            Some((2.0, 2.0))
        );
        let boot = bootstrap_mean_ci(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.95, 4000, 1);
        let boot = boot.unwrap_or(ci);
        assert!(
            boot.lo < 3.0 && boot.hi > 3.0 && boot.lo >= 1.0 && boot.hi <= 5.0,
            "{boot:?}"
        );
        assert_eq!(
            bootstrap_mean_ci(&[1.0, 2.0, 3.0], 0.9, 500, 7),
            bootstrap_mean_ci(&[1.0, 2.0, 3.0], 0.9, 500, 7),
            "seeded"
        );
        // Constant values: a zero-width interval either way.
        assert_eq!(mean_ci(&[0.5; 4], 0.95).map(|c| c.half_width()), Some(0.0));
    }

    #[test]
    fn cosy_auc_and_mad_follow_their_definitions() {
        assert_eq!(cosy_auc(&[3.0, 4.0], &[1.0, 2.0]), Some(1.0));
        assert_eq!(cosy_auc(&[0.0], &[1.0, 2.0]), Some(0.0));
        assert_eq!(cosy_auc(&[1.0], &[1.0, 0.0]), Some(0.75));
        assert_eq!(cosy_auc(&[], &[1.0]), None);
        let mad = cosy_mad(&[4.0, 6.0], &[0.0, 2.0]).unwrap_or(f64::NAN);
        assert!((mad - 4.0).abs() < 1e-12, "{mad}");
        assert_eq!(cosy_mad(&[1.0], &[2.0, 2.0]), None);
    }
}
