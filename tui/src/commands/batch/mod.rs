//! `maia batch`: many units as headless runs over a Slurm job array, or over worker
//! processes on this machine with `--local N` — the same shards, the same status and
//! resume. The batch folder and its files are [`maia_core::batch`]'s.

mod local;
mod plan;
mod show;
mod work;

pub use plan::PlanArgs;

use anyhow::{Context, Result, bail};
use maia_core::batch::status::{JobRecord, read_jobs};
use maia_core::batch::{BatchStatus, JOBS_FILE, SBATCH_FILE, load_batch, read_status};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `maia batch` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum BatchCommand {
    /// Write a batch folder: the unit list, the resolved config (no secrets) and a Slurm
    /// job-array script whose tasks each run a shard of units headless.
    Plan(Box<PlanArgs>),
    /// Submit the batch's job array with sbatch.
    Submit(SubmitArgs),
    /// Every unit's state (done, running, failed, interrupted, pending) with cost and
    /// throughput, from the run journals (and squeue where Slurm is installed).
    Status(StatusArgs),
    /// Work again on the units not done (interrupted, failed, pending), resuming each from
    /// its journal: a new job array of only their shards, or --local N on this machine.
    Resume(ResumeArgs),
    /// Run the batch on this machine without Slurm: N worker processes at once.
    Run(RunArgs),
    /// Write OUT/results.jsonl and OUT/summary/<layer>.md and .html.
    Gather(Box<GatherArgs>),
    /// Run one shard's units one after another (what each array task runs).
    Work(work::WorkArgs),
}

/// Options of `maia batch submit`.
#[derive(clap::Args, Debug)]
pub struct SubmitArgs {
    /// The batch folder.
    pub out: PathBuf,
}

/// Options of `maia batch status`.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// The batch folder.
    pub out: PathBuf,
    /// Print the status as JSON.
    #[arg(long)]
    pub json: bool,
    /// Only the totals, no table of units.
    #[arg(long, conflicts_with = "json")]
    pub brief: bool,
    /// Also write results.jsonl and the per-layer summaries.
    #[arg(long)]
    pub gather: bool,
}

/// Options of `maia batch resume`.
#[derive(clap::Args, Debug)]
pub struct ResumeArgs {
    /// The batch folder.
    pub out: PathBuf,
    /// Without Slurm: run the unfinished shards here, N worker processes at once.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub local: Option<u32>,
    /// Also resubmit shards Slurm still has queued or running (they would run twice).
    #[arg(long)]
    pub force: bool,
}

/// Options of `maia batch run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The batch folder.
    pub out: PathBuf,
    /// Worker processes at once on this machine.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub local: u32,
}

/// Options of `maia batch gather`.
#[derive(clap::Args, Debug)]
pub struct GatherArgs {
    /// The batch folder.
    pub out: PathBuf,
    /// First score every finished unit's answer, as `maia report RUN --score` does (the
    /// shapes world's evaluator, or `--evaluator llm` for any model), keeping score.json in
    /// each run folder; results.jsonl and the summaries then list the scores. Units already
    /// scored keep their score.
    #[arg(long)]
    pub score: bool,
    /// How --score scores (as `maia report --score`).
    #[command(flatten)]
    pub scoring: crate::commands::report::ScoreFlags,
    #[command(flatten)]
    pub plugins: crate::plugin_args::PluginArgs,
}

/// Runs a `maia batch` subcommand.
pub fn run(cmd: BatchCommand) -> Result<ExitCode> {
    match cmd {
        BatchCommand::Plan(args) => plan::plan(*args),
        BatchCommand::Submit(args) => submit(&args.out, None),
        BatchCommand::Status(args) => show::status(args),
        BatchCommand::Resume(args) => resume(args),
        BatchCommand::Run(args) => {
            local::run_local(&args.out, &read_status(&args.out)?, args.local, false)
        }
        BatchCommand::Gather(args) => show::gather(*args),
        BatchCommand::Work(args) => work::work(args),
    }
}

/// `sbatch` on `PATH`, if installed.
fn find_sbatch() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("sbatch"))
        .find(|p| p.is_file())
}

/// What to do when sbatch's complaint says it found no Slurm controller (no `slurm.conf`,
/// no DNS SRV record, the controller down), or nothing when it says something else.
fn no_controller_hint(stderr: &str, out: &Path) -> String {
    const SIGNS: [&str; 4] = [
        "configuration source",
        "Unable to contact slurm controller",
        "fetch_config",
        "slurm.conf",
    ];
    if !SIGNS.iter().any(|s| stderr.contains(s)) {
        return String::new();
    }
    let out = maia_tui::shell::quote_path(out);
    format!(
        "\n\nsbatch reached no Slurm controller from this machine. Submit from the cluster's login node, point SLURM_CONF at the cluster's slurm.conf, or run the batch here without Slurm: `maia batch run {out} --local N`."
    )
}

