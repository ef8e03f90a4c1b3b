//! Folding a stream of events into one complete reply.

use super::{FinishReason, LlmBackend, LlmError, LlmEvent, LlmRequest, Usage};

/// A tool call the model asked for (defined with the run's events, which record it).
pub use maia_run::event::RequestedToolCall;

/// Sends `request` to `backend` and folds its stream into the whole reply; the first
/// error in the stream is the result.
pub async fn complete(
    backend: &dyn LlmBackend,
    request: LlmRequest,
) -> Result<Completion, LlmError> {
    let mut stream = backend.stream(request);
    let mut builder = CompletionBuilder::new();
    while let Some(event) = stream.next().await {
        builder.push(&event?);
    }
    Ok(builder.finish())
}

/// A whole reply.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Completion {
    /// Visible text.
    pub text: String,
    /// Reasoning text.
    pub reasoning: String,
    /// Tool calls in order.
    pub tool_calls: Vec<RequestedToolCall>,
    /// Token usage.
    pub usage: Usage,
    /// Why it ended; `None` if the stream ended without saying.
    pub finish: Option<FinishReason>,
}

/// Accumulates events into a [`Completion`].
#[derive(Debug, Default)]
pub struct CompletionBuilder {
    completion: Completion,
    slots: Vec<Option<usize>>,
}

impl CompletionBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds one event in.
    pub fn push(&mut self, event: &LlmEvent) {
        let c = &mut self.completion;
        match event {
            LlmEvent::TextDelta(t) => c.text.push_str(t),
            LlmEvent::ReasoningDelta(t) => c.reasoning.push_str(t),
            LlmEvent::ToolCallStart { index, id, name } => {
                if self.slots.len() <= *index {
                    self.slots.resize(index + 1, None);
                }
                self.slots[*index] = Some(c.tool_calls.len());
                c.tool_calls.push(RequestedToolCall {
                    id: id.clone(),
                    name: name.clone(),
                    arguments: String::new(),
                });
            }
            LlmEvent::ToolCallDelta { index, arguments } => {
                if let Some(Some(slot)) = self.slots.get(*index) {
                    c.tool_calls[*slot].arguments.push_str(arguments);
                }
            }
            LlmEvent::Usage(u) => {
                if u.input_tokens > 0 {
                    c.usage.input_tokens = u.input_tokens;
                }
                if u.output_tokens > 0 {
                    c.usage.output_tokens = u.output_tokens;
                }
            }
            LlmEvent::Finish(reason) => c.finish = Some(reason.clone()),
        }
    }

    /// The reply so far.
    pub fn completion(&self) -> &Completion {
        &self.completion
    }

    /// The finished reply.
    pub fn finish(self) -> Completion {
        self.completion
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_tool_calls_keep_their_own_arguments() {
        let mut b = CompletionBuilder::new();
        for e in [
            LlmEvent::TextDelta("Let me ".into()),
            LlmEvent::TextDelta("look.".into()),
            LlmEvent::ToolCallStart {
                index: 0,
                id: "a".into(),
                name: "call_unit".into(),
            },
            LlmEvent::ToolCallStart {
                index: 1,
                id: "b".into(),
                name: "text2image".into(),
            },
            LlmEvent::ToolCallDelta {
                index: 1,
                arguments: "{\"prompts\":".into(),
            },
            LlmEvent::ToolCallDelta {
                index: 0,
                arguments: "{}".into(),
            },
            LlmEvent::ToolCallDelta {
                index: 1,
                arguments: "[\"x\"]}".into(),
            },
            LlmEvent::Usage(Usage {
                input_tokens: 10,
                output_tokens: 0,
            }),
            LlmEvent::Usage(Usage {
                input_tokens: 0,
                output_tokens: 7,
            }),
            LlmEvent::Finish(FinishReason::ToolCalls),
        ] {
            b.push(&e);
        }
        let c = b.finish();
        assert_eq!(c.text, "Let me look.");
        assert_eq!(c.tool_calls[0].arguments, "{}");
        assert_eq!(c.tool_calls[1].arguments, "{\"prompts\":[\"x\"]}");
        assert_eq!(
            c.usage,
            Usage {
                input_tokens: 10,
                output_tokens: 7
            }
        );
        assert_eq!(c.finish, Some(FinishReason::ToolCalls));
    }
}
