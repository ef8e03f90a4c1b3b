//! `maia runs`: every run in the runs folder with its status, rounds, cost and answer.

use crate::table::Table;
use anyhow::Result;
use maia_core::agent::Event;
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

/// A run's state, read from its journal.
#[derive(Debug, Default, PartialEq)]
pub struct RunSummary {
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
pub fn summarize(dir: &Path) -> Option<RunSummary> {
    let contents = read_journal(&dir.join("events.jsonl")).ok()?;
    let damage = contents.damage.clone();
    let mut s = RunSummary {
        id: dir.file_name()?.to_string_lossy().into_owned(),
        status: "running?".into(),
        ..Default::default()
    };
    for r in contents.records {
        match r.event {
            Event::RunStarted {
                target,
                unit,
                backend,
                model,
                ..
            } => {
                s.unit = format!("{target} {unit}");
                s.backend = format!("{backend}/{model}");
            }
            Event::RoundStarted { round } => s.rounds = round,
            Event::AssistantMessage { cost_usd, .. } => s.cost_usd += cost_usd,
            Event::FinalAnswer {
                description, label, ..
            } => s.answer = if label.is_empty() { description } else { label },
            Event::RunEnded { status, .. } => s.status = status.as_str().into(),
            Event::Resumed { .. } => s.status = "running?".into(),
            _ => {}
        }
    }
    if let Some(damage) = damage {
        s.status = format!("damaged at line {}", damage.line);
    }
    Some(s)
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
    let mut runs: Vec<RunSummary> = entries
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
