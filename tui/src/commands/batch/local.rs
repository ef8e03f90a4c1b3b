//! `maia batch run OUT --local N` (and `resume --local N`): the batch's shards on this
//! machine, N worker processes at once — each `maia batch work OUT --shard I`, exactly
//! what a Slurm array task runs — with a progress line, then the results gathered.
//! Ctrl-C stops the workers at their units' next step (the units read as interrupted;
//! `resume` continues them); a second Ctrl-C stops them at once. Workers run in their own
//! process group, so the terminal's SIGINT reaches this process only, which passes one
//! SIGTERM per Ctrl-C on.

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use maia_core::batch::{BatchStatus, LOGS_DIR, StatusReader, read_status};
use std::collections::VecDeque;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::ExitCode;
use std::process::{Child, Command};
use std::time::Duration;

/// Runs the shards that hold units not done yet, `n` worker processes at once; `status`
/// is the batch's as just read.
pub fn run_local(out: &Path, status: &BatchStatus, n: u32, resuming: bool) -> Result<ExitCode> {
    let shards = status.unfinished_shards();
    let total = status.totals.units as u64;
    if shards.is_empty() {
        println!("every unit is done or running; nothing to run");
        return super::show::gather_status(status);
    }
    let maia = std::env::current_exe().context("finding this maia binary")?;
    let logs = out.join(LOGS_DIR);
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    eprintln!(
        "{} {} shards on this machine, {n} at a time (logs in {})",
        if resuming { "resuming" } else { "running" },
        shards.len(),
        logs.display()
    );
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let mut failed_shards = Vec::new();
    let interrupted = runtime.block_on(async {
        let bar = ProgressBar::new(total).with_style(
            ProgressStyle::with_template(
                "{spinner} batch [{bar:30}] {pos}/{len} units done, {elapsed} elapsed {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        let mut queue: VecDeque<usize> = shards.into_iter().collect();
        let mut running: Vec<(usize, Child)> = Vec::new();
        let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut last_line = String::new();
        let mut reader = StatusReader::new(out);
        let mut stops = 0u32;
        loop {
            while running.len() < n as usize
                && let Some(shard) = queue.pop_front()
            {
                let log = logs.join(format!("local-{shard}.out"));
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .with_context(|| format!("opening {}", log.display()))?;
                let err = file.try_clone()?;
                let child = Command::new(&maia)
                    .args(["batch", "work"])
                    .arg(out)
                    .arg("--shard")
                    .arg(shard.to_string())
                    .process_group(0)
                    .stdin(std::process::Stdio::null())
                    .stdout(file)
                    .stderr(err)
                    .spawn()
                    .with_context(|| format!("starting {}", maia.display()))?;
                running.push((shard, child));
            }
            if running.is_empty() {
                break;
            }
            tokio::select! {
                _ = &mut ctrl_c => {
                    stops += 1;
                    queue.clear();
                    bar.suspend(|| {
                        if stops == 1 {
                            eprintln!(
                                "stopping {} workers after their current step (Ctrl-C again: at once)…",
                                running.len()
                            )
                        } else {
                            eprintln!("stopping {} workers now…", running.len())
                        }
                    });
                    for (_, child) in &mut running {
                        // SAFETY: kill(2) on our own child's pid.
                        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
                    }
                    ctrl_c.set(tokio::signal::ctrl_c());
                }
                _ = tick.tick() => {}
            }
            let mut still = Vec::new();
            for (shard, mut child) in running.drain(..) {
                match child.try_wait() {
                    Ok(Some(code)) => {
                        // A worker we stopped exits 143 (or dies of the signal): not a failure.
                        let stopped = stops > 0 && (code.code() == Some(143) || code.code().is_none());
                        if !code.success() && !stopped {
                            failed_shards.push((shard, code.to_string()));
                        }
                    }
                    Ok(None) => still.push((shard, child)),
                    Err(e) => failed_shards.push((shard, e.to_string())),
                }
            }
            running = still;
            if let Ok(now) = reader.read() {
                let t = &now.totals;
                bar.set_position(t.done as u64);
                let line = format!(
                    "{} running, {} failed, {} interrupted, ${:.4}",
                    t.running, t.failed, t.interrupted, t.cost_usd
                );
                if bar.is_hidden() && line != last_line {
                    eprintln!("{}/{} done, {line}", t.done, t.units);
                }
                bar.set_message(line.clone());
                last_line = line;
            }
        }
        bar.finish_and_clear();
        Ok::<bool, anyhow::Error>(stops > 0)
    })?;
    let status = read_status(out)?;
    if !interrupted {
        super::show::write(&status)?;
    }
    println!("{}", super::show::totals_text(&status));
    for (shard, how) in &failed_shards {
        eprintln!(
            "shard {shard}'s worker ended with {how}; see {}",
            logs.join(format!("local-{shard}.out")).display()
        );
    }
    let t = &status.totals;
    if interrupted || t.done < t.units {
        println!(
            "not finished: continue with `maia batch resume {} --local {n}`",
            maia_tui::shell::quote_path(out)
        );
        return Ok(if interrupted {
            ExitCode::from(130)
        } else {
            ExitCode::FAILURE
        });
    }
    Ok(ExitCode::SUCCESS)
}
