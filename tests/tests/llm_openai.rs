//! The OpenAI-compatible backend against a real HTTP server on loopback that plays
//! recorded Chat Completions streams (OpenAI, vLLM, Ollama) and injects faults.

use base64::Engine as _;
use maia_core::llm::{
    ApiKey, Completion, CompletionBuilder, EventStream, FinishReason, ImagePart, LlmBackend,
    LlmError, LlmErrorKind, LlmEvent, LlmRequest, MaxTokensField, Message, OpenAiBackend,
    OpenAiConfig, Part, RequestedToolCall, ToolResult, Usage,
};
use maia_plugin_sdk::ToolSpec;
use maia_tests::llm_server::{LlmServer, ScriptedReply, ScriptedResponse};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const KEY: &str = "sk-test-9f8e7d6c5b4a39281706";

fn config(server: &LlmServer) -> OpenAiConfig {
    OpenAiConfig::new("gpt-4o")
        .with_base_url(format!("{}/v1", server.url()))
        .with_api_key(ApiKey::new(KEY))
}

fn backend(server: &LlmServer) -> OpenAiBackend {
    OpenAiBackend::new(config(server)).expect("a valid config")
}

fn request(messages: Vec<Message>) -> LlmRequest {
    LlmRequest {
        system: "You are an interpretability agent.".into(),
        messages,
        tools: vec![],
        max_output_tokens: 2048,
        temperature: None,
        reply_schema: None,
    }
}

fn ask(text: &str) -> LlmRequest {
    request(vec![Message::User(vec![Part::Text(text.into())])])
}

/// Every event until the stream ends, and the error it ended with, if any.
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

async fn complete(backend: &OpenAiBackend, request: LlmRequest) -> Completion {
    let (events, error) = drain(backend.stream(request)).await;
    assert_eq!(error, None);
    assert!(matches!(events.last(), Some(LlmEvent::Finish(_))));
    fold(&events)
}

async fn fail(backend: &OpenAiBackend, request: LlmRequest) -> (Vec<LlmEvent>, LlmError) {
    let (events, error) = drain(backend.stream(request)).await;
    (events, error.expect("the stream should end in an error"))
}

fn png(rgba: [u8; 4]) -> ImagePart {
    ImagePart {
        id: String::new(),
        png: Arc::new(maia_tests::solid_png(4, 4, rgba).expect("a PNG")),
    }
}

fn data_url(image: &ImagePart) -> String {
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(image.png.as_slice())
    )
}

#[tokio::test]
async fn text_reply_streams_deltas_then_usage_then_finish() {
    let server = LlmServer::start().await;
    server.push(ScriptedResponse::sse_file("openai_text_usage.sse"));
    let (events, error) = drain(backend(&server).stream(ask("Describe unit 42."))).await;
    assert_eq!(error, None);
    assert_eq!(events[0], LlmEvent::TextDelta("The".into()));
    assert_eq!(
        events[events.len() - 2..],
        [
            LlmEvent::Usage(Usage {
                input_tokens: 1045,
                output_tokens: 13
            }),
            LlmEvent::Finish(FinishReason::Stop)
        ]
    );
    let c = fold(&events);
    assert_eq!(
        c.text,
        "The unit responds most to red circles — strongest near the centre."
    );
    assert!(c.tool_calls.is_empty());

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/v1/chat/completions");
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = r.json();
    assert_eq!(body["model"], "gpt-4o");
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(body["max_tokens"], 2048, "non-OpenAI hosts get max_tokens");
    assert!(body.get("tools").is_none(), "no empty tools list");
    assert!(body.get("temperature").is_none());
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "You are an interpretability agent."},
            {"role": "user", "content": "Describe unit 42."},
        ])
    );
}

