//! A `maia run` process killed with SIGKILL mid-run (a model request in flight) and
//! continued with `maia resume`: no completed step is lost or repeated, the journal
//! stays a clean prefix, and the resumed run finishes. SIGTERM instead stops the run
//! cleanly (`stopped`, exit 143). The model is a real HTTP server on loopback speaking
//! OpenAI's SSE.

#![allow(clippy::unwrap_used)] // test helpers: a failed step is a failed test

use crate::support::{maia, run};
use maia_core::agent::Event;
use maia_core::agent::journal::read_journal;
use maia_tests::llm_server::{LlmServer, ScriptedReply};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `maia run --headless` of the OpenAI backend at `server` on a synthetic unit, with the
/// run `id` in `runs`, its output piped.
fn openai_run(server: &LlmServer, runs: &Path, id: &str) -> Command {
    let mut cmd = maia();
    cmd.args([
        "run",
        "--headless",
        "--backend",
        "openai",
        "--model",
        "gpt-test",
    ])
    .arg("--base-url")
    .arg(format!("{}/v1", server.url()))
    .args(["--target", "synthetic:red_and_circle", "--id", id])
    .arg("--runs-dir")
    .arg(runs)
    .env("OPENAI_API_KEY", "sk-kill-test")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    cmd
}

/// Round 1's reply of both tests: two images to draw (call `c1`).
fn making_images() -> ScriptedReply {
    ScriptedReply::new()
        .text("Making images.")
        .tool_call(
            "c1",
            "text2image",
            r#"{"prompts":["a red circle","a blue square"],"seed":1}"#,
        )
        .usage(500, 50)
}

fn journal_has_round_started(path: &Path, round: u32) -> bool {
    read_journal(path)
        .map(|c| {
            c.records
                .iter()
                .any(|r| matches!(r.event, Event::RoundStarted { round: n } if n == round))
        })
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_run_then_resume_loses_and_repeats_nothing() {
    let server = LlmServer::start().await;
    let make = making_images();
    let probe = ScriptedReply::new()
        .text("Probing.")
        .tool_call("c2", "call_unit", r#"{"image_ids":["img_1","img_2"]}"#)
        .usage(900, 40);
    let answer = ScriptedReply::new()
        .text("Done.")
        .tool_call(
            "c3",
            "final_answer",
            r#"{"description":"red circles","label":"red circle"}"#,
        )
        .usage(1300, 30);
    server.push(make.openai());
    // The round-2 reply is slow: the process is killed while waiting for it.
    server.push(probe.openai().delay_start(Duration::from_secs(30)));
    server.push(probe.openai());
    server.push(answer.openai());

    let runs = tempfile::tempdir().unwrap();
    let mut child = openai_run(&server, runs.path(), "killme").spawn().unwrap();
    let events = runs.path().join("killme/events.jsonl");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !journal_has_round_started(&events, 2) {
        assert!(Instant::now() < deadline, "the run never reached round 2");
        assert!(child.try_wait().unwrap().is_none(), "maia run exited early");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Kill only once the round-2 request has reached the server (its reply is held for
    // 30 s): the model call is then truly in flight, however slow the machine is.
    while server.requests().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the round-2 model request never arrived"
        );
        assert!(child.try_wait().unwrap().is_none(), "maia run exited early");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let before = read_journal(&events).unwrap();
    assert_eq!(before.torn_bytes, 0);
    let done_before: Vec<String> = before
        .records
        .iter()
        .filter_map(|r| match &r.event {
            Event::ToolFinished { call_id, .. } => Some(call_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(done_before, ["c1"], "round 1 finished before the kill");
    assert!(
        !before
            .records
            .iter()
            .any(|r| matches!(r.event, Event::RunEnded { .. }))
    );

    let (code, listed, _) = run(maia().args(["runs", "--runs-dir"]).arg(runs.path()));
    assert_eq!(code, 0);
    assert!(
        listed.contains("killme") && listed.contains("running?"),
        "{listed}"
    );

    let (code, out, err) = run(maia()
        .args(["resume", "killme", "--headless", "--runs-dir"])
        .arg(runs.path())
        .env("OPENAI_API_KEY", "sk-kill-test"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("answer: red circles"), "{out}");

    let after = read_journal(&events).unwrap().records;
    assert_eq!(
        &after[..before.records.len()],
        &before.records[..],
        "nothing journaled before the kill changed"
    );
    assert!(after.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    let done: Vec<String> = after
        .iter()
        .filter_map(|r| match &r.event {
            Event::ToolFinished { call_id, .. } => Some(call_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(done, ["c1", "c2", "c3"], "every call ran exactly once");
    let probe_images: Vec<f64> = after
        .iter()
        .find_map(|r| match &r.event {
            Event::ToolFinished { name, images, .. } if name == "call_unit" => {
                Some(images.iter().filter_map(|i| i.activation).collect())
            }
            _ => None,
        })
        .unwrap();
    assert!(
        probe_images[0] > 0.5 && probe_images[1] < 0.2,
        "the resumed run probes the images made before the kill: {probe_images:?}"
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 4);
    // The resumed request carries the whole conversation the killed process had built.
    let resumed = requests[2].json();
    assert_eq!(resumed["messages"], requests[1].json()["messages"]);
}

/// SIGTERM (or Ctrl-C's SIGINT) to a headless `maia run` mid-request stops it at once,
/// cleanly: the journal ends `stopped` with the signal named, `maia runs` says so (not
/// `running?`), the exit status is 128 + 15, and `maia resume` finishes the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_a_headless_run_cleanly_and_resume_finishes_it() {
    let server = LlmServer::start().await;
    let make = making_images();
    let answer = ScriptedReply::new()
        .text("Done.")
        .tool_call(
            "c2",
            "final_answer",
            r#"{"description":"red circles","label":"red circle"}"#,
        )
        .usage(900, 30);
    server.push(make.openai());
    server.push(answer.openai().delay_start(Duration::from_secs(30)));
    server.push(answer.openai());

    let runs = tempfile::tempdir().unwrap();
    let child = openai_run(&server, runs.path(), "termme").spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while server.requests().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the round-2 model request never arrived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("SIGTERM"), "{stderr}");

    let events = runs.path().join("termme/events.jsonl");
    let journal = read_journal(&events).unwrap();
    let last = journal.records.last().map(|r| r.event.clone());
    assert!(
        matches!(&last, Some(Event::RunEnded { status, reason, .. })
            if status.as_str() == "stopped" && reason.contains("SIGTERM")),
        "{last:?}"
    );
    let (code, listed, _) = run(maia().args(["runs", "--runs-dir"]).arg(runs.path()));
    assert_eq!(code, 0);
    assert!(
        listed.contains("termme") && listed.contains("stopped") && !listed.contains("running?"),
        "{listed}"
    );

    let (code, out, err) = run(maia()
        .args(["resume", "termme", "--headless", "--runs-dir"])
        .arg(runs.path())
        .env("OPENAI_API_KEY", "sk-kill-test"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("answer: red circles"), "{out}");
}
