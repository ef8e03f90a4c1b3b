//! The agent loop end to end, with scripted model replies and real tools: the shapes-tools
//! wasm plugin, `call_unit` on a synthetic unit, `final_answer`. Checks what is journaled,
//! what goes back to the model, model mistakes fed back as errors, limits, retries,
//! oversight controls, and resume after a crash mid-round.

#![allow(clippy::unwrap_used)] // test helpers: a failed step is a failed test

use maia_core::agent::journal::read_journal;
use maia_core::agent::{Agent, Control, Event, Record, RunInfo, RunStatus};
use maia_core::config::Config;
use maia_core::llm::replay::RecordedReply;
use maia_core::llm::{LlmBackend, LlmError, LlmErrorKind, Message};
use maia_tests::agent_kit::{Recording, parts, reply};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const UNIT: &str = "synthetic:red_and_circle";

fn info() -> RunInfo {
    RunInfo {
        run_id: "t".into(),
        task: "describe-unit".into(),
        target: UNIT.into(),
        unit: "synthetic:0".into(),
        model: None,
    }
}

fn config(max_rounds: u32) -> Config {
    let mut c = Config::default();
    c.run.max_rounds = max_rounds;
    c.run.max_retries = 2;
    c
}

fn happy_path() -> Vec<RecordedReply> {
    vec![
        reply(
            1,
            "Let me make a red circle and a blue square.",
            &[(
                "text2image",
                r#"{"prompts":["a red circle","a blue square"],"seed":1}"#,
            )],
        ),
        reply(
            2,
            "Now probe the unit.",
            &[("call_unit", r#"{"image_ids":["img_1","img_2"]}"#)],
        ),
        reply(
            3,
            "It fires for the red circle only.",
            &[(
                "final_answer",
                r#"{"description":"red circles","label":"red circle"}"#,
            )],
        ),
    ]
}

fn start(backend: Arc<dyn LlmBackend>, dir: &Path, cfg: Config) -> Agent {
    let parts = parts(backend, UNIT, dir, cfg).unwrap_or_else(|e| panic!("{e}"));
    Agent::start(parts, dir, info(), "Describe unit synthetic:0.".into())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn events(dir: &Path) -> Vec<Record> {
    read_journal(&dir.join("events.jsonl"))
        .unwrap_or_else(|e| panic!("{e}"))
        .records
}

fn kinds(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| {
            serde_json::to_value(&r.event)
                .ok()
                .and_then(|v| v["type"].as_str().map(str::to_owned))
                .unwrap_or_default()
        })
        .filter(|k| k != "text_delta")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_journals_every_step_and_feeds_tool_images_back() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Recording::replay(happy_path());
    let outcome = start(backend.clone(), dir.path(), config(25))
        .run()
        .await
        .unwrap();
    assert_eq!(outcome.status, RunStatus::Completed);
    assert_eq!(
        outcome.answer,
        Some(("red circles".into(), "red circle".into()))
    );
    assert_eq!(outcome.tokens, 3 * 1100);

    let records = events(dir.path());
    assert_eq!(
        kinds(&records),
        [
            "run_started",
            "round_started",
            "assistant_message",
            "tool_started",
            "tool_finished",
            "round_started",
            "assistant_message",
            "tool_started",
            "tool_finished",
            "round_started",
            "assistant_message",
            "tool_started",
            "tool_finished",
            "final_answer",
            "run_ended"
        ]
    );
    assert!(records.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    let probe = records.iter().find_map(|r| match &r.event {
        Event::ToolFinished { name, images, .. } if name == "call_unit" => Some(images.clone()),
        _ => None,
    });
    let masks = probe.unwrap();
    assert_eq!(masks.len(), 2);
    let red = masks[0].activation.unwrap();
    let blue = masks[1].activation.unwrap();
    assert!(
        red > 0.5 && blue < 0.2,
        "red circle {red}, blue square {blue}"
    );
    for m in &masks {
        assert!(
            dir.path()
                .join("images")
                .join(format!("{}.png", m.hash))
                .is_file()
        );
    }

    let requests = backend.requests.lock().unwrap();
    assert_eq!(requests.len(), 3);
    let Some(Message::ToolResults(results)) = requests[2].messages.last() else {
        panic!("no tool results")
    };
    assert_eq!(results[0].name, "call_unit");
    assert_eq!(
        results[0].images.len(),
        2,
        "masks go back to the model as images"
    );
    assert!(results[0].text.contains("img_1"));
    assert!(requests[0].tools.iter().any(|t| t.name == "final_answer"));

    let result: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("result.json")).unwrap()).unwrap();
    assert_eq!(result["status"], "completed");
    assert_eq!(result["description"], "red circles");
    let run_toml = std::fs::read_to_string(dir.path().join("run.toml")).unwrap();
    assert!(run_toml.contains("max_rounds = 25") && run_toml.contains("api_key_env"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invented_tools_and_bad_arguments_go_back_to_the_model_as_errors() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Recording::replay(vec![
        reply(
            1,
            "",
            &[
                ("zoom_in", "{}"),
                ("call_unit", "{image_ids: [img_1]"),
                ("text2image", r#"{"prompts":"not a list"}"#),
            ],
        ),
        reply(
            2,
            "",
            &[(
                "final_answer",
                r#"{"description":"red circles","label":"red"}"#,
            )],
        ),
    ]);
    let outcome = start(backend.clone(), dir.path(), config(25))
        .run()
        .await
        .unwrap();
    assert_eq!(outcome.status, RunStatus::Completed);
    let errors: Vec<(String, String)> = events(dir.path())
        .into_iter()
        .filter_map(|r| match r.event {
            Event::ToolFinished {
                error: Some(kind),
                text,
                ..
            } => Some((kind, text)),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 3);
    assert_eq!(errors[0].0, "unknown_tool");
    assert!(
        errors[0].1.contains("text2image") && errors[0].1.contains("call_unit"),
        "lists real tools: {}",
        errors[0].1
    );
    assert!(errors[1].1.contains("not valid JSON"), "{}", errors[1].1);
    assert!(errors[2].1.contains("invalid arguments"), "{}", errors[2].1);
    let requests = backend.requests.lock().unwrap();
    let Some(Message::ToolResults(results)) = requests[1].messages.last() else {
        panic!("no results")
    };
    assert!(results.iter().all(|r| r.is_error));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_that_never_answers_is_told_to_and_then_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let replies = (1..=6)
        .map(|i| reply(i, "Hmm, still thinking.", &[]))
        .collect();
    let backend = Recording::replay(replies);
    let outcome = start(backend.clone(), dir.path(), config(2))
        .run()
        .await
        .unwrap();
    assert_eq!(outcome.status, RunStatus::Limit);
    assert!(
        outcome.reason.contains("no final answer after 5 rounds"),
        "{}",
        outcome.reason
    );
    let records = events(dir.path());
    let nudges: Vec<String> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Nudge { text } => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert!(nudges.iter().any(|n| n.contains("called no tool")));
    assert!(
        nudges
            .iter()
            .filter(|n| n.contains("final answer now"))
            .count()
            >= 3,
        "{nudges:?}"
    );
    let requests = backend.requests.lock().unwrap();
    let last = format!("{:?}", requests.last().unwrap().messages.last().unwrap());
    assert!(last.contains("final answer now"), "{last}");
    let result: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("result.json")).unwrap()).unwrap();
    assert_eq!(result["status"], "limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retryable_failures_are_retried_and_journaled_others_end_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Recording::replay(happy_path());
    backend.fail_next(vec![
        LlmError::new(
            LlmErrorKind::RateLimited {
                retry_after: Some(Duration::from_millis(20)),
            },
            "429 from the server",
        ),
        LlmError::new(LlmErrorKind::Network, "connection reset"),
    ]);
    let outcome = start(backend.clone(), dir.path(), config(25))
        .run()
        .await
        .unwrap();
    assert_eq!(outcome.status, RunStatus::Completed);
    let retries: Vec<(u32, u64)> = events(dir.path())
        .into_iter()
        .filter_map(|r| match r.event {
            Event::Retry {
                attempt, wait_ms, ..
            } => Some((attempt, wait_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(retries, [(1, 20), (2, 2000)]);

    let dir = tempfile::tempdir().unwrap();
    let backend = Recording::replay(happy_path());
    backend.fail_next(vec![LlmError::new(
        LlmErrorKind::Auth,
        "401: set OPENAI_API_KEY",
    )]);
    let outcome = start(backend.clone(), dir.path(), config(25))
        .run()
        .await
        .unwrap();
    assert_eq!(outcome.status, RunStatus::Failed);
    assert!(outcome.reason.contains("OPENAI_API_KEY"));
    assert_eq!(backend.request_count(), 1, "auth errors are not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_reach_the_model_and_a_forced_answer_is_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Recording::replay(happy_path());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tx.send(Control::Note("try blue circles too".into()))
        .unwrap();
    tx.send(Control::ForceAnswer).unwrap();
    let outcome = start(backend.clone(), dir.path(), config(25))
        .with_controls(rx)
        .run()
        .await
        .unwrap();
    assert_eq!(outcome.status, RunStatus::Completed);
    let requests = backend.requests.lock().unwrap();
    let first = format!("{:?}", requests[0].messages);
    assert!(
        first.contains("try blue circles too") && first.contains("final answer now"),
        "{first}"
    );
    let records = events(dir.path());
    assert!(
        records
            .iter()
            .any(|r| matches!(&r.event, Event::Note { text } if text == "try blue circles too"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quit_ends_the_run_as_stopped_and_resume_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Recording::replay(happy_path());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tx.send(Control::Quit).unwrap();
    let outcome = start(backend.clone(), dir.path(), config(25))
        .with_controls(rx)
        .run()
        .await
        .unwrap();
    assert_eq!(outcome.status, RunStatus::Stopped);
    assert_eq!(backend.request_count(), 0);
    let p = parts(backend.clone(), UNIT, dir.path(), config(25)).unwrap();
    let (agent, _) = Agent::resume(p, dir.path()).unwrap();
    let outcome = agent.run().await.unwrap();
    assert_eq!(outcome.status, RunStatus::Completed);
}

/// Cuts the journal right after the `n`th record plus half of the next line, as a
/// SIGKILL mid-write would leave it.
fn crash_after(dir: &Path, n: usize) {
    let path = dir.join("events.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut kept = lines[..n].join("\n");
    kept.push('\n');
    kept.push_str(&lines[n][..lines[n].len() / 2]);
    std::fs::write(&path, kept).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_a_crash_mid_round_repeats_no_finished_step() {
    let dir = tempfile::tempdir().unwrap();
    let reference = Recording::replay(happy_path());
    start(reference.clone(), dir.path(), config(25))
        .run()
        .await
        .unwrap();
    let full = events(dir.path());
    // Crash after round 2's tool_started: the call_unit call never finished.
    let cut = full
        .iter()
        .position(|r| matches!(&r.event, Event::ToolStarted { name, .. } if name == "call_unit"))
        .unwrap()
        + 1;
    crash_after(dir.path(), cut);
    std::fs::remove_file(dir.path().join("result.json")).unwrap();

    let backend = Recording::replay(happy_path());
    let p = parts(backend.clone(), UNIT, dir.path(), config(25)).unwrap();
    let (agent, history) = Agent::resume(p, dir.path()).unwrap();
    assert_eq!(history.len(), cut);
    let outcome = agent.run().await.unwrap();
    assert_eq!(outcome.status, RunStatus::Completed);
    assert_eq!(
        outcome.answer,
        Some(("red circles".into(), "red circle".into()))
    );

    let after = events(dir.path());
    assert!(
        after.windows(2).all(|w| w[1].seq == w[0].seq + 1),
        "sequence has no gaps"
    );
    let finished: Vec<String> = after
        .iter()
        .filter_map(|r| match &r.event {
            Event::ToolFinished { call_id, .. } => Some(call_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        finished,
        ["c1_0", "c2_0", "c3_0"],
        "each call finished exactly once"
    );
    let images_of = |records: &[Record]| -> Vec<String> {
        records
            .iter()
            .filter_map(|r| match &r.event {
                Event::ToolFinished { images, .. } => Some(
                    images
                        .iter()
                        .map(|i| i.id.clone())
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        images_of(&after),
        images_of(&full),
        "the resumed run refers to the same image ids"
    );
    // Only round 3 needed the model again, and it saw the same conversation.
    assert_eq!(backend.request_count(), 1);
    let resumed_request = &backend.requests.lock().unwrap()[0];
    let original_request = &reference.requests.lock().unwrap()[2];
    assert_eq!(
        resumed_request.messages.len(),
        original_request.messages.len()
    );
    assert_eq!(
        format!("{:?}", resumed_request.messages),
        format!("{:?}", original_request.messages)
    );
}

fn program_path() -> Vec<RecordedReply> {
    let code = "r = text2image(prompts=['a red circle', 'a blue square'], seed=1)\n\
                a = call_unit(image_ids=r['image_ids'])\n\
                acts = [x['activation'] for x in a['data']]\n\
                print('best', r['image_ids'][argsort(acts, descending=True)[0]])\n\
                display(r['image_ids'][:1], 'the strongest')\n";
    let args = serde_json::json!({ "code": code }).to_string();
    vec![
        reply(1, "One program probes both.", &[("run_program", &args)]),
        reply(
            2,
            "It fires for the red circle.",
            &[(
                "final_answer",
                r#"{"description":"red circles","label":"red circle"}"#,
            )],
        ),
    ]
}

fn inner_calls(records: &[Record]) -> Vec<(String, u32, String)> {
    records
        .iter()
        .filter_map(|r| match &r.event {
            Event::InnerCall {
                parent,
                index,
                name,
                ..
            } => Some((parent.clone(), *index, name.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_journals_each_inner_call_and_resume_does_not_repeat_them() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Recording::replay(program_path());
    let outcome = start(backend.clone(), dir.path(), config(25))
        .run()
        .await
        .unwrap();
    assert_eq!(outcome.status, RunStatus::Completed);
    let full = events(dir.path());
    let kinds = kinds(&full);
    let program = kinds.iter().position(|k| k == "tool_started").unwrap();
    assert_eq!(
        kinds[program..program + 4],
        ["tool_started", "inner_call", "inner_call", "tool_finished"]
    );
    assert_eq!(
        inner_calls(&full),
        [
            ("c1_0".to_owned(), 1, "text2image".to_owned()),
            ("c1_0".to_owned(), 2, "call_unit".to_owned())
        ]
    );
    let finished = full
        .iter()
        .find_map(|r| match &r.event {
            Event::ToolFinished {
                name, text, images, ..
            } if name == "run_program" => Some((text.clone(), images.clone())),
            _ => None,
        })
        .unwrap();
    assert!(finished.0.contains("2 tool calls"), "{}", finished.0);
    assert!(finished.0.contains("best img_1"), "{}", finished.0);
    assert_eq!(finished.1.len(), 1, "display chose one image");
    assert!(finished.1[0].caption.starts_with("the strongest"));
    {
        let requests = backend.requests.lock().unwrap();
        let Some(Message::ToolResults(results)) = requests[1].messages.last() else {
            panic!("no tool results")
        };
        assert_eq!(
            results[0].images.len(),
            1,
            "the displayed image reaches the model"
        );
    }

    // Killed after the program's first inner call: resume replays it and makes only the
    // second.
    let cut = full
        .iter()
        .position(|r| matches!(&r.event, Event::InnerCall { index: 1, .. }))
        .unwrap()
        + 1;
    crash_after(dir.path(), cut);
    std::fs::remove_file(dir.path().join("result.json")).unwrap();
    let backend = Recording::replay(program_path());
    let p = parts(backend.clone(), UNIT, dir.path(), config(25)).unwrap();
    let (agent, _) = Agent::resume(p, dir.path()).unwrap();
    let outcome = agent.run().await.unwrap();
    assert_eq!(outcome.status, RunStatus::Completed);
    let after = events(dir.path());
    assert_eq!(
        inner_calls(&after),
        inner_calls(&full),
        "each inner call journaled once"
    );
    let data = after
        .iter()
        .find_map(|r| match &r.event {
            Event::ToolFinished { name, data, .. } if name == "run_program" => Some(data.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(data["replayed"], 1);
    assert_eq!(data["tool_calls"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_program_is_an_error_the_model_reads_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let args = serde_json::json!({"code": "x = 1\nimport os\n"}).to_string();
    let replies = vec![
        reply(1, "Try a program.", &[("run_program", &args)]),
        reply(
            2,
            "Done.",
            &[(
                "final_answer",
                r#"{"description":"red circles","label":"red circle"}"#,
            )],
        ),
    ];
    let backend = Recording::replay(replies);
    start(backend.clone(), dir.path(), config(25))
        .run()
        .await
        .unwrap();
    let requests = backend.requests.lock().unwrap();
    let Some(Message::ToolResults(results)) = requests[1].messages.last() else {
        panic!("no tool results")
    };
    let text = &results[0].text;
    assert!(
        text.contains("forbidden error on line 2") && text.contains("import os"),
        "{text}"
    );
}

/// The offline experimenter in both modes on the same unit: tool-call names offered and
/// made, rounds, and the answer.
async fn offline_run(mode: &str) -> (Vec<Record>, Option<(String, String)>) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(25);
    cfg.run.mode = mode.into();
    let outcome = start(maia_offline::backend(), dir.path(), cfg)
        .run()
        .await
        .unwrap();
    assert_eq!(outcome.status, RunStatus::Completed);
    (events(dir.path()), outcome.answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_program_mode_the_offline_experimenter_writes_programs_and_needs_fewer_rounds() {
    let (tools, tool_answer) = offline_run("tools").await;
    let (programs, program_answer) = offline_run("program").await;
    assert_eq!(program_answer, tool_answer);
    let rounds = |records: &[Record]| {
        records
            .iter()
            .filter(|r| matches!(r.event, Event::AssistantMessage { .. }))
            .count()
    };
    assert!(
        rounds(&programs) < rounds(&tools),
        "program mode {} rounds, tool mode {}",
        rounds(&programs),
        rounds(&tools)
    );
    let called: BTreeSet<String> = programs
        .iter()
        .filter_map(|r| match &r.event {
            Event::ToolStarted { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        called,
        BTreeSet::from(["final_answer".to_owned(), "run_program".to_owned()])
    );
    let inner: BTreeSet<String> = inner_calls(&programs)
        .into_iter()
        .map(|(_, _, name)| name)
        .collect();
    assert!(
        inner.contains("text2image") && inner.contains("call_unit"),
        "{inner:?}"
    );
}

/// The world evaluator, with a price: each prompt set "uses" 1,100 tokens costing $1.10, as
/// an LLM evaluator's would.
struct PricedWorld;

impl maia_core::eval::Evaluator for PricedWorld {
    fn name(&self) -> &str {
        "priced-world"
    }

    fn prompts<'a>(
        &'a self,
        description: &'a str,
        n: usize,
        seed: u64,
    ) -> maia_core::eval::EvalFuture<'a> {
        Box::pin(async move {
            let mut set = maia_core::eval::WorldEvaluator
                .prompts(description, n, seed)
                .await?;
            set.usage = maia_core::llm::Usage {
                input_tokens: 1000,
                output_tokens: 100,
            };
            Ok(set)
        })
    }

    fn cost(&self, usage: maia_core::llm::Usage) -> f64 {
        usage.total() as f64 * 1e-3
    }
}

/// `--verify K`: the first final answer is scored with its alternatives and not accepted;
/// the agent sees the scores; the second answer is scored too and the best candidate of
/// all is kept, here an alternative the agent itself ranked second. What the evaluator
/// spent counts in the run's tokens and cost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verified_answers_keep_the_best_scoring_candidate() {
    use maia_core::agent::verify::ScoreVerifier;
    use maia_core::eval::{ModelUnit, ToolRenderer};
    use maia_core::target::{UnitRef, open_target};
    let answer = r#"{"description":"blue squares","label":"blue squares","alternatives":["red circles","stars"]}"#;
    let replies = vec![
        reply(1, "I think blue squares.", &[("final_answer", answer)]),
        reply(2, "I stand by it.", &[("final_answer", answer)]),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(25);
    cfg.run.verify = 3;
    let backend = Recording::replay(replies);
    let mut p = parts(backend.clone(), UNIT, dir.path(), cfg).unwrap();
    let model: Arc<dyn maia_core::target::TargetModel> = Arc::from(open_target(UNIT).unwrap());
    let probe = ModelUnit::new(
        model,
        UnitRef {
            layer: maia_core::target::SYNTHETIC_LAYER.into(),
            unit: 0,
        },
    )
    .unwrap();
    p.verifier = Some(Arc::new(ScoreVerifier::new(
        Arc::new(ToolRenderer::new(p.tools.registry.clone()).unwrap()),
        Arc::new(PricedWorld),
        Arc::new(probe),
    )));
    let outcome = Agent::start(p, dir.path(), info(), "Describe unit synthetic:0.".into())
        .unwrap()
        .run()
        .await
        .unwrap();
    assert_eq!(outcome.status, RunStatus::Completed);
    assert_eq!(
        outcome.answer,
        Some(("red circles".into(), "red circles".into()))
    );
    let records = events(dir.path());
    let verifications: Vec<(bool, Vec<Option<f64>>)> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Verification {
                candidates,
                accepted,
                ..
            } => Some((*accepted, candidates.iter().map(|c| c.score).collect())),
            _ => None,
        })
        .collect();
    assert_eq!(verifications.len(), 2, "{verifications:?}");
    assert!(!verifications[0].0 && verifications[1].0);
    let scored = verifications.iter().map(|v| v.1.len()).sum::<usize>();
    assert!(
        (outcome.cost_usd - 1.1 * scored as f64).abs() < 1e-9,
        "{} for {scored} candidates",
        outcome.cost_usd
    );
    let replied: u64 = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::AssistantMessage { usage, .. } => Some(usage.total()),
            _ => None,
        })
        .sum();
    let summary = maia_core::agent::summary::RunSummary::fold(&records);
    assert_eq!(summary.tokens(), replied + 1100 * scored as u64);
    assert!((summary.cost_usd - outcome.cost_usd).abs() < 1e-9);
    let scores = &verifications[0].1;
    assert_eq!(scores.len(), 3);
    assert!(
        scores[1].unwrap_or_default() > 0.9 && scores[0].unwrap_or(1.0) < 0.5,
        "{scores:?}"
    );
    let requests = backend.requests.lock().unwrap();
    assert!(
        requests[0].system.contains("alternatives"),
        "the prompt says how"
    );
    let told = format!("{:?}", requests[1].messages.last());
    assert!(
        told.contains("not accepted yet") && told.contains("red circles"),
        "{told}"
    );
}