#[tokio::test]
async fn parallel_tool_calls_with_multi_chunk_arguments_reassemble() {
    let server = LlmServer::start().await;
    server.push(ScriptedResponse::sse_file("openai_parallel_tools.sse"));
    let c = complete(&backend(&server), ask("go")).await;
    assert_eq!(
        c.tool_calls,
        vec![
            RequestedToolCall {
                id: "call_Qm4xN1lV5B2tO7yJ8gKdR3fA".into(),
                name: "text2image".into(),
                arguments: r#"{"prompts":["a red circle","a blue circle on grass"]}"#.into(),
            },
            RequestedToolCall {
                id: "call_Zk8wP3sT6uY1rE4qA9cVb2nM".into(),
                name: "call_unit".into(),
                arguments: r#"{"unit":"layer3:42","image_ids":["img_1","img_2"]}"#.into(),
            },
        ]
    );
    assert_eq!(c.finish, Some(FinishReason::ToolCalls));
    assert_eq!(
        c.usage,
        Usage {
            input_tokens: 2210,
            output_tokens: 71
        }
    );
    assert_eq!(c.text, "");
}

/// The same stream cut into 1-, 3- and 7-byte network chunks decodes the same.
#[tokio::test]
async fn chunks_split_anywhere_decode_the_same() {
    let server = LlmServer::start().await;
    let backend = backend(&server);
    server.push(ScriptedResponse::sse_file("openai_parallel_tools.sse"));
    let whole = complete(&backend, ask("go")).await;
    for size in [1, 3, 7] {
        server.push(ScriptedResponse::sse_file("openai_parallel_tools.sse").split_every(size));
        assert_eq!(
            complete(&backend, ask("go")).await,
            whole,
            "chunks of {size}"
        );
    }
}

#[tokio::test]
async fn vllm_reasoning_content_becomes_reasoning_deltas() {
    let server = LlmServer::start().await;
    server.push(ScriptedResponse::sse_file("openai_reasoning_vllm.sse"));
    let backend = OpenAiBackend::new(
        OpenAiConfig::new("Qwen/QwQ-32B").with_base_url(format!("{}/v1/", server.url())),
    )
    .unwrap();
    let (events, error) = drain(backend.stream(ask("go"))).await;
    assert_eq!(error, None);
    assert_eq!(events[0], LlmEvent::ReasoningDelta("Okay".into()));
    let c = fold(&events);
    assert_eq!(c.reasoning, "Okay, the exemplars are all red; test blue\n");
    assert_eq!(c.text, "It looks colour-selective.");
    assert_eq!(c.usage.output_tokens, 28);
    assert_eq!(c.finish, Some(FinishReason::Stop));
    // A trailing slash on the base URL does not double up.
    assert_eq!(server.requests()[0].path, "/v1/chat/completions");
}

