//! The conversation, folded from the run's events. The live loop and `maia resume` both
//! build the messages they send this way, so a resumed run continues exactly the
//! conversation the crashed one had.

use super::event::{Event, RunStatus, TrimStep};
use super::vision::ModelImages;
use crate::images::ImageStore;
use crate::llm::{Message, Part, RequestedToolCall, ToolResult};
use crate::program::InnerRecord;
use std::collections::HashMap;
use std::sync::Arc;

/// A round whose tool calls are not all finished yet.
#[derive(Clone, Debug, Default)]
struct OpenRound {
    calls: Vec<RequestedToolCall>,
    results: HashMap<String, ToolResult>,
    /// The calls programs of this round made, by the program's call id.
    inner: HashMap<String, Vec<InnerRecord>>,
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
    /// `--verify`: verifications so far, and every candidate they scored.
    pub verifications: u32,
    /// The candidates of every verification, in order.
    pub verified: Vec<maia_run::event::VerifiedCandidate>,
    /// Captions of the images the tools made, by id (what a trimmed image leaves behind).
    captions: HashMap<String, String>,
}

/// Estimated tokens of one image as vision models count them (a 224–512 px image is 64 to
/// 765 tokens across Qwen2-VL, LLaVA and GPT-4o; the measured ratio corrects the rest).
pub const IMAGE_TOKENS: u64 = 256;

/// Characters per token of ordinary text, before correction by the measured ratio.
const CHARS_PER_TOKEN: u64 = 4;

/// Characters a shortened tool output keeps (plus its image lines).
const SHORTENED_CHARS: usize = 120;

/// What ends a shortened tool output, so it is never shortened twice.
const SHORTENED: &str = " … [shortened to save context]";

/// Characters of a caption a trimmed image's line keeps.
const CAPTION_CHARS: usize = 80;

/// Rough tokens of text.
pub fn text_tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(CHARS_PER_TOKEN)
}

