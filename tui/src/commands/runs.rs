//! `maia runs`: every run in the runs folder with its status, rounds, cost and answer.

use crate::table::Table;
use anyhow::Result;
use maia_core::agent::dir::RunDir;
use maia_core::agent::journal::read_journal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Options of `maia runs`.
#[derive(clap::Args, Debug)]
pub struct RunsArgs {
    /// Folder runs are in.
    #[arg(long, value_name = "DIR", default_value = "runs")]
    pub runs_dir: PathBuf,
}

/// A run's line in `maia runs`, from the journal's [`maia_core::agent::summary::RunSummary`].
#[derive(Debug, Default, PartialEq)]
pub struct RunLine {
    /// Run id.
    pub id: String,
    /// `completed`, `stopped`, `limit`, `failed`, or `running?` (no end event: running
    /// now, or killed — `maia resume` continues it).
    pub status: String,
    /// Target and unit.
    pub unit: String,
    /// Backend/model.
    pub backend: String,
    /// Rounds.
    pub rounds: u32,
    /// Dollars.
    pub cost_usd: f64,
    /// Answer label or description.
    pub answer: String,
}

/// Reads one run folder.
pub fn summarize(dir: &Path) -> Option<RunLine> {
    let contents = read_journal(&RunDir::new(dir).events()).ok()?;
    let fold = maia_core::agent::summary::RunSummary::fold(&contents.records);
    let status = match &contents.damage {
        Some(damage) => format!("damaged at line {}", damage.line),
        None => fold.status_label().to_owned(),
    };
    Some(RunLine {
        id: dir.file_name()?.to_string_lossy().into_owned(),
        status,
        unit: format!("{} {}", fold.target, fold.unit).trim().to_owned(),
        backend: if fold.backend.is_empty() {
            String::new()
        } else {
            format!("{}/{}", fold.backend, fold.model)
        },
        rounds: fold.rounds,
        cost_usd: fold.cost_usd,
        answer: fold
            .answer
            .map(|a| {
                if a.label.is_empty() {
                    a.description
                } else {
                    a.label
                }
            })
            .unwrap_or_default(),
    })
}

/// Runs `maia runs`.
pub fn run(args: RunsArgs) -> Result<ExitCode> {
    let Ok(entries) = std::fs::read_dir(&args.runs_dir) else {
        println!(
            "no runs in {} yet: start one with `maia run` or `maia demo`",
            args.runs_dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    };
    let mut runs: Vec<RunLine> = entries
        .flatten()
        .filter_map(|e| summarize(&e.path()))
        .collect();
    runs.sort_by(|a, b| a.id.cmp(&b.id));
    if runs.is_empty() {
        println!(
            "no runs in {} yet: start one with `maia run` or `maia demo`",
            args.runs_dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&[
        "RUN", "STATUS", "TARGET", "BACKEND", "ROUNDS", "COST", "ANSWER",
    ]);
    for r in runs {
        table.row(vec![
            r.id,
            r.status,
            r.unit,
            r.backend,
            r.rounds.to_string(),
            format!("${:.4}", r.cost_usd),
            r.answer,
        ]);
    }
    print!("{}", table.render());
    Ok(ExitCode::SUCCESS)
}