/// Ollama: `reasoning` deltas, a whole tool call in one delta, `finish_reason: stop`
/// after a tool call, and no key at all.
#[tokio::test]
async fn ollama_stream_without_a_key() {
    let server = LlmServer::start().await;
    server.push(ScriptedResponse::sse_file("openai_ollama_tool.sse"));
    let mut config = OpenAiConfig::new("qwen3:8b").with_base_url(format!("{}/v1", server.url()));
    config.api_key_env = "MAIA_TEST_SURELY_UNSET_KEY_VAR".into();
    let backend = OpenAiBackend::new(config).unwrap();
    let c = complete(&backend, ask("go")).await;
    assert_eq!(c.reasoning, "Let me check the unit.");
    assert_eq!(c.tool_calls.len(), 1);
    assert_eq!(c.tool_calls[0].id, "call_n2vd8q1k");
    assert_eq!(c.tool_calls[0].name, "dataset_exemplars");
    assert_eq!(c.tool_calls[0].arguments, r#"{"unit":"layer3:42","k":8}"#);
    assert_eq!(c.finish, Some(FinishReason::ToolCalls));
    assert_eq!(server.requests()[0].header("authorization"), None);
}

#[tokio::test]
async fn user_images_go_as_data_urls_and_tools_as_functions() {
    let server = LlmServer::start().await;
    server.push(ScriptedReply::new().text("ok").openai());
    let image = png([255, 0, 0, 255]);
    let mut req = request(vec![Message::User(vec![
        Part::Text("Exemplars of layer3:42:".into()),
        Part::Image(image.clone()),
    ])]);
    req.temperature = Some(0.5);
    req.tools = vec![
        ToolSpec::new(
            "call_unit",
            "Runs the unit on images.",
            json!({"type": "object", "properties": {"image_ids": {"type": "array"}}}),
        )
        .returns("Activations per image."),
    ];
    complete(&backend(&server), req).await;
    let body = server.requests()[0].json();
    assert_eq!(
        body["messages"][1],
        json!({"role": "user", "content": [
            {"type": "text", "text": "Exemplars of layer3:42:"},
            {"type": "image_url", "image_url": {"url": data_url(&image)}},
        ]})
    );
    assert_eq!(
        body["tools"],
        json!([{"type": "function", "function": {
            "name": "call_unit",
            "description": "Runs the unit on images.\nReturns: Activations per image.",
            "parameters": {"type": "object", "properties": {"image_ids": {"type": "array"}}},
        }}])
    );
    assert_eq!(body["temperature"], 0.5);
}

/// Assistant tool calls go back verbatim; each result becomes a `tool` message with its
/// text; the images follow in one `user` message, each labelled; `data` is never sent.
#[tokio::test]
async fn tool_results_become_tool_messages_and_a_labelled_image_message() {
    let server = LlmServer::start().await;
    server.push(ScriptedReply::new().text("next").openai());
    let (red, blue) = (png([255, 0, 0, 255]), png([0, 0, 255, 255]));
    let red = ImagePart {
        id: "img_3".into(),
        ..red
    };
    let blue = ImagePart {
        id: "img_4".into(),
        ..blue
    };
    let req = request(vec![
        Message::User(vec![Part::Text("task".into())]),
        Message::Assistant {
            text: String::new(),
            tool_calls: vec![
                RequestedToolCall {
                    id: "call_a".into(),
                    name: "text2image".into(),
                    arguments: r#"{"prompts":["red","blue"]}"#.into(),
                },
                RequestedToolCall {
                    id: "call_b".into(),
                    name: "call_unit".into(),
                    arguments: "{not json".into(),
                },
            ],
        },
        Message::ToolResults(vec![
            ToolResult {
                call_id: "call_a".into(),
                name: "text2image".into(),
                text: "img_3: red\nimg_4: blue".into(),
                images: vec![red.clone(), blue.clone()],
                data: json!({"secret_activations": [1, 2, 3]}),
                is_error: false,
            },
            ToolResult {
                call_id: "call_b".into(),
                name: "call_unit".into(),
                text: "arguments are not JSON: expected `:` at 1:2".into(),
                images: vec![],
                data: serde_json::Value::Null,
                is_error: true,
            },
        ]),
    ]);
    complete(&backend(&server), req).await;
    let r = &server.requests()[0];
    let body = r.json();
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 6, "{messages:#?}");
    assert_eq!(
        messages[2],
        json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_a", "type": "function",
             "function": {"name": "text2image", "arguments": r#"{"prompts":["red","blue"]}"#}},
            // Arguments that are not a JSON object go back as `{}`: llama.cpp refuses a
            // history holding them (the error result quotes them to the model).
            {"id": "call_b", "type": "function",
             "function": {"name": "call_unit", "arguments": "{}"}},
        ]})
    );
    assert_eq!(
        messages[3],
        json!({"role": "tool", "tool_call_id": "call_a", "content": "img_3: red\nimg_4: blue"})
    );
    assert_eq!(messages[4]["role"], "tool");
    assert_eq!(messages[4]["tool_call_id"], "call_b");
    assert_eq!(
        messages[5],
        json!({"role": "user", "content": [
            {"type": "text", "text": "Images from tool call call_a (text2image):"},
            {"type": "text", "text": "img_3:"},
            {"type": "image_url", "image_url": {"url": data_url(&red)}},
            {"type": "text", "text": "img_4:"},
            {"type": "image_url", "image_url": {"url": data_url(&blue)}},
        ]})
    );
    assert!(!r.body_text().contains("secret_activations"));
}

