//! The Anthropic Messages backend against a real HTTP server on loopback that plays
//! recorded Messages streams and injects faults.

use base64::Engine as _;
use maia_core::llm::{
    AnthropicBackend, AnthropicConfig, ApiKey, Completion, CompletionBuilder, EventStream,
    FinishReason, ImagePart, LlmBackend, LlmError, LlmErrorKind, LlmEvent, LlmRequest, Message,
    Part, RequestedToolCall, ToolResult, Usage,
};
use maia_plugin_sdk::ToolSpec;
use maia_tests::llm_server::{LlmServer, ScriptedReply, ScriptedResponse};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const KEY: &str = "sk-ant-api03-test-0a1b2c3d4e5f";

fn config(server: &LlmServer) -> AnthropicConfig {
    AnthropicConfig::new("claude-sonnet-4-5")
        .with_base_url(server.url())
        .with_api_key(ApiKey::new(KEY))
}

fn backend(server: &LlmServer) -> AnthropicBackend {
    AnthropicBackend::new(config(server)).expect("a valid config")
}

fn request(messages: Vec<Message>) -> LlmRequest {
    LlmRequest {
        system: "You are an interpretability agent.".into(),
        messages,
        tools: vec![],
        max_output_tokens: 4096,
        temperature: None,
        reply_schema: None,
    }
}

fn ask(text: &str) -> LlmRequest {
    request(vec![Message::User(vec![Part::Text(text.into())])])
}

async fn drain(mut stream: EventStream) -> (Vec<LlmEvent>, Option<LlmError>) {
    let mut events = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(event) => events.push(event),
            Err(error) => {
                assert!(stream.next().await.is_none(), "events after the error");
                return (events, Some(error));
            }
        }
    }
    (events, None)
}

fn fold(events: &[LlmEvent]) -> Completion {
    let mut builder = CompletionBuilder::new();
    events.iter().for_each(|e| builder.push(e));
    builder.finish()
}

async fn complete(backend: &AnthropicBackend, request: LlmRequest) -> Completion {
    let (events, error) = drain(backend.stream(request)).await;
    assert_eq!(error, None);
    assert!(matches!(events.last(), Some(LlmEvent::Finish(_))));
    fold(&events)
}

async fn fail(backend: &AnthropicBackend, request: LlmRequest) -> (Vec<LlmEvent>, LlmError) {
    let (events, error) = drain(backend.stream(request)).await;
    (events, error.expect("the stream should end in an error"))
}

fn png(id: &str, rgba: [u8; 4]) -> ImagePart {
    ImagePart {
        id: id.into(),
        png: Arc::new(maia_tests::solid_png(4, 4, rgba).expect("a PNG")),
    }
}

fn image_block(image: &ImagePart) -> serde_json::Value {
    json!({"type": "image", "source": {
        "type": "base64",
        "media_type": "image/png",
        "data": base64::engine::general_purpose::STANDARD.encode(image.png.as_slice()),
    }})
}

