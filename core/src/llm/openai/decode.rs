//! Turning `chat.completion.chunk` events into [`LlmEvent`]s.
//!
//! Servers differ in the details this absorbs: OpenAI streams a tool call's id and name
//! once and its arguments in many pieces; vLLM, Ollama and llama.cpp may send a whole call
//! in one delta, omit `index`, or send no arguments for a tool without parameters;
//! reasoning arrives as `reasoning_content` (DeepSeek, vLLM) or `reasoning` (newer vLLM,
//! Ollama, OpenRouter); `finish_reason` may say `stop` after tool calls. Usage comes in a
//! final chunk with no choices (`stream_options.include_usage`), `[DONE]` ends the stream.

use super::super::http::Endpoint;
use super::super::{FinishReason, LlmError, LlmErrorKind, LlmEvent, Usage};
use serde::Deserialize;
use serde_json::Value;

/// One streamed chunk; every field optional, since servers omit what they do not use.
#[derive(Debug, Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Option<Vec<Choice>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Debug, Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Debug, Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

/// A tool call being streamed.
#[derive(Debug)]
struct Slot {
    /// Provider's `index`, if it sent one.
    provider_index: Option<u64>,
    id: Option<String>,
    name: String,
    /// Whether `ToolCallStart` went out (it waits for the name).
    started: bool,
    /// Arguments received before the start.
    pending: String,
    /// Whether any argument text went out.
    any_arguments: bool,
}

/// What the caller does after an event.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Flow {
    /// Keep reading.
    More,
    /// `[DONE]` arrived; the reply is complete.
    Done,
}

/// Decoder state for one reply.
#[derive(Debug, Default)]
pub(super) struct Decoder {
    slots: Vec<Slot>,
    finish: Option<String>,
}

impl Decoder {
    /// A decoder at the start of a reply.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes one SSE `data` payload, appending events to `out`.
    pub fn data(
        &mut self,
        endpoint: &Endpoint,
        data: &str,
        out: &mut Vec<LlmEvent>,
    ) -> Result<Flow, LlmError> {
        let trimmed = data.trim();
        if trimmed.is_empty() {
            return Ok(Flow::More); // a keep-alive with an empty payload
        }
        if trimmed == "[DONE]" {
            self.finish_into(out);
            return Ok(Flow::Done);
        }
        let chunk: Chunk = serde_json::from_str(data).map_err(|e| endpoint.malformed(&e, data))?;
        if let Some(error) = chunk.error.filter(|e| !e.is_null()) {
            return Err(stream_error(endpoint, &error));
        }
        for choice in chunk.choices.unwrap_or_default() {
            if choice.index.unwrap_or(0) != 0 {
                continue; // n > 1 is never requested
            }
            let delta = choice.delta.unwrap_or_default();
            for reasoning in [delta.reasoning_content, delta.reasoning]
                .into_iter()
                .flatten()
            {
                if !reasoning.is_empty() {
                    out.push(LlmEvent::ReasoningDelta(reasoning));
                }
            }
            for text in [delta.content, delta.refusal].into_iter().flatten() {
                if !text.is_empty() {
                    out.push(LlmEvent::TextDelta(text));
                }
            }
            for (position, call) in delta.tool_calls.unwrap_or_default().into_iter().enumerate() {
                self.tool_call(position, call, out);
            }
            if let Some(reason) = choice.finish_reason.filter(|r| !r.is_empty()) {
                self.finish = Some(reason);
            }
        }
        if let Some(usage) = chunk.usage {
            out.push(LlmEvent::Usage(Usage {
                input_tokens: usage.prompt_tokens.unwrap_or(0),
                output_tokens: usage.completion_tokens.unwrap_or(0),
            }));
        }
        Ok(Flow::More)
    }

    fn tool_call(&mut self, position: usize, call: ToolCallDelta, out: &mut Vec<LlmEvent>) {
        let id = call.id.filter(|id| !id.is_empty());
        let at = match (call.index, &id) {
            (Some(index), _) => self
                .slots
                .iter()
                .position(|s| s.provider_index == Some(index)),
            // No index: a known id continues its call, a new id starts one, and a piece
            // with neither continues the latest call.
            (None, Some(id)) => self.slots.iter().position(|s| s.id.as_ref() == Some(id)),
            (None, None) if position == 0 => self.slots.len().checked_sub(1),
            (None, None) => None,
        };
        let at = at.unwrap_or_else(|| {
            self.slots.push(Slot {
                provider_index: call.index,
                id: None,
                name: String::new(),
                started: false,
                pending: String::new(),
                any_arguments: false,
            });
            self.slots.len() - 1
        });
        let slot = &mut self.slots[at];
        if slot.id.is_none() {
            slot.id = id;
        }
        let (name, arguments) = match call.function {
            Some(f) => (f.name.unwrap_or_default(), f.arguments.unwrap_or_default()),
            None => (String::new(), String::new()),
        };
        if !slot.started {
            slot.name.push_str(&name);
            slot.pending.push_str(&arguments);
            if !slot.name.is_empty() {
                Self::start(at, slot, out);
            }
        } else if !arguments.is_empty() {
            slot.any_arguments = true;
            out.push(LlmEvent::ToolCallDelta {
                index: at,
                arguments,
            });
        }
    }

    fn start(index: usize, slot: &mut Slot, out: &mut Vec<LlmEvent>) {
        slot.started = true;
        out.push(LlmEvent::ToolCallStart {
            index,
            id: slot.id.clone().unwrap_or_else(|| format!("call_{index}")),
            name: slot.name.clone(),
        });
        if !slot.pending.is_empty() {
            slot.any_arguments = true;
            out.push(LlmEvent::ToolCallDelta {
                index,
                arguments: std::mem::take(&mut slot.pending),
            });
        }
    }

