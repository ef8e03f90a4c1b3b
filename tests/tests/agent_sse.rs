//! The agent loop against a real HTTP server on loopback speaking each provider's SSE:
//! the faults a long run meets (429 with Retry-After, 500, a reset mid-stream, a stream
//! that stops early, a malformed chunk, arguments that are not JSON, an invented tool)
//! each end in a retry or an error fed back to the model, the run completes, and nothing
//! already journaled is lost.

#![allow(clippy::unwrap_used)] // test helpers: a failed step is a failed test

use maia_core::agent::journal::read_journal;
use maia_core::agent::{Agent, Event, RunInfo, RunStatus};
use maia_core::config::Config;
use maia_core::llm::{
    AnthropicBackend, AnthropicConfig, ApiKey, LlmBackend, OpenAiBackend, OpenAiConfig,
};
use maia_tests::agent_kit::parts;
use maia_tests::llm_server::{LlmServer, ScriptedReply, ScriptedResponse};
use std::path::Path;
use std::sync::Arc;

const SECRET: &str = "sk-test-0123456789abcdef";

fn config() -> Config {
    let mut c = Config::default();
    c.run.max_retries = 3;
    c.prices.insert(
        "gpt-test".into(),
        maia_core::config::Price {
            input_per_mtok: 1.0,
            output_per_mtok: 2.0,
        },
    );
    c
}

async fn run(backend: Arc<dyn LlmBackend>, dir: &Path) -> maia_core::agent::Outcome {
    let parts = parts(backend, "synthetic:red_and_circle", dir, config()).unwrap();
    let info = RunInfo {
        run_id: "sse".into(),
        task: "describe-unit".into(),
        target: "synthetic:red_and_circle".into(),
        unit: "synthetic:0".into(),
        model: None,
    };
    Agent::start(parts, dir, info, "Describe the unit.".into())
        .unwrap()
        .run()
        .await
        .unwrap()
}

fn faulty_script(
    render: impl Fn(&ScriptedReply) -> ScriptedResponse,
    rate_limit: ScriptedResponse,
    server_error: ScriptedResponse,
    done_marker: &str,
) -> Vec<ScriptedResponse> {
    let make = ScriptedReply::new()
        .reasoning("I should look at red shapes first.")
        .text("Making images.")
        .tool_call(
            "call_a",
            "text2image",
            r#"{"prompts": ["a red circle", "a blue square"], "seed": 3}"#,
        )
        .tool_call("call_b", "zoom", r#"{}"#)
        .usage(1200, 80);
    let probe = ScriptedReply::new()
        .text("Probing.")
        .tool_call(
            "call_c",
            "call_unit",
            r#"{"image_ids": ["img_1", "img_2"]}"#,
        )
        .tool_call("call_d", "call_unit", r#"{"image_ids": [img_1]"#)
        .usage(2400, 60);
    let answer = ScriptedReply::new()
        .text("Red circles drive it.")
        .tool_call(
            "call_e",
            "final_answer",
            r#"{"description": "red circles", "label": "red circle"}"#,
        )
        .usage(3600, 40);
    vec![
        rate_limit,
        render(&make).cut_before("Making").reset(),
        render(&make),
        server_error,
        render(&probe).cut_before(done_marker),
        render(&probe),
        render(&answer),
    ]
}

fn check_journal(dir: &Path) {
    let records = read_journal(&dir.join("events.jsonl")).unwrap().records;
    let retries = records
        .iter()
        .filter(|r| matches!(r.event, Event::Retry { .. }))
        .count();
    assert_eq!(
        retries, 4,
        "429, reset, 500 and the truncated stream are each retried once"
    );
    let errors: Vec<String> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::ToolFinished {
                error: Some(kind), ..
            } => Some(kind.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(errors, ["unknown_tool", "invalid_args"]);
    let replies = records
        .iter()
        .filter(|r| matches!(r.event, Event::AssistantMessage { .. }))
        .count();
    assert_eq!(
        replies, 3,
        "only complete replies are journaled as messages"
    );
    let text = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    assert!(!text.contains(SECRET), "the key never reaches the journal");
    assert!(
        !std::fs::read_to_string(dir.join("run.toml"))
            .unwrap()
            .contains(SECRET)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_run_survives_every_fault_and_completes() {
    let server = LlmServer::start().await;
    let script = faulty_script(
        ScriptedReply::openai,
        ScriptedResponse::json(
            429,
            serde_json::json!({"error": {"message": "Rate limit reached", "type": "requests"}}),
        )
        .header("retry-after", "0"),
        ScriptedResponse::json(
            500,
            serde_json::json!({"error": {"message": "internal error"}}),
        )
        .header("retry-after", "0"),
        "[DONE]",
    );
    for r in script {
        server.push(r);
    }
    let mut cfg = OpenAiConfig::new("gpt-test")
        .with_base_url(format!("{}/v1", server.url()))
        .with_api_key(ApiKey::new(SECRET));
    cfg.idle_timeout = std::time::Duration::from_secs(10);
    let backend: Arc<dyn LlmBackend> = Arc::new(OpenAiBackend::new(cfg).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let outcome = run(backend, dir.path()).await;
    assert_eq!(outcome.status, RunStatus::Completed, "{}", outcome.reason);
    assert_eq!(
        outcome.answer.as_ref().map(|a| a.0.as_str()),
        Some("red circles")
    );
    assert!(outcome.cost_usd > 0.0);
    check_journal(dir.path());
    let requests = server.requests();
    assert_eq!(requests.len(), 7);
    let last = requests.last().unwrap().body_text();
    assert!(
        last.contains("data:image/png;base64,"),
        "tool images reach the model"
    );
    assert!(last.contains("unknown tool `zoom`"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_run_survives_every_fault_and_completes() {
    let server = LlmServer::start().await;
    let script = faulty_script(
        ScriptedReply::anthropic,
        ScriptedResponse::json(429, serde_json::json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})).header("retry-after", "0"),
        ScriptedResponse::json(529, serde_json::json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})).header("retry-after", "0"),
        "message_stop",
    );
    for r in script {
        server.push(r);
    }
    let cfg = AnthropicConfig::new("claude-test")
        .with_base_url(server.url())
        .with_api_key(ApiKey::new(SECRET));
    let backend: Arc<dyn LlmBackend> = Arc::new(AnthropicBackend::new(cfg).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let outcome = run(backend, dir.path()).await;
    assert_eq!(outcome.status, RunStatus::Completed, "{}", outcome.reason);
    check_journal(dir.path());
    let last = server.requests().last().unwrap().json();
    let messages = last["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert!(
        roles.windows(2).all(|w| w[0] != w[1]),
        "roles alternate: {roles:?}"
    );
}
