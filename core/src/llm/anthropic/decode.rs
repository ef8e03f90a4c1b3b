//! Turning Messages API stream events into [`LlmEvent`]s.
//!
//! The stream is `message_start`, then per content block `content_block_start`, its
//! `content_block_delta`s and `content_block_stop`, then `message_delta` (stop reason,
//! output usage) and `message_stop`; `ping` may come anywhere and `error` ends it. Unknown
//! event and delta types are skipped, as Anthropic's versioning policy asks of clients.

use super::super::http::Endpoint;
use super::super::{FinishReason, LlmError, LlmErrorKind, LlmEvent, Usage};
use serde_json::{Value, json};
use std::collections::HashMap;

/// A content block being streamed.
#[derive(Debug)]
enum Block {
    Text,
    Tool {
        /// Position among this reply's tool calls.
        index: usize,
        any_arguments: bool,
    },
    Thinking {
        thinking: String,
        signature: String,
    },
    Other,
}

/// What the caller does after an event.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Flow {
    /// Keep reading.
    More,
    /// `message_stop` arrived; the reply is complete.
    Done,
}

/// Decoder state for one reply.
#[derive(Debug, Default)]
pub(super) struct Decoder {
    blocks: HashMap<u64, Block>,
    tools: usize,
    stop_reason: Option<String>,
    /// Completed thinking / redacted_thinking blocks, as the API wants them back.
    thinking: Vec<Value>,
    /// The first tool call's id.
    first_tool_id: Option<String>,
}

impl Decoder {
    /// A decoder at the start of a reply.
    pub fn new() -> Self {
        Self::default()
    }

    /// The reply's thinking blocks (with signatures) and its first tool call's id.
    pub fn thinking_blocks(&self) -> Option<(&str, &[Value])> {
        let id = self.first_tool_id.as_deref()?;
        (!self.thinking.is_empty()).then_some((id, self.thinking.as_slice()))
    }

    /// Decodes one SSE event (`name` from its `event:` line), appending to `out`.
    pub fn event(
        &mut self,
        endpoint: &Endpoint,
        name: &str,
        data: &str,
        out: &mut Vec<LlmEvent>,
    ) -> Result<Flow, LlmError> {
        if data.trim().is_empty() {
            return Ok(Flow::More); // a keep-alive with an empty payload
        }
        let json: Value = serde_json::from_str(data).map_err(|e| endpoint.malformed(&e, data))?;
        let kind = json["type"].as_str().unwrap_or(name);
        match kind {
            "message_start" => {
                let usage = &json["message"]["usage"];
                out.push(LlmEvent::Usage(usage_of(usage)));
            }
            "content_block_start" => self.block_start(endpoint, &json, out)?,
            "content_block_delta" => self.block_delta(&json, out),
            "content_block_stop" => self.block_stop(&json, out),
            "message_delta" => {
                if let Some(reason) = json["delta"]["stop_reason"].as_str() {
                    self.stop_reason = Some(reason.to_string());
                }
                if json["usage"].is_object() {
                    out.push(LlmEvent::Usage(usage_of(&json["usage"])));
                }
            }
            "message_stop" => {
                let reason = match self.stop_reason.as_deref() {
                    Some("end_turn" | "stop_sequence") => FinishReason::Stop,
                    None if self.tools == 0 => FinishReason::Stop,
                    Some("tool_use") | None => FinishReason::ToolCalls,
                    Some("max_tokens") => FinishReason::Length,
                    Some(other) => FinishReason::Other(other.to_string()),
                };
                out.push(LlmEvent::Finish(reason));
                return Ok(Flow::Done);
            }
            "error" => return Err(stream_error(endpoint, &json["error"])),
            _ => {} // ping, and event types newer than this client
        }
        Ok(Flow::More)
    }

    fn block_start(
        &mut self,
        endpoint: &Endpoint,
        json: &Value,
        out: &mut Vec<LlmEvent>,
    ) -> Result<(), LlmError> {
        let Some(at) = json["index"].as_u64() else {
            return Err(endpoint.error(
                LlmErrorKind::Protocol,
                format!("content_block_start without an index from {}", endpoint.url),
            ));
        };
        let block = &json["content_block"];
        let state = match block["type"].as_str() {
            Some("text") => {
                push_text(out, LlmEvent::TextDelta, &block["text"]);
                Block::Text
            }
            Some("tool_use") => {
                let index = self.tools;
                self.tools += 1;
                let id = block["id"].as_str().unwrap_or_default().to_string();
                if self.first_tool_id.is_none() {
                    self.first_tool_id = Some(id.clone());
                }
                out.push(LlmEvent::ToolCallStart {
                    index,
                    id,
                    name: block["name"].as_str().unwrap_or_default().to_string(),
                });
                Block::Tool {
                    index,
                    any_arguments: false,
                }
            }
            Some("thinking") => {
                let thinking = block["thinking"].as_str().unwrap_or_default().to_string();
                push_text(out, LlmEvent::ReasoningDelta, &block["thinking"]);
                Block::Thinking {
                    thinking,
                    signature: block["signature"].as_str().unwrap_or_default().into(),
                }
            }
            Some("redacted_thinking") => {
                self.thinking.push(block.clone());
                Block::Other
            }
            _ => Block::Other,
        };
        self.blocks.insert(at, state);
        Ok(())
    }

