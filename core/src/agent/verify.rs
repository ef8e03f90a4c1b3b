//! `--verify K` (best-of-k before answering; MAIA's paper names confirmation bias as its
//! agent's failure): a final answer and up to K-1 alternatives the agent lists are scored
//! with the run's evaluator on fresh images before the answer is accepted. The first time,
//! the agent is shown the scores and may experiment once more; the next final answer is
//! scored too and the best of every candidate is kept.

use crate::eval::{Evaluator, ImageRenderer, ScoreConfig, Scorer, UnitProbe};
use maia_run::event::{Usage, VerifiedCandidate};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What the system prompt says in a verified run; the offline experimenter lists
/// alternatives when it sees it.
pub const VERIFY_MARKER: &str = "Before your final answer is accepted";

/// The system prompt's addition for `--verify K`.
pub fn verify_prompt(k: u32) -> String {
    format!(
        "{VERIFY_MARKER}, it is scored on fresh images together with up to {} alternative \
         description{} you list in `final_answer`'s `alternatives`; you are shown the scores \
         once and may experiment further before answering again, and the best-scoring \
         description is kept.",
        k.saturating_sub(1),
        if k == 2 { "" } else { "s" }
    )
}

/// One candidate's verification.
#[derive(Clone, Debug, PartialEq)]
pub struct Verified {
    /// Pearson r of the description's prompts with the unit's activations, or why not.
    pub score: Result<f64, String>,
    /// Tokens the evaluator's model used.
    pub usage: Usage,
    /// What they cost.
    pub cost_usd: f64,
}

/// Scores a candidate description on fresh images.
pub trait Verifier: Send + Sync {
    /// Scores `description` on the images of `seed`.
    fn score<'a>(
        &'a self,
        description: &'a str,
        seed: u64,
    ) -> Pin<Box<dyn Future<Output = Verified> + Send + 'a>>;
}

/// Prompts per side a verification draws.
pub const VERIFY_N: usize = 10;

/// The first scoring seed of verifications (fresh: neither the agent's seeds nor the
/// final evaluation's).
pub const VERIFY_SEED_BASE: u64 = 7_000;

/// A [`Verifier`] that scores as `maia eval score` does: an evaluator writes the prompts,
/// the renderer draws them, the unit runs on them.
pub struct ScoreVerifier {
    renderer: Arc<dyn ImageRenderer>,
    evaluator: Arc<dyn Evaluator>,
    unit: Arc<dyn UnitProbe>,
    /// The scorer of the latest seed: the candidates of one verification share it, so its
    /// probe images are drawn and run once per verification, not once per candidate.
    scorer: std::sync::Mutex<Option<(u64, Arc<Scorer>)>>,
    image_price_usd: f64,
}

impl ScoreVerifier {
    /// A verifier of `unit` with `evaluator`, drawing with `renderer`.
    pub fn new(
        renderer: Arc<dyn ImageRenderer>,
        evaluator: Arc<dyn Evaluator>,
        unit: Arc<dyn UnitProbe>,
    ) -> Self {
        ScoreVerifier {
            renderer,
            evaluator,
            unit,
            scorer: std::sync::Mutex::new(None),
            image_price_usd: 0.0,
        }
    }

    /// Prices the images each verification draws (a paid image source).
    pub fn with_image_price(mut self, usd_per_image: f64) -> Self {
        self.image_price_usd = usd_per_image;
        self
    }

    fn scorer(&self, seed: u64) -> Arc<Scorer> {
        let mut latest = self
            .scorer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match &*latest {
            Some((s, scorer)) if *s == seed => scorer.clone(),
            _ => {
                let scorer = Arc::new(
                    Scorer::new(
                        self.renderer.clone(),
                        ScoreConfig {
                            n: VERIFY_N,
                            seed: VERIFY_SEED_BASE + seed,
                            probe_images: 32,
                            probe_catalogue: false,
                        },
                    )
                    .with_image_price(self.image_price_usd),
                );
                *latest = Some((seed, scorer.clone()));
                scorer
            }
        }
    }
}