#[tokio::test]
async fn parallel_tool_use_with_multi_chunk_input_reassembles() {
    let server = LlmServer::start().await;
    server.push(ScriptedResponse::sse_file("anthropic_tool_use.sse"));
    let c = complete(&backend(&server), ask("Describe unit 42.")).await;
    assert_eq!(c.text, "I'll test colour and shape at once.");
    assert_eq!(
        c.tool_calls,
        vec![
            RequestedToolCall {
                id: "toolu_01T1x1fJ34qAmk2tNTrN7Up6".into(),
                name: "text2image".into(),
                arguments: r#"{"prompts": ["a red circle", "a red square"]}"#.into(),
            },
            RequestedToolCall {
                id: "toolu_01VkXWq9hWm5hGGu3L8q2nHs".into(),
                name: "call_unit".into(),
                arguments: r#"{"unit": "layer3:42", "image_ids": ["img_1"]}"#.into(),
            },
            // A tool without parameters streams no input at all.
            RequestedToolCall {
                id: "toolu_01Ck3bYx7pLq2M9nRt5sWv8Z".into(),
                name: "sample_dataset".into(),
                arguments: "{}".into(),
            },
        ]
    );
    assert_eq!(c.finish, Some(FinishReason::ToolCalls));
    // Cache reads count as prompt tokens: 1537 + 1024.
    assert_eq!(
        c.usage,
        Usage {
            input_tokens: 2561,
            output_tokens: 146
        }
    );

    let r = &server.requests()[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/v1/messages");
    assert_eq!(r.header("x-api-key"), Some(KEY));
    assert_eq!(r.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(r.header("authorization"), None);
    let body = r.json();
    assert_eq!(body["model"], "claude-sonnet-4-5");
    assert_eq!(body["max_tokens"], 4096);
    assert_eq!(body["stream"], true);
    assert_eq!(body["system"], "You are an interpretability agent.");
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "Describe unit 42."}]}])
    );
    assert!(body.get("tools").is_none());
    assert!(body.get("thinking").is_none());
}

#[tokio::test]
async fn chunks_split_anywhere_decode_the_same() {
    let server = LlmServer::start().await;
    let backend = backend(&server);
    server.push(ScriptedResponse::sse_file("anthropic_tool_use.sse"));
    let whole = complete(&backend, ask("go")).await;
    for size in [1, 5, 11] {
        server.push(ScriptedResponse::sse_file("anthropic_tool_use.sse").split_every(size));
        assert_eq!(
            complete(&backend, ask("go")).await,
            whole,
            "chunks of {size}"
        );
    }
}

/// Thinking streams as reasoning; when the tool results go back, the thinking block
/// (with its signature) opens the assistant turn, as the API requires.
#[tokio::test]
async fn thinking_streams_as_reasoning_and_is_sent_back_with_its_signature() {
    let server = LlmServer::start().await;
    let mut config = config(&server);
    config.thinking_budget = Some(2048);
    let backend = AnthropicBackend::new(config).unwrap();
    server.push(ScriptedResponse::sse_file("anthropic_thinking.sse"));
    let mut req = ask("Describe unit 42.");
    req.temperature = Some(0.2);
    let (events, error) = drain(backend.stream(req.clone())).await;
    assert_eq!(error, None);
    assert_eq!(
        events[1],
        LlmEvent::ReasoningDelta("The exemplars are all red".into())
    );
    let c = fold(&events);
    assert_eq!(
        c.reasoning,
        "The exemplars are all red circles. Colour or shape? Test a red square and a blue circle."
    );
    assert_eq!(c.text, "Separating colour from shape.");
    assert_eq!(c.tool_calls[0].id, "toolu_01NRLabsLyVHZPKxbKvkfSMn");
    let first = server.requests()[0].json();
    assert_eq!(
        first["thinking"],
        json!({"type": "enabled", "budget_tokens": 2048})
    );
    assert!(
        first.get("temperature").is_none(),
        "thinking needs the default"
    );

    let mut next = req.clone();
    next.messages.push(Message::Assistant {
        text: c.text.clone(),
        tool_calls: c.tool_calls.clone(),
    });
    next.messages.push(Message::ToolResults(vec![ToolResult {
        call_id: c.tool_calls[0].id.clone(),
        name: "text2image".into(),
        text: "img_1, img_2".into(),
        images: vec![],
        data: serde_json::Value::Null,
        is_error: false,
    }]));
    server.push(ScriptedReply::new().text("Colour.").anthropic());
    complete(&backend, next.clone()).await;
    let second = server.requests()[1].json();
    assert_eq!(second["thinking"]["budget_tokens"], 2048);
    let assistant = &second["messages"][1];
    assert_eq!(assistant["role"], "assistant");
    assert_eq!(
        assistant["content"][0],
        json!({"type": "thinking",
            "thinking": "The exemplars are all red circles. Colour or shape? Test a red square and a blue circle.",
            "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds6DJn3NSFPQ4vAmBJOcbBT6PjVGmyFBjSyyiBWkQzZyNhJ=="})
    );
    assert_eq!(
        assistant["content"][1],
        json!({"type": "text", "text": "Separating colour from shape."})
    );
    assert_eq!(assistant["content"][2]["type"], "tool_use");

    // A backend that never saw that reply (a resumed run) sends the turn without
    // thinking rather than one the API would reject.
    let mut config = self::config(&server);
    config.thinking_budget = Some(2048);
    let fresh = AnthropicBackend::new(config).unwrap();
    server.push(ScriptedReply::new().text("Colour.").anthropic());
    complete(&fresh, next).await;
    let third = server.requests()[2].json();
    assert!(third.get("thinking").is_none());
    assert_eq!(third["messages"][1]["content"][0]["type"], "text");
}

