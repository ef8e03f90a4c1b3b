//! The run's event stream: what the journal (`events.jsonl`) stores, what the TUI, the
//! headless log and `maia watch` render, and what `maia resume` rebuilds a run from.
//! A live run, a resumed run and a watched run all read these same records.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A tool call the model asked for. `arguments` is the raw text the model produced; it
/// is parsed (and may fail to parse) by the agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestedToolCall {
    /// Provider's call id.
    pub id: String,
    /// Tool name.
    pub name: String,
    /// JSON arguments as text.
    pub arguments: String,
}

/// Token usage of one request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
}

impl Usage {
    /// No token counted.
    pub fn is_zero(&self) -> bool {
        self.input_tokens == 0 && self.output_tokens == 0
    }

    /// Input and output together.
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

/// One journal line: a sequence number, a timestamp, the event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// 0, 1, 2, … without gaps across resumes.
    pub seq: u64,
    /// When it happened: milliseconds since the UNIX epoch.
    pub t_ms: u64,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// Something that happened in a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The first event of a run.
    RunStarted {
        /// Run id (the folder name under `runs/`).
        run_id: String,
        /// Task name (`describe-unit`, `find-bias`).
        task: String,
        /// Target spec (`synthetic:red_and_circle`, `world-cnn`, `remote:…`).
        target: String,
        /// Unit address (`layer3:42`), or the class for bias tasks.
        unit: String,
        /// Backend name.
        backend: String,
        /// Model id.
        model: String,
        /// Round limit.
        max_rounds: u32,
        /// The first user message (task text).
        task_text: String,
    },
    /// `maia resume` picked the run up again.
    Resumed {
        /// Rounds already complete.
        completed_rounds: u32,
    },
    /// A model round begins.
    RoundStarted {
        /// 1-based round.
        round: u32,
    },
    /// Streamed text, coalesced (a few per second); display only — the round's
    /// [`Event::AssistantMessage`] holds the whole text.
    TextDelta {
        /// Round.
        round: u32,
        /// Text to append.
        text: String,
        /// Reasoning (thinking) rather than visible text.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        reasoning: bool,
    },
    /// The model's complete reply for a round. Defines the round for resume.
    AssistantMessage {
        /// Round.
        round: u32,
        /// Visible text.
        text: String,
        /// Reasoning text.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        reasoning: String,
        /// Tool calls requested.
        tool_calls: Vec<RequestedToolCall>,
        /// Tokens of this request.
        usage: Usage,
        /// Dollar cost of this request (0 for local/offline).
        cost_usd: f64,
    },
    /// A tool call starts.
    ToolStarted {
        /// Round.
        round: u32,
        /// Call id.
        call_id: String,
        /// Tool name.
        name: String,
        /// Parsed arguments (or the raw text as a string when it was not JSON).
        args: Value,
    },
    /// A tool call finished (successfully or not). A round is complete when every call of
    /// its assistant message has one of these.
    ToolFinished {
        /// Round.
        round: u32,
        /// Call id.
        call_id: String,
        /// Tool name.
        name: String,
        /// Error kind (`invalid_args`, `failed`, `timeout`, `denied`, `unknown_tool`) or `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// The text the model sees.
        text: String,
        /// Images produced.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        images: Vec<ImageRecord>,
        /// Structured data.
        #[serde(default, skip_serializing_if = "Value::is_null")]
        data: Value,
        /// Milliseconds the call took.
        elapsed_ms: u64,
        /// Dollars the call cost: images drawn by a paid image source (`run.image_price_usd`),
        /// a program's inner calls included. Counted in the run's cost and `--max-cost`.
        #[serde(default, skip_serializing_if = "is_zero")]
        cost_usd: f64,
    },
    /// A tool call a program (`run_program`) made while it ran, journaled as it finished,
    /// under the program's call id. A resumed run replays these instead of calling again.
    InnerCall {
        /// Round.
        round: u32,
        /// The program's call id.
        parent: String,
        /// 1-based position among the program's calls.
        index: u32,
        /// Tool name.
        name: String,
        /// Arguments.
        args: Value,
        /// Error kind, or `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// The tool's text (the error message when it failed).
        text: String,
        /// Images produced.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        images: Vec<ImageRecord>,
        /// Structured data.
        #[serde(default, skip_serializing_if = "Value::is_null")]
        data: Value,
        /// Milliseconds the call took.
        elapsed_ms: u64,
    },
    /// `--verify K`: candidate descriptions scored on fresh images before a final answer
    /// is accepted. The first verification of a run is shown to the agent, which may
    /// experiment once more; the second (`accepted`) keeps the best of all candidates.
    Verification {
        /// Round of the final answer verified.
        round: u32,
        /// The candidates and their scores.
        candidates: Vec<VerifiedCandidate>,
        /// Index (into `candidates`) of the best so far in this verification.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        best: Option<usize>,
        /// Whether this verification ended the run (else the agent was shown the scores).
        accepted: bool,
    },
    /// A note the human injected; it goes into the next message to the model.
    Note {
        /// The note.
        text: String,
    },
    /// A message maia itself sent to the model before a round (the round limit was
    /// reached, the user forced an answer, the last reply called no tool). Goes into the
    /// conversation like a note.
    Nudge {
        /// The message.
        text: String,
    },
    /// The run was paused or resumed from the UI.
    Paused {
        /// `true` paused, `false` running again.
        paused: bool,
    },
    /// A model request failed and will be retried.
    Retry {
        /// Round.
        round: u32,
        /// Attempt that failed (1-based).
        attempt: u32,
        /// What went wrong.
        reason: String,
        /// Milliseconds until the next attempt.
        wait_ms: u64,
    },
    /// Something the user should know that is not fatal (an invented tool, bad arguments
    /// fed back, the round limit reached).
    Warning {
        /// Explanation.
        text: String,
    },
    /// Older parts of the conversation were made shorter so the next request keeps within
    /// the model's context (`--context-tokens`). Folded into the conversation like every
    /// other event, so a resumed or watched run sends and shows the same messages.
    ContextTrimmed {
        /// The round whose request needed it.
        round: u32,
        /// What was shortened.
        step: TrimStep,
        /// How many of the conversation's first messages it applied to (the latest
        /// exchange is never touched).
        messages: usize,
        /// The request's estimated tokens before.
        tokens_before: u64,
        /// And after.
        tokens_after: u64,
    },
    /// The agent's answer.
    FinalAnswer {
        /// Round it was given in.
        round: u32,
        /// What the unit does.
        description: String,
        /// A short label.
        label: String,
    },
    /// The last event of a run (or of one process working on it).
    RunEnded {
        /// How it ended.
        status: RunStatus,
        /// Why, in words.
        reason: String,
    },
}

