//! `maia batch work OUT --shard I`: what each array task (or local worker process) runs.
//! The shard's units go one after another, in this process, headless: a finished unit is
//! skipped, a unit with a journal is resumed from it, any other is started. While a unit
//! runs, its worker holds an exclusive lock on `runs/<slug>/.lock` (so `status` sees it
//! running, and a second worker given the same shard leaves it alone) and has written
//! `worker.json` (host, pid, Slurm ids) beside it.

use super::plan::BatchManifest;
use super::status::WorkerInfo;
use super::units::unit_slug;
use super::{BatchError, LOCK_FILE, RUNS_DIR, WORKER_FILE, io_err};
use crate::agent::Prompts;
use crate::agent::event::RunStatus;
use crate::agent::journal::now_ms;
use crate::agent::setup::{ExemplarPasses, Toolbox};
use crate::agent::unit_run::{UnitRunParts, UnitRunResult, finished_run, run_unit};
use crate::llm::LlmBackend;
use crate::target::{TargetModel, UnitRef};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long a worker retries taking a unit's lock (a `status` reader holds it briefly)
/// before leaving the unit to the worker that has it.
const LOCK_PATIENCE: Duration = Duration::from_secs(2);

/// What a worker needs, assembled once per process by the caller (`maia batch work`).
pub struct WorkerParts {
    /// The batch folder.
    pub out: PathBuf,
    /// Its manifest.
    pub manifest: BatchManifest,
    /// The shard this worker runs (recorded in `worker.json`).
    pub shard: usize,
    /// The target model (opened directly, or through a host).
    pub model: Arc<dyn TargetModel>,
    /// The agent's backend.
    pub backend: Arc<dyn LlmBackend>,
    /// Prompt files.
    pub prompts: Prompts,
    /// The tools, loaded once.
    pub toolbox: Arc<Toolbox>,
    /// Exemplar passes over the batch's `--data`, if it has one.
    pub exemplars: Option<Arc<ExemplarPasses>>,
    /// Turns `true` to stop the worker: the running unit ends at its next step
    /// (`stopped`, resumable) and no further unit starts.
    pub stop: tokio::sync::watch::Receiver<bool>,
}

/// What a worker reports as it goes.
#[derive(Clone, Debug, PartialEq)]
pub enum WorkerEvent {
    /// A unit was finished before: nothing to do.
    AlreadyDone {
        /// Address.
        unit: String,
    },
    /// Another worker holds the unit's lock: left to it.
    Busy {
        /// Address.
        unit: String,
    },
    /// A unit begins (or resumes).
    Started {
        /// Address.
        unit: String,
        /// Resuming from its journal.
        resuming: bool,
    },
    /// A round of a unit begins.
    Round {
        /// Address.
        unit: String,
        /// Round.
        round: u32,
    },
    /// A unit's run ended.
    Finished {
        /// Address.
        unit: String,
        /// How.
        result: UnitRunResult,
    },
    /// A unit could not be run (its folder, its tools): the worker goes on to the next.
    Failed {
        /// Address.
        unit: String,
        /// Why.
        error: String,
    },
}

/// What a shard's worker did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShardOutcome {
    /// Units answered now.
    pub done: usize,
    /// Units found finished.
    pub already_done: usize,
    /// Units another worker held.
    pub busy: usize,
    /// Units that ended without an answer or could not run: address and why.
    pub failed: Vec<(String, String)>,
    /// The unit the stop cut short, if one was running.
    pub stopped: Option<String>,
    /// Units not started because the worker was stopped.
    pub not_started: usize,
}

/// Takes the unit's lock, waiting up to [`LOCK_PATIENCE`]; `None` when another worker
/// holds it.
fn take_lock(path: &Path) -> Result<Option<File>, BatchError> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_err(path))?;
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Some(file)),
            Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < LOCK_PATIENCE => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(e)) => return Err(io_err(path)(e)),
        }
    }
}

/// This host's name.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "?".into())
}

fn worker_info(shard: usize) -> WorkerInfo {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    WorkerInfo {
        host: host_name(),
        pid: std::process::id(),
        shard,
        slurm_job_id: var("SLURM_JOB_ID"),
        slurm_array_job_id: var("SLURM_ARRAY_JOB_ID"),
        slurm_array_task_id: var("SLURM_ARRAY_TASK_ID"),
        started_ms: now_ms(),
    }
}

