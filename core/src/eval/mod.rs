//! Evaluation: how well a description predicts what a unit does.
//!
//! MAIA's protocol, with the metrics that pass Neuron_Eval's sanity tests (ICML 2025):
//!
//! 1. an [`Evaluator`] turns the description into N *positive* prompts (images the
//!    description says make the unit fire) and N *neutral* ones (images without the
//!    described concept) — [`WorldEvaluator`] deterministically for the shapes world,
//!    [`LlmEvaluator`] with any [`crate::llm::LlmBackend`];
//! 2. an [`ImageRenderer`] draws them with the same image tool the agent uses
//!    ([`ToolRenderer`]: `text2image` through the [`crate::ToolRegistry`]), on *held-out
//!    seeds* ([`HELD_OUT_SEED_BASE`]) so no evaluation image is one the agent saw;
//! 3. a [`UnitProbe`] runs the unit on them, and [`score`] compares the labels
//!    (positive = 1, neutral = 0) with the activations: Pearson correlation, AUPRC and
//!    cross-fitted F1 ([`metrics`]).
//!
//! Synthetic units can also be scored against their ground-truth concept directly
//! ([`score_against_truth`]), and [`control`] writes random descriptions from the world's
//! vocabulary as a floor. [`summarize`] turns many scores into means with confidence
//! intervals, counting dead units and failures apart.
//!
//! Nothing here keeps global state: a [`Scorer`] owns its renderer and a cache of its probe
//! images, and is shared between concurrent scorings behind an `Arc`.

pub mod control;
mod evaluator;
mod llm_evaluator;
pub mod metrics;
mod probe;
mod render;
pub mod score;
pub mod simulation;
pub mod suite;
pub mod truth;

pub use control::{random_concept, random_description};
pub use evaluator::{EvalFuture, Evaluator, PromptSet, WorldEvaluator};
pub use llm_evaluator::{LlmEvaluator, parse_prompt_reply};
pub use metrics::MeanCi;
pub use probe::{ModelUnit, UnitProbe};
pub use render::{ImageRenderer, Rendered, ToolRenderer};
pub use score::{
    ControlSample, DEFAULT_N, DEFAULT_PROBE_IMAGES, Score, ScoreConfig, Scorer, Summary,
    score_description, summarize,
};
pub use truth::{TruthScore, score_against_truth, synthetic_truth};

use serde::{Deserialize, Serialize};

/// Seeds at or above this are reserved for evaluation: every image the scorer renders
/// uses one ([`held_out_seed`]). Agents, exemplar datasets and demos must draw with
/// seeds below it, so that no evaluation image is an image the agent saw.
pub const HELD_OUT_SEED_BASE: u64 = 1_000_000;

/// Render calls one scoring may make; call `k` of scoring seed `s` draws with
/// [`held_out_seed`]`(s, k)`.
pub const MAX_RENDER_CALLS: u64 = 4096;

/// The seed of render call `call` (below [`MAX_RENDER_CALLS`]) of a scoring with `seed`:
/// `HELD_OUT_SEED_BASE + (seed mod 2³²) · 4096 + call`. Always ≥ [`HELD_OUT_SEED_BASE`]
/// and below 2⁵³, so it survives JSON as a number.
pub fn held_out_seed(seed: u64, call: u64) -> u64 {
    HELD_OUT_SEED_BASE + (seed & 0xFFFF_FFFF) * MAX_RENDER_CALLS + call % MAX_RENDER_CALLS
}

/// Whether a seed is reserved for evaluation.
pub fn is_held_out(seed: u64) -> bool {
    seed >= HELD_OUT_SEED_BASE
}

/// Why a description could not be scored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{reason}")]
pub struct Failure {
    /// Whose fault it was; decides how [`summarize`] counts it.
    pub kind: FailureKind,
    /// What went wrong, with the value that caused it.
    pub reason: String,
    /// What was tried (evaluator replies, retries), oldest first, for the results file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log: Vec<String>,
    /// Tokens an evaluator's model used before it failed.
    #[serde(default, skip_serializing_if = "crate::llm::Usage::is_zero")]
    pub usage: crate::llm::Usage,
}

impl Failure {
    /// A failure with no log.
    pub fn new(kind: FailureKind, reason: impl Into<String>) -> Self {
        Failure {
            kind,
            reason: reason.into(),
            log: Vec::new(),
            usage: crate::llm::Usage::default(),
        }
    }

    /// Adds log lines.
    pub fn with_log(mut self, log: Vec<String>) -> Self {
        self.log = log;
        self
    }

    /// Records the tokens spent before the failure.
    pub fn with_usage(mut self, usage: crate::llm::Usage) -> Self {
        self.usage = usage;
        self
    }
}

/// What failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The description itself: empty, nothing recognisable, a concept that can never (or
    /// always) occur. Counted at chance level in means: it is the describer's fault.
    Description,
    /// The evaluator: a backend error, or replies not in the expected format after a
    /// retry. Excluded from means and counted, to be retried.
    Evaluator,
    /// The image tool failed or is missing. Excluded from means and counted.
    Render,
    /// The unit could not be run. Excluded from means and counted.
    Unit,
}

impl FailureKind {
    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Description => "description",
            FailureKind::Evaluator => "evaluator",
            FailureKind::Render => "render",
            FailureKind::Unit => "unit",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_out_seeds_are_reserved_distinct_and_json_safe() {
        assert_eq!(held_out_seed(0, 0), HELD_OUT_SEED_BASE);
        assert!(is_held_out(held_out_seed(7, 3)));
        assert_ne!(held_out_seed(7, 3), held_out_seed(7, 4));
        assert_ne!(held_out_seed(7, 3), held_out_seed(8, 3));
        assert!(held_out_seed(u64::MAX, MAX_RENDER_CALLS - 1) < (1 << 53));
        assert!(!is_held_out(HELD_OUT_SEED_BASE - 1));
    }
}
