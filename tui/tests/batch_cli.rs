//! `maia batch` as users run it, without Slurm: a batch of 8 synthetic units planned,
//! run with `--local 2` (worker processes, the same `maia batch work` a job array runs),
//! one worker killed mid-unit, `status` reporting it interrupted, `resume --local 2`
//! finishing it without touching the finished units, and the gathered results. Plus the
//! bad inputs: empty ranges, missing layers, a batch folder of another format, no
//! `sbatch` on PATH, torn and corrupt journals; and `submit`/`resume` through a fake
//! `sbatch` that records what it was asked.

use crate::support::{maia, run, unit_states, with_bundled};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

fn plan(root: &Path, out: &str, units: &str, extra: &[&str]) -> (i32, String, String) {
    let mut cmd = maia();
    cmd.args([
        "batch",
        "plan",
        "--target",
        "synthetic:all",
        "--units",
        units,
    ])
    .args(["--max-rounds", "6"])
    .args(extra)
    .arg(root.join(out))
    .env("MAIA_CACHE_DIR", root.join("cache"))
    .current_dir(root);
    run(with_bundled(&mut cmd))
}

fn batch(root: &Path, args: &[&str]) -> Command {
    let mut cmd = maia();
    cmd.arg("batch")
        .args(args)
        .env("MAIA_CACHE_DIR", root.join("cache"))
        .current_dir(root);
    cmd
}

fn status(root: &Path, out: &str) -> Value {
    let (code, stdout, stderr) = run(&mut batch(root, &["status", "--json", out]));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn journal(out: &Path, slug: &str) -> PathBuf {
    out.join("runs").join(slug).join("events.jsonl")
}

fn snapshot(path: &Path) -> (Vec<u8>, SystemTime) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mtime = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("{e}"));
    (bytes, mtime)
}