/// What a [`Event::ContextTrimmed`] shortened, in the order they are tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrimStep {
    /// Images of older tool results and messages were replaced by their ids and captions
    /// (the agent can bring one back with `show_images`).
    Images,
    /// Older tool outputs were cut to their first lines.
    ToolOutputs,
}

impl TrimStep {
    /// One line for people: what a trim of the first `messages` messages did, with the
    /// request's estimated tokens before and after.
    pub fn describe(self, messages: usize, before: u64, after: u64) -> String {
        let what = match self {
            TrimStep::Images => "older images replaced by their ids and captions",
            TrimStep::ToolOutputs => "older tool outputs shortened",
        };
        format!(
            "context kept within the budget: {what} (first {messages} messages), about {before} → {after} tokens"
        )
    }
}

/// A candidate description and its verification score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerifiedCandidate {
    /// The description.
    pub description: String,
    /// Its label (empty for an alternative given without one).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub label: String,
    /// Pearson r of its prompts' labels with the unit's activations on fresh images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Why it could not be scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Tokens the evaluator's model used to score it (counted in the run's tokens).
    #[serde(default, skip_serializing_if = "Usage::is_zero")]
    pub usage: Usage,
    /// What those tokens cost (counted in the run's cost and `--max-cost`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cost_usd: f64,
}

fn is_zero(value: &f64) -> bool {
    *value == 0.0
}

/// An image in a tool result, as the journal stores it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Store id (`img_12`).
    pub id: String,
    /// Content hash: the file is `images/<hash>.png`.
    pub hash: String,
    /// Caption.
    pub caption: String,
    /// The unit's activation on it, when the tool reported one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<f64>,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// A final answer was given.
    Completed,
    /// The user stopped it (resumable).
    Stopped,
    /// A limit (tokens, cost, wall time) ended it.
    Limit,
    /// An unrecoverable error ended it (resumable once fixed).
    Failed,
}

impl RunStatus {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Completed => "completed",
            RunStatus::Stopped => "stopped",
            RunStatus::Limit => "limit",
            RunStatus::Failed => "failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_as_one_flat_json_object() {
        let r = Record {
            seq: 3,
            t_ms: 1200,
            event: Event::Note {
                text: "try blue".into(),
            },
        };
        let line = serde_json::to_string(&r).expect("serialize");
        assert_eq!(
            line,
            r#"{"seq":3,"t_ms":1200,"type":"note","text":"try blue"}"#
        );
        let back: Record = serde_json::from_str(&line).expect("parse");
        assert_eq!(back, r);
    }
}
