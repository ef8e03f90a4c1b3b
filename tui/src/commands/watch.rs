//! `maia watch RUN`: follow a run started elsewhere (headless, another SSH session, a
//! batch job) from its journal, read-only — in the terminal UI, or as plain lines.
//! `maia watch OUT/` on a batch folder shows the live table of all its units instead.

use anyhow::{Context, Result, bail};
use maia_core::agent::Event;
use maia_core::agent::dir::{EVENTS_FILE, RunDir};
use maia_core::batch::{self, BatchStatus, StatusReader, UnitState, read_status};
use maia_tui::headless;
use maia_tui::ui::batch::{BatchRow, BatchSnapshot, Loader, UnitState as RowState};
use maia_tui::ui::follow::{JournalFollower, POLL_INTERVAL};
use maia_tui::ui::{ImageMode, UiOptions};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Options of `maia watch`.
#[derive(clap::Args, Debug)]
pub struct WatchArgs {
    /// The run: its id (a folder under --runs-dir) or a path to its folder. A batch
    /// folder (`maia batch plan`) shows the live table of its units; Enter opens one.
    #[arg(value_name = "RUN|BATCH")]
    pub run: String,
    /// Image display: auto, sixel, halfblocks, none.
    #[arg(long, value_name = "MODE", default_value = "auto")]
    pub images: ImageMode,
    /// No terminal UI: one plain line per event (the default when stdout is not a
    /// terminal). Ends when the run does, unless --follow.
    #[arg(long)]
    pub headless: bool,
    /// With --headless: one JSON event per line instead.
    #[arg(long)]
    pub json: bool,
    /// With --headless: keep following after the run ends (a `maia resume` appends).
    #[arg(long)]
    pub follow: bool,
    /// Don't capture the mouse (lets the terminal select text).
    #[arg(long)]
    pub no_mouse: bool,
    /// Folder holding runs.
    #[arg(long, value_name = "DIR", default_value = "runs")]
    pub runs_dir: PathBuf,
}

/// The run folder `run` names: a path to a folder (or to its `events.jsonl`), else an
/// id under `runs_dir`.
pub fn resolve_run(run: &str, runs_dir: &Path) -> Result<PathBuf> {
    let as_path = Path::new(run);
    if as_path.is_file() && as_path.file_name().is_some_and(|n| n == EVENTS_FILE) {
        return Ok(as_path.parent().unwrap_or(Path::new(".")).to_path_buf());
    }
    if as_path.is_dir()
        && (RunDir::new(as_path).has_journal() || RunDir::new(as_path).images().is_dir())
    {
        return Ok(as_path.to_path_buf());
    }
    let under = runs_dir.join(run);
    if under.is_dir() {
        return Ok(under);
    }
    if as_path.is_dir() {
        return Ok(as_path.to_path_buf());
    }
    bail!(
        "no run '{run}': neither {} nor a folder at that path exists; `maia runs` lists runs \
         (or pass --runs-dir)",
        under.display()
    )
}

/// Runs `maia watch`.
pub fn run(args: WatchArgs) -> Result<ExitCode> {
    if Path::new(&args.run).join(batch::MANIFEST_FILE).is_file() {
        return watch_batch(Path::new(&args.run), &args);
    }
    let run_dir = resolve_run(&args.run, &args.runs_dir)?;
    let headless = args.headless || args.json || !std::io::stdout().is_terminal();
    if headless {
        return print_lines(&run_dir, args.json, args.follow);
    }
    let (opts, runtime) = ui_session(&args)?;
    runtime.block_on(maia_tui::ui::watch(run_dir, opts))?;
    Ok(ExitCode::SUCCESS)
}

