//! `maia batch status` and `maia batch gather`.

use super::StatusArgs;
use crate::table::Table;
use anyhow::Result;
use maia_core::batch::{BatchStatus, UnitState, gather as gather_results, read_status};
use std::process::ExitCode;

fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s / 60 % 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// The totals as one paragraph.
pub fn totals_text(status: &BatchStatus) -> String {
    let t = &status.totals;
    let mut out = format!(
        "{} units: {} done, {} running, {} failed, {} interrupted, {} pending; ${:.4} spent, {} tokens",
        t.units, t.done, t.running, t.failed, t.interrupted, t.pending, t.cost_usd, t.tokens
    );
    if let Some(rate) = t.units_per_hour {
        out.push_str(&format!(
            "\n{rate:.1} units/hour over {}",
            duration(t.elapsed_seconds)
        ));
        if let Some(eta) = t.eta_seconds
            && t.done < t.units
        {
            out.push_str(&format!(", about {} to go", duration(eta)));
        }
    }
    if !status.jobs.is_empty() {
        out.push_str(&format!(
            "\nSlurm jobs: {}{}",
            status.jobs.join(", "),
            if status.squeue {
                ""
            } else {
                " (squeue did not answer: not installed, or the controller is unreachable; queue state unknown)"
            }
        ));
    }
    out
}

/// The table of units.
pub fn table(status: &BatchStatus) -> String {
    let mut t = Table::new(&["UNIT", "STATE", "SHARD", "ROUNDS", "COST", "TIME", "ANSWER"]);
    for u in &status.units {
        let mut state = u.state.name().to_owned();
        if let Some(q) = &u.slurm {
            state.push_str(&format!(" ({})", q.to_lowercase()));
        }
        let mut answer = match &u.state {
            UnitState::Failed { reason } => reason.clone(),
            _ => u.answer().to_owned(),
        };
        if let Some(note) = &u.note {
            answer = if answer.is_empty() {
                note.clone()
            } else {
                format!("{answer} [{note}]")
            };
        }
        t.row(vec![
            u.unit.clone(),
            state,
            u.shard.to_string(),
            u.rounds.to_string(),
            format!("${:.4}", u.cost_usd),
            duration(u.seconds),
            answer,
        ]);
    }
    t.render()
}

/// Runs `maia batch status`.
pub fn status(args: StatusArgs) -> Result<ExitCode> {
    let status = read_status(&args.out)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        if !args.brief {
            print!("{}", table(&status));
            println!();
        }
        println!("{}", totals_text(&status));
        let t = &status.totals;
        if t.interrupted + t.failed > 0 && t.running == 0 {
            println!(
                "continue the unfinished units with `maia batch resume {}` (add --local N without Slurm)",
                maia_tui::shell::quote_path(&args.out)
            );
        }
    }
    if args.gather {
        write(&status)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `results.jsonl` and the per-layer summaries of `status`, and says where.
pub fn write(status: &BatchStatus) -> Result<()> {
    let gathered = gather_results(status)?;
    eprintln!(
        "results: {}\nsummaries: {}",
        gathered.results.display(),
        gathered
            .summaries
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// Runs `maia batch gather` (scoring first with `--score`).
pub fn gather(args: super::GatherArgs) -> Result<ExitCode> {
    let status = read_status(&args.out)?;
    if args.score {
        score_units(&status, &args);
    }
    gather_status(&status)
}

/// Scores every finished unit without a score yet through `maia report --score`'s path;
/// a unit that cannot be scored is said and skipped.
fn score_units(status: &BatchStatus, args: &super::GatherArgs) {
    for unit in &status.units {
        if unit.state.name() != "done" || unit.run.is_empty() {
            continue;
        }
        let run_dir = status.dir.join(&unit.run);
        if run_dir.join(maia_tui::report::score::SCORE_FILE).is_file() {
            continue;
        }
        let report_args = crate::commands::report::ReportArgs {
            run: run_dir.display().to_string(),
            runs_dir: status.dir.clone(),
            out: None,
            open: false,
            score: true,
            scoring: args.scoring.clone(),
            plugins: args.plugins.clone(),
        };
        if let Err(e) = crate::commands::report::run(report_args) {
            eprintln!("warning: {} not scored: {e:#}", unit.unit);
        }
    }
}

/// `maia batch gather` on a status already read: the files, then the totals.
pub fn gather_status(status: &BatchStatus) -> Result<ExitCode> {
    write(status)?;
    println!("{}", totals_text(status));
    Ok(ExitCode::SUCCESS)
}
