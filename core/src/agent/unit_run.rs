//! One unit's headless agent run in a folder of its own, started, resumed or read back:
//! what the evaluation suite and `maia batch` do for every unit they cover.
//!
//! A folder whose `result.json` says `completed` is finished and only read back; a folder
//! with a journal is resumed from it ([`Agent::resume`]: the conversation is rebuilt and
//! only unfinished tool calls run again); an empty or missing folder starts a new run.

use super::event::{Event, RunStatus};
use super::setup::Toolbox;
use super::{Agent, AgentParts, Control, Prompts, RunInfo};
use crate::config::Config;
use crate::exemplars::LayerExemplars;
use crate::images::ImageStore;
use crate::llm::LlmBackend;
use crate::target::{TargetModel, TargetUnit, UnitRef};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

pub use maia_run::dir::{EVENTS_FILE, RESULT_FILE};

/// What one unit's run needs; shared by every unit of a suite or a batch shard.
pub struct UnitRunParts<'a> {
    /// The agent's backend.
    pub backend: &'a Arc<dyn LlmBackend>,
    /// The tools, loaded once.
    pub toolbox: &'a Toolbox,
    /// Prompt files.
    pub prompts: &'a Prompts,
    /// The target model.
    pub model: &'a Arc<dyn TargetModel>,
    /// The run's configuration (`run.task`, `run.target`, `run.max_rounds`, limits …).
    pub config: &'a Config,
    /// When this turns `true`, the run stops at its next step (a request in flight is
    /// dropped) and ends `stopped`, resumable, as the TUI's quit key does.
    pub stop: Option<&'a tokio::sync::watch::Receiver<bool>>,
}

/// The reason journaled for a run ended through [`UnitRunParts::stop`].
pub const STOP_REASON: &str =
    "its worker was told to stop (a signal: scancel, a time limit, Ctrl-C); resumable";

/// How a unit's run went.
#[derive(Clone, Debug, PartialEq)]
pub struct UnitRunResult {
    /// `(description, label)` when the agent answered.
    pub answer: Option<(String, String)>,
    /// How the run ended.
    pub status: RunStatus,
    /// Why, in words.
    pub reason: String,
    /// Rounds used.
    pub rounds: u32,
    /// Tokens used.
    pub tokens: u64,
    /// Dollars spent.
    pub cost_usd: f64,
    /// Seconds the run took (first to last journal event when read back or resumed).
    pub seconds: f64,
    /// What was done now: started, resumed, or read back from a finished folder.
    pub how: UnitRunHow,
}

/// What [`run_unit`] did with the folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnitRunHow {
    /// A new run.
    Started,
    /// A run continued from its journal.
    Resumed,
    /// A finished run, read back (nothing run).
    Finished,
}

/// A finished run's result, from its `result.json`, when it completed with an answer.
pub fn finished_run(run_dir: &Path) -> Option<UnitRunResult> {
    let bytes = std::fs::read(run_dir.join(RESULT_FILE)).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    if value["status"].as_str()? != RunStatus::Completed.as_str() {
        return None;
    }
    let description = value["description"].as_str()?.to_owned();
    Some(UnitRunResult {
        answer: Some((
            description,
            value["label"].as_str().unwrap_or_default().to_owned(),
        )),
        status: RunStatus::Completed,
        reason: value["reason"].as_str().unwrap_or_default().to_owned(),
        rounds: value["rounds"].as_u64().unwrap_or(0) as u32,
        tokens: value["tokens"].as_u64().unwrap_or(0),
        cost_usd: value["cost_usd"].as_f64().unwrap_or(0.0),
        seconds: journal_seconds(run_dir),
        how: UnitRunHow::Finished,
    })
}

