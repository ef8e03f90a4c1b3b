//! `replay`: re-feeds the replies of a recorded run. Stateless: the reply sent is chosen
//! by how many model replies the conversation already holds, so a resumed run replays
//! from the right place.

use super::{
    EventStream, FinishReason, LlmBackend, LlmError, LlmErrorKind, LlmEvent, LlmRequest, Message,
    RequestedToolCall, Usage,
};
use crate::agent::{Event, journal::read_journal};
use std::path::Path;

/// One recorded model reply.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedReply {
    /// Visible text.
    pub text: String,
    /// Reasoning text.
    pub reasoning: String,
    /// Tool calls.
    pub tool_calls: Vec<RequestedToolCall>,
    /// Usage reported.
    pub usage: Usage,
}

/// The replay backend.
#[derive(Clone, Debug)]
pub struct ReplayBackend {
    replies: Vec<RecordedReply>,
    model: String,
    chunk_chars: usize,
}

impl ReplayBackend {
    /// Replays these replies in order.
    pub fn new(replies: Vec<RecordedReply>) -> Self {
        ReplayBackend {
            replies,
            model: "replay".into(),
            chunk_chars: 12,
        }
    }

    /// The replies of a recorded run (`runs/<id>/events.jsonl` or its folder).
    pub fn from_journal(path: &Path) -> Result<Self, LlmError> {
        let path = if path.is_dir() {
            maia_run::RunDir::new(path).events()
        } else {
            path.to_path_buf()
        };
        let contents = read_journal(&path).map_err(|e| {
            LlmError::new(
                LlmErrorKind::Config,
                format!("reading {}: {e}", path.display()),
            )
        })?;
        let mut model = "replay".to_owned();
        let replies: Vec<RecordedReply> = contents
            .records
            .into_iter()
            .filter_map(|r| match r.event {
                Event::RunStarted { model: m, .. } => {
                    model = format!("replay:{m}");
                    None
                }
                Event::AssistantMessage {
                    text,
                    reasoning,
                    tool_calls,
                    usage,
                    ..
                } => Some(RecordedReply {
                    text,
                    reasoning,
                    tool_calls,
                    usage,
                }),
                _ => None,
            })
            .collect();
        if replies.is_empty() {
            return Err(LlmError::new(
                LlmErrorKind::Config,
                format!("{} holds no model replies to replay", path.display()),
            ));
        }
        Ok(ReplayBackend {
            replies,
            model,
            chunk_chars: 12,
        })
    }

    /// Number of replies available.
    pub fn len(&self) -> usize {
        self.replies.len()
    }

    /// True when there is nothing to replay.
    pub fn is_empty(&self) -> bool {
        self.replies.is_empty()
    }

    /// The events of reply `index`, as a model would stream them.
    pub fn events_of(&self, index: usize) -> Option<Vec<LlmEvent>> {
        let reply = self.replies.get(index)?;
        let mut events = Vec::new();
        for piece in chunks(&reply.reasoning, self.chunk_chars) {
            events.push(LlmEvent::ReasoningDelta(piece));
        }
        for piece in chunks(&reply.text, self.chunk_chars) {
            events.push(LlmEvent::TextDelta(piece));
        }
        for (index, call) in reply.tool_calls.iter().enumerate() {
            events.push(LlmEvent::ToolCallStart {
                index,
                id: call.id.clone(),
                name: call.name.clone(),
            });
            for piece in chunks(&call.arguments, 64) {
                events.push(LlmEvent::ToolCallDelta {
                    index,
                    arguments: piece,
                });
            }
        }
        events.push(LlmEvent::Usage(reply.usage));
        events.push(LlmEvent::Finish(if reply.tool_calls.is_empty() {
            FinishReason::Stop
        } else {
            FinishReason::ToolCalls
        }));
        Some(events)
    }
}

fn chunks(text: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(size.max(1))
        .map(|c| c.iter().collect())
        .collect()
}

impl LlmBackend for ReplayBackend {
    fn name(&self) -> &str {
        "replay"
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn stream(&self, request: LlmRequest) -> EventStream {
        let index = request
            .messages
            .iter()
            .filter(|m| matches!(m, Message::Assistant { .. }))
            .count();
        let Some(events) = self.events_of(index) else {
            return EventStream::failed(LlmError::new(
                LlmErrorKind::Config,
                format!(
                    "the recording has {} replies and the conversation asks for reply {}",
                    self.replies.len(),
                    index + 1
                ),
            ));
        };
        let (tx, stream) = super::channel();
        tokio::spawn(async move {
            for e in events {
                if !tx.send(e).await {
                    return;
                }
            }
        });
        stream
    }
}
