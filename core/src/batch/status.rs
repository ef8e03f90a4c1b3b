//! Where a batch stands: every unit's state read from its run folder — the journal says
//! what happened, the folder's lock says whether a worker is on it now — plus, where
//! Slurm is installed, what `squeue` says of the array tasks still queued or running and
//! what `sacct` says of how the others ended (each given 5 s at most).
//!
//! | state         | when                                                                 |
//! |---------------|----------------------------------------------------------------------|
//! | `done`        | the journal ends with `run_ended` `completed` (an answer was given)  |
//! | `running`     | a worker holds the unit's `.lock`                                    |
//! | `failed`      | the run ended otherwise (failed, limit, stopped), or its journal cannot be read |
//! | `interrupted` | the journal has no end and nobody holds the lock (killed, cancelled) |
//! | `pending`     | no journal yet                                                       |
//!
//! A torn last journal line (a worker killed mid-write) is noted, never fatal: resuming
//! cuts it off. A bad line in the middle makes the unit `failed` with the line named.

use super::plan::{BatchManifest, load_batch};
use super::units::unit_slug;
use super::{BatchError, JOBS_FILE, LOCK_FILE, RUNS_DIR, WORKER_FILE};
use crate::agent::dir::EVENTS_FILE;
use crate::agent::event::RunStatus;
use crate::agent::journal::{now_ms, read_journal};
use crate::agent::summary::RunSummary;
use crate::target::UnitRef;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// A unit's state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum UnitState {
    /// Answered.
    Done,
    /// A worker is on it now.
    Running,
    /// Ended without an answer, or unreadable.
    Failed {
        /// Why.
        reason: String,
    },
    /// Cut off (journal without an end, no worker on it): `resume` continues it.
    Interrupted,
    /// Not started.
    Pending,
}

impl UnitState {
    /// Lower-case name.
    pub fn name(&self) -> &'static str {
        match self {
            UnitState::Done => "done",
            UnitState::Running => "running",
            UnitState::Failed { .. } => "failed",
            UnitState::Interrupted => "interrupted",
            UnitState::Pending => "pending",
        }
    }

    /// Whether `resume` works on it (everything but done and running).
    pub fn unfinished(&self) -> bool {
        !matches!(self, UnitState::Done | UnitState::Running)
    }
}

/// Who runs (or last ran) a unit: `runs/<slug>/worker.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerInfo {
    /// Host name.
    pub host: String,
    /// Worker process id.
    pub pid: u32,
    /// Shard.
    pub shard: usize,
    /// `$SLURM_JOB_ID`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slurm_job_id: Option<String>,
    /// `$SLURM_ARRAY_JOB_ID`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slurm_array_job_id: Option<String>,
    /// `$SLURM_ARRAY_TASK_ID`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slurm_array_task_id: Option<String>,
    /// When it took the unit (UNIX ms).
    pub started_ms: u64,
}

/// One unit of a batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnitStatus {
    /// Address (`layer3:42`).
    pub unit: String,
    /// Layer.
    pub layer: String,
    /// Run folder, relative to the batch (`runs/layer3-42`).
    pub run: String,
    /// Shard (array task) it belongs to.
    pub shard: usize,
    /// State.
    #[serde(flatten)]
    pub state: UnitState,
    /// Rounds begun.
    pub rounds: u32,
    /// Tokens used.
    pub tokens: u64,
    /// Dollars spent.
    pub cost_usd: f64,
    /// Seconds between the journal's first and last event.
    pub seconds: f64,
    /// The answer's description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The answer's label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// First journal event (UNIX ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<u64>,
    /// Last journal event (UNIX ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_ms: Option<u64>,
    /// Something off about the folder (a torn last journal line).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Who runs or last ran it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker: Option<WorkerInfo>,
    /// What Slurm says of its shard's array task: `squeue`'s state while queued or
    /// running (`PENDING`, `RUNNING`, …), else `sacct`'s account of how it ended
    /// (`CANCELLED by 0 (exit 0:15)`, `TIMEOUT`) where accounting is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slurm: Option<String>,
}

impl UnitStatus {
    /// The answer as a table shows it: the label, else the description.
    pub fn answer(&self) -> &str {
        match (&self.label, &self.description) {
            (Some(l), _) if !l.is_empty() => l,
            (_, Some(d)) => d,
            _ => "",
        }
    }
}