/// Rough tokens of messages: their text, their images and a little per message.
pub fn estimate_tokens(messages: &[Message]) -> u64 {
    messages
        .iter()
        .map(|m| {
            4 + match m {
                Message::User(parts) => parts
                    .iter()
                    .map(|p| match p {
                        Part::Text(t) => text_tokens(t),
                        Part::Image(_) => IMAGE_TOKENS,
                    })
                    .sum(),
                Message::Assistant { text, tool_calls } => {
                    text_tokens(text)
                        + tool_calls
                            .iter()
                            .map(|c| text_tokens(&c.name) + text_tokens(&c.arguments) + 8)
                            .sum::<u64>()
                }
                Message::ToolResults(results) => results
                    .iter()
                    .map(|r| text_tokens(&r.text) + IMAGE_TOKENS * r.images.len() as u64 + 8)
                    .sum(),
            }
        })
        .sum()
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
            verifications: 0,
            verified: Vec::new(),
            captions: HashMap::new(),
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
                        inner: HashMap::new(),
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
                cost_usd,
                ..
            } => {
                self.cost_usd += cost_usd;
                for image in images {
                    self.captions
                        .insert(image.id.clone(), image.caption.clone());
                }
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
            Event::InnerCall {
                parent,
                index,
                name,
                args,
                error,
                text,
                images,
                data,
                elapsed_ms,
                ..
            } => {
                for image in images {
                    self.captions
                        .insert(image.id.clone(), image.caption.clone());
                }
                let Some(open) = &mut self.open else { return };
                open.inner
                    .entry(parent.clone())
                    .or_default()
                    .push(InnerRecord {
                        index: *index,
                        name: name.clone(),
                        args: args.clone(),
                        error: error.clone(),
                        text: text.clone(),
                        images: images.clone(),
                        data: data.clone(),
                        elapsed_ms: *elapsed_ms,
                    });
            }
            Event::Verification { candidates, .. } => {
                self.verifications += 1;
                for candidate in candidates {
                    self.tokens += candidate.usage.total();
                    self.cost_usd += candidate.cost_usd;
                }
                self.verified.extend(candidates.iter().cloned());
            }
            Event::FinalAnswer {
                description, label, ..
            } => self.answer = Some((description.clone(), label.clone())),
            Event::RunEnded { status, .. } => self.ended = Some(*status),
            Event::ContextTrimmed { step, messages, .. } => self.trim(*step, *messages),
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

    /// The calls an unfinished program of the last reply made before the run stopped.
    pub fn inner_calls(&self, parent: &str) -> Vec<InnerRecord> {
        self.open
            .as_ref()
            .and_then(|o| o.inner.get(parent).cloned())
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

    /// How many of the first messages a trim may touch: all but the latest exchange (the
    /// last reply and what followed it), and never the task.
    pub fn trimmable(&self) -> usize {
        self.messages
            .iter()
            .rposition(|m| matches!(m, Message::Assistant { .. }))
            .unwrap_or(0)
    }

    /// Shortens the first `upto` messages (see [`trim_messages`]). Deterministic, so
    /// folding the journal repeats it exactly.
    pub fn trim(&mut self, step: TrimStep, upto: usize) {
        let upto = upto.min(self.messages.len());
        trim_messages(&mut self.messages[..upto], &self.captions, step);
    }

    /// Captions of the images the tools made, by id.
    pub fn captions(&self) -> &HashMap<String, String> {
        &self.captions
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

/// Shortens `messages`: with [`TrimStep::Images`] their images are replaced by a line
/// naming each image's id and caption; with [`TrimStep::ToolOutputs`] their tool outputs
/// are cut to the first characters, image lines kept.
pub fn trim_messages(messages: &mut [Message], captions: &HashMap<String, String>, step: TrimStep) {
    let placeholder = |id: &str| {
        let caption = captions.get(id).map(String::as_str).unwrap_or("no caption");
        let caption = match caption.char_indices().nth(CAPTION_CHARS) {
            Some((cut, _)) => format!("{}…", &caption[..cut]),
            None => caption.to_owned(),
        };
        format!(
            "[image {id} not shown again, to save context: {caption}; show_images brings it back]"
        )
    };
    for message in messages {
        match (step, message) {
            (TrimStep::Images, Message::ToolResults(results)) => {
                for result in results {
                    for image in result.images.drain(..) {
                        result.text.push('\n');
                        result.text.push_str(&placeholder(&image.id));
                    }
                }
            }
            (TrimStep::Images, Message::User(parts)) => {
                for part in parts.iter_mut() {
                    if let Part::Image(image) = part {
                        *part = Part::Text(placeholder(&image.id));
                    }
                }
            }
            (TrimStep::ToolOutputs, Message::ToolResults(results)) => {
                for result in results {
                    result.text = shortened(&result.text);
                }
            }
            _ => {}
        }
    }
}

/// A tool output cut to its first [`SHORTENED_CHARS`] characters, keeping every line that
/// names a trimmed image; short or already shortened outputs are returned as they are.
fn shortened(text: &str) -> String {
    if text.len() <= SHORTENED_CHARS + SHORTENED.len() || text.contains(SHORTENED) {
        return text.to_owned();
    }
    let (mut head, mut image_lines) = (String::new(), Vec::new());
    for line in text.lines() {
        if line.starts_with("[image ") {
            image_lines.push(line);
        } else if head.len() < SHORTENED_CHARS {
            if !head.is_empty() {
                head.push('\n');
            }
            head.push_str(line);
        }
    }
    if head.len() > SHORTENED_CHARS {
        let mut cut = SHORTENED_CHARS;
        while !head.is_char_boundary(cut) {
            cut -= 1;
        }
        head.truncate(cut);
    }
    head.push_str(SHORTENED);
    for line in image_lines {
        head.push('\n');
        head.push_str(line);
    }
    head
}