/// Images go as base64 blocks; tool results as `tool_result` blocks holding the text and
/// each image after its label; errors flagged; `data` never sent; a note the user adds
/// after tool results joins the same user turn.
#[tokio::test]
async fn images_and_tool_results_are_encoded_as_blocks() {
    let server = LlmServer::start().await;
    server.push(ScriptedReply::new().text("ok").anthropic());
    let exemplar = png("img_1", [255, 0, 0, 255]);
    let made = png("img_7", [0, 0, 255, 255]);
    let mut req = request(vec![
        Message::User(vec![
            Part::Text("Exemplars:".into()),
            Part::Image(exemplar.clone()),
        ]),
        Message::Assistant {
            text: "Let me test.".into(),
            tool_calls: vec![
                RequestedToolCall {
                    id: "toolu_a".into(),
                    name: "text2image".into(),
                    arguments: r#"{"prompts":["a blue circle"]}"#.into(),
                },
                RequestedToolCall {
                    id: "toolu_b".into(),
                    name: "call_unit".into(),
                    arguments: "{oops".into(),
                },
            ],
        },
        Message::ToolResults(vec![
            ToolResult {
                call_id: "toolu_a".into(),
                name: "text2image".into(),
                text: "img_7: a blue circle".into(),
                images: vec![made.clone()],
                data: json!({"secret_activations": [0.5]}),
                is_error: false,
            },
            ToolResult {
                call_id: "toolu_b".into(),
                name: "call_unit".into(),
                text: "arguments are not JSON".into(),
                images: vec![],
                data: serde_json::Value::Null,
                is_error: true,
            },
        ]),
        Message::User(vec![Part::Text("Note from the user: try squares.".into())]),
    ]);
    req.tools = vec![ToolSpec::new(
        "text2image",
        "Draws images from prompts.",
        json!({"type": "object", "properties": {"prompts": {"type": "array"}}}),
    )];
    req.temperature = Some(0.0);
    complete(&backend(&server), req).await;
    let r = &server.requests()[0];
    let body = r.json();
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [
                {"type": "text", "text": "Exemplars:"},
                image_block(&exemplar),
            ]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Let me test."},
                {"type": "tool_use", "id": "toolu_a", "name": "text2image",
                 "input": {"prompts": ["a blue circle"]}},
                {"type": "tool_use", "id": "toolu_b", "name": "call_unit",
                 "input": {"_raw_arguments": "{oops"}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_a", "content": [
                    {"type": "text", "text": "img_7: a blue circle"},
                    {"type": "text", "text": "img_7:"},
                    image_block(&made),
                ]},
                {"type": "tool_result", "tool_use_id": "toolu_b", "is_error": true,
                 "content": [{"type": "text", "text": "arguments are not JSON"}]},
                {"type": "text", "text": "Note from the user: try squares."},
            ]},
        ])
    );
    assert_eq!(
        body["tools"],
        json!([{"name": "text2image", "description": "Draws images from prompts.",
            "input_schema": {"type": "object", "properties": {"prompts": {"type": "array"}}}}])
    );
    assert_eq!(body["temperature"], 0.0);
    assert!(!r.body_text().contains("secret_activations"));
}

