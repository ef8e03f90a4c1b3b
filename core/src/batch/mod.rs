//! `maia batch`: thousands of units as headless runs, fanned out over a Slurm job array
//! or over local worker processes, with one journal per unit so that a batch can be
//! watched, killed and resumed unit by unit.
//!
//! A batch is a folder (`OUT/`):
//!
//! ```text
//! OUT/batch.toml      manifest: format version, maia version, target, task, resolved
//!                     config (no secrets), shard size, Slurm and host options
//! OUT/units.txt       one unit per line (`layer3:42`); unit i is in shard i / shard_size
//! OUT/batch.sbatch    the job array: task i runs `maia batch work OUT --shard i`
//! OUT/jobs.jsonl      one line per submission (job id, shards, time)
//! OUT/runs/<slug>/    one run folder per unit (events.jsonl, result.json, images/ …),
//!                     plus `.lock` (held while a worker runs it) and `worker.json`
//! OUT/logs/           the array tasks' stdout/stderr (Slurm) or workers' (local)
//! OUT/results.jsonl   one line per unit ([`results`])
//! OUT/summary/<layer>.md, .html
//! ```
//!
//! [`units`] parses `--units` against the target's layers; [`plan`] writes the folder and
//! reads it back (refusing other format versions); [`worker`] runs one shard's units one
//! after another (finished → skipped, journal → resumed, nothing → started);
//! [`status`] reads every unit's state from its journal and lock ([`read_status`], or
//! again and again through a [`StatusReader`], which parses only journals that changed);
//! [`results`] gathers the finished units.

pub mod plan;
pub mod results;
pub mod status;
pub mod units;
pub mod worker;

pub use plan::{
    BatchManifest, HostMode, PlanOptions, SlurmOptions, load_batch, sbatch_script, write_plan,
};
pub use results::{Gathered, ResultRow, RowScore, gather};
pub use status::{
    BatchStatus, BatchTotals, JobRecord, StatusReader, UnitState, UnitStatus, WorkerInfo,
    read_status,
};
pub use units::{parse_units, unit_slug};
pub use worker::{ShardOutcome, WorkerEvent, WorkerParts, run_shard};

use std::path::{Path, PathBuf};

/// The batch folder format this maia writes and reads. Raised whenever a change to the
/// folder's layout or `batch.toml` would make an older maia misread it.
pub const FORMAT: u32 = 1;
/// The manifest.
pub const MANIFEST_FILE: &str = "batch.toml";
/// The unit list.
pub const UNITS_FILE: &str = "units.txt";
/// The Slurm job-array script.
pub const SBATCH_FILE: &str = "batch.sbatch";
/// Submissions, one JSON line each.
pub const JOBS_FILE: &str = "jobs.jsonl";
/// Run folders, one per unit.
pub const RUNS_DIR: &str = "runs";
/// Job logs.
pub const LOGS_DIR: &str = "logs";
/// Gathered results.
pub const RESULTS_FILE: &str = "results.jsonl";
/// Per-layer summaries.
pub const SUMMARY_DIR: &str = "summary";
/// The lock a worker holds on a unit's run folder while it runs it.
pub const LOCK_FILE: &str = ".lock";
/// Who runs (or last ran) a unit: host, pid, Slurm ids.
pub const WORKER_FILE: &str = "worker.json";

/// This maia's version, recorded in every manifest.
pub const MAIA_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Why a batch could not be planned, read or worked on.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// Reading or writing a file of the batch.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A `--units` spec that names nothing, or something the target lacks.
    #[error("{0}")]
    Units(String),
    /// A bad option value.
    #[error("{0}")]
    Options(String),
    /// The folder is not a batch.
    #[error(
        "{} is not a maia batch folder (no {MANIFEST_FILE}); plan one with `maia batch plan --target … --units … {}`",
        .dir.display(), .dir.display()
    )]
    NotABatch {
        /// The folder.
        dir: PathBuf,
    },
    /// The folder was written by a maia whose batch format differs.
    #[error(
        "{} was written by maia {written_by} in batch format {found}; this maia ({MAIA_VERSION}) reads format {FORMAT}. {hint}",
        .dir.display()
    )]
    Format {
        /// The folder.
        dir: PathBuf,
        /// Its format.
        found: i64,
        /// The maia version that wrote it.
        written_by: String,
        /// What to do.
        hint: String,
    },
    /// `batch.toml` or `units.txt` cannot be parsed.
    #[error("{}: {message}; re-plan the batch with `maia batch plan … --force`", .path.display())]
    Manifest {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Planning into a folder that holds something else.
    #[error("{0}")]
    Exists(String),
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BatchError + '_ {
    move |source| BatchError::Io {
        path: path.to_path_buf(),
        source,
    }
}