/// Counts and rates over the batch.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchTotals {
    /// Units in the batch.
    pub units: usize,
    /// Done.
    pub done: usize,
    /// Running.
    pub running: usize,
    /// Failed.
    pub failed: usize,
    /// Interrupted.
    pub interrupted: usize,
    /// Pending.
    pub pending: usize,
    /// Dollars spent over all units.
    pub cost_usd: f64,
    /// Tokens over all units.
    pub tokens: u64,
    /// Seconds from the first unit's first event to the last event of any unit.
    pub elapsed_seconds: f64,
    /// Units finished per hour over that span.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub units_per_hour: Option<f64>,
    /// Seconds until every unit is done at that rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta_seconds: Option<f64>,
}

/// A batch's state: [`read_status`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchStatus {
    /// The batch folder.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: BatchManifest,
    /// Every unit, in `units.txt` order.
    pub units: Vec<UnitStatus>,
    /// Counts and rates.
    pub totals: BatchTotals,
    /// Slurm job ids submitted for this batch (`jobs.jsonl`).
    pub jobs: Vec<String>,
    /// Whether `squeue` answered (installed, jobs submitted, the controller reachable).
    pub squeue: bool,
}

/// `squeue` states of an array task that still holds (or will get) an allocation: its
/// shard is Slurm's to finish, not `resume`'s.
pub const QUEUED_STATES: [&str; 8] = [
    "PENDING",
    "CONFIGURING",
    "RUNNING",
    "COMPLETING",
    "REQUEUED",
    "REQUEUE_HOLD",
    "RESIZING",
    "SUSPENDED",
];

impl BatchStatus {
    /// Shards with unfinished units that Slurm still has queued or running (from
    /// `squeue`): resubmitting them would run them twice.
    pub fn queued_shards(&self) -> Vec<usize> {
        let mut shards: Vec<usize> = self
            .units
            .iter()
            .filter(|u| {
                u.slurm
                    .as_deref()
                    .is_some_and(|s| QUEUED_STATES.contains(&s))
            })
            .map(|u| u.shard)
            .collect();
        shards.dedup();
        shards
    }

    /// Shards holding a unit `resume` must work on.
    pub fn unfinished_shards(&self) -> Vec<usize> {
        let mut shards: Vec<usize> = self
            .units
            .iter()
            .filter(|u| u.state.unfinished())
            .map(|u| u.shard)
            .collect();
        shards.dedup();
        shards
    }
}

/// Whether a worker holds `lock` now. Taking a shared lock fails while a worker holds the
/// exclusive one; a lock that cannot be opened is not held.
pub fn lock_held(lock: &Path) -> bool {
    let Ok(file) = File::open(lock) else {
        return false;
    };
    match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            false
        }
        Err(std::fs::TryLockError::WouldBlock) => true,
        Err(std::fs::TryLockError::Error(_)) => false,
    }
}

/// What a unit's journal says, apart from whether a worker holds it now: the one
/// [`RunSummary`] fold every view uses, and a note on a torn last line.
#[derive(Clone, Debug, Default)]
struct JournalFacts {
    summary: RunSummary,
    note: Option<String>,
}

/// A unit's journal as read.
#[derive(Clone, Debug)]
enum Journal {
    /// Not written yet.
    Missing,
    /// Present but not readable: why.
    Unreadable(String),
    /// Read (boxed: the summary is large beside the other variants).
    Read(Box<JournalFacts>),
}

fn read_facts(journal: &Path, dir: &Path) -> Journal {
    let contents = match read_journal(journal) {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Journal::Missing,
        Err(e) => {
            return Journal::Unreadable(format!(
                "its journal cannot be read ({e}); remove {} to run the unit again",
                dir.display()
            ));
        }
    };
    if let Some(damage) = &contents.damage {
        return Journal::Unreadable(format!(
            "its journal is {damage}; `maia resume --repair {}` keeps a copy and continues from its last valid record, or remove the folder to run the unit again",
            dir.display()
        ));
    }
    let note = (contents.torn_bytes > 0).then(|| {
        format!(
            "torn last journal line ({} bytes), dropped when the unit resumes",
            contents.torn_bytes
        )
    });
    Journal::Read(Box::new(JournalFacts {
        summary: RunSummary::fold(&contents.records),
        note,
    }))
}

/// The state of one unit's run folder.
pub fn unit_status(out: &Path, unit: &UnitRef, shard: usize) -> UnitStatus {
    unit_status_with(out, unit, shard, &mut read_facts)
}