/// Runs `units` (a shard) one after another; progress goes to `events`. Errors only when
/// the batch folder itself cannot be written; a unit's own failure is reported and the
/// worker goes on.
pub async fn run_shard(
    parts: &WorkerParts,
    units: &[UnitRef],
    events: mpsc::UnboundedSender<WorkerEvent>,
) -> Result<ShardOutcome, BatchError> {
    let mut outcome = ShardOutcome::default();
    for (i, unit) in units.iter().enumerate() {
        if *parts.stop.borrow() {
            outcome.not_started = units.len() - i;
            break;
        }
        let address = unit.to_string();
        let slug = unit_slug(unit);
        let run_dir = parts.out.join(RUNS_DIR).join(&slug);
        if finished_run(&run_dir).is_some() {
            outcome.already_done += 1;
            let _ = events.send(WorkerEvent::AlreadyDone { unit: address });
            continue;
        }
        std::fs::create_dir_all(&run_dir).map_err(io_err(&run_dir))?;
        let Some(lock) = take_lock(&run_dir.join(LOCK_FILE))? else {
            outcome.busy += 1;
            let _ = events.send(WorkerEvent::Busy { unit: address });
            continue;
        };
        // Another worker may have finished it while this one waited for the lock.
        if finished_run(&run_dir).is_some() {
            outcome.already_done += 1;
            let _ = events.send(WorkerEvent::AlreadyDone { unit: address });
            continue;
        }
        let info_path = run_dir.join(WORKER_FILE);
        let info = serde_json::to_vec_pretty(&worker_info(parts.shard)).unwrap_or_default();
        std::fs::write(&info_path, info).map_err(io_err(&info_path))?;
        let resuming = maia_run::RunDir::new(&run_dir).has_journal();
        let _ = events.send(WorkerEvent::Started {
            unit: address.clone(),
            resuming,
        });
        let result = run_one(parts, unit, &slug, &run_dir, &events).await;
        drop(lock);
        match result {
            Ok(result) => {
                if result.status == RunStatus::Completed {
                    outcome.done += 1;
                } else if result.status == RunStatus::Stopped {
                    outcome.stopped = Some(address.clone());
                } else {
                    outcome.failed.push((
                        address.clone(),
                        format!("{}: {}", result.status.as_str(), result.reason),
                    ));
                }
                let _ = events.send(WorkerEvent::Finished {
                    unit: address,
                    result,
                });
            }
            Err(error) => {
                outcome.failed.push((address.clone(), error.clone()));
                let _ = events.send(WorkerEvent::Failed {
                    unit: address,
                    error,
                });
            }
        }
    }
    Ok(outcome)
}

async fn run_one(
    parts: &WorkerParts,
    unit: &UnitRef,
    slug: &str,
    run_dir: &Path,
    events: &mpsc::UnboundedSender<WorkerEvent>,
) -> Result<UnitRunResult, String> {
    let exemplars = match &parts.exemplars {
        Some(passes) => {
            let (passes, model, layer) = (passes.clone(), parts.model.clone(), unit.layer.clone());
            Some(
                tokio::task::spawn_blocking(move || {
                    passes.layer(model.as_ref(), &layer, &mut |_, _| {})
                })
                .await
                .map_err(|e| format!("the exemplar pass stopped: {e}"))?
                .map_err(|e| e.to_string())?,
            )
        }
        None => None,
    };
    let mut config = parts.manifest.config.clone();
    config.run.unit = unit.to_string();
    config.run.target = parts.manifest.target.clone();
    config.run.task = parts.manifest.task.clone();
    config.run.runs_dir = parts.out.join(RUNS_DIR);
    let run_parts = UnitRunParts {
        backend: &parts.backend,
        toolbox: &parts.toolbox,
        prompts: &parts.prompts,
        model: &parts.model,
        config: &config,
        stop: Some(&parts.stop),
    };
    let (tx, address) = (events.clone(), unit.to_string());
    run_unit(&run_parts, unit, slug, run_dir, exemplars, move |round| {
        let _ = tx.send(WorkerEvent::Round {
            unit: address.clone(),
            round,
        });
    })
    .await
}