/// Seconds between a journal's first and last event (0 when unreadable).
pub fn journal_seconds(run_dir: &Path) -> f64 {
    let Ok(text) = std::fs::read_to_string(run_dir.join(EVENTS_FILE)) else {
        return 0.0;
    };
    let t = |line: Option<&str>| -> Option<u64> {
        serde_json::from_str::<serde_json::Value>(line?).ok()?["t_ms"].as_u64()
    };
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let first = t(lines.next());
    let last = t(lines
        .rev()
        .find(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
    match (first, last) {
        (Some(a), Some(b)) if b >= a => (b - a) as f64 / 1000.0,
        _ => 0.0,
    }
}

/// Runs `unit`'s agent in `run_dir` (run id `run_id`), resuming it from its journal when
/// it has one and reading it back when it already finished; `on_round(n)` as each round
/// starts. Errors are sentences naming the folder; a run that ends `failed` is a result,
/// not an error (the caller decides).
pub async fn run_unit(
    parts: &UnitRunParts<'_>,
    unit: &UnitRef,
    run_id: &str,
    run_dir: &Path,
    exemplars: Option<Arc<LayerExemplars>>,
    on_round: impl Fn(u32) + Send + 'static,
) -> Result<UnitRunResult, String> {
    if let Some(done) = finished_run(run_dir) {
        return Ok(done);
    }
    let resuming = run_dir.join(EVENTS_FILE).is_file();
    let images = maia_run::RunDir::new(run_dir).images();
    let store = if resuming {
        ImageStore::reopen(&images).map(|(store, _)| store)
    } else {
        ImageStore::with_dir(&images)
    }
    .map_err(|e| format!("opening {}: {e}", images.display()))?;
    let store = Arc::new(store);
    let target_unit = TargetUnit::new(parts.model.clone(), unit.clone(), store.clone())
        .map_err(|e| e.to_string())?;
    let tools = parts
        .toolbox
        .context(target_unit, store, exemplars)
        .map_err(|e| e.to_string())?
        .with_image_price(parts.config);
    let config = parts.config;
    let agent_parts = AgentParts {
        backend: parts.backend.clone(),
        tools,
        prompts: parts.prompts.clone(),
        config: config.clone(),
        verifier: None,
    };
    let started = Instant::now();
    let agent = if resuming {
        Agent::resume(agent_parts, run_dir)
            .map(|(agent, _)| agent)
            .map_err(|e| {
                format!(
                    "resuming the agent run in {}: {e}; remove that folder to start the unit again",
                    run_dir.display()
                )
            })?
    } else {
        let max_rounds = config.run.max_rounds.to_string();
        let address = unit.to_string();
        let vars = [
            ("unit", address.as_str()),
            ("target", config.run.target.as_str()),
            ("max_rounds", max_rounds.as_str()),
        ];
        let task_text = parts
            .prompts
            .task(&config.run.task, &vars)
            .map_err(|e| e.to_string())?;
        let info = RunInfo {
            run_id: run_id.to_owned(),
            task: config.run.task.clone(),
            target: config.run.target.clone(),
            unit: address,
            model: None,
        };
        Agent::start(agent_parts, run_dir, info, task_text).map_err(|e| e.to_string())?
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let agent = agent.with_events(tx);
    let (agent, stopper) = match parts.stop {
        Some(stop) => {
            let (controls, rx) = tokio::sync::mpsc::unbounded_channel();
            let mut stop = stop.clone();
            let stopper = tokio::spawn(async move {
                if stop.wait_for(|stop| *stop).await.is_ok() {
                    let _ = controls.send(Control::Stop(STOP_REASON.into()));
                }
            });
            (agent.with_controls(rx), Some(stopper))
        }
        None => (agent, None),
    };
    let forward = tokio::spawn(async move {
        while let Some(record) = rx.recv().await {
            if let Event::RoundStarted { round } = record.event {
                on_round(round);
            }
        }
    });
    let outcome = agent.run().await;
    if let Some(stopper) = stopper {
        stopper.abort();
    }
    let outcome = outcome.map_err(|e| e.to_string())?;
    let _ = forward.await;
    Ok(UnitRunResult {
        answer: outcome.answer,
        status: outcome.status,
        reason: outcome.reason,
        rounds: outcome.rounds,
        tokens: outcome.tokens,
        cost_usd: outcome.cost_usd,
        seconds: if resuming {
            journal_seconds(run_dir)
        } else {
            started.elapsed().as_secs_f64()
        },
        how: if resuming {
            UnitRunHow::Resumed
        } else {
            UnitRunHow::Started
        },
    })
}