/// When sbatch refused the array's indices, what the plan asked for and what fits.
fn array_hint(stderr: &str, manifest: &maia_core::batch::BatchManifest) -> String {
    if !stderr.contains("Invalid job array specification") {
        return String::new();
    }
    match maia_core::batch::plan::array_size_warning(manifest.units, manifest.shards) {
        Some(warning) => format!("\n\n{warning}."),
        None => format!(
            "\n\nThis array has {} tasks; the cluster's MaxArraySize may be lower (`scontrol show config | grep MaxArraySize`): re-plan with a larger --shard-size and --force.",
            manifest.shards
        ),
    }
}

fn no_sbatch(out: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "sbatch is not on PATH: this machine has no Slurm client. Submit from a cluster login node, or run the batch here without Slurm with `maia batch run {} --local N` (N runs at once; `maia batch resume {} --local N` later continues it)",
        maia_tui::shell::quote_path(out),
        maia_tui::shell::quote_path(out)
    )
}

/// Submits `OUT/batch.sbatch` (only the array tasks in `shards`, when given) and records
/// the job in `OUT/jobs.jsonl`.
fn submit(out: &Path, shards: Option<&[usize]>) -> Result<ExitCode> {
    let (manifest, _) = load_batch(out)?;
    let sbatch = find_sbatch().ok_or_else(|| no_sbatch(out))?;
    let out = std::path::absolute(out).with_context(|| format!("{}", out.display()))?;
    let array = maia_core::batch::plan::array_spec(&manifest, shards);
    let mut cmd = std::process::Command::new(&sbatch);
    cmd.arg("--parsable");
    if shards.is_some() {
        // On the command line, --array overrides the script's #SBATCH --array.
        cmd.arg(format!("--array={array}"));
    }
    cmd.arg(out.join(SBATCH_FILE)).current_dir(&out);
    let output = cmd
        .output()
        .with_context(|| format!("running {}", sbatch.display()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        bail!(
            "sbatch refused the job array ({}): {}{}",
            output.status,
            stderr.trim(),
            no_controller_hint(&stderr, &out) + &array_hint(&stderr, &manifest)
        );
    }
    let job_id = String::from_utf8_lossy(&output.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    if job_id.is_empty() {
        bail!("sbatch printed no job id");
    }
    let record = JobRecord {
        job_id: job_id.clone(),
        array: array.clone(),
        submitted_ms: maia_core::agent::journal::now_ms(),
    };
    let jobs = out.join(JOBS_FILE);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&jobs)
        .with_context(|| format!("opening {}", jobs.display()))?;
    writeln!(file, "{}", serde_json::to_string(&record)?)
        .with_context(|| format!("writing {}", jobs.display()))?;
    println!(
        "submitted job {job_id} (array {array}, {} submissions so far)\nfollow it with `maia batch status {}`",
        read_jobs(&out).len(),
        maia_tui::shell::quote_path(&out)
    );
    Ok(ExitCode::SUCCESS)
}

fn resume(args: ResumeArgs) -> Result<ExitCode> {
    let status: BatchStatus = read_status(&args.out)?;
    let mut shards = status.unfinished_shards();
    let queued = status.queued_shards();
    if !queued.is_empty() && args.local.is_none() && !args.force {
        shards.retain(|s| !queued.contains(s));
        eprintln!(
            "note: {} shards are still queued or running in Slurm ({}); left to it \
             (--force resubmits them anyway)",
            queued.len(),
            status.jobs.join(", ")
        );
    }
    let t = &status.totals;
    if t.running > 0 {
        eprintln!(
            "note: {} units are running now; their shards are left to the workers that hold them",
            t.running
        );
    }
    if shards.is_empty() {
        println!(
            "nothing to resume: {} of {} units done{}",
            t.done,
            t.units,
            if t.running > 0 || !queued.is_empty() {
                ", the rest running or queued"
            } else {
                ""
            }
        );
        if t.running == 0 && queued.is_empty() {
            show::gather_status(&status)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let resumed: Vec<_> = status
        .units
        .iter()
        .filter(|u| u.state.unfinished() && shards.contains(&u.shard))
        .collect();
    let count = |name: &str| resumed.iter().filter(|u| u.state.name() == name).count();
    println!(
        "resuming {} units ({} interrupted, {} failed, {} pending) in {} shards",
        resumed.len(),
        count("interrupted"),
        count("failed"),
        count("pending"),
        shards.len()
    );
    match args.local {
        Some(n) => local::run_local(&args.out, &status, n, true),
        None => submit(&args.out, Some(&shards)),
    }
}