#[tokio::test]
async fn the_key_comes_from_the_named_env_var_and_travels_only_in_x_api_key() {
    // Cargo sets CARGO_MANIFEST_DIR for test processes: a variable known to be set.
    let expected = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    let server = LlmServer::start().await;
    server.push(ScriptedResponse::sse_file("anthropic_tool_use.sse"));
    let mut config =
        AnthropicConfig::new("claude-sonnet-4-5").with_base_url(format!("{}/v1/", server.url()));
    config.api_key_env = "CARGO_MANIFEST_DIR".into();
    let backend = AnthropicBackend::new(config.clone()).unwrap();
    complete(&backend, ask("hi")).await;
    let r = &server.requests()[0];
    assert_eq!(
        r.path, "/v1/messages",
        "a base URL ending in /v1 is used as is"
    );
    assert_eq!(r.header("x-api-key"), Some(expected.as_str()));
    for (name, value) in &r.headers {
        assert!(
            name == "x-api-key" || !value.contains(&expected),
            "key in {name}"
        );
    }
    assert!(!r.body_text().contains(&expected));
    let debug = format!("{:?} {:?}", self::config(&server), backend);
    assert!(
        !debug.contains(KEY) && !debug.contains(&expected),
        "{debug}"
    );
}

#[test]
fn a_missing_key_is_a_config_error_naming_the_variable() {
    let mut config = AnthropicConfig::new("claude-sonnet-4-5");
    config.api_key_env = "MAIA_TEST_SURELY_UNSET_KEY_VAR".into();
    let error = AnthropicBackend::new(config).unwrap_err();
    assert_eq!(error.kind, LlmErrorKind::Config);
    assert!(
        error.message.contains("$MAIA_TEST_SURELY_UNSET_KEY_VAR"),
        "{error}"
    );
}

#[tokio::test]
async fn rate_limit_429_carries_retry_after() {
    let server = LlmServer::start().await;
    server.push(
        ScriptedResponse::json(
            429,
            json!({"type": "error", "error": {"type": "rate_limit_error",
                "message": "Number of request tokens has exceeded your per-minute rate limit"}}),
        )
        .header("retry-after", "12")
        .header("request-id", "req_011CSHoEeqs5C35K2UUqR7Fy"),
    );
    let (events, error) = fail(&backend(&server), ask("hi")).await;
    assert!(events.is_empty());
    assert_eq!(
        error.kind,
        LlmErrorKind::RateLimited {
            retry_after: Some(Duration::from_secs(12))
        }
    );
    assert!(error.message.contains("per-minute rate limit"), "{error}");
}

#[tokio::test]
async fn overloaded_529_and_500_are_server_errors() {
    let server = LlmServer::start().await;
    let backend = backend(&server);
    server.push(ScriptedResponse::json(
        529,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ));
    let (_, error) = fail(&backend, ask("hi")).await;
    assert_eq!(error.kind, LlmErrorKind::Server { status: 529 });
    server.push(ScriptedResponse::text(500, "upstream connect error"));
    let (_, error) = fail(&backend, ask("hi")).await;
    assert_eq!(error.kind, LlmErrorKind::Server { status: 500 });
    assert!(error.message.contains("upstream connect error"), "{error}");
}

#[tokio::test]
async fn an_error_event_mid_stream_ends_it_after_the_delivered_text() {
    let server = LlmServer::start().await;
    server.push(ScriptedResponse::sse_file("anthropic_overloaded.sse"));
    let (events, error) = fail(&backend(&server), ask("hi")).await;
    assert_eq!(events[1], LlmEvent::TextDelta("Looking".into()));
    assert_eq!(error.kind, LlmErrorKind::Server { status: 529 });
    assert!(error.message.contains("overloaded_error"), "{error}");
}

