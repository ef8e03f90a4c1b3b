//! `maia watch RUN`: follow a run started elsewhere (headless, another SSH session, a
//! batch job) from its journal, read-only — in the terminal UI, or as plain lines.

use anyhow::{Context, Result, bail};
use maia_core::agent::Event;
use maia_tui::headless;
use maia_tui::ui::follow::{JournalFollower, POLL_INTERVAL};
use maia_tui::ui::{ImageMode, UiOptions};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Options of `maia watch`.
#[derive(clap::Args, Debug)]
pub struct WatchArgs {
    /// The run: its id (a folder under --runs-dir) or a path to its folder.
    #[arg(value_name = "RUN")]
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
    if as_path.is_file() && as_path.file_name().is_some_and(|n| n == "events.jsonl") {
        return Ok(as_path.parent().unwrap_or(Path::new(".")).to_path_buf());
    }
    if as_path.is_dir()
        && (as_path.join("events.jsonl").exists() || as_path.join("images").is_dir())
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
    let run_dir = resolve_run(&args.run, &args.runs_dir)?;
    let headless = args.headless || args.json || !std::io::stdout().is_terminal();
    if headless {
        return print_lines(&run_dir, args.json, args.follow);
    }
    let opts = UiOptions {
        images: args.images,
        mouse: !args.no_mouse,
        ..UiOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(maia_tui::ui::watch(run_dir, opts))?;
    Ok(ExitCode::SUCCESS)
}

/// Prints the journal's records as lines, following it; returns after `run_ended`
/// unless `follow`.
fn print_lines(run_dir: &Path, json: bool, follow: bool) -> Result<ExitCode> {
    let mut follower = JournalFollower::new(run_dir.join("events.jsonl"));
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