impl Verifier for ScoreVerifier {
    fn score<'a>(
        &'a self,
        description: &'a str,
        seed: u64,
    ) -> Pin<Box<dyn Future<Output = Verified> + Send + 'a>> {
        Box::pin(async move {
            let scorer = self.scorer(seed);
            let score = scorer
                .score(description, self.evaluator.as_ref(), self.unit.clone())
                .await;
            let result = match (&score.failure, score.dead, score.pearson) {
                (Some(f), _, _) => Err(f.reason.clone()),
                // Not one of the description's images (nor the few probes) moved the unit:
                // the description predicts nothing.
                (None, true, _) => Ok(0.0),
                (None, false, Some(r)) => Ok(r),
                (None, false, None) => Err("no correlation could be computed".into()),
            };
            Verified {
                score: result,
                usage: score.evaluator_usage,
                cost_usd: Scorer::cost_of(&score),
            }
        })
    }
}

/// The candidates of one final answer: the description, then its alternatives, without
/// repeats or blanks, at most `k`.
pub fn candidates(
    description: &str,
    label: &str,
    alternatives: &[String],
    k: usize,
) -> Vec<VerifiedCandidate> {
    let mut out: Vec<VerifiedCandidate> = Vec::new();
    let first = std::iter::once((description, label));
    let rest = alternatives.iter().map(|a| (a.as_str(), ""));
    for (text, label) in first.chain(rest) {
        let text = text.trim();
        if text.is_empty() || out.iter().any(|c| c.description.eq_ignore_ascii_case(text)) {
            continue;
        }
        out.push(VerifiedCandidate {
            description: text.to_owned(),
            label: label.trim().to_owned(),
            score: None,
            failure: None,
            usage: Usage::default(),
            cost_usd: 0.0,
        });
        if out.len() == k.max(1) {
            break;
        }
    }
    out
}

/// The index of the best-scoring candidate (unscored ones last; the first wins ties).
pub fn best(candidates: &[VerifiedCandidate]) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, c) in candidates.iter().enumerate() {
        let s = c.score.unwrap_or(f64::NEG_INFINITY);
        if best.is_none_or(|(_, b)| s > b) {
            best = Some((i, s));
        }
    }
    best.map(|(i, _)| i)
}

/// What the agent is told after the first verification.
pub fn scores_message(candidates: &[VerifiedCandidate]) -> String {
    let mut text = String::from(
        "Your final answer is not accepted yet. Each candidate was scored on fresh images \
         (Pearson r of the description's prompts with the unit's activations):\n",
    );
    for c in candidates {
        match (c.score, &c.failure) {
            (Some(r), _) => text.push_str(&format!("- {:.3}  {}\n", r, c.description)),
            (None, Some(why)) => {
                text.push_str(&format!("- not scored ({why})  {}\n", c.description))
            }
            (None, None) => text.push_str(&format!("- not scored  {}\n", c.description)),
        }
    }
    text.push_str(
        "You may run one more round of experiments, then call `final_answer` again (with \
         `alternatives`); the best-scoring description of all is kept.",
    );
    text
}

/// One verification as text, for the headless log, the transcript and the report: a
/// headline, then each candidate's score, the best starred.
pub fn describe(candidates: &[VerifiedCandidate], best: Option<usize>, accepted: bool) -> String {
    let mut text = if accepted {
        String::from("answer verified on fresh images; the best candidate of all is kept")
    } else {
        String::from("answer verified on fresh images; the scores went back to the agent")
    };
    for (i, c) in candidates.iter().enumerate() {
        let mark = if Some(i) == best { "★" } else { " " };
        let score = match (c.score, &c.failure) {
            (Some(r), _) => format!("{r:.3}"),
            (None, Some(why)) => format!("not scored: {why}"),
            (None, None) => "not scored".to_owned(),
        };
        text.push_str(&format!("\n{mark} {score}  {}", c.description));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_drop_repeats_and_keep_at_most_k_and_the_best_wins() {
        let alts = vec![
            "Red Circles".to_owned(),
            " ".into(),
            "circles".into(),
            "stars".into(),
        ];
        let mut c = candidates("red circles", "red circle", &alts, 3);
        let texts: Vec<&str> = c.iter().map(|c| c.description.as_str()).collect();
        assert_eq!(texts, ["red circles", "circles", "stars"]);
        assert_eq!(c[0].label, "red circle");
        c[1].score = Some(0.9);
        c[2].score = Some(0.4);
        assert_eq!(best(&c), Some(1));
        c[1].score = None;
        assert_eq!(best(&c), Some(2));
        assert!(scores_message(&c).contains("0.400  stars"));
    }
}
