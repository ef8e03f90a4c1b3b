//! `maia batch` under real Slurm: a private one-node cluster (munged, slurmctld, slurmd
//! from Debian's slurm-wlm, started by `scripts/slurm/cluster.sh` in a temp dir) runs a
//! job array of twelve shapes-world units with the offline agent, two units per task.
//! One task is cancelled with `scancel` while it is in the middle of its second unit;
//! `maia batch status --json` must report that unit cut off and every other unit of the
//! first submission but its shard's pending one done; `maia batch resume` submits only
//! that shard, which skips the unit it had finished, continues the cut-off one from its
//! journal and runs the pending one, and no finished unit is touched.
//!
//! Needs root and slurm-wlm + munge (`scripts/install-deps.sh`). Where the cluster cannot
//! start the test fails with the reason; `MAIA_SKIP_SLURM=1` makes it skip instead.

use crate::support::slurm::{Cluster, wait_for};
use crate::support::{maia, run, unit_states};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Units in the batch, and per array task.
const UNITS: usize = 12;
const SHARD_SIZE: usize = 2;

/// Array task states after which a task runs no more.
fn finished(state: &str) -> bool {
    !matches!(
        state,
        "PENDING" | "CONFIGURING" | "RUNNING" | "COMPLETING" | "SUSPENDED" | "REQUEUED"
    )
}

/// `maia` pointed at the cluster, in `root`, with a cache of its own; every job the
/// batch submits inherits this environment (sbatch exports it).
fn maia_in(cluster: &Cluster, root: &Path) -> Command {
    let mut cmd = maia();
    cluster
        .point(&mut cmd)
        .env("MAIA_CACHE_DIR", root.join("cache"))
        .current_dir(root);
    cmd
}