    fn block_delta(&mut self, json: &Value, out: &mut Vec<LlmEvent>) {
        let Some(block) = json["index"].as_u64().and_then(|i| self.blocks.get_mut(&i)) else {
            return;
        };
        let delta = &json["delta"];
        match (delta["type"].as_str(), block) {
            (Some("text_delta"), _) => push_text(out, LlmEvent::TextDelta, &delta["text"]),
            (
                Some("input_json_delta"),
                Block::Tool {
                    index,
                    any_arguments,
                },
            ) => {
                if let Some(part) = delta["partial_json"].as_str().filter(|p| !p.is_empty()) {
                    *any_arguments = true;
                    out.push(LlmEvent::ToolCallDelta {
                        index: *index,
                        arguments: part.to_string(),
                    });
                }
            }
            (Some("thinking_delta"), Block::Thinking { thinking, .. }) => {
                if let Some(part) = delta["thinking"].as_str() {
                    thinking.push_str(part);
                }
                push_text(out, LlmEvent::ReasoningDelta, &delta["thinking"]);
            }
            (Some("signature_delta"), Block::Thinking { signature, .. }) => {
                signature.push_str(delta["signature"].as_str().unwrap_or_default());
            }
            _ => {} // citations and delta types newer than this client
        }
    }

    fn block_stop(&mut self, json: &Value, out: &mut Vec<LlmEvent>) {
        let Some(block) = json["index"].as_u64().and_then(|i| self.blocks.remove(&i)) else {
            return;
        };
        match block {
            // A tool without parameters streams no input; `{}` keeps the arguments JSON.
            Block::Tool {
                index,
                any_arguments: false,
            } => out.push(LlmEvent::ToolCallDelta {
                index,
                arguments: "{}".into(),
            }),
            Block::Thinking {
                thinking,
                signature,
            } => self.thinking.push(json!({
                "type": "thinking",
                "thinking": thinking,
                "signature": signature,
            })),
            _ => {}
        }
    }
}

fn push_text(out: &mut Vec<LlmEvent>, make: fn(String) -> LlmEvent, text: &Value) {
    if let Some(text) = text.as_str().filter(|t| !t.is_empty()) {
        out.push(make(text.to_string()));
    }
}

/// Anthropic reports uncached, cache-write and cache-read input separately; the
/// prompt's size is their sum.
fn usage_of(usage: &Value) -> Usage {
    let n = |field: &str| usage[field].as_u64().unwrap_or(0);
    Usage {
        input_tokens: n("input_tokens")
            + n("cache_creation_input_tokens")
            + n("cache_read_input_tokens"),
        output_tokens: n("output_tokens"),
    }
}

/// An `error` event: `{"type": "overloaded_error", "message": …}`.
fn stream_error(endpoint: &Endpoint, error: &Value) -> LlmError {
    let kind_name = error["type"].as_str().unwrap_or("unknown_error");
    let kind = match kind_name {
        "rate_limit_error" => LlmErrorKind::RateLimited { retry_after: None },
        "overloaded_error" => LlmErrorKind::Server { status: 529 },
        "authentication_error" | "permission_error" => LlmErrorKind::Auth,
        "invalid_request_error" => LlmErrorKind::BadRequest { status: 400 },
        "not_found_error" => LlmErrorKind::BadRequest { status: 404 },
        "request_too_large" => LlmErrorKind::BadRequest { status: 413 },
        _ => LlmErrorKind::Server { status: 500 },
    };
    let message = error["message"].as_str().unwrap_or_default();
    endpoint.error(
        kind,
        format!(
            "{kind_name} mid-reply from {}: {}",
            endpoint.url,
            endpoint.quote(message)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn endpoint() -> Endpoint {
        Endpoint {
            provider: "Anthropic",
            url: "http://x/v1/messages".into(),
            key_env: "ANTHROPIC_API_KEY".into(),
            key: None,
            idle_timeout: Duration::from_secs(1),
        }
    }

    fn run(events: &[(&str, &str)]) -> Result<(Vec<LlmEvent>, Flow), LlmError> {
        let mut decoder = Decoder::new();
        let mut out = Vec::new();
        let mut flow = Flow::More;
        for (name, data) in events {
            flow = decoder.event(&endpoint(), name, data, &mut out)?;
        }
        Ok((out, flow))
    }

    #[test]
    fn unknown_events_and_deltas_and_empty_payloads_are_skipped() {
        let (out, flow) = run(&[
            ("ping", ""),
            ("future_event", r#"{"type":"future_event","x":1}"#),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","citation":{}}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}"#,
            ),
            (
                "message_delta",
                r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":9}}"#,
            ),
            ("message_stop", r#"{"type":"message_stop"}"#),
        ])
        .unwrap();
        assert_eq!(flow, Flow::Done);
        assert_eq!(
            out,
            [
                LlmEvent::TextDelta("hi".into()),
                LlmEvent::Usage(Usage {
                    input_tokens: 0,
                    output_tokens: 9
                }),
                LlmEvent::Finish(FinishReason::Length),
            ]
        );
    }

    #[test]
    fn error_events_map_to_kinds() {
        let kind = |error: &str| {
            let data = format!(r#"{{"type":"error","error":{error}}}"#);
            run(&[("error", &data)]).unwrap_err().kind
        };
        assert_eq!(
            kind(r#"{"type":"rate_limit_error","message":"m"}"#),
            LlmErrorKind::RateLimited { retry_after: None }
        );
        assert_eq!(
            kind(r#"{"type":"api_error","message":"m"}"#),
            LlmErrorKind::Server { status: 500 }
        );
        assert_eq!(
            kind(r#"{"type":"invalid_request_error","message":"m"}"#),
            LlmErrorKind::BadRequest { status: 400 }
        );
    }
}
