//! Request bodies in the Chat Completions format.

use super::super::{ImagePart, LlmRequest, Message, Part, ToolResult};
use super::MaxTokensField;
use base64::Engine as _;
use maia_plugin_sdk::ToolSpec;
use serde_json::{Map, Value, json};

/// The JSON body of a streaming chat completion request.
pub(super) fn request_body(model: &str, max_tokens: MaxTokensField, request: &LlmRequest) -> Value {
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    if !request.system.is_empty() {
        messages.push(json!({"role": "system", "content": request.system}));
    }
    for message in &request.messages {
        match message {
            Message::User(parts) => messages.push(user_message(parts)),
            Message::Assistant { text, tool_calls } => {
                let mut m = Map::new();
                m.insert("role".into(), "assistant".into());
                // `null` content is how the API spells "only tool calls".
                let content = if text.is_empty() && !tool_calls.is_empty() {
                    Value::Null
                } else {
                    Value::String(text.clone())
                };
                m.insert("content".into(), content);
                if !tool_calls.is_empty() {
                    let calls = tool_calls
                        .iter()
                        .map(|c| {
                            json!({
                                "id": c.id,
                                "type": "function",
                                "function": {"name": c.name, "arguments": sendable_arguments(&c.arguments)},
                            })
                        })
                        .collect();
                    m.insert("tool_calls".into(), Value::Array(calls));
                }
                messages.push(Value::Object(m));
            }
            Message::ToolResults(results) => {
                for result in results {
                    messages.push(json!({
                        "role": "tool",
                        "tool_call_id": result.call_id,
                        "content": result.text,
                    }));
                }
                if let Some(images) = tool_images_message(results) {
                    messages.push(images);
                }
            }
        }
    }
    let mut body = Map::new();
    body.insert("model".into(), model.into());
    body.insert("messages".into(), Value::Array(messages));
    body.insert("stream".into(), true.into());
    body.insert("stream_options".into(), json!({"include_usage": true}));
    let field = match max_tokens {
        MaxTokensField::MaxTokens => "max_tokens",
        MaxTokensField::MaxCompletionTokens => "max_completion_tokens",
    };
    body.insert(field.into(), request.max_output_tokens.into());
    if let Some(t) = request.temperature {
        body.insert("temperature".into(), f64::from(t).into());
    }
    if let Some(schema) = &request.reply_schema {
        // Not strict: OpenAI's strict mode refuses keywords (string lengths) that
        // llama.cpp's grammar uses to keep a small model's strings short.
        body.insert(
            "response_format".into(),
            json!({
                "type": "json_schema",
                "json_schema": {"name": "reply", "strict": false, "schema": schema},
            }),
        );
    }
    // Some servers reject an empty `tools` list, so none is sent when there are none.
    if !request.tools.is_empty() {
        let tools = request.tools.iter().map(tool).collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    Value::Object(body)
}

/// A tool as a `function` tool.
fn tool(spec: &ToolSpec) -> Value {
    json!({
        "type": "function",
        "function": {
            "name": spec.name,
            "description": tool_description(spec),
            "parameters": spec.parameters,
        },
    })
}

/// The description the model reads: the tool's own, plus what it returns.
pub(crate) fn tool_description(spec: &ToolSpec) -> String {
    if spec.returns.is_empty() {
        spec.description.clone()
    } else {
        format!("{}\nReturns: {}", spec.description, spec.returns)
    }
}

/// A user turn: plain string content when it is one text part (every server takes
/// that), an array of parts otherwise.
fn user_message(parts: &[Part]) -> Value {
    if let [Part::Text(text)] = parts {
        return json!({"role": "user", "content": text});
    }
    let content: Vec<Value> = parts
        .iter()
        .map(|part| match part {
            Part::Text(text) => text_part(text),
            Part::Image(image) => image_part(image),
        })
        .collect();
    json!({"role": "user", "content": content})
}

/// `tool` messages carry text only, so the images of a round's tool results follow in
/// one `user` message: a header per call, then `img_N:` before each image.
fn tool_images_message(results: &[ToolResult]) -> Option<Value> {
    let mut content = Vec::new();
    for result in results.iter().filter(|r| !r.images.is_empty()) {
        content.push(text_part(&format!(
            "Images from tool call {} ({}):",
            result.call_id, result.name
        )));
        for image in &result.images {
            content.push(text_part(&format!("{}:", image.id)));
            content.push(image_part(image));
        }
    }
    (!content.is_empty()).then(|| json!({"role": "user", "content": content}))
}

fn text_part(text: &str) -> Value {
    json!({"type": "text", "text": text})
}

fn image_part(image: &ImagePart) -> Value {
    let data = base64::engine::general_purpose::STANDARD.encode(image.png.as_slice());
    json!({
        "type": "image_url",
        "image_url": {"url": format!("data:image/png;base64,{data}")},
    })
}

/// A recorded call's arguments as they can be sent back: text that is not a JSON object
/// (a reply cut off mid-call) becomes `{}`. Servers that parse the history — llama.cpp
/// applies its chat template to it — refuse a conversation holding it, every retry, so one
/// garbled call would end the run; the model already read its mistake, quoted, in the
/// call's error result.
fn sendable_arguments(arguments: &str) -> String {
    match serde_json::from_str::<Value>(arguments) {
        Ok(Value::Object(_)) => arguments.to_owned(),
        _ => "{}".to_owned(),
    }
}

#[cfg(test)]
mod sendable_tests {
    use super::sendable_arguments;

    #[test]
    fn calls_cut_off_mid_arguments_are_sent_back_as_an_empty_object() {
        assert_eq!(sendable_arguments(r#"{"x": 1}"#), r#"{"x": 1}"#);
        assert_eq!(sendable_arguments(r#"{"prompts":[" Hello"#), "{}");
        assert_eq!(sendable_arguments(""), "{}");
        assert_eq!(sendable_arguments("[1]"), "{}");
    }
}

#[cfg(test)]
mod schema_tests {
    use super::{MaxTokensField, request_body};
    use crate::llm::LlmRequest;
    use serde_json::json;

    #[test]
    fn a_reply_schema_becomes_a_non_strict_response_format() {
        let mut request = LlmRequest {
            system: String::new(),
            messages: Vec::new(),
            tools: Vec::new(),
            max_output_tokens: 10,
            temperature: None,
            reply_schema: None,
        };
        let body = request_body("m", MaxTokensField::MaxTokens, &request);
        assert!(body.get("response_format").is_none());
        request.reply_schema = Some(json!({"type": "object"}));
        let body = request_body("m", MaxTokensField::MaxTokens, &request);
        assert_eq!(
            body["response_format"],
            json!({"type": "json_schema", "json_schema": {"name": "reply", "strict": false, "schema": {"type": "object"}}})
        );
    }
}
