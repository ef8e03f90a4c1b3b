//! The agent against a real OpenAI-compatible server: llama.cpp's own server
//! (`scripts/tiny-vlm.sh`) with a tiny random-weight vision-language model made here. Its
//! grammar-constrained tool calls, its SSE, its usage chunk, its image input through the
//! vision projector and its error bodies are the real ones, not fixtures written by hand.
//! The model calls text2image on every turn, so a run goes: a tool call with an image
//! result, the image sent back with the next request, again, until the round limit.

use crate::support::llama::LlamaServer;
use crate::support::{maia, run, with_bundled};
use serde_json::Value;
use std::path::Path;

fn events(run_dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(run_dir.join("events.jsonl"))
        .expect("journal")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a journal line is JSON"))
        .collect()
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

fn agent_run(server: &LlamaServer, runs: &Path, id: &str, rounds: &str) -> (i32, String, String) {
    run(with_bundled(
        maia()
            .args(["run", "--headless", "--backend", "openai", "--base-url"])
            .arg(server.base_url())
            .args(["--model", "tiny-vlm", "--target", "synthetic:red"])
            .args(["--max-rounds", rounds, "--id", id])
            .arg("--runs-dir")
            .arg(runs),
    ))
}

#[test]
fn a_whole_run_goes_through_a_real_llama_cpp_server_with_tool_calls_and_images() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = LlamaServer::start(&dir.path().join("cache"), &["--ctx-size", "65536"]);
    let runs = dir.path().join("runs");
    let (code, out, err) = agent_run(&server, &runs, "real", "2");
    // No final answer from a random model: the run ends at the round limit (exit 3).
    assert_eq!(code, 3, "{out}{err}\n{}", server.log_text());
    let events = events(&runs.join("real"));
    let messages = of_type(&events, "assistant_message");
    // Round 1: the server's grammar made a valid text2image call with JSON arguments.
    let first = messages.first().expect("an assistant message");
    let call = &first["tool_calls"][0];
    assert_eq!(call["name"], "text2image", "{first}");
    let args: Value = serde_json::from_str(call["arguments"].as_str().expect("arguments"))
        .expect("the arguments are JSON");
    assert!(args["prompts"].is_array(), "{args}");
    // Its result carried an image, which the next request sent and the server took
    // (through the projector); every reply has the server's usage.
    let finished = of_type(&events, "tool_finished");
    assert!(finished[0].to_string().contains("img_1"), "{}", finished[0]);
    assert!(messages.len() >= 2, "{messages:?}");
    for message in &messages {
        assert!(
            message["usage"]["input_tokens"].as_u64() > Some(100),
            "{message}"
        );
        assert!(
            message["usage"]["output_tokens"].as_u64() > Some(0),
            "{message}"
        );
    }
    // The run ended cleanly, at its limit.
    let ended = of_type(&events, "run_ended");
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0]["status"], "limit", "{}", ended[0]);
    assert!(
        of_type(&events, "retry").is_empty(),
        "no retries were needed"
    );
}

#[test]
fn a_server_without_a_vision_projector_stops_the_run_with_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = LlamaServer::start(
        &dir.path().join("cache"),
        &["--ctx-size", "65536", "--no-mmproj"],
    );
    let runs = dir.path().join("runs");
    let (code, out, err) = agent_run(&server, &runs, "blind", "3");
    assert_ne!(code, 0, "{out}");
    let text = format!("{out}{err}");
    assert!(
        text.contains("the model takes no image input") && text.contains("--mmproj"),
        "{text}"
    );
    // Refused at once, not retried as a server error; what ran before is journaled.
    let events = events(&runs.join("blind"));
    assert!(of_type(&events, "retry").is_empty(), "{events:?}");
    assert_eq!(of_type(&events, "tool_finished").len(), 1);
    assert_eq!(
        of_type(&events, "run_ended")[0]["status"],
        "failed",
        "{events:?}"
    );
}

/// The suite with the real server as the agent and as MAIA's evaluator: the evaluator's
/// reply schema becomes llama.cpp's grammar, so even the random model writes the JSON the
/// protocol asks for, and every description is scored on its prompts with the tokens
/// counted.
#[test]
fn the_synthetic_suite_runs_end_to_end_against_the_real_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = LlamaServer::start(&dir.path().join("cache"), &["--ctx-size", "65536"]);
    let (code, out, err) = run(with_bundled(
        maia()
            .env("MAIA_CACHE_DIR", dir.path().join("cache"))
            .args(["eval", "synthetic", "--agent", "openai", "--base-url"])
            .arg(server.base_url())
            .args(["--model", "tiny-vlm", "--n", "2", "--max-rounds", "1"])
            .args(["--dataset-size", "50", "--id", "tiny", "--per-side", "3"])
            .args(["--evaluator", "llm", "--evaluator-backend", "openai"])
            .args(["--evaluator-model", "tiny-vlm", "--evaluator-base-url"])
            .arg(server.base_url())
            .arg("--eval-dir")
            .arg(dir.path().join("eval")),
    ));
    assert_eq!(code, 0, "{out}{err}");
    let report = std::fs::read_to_string(dir.path().join("eval/tiny/results.jsonl"))
        .unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    let lines: Vec<Value> = report
        .lines()
        .map(|l| serde_json::from_str(l).expect("a results line is JSON"))
        .collect();
    let units: std::collections::BTreeSet<String> =
        lines.iter().map(|l| l["unit"].to_string()).collect();
    assert_eq!(units.len(), 2, "{report}");
    for line in lines.iter().filter(|l| l["description"] != "") {
        let score = &line["score"];
        assert_eq!(score["evaluator"], "llm:openai/tiny-vlm", "{line}");
        assert_ne!(
            score["failure"]["kind"], "evaluator",
            "the grammar kept the reply in shape: {line}"
        );
        assert!(
            score["evaluator_usage"]["output_tokens"].as_u64() > Some(10),
            "{line}"
        );
    }
}