#[tokio::test]
async fn unauthorized_401_is_auth_and_never_shows_the_key() {
    let server = LlmServer::start().await;
    server.push(ScriptedResponse::json(
        401,
        json!({"type": "error", "error": {"type": "authentication_error",
            "message": format!("invalid x-api-key {KEY}")}}),
    ));
    let (_, error) = fail(&backend(&server), ask("hi")).await;
    assert_eq!(error.kind, LlmErrorKind::Auth);
    assert!(!error.message.contains(KEY), "{error}");
    assert!(error.message.contains("$ANTHROPIC_API_KEY"), "{error}");
}

#[tokio::test]
async fn bad_request_400_quotes_the_provider_message() {
    let server = LlmServer::start().await;
    server.push(ScriptedResponse::json(
        400,
        json!({"type": "error", "error": {"type": "invalid_request_error",
            "message": "messages.1.content.0.image.source.base64: image exceeds 5 MB maximum"}}),
    ));
    let (_, error) = fail(&backend(&server), ask("hi")).await;
    assert_eq!(error.kind, LlmErrorKind::BadRequest { status: 400 });
    assert!(
        error.message.contains("image exceeds 5 MB maximum"),
        "{error}"
    );
}

#[tokio::test]
async fn reset_mid_stream_is_a_network_error_after_the_delivered_deltas() {
    let server = LlmServer::start().await;
    // message_start, content_block_start, ping, two text deltas; then RST.
    server.push(
        ScriptedResponse::sse_file("anthropic_tool_use.sse")
            .keep_events(5)
            .reset(),
    );
    let (events, error) = fail(&backend(&server), ask("hi")).await;
    assert_eq!(
        events[1..],
        [
            LlmEvent::TextDelta("I'll".into()),
            LlmEvent::TextDelta(" test colour and".into()),
        ]
    );
    assert_eq!(error.kind, LlmErrorKind::Network);
}

#[tokio::test]
async fn stream_without_message_stop_is_a_network_error() {
    let server = LlmServer::start().await;
    server.push(
        ScriptedResponse::sse_file("anthropic_tool_use.sse").cut_before("event: message_stop"),
    );
    let (events, error) = fail(&backend(&server), ask("hi")).await;
    assert_eq!(error.kind, LlmErrorKind::Network);
    assert!(error.message.contains("message_stop"), "{error}");
    assert!(!events.iter().any(|e| matches!(e, LlmEvent::Finish(_))));
}

#[tokio::test]
async fn malformed_json_is_a_protocol_error() {
    let server = LlmServer::start().await;
    server.push(ScriptedResponse::sse(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5}}}\n\n\
         event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\"\n\n",
    ));
    let (events, error) = fail(&backend(&server), ask("hi")).await;
    assert_eq!(
        events,
        [LlmEvent::Usage(Usage {
            input_tokens: 5,
            output_tokens: 0
        })]
    );
    assert_eq!(error.kind, LlmErrorKind::Protocol);
}

#[tokio::test]
async fn scripted_replies_round_trip_through_the_backend() {
    let server = LlmServer::start().await;
    server.push(
        ScriptedReply::new()
            .reasoning("hmm")
            .text("Answering.")
            .tool_call(
                "toolu_1",
                "final_answer",
                r#"{"description":"red things","label":"red"}"#,
            )
            .usage(300, 40)
            .anthropic(),
    );
    let c = complete(&backend(&server), ask("go")).await;
    assert_eq!(c.reasoning, "hmm");
    assert_eq!(c.text, "Answering.");
    assert_eq!(c.tool_calls[0].name, "final_answer");
    assert_eq!(
        c.tool_calls[0].arguments,
        r#"{"description":"red things","label":"red"}"#
    );
    assert_eq!(
        c.usage,
        Usage {
            input_tokens: 300,
            output_tokens: 40
        }
    );
    assert_eq!(c.finish, Some(FinishReason::ToolCalls));
}