/// `maia batch run OUT --local N` started in the background, its output captured.
fn spawn_local(root: &Path, out: &Path, n: u32) -> std::process::Child {
    batch(root, &["run", "--local", &n.to_string()])
        .arg(out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("maia batch run starts")
}

/// Waits for a background `maia batch run`: exit code, stdout, stderr.
fn wait_local(local: std::process::Child) -> (Option<i32>, String, String) {
    let finished = local.wait_with_output().expect("maia batch run ends");
    (
        finished.status.code(),
        String::from_utf8_lossy(&finished.stdout).into_owned(),
        String::from_utf8_lossy(&finished.stderr).into_owned(),
    )
}

/// Waits for a unit of shard 1 to be mid-run (its journal past the first round, no
/// result yet) and SIGKILLs the worker that `worker.json` names. Returns its slug.
fn kill_a_worker_mid_unit(out: &Path, shard_slugs: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        for slug in shard_slugs {
            let dir = out.join("runs").join(slug);
            let lines = std::fs::read_to_string(dir.join("events.jsonl"))
                .map(|t| t.lines().count())
                .unwrap_or(0);
            if lines >= 3 && !dir.join("result.json").exists() {
                let worker: Value = std::fs::read(dir.join("worker.json"))
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .unwrap_or_default();
                let Some(pid) = worker["pid"].as_u64() else {
                    continue;
                };
                let killed = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status()
                    .expect("kill runs");
                assert!(killed.success());
                return (*slug).to_owned();
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("no unit of {shard_slugs:?} was seen mid-run");
}

#[test]
fn a_local_batch_survives_a_killed_worker_and_resumes_only_what_is_unfinished() {
    let root = tempfile::tempdir().expect("tempdir");
    let root = root.path();
    let out = root.join("b");
    let (code, stdout, stderr) = plan(root, "b", "synthetic:0..8", &["--shard-size", "4"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("planned 8 units"), "{stdout}");
    let units = std::fs::read_to_string(out.join("units.txt")).expect("units.txt");
    assert_eq!(units.lines().count(), 8);
    let manifest = std::fs::read_to_string(out.join("batch.toml")).expect("batch.toml");
    assert!(manifest.contains("format = 1"), "{manifest}");
    let pending = status(root, "b");
    assert_eq!(pending["totals"]["pending"], 8);

    // Two workers, one per shard; the second shard's worker is killed mid-unit.
    let local = spawn_local(root, &out, 2);
    let killed = kill_a_worker_mid_unit(
        &out,
        &["synthetic-4", "synthetic-5", "synthetic-6", "synthetic-7"],
    );
    let (finished, stdout, stderr) = wait_local(local);
    assert_ne!(finished, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("maia batch resume"), "{stdout}\n{stderr}");

    let after_kill = status(root, "b");
    let st: Vec<_> = unit_states(&after_kill);
    let killed_unit = killed.replace('-', ":");
    assert!(
        st.contains(&(killed_unit.clone(), "interrupted".into())),
        "{killed} should be interrupted: {st:?}"
    );
    for (unit, state) in &st[..4] {
        assert_eq!(state, "done", "shard 0's {unit}: {st:?}");
    }
    for (unit, state) in &st[4..] {
        assert!(
            ["done", "interrupted", "pending"].contains(&state.as_str()),
            "{unit}: {state}"
        );
    }
    let (_, text, _) = run(&mut batch(root, &["status", "b"]));
    assert!(text.contains("interrupted"), "{text}");
    assert!(text.contains("maia batch resume b"), "{text}");

    // Resume: finished journals stay byte-identical and untouched.
    let done: Vec<String> = st
        .iter()
        .filter(|(_, s)| s == "done")
        .map(|(u, _)| u.replace(':', "-"))
        .collect();
    let before: Vec<_> = done.iter().map(|s| snapshot(&journal(&out, s))).collect();
    let (code, stdout, stderr) = run(batch(root, &["resume", "--local", "2"]).arg(&out));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for (slug, was) in done.iter().zip(&before) {
        assert_eq!(&snapshot(&journal(&out, slug)), was, "{slug} was redone");
    }
    let resumed = std::fs::read_to_string(journal(&out, &killed)).expect("journal");
    assert!(resumed.contains("\"type\":\"resumed\""), "{resumed}");
    assert_eq!(resumed.matches("\"type\":\"run_started\"").count(), 1);
    let end = status(root, "b");
    assert_eq!(end["totals"]["done"], 8, "{end}");

    // Results: every unit once; a summary per layer.
    let results = std::fs::read_to_string(out.join("results.jsonl")).expect("results.jsonl");
    let mut seen: Vec<String> = results
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            assert_eq!(v["state"], "done", "{l}");
            assert!(!v["label"].as_str().unwrap_or_default().is_empty(), "{l}");
            v["unit"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 8, "{results}");
    let md = std::fs::read_to_string(out.join("summary/synthetic.md")).expect("summary md");
    assert!(md.contains("8 units: 8 done"), "{md}");
    assert!(out.join("summary/synthetic.html").is_file());

    // Nothing left: resume says so.
    let (code, stdout, _) = run(&mut batch(root, &["resume", "--local", "2", "b"]));
    assert_eq!(code, 0);
    assert!(stdout.contains("nothing to resume"), "{stdout}");

    // Gathering with --score scores every answer (score.json in each run) and lists it.
    let (code, stdout, stderr) = run(with_bundled(&mut batch(
        root,
        &["gather", "b", "--score", "--n", "6"],
    )));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let results = std::fs::read_to_string(out.join("results.jsonl")).expect("results.jsonl");
    for line in results.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(v["score"]["evaluator"], "world", "{line}");
        assert!(v["score"]["pearson"].is_number(), "{line}");
    }
    let md = std::fs::read_to_string(out.join("summary/synthetic.md")).expect("summary md");
    assert!(md.contains("score r") && md.contains("(world)"), "{md}");
}

#[test]
fn bad_unit_specs_other_formats_and_no_sbatch_are_explained() {
    let root = tempfile::tempdir().expect("tempdir");
    let root = root.path();
    let (code, _, err) = plan(root, "e", "synthetic:5..5", &[]);
    assert_ne!(code, 0);
    assert!(err.contains("empty range"), "{err}");
    let (code, _, err) = plan(root, "e", "conv3:0..4", &[]);
    assert_ne!(code, 0);
    assert!(
        err.contains("no layer `conv3`") && err.contains("synthetic (0..68)"),
        "{err}"
    );
    let (code, _, err) = plan(root, "e", "synthetic:60..70", &[]);
    assert_ne!(code, 0);
    assert!(err.contains("68 units"), "{err}");

    // A folder holding something else, and a batch of other units, need --force.
    std::fs::create_dir_all(root.join("busy")).expect("mkdir");
    std::fs::write(root.join("busy/notes.txt"), "mine").expect("write");
    let (code, _, err) = plan(root, "busy", "synthetic:0..2", &[]);
    assert_ne!(code, 0);
    assert!(err.contains("--force"), "{err}");
    let (code, _, err) = plan(root, "b", "synthetic:0..2", &[]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = plan(root, "b", "synthetic:0..3", &[]);
    assert_ne!(code, 0);
    assert!(err.contains("other units"), "{err}");

    // No sbatch on PATH: the message suggests --local.
    let empty = root.join("no-bin");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let (code, _, err) = run(batch(root, &["submit", "b"]).env("PATH", &empty));
    assert_ne!(code, 0);
    assert!(
        err.contains("sbatch") && err.contains("maia batch run") && err.contains("--local"),
        "{err}"
    );

    // An sbatch that reaches no controller (what Debian's sbatch prints on a machine with
    // no slurm.conf and no DNS SRV record): its words, then where to go from here.
    let lost = root.join("lost-bin");
    std::fs::create_dir_all(&lost).expect("mkdir");
    let fake = lost.join("sbatch");
    std::fs::write(
        &fake,
        "#!/bin/sh\n\
         echo 'sbatch: error: resolve_ctls_from_dns_srv: res_nsearch error: Unknown host' >&2\n\
         echo 'sbatch: error: fetch_config: DNS SRV lookup failed' >&2\n\
         echo 'sbatch: error: _establish_config_source: failed to fetch config' >&2\n\
         echo 'sbatch: fatal: Could not establish a configuration source' >&2\n\
         exit 1\n",
    )
    .expect("write");
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let (code, _, err) = run(batch(root, &["submit", "b"]).env("PATH", &lost));
    assert_ne!(code, 0);
    assert!(
        err.contains("Could not establish a configuration source")
            && err.contains("reached no Slurm controller")
            && err.contains("SLURM_CONF")
            && err.contains("--local"),
        "{err}"
    );
    assert!(
        !root.join("b/jobs.jsonl").exists(),
        "a refused submission records no job"
    );

    // An array past the cluster's MaxArraySize (the words of the private cluster's sbatch).
    std::fs::write(
        &fake,
        "#!/bin/sh\n\
         echo 'sbatch: error: Batch job submission failed: Invalid job array specification' >&2\n\
         exit 1\n",
    )
    .expect("write");
    let (code, _, err) = run(batch(root, &["submit", "b"]).env("PATH", &lost));
    assert_ne!(code, 0);
    assert!(
        err.contains("Invalid job array specification")
            && err.contains("MaxArraySize")
            && err.contains("--shard-size"),
        "{err}"
    );

    // A batch folder written by a newer (or older) maia.
    let manifest = root.join("b/batch.toml");
    let text = std::fs::read_to_string(&manifest).expect("batch.toml");
    for (format, hint) in [("99", "or newer"), ("0", "Re-plan it")] {
        std::fs::write(
            &manifest,
            text.replace("format = 1", &format!("format = {format}")),
        )
        .expect("write");
        let (code, _, err) = run(&mut batch(root, &["status", "b"]));
        assert_ne!(code, 0);
        assert!(
            err.contains(&format!("batch format {format}")) && err.contains(hint),
            "{err}"
        );
    }
    let (code, _, err) = run(&mut batch(root, &["status", "no-bin"]));
    assert_ne!(code, 0);
    assert!(err.contains("not a maia batch folder"), "{err}");
}

#[test]
fn submit_and_resume_hand_slurm_the_right_array() {
    let root = tempfile::tempdir().expect("tempdir");
    let root = root.path();
    let (code, _, err) = plan(
        root,
        "s",
        "synthetic:0..8",
        &[
            "--shard-size",
            "3",
            "--concurrency",
            "2",
            "--partition",
            "gpu",
            "--gpus",
            "1",
            "--time",
            "01:00:00",
            "--host",
            "per-task",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let script = std::fs::read_to_string(root.join("s/batch.sbatch")).expect("script");
    for line in [
        "#SBATCH --array=0-2%2",
        "#SBATCH --partition=gpu",
        "#SBATCH --gres=gpu:1",
        "#SBATCH --time=01:00:00",
        "host serve --model synthetic:all",
    ] {
        assert!(script.contains(line), "{line} missing:\n{script}");
    }
    // A fake sbatch that records its arguments and prints a job id.
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let fake = bin.join("sbatch");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\necho \"$@\" >> {}\necho 4242\n",
            root.join("sbatch.log").display()
        ),
    )
    .expect("write");
    Command::new("chmod")
        .args(["+x"])
        .arg(&fake)
        .status()
        .expect("chmod");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (code, out, err) = run(batch(root, &["submit", "s"]).env("PATH", &path));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("submitted job 4242"), "{out}");
    let jobs = std::fs::read_to_string(root.join("s/jobs.jsonl")).expect("jobs.jsonl");
    assert!(jobs.contains("\"job_id\":\"4242\""), "{jobs}");

    // Shard 0 finished, shard 1's first unit interrupted: resume asks for shards 1-2 only.
    let runs = root.join("s/runs");
    for n in 0..3 {
        let dir = runs.join(format!("synthetic-{n}"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(
            dir.join("events.jsonl"),
            format!(
                "{{\"seq\":0,\"t_ms\":1000,\"type\":\"run_started\",\"run_id\":\"x\",\"task\":\"describe-unit\",\"target\":\"synthetic:all\",\"unit\":\"synthetic:{n}\",\"backend\":\"offline\",\"model\":\"o\",\"max_rounds\":6,\"task_text\":\"t\"}}\n{{\"seq\":1,\"t_ms\":2000,\"type\":\"final_answer\",\"round\":1,\"description\":\"d\",\"label\":\"l\"}}\n{{\"seq\":2,\"t_ms\":3000,\"type\":\"run_ended\",\"status\":\"completed\",\"reason\":\"r\"}}\n"
            ),
        )
        .expect("write");
    }
    let dir = runs.join("synthetic-3");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("events.jsonl"),
        "{\"seq\":0,\"t_ms\":1000,\"type\":\"run_started\",\"run_id\":\"x\",\"task\":\"describe-unit\",\"target\":\"synthetic:all\",\"unit\":\"synthetic:3\",\"backend\":\"offline\",\"model\":\"o\",\"max_rounds\":6,\"task_text\":\"t\"}\n{\"seq\":1,\"t_ms\":2000,\"type\":\"round_st",
    )
    .expect("write");
    let st = status(root, "s");
    let unit3 = &st["units"][3];
    assert_eq!(unit3["state"], "interrupted", "{unit3}");
    assert!(
        unit3["note"].as_str().unwrap_or_default().contains("torn"),
        "{unit3}"
    );
    let (code, out, err) = run(batch(root, &["resume", "s"]).env("PATH", &path));
    assert_eq!(code, 0, "{out}\n{err}");
    let log = std::fs::read_to_string(root.join("sbatch.log")).expect("sbatch.log");
    let calls: Vec<&str> = log.lines().collect();
    assert_eq!(calls.len(), 2, "{log}");
    assert!(calls[0].starts_with("--parsable ") && !calls[0].contains("--array"));
    assert!(
        calls[1].starts_with("--parsable --array=1-2%2 "),
        "{}",
        calls[1]
    );
}

#[test]
fn torn_and_corrupt_journals_are_reported_and_resumed_or_explained() {
    let root = tempfile::tempdir().expect("tempdir");
    let root = root.path();
    let out = root.join("t");
    let (code, _, err) = plan(root, "t", "synthetic:0..2", &["--shard-size", "1"]);
    assert_eq!(code, 0, "{err}");
    let (code, stdout, stderr) = run(batch(root, &["run", "--local", "2"]).arg(&out));
    assert_eq!(code, 0, "{stdout}\n{stderr}");

    // Unit 0: the run's end cut off mid-line, as a kill during a write leaves it.
    let path = journal(&out, "synthetic-0");
    let text = std::fs::read_to_string(&path).expect("journal");
    let keep: Vec<&str> = text.lines().collect();
    let torn = format!(
        "{}\n{}",
        keep[..keep.len() - 1].join("\n"),
        &keep[keep.len() - 1][..10]
    );
    std::fs::write(&path, torn).expect("write");
    std::fs::remove_file(out.join("runs/synthetic-0/result.json")).expect("rm");
    // Unit 1: a line in the middle is garbage.
    let path1 = journal(&out, "synthetic-1");
    let text1 = std::fs::read_to_string(&path1).expect("journal");
    let mut lines: Vec<String> = text1.lines().map(str::to_owned).collect();
    lines[1] = "garbage".into();
    std::fs::write(&path1, lines.join("\n") + "\n").expect("write");
    std::fs::remove_file(out.join("runs/synthetic-1/result.json")).expect("rm");

    let st = status(root, "t");
    assert_eq!(st["units"][0]["state"], "interrupted", "{st}");
    assert!(
        st["units"][0]["note"]
            .as_str()
            .unwrap_or_default()
            .contains("torn"),
        "{st}"
    );
    assert_eq!(st["units"][1]["state"], "failed", "{st}");
    let reason = st["units"][1]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("line 2") && reason.contains("remove"),
        "{reason}"
    );

    // Resume finishes the torn one; the corrupt one fails with the same advice.
    let (code, stdout, stderr) = run(batch(root, &["resume", "--local", "2"]).arg(&out));
    assert_ne!(code, 0, "{stdout}\n{stderr}");
    let st = status(root, "t");
    assert_eq!(st["units"][0]["state"], "done", "{st}");
    assert_eq!(st["units"][1]["state"], "failed", "{st}");
    let log = std::fs::read_to_string(out.join("logs/local-1.out")).expect("log");
    assert!(log.contains("remove that folder"), "{log}");
}

/// `--images-from http` reaches every worker: checked at plan time (no server configured
/// is refused before anything is written), then recorded in the resolved config and in the
/// plugin flags each array task passes to `maia batch work`.
#[test]
fn images_from_http_is_checked_at_plan_time_and_handed_to_the_workers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let (code, _, err) = plan(root, "h", "synthetic:0..2", &["--images-from", "http"]);
    assert_ne!(code, 0);
    assert!(err.contains("[plugins.http-images]"), "{err}");
    assert!(!root.join("h/batch.toml").exists(), "nothing planned");
    std::fs::write(
        root.join("maia.toml"),
        "[plugins.http-images]\nbackend = \"a1111\"\nbase_url = \"http://127.0.0.1:7860\"\n",
    )
    .expect("write maia.toml");
    let (code, out, err) = plan(
        root,
        "h",
        "synthetic:0..2",
        &["--images-from", "http", "--no-cache"],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let manifest = std::fs::read_to_string(root.join("h/batch.toml")).expect("batch.toml");
    let manifest: toml::Table = manifest.parse().expect("toml");
    assert_eq!(
        manifest["config"]["run"]["images_from"].as_str(),
        Some("http")
    );
    assert_eq!(
        manifest["config"]["plugins"]["http-images"]["base_url"].as_str(),
        Some("http://127.0.0.1:7860")
    );
    let flags: Vec<&str> = manifest["worker"]["plugin_args"]
        .as_array()
        .expect("plugin_args")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(flags.contains(&"--images-from=http"), "{flags:?}");
    assert!(flags.contains(&"--no-cache"), "{flags:?}");
}

/// Ctrl-C on `maia batch run --local` (SIGINT to it alone, as the terminal sends it: the
/// workers have their own process group) stops each running unit at its next step — its
/// journal ends `stopped`, it reads as interrupted, not failed — starts no further unit,
/// and `resume --local` finishes the batch.
#[test]
fn ctrl_c_stops_local_workers_at_a_step_and_resume_finishes_the_batch() {
    let root = tempfile::tempdir().expect("tempdir");
    let root = root.path();
    let out = root.join("b");
    let (code, stdout, stderr) = plan(root, "b", "synthetic:10..14", &["--shard-size", "2"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let local = spawn_local(root, &out, 2);
    let firsts = ["synthetic-10", "synthetic-12"];
    let deadline = Instant::now() + Duration::from_secs(120);
    let mid_run = |slug: &&str| {
        std::fs::read_to_string(journal(&out, slug)).is_ok_and(|t| t.lines().count() >= 3)
            && !out.join("runs").join(slug).join("result.json").exists()
    };
    while !firsts.iter().any(mid_run) {
        assert!(Instant::now() < deadline, "no unit was seen mid-run");
        std::thread::sleep(Duration::from_millis(5));
    }
    let signalled = Command::new("kill")
        .args(["-INT", &local.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(signalled.success());
    let (finished, stdout, stderr) = wait_local(local);
    assert_eq!(finished, Some(130), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("after their current step"),
        "{stdout}\n{stderr}"
    );
    assert!(stdout.contains("maia batch resume"), "{stdout}\n{stderr}");

    let after = status(root, "b");
    let states: std::collections::BTreeMap<String, String> = unit_states(&after);
    assert!(
        states.values().all(|s| s != "failed" && s != "running"),
        "a stop is not a failure: {states:?}"
    );
    let stopped: Vec<&str> = firsts
        .iter()
        .copied()
        .filter(|slug| {
            let text = std::fs::read_to_string(journal(&out, slug)).unwrap_or_default();
            let last = text.lines().last().unwrap_or_default().to_owned();
            last.contains("\"type\":\"run_ended\"")
                && last.contains("\"status\":\"stopped\"")
                && last.contains("worker was told to stop")
        })
        .collect();
    assert!(
        !stopped.is_empty(),
        "no running unit ended `stopped` at a step: {states:?}"
    );
    for slug in &stopped {
        assert_eq!(states[&slug.replace('-', ":")], "interrupted", "{states:?}");
    }
    for second in ["synthetic:11", "synthetic:13"] {
        assert_eq!(
            states[second], "pending",
            "no unit starts after the stop: {states:?}"
        );
    }
    let (_, table, _) = run(&mut batch(root, &["status", "b"]));
    assert!(table.contains("stopped"), "{table}");

    let (code, stdout, stderr) = run(batch(root, &["resume", "--local", "2"]).arg(&out));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let done = status(root, "b");
    assert_eq!(done["totals"]["done"], 4, "{}", done["totals"]);
    for slug in &stopped {
        let text = std::fs::read_to_string(journal(&out, slug)).expect("journal");
        assert!(
            text.contains("\"type\":\"resumed\""),
            "{slug} was not resumed"
        );
    }
}