#[tokio::test]
async fn the_key_travels_only_in_the_authorization_header() {
    let server = LlmServer::start().await;
    server.push(ScriptedResponse::sse_file("openai_text_usage.sse"));
    let backend = backend(&server);
    complete(&backend, ask("hi")).await;
    let r = &server.requests()[0];
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    for (name, value) in &r.headers {
        assert!(
            name == "authorization" || !value.contains(KEY),
            "key in header {name}"
        );
    }
    assert!(!r.path.contains(KEY));
    assert!(!r.body_text().contains(KEY));
    // Nor does it show in Debug output of the config or the backend.
    assert!(!format!("{:?}", config(&server)).contains(KEY));
    assert!(!format!("{backend:?}").contains(KEY));
}

#[tokio::test]
async fn api_openai_com_gets_max_completion_tokens_and_needs_a_key() {
    let mut openai = OpenAiConfig::new("gpt-5");
    openai.api_key_env = "MAIA_TEST_SURELY_UNSET_KEY_VAR".into();
    let error = OpenAiBackend::new(openai).unwrap_err();
    assert_eq!(error.kind, LlmErrorKind::Config);
    assert!(
        error.message.contains("$MAIA_TEST_SURELY_UNSET_KEY_VAR"),
        "{error}"
    );

    let server = LlmServer::start().await;
    server.push(ScriptedReply::new().text("ok").openai());
    let mut config = config(&server);
    config.max_tokens_field = Some(MaxTokensField::MaxCompletionTokens);
    complete(&OpenAiBackend::new(config).unwrap(), ask("hi")).await;
    let body = server.requests()[0].json();
    assert_eq!(body["max_completion_tokens"], 2048);
    assert!(body.get("max_tokens").is_none());
}

#[tokio::test]
async fn rate_limit_429_carries_retry_after_seconds_and_dates() {
    let server = LlmServer::start().await;
    let backend = backend(&server);
    server.push(
        ScriptedResponse::json(
            429,
            json!({"error": {"message": "Rate limit reached for gpt-4o on tokens per min (TPM)",
                "type": "tokens", "param": null, "code": "rate_limit_exceeded"}}),
        )
        .header("retry-after", "7"),
    );
    let (events, error) = fail(&backend, ask("hi")).await;
    assert!(events.is_empty());
    assert_eq!(
        error.kind,
        LlmErrorKind::RateLimited {
            retry_after: Some(Duration::from_secs(7))
        }
    );
    assert!(error.kind.is_retryable());
    assert!(error.message.contains("Rate limit reached"), "{error}");

    // An HTTP-date a minute from now.
    let later = std::time::SystemTime::now() + Duration::from_secs(60);
    server.push(
        ScriptedResponse::json(429, json!({"error": {"message": "slow down"}}))
            .header("retry-after", &httpdate::fmt_http_date(later)),
    );
    let (_, error) = fail(&backend, ask("hi")).await;
    let LlmErrorKind::RateLimited {
        retry_after: Some(wait),
    } = error.kind
    else {
        panic!("expected a rate limit with a wait, got {error:?}");
    };
    assert!(
        (55..=60).contains(&wait.as_secs()),
        "wait {wait:?} from an HTTP-date 60 s ahead"
    );
}

