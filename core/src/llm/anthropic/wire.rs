//! Request bodies in the Messages API format.

use super::super::{ImagePart, LlmRequest, Message, Part, RequestedToolCall, ToolResult};
use base64::Engine as _;
use maia_plugin_sdk::ToolSpec;
use serde_json::{Map, Value, json};

/// What the body depends on besides the request.
pub(super) struct BodySettings<'a> {
    /// Model id.
    pub model: &'a str,
    /// Extended thinking budget, if enabled.
    pub thinking_budget: Option<u32>,
}

/// The JSON body of a streaming Messages request. `thinking_for` returns the thinking
/// blocks (with signatures) an earlier reply with these tool calls opened with, if
/// known; with thinking enabled the API requires them on the last assistant turn, and
/// when they are unknown (a resumed run) thinking is left off for this request.
pub(super) fn request_body(
    settings: &BodySettings<'_>,
    request: &LlmRequest,
    thinking_for: &dyn Fn(&[RequestedToolCall]) -> Option<Vec<Value>>,
) -> Value {
    let mut thinking = settings.thinking_budget;
    let last_assistant_calls = request.messages.iter().rev().find_map(|m| match m {
        Message::Assistant { tool_calls, .. } => Some(tool_calls),
        _ => None,
    });
    if let Some(calls) = last_assistant_calls
        && !calls.is_empty()
        && thinking_for(calls).is_none()
    {
        thinking = None;
    }

    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for message in &request.messages {
        let (role, blocks) = match message {
            Message::User(parts) => ("user", parts.iter().filter_map(user_block).collect()),
            Message::Assistant { text, tool_calls } => {
                let mut blocks = Vec::new();
                if thinking.is_some() && !tool_calls.is_empty() {
                    blocks.extend(thinking_for(tool_calls).unwrap_or_default());
                }
                if !text.is_empty() {
                    blocks.push(json!({"type": "text", "text": text}));
                }
                blocks.extend(tool_calls.iter().map(tool_use_block));
                ("assistant", blocks)
            }
            Message::ToolResults(results) => {
                ("user", results.iter().map(tool_result_block).collect())
            }
        };
        // The API rejects empty turns; consecutive turns of one role are merged (tool
        // results first, then any note the user added).
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    let messages: Vec<Value> = turns
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();

    let mut body = Map::new();
    body.insert("model".into(), settings.model.into());
    let mut max_tokens = request.max_output_tokens;
    if let Some(budget) = thinking {
        // `max_tokens` must exceed the thinking budget; the answer keeps its own cap.
        if max_tokens <= budget {
            max_tokens = budget.saturating_add(request.max_output_tokens.max(1));
        }
        body.insert(
            "thinking".into(),
            json!({"type": "enabled", "budget_tokens": budget}),
        );
    }
    body.insert("max_tokens".into(), max_tokens.into());
    body.insert("stream".into(), true.into());
    if !request.system.is_empty() {
        body.insert("system".into(), request.system.clone().into());
    }
    body.insert("messages".into(), Value::Array(messages));
    if !request.tools.is_empty() {
        let tools = request.tools.iter().map(tool).collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    // Thinking requires the default temperature.
    if let (Some(t), None) = (request.temperature, thinking) {
        body.insert("temperature".into(), f64::from(t).into());
    }
    Value::Object(body)
}

fn tool(spec: &ToolSpec) -> Value {
    let description = if spec.returns.is_empty() {
        spec.description.clone()
    } else {
        format!("{}\nReturns: {}", spec.description, spec.returns)
    };
    json!({
        "name": spec.name,
        "description": description,
        "input_schema": spec.parameters,
    })
}

/// Text (empty text blocks are rejected by the API, so dropped) or an image.
fn user_block(part: &Part) -> Option<Value> {
    match part {
        Part::Text(text) if text.is_empty() => None,
        Part::Text(text) => Some(json!({"type": "text", "text": text})),
        Part::Image(image) => Some(image_block(image)),
    }
}

fn image_block(image: &ImagePart) -> Value {
    let data = base64::engine::general_purpose::STANDARD.encode(image.png.as_slice());
    json!({
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": data},
    })
}

/// A tool call as sent back. `input` must be a JSON object; arguments the model wrote
/// that are not one are passed back as `{"_raw_arguments": "…"}` so the conversation
/// still shows what it wrote (the tool result already told it the arguments were bad).
fn tool_use_block(call: &RequestedToolCall) -> Value {
    let input = match serde_json::from_str::<Value>(&call.arguments) {
        Ok(object @ Value::Object(_)) => object,
        _ if call.arguments.trim().is_empty() => json!({}),
        _ => json!({"_raw_arguments": call.arguments}),
    };
    json!({"type": "tool_use", "id": call.id, "name": call.name, "input": input})
}

/// A `tool_result` block: the text, then `img_N:` and the image for each image.
fn tool_result_block(result: &ToolResult) -> Value {
    let mut content = Vec::new();
    if !result.text.is_empty() {
        content.push(json!({"type": "text", "text": result.text}));
    }
    for image in &result.images {
        content.push(json!({"type": "text", "text": format!("{}:", image.id)}));
        content.push(image_block(image));
    }
    let mut block = Map::new();
    block.insert("type".into(), "tool_result".into());
    block.insert("tool_use_id".into(), result.call_id.clone().into());
    if !content.is_empty() {
        block.insert("content".into(), Value::Array(content));
    }
    if result.is_error {
        block.insert("is_error".into(), true.into());
    }
    Value::Object(block)
}