/// `maia batch status OUT --json`, parsed.
fn status(cluster: &Cluster, root: &Path, out: &Path) -> Value {
    let (code, stdout, stderr) = run(maia_in(cluster, root)
        .args(["batch", "status", "--json"])
        .arg(out));
    assert_eq!(code, 0, "maia batch status --json:\n{stdout}\n{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("status JSON ({e}):\n{stdout}"))
}

/// Unit address → state name, from a status.
fn states(status: &Value) -> BTreeMap<String, String> {
    unit_states(status)
}

/// The job ids in `OUT/jobs.jsonl`, oldest first.
fn jobs(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out.join("jobs.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|j| j["job_id"].as_str().map(str::to_owned))
        .collect()
}

/// Every unit's journal, by unit address.
fn journals(out: &Path, runs: &BTreeMap<String, PathBuf>) -> BTreeMap<String, Vec<u8>> {
    runs.iter()
        .map(|(unit, dir)| {
            let path = out.join(dir).join("events.jsonl");
            (unit.clone(), std::fs::read(&path).unwrap_or_default())
        })
        .collect()
}

fn signal(signal: &str, pid: u64) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// True while `pid` is a live process (a zombie is not).
fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            // The state follows the command name in parentheses.
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// The unit the test cancels: one a worker is in the middle of.
struct Victim {
    unit: String,
    /// Its worker, stopped (SIGSTOP) so that it stays mid-run until `scancel` ends it.
    pid: u64,
    task: u32,
    journal: Vec<u8>,
}

/// Waits for the second unit of some shard to be in mid-run (a worker on it, two rounds
/// begun, no end), and freezes its worker there with SIGSTOP. Freezing makes the race
/// with the run's own end impossible: the journal is read again once the worker is
/// stopped, and a run that ended in between is let go and another awaited.
fn catch_mid_run(
    out: &Path,
    job: &str,
    units: &[String],
    runs: &BTreeMap<String, PathBuf>,
) -> Victim {
    let read = |unit: &str| std::fs::read(out.join(&runs[unit]).join("events.jsonl"));
    let mid_run = |journal: &[u8]| {
        let text = String::from_utf8_lossy(journal);
        text.matches("\"type\":\"round_started\"").count() >= 2
            && !text.contains("\"type\":\"run_ended\"")
    };
    wait_for(
        Duration::from_secs(180),
        "the second unit of a shard in mid-run",
        || {
            for unit in units.iter().skip(1).step_by(SHARD_SIZE) {
                let Ok(journal) = read(unit) else { continue };
                if !mid_run(&journal) {
                    continue;
                }
                let worker: Value = std::fs::read(out.join(&runs[unit]).join("worker.json"))
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())?;
                let (Some(pid), Some(task)) = (
                    worker["pid"].as_u64(),
                    worker["slurm_array_task_id"]
                        .as_str()
                        .and_then(|t| t.parse().ok()),
                ) else {
                    continue;
                };
                assert_eq!(
                    worker["slurm_array_job_id"].as_str(),
                    Some(job),
                    "worker.json of {unit} names another job: {worker}"
                );
                signal("STOP", pid);
                match read(unit) {
                    Ok(journal) if mid_run(&journal) => {
                        return Some(Victim {
                            unit: unit.clone(),
                            pid,
                            task,
                            journal,
                        });
                    }
                    _ => signal("CONT", pid),
                }
            }
            None
        },
        || {
            format!(
                "journals: {:?}",
                journals(out, runs)
                    .iter()
                    .map(|(u, j)| (u, j.len()))
                    .collect::<Vec<_>>()
            )
        },
    )
}

#[test]
fn a_job_array_task_cancelled_mid_run_is_reported_and_resumed_without_redoing_finished_units() {
    let started = Instant::now();
    let root = tempfile::tempdir().expect("tempdir");
    // Declared after `root`, so dropped first: jobs are cancelled before files go.
    let Some(cluster) = Cluster::start_or_skip() else {
        return;
    };
    eprintln!("cluster up in {:.1?}", started.elapsed());
    let root = root.path();
    let out = root.join("batch");

    // Plan: twelve synthetic shapes-world units, two per array task, two tasks at once.
    let spec = format!("synthetic:0..{UNITS}");
    let (code, stdout, stderr) = run(maia_in(&cluster, root)
        .args([
            "batch",
            "plan",
            "--target",
            "synthetic:all",
            "--units",
            &spec,
        ])
        .args([
            "--shard-size",
            &SHARD_SIZE.to_string(),
            "--concurrency",
            "2",
        ])
        .arg(&out));
    assert_eq!(code, 0, "maia batch plan:\n{stdout}\n{stderr}");
    let script = out.join("batch.sbatch");
    let said = cluster
        .test_only(&script)
        .unwrap_or_else(|e| panic!("sbatch --test-only {} refused it:\n{e}", script.display()));
    assert!(
        said.contains("to start at"),
        "sbatch --test-only said:\n{said}"
    );

    let before = status(&cluster, root, &out);
    let units: Vec<String> = states(&before).keys().cloned().collect();
    assert_eq!(units.len(), UNITS, "{before}");
    assert!(states(&before).values().all(|s| s == "pending"), "{before}");
    let runs: BTreeMap<String, PathBuf> = before["units"]
        .as_array()
        .map(|us| {
            us.iter()
                .map(|u| {
                    let unit = u["unit"].as_str().unwrap_or_default().to_owned();
                    (unit, PathBuf::from(u["run"].as_str().unwrap_or_default()))
                })
                .collect()
        })
        .unwrap_or_default();
    // units.txt order, which shards follow (unit i in shard i / SHARD_SIZE).
    let units: Vec<String> = before["units"]
        .as_array()
        .map(|us| {
            us.iter()
                .filter_map(|u| u["unit"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();

    // Submit the array.
    let (code, stdout, stderr) = run(maia_in(&cluster, root).args(["batch", "submit"]).arg(&out));
    assert_eq!(code, 0, "maia batch submit:\n{stdout}\n{stderr}");
    let first = jobs(&out);
    assert_eq!(first.len(), 1, "jobs.jsonl after submit: {first:?}");
    let job = first[0].clone();
    assert!(stdout.contains(&format!("submitted job {job}")), "{stdout}");
    let tasks = cluster.tasks(&job);
    assert_eq!(
        tasks.keys().copied().collect::<Vec<_>>(),
        (0..(UNITS / SHARD_SIZE) as u32).collect::<Vec<_>>(),
        "array tasks squeue lists: {tasks:?}"
    );
    let early = status(&cluster, root, &out);
    assert_eq!(
        early["squeue"],
        Value::Bool(true),
        "status did not ask squeue"
    );
    // Units not started yet carry what squeue says of their array task.
    for unit in early["units"].as_array().into_iter().flatten() {
        if unit["state"] == "pending" {
            let slurm = unit["slurm"].as_str().unwrap_or_default();
            assert!(
                matches!(slurm, "PENDING" | "CONFIGURING" | "RUNNING"),
                "a pending unit right after submit, its task {slurm:?}: {unit}"
            );
        }
    }

    // Resuming now would run queued shards twice: resume leaves them to Slurm.
    let (code, stdout, stderr) = run(maia_in(&cluster, root).args(["batch", "resume"]).arg(&out));
    assert_eq!(
        code, 0,
        "maia batch resume while queued:\n{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("still queued or running in Slurm"),
        "resume did not say why it leaves queued shards alone:\n{stdout}\n{stderr}"
    );
    assert_eq!(
        jobs(&out),
        first,
        "resume resubmitted shards Slurm still had queued:\n{stdout}\n{stderr}"
    );

    // Cancel one task in the middle of the second unit of its shard.
    let victim = catch_mid_run(&out, &job, &units, &runs);
    let index = units.iter().position(|u| *u == victim.unit).unwrap_or(0);
    let mate = units[index - 1].clone();
    assert_eq!(victim.task as usize, index / SHARD_SIZE);
    eprintln!(
        "cancelling task {job}_{} (pid {}) in {} after {} journal bytes, at {:.1?}",
        victim.task,
        victim.pid,
        victim.unit,
        victim.journal.len(),
        started.elapsed()
    );
    cluster.cancel_task(&job, victim.task);
    wait_for(
        Duration::from_secs(60),
        "the cancelled task's worker to die",
        || (!alive(victim.pid)).then_some(()),
        || format!("squeue: {:?}{}", cluster.tasks(&job), cluster.log_tails()),
    );
    let cancelled = wait_for(
        Duration::from_secs(60),
        "squeue to show the cancelled task finished",
        || {
            cluster
                .tasks(&job)
                .get(&victim.task)
                .filter(|s| finished(s))
                .cloned()
        },
        || format!("squeue: {:?}", cluster.tasks(&job)),
    );
    assert_eq!(cancelled, "CANCELLED");
    let now = states(&status(&cluster, root, &out));
    assert!(
        matches!(now[&victim.unit].as_str(), "interrupted" | "failed"),
        "status right after scancel: {} is {}; all: {now:?}",
        victim.unit,
        now[&victim.unit]
    );
    let (code, table, stderr) = run(maia_in(&cluster, root).args(["batch", "status"]).arg(&out));
    assert_eq!(code, 0, "maia batch status:\n{table}\n{stderr}");
    let row = table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(victim.unit.as_str()))
        .unwrap_or_else(|| panic!("no row for {} in:\n{table}", victim.unit));
    assert!(
        row.contains(&now[&victim.unit]),
        "{}'s row does not say {}: {row}",
        victim.unit,
        now[&victim.unit]
    );

    // The rest of the array runs to its end.
    wait_for(
        Duration::from_secs(240),
        "every task of the first job to finish",
        || {
            cluster
                .tasks(&job)
                .values()
                .all(|s| finished(s))
                .then_some(())
        },
        || format!("squeue: {:?}{}", cluster.tasks(&job), cluster.log_tails()),
    );
    let tasks = cluster.tasks(&job);
    for (task, state) in &tasks {
        if *task != victim.task {
            assert_eq!(state, "COMPLETED", "task {task}: {tasks:?}");
        }
    }
    let after_kill = status(&cluster, root, &out);
    let killed = states(&after_kill);
    let note = after_kill["units"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|u| u["unit"] == victim.unit.as_str())
        .and_then(|u| u["note"].as_str())
        .unwrap_or("no note: killed before it could stop");
    eprintln!(
        "first job done at {:.1?}; {} is {} ({note})",
        started.elapsed(),
        victim.unit,
        killed[&victim.unit]
    );
    for (unit, state) in &killed {
        let expected: &[&str] = if *unit == victim.unit {
            &["interrupted", "failed"]
        } else {
            &["done"]
        };
        assert!(
            expected.contains(&state.as_str()),
            "after the first job {unit} is {state}, expected {expected:?}; all: {killed:?}"
        );
    }
    assert_eq!(killed[&mate], "done");
    assert_eq!(
        after_kill["totals"]["done"],
        Value::from(UNITS - 1),
        "{}",
        after_kill["totals"]
    );
    // The cut-off journal is what the worker had written when it was stopped (a handler
    // for SIGTERM may have added its end).
    let cut = journals(&out, &runs);
    assert!(
        cut[&victim.unit].starts_with(&victim.journal),
        "{}'s journal changed under a stopped worker",
        victim.unit
    );
    let results: BTreeMap<String, Vec<u8>> = runs
        .iter()
        .filter(|(u, _)| **u != victim.unit)
        .map(|(u, dir)| {
            let path = out.join(dir).join("result.json");
            let bytes = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("{} of a done unit: {e}", path.display()));
            (u.clone(), bytes)
        })
        .collect();

    // Resume: a new job of only the victim's shard.
    let (code, stdout, stderr) = run(maia_in(&cluster, root).args(["batch", "resume"]).arg(&out));
    assert_eq!(code, 0, "maia batch resume:\n{stdout}\n{stderr}");
    assert!(stdout.contains("resuming 1 units"), "{stdout}\n{stderr}");
    let all = jobs(&out);
    assert_eq!(all.len(), 2, "jobs.jsonl after resume: {all:?}");
    let second = all[1].clone();
    assert_ne!(second, job);
    wait_for(
        Duration::from_secs(180),
        "the resumed job to finish",
        || {
            let tasks = cluster.tasks(&second);
            (!tasks.is_empty() && tasks.values().all(|s| finished(s))).then_some(tasks)
        },
        || {
            format!(
                "squeue: {:?}{}",
                cluster.tasks(&second),
                cluster.log_tails()
            )
        },
    );
    let tasks = cluster.tasks(&second);
    assert_eq!(
        tasks
            .iter()
            .map(|(t, s)| (*t, s.as_str()))
            .collect::<Vec<_>>(),
        [(victim.task, "COMPLETED")],
        "the resumed job's tasks"
    );
    let log = out
        .join("logs")
        .join(format!("{second}_{}.out", victim.task));
    let log = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    assert!(log.contains("1 already done"), "resumed task's log:\n{log}");

    let end = status(&cluster, root, &out);
    let done = states(&end);
    assert!(done.values().all(|s| s == "done"), "after resume: {done:?}");
    assert_eq!(end["totals"]["done"], Value::from(UNITS));

    // Finished units were not touched; the cut-off one went on from where it stopped.
    let resumed = journals(&out, &runs);
    for (unit, journal) in &resumed {
        if *unit == victim.unit {
            continue;
        }
        assert!(
            journal == &cut[unit],
            "{unit}'s journal changed on resume ({} → {} bytes)",
            cut[unit].len(),
            journal.len()
        );
        let path = out.join(&runs[unit]).join("result.json");
        assert_eq!(
            std::fs::read(&path).unwrap_or_default(),
            results[unit],
            "{} changed on resume",
            path.display()
        );
    }
    let (old, new) = (&cut[&victim.unit], &resumed[&victim.unit]);
    // A last line torn by the kill is dropped when the run resumes; the rest stays.
    let old = &old[..old.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)];
    assert!(
        new.len() > old.len() && new.starts_with(old),
        "{}'s journal is not the cut-off one extended ({} → {} bytes)",
        victim.unit,
        old.len(),
        new.len()
    );
    let tail = String::from_utf8_lossy(&new[old.len()..]);
    assert!(
        tail.contains("\"type\":\"resumed\"") && tail.contains("\"type\":\"run_ended\""),
        "{} resumed without a resumed event or an end:\n{tail}",
        victim.unit
    );
    eprintln!(
        "all {UNITS} units done after resume, {:.1?} in all",
        started.elapsed()
    );
}
