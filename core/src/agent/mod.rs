//! The agent: MAIA's loop of model rounds and tool calls, and the event stream every run
//! is made of.
//!
//! [`Agent::start`] writes `runs/<id>/run.toml` and the first event; [`Agent::run`] asks the
//! model, runs the tools it calls (concurrently within a reply), feeds results back and
//! ends on `final_answer`, a limit, or the user. [`Agent::resume`] rebuilds a stopped or
//! crashed run from its journal. Every step goes through [`journal::JournalWriter`] before
//! it reaches the UI, so what is shown is what is on disk.

pub mod context_budget;
mod control;
pub mod conversation;
pub mod prompts;
pub mod run;
pub mod setup;
pub mod tool_calls;
pub mod unit_run;
pub mod verify;
pub mod vision;

// What a run is (its events, journal, folder and summary) lives in the serde-only
// `maia-run` crate, so that reading a run needs nothing heavier; re-exported here.
pub use maia_run::{dir, event, journal, run_id, summary};

pub use control::Control;
pub use event::{Event, ImageRecord, Record, RunStatus, VerifiedCandidate};
pub use prompts::Prompts;
pub use run::{Agent, AgentError, AgentParts, ModelRecord, Outcome, RunInfo};
pub use tool_calls::{FINAL_ANSWER, ToolContext};