fn unit_status_with(
    out: &Path,
    unit: &UnitRef,
    shard: usize,
    journal_of: &mut dyn FnMut(&Path, &Path) -> Journal,
) -> UnitStatus {
    let slug = unit_slug(unit);
    let dir = out.join(RUNS_DIR).join(&slug);
    let mut s = UnitStatus {
        unit: unit.to_string(),
        layer: unit.layer.clone(),
        run: format!("{RUNS_DIR}/{slug}"),
        shard,
        state: UnitState::Pending,
        rounds: 0,
        tokens: 0,
        cost_usd: 0.0,
        seconds: 0.0,
        description: None,
        label: None,
        started_ms: None,
        last_ms: None,
        note: None,
        worker: None,
        slurm: None,
    };
    if !dir.is_dir() {
        return s;
    }
    s.worker = std::fs::read(dir.join(WORKER_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    // The lock is probed only where it can change the answer: a completed journal is done
    // whoever still holds the lock for the moment it takes the worker to let go.
    let running = || lock_held(&dir.join(LOCK_FILE));
    let f = match journal_of(&dir.join(EVENTS_FILE), &dir) {
        Journal::Missing => {
            if running() {
                s.state = UnitState::Running;
            }
            return s;
        }
        Journal::Unreadable(reason) => {
            s.state = UnitState::Failed { reason };
            return s;
        }
        Journal::Read(f) => f,
    };
    let JournalFacts { summary: f, note } = *f;
    s.rounds = f.rounds;
    s.tokens = f.tokens();
    s.cost_usd = f.cost_usd;
    s.description = f.answer.as_ref().map(|a| a.description.clone());
    s.label = f.answer.map(|a| a.label);
    s.started_ms = f.first_ms;
    s.last_ms = f.last_ms;
    s.note = note;
    if let (Some(a), Some(b)) = (s.started_ms, s.last_ms) {
        s.seconds = b.saturating_sub(a) as f64 / 1000.0;
    }
    s.state = match f.ended {
        Some((RunStatus::Completed, _)) => UnitState::Done,
        _ if running() => UnitState::Running,
        // Stopped on purpose (a signal to its worker, the quit key): resumable as is.
        Some((RunStatus::Stopped, reason)) => {
            s.note.get_or_insert(format!("stopped: {reason}"));
            UnitState::Interrupted
        }
        Some((status, reason)) => UnitState::Failed {
            reason: format!("{}: {reason}", status.as_str()),
        },
        None => UnitState::Interrupted,
    };
    s
}

/// One line of `jobs.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// The Slurm job id `sbatch --parsable` printed (`12345`, or `12345;cluster`).
    pub job_id: String,
    /// The `--array` value submitted.
    pub array: String,
    /// When (UNIX ms).
    pub submitted_ms: u64,
}

/// The jobs submitted for the batch in `out`, oldest first.
pub fn read_jobs(out: &Path) -> Vec<JobRecord> {
    std::fs::read_to_string(out.join(JOBS_FILE))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// How long `squeue`/`sacct` may take before status goes on without them (a controller
/// that is down makes them retry for a long time).
const SLURM_DEADLINE: Duration = Duration::from_secs(5);

/// Runs `cmd` to completion, or kills it after `deadline`: `None` when it could not
/// start or ran out of time.
fn output_within(mut cmd: Command, deadline: Duration) -> Option<Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return child.wait_with_output().ok(),
            Ok(None) if started.elapsed() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// Array task states `squeue` reports for `jobs`, by shard: `None` when `squeue` is not
/// installed, fails or does not answer in time.
fn squeue(jobs: &[String]) -> Option<BTreeMap<usize, String>> {
    if jobs.is_empty() {
        return None;
    }
    let mut cmd = Command::new("squeue");
    cmd.args(["--noheader", "--array", "--format=%i %T", "--jobs"])
        .arg(jobs.join(","));
    let output = output_within(cmd, SLURM_DEADLINE)?;
    if !output.status.success() {
        // squeue fails with "Invalid job id" when every job has left the queue: nothing
        // queued. Any other failure (controller down, no slurm.conf) says nothing.
        let stderr = String::from_utf8_lossy(&output.stderr);
        return stderr.contains("Invalid job id").then(BTreeMap::new);
    }
    Some(parse_squeue(&String::from_utf8_lossy(&output.stdout)))
}

/// How Slurm's accounting says each array task of `jobs` ended (`CANCELLED by 0`,
/// `TIMEOUT`, `OUT_OF_MEMORY`, …), by shard, the latest job winning. Empty when `sacct`
/// is missing, accounting is off (`accounting_storage/none`), or it does not answer in
/// time.
fn sacct(jobs: &[String]) -> BTreeMap<usize, String> {
    if jobs.is_empty() {
        return BTreeMap::new();
    }
    let mut cmd = Command::new("sacct");
    cmd.args([
        "--noheader",
        "--parsable2",
        "--format=JobID,State,ExitCode",
        "--jobs",
    ])
    .arg(jobs.join(","));
    match output_within(cmd, SLURM_DEADLINE) {
        Some(o) if o.status.success() => parse_sacct(&String::from_utf8_lossy(&o.stdout), jobs),
        _ => BTreeMap::new(),
    }
}

/// `12345_7|CANCELLED by 0|0:15` lines → shard 7 → `CANCELLED by 0 (exit 0:15)`; job
/// steps (`12345_7.batch`) are skipped; a task of a later job in `jobs` wins.
pub fn parse_sacct(text: &str, jobs: &[String]) -> BTreeMap<usize, String> {
    let mut by_job: Vec<(usize, usize, String)> = Vec::new();
    for line in text.lines() {
        let mut parts = line.split('|');
        let (Some(id), Some(state)) = (parts.next(), parts.next()) else {
            continue;
        };
        let exit = parts.next().unwrap_or_default();
        if id.contains('.') {
            continue;
        }
        let Some((job, task)) = id.split_once('_') else {
            continue;
        };
        let (Some(order), Ok(task)) = (jobs.iter().position(|j| j == job), task.parse()) else {
            continue;
        };
        let state = if exit.is_empty() || exit == "0:0" {
            state.to_owned()
        } else {
            format!("{state} (exit {exit})")
        };
        by_job.push((order, task, state));
    }
    by_job.sort_by_key(|(order, ..)| *order);
    by_job
        .into_iter()
        .map(|(_, task, state)| (task, state))
        .collect()
}

/// `12345_7 RUNNING` lines → shard 7 → `RUNNING`; combined pending lines
/// (`12345_[8-10%2] PENDING`) are expanded.
pub fn parse_squeue(text: &str) -> BTreeMap<usize, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let (Some(id), Some(state)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Some((_, task)) = id.split_once('_') else {
            continue;
        };
        let task = task.trim_start_matches('[').trim_end_matches(']');
        let task = task.split('%').next().unwrap_or_default();
        for piece in task.split(',') {
            let range = match piece.split_once('-') {
                Some((a, b)) => a.parse::<usize>().ok().zip(b.parse::<usize>().ok()),
                None => piece.parse::<usize>().ok().map(|a| (a, a)),
            };
            if let Some((a, b)) = range {
                for shard in a..=b.min(a + 1_000_000) {
                    out.insert(shard, state.to_owned());
                }
            }
        }
    }
    out
}

/// Reads the batch in `out`: every unit's state from its run folder, `squeue` for jobs
/// submitted from it when Slurm is installed, and the totals. Torn journals are reported
/// in the unit's `note` (and unreadable ones as `failed`), never an error; only a folder
/// that is not a batch, or of another format, is.
pub fn read_status(out: &Path) -> Result<BatchStatus, BatchError> {
    StatusReader::new(out).read()
}

/// Reads a batch's status again and again (a live table, a progress line), parsing only
/// the journals that changed since the last read (by size and modification time): a
/// finished unit's journal is read once, so a refresh of thousands of units costs a
/// `stat` and a lock probe each rather than every journal parsed again.
#[derive(Debug)]
pub struct StatusReader {
    out: PathBuf,
    journals: HashMap<PathBuf, (u64, Option<SystemTime>, Journal)>,
}

impl StatusReader {
    /// A reader of the batch in `out`; nothing is read yet.
    pub fn new(out: &Path) -> Self {
        StatusReader {
            out: out.to_path_buf(),
            journals: HashMap::new(),
        }
    }

    /// The batch's status now (see [`read_status`]).
    pub fn read(&mut self) -> Result<BatchStatus, BatchError> {
        let out = self.out.clone();
        let (manifest, units) = load_batch(&out)?;
        let cache = &mut self.journals;
        let mut journal_of = |journal: &Path, dir: &Path| -> Journal {
            let Ok(meta) = std::fs::metadata(journal) else {
                cache.remove(journal);
                return read_facts(journal, dir);
            };
            let key = (meta.len(), meta.modified().ok());
            if let Some((len, mtime, facts)) = cache.get(journal)
                && (*len, *mtime) == key
            {
                return facts.clone();
            }
            let facts = read_facts(journal, dir);
            cache.insert(journal.to_path_buf(), (key.0, key.1, facts.clone()));
            facts
        };
        let mut statuses: Vec<UnitStatus> = units
            .iter()
            .enumerate()
            .map(|(i, u)| unit_status_with(&out, u, manifest.shard_of(i), &mut journal_of))
            .collect();
        let jobs: Vec<String> = read_jobs(&out)
            .into_iter()
            .map(|j| j.job_id.split(';').next().unwrap_or_default().to_owned())
            .collect();
        let queue = squeue(&jobs);
        if let Some(queue) = &queue {
            for s in &mut statuses {
                if s.state.unfinished() {
                    s.slurm = queue.get(&s.shard).cloned();
                }
            }
        }
        // Units cut off or failed whose task has left the queue: how did Slurm end it?
        let ended = |s: &UnitStatus| {
            s.slurm.is_none()
                && matches!(s.state, UnitState::Interrupted | UnitState::Failed { .. })
        };
        if statuses.iter().any(ended) {
            let accounting = sacct(&jobs);
            for s in statuses.iter_mut().filter(|s| ended(s)) {
                s.slurm = accounting.get(&s.shard).cloned();
            }
        }
        let totals = totals(&statuses, now_ms());
        Ok(BatchStatus {
            dir: out.clone(),
            manifest,
            units: statuses,
            totals,
            jobs,
            squeue: queue.is_some(),
        })
    }
}

/// Counts, cost, and the rate of the units finished so far.
pub fn totals(units: &[UnitStatus], now_ms: u64) -> BatchTotals {
    let mut t = BatchTotals {
        units: units.len(),
        ..BatchTotals::default()
    };
    for u in units {
        match u.state {
            UnitState::Done => t.done += 1,
            UnitState::Running => t.running += 1,
            UnitState::Failed { .. } => t.failed += 1,
            UnitState::Interrupted => t.interrupted += 1,
            UnitState::Pending => t.pending += 1,
        }
        t.cost_usd += u.cost_usd;
        t.tokens += u.tokens;
    }
    let first = units.iter().filter_map(|u| u.started_ms).min();
    let last = units
        .iter()
        .filter_map(|u| {
            if u.state == UnitState::Running {
                Some(now_ms)
            } else {
                u.last_ms
            }
        })
        .max();
    if let (Some(a), Some(b)) = (first, last) {
        t.elapsed_seconds = b.saturating_sub(a) as f64 / 1000.0;
    }
    if t.done > 0 && t.elapsed_seconds > 0.0 {
        let per_hour = t.done as f64 / (t.elapsed_seconds / 3600.0);
        t.units_per_hour = Some(per_hour);
        t.eta_seconds = Some((t.units - t.done) as f64 / per_hour * 3600.0);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sacct_lines_map_to_shards_and_the_latest_job_wins() {
        let jobs = vec!["77".to_owned(), "81".to_owned()];
        let text = "77_3|CANCELLED by 0|0:15\n77_3.batch|CANCELLED|0:15\n\
                    77_4|COMPLETED|0:0\n81_4|TIMEOUT|0:0\n81_9|OUT_OF_MEMORY|0:125\n\
                    99_1|FAILED|1:0\nnoise\n";
        let a = parse_sacct(text, &jobs);
        assert_eq!(
            a.get(&3).map(String::as_str),
            Some("CANCELLED by 0 (exit 0:15)")
        );
        assert_eq!(a.get(&4).map(String::as_str), Some("TIMEOUT"));
        assert_eq!(
            a.get(&9).map(String::as_str),
            Some("OUT_OF_MEMORY (exit 0:125)")
        );
        assert_eq!(a.len(), 3, "another batch's job and step lines are skipped");
    }

    #[test]
    fn a_command_past_its_deadline_is_killed() {
        let mut slow = Command::new("sleep");
        slow.arg("30");
        let started = Instant::now();
        assert!(output_within(slow, Duration::from_millis(200)).is_none());
        assert!(started.elapsed() < Duration::from_secs(5));
        let mut quick = Command::new("echo");
        quick.arg("12_3 RUNNING");
        let out = output_within(quick, Duration::from_secs(5)).expect("echo answers");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "12_3 RUNNING");
    }

    #[test]
    fn squeue_lines_map_to_shards() {
        let q = parse_squeue("77_3 RUNNING\n77_[4-6%2] PENDING\n78_0 COMPLETING\nnoise\n");
        assert_eq!(q.get(&3).map(String::as_str), Some("RUNNING"));
        assert_eq!(q.get(&5).map(String::as_str), Some("PENDING"));
        assert_eq!(q.get(&0).map(String::as_str), Some("COMPLETING"));
        assert_eq!(q.len(), 5);
    }

    fn two_unit_batch(dir: &Path) -> PathBuf {
        use crate::batch::plan::{SlurmOptions, WorkerOptions, shard_count};
        use crate::batch::{FORMAT, HostMode, MAIA_VERSION, PlanOptions, write_plan};
        let out = dir.join("b");
        let units: Vec<UnitRef> = (0..2)
            .map(|unit| UnitRef {
                layer: "layer4".into(),
                unit,
            })
            .collect();
        let manifest = BatchManifest {
            format: FORMAT,
            maia_version: MAIA_VERSION.into(),
            created_ms: 0,
            name: "t".into(),
            target: "torch:m.pt".into(),
            units_spec: "layer4:0..2".into(),
            units: 2,
            task: "describe-unit".into(),
            shard_size: 1,
            shards: shard_count(2, 1),
            maia: "/usr/bin/maia".into(),
            host: HostMode::None,
            slurm: SlurmOptions::default(),
            worker: WorkerOptions::default(),
            config: crate::config::Config::default(),
        };
        let plan = PlanOptions {
            manifest,
            units,
            force: false,
        };
        write_plan(&out, &plan).unwrap_or_else(|e| panic!("{e}"));
        out
    }

    #[test]
    fn a_cached_reader_sees_a_journal_grow_and_a_new_unit_start() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let out = two_unit_batch(dir.path());
        let run = out.join(RUNS_DIR).join("layer4-0");
        std::fs::create_dir_all(&run).unwrap_or_else(|e| panic!("{e}"));
        let journal = run.join(EVENTS_FILE);
        std::fs::write(
            &journal,
            "{\"seq\":0,\"t_ms\":1000,\"type\":\"round_started\",\"round\":1}\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut reader = StatusReader::new(&out);
        let first = reader.read().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(first.units[0].state, UnitState::Interrupted);
        assert_eq!(first.units[0].rounds, 1);
        assert_eq!(first.units[1].state, UnitState::Pending);

        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&journal)
            .unwrap_or_else(|e| panic!("{e}"));
        writeln!(
            f,
            "{{\"seq\":1,\"t_ms\":3000,\"type\":\"round_started\",\"round\":2}}\n\
             {{\"seq\":2,\"t_ms\":4000,\"type\":\"run_ended\",\"status\":\"completed\",\"reason\":\"final answer given\"}}"
        )
        .unwrap_or_else(|e| panic!("{e}"));
        drop(f);
        let other = out.join(RUNS_DIR).join("layer4-1");
        std::fs::create_dir_all(&other).unwrap_or_else(|e| panic!("{e}"));
        let lock = File::create(other.join(LOCK_FILE)).unwrap_or_else(|e| panic!("{e}"));
        lock.lock().unwrap_or_else(|e| panic!("{e}"));

        let second = reader.read().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(second.units[0].state, UnitState::Done);
        assert_eq!(second.units[0].rounds, 2);
        assert_eq!(second.units[0].seconds, 3.0);
        assert_eq!(second.units[1].state, UnitState::Running);
        let cold = read_status(&out).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            serde_json::to_value(&cold.units).ok(),
            serde_json::to_value(&second.units).ok(),
            "the cached reader agrees with a cold read"
        );
        drop(lock);
        let third = reader.read().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            third.units[1].state,
            UnitState::Pending,
            "no journal, no lock"
        );
    }

    #[test]
    fn a_held_lock_reads_as_running() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let lock = dir.path().join(LOCK_FILE);
        assert!(!lock_held(&lock));
        let file = File::create(&lock).unwrap_or_else(|e| panic!("{e}"));
        assert!(!lock_held(&lock));
        file.lock().unwrap_or_else(|e| panic!("{e}"));
        assert!(lock_held(&lock));
        drop(file);
        assert!(!lock_held(&lock));
    }
}
