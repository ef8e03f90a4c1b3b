//! Evaluators: a description → N positive and N neutral image prompts.

use super::{Failure, FailureKind};
use crate::llm::Usage;
use maia_shapes_world::{
    Reading, ReadingError, read_description, scene_to_prompt, scenes_with, scenes_without,
};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;

/// What [`Evaluator::prompts`] returns: a boxed future, so evaluators can be trait objects
/// and backends can await the network.
pub type EvalFuture<'a> = Pin<Box<dyn Future<Output = Result<PromptSet, Failure>> + Send + 'a>>;

/// Longest description scored, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = maia_shapes_world::reading::MAX_DESCRIPTION_CHARS;

/// Turns a description of a unit into prompts for images that should make it fire
/// (positive) and images that should not (neutral).
///
/// Implementations must be deterministic for a given `(description, n, seed)` where they
/// can be (an LLM cannot promise it), hold no state between calls that changes results,
/// and be safe to call concurrently.
pub trait Evaluator: Send + Sync {
    /// Short name for results (`world`, `llm:openai/gpt-4o`).
    fn name(&self) -> &str;

    /// Writes `n` positive and `n` neutral prompts for `description`. A description that
    /// cannot be scored is a [`Failure`] of kind [`FailureKind::Description`]; an evaluator
    /// that cannot do its job one of kind [`FailureKind::Evaluator`].
    fn prompts<'a>(&'a self, description: &'a str, n: usize, seed: u64) -> EvalFuture<'a>;

    /// Dollars that `usage` (the tokens of one [`PromptSet`] or [`Failure`]) cost; 0 for
    /// evaluators that use no priced model.
    fn cost(&self, _usage: Usage) -> f64 {
        0.0
    }
}

/// Prompts for one description.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptSet {
    /// Images that, by the description, make the unit fire.
    pub positive: Vec<String>,
    /// Images without the described concept.
    pub neutral: Vec<String>,
    /// The concept the evaluator read from the description, as an expression, when it
    /// reads one (the world evaluator does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub understood: Option<String>,
    /// Remarks worth keeping with the score: ignored words, a retried reply, …
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Tokens the evaluator's model used to write them, retries included.
    #[serde(default, skip_serializing_if = "Usage::is_zero")]
    pub usage: Usage,
}

/// Checks every evaluator applies before its own work: the description is not empty or
/// over-long. Returns notes (a one-word description is scored, but noted).
pub(crate) fn check_description(description: &str) -> Result<Vec<String>, Failure> {
    let trimmed = description.trim();
    if trimmed.is_empty() {
        return Err(Failure::new(
            FailureKind::Description,
            "the description is empty; a unit's description must say what makes it fire",
        ));
    }
    let chars = trimmed.chars().count();
    if chars > MAX_DESCRIPTION_CHARS {
        return Err(Failure::new(
            FailureKind::Description,
            format!(
                "the description is {chars} characters long; at most {MAX_DESCRIPTION_CHARS} are scored"
            ),
        ));
    }
    let words = trimmed.split_whitespace().count();
    Ok(if words == 1 {
        vec![format!(
            "one-word description '{trimmed}': scored as it stands, but it says little"
        )]
    } else {
        Vec::new()
    })
}

/// The shapes world's evaluator: reads the description's concept
/// ([`maia_shapes_world::read_description`]) and draws seeded scenes that show it
/// (positives) and that lack it (neutrals: half near misses, half unrelated), written as
/// prompts `text2image` draws exactly (every object's size, color and texture named).
///
/// Deterministic: the same description, `n` and seed give the same prompts. A description
/// with no recognisable concept (empty, one unknown word, another language) or whose
/// concept can never occur, or always occurs, is a [`FailureKind::Description`] failure
/// whose reason says why.
#[derive(Clone, Copy, Debug, Default)]
pub struct WorldEvaluator;

impl WorldEvaluator {
    /// The evaluator.
    pub fn new() -> Self {
        WorldEvaluator
    }