#[test]
fn a_server_that_dies_mid_run_loses_nothing_and_maia_resume_finishes_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let server = LlamaServer::start(&cache, &["--ctx-size", "65536"]);
    let port = server.port;
    let runs = dir.path().join("runs");
    // One quick retry, so the dead server fails the run in about a second.
    let config = dir.path().join("maia.toml");
    std::fs::write(&config, "[run]\nmax_retries = 1\n").expect("config");
    let mut child = with_bundled(
        maia()
            .args(["run", "--headless", "--backend", "openai", "--base-url"])
            .arg(server.base_url())
            .args(["--model", "tiny-vlm", "--target", "synthetic:red"])
            .args(["--max-rounds", "6", "--id", "crash", "--config"])
            .arg(&config)
            .arg("--runs-dir")
            .arg(&runs),
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("maia starts");
    // Freeze the server as round 2 begins, so the request in flight cannot finish, then
    // kill it: maia sees its connection die under it.
    let journal = runs.join("crash/events.jsonl");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !std::fs::read_to_string(&journal)
        .unwrap_or_default()
        .contains(r#""type":"round_started","round":2"#)
    {
        assert!(std::time::Instant::now() < deadline, "round 2 never began");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    server.freeze();
    std::thread::sleep(std::time::Duration::from_millis(300));
    server.kill();
    let status = child.wait().expect("maia ends");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
        .expect("stderr");
    assert_eq!(status.code(), Some(1), "{err}");
    let before = events(&runs.join("crash"));
    assert_eq!(
        of_type(&before, "run_ended")[0]["status"],
        "failed",
        "{before:?}"
    );
    // Round 1's call finished before the freeze (a slow machine may have finished round
    // 2's too before SIGSTOP landed).
    assert!(!of_type(&before, "tool_finished").is_empty(), "{before:?}");

    // The same server back on the same address: resume finishes the run.
    let _server = LlamaServer::start_on(port, &cache, &["--ctx-size", "65536"]);
    let (code, out, err) = run(with_bundled(
        maia()
            .args(["resume", "crash", "--headless", "--runs-dir"])
            .arg(&runs),
    ));
    assert_eq!(code, 3, "{out}{err}");
    let after = events(&runs.join("crash"));
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "nothing journaled was lost"
    );
    assert_eq!(
        of_type(&after, "run_ended")
            .last()
            .map(|e| e["status"].clone()),
        Some(Value::from("limit"))
    );
    let seqs: Vec<u64> = after.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
}

#[test]
fn a_25_round_run_fits_a_small_context_by_trimming_older_rounds() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 13,312 tokens: the system prompt and tools take about 6,400 with this tokenizer,
    // and every round adds a call, an image and its description.
    let server = LlamaServer::start(&dir.path().join("cache"), &["--ctx-size", "13312"]);
    let runs = dir.path().join("runs");
    let extra_run = |id: &str, extra: &[&str]| {
        run(with_bundled(
            maia()
                .args(["run", "--headless", "--backend", "openai", "--base-url"])
                .arg(server.base_url())
                .args(["--model", "tiny-vlm", "--target", "synthetic:red"])
                .args(["--max-rounds", "25", "--id", id])
                .args(extra)
                .arg("--runs-dir")
                .arg(&runs),
        ))
    };
    // Without a budget the conversation outgrows the context and the server refuses it.
    let (code, out, err) = extra_run("unbounded", &["--context-tokens", "0"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        format!("{out}{err}").contains("no longer fits the model's context"),
        "{out}{err}"
    );
    // With the budget the server reports (its context), the same run reaches its limit.
    let (code, out, err) = extra_run("bounded", &[]);
    assert_eq!(code, 3, "{out}{err}");
    let events = events(&runs.join("bounded"));
    assert!(of_type(&events, "assistant_message").len() >= 25);
    let trims = of_type(&events, "context_trimmed");
    for step in ["images", "tool_outputs"] {
        assert!(
            trims.iter().any(|t| t["step"] == step),
            "no {step} trim: {trims:?}"
        );
    }
    for trim in &trims {
        assert!(trim["tokens_after"].as_u64() < trim["tokens_before"].as_u64());
    }
    // Every request stayed under the server's context, as it counted them.
    for message in of_type(&events, "assistant_message") {
        assert!(
            message["usage"]["input_tokens"].as_u64() < Some(13312),
            "{message}"
        );
    }
    assert!(out.contains("context kept within the budget"), "{out}");
}