/// Prints the journal's records as lines, following it; returns after `run_ended`
/// unless `follow`.
fn print_lines(run_dir: &Path, json: bool, follow: bool) -> Result<ExitCode> {
    let mut follower = JournalFollower::new(RunDir::new(run_dir).events());
    let stdout = std::io::stdout();
    loop {
        let records = follower
            .poll()
            .with_context(|| format!("could not read {}", follower.path().display()))?;
        let mut out = stdout.lock();
        let mut ended = false;
        for record in &records {
            let line = if json {
                Some(headless::json_line(record)?)
            } else {
                headless::format_line(record)
            };
            if let Some(line) = line
                && writeln!(out, "{line}").is_err()
            {
                // The reader went away (`| head`): nothing more to do.
                return Ok(ExitCode::SUCCESS);
            }
            ended = matches!(record.event, Event::RunEnded { .. });
        }
        if out.flush().is_err() {
            return Ok(ExitCode::SUCCESS);
        }
        drop(out);
        if ended && !follow {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// The table's view of a batch's status.
pub fn snapshot(status: &BatchStatus) -> BatchSnapshot {
    let m = &status.manifest;
    let rows = status
        .units
        .iter()
        .map(|u| {
            let (state, note) = match &u.state {
                UnitState::Done => (RowState::Done, u.answer().to_owned()),
                UnitState::Running => (RowState::Running, u.answer().to_owned()),
                UnitState::Failed { reason } => (RowState::Failed, reason.clone()),
                UnitState::Interrupted => (
                    RowState::Interrupted,
                    u.note
                        .clone()
                        .unwrap_or_else(|| "cut off; `maia batch resume` continues it".into()),
                ),
                UnitState::Pending => (
                    RowState::Pending,
                    u.slurm
                        .clone()
                        .map(|s| format!("slurm: {s}"))
                        .unwrap_or_default(),
                ),
            };
            BatchRow {
                unit: u.unit.clone(),
                state,
                rounds: u.rounds,
                cost_usd: u.cost_usd,
                seconds: u.seconds,
                note,
                run_dir: (state != RowState::Pending).then(|| status.dir.join(&u.run)),
            }
        })
        .collect();
    BatchSnapshot {
        title: format!(
            "{} · {} · {} · {} shards",
            status.dir.display(),
            m.target,
            m.task,
            m.shards
        ),
        rows,
        units_per_hour: status.totals.units_per_hour,
        // Without a worker on it the batch is not getting anywhere: no ETA then.
        eta: (status.totals.running > 0)
            .then_some(status.totals.eta_seconds)
            .flatten()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(std::time::Duration::from_secs_f64),
    }
}

/// The terminal UI's options from the flags, and the runtime it runs on.
fn ui_session(args: &WatchArgs) -> Result<(UiOptions, tokio::runtime::Runtime)> {
    let opts = UiOptions {
        images: args.images,
        mouse: !args.no_mouse,
        ..UiOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    Ok((opts, runtime))
}

/// `maia watch OUT/`: the live table, or (headless) one line per unit and then one per
/// change of state while any unit runs or waits in Slurm's queue (`--follow`: keeps
/// going after that, e.g. for a batch about to be resumed).
fn watch_batch(out: &Path, args: &WatchArgs) -> Result<ExitCode> {
    let out = out.to_path_buf();
    let headless = args.headless || args.json || !std::io::stdout().is_terminal();
    if headless {
        return print_batch(&out, args.json, args.follow);
    }
    // Refuse a folder of another format before taking the terminal over.
    read_status(&out).with_context(|| format!("reading the batch in {}", out.display()))?;
    let loader: Loader = {
        // One reader across refreshes: a finished unit's journal is parsed once.
        let reader = std::sync::Mutex::new(StatusReader::new(&out));
        std::sync::Arc::new(move || {
            let mut reader = reader
                .lock()
                .map_err(|_| anyhow::anyhow!("the batch reader panicked earlier"))?;
            reader
                .read()
                .map(|s| snapshot(&s))
                .map_err(anyhow::Error::from)
        })
    };
    let (opts, runtime) = ui_session(args)?;
    runtime.block_on(maia_tui::ui::batch::watch_batch(loader, opts))?;
    Ok(ExitCode::SUCCESS)
}

fn print_batch(out: &Path, json: bool, follow: bool) -> Result<ExitCode> {
    let mut last: std::collections::BTreeMap<String, String> = Default::default();
    let stdout = std::io::stdout();
    let mut reader = StatusReader::new(out);
    loop {
        let status = reader
            .read()
            .with_context(|| format!("reading the batch in {}", out.display()))?;
        let mut lines = Vec::new();
        for u in &status.units {
            let key = format!("{}|{}", u.state.name(), u.rounds);
            if last.get(&u.unit) == Some(&key) {
                continue;
            }
            last.insert(u.unit.clone(), key);
            lines.push(if json {
                serde_json::to_string(u)?
            } else {
                format!(
                    "{} {} rounds={} cost=${:.3} {}",
                    u.unit,
                    u.state.name(),
                    u.rounds,
                    u.cost_usd,
                    match &u.state {
                        UnitState::Failed { reason } => reason.as_str(),
                        _ => u.answer(),
                    }
                )
            });
        }
        let mut w = stdout.lock();
        for line in lines {
            if writeln!(w, "{line}").is_err() {
                return Ok(ExitCode::SUCCESS);
            }
        }
        if w.flush().is_err() {
            return Ok(ExitCode::SUCCESS);
        }
        drop(w);
        let t = &status.totals;
        let queued = status.units.iter().any(|u| u.slurm.is_some());
        if !follow && t.running == 0 && !queued {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}