    /// What the description says, as a concept of the world.
    pub fn read(&self, description: &str) -> Result<Reading, Failure> {
        check_description(description)?;
        read_description(description).map_err(|e| {
            let reason = match &e {
                ReadingError::NoConcept { .. } => format!("'{}': {e}", clip(description, 80)),
                _ => e.to_string(),
            };
            Failure::new(FailureKind::Description, reason)
        })
    }

    /// The prompts, synchronously (the [`Evaluator`] impl wraps this).
    pub fn prompt_set(&self, description: &str, n: usize, seed: u64) -> Result<PromptSet, Failure> {
        let mut notes = check_description(description)?;
        let reading = self.read(description)?;
        let concept = &reading.concept;
        let describe = |e: maia_shapes_world::SamplingError| {
            Failure::new(
                FailureKind::Description,
                format!("'{}' read as `{concept}`: {e}", clip(description, 80)),
            )
        };
        let positive: Vec<String> = scenes_with(concept, n, seed)
            .map_err(describe)?
            .iter()
            .map(scene_to_prompt)
            .collect();
        let neutral: Vec<String> = scenes_without(concept, n, seed)
            .map_err(describe)?
            .iter()
            .map(scene_to_prompt)
            .collect();
        if !reading.ignored.is_empty() {
            notes.push(format!(
                "words not understood (ignored): {}",
                reading.ignored.join(", ")
            ));
        }
        if let Some(count) = reading.count.filter(|&c| c > 1) {
            notes.push(format!(
                "the description mentions a count ({count}); the concept language has no counts, so it was not used"
            ));
        }
        Ok(PromptSet {
            positive,
            neutral,
            understood: Some(concept.to_string()),
            notes,
            usage: Usage::default(),
        })
    }
}

impl Evaluator for WorldEvaluator {
    fn name(&self) -> &str {
        "world"
    }

    fn prompts<'a>(&'a self, description: &'a str, n: usize, seed: u64) -> EvalFuture<'a> {
        // Rejection sampling takes milliseconds: no need to leave the runtime for it.
        let result = self.prompt_set(description, n, seed);
        Box::pin(std::future::ready(result))
    }
}

/// At most `max` characters of `text`, with an ellipsis when cut.
pub(crate) fn clip(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(max).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use maia_shapes_world::{Concept, parse_prompt};

    #[test]
    fn world_prompts_show_and_lack_the_read_concept() {
        let set = WorldEvaluator
            .prompt_set(
                "The unit fires on red circles, but not on striped ones.",
                8,
                4,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(set.understood.as_deref(), Some("red & circle & !striped"));
        let concept = Concept::parse("red & circle & !striped").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((set.positive.len(), set.neutral.len()), (8, 8));
        for (prompts, want) in [(&set.positive, true), (&set.neutral, false)] {
            for prompt in prompts {
                let scene = parse_prompt(prompt, 1_000_001)
                    .unwrap_or_else(|e| panic!("{e}"))
                    .scene;
                assert_eq!(concept.present_in(&scene), want, "{prompt}");
            }
        }
        let again = WorldEvaluator
            .prompt_set(
                "The unit fires on red circles, but not on striped ones.",
                8,
                4,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again, set, "deterministic");
    }

    #[test]
    fn bad_descriptions_fail_with_reasons() {
        for (text, needle) in [
            ("", "empty"),
            ("  \n ", "empty"),
            ("florp", "florp"),
            ("círculos rojos", "another language"),
            ("red objects that are not red", "never occur"),
        ] {
            let err = WorldEvaluator.prompt_set(text, 4, 0).err();
            let err = err.unwrap_or_else(|| panic!("{text:?} should fail"));
            assert_eq!(err.kind, FailureKind::Description, "{text:?}");
            assert!(err.reason.contains(needle), "{text:?}: {}", err.reason);
        }
        let set = WorldEvaluator
            .prompt_set("red", 4, 0)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            set.notes.iter().any(|n| n.contains("one-word")),
            "{:?}",
            set.notes
        );
    }
}
