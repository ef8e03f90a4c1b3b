//! The answer's score on the page. `maia report --score` computes it (predictive
//! evaluation, [`maia_core::eval`]) and keeps it beside the run as `score.json`, so
//! later reports show it without scoring again; a score of an earlier answer (the run was
//! resumed and answered anew) is not shown as this answer's.

use super::model::{RunReport, RunStart};
use crate::shell::shell_quote;
use maia_core::eval::{Failure, Score, TruthScore};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The file under the run folder that holds the answer's score.
pub use maia_core::agent::dir::SCORE_FILE;

/// An answer's score, as `score.json` stores it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunScore {
    /// Predictive evaluation: the description's prompts drawn and run through the unit.
    pub score: Score,
    /// The ground truth in words, for units that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truth_said: Option<String>,
    /// The description against the ground-truth concept directly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truth: Option<TruthScore>,
    /// Why the ground-truth comparison could not be made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truth_failure: Option<Failure>,
    /// Dataset simulation of the description (`--simulate-data`, or a suite's
    /// `--simulate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulation: Option<maia_core::eval::simulation::Simulation>,
}

/// What the page says about the score.
#[derive(Clone, Debug, PartialEq)]
pub enum ScoreSection {
    /// Scored.
    Scored(Box<RunScore>),
    /// Could be scored, has not been: the hint says how.
    NotComputed {
        /// The command to run.
        hint: String,
    },
    /// This run cannot be scored.
    Unscorable {
        /// Why.
        why: String,
    },
    /// `score.json` exists but could not be read.
    Unreadable {
        /// Why.
        reason: String,
    },
}

/// Whether the run's answer can be scored, and if not why: the world evaluator draws
/// shapes-world scenes, so the target must be a shapes-world model, and the task must
/// describe a unit.
pub fn scorable(report: &RunReport) -> Result<(), String> {
    scorable_by(report, false)
}

/// As [`scorable`], for the world evaluator (`llm` false) or a language-model evaluator,
/// which scores a unit of any model.
pub fn scorable_by(report: &RunReport, llm: bool) -> Result<(), String> {
    let Some(start) = &report.started else {
        return Err("the journal has no run_started record: target and unit unknown".into());
    };
    if report.answer.is_none() {
        return Err("the run has no final answer yet".into());
    }
    scorable_target(start, llm)
}

fn scorable_target(start: &RunStart, llm: bool) -> Result<(), String> {
    if start.task != "describe-unit" {
        return Err(format!(
            "a `{}` task's answer is not a unit description",
            start.task
        ));
    }
    if llm {
        return Ok(());
    }
    let target = start.target.trim();
    if target.starts_with("synthetic:") || maia_core::target::world_model_config(target).is_some() {
        Ok(())
    } else {
        Err(format!(
            "the world evaluator draws shapes-world scenes; target `{target}` is not a shapes-world model (synthetic:…, world-cnn, world-vit): score it with a language model, --score --evaluator llm --backend B --model M"
        ))
    }
}

/// The score section for a run: `score.json` when it scored this answer, otherwise why
/// there is none and how to get one.
pub fn load(run_dir: &Path, report: &RunReport) -> ScoreSection {
    if let Err(why) = scorable(report)
        && (scorable_by(report, true).is_err() || !run_dir.join(SCORE_FILE).is_file())
    {
        return ScoreSection::Unscorable { why };
    }
    let hint = not_computed_hint(report);
    let path = run_dir.join(SCORE_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return ScoreSection::NotComputed { hint };
        }
        Err(e) => {
            return ScoreSection::Unreadable {
                reason: format!("{} could not be read: {e}", path.display()),
            };
        }
    };
    match serde_json::from_slice::<RunScore>(&bytes) {
        Ok(score)
            if report
                .answer
                .as_ref()
                .is_some_and(|a| a.description == score.score.description) =>
        {
            ScoreSection::Scored(Box::new(score))
        }
        Ok(_) => ScoreSection::NotComputed {
            hint: format!("{SCORE_FILE} scored an earlier answer; {hint}"),
        },
        Err(e) => ScoreSection::Unreadable {
            reason: format!("{} is not a score ({e}); {hint}", path.display()),
        },
    }
}

/// How to score the run: `maia report ID --score`, or by hand with `maia eval score`.
fn not_computed_hint(report: &RunReport) -> String {
    let mut hint = format!("run `maia report {} --score`", report.run_id);
    if let (Some(start), Some(answer)) = (&report.started, &report.answer) {
        hint.push_str(&format!(
            " or `maia eval score --target {} --unit {} -d {}`",
            shell_quote(&start.target),
            shell_quote(&start.unit),
            shell_quote(&answer.description)
        ));
    }
    hint
}