#[tokio::test]
async fn server_error_500_is_retryable() {
    let server = LlmServer::start().await;
    server.push(ScriptedResponse::json(
        500,
        json!({"error": {"message": "The server had an error while processing your request.",
            "type": "server_error", "param": null, "code": null}}),
    ));
    let (_, error) = fail(&backend(&server), ask("hi")).await;
    assert_eq!(error.kind, LlmErrorKind::Server { status: 500 });
    assert!(error.kind.is_retryable());
    assert!(error.message.contains("had an error"), "{error}");
}

#[tokio::test]
async fn unauthorized_401_is_auth_and_never_shows_the_key() {
    let server = LlmServer::start().await;
    // OpenAI echoes (part of) the key; a careless server could echo all of it.
    server.push(ScriptedResponse::json(
        401,
        json!({"error": {"message": format!("Incorrect API key provided: {KEY}. You can find your API key at https://platform.openai.com/account/api-keys."),
            "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}),
    ));
    let (_, error) = fail(&backend(&server), ask("hi")).await;
    assert_eq!(error.kind, LlmErrorKind::Auth);
    assert!(!error.kind.is_retryable());
    assert!(!error.message.contains(KEY), "{error}");
    assert!(!format!("{error:?}").contains(KEY));
    assert!(error.message.contains("$OPENAI_API_KEY"), "{error}");
}

#[tokio::test]
async fn bad_request_400_quotes_the_provider_message_truncated() {
    let server = LlmServer::start().await;
    let long = "x".repeat(5000);
    server.push(ScriptedResponse::json(
        400,
        json!({"error": {"message": format!("Invalid 'messages[1].content[1].image_url': {long}"),
            "type": "invalid_request_error", "param": "messages", "code": null}}),
    ));
    let (_, error) = fail(&backend(&server), ask("hi")).await;
    assert_eq!(error.kind, LlmErrorKind::BadRequest { status: 400 });
    assert!(
        error
            .message
            .contains("Invalid 'messages[1].content[1].image_url'")
    );
    assert!(error.message.len() < 1000, "{} bytes", error.message.len());

    // Ollama's shape for an unknown model.
    server.push(ScriptedResponse::json(
        404,
        json!({"error": "model \"llava:70b\" not found, try pulling it first"}),
    ));
    let (_, error) = fail(&backend(&server), ask("hi")).await;
    assert_eq!(error.kind, LlmErrorKind::BadRequest { status: 404 });
    assert!(error.message.contains("try pulling it first"), "{error}");
}

#[tokio::test]
async fn reset_mid_stream_is_a_network_error_after_the_delivered_deltas() {
    let server = LlmServer::start().await;
    server.push(
        ScriptedResponse::sse_file("openai_text_usage.sse")
            .keep_events(4)
            .reset(),
    );
    let (events, error) = fail(&backend(&server), ask("hi")).await;
    assert_eq!(
        events,
        [
            LlmEvent::TextDelta("The".into()),
            LlmEvent::TextDelta(" unit".into()),
            LlmEvent::TextDelta(" responds".into()),
        ]
    );
    assert_eq!(error.kind, LlmErrorKind::Network);
    assert!(error.kind.is_retryable());
}

#[tokio::test]
async fn stream_without_done_is_a_network_error() {
    let server = LlmServer::start().await;
    server.push(ScriptedResponse::sse_file("openai_text_usage.sse").cut_before("data: [DONE]"));
    let (events, error) = fail(&backend(&server), ask("hi")).await;
    assert_eq!(error.kind, LlmErrorKind::Network);
    assert!(error.message.contains("[DONE]"), "{error}");
    // Everything before the cut arrived, usage included; no Finish.
    assert!(events.iter().any(|e| matches!(e, LlmEvent::Usage(_))));
    assert!(!events.iter().any(|e| matches!(e, LlmEvent::Finish(_))));
}

#[tokio::test]
async fn malformed_json_chunk_is_a_protocol_error() {
    let server = LlmServer::start().await;
    server.push(ScriptedResponse::sse(
        "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n\
         data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\n\n\
         data: [DONE]\n\n",
    ));
    let (events, error) = fail(&backend(&server), ask("hi")).await;
    assert_eq!(events, [LlmEvent::TextDelta("Hi".into())]);
    assert_eq!(error.kind, LlmErrorKind::Protocol);
    assert!(error.message.contains("malformed JSON"), "{error}");
}

#[tokio::test]
async fn error_object_mid_stream_maps_to_its_kind() {
    let server = LlmServer::start().await;
    server.push(ScriptedResponse::sse(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n\
         data: {\"error\":{\"object\":\"error\",\"message\":\"CUDA out of memory\",\"type\":\"InternalServerError\",\"param\":null,\"code\":500}}\n\n",
    ));
    let (events, error) = fail(&backend(&server), ask("hi")).await;
    assert_eq!(events, [LlmEvent::TextDelta("Hi".into())]);
    assert_eq!(error.kind, LlmErrorKind::Server { status: 500 });
    assert!(error.message.contains("CUDA out of memory"), "{error}");
}

#[tokio::test]
async fn unreachable_server_is_a_network_error() {
    let server = LlmServer::start().await;
    let url = server.url();
    drop(server);
    // The port is free now (nothing accepts on it).
    let backend = OpenAiBackend::new(
        OpenAiConfig::new("m")
            .with_base_url(format!("{url}/v1"))
            .with_api_key(ApiKey::new(KEY)),
    )
    .unwrap();
    let (_, error) = fail(&backend, ask("hi")).await;
    assert_eq!(error.kind, LlmErrorKind::Network);
    assert!(error.message.contains("cannot reach"), "{error}");
    assert!(!error.message.contains(KEY));
}

#[tokio::test]
async fn a_silent_server_times_out_as_a_network_error() {
    let server = LlmServer::start().await;
    server.push(
        ScriptedResponse::sse_file("openai_text_usage.sse").delay_each(Duration::from_secs(5)),
    );
    let mut config = config(&server);
    config.idle_timeout = Duration::from_millis(300);
    let (_, error) = fail(&OpenAiBackend::new(config).unwrap(), ask("hi")).await;
    assert_eq!(error.kind, LlmErrorKind::Network);
    assert!(error.message.contains("no data"), "{error}");
}

#[tokio::test]
async fn scripted_replies_round_trip_through_the_backend() {
    let server = LlmServer::start().await;
    server.push(
        ScriptedReply::new()
            .reasoning("hmm")
            .text("Testing.")
            .tool_call("c1", "call_unit", r#"{"unit":"layer3:42"}"#)
            .tool_call(
                "c2",
                "final_answer",
                r#"{"description":"red","label":"red"}"#,
            )
            .usage(100, 20)
            .openai(),
    );
    let c = complete(&backend(&server), ask("go")).await;
    assert_eq!(c.reasoning, "hmm");
    assert_eq!(c.text, "Testing.");
    assert_eq!(
        c.tool_calls[1].arguments,
        r#"{"description":"red","label":"red"}"#
    );
    assert_eq!(
        c.usage,
        Usage {
            input_tokens: 100,
            output_tokens: 20
        }
    );
    assert_eq!(c.finish, Some(FinishReason::ToolCalls));
}

#[test]
fn outside_a_runtime_the_stream_fails_instead_of_panicking() {
    let backend =
        OpenAiBackend::new(OpenAiConfig::new("m").with_base_url("http://127.0.0.1:9/v1")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let stream = backend.stream(ask("hi"));
    let (_, error) = rt.block_on(drain(stream));
    assert_eq!(error.unwrap().kind, LlmErrorKind::Config);
}

/// Recorded from llama.cpp's own server (`scripts/tiny-vlm.sh`, xllamacpp 2026.10.11549)
/// for a request as maia sends it: the first tool-call delta already carries an arguments
/// fragment (`{`), ids are 32 random characters rather than `call_…`, the usage comes in a
/// chunk whose `choices` is empty, and every chunk ends with llama.cpp's `timings`.
#[tokio::test]
async fn llama_cpp_recorded_tool_call_decodes() {
    let server = LlmServer::start().await;
    server.push(ScriptedResponse::sse_file("llamacpp_tool_call.sse"));
    let c = complete(&backend(&server), ask("Describe unit 42.")).await;
    assert_eq!(
        c.tool_calls,
        vec![RequestedToolCall {
            id: "40dY7G0hq0HBW9CoM9DP5ZrKTvKIl6hF".into(),
            name: "text2image".into(),
            arguments: r#"{"prompts":[" Hello! I am a tiny test model."]}"#.into(),
        }]
    );
    assert_eq!(c.finish, Some(FinishReason::ToolCalls));
    assert_eq!(
        c.usage,
        Usage {
            input_tokens: 344,
            output_tokens: 40
        }
    );
    assert_eq!(c.text, "");
}

/// Recorded from llama.cpp: a plain reply, then the usage chunk, then `[DONE]`.
#[tokio::test]
async fn llama_cpp_recorded_text_reply_decodes() {
    let server = LlmServer::start().await;
    server.push(ScriptedResponse::sse_file("llamacpp_text_usage.sse"));
    let c = complete(&backend(&server), ask("Describe unit 42.")).await;
    assert_eq!(c.text, " Hello! I am a tiny test model.");
    assert!(c.tool_calls.is_empty());
    assert_eq!(c.finish, Some(FinishReason::Stop));
    assert_eq!(
        c.usage,
        Usage {
            input_tokens: 40,
            output_tokens: 10
        }
    );
}

/// The recorded llama.cpp tool call cut in the middle of its arguments (connection
/// reset): a retryable network error after the deltas that arrived, so the agent asks
/// again rather than running half a call.
#[tokio::test]
async fn llama_cpp_stream_cut_inside_a_tool_call_is_retryable() {
    let server = LlmServer::start().await;
    server.push(
        ScriptedResponse::sse_file("llamacpp_tool_call.sse")
            .keep_events(6)
            .reset(),
    );
    let (events, error) = fail(&backend(&server), ask("Describe unit 42.")).await;
    assert!(
        events
            .iter()
            .any(|e| matches!(e, LlmEvent::ToolCallStart { name, .. } if name == "text2image")),
        "{events:?}"
    );
    assert!(!events.iter().any(|e| matches!(e, LlmEvent::Finish(_))));
    assert_eq!(error.kind, LlmErrorKind::Network);
    assert!(error.kind.is_retryable());
}

/// llama.cpp while it loads the model: 503 `unavailable_error`, retried.
#[tokio::test]
async fn llama_cpp_loading_503_is_retryable() {
    let server = LlmServer::start().await;
    server.push(ScriptedResponse::json(
        503,
        json!({"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}),
    ));
    let (_, error) = fail(&backend(&server), ask("hi")).await;
    assert_eq!(error.kind, LlmErrorKind::Server { status: 503 });
    assert!(error.to_string().contains("Loading model"), "{error}");
}

/// The context window comes from the server's model list where it says (llama.cpp's
/// `meta.n_ctx`, vLLM's `max_model_len`), else from what is known of the model.
#[tokio::test]
async fn the_context_window_is_read_from_the_model_list() {
    let server = LlmServer::start().await;
    let backend = backend(&server);
    assert_eq!(
        backend.context_window().await,
        Some(128_000),
        "gpt-4o, known, when the list says nothing"
    );
    server.set_models(json!({"object": "list", "data": [
        {"id": "tiny-vlm", "object": "model", "owned_by": "llamacpp",
         "meta": {"n_ctx": 4096, "n_ctx_train": 32768}}
    ]}));
    assert_eq!(backend.context_window().await, Some(4096));
    assert!(
        server.requests().is_empty(),
        "model lists are not chat requests"
    );
}