    /// Closes open tool calls (a call without arguments gets `{}`) and emits `Finish`.
    fn finish_into(&mut self, out: &mut Vec<LlmEvent>) {
        for (index, slot) in self.slots.iter_mut().enumerate() {
            if !slot.started {
                Self::start(index, slot, out);
            }
            if !slot.any_arguments {
                out.push(LlmEvent::ToolCallDelta {
                    index,
                    arguments: "{}".into(),
                });
            }
        }
        let had_tools = !self.slots.is_empty();
        let reason = match self.finish.as_deref() {
            Some("tool_calls" | "function_call") => FinishReason::ToolCalls,
            Some("stop") | None if had_tools => FinishReason::ToolCalls,
            Some("stop") | None => FinishReason::Stop,
            Some("length") => FinishReason::Length,
            Some(other) => FinishReason::Other(other.to_string()),
        };
        out.push(LlmEvent::Finish(reason));
    }
}

/// An `{"error": …}` object sent inside the stream (vLLM, OpenAI on overload).
fn stream_error(endpoint: &Endpoint, error: &Value) -> LlmError {
    let message = error["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| error.to_string());
    let code = error["code"].as_u64().and_then(|c| u16::try_from(c).ok());
    let kind_text = format!(
        "{} {}",
        error["type"].as_str().unwrap_or(""),
        error["code"].as_str().unwrap_or("")
    );
    let kind = match code {
        Some(429) => LlmErrorKind::RateLimited { retry_after: None },
        Some(401 | 403) => LlmErrorKind::Auth,
        Some(status @ 400..=499) => LlmErrorKind::BadRequest { status },
        Some(status @ 500..=599) => LlmErrorKind::Server { status },
        _ if kind_text.contains("rate_limit") => LlmErrorKind::RateLimited { retry_after: None },
        _ if kind_text.contains("invalid_request") || kind_text.contains("BadRequest") => {
            LlmErrorKind::BadRequest { status: 400 }
        }
        _ => LlmErrorKind::Server { status: 500 },
    };
    endpoint.error(
        kind,
        format!(
            "the server reported an error mid-reply from {}: {}",
            endpoint.url,
            endpoint.quote(&message)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::super::CompletionBuilder;
    use super::*;
    use std::time::Duration;

    fn endpoint() -> Endpoint {
        Endpoint {
            provider: "OpenAI-compatible server",
            url: "http://x/v1/chat/completions".into(),
            key_env: "OPENAI_API_KEY".into(),
            key: None,
            idle_timeout: Duration::from_secs(1),
        }
    }

    fn decode(chunks: &[&str]) -> Result<Vec<LlmEvent>, LlmError> {
        let mut decoder = Decoder::new();
        let mut out = Vec::new();
        for chunk in chunks {
            decoder.data(&endpoint(), chunk, &mut out)?;
        }
        Ok(out)
    }

    fn complete(chunks: &[&str]) -> super::super::super::Completion {
        let mut builder = CompletionBuilder::new();
        for event in decode(chunks).unwrap() {
            builder.push(&event);
        }
        builder.finish()
    }

    #[test]
    fn whole_calls_without_index_and_without_arguments() {
        // Ollama-style: each call whole, no index; a no-parameter tool with no arguments.
        let c = complete(&[
            r#"{"choices":[{"delta":{"tool_calls":[{"id":"call_a","function":{"name":"f","arguments":"{\"x\":1}"}},{"id":"call_b","function":{"name":"g"}}]},"finish_reason":"stop"}]}"#,
            "[DONE]",
        ]);
        assert_eq!(c.tool_calls.len(), 2);
        assert_eq!(c.tool_calls[0].arguments, "{\"x\":1}");
        assert_eq!(c.tool_calls[1].id, "call_b");
        assert_eq!(c.tool_calls[1].arguments, "{}");
        assert_eq!(c.finish, Some(FinishReason::ToolCalls));
    }

    #[test]
    fn arguments_before_the_name_wait_for_it() {
        let c = complete(&[
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\""}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c1","function":{"name":"f","arguments":":2}"}}]}}]}"#,
            "[DONE]",
        ]);
        assert_eq!(c.tool_calls[0].id, "c1");
        assert_eq!(c.tool_calls[0].name, "f");
        assert_eq!(c.tool_calls[0].arguments, "{\"a\":2}");
    }

    #[test]
    fn reasoning_from_either_field_and_refusals_as_text() {
        let c = complete(&[
            r#"{"choices":[{"delta":{"reasoning_content":"think "}}]}"#,
            r#"{"choices":[{"delta":{"reasoning":"more"}}]}"#,
            r#"{"choices":[{"delta":{"refusal":"no"},"finish_reason":"content_filter"}]}"#,
            "[DONE]",
        ]);
        assert_eq!(c.reasoning, "think more");
        assert_eq!(c.text, "no");
        assert_eq!(c.finish, Some(FinishReason::Other("content_filter".into())));
    }

    #[test]
    fn error_objects_in_the_stream_map_to_kinds() {
        let kind = |chunk: &str| decode(&[chunk]).unwrap_err().kind;
        assert_eq!(
            kind(r#"{"error":{"message":"slow down","type":"rate_limit_error"}}"#),
            LlmErrorKind::RateLimited { retry_after: None }
        );
        assert_eq!(
            kind(
                r#"{"error":{"object":"error","message":"bad","type":"BadRequestError","code":400}}"#
            ),
            LlmErrorKind::BadRequest { status: 400 }
        );
        assert_eq!(
            kind(r#"{"error":{"message":"boom","type":"server_error"}}"#),
            LlmErrorKind::Server { status: 500 }
        );
        assert_eq!(kind("{not json"), LlmErrorKind::Protocol);
    }
}
