//! The conversation, folded from the run's events. The live loop and `maia resume` both
//! build the messages they send this way, so a resumed run continues exactly the
//! conversation the crashed one had.

use super::event::{Event, RunStatus};
use super::vision::ModelImages;
use crate::images::ImageStore;
use crate::llm::{Message, Part, RequestedToolCall, ToolResult};
use std::collections::HashMap;
use std::sync::Arc;

/// A round whose tool calls are not all finished yet.
#[derive(Clone, Debug, Default)]
struct OpenRound {
    calls: Vec<RequestedToolCall>,
    results: HashMap<String, ToolResult>,
}

/// Conversation state of a run.
pub struct Conversation {
    store: Arc<ImageStore>,
    images: ModelImages,
    per_message: usize,
    /// Messages sent so far (the task, replies, tool results, notes).
    pub messages: Vec<Message>,
    pending_user: Vec<String>,
    open: Option<OpenRound>,
    /// Last round started.
    pub round: u32,
    /// Tokens used (input + output, all requests).
    pub tokens: u64,
    /// Dollars spent.
    pub cost_usd: f64,
    /// The final answer, once given: description, label.
    pub answer: Option<(String, String)>,
    /// How the run (or the last process on it) ended.
    pub ended: Option<RunStatus>,
    /// Whether the user paused it.
    pub paused: bool,
    /// Number of model replies so far.
    pub replies: u32,
}

impl Conversation {
    /// An empty conversation over a run's image store.
    pub fn new(store: Arc<ImageStore>, max_side: u32, per_message: usize) -> Self {
        Conversation {
            store,
            images: ModelImages::new(max_side),
            per_message: per_message.max(1),
            messages: Vec::new(),
            pending_user: Vec::new(),
            open: None,
            round: 0,
            tokens: 0,
            cost_usd: 0.0,
            answer: None,
            ended: None,
            paused: false,
            replies: 0,
        }
    }

    /// Folds one event in.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::RunStarted { task_text, .. } => {
                self.messages = vec![Message::User(vec![Part::Text(task_text.clone())])];
            }
            Event::Resumed { .. } => self.ended = None,
            Event::RoundStarted { round } => self.round = *round,
            Event::Note { text } => self
                .pending_user
                .push(format!("Note from the user watching this run: {text}")),
            Event::Nudge { text } => self.pending_user.push(text.clone()),
            Event::Paused { paused } => self.paused = *paused,
            Event::AssistantMessage {
                text,
                tool_calls,
                usage,
                cost_usd,
                ..
            } => {
                self.close_round();
                if let Some(user) = self.pending_message() {
                    self.messages.push(user);
                    self.pending_user.clear();
                }
                self.messages.push(Message::Assistant {
                    text: text.clone(),
                    tool_calls: tool_calls.clone(),
                });
                self.tokens += usage.input_tokens + usage.output_tokens;
                self.cost_usd += cost_usd;
                self.replies += 1;
                if !tool_calls.is_empty() {
                    self.open = Some(OpenRound {
                        calls: tool_calls.clone(),
                        results: HashMap::new(),
                    });
                }
            }
            Event::ToolFinished {
                call_id,
                name,
                error,
                text,
                images,
                data,
                ..
            } => {
                let parts = images
                    .iter()
                    .filter_map(|i| self.images.part(&self.store, &i.id))
                    .collect();
                let Some(open) = &mut self.open else { return };
                let result = ToolResult {
                    call_id: call_id.clone(),
                    name: name.clone(),
                    text: text.clone(),
                    images: parts,
                    data: data.clone(),
                    is_error: error.is_some(),
                };
                open.results.insert(call_id.clone(), result);
                if open.calls.iter().all(|c| open.results.contains_key(&c.id)) {
                    self.close_round();
                }
            }
            Event::FinalAnswer {
                description, label, ..
            } => self.answer = Some((description.clone(), label.clone())),
            Event::RunEnded { status, .. } => self.ended = Some(*status),
            Event::TextDelta { .. }
            | Event::ToolStarted { .. }
            | Event::Retry { .. }
            | Event::Warning { .. } => {}
        }
    }

    /// Calls of the last reply that have no result yet (a run killed mid-round).
    pub fn unfinished_calls(&self) -> Vec<RequestedToolCall> {
        self.open
            .as_ref()
            .map(|o| {
                o.calls
                    .iter()
                    .filter(|c| !o.results.contains_key(&c.id))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The messages of the next request: everything so far plus notes not yet sent.
    pub fn request_messages(&self) -> Vec<Message> {
        let mut messages = self.messages.clone();
        if let Some(user) = self.pending_message() {
            messages.push(user);
        }
        messages
    }

    fn pending_message(&self) -> Option<Message> {
        (!self.pending_user.is_empty())
            .then(|| Message::User(vec![Part::Text(self.pending_user.join("\n\n"))]))
    }

    fn close_round(&mut self) {
        let Some(open) = self.open.take() else { return };
        let mut results: Vec<ToolResult> = Vec::with_capacity(open.calls.len());
        let mut budget = self.per_message;
        let mut results_by_id = open.results;
        for call in &open.calls {
            let mut result = results_by_id
                .remove(&call.id)
                .unwrap_or_else(|| ToolResult {
                    call_id: call.id.clone(),
                    name: call.name.clone(),
                    text: "error (failed): the call did not finish (the run was interrupted)"
                        .into(),
                    images: Vec::new(),
                    data: serde_json::Value::Null,
                    is_error: true,
                });
            if result.images.len() > budget {
                let hidden: Vec<String> = result.images.drain(budget..).map(|p| p.id).collect();
                result.text.push_str(&format!(
                    "\n({} more images not shown, to keep to {} images per message: {})",
                    hidden.len(),
                    self.per_message,
                    hidden.join(", ")
                ));
            }
            budget -= result.images.len();
            results.push(result);
        }
        self.messages.push(Message::ToolResults(results));
    }
}
