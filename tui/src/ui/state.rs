//! The view model: a run's [`Record`]s folded into what the screen shows — transcript
//! entries, the image gallery, totals and the run's phase. Pure and synchronous: the
//! live view, `maia watch` and the tests all feed it the same records.

use super::wrap::{one_line, sanitize};
use maia_core::agent::summary::RunSummary;
use maia_core::agent::{Event, ImageRecord, Record, RunStatus};
use serde_json::Value;
use std::collections::HashMap;

/// What the run is about, from [`Event::RunStarted`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunInfo {
    /// Run id (folder name under `runs/`).
    pub run_id: String,
    /// Task name.
    pub task: String,
    /// Target spec.
    pub target: String,
    /// Unit address.
    pub unit: String,
    /// Backend name.
    pub backend: String,
    /// Model id.
    pub model: String,
    /// Round limit.
    pub max_rounds: u32,
}

/// Where the run is, as the journal says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// No `run_started` yet.
    Waiting,
    /// The agent is working.
    Running,
    /// Paused from the UI.
    Paused,
    /// A `run_ended` record arrived.
    Ended(RunStatus),
}

/// The outcome of a tool call.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolResult {
    /// Error kind, when the call failed.
    pub error: Option<String>,
    /// The text the model saw (sanitized).
    pub text: String,
    /// Ids of the images it made.
    pub image_ids: Vec<String>,
    /// Milliseconds it took.
    pub elapsed_ms: u64,
}

/// A tool call block in the transcript.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolEntry {
    /// Round it belongs to.
    pub round: u32,
    /// Provider call id.
    pub call_id: String,
    /// Tool name.
    pub name: String,
    /// Arguments as compact one-line JSON (sanitized).
    pub args_line: String,
    /// Arguments pretty-printed (sanitized), shown when unfolded.
    pub args_pretty: String,
    /// `None` while the call runs.
    pub result: Option<ToolResult>,
    /// Folded blocks show one header line and a one-line result summary.
    pub folded: bool,
    /// The calls a program (`run_program`) made so far, in order.
    pub inner: Vec<InnerLine>,
}

/// One call a program made, as the transcript shows it under the program.
#[derive(Clone, Debug, PartialEq)]
pub struct InnerLine {
    /// 1-based position among the program's calls.
    pub index: u32,
    /// Tool name (sanitized).
    pub name: String,
    /// Error kind, when it failed.
    pub error: Option<String>,
    /// The first line of its text (sanitized).
    pub first_line: String,
    /// Images it made.
    pub images: usize,
    /// Milliseconds it took.
    pub elapsed_ms: u64,
}

/// One block of the transcript.
#[derive(Clone, Debug, PartialEq)]
pub enum EntryKind {
    /// The task text the run started with.
    Task {
        /// Task text.
        text: String,
    },
    /// A round separator.
    Round {
        /// 1-based round.
        round: u32,
    },
    /// The model's reasoning (thinking) text.
    Reasoning {
        /// Round.
        round: u32,
        /// Text so far.
        text: String,
    },
    /// The model's visible text.
    Text {
        /// Round.
        round: u32,
        /// Text so far.
        text: String,
    },
    /// A tool call.
    Tool(ToolEntry),
    /// A note the human injected.
    Note {
        /// The note.
        text: String,
    },
    /// A message maia itself sent the model (round limit, forced answer, no tool called).
    Nudge {
        /// The message.
        text: String,
    },
    /// Paused or running again.
    Paused {
        /// `true` paused.
        paused: bool,
    },
    /// A failed model request that will be retried.
    Retry {
        /// Round.
        round: u32,
        /// Attempt that failed.
        attempt: u32,
        /// Why.
        reason: String,
        /// Wait before the next attempt.
        wait_ms: u64,
    },
    /// A non-fatal warning.
    Warning {
        /// Text.
        text: String,
    },
    /// `maia resume` picked the run up.
    Resumed {
        /// Rounds already complete.
        completed_rounds: u32,
    },
    /// The agent's answer.
    Final {
        /// Short label.
        label: String,
        /// Description.
        description: String,
    },
    /// The run (or this process's part of it) ended.
    Ended {
        /// How.
        status: RunStatus,
        /// Why.
        reason: String,
    },
}

/// A transcript block and its version: the version changes whenever the block does, so
/// renderers can cache its wrapped lines.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// What it shows.
    pub kind: EntryKind,
    /// Unique over the view's lifetime; bumped on every change.
    pub version: u64,
}

/// An image in the run's gallery.
#[derive(Clone, Debug, PartialEq)]
pub struct GalleryImage {
    /// Store id (`img_12`).
    pub id: String,
    /// Content hash: the file is `images/<hash>.png`.
    pub hash: String,
    /// Caption (one line, sanitized).
    pub caption: String,
    /// The unit's activation on it, when reported.
    pub activation: Option<f64>,
    /// Index of the sheet (tool call) that made it.
    pub sheet: usize,
}

/// The images of one tool call: a contiguous run of the gallery.
#[derive(Clone, Debug, PartialEq)]
pub struct Sheet {
    /// Index of its first image in the gallery.
    pub start: usize,
    /// Number of images.
    pub len: usize,
    /// Round of the call.
    pub round: u32,
    /// Tool name.
    pub tool: String,
}

/// A run folded from its records.
#[derive(Clone, Debug)]
pub struct RunView {
    /// From `run_started`, once seen.
    pub info: Option<RunInfo>,
    /// Transcript blocks in order.
    pub entries: Vec<Entry>,
    /// Latest round started.
    pub round: u32,
    /// Phase from the journal.
    pub phase: Phase,
    /// What the run came to so far (tokens, cost, rounds, how it ended): the one fold
    /// every view shares.
    pub summary: RunSummary,
    /// Every image, oldest first.
    pub gallery: Vec<GalleryImage>,
    /// Tool calls that made images, oldest first.
    pub sheets: Vec<Sheet>,
    /// Records applied.
    pub records: u64,
    /// `t_ms` of the latest record.
    pub last_t_ms: u64,
    tools: HashMap<(u32, String), usize>,
    next_version: u64,
}

impl Default for RunView {
    fn default() -> Self {
        RunView {
            info: None,
            entries: Vec::new(),
            round: 0,
            phase: Phase::Waiting,
            summary: RunSummary::default(),
            gallery: Vec::new(),
            sheets: Vec::new(),
            records: 0,
            last_t_ms: 0,
            tools: HashMap::new(),
            next_version: 1,
        }
    }
}

/// `t_ms` values at or above this are UNIX milliseconds rather than offsets from the start.
const UNIX_MS_THRESHOLD: u64 = 1_000_000_000_000;

impl RunView {
    /// An empty view (waiting for `run_started`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds a sequence of records.
    pub fn from_records<'a>(records: impl IntoIterator<Item = &'a Record>) -> Self {
        let mut view = Self::new();
        for r in records {
            view.apply(r);
        }
        view
    }

    /// The round limit, 0 when unknown.
    pub fn max_rounds(&self) -> u32 {
        self.info.as_ref().map_or(0, |i| i.max_rounds)
    }

    /// Milliseconds between the first and the latest record.
    pub fn journal_elapsed_ms(&self) -> u64 {
        self.summary
            .first_ms
            .map_or(0, |first| self.last_t_ms.saturating_sub(first))
    }

    /// The start as UNIX milliseconds, when the journal's `t_ms` are wall-clock times.
    pub fn started_unix_ms(&self) -> Option<u64> {
        self.summary.first_ms.filter(|t| *t >= UNIX_MS_THRESHOLD)
    }

    /// Index of the latest tool entry.
    pub fn last_tool(&self) -> Option<usize> {
        self.entries
            .iter()
            .rposition(|e| matches!(e.kind, EntryKind::Tool(_)))
    }

    /// Folds or unfolds the tool entry at `index`; false when it is not a tool call.
    pub fn toggle_fold(&mut self, index: usize) -> bool {
        let version = self.bump();
        match self.entries.get_mut(index) {
            Some(Entry {
                kind: EntryKind::Tool(tool),
                version: v,
            }) => {
                tool.folded = !tool.folded;
                *v = version;
                true
            }
            _ => false,
        }
    }

    fn bump(&mut self) -> u64 {
        let v = self.next_version;
        self.next_version += 1;
        v
    }

    fn push(&mut self, kind: EntryKind) -> usize {
        let version = self.bump();
        self.entries.push(Entry { kind, version });
        self.entries.len() - 1
    }

    fn touch(&mut self, index: usize) {
        let version = self.bump();
        if let Some(e) = self.entries.get_mut(index) {
            e.version = version;
        }
    }

    /// Applies one record.
    pub fn apply(&mut self, record: &Record) {
        self.records += 1;
        self.summary.add(record);
        self.last_t_ms = self.last_t_ms.max(record.t_ms);
        // Anything but an ending after `run_ended` means the run was picked up again
        // (`maia resume`), even when its `resumed` record was not seen.
        if matches!(self.phase, Phase::Ended(_))
            && !matches!(
                record.event,
                Event::RunEnded { .. } | Event::FinalAnswer { .. } | Event::Paused { .. }
            )
        {
            self.phase = Phase::Running;
        }
        match &record.event {
            Event::RunStarted {
                run_id,
                task,
                target,
                unit,
                backend,
                model,
                max_rounds,
                task_text,
            } => {
                self.info = Some(RunInfo {
                    run_id: one_line(run_id),
                    task: one_line(task),
                    target: one_line(target),
                    unit: one_line(unit),
                    backend: one_line(backend),
                    model: one_line(model),
                    max_rounds: *max_rounds,
                });
                self.phase = Phase::Running;
                self.push(EntryKind::Task {
                    text: sanitize(task_text),
                });
            }
            Event::Resumed { completed_rounds } => {
                self.phase = Phase::Running;
                self.push(EntryKind::Resumed {
                    completed_rounds: *completed_rounds,
                });
            }
            Event::RoundStarted { round } => {
                self.round = *round;
                if matches!(self.phase, Phase::Waiting) {
                    self.phase = Phase::Running;
                }
                self.push(EntryKind::Round { round: *round });
            }
            Event::TextDelta {
                round,
                text,
                reasoning,
            } => self.append_text(*round, &sanitize(text), *reasoning),
            Event::AssistantMessage {
                round,
                text,
                reasoning,
                ..
            } => {
                self.settle_text(*round, &sanitize(reasoning), true);
                self.settle_text(*round, &sanitize(text), false);
            }
            Event::ToolStarted {
                round,
                call_id,
                name,
                args,
            } => {
                self.tool_entry(*round, call_id, name, Some(args));
            }
            Event::ToolFinished {
                round,
                call_id,
                name,
                error,
                text,
                images,
                elapsed_ms,
                ..
            } => {
                let index = self.tool_entry(*round, call_id, name, None);
                let result = ToolResult {
                    error: error.as_deref().map(one_line),
                    text: sanitize(text),
                    image_ids: images.iter().map(|i| one_line(&i.id)).collect(),
                    elapsed_ms: *elapsed_ms,
                };
                if let Some(Entry {
                    kind: EntryKind::Tool(tool),
                    ..
                }) = self.entries.get_mut(index)
                {
                    tool.result = Some(result);
                }
                self.touch(index);
                self.add_sheet(*round, name, images);
            }
            Event::InnerCall {
                round,
                parent,
                index,
                name,
                error,
                text,
                images,
                elapsed_ms,
                ..
            } => {
                let entry = self.tool_entry(*round, parent, maia_core::program::RUN_PROGRAM, None);
                let line = InnerLine {
                    index: *index,
                    name: one_line(name),
                    error: error.as_deref().map(one_line),
                    first_line: one_line(sanitize(text).lines().next().unwrap_or_default()),
                    images: images.len(),
                    elapsed_ms: *elapsed_ms,
                };
                if let Some(Entry {
                    kind: EntryKind::Tool(tool),
                    ..
                }) = self.entries.get_mut(entry)
                {
                    tool.inner.push(line);
                }
                self.touch(entry);
                self.add_sheet(*round, name, images);
            }
            Event::Note { text } => {
                self.push(EntryKind::Note {
                    text: sanitize(text),
                });
            }
            Event::Nudge { text } => {
                self.push(EntryKind::Nudge {
                    text: sanitize(text),
                });
            }
            Event::Verification {
                candidates,
                best,
                accepted,
                ..
            } => {
                let text = maia_core::agent::verify::describe(candidates, *best, *accepted);
                self.push(EntryKind::Nudge {
                    text: sanitize(&text),
                });
            }
            Event::Paused { paused } => {
                self.phase = if *paused {
                    Phase::Paused
                } else {
                    Phase::Running
                };
                self.push(EntryKind::Paused { paused: *paused });
            }
            Event::Retry {
                round,
                attempt,
                reason,
                wait_ms,
            } => {
                self.push(EntryKind::Retry {
                    round: *round,
                    attempt: *attempt,
                    reason: one_line(reason),
                    wait_ms: *wait_ms,
                });
            }
            Event::Warning { text } => {
                self.push(EntryKind::Warning {
                    text: sanitize(text),
                });
            }
            Event::ContextTrimmed {
                step,
                messages,
                tokens_before,
                tokens_after,
                ..
            } => {
                self.push(EntryKind::Warning {
                    text: step.describe(*messages, *tokens_before, *tokens_after),
                });
            }
            Event::FinalAnswer {
                description, label, ..
            } => {
                let label = one_line(label);
                let description = sanitize(description);
                self.push(EntryKind::Final { label, description });
            }
            Event::RunEnded { status, reason } => {
                self.phase = Phase::Ended(*status);
                self.push(EntryKind::Ended {
                    status: *status,
                    reason: one_line(reason),
                });
            }
        }
    }

    /// Appends streamed text to the open text block of the same round and kind, or
    /// starts one.
    fn append_text(&mut self, round: u32, text: &str, reasoning: bool) {
        if text.is_empty() {
            return;
        }
        let index = match self.entries.last_mut().map(|e| &mut e.kind) {
            Some(EntryKind::Reasoning { round: r, text: t }) if reasoning && *r == round => {
                t.push_str(text);
                self.entries.len() - 1
            }
            Some(EntryKind::Text { round: r, text: t }) if !reasoning && *r == round => {
                t.push_str(text);
                self.entries.len() - 1
            }
            _ => {
                let text = text.to_string();
                self.push(if reasoning {
                    EntryKind::Reasoning { round, text }
                } else {
                    EntryKind::Text { round, text }
                })
            }
        };
        self.touch(index);
    }

    /// Replaces what streamed for a round with the authoritative text of its assistant
    /// message (or adds it when nothing streamed, as in a journal without deltas).
    fn settle_text(&mut self, round: u32, text: &str, reasoning: bool) {
        // The round's blocks are those after its separator.
        let start = self
            .entries
            .iter()
            .rposition(|e| matches!(e.kind, EntryKind::Round { round: r } if r == round))
            .map_or(0, |i| i + 1);
        let found = (start..self.entries.len()).rev().find(|&i| {
            matches!(
                (&self.entries[i].kind, reasoning),
                (EntryKind::Reasoning { round: r, .. }, true)
                    | (EntryKind::Text { round: r, .. }, false) if *r == round
            )
        });
        match found {
            Some(i) => {
                if text.is_empty() {
                    return;
                }
                match &mut self.entries[i].kind {
                    EntryKind::Reasoning { text: t, .. } | EntryKind::Text { text: t, .. }
                        if t != text =>
                    {
                        *t = text.to_string();
                    }
                    _ => {}
                }
                self.touch(i);
            }
            None if !text.is_empty() => {
                let text = text.to_string();
                self.push(if reasoning {
                    EntryKind::Reasoning { round, text }
                } else {
                    EntryKind::Text { round, text }
                });
            }
            None => {}
        }
    }

    /// The tool entry for a call, created if this is the first we hear of it.
    fn tool_entry(&mut self, round: u32, call_id: &str, name: &str, args: Option<&Value>) -> usize {
        let key = (round, call_id.to_string());
        if let Some(&index) = self.tools.get(&key) {
            if let (
                Some(args),
                Some(Entry {
                    kind: EntryKind::Tool(tool),
                    ..
                }),
            ) = (args, self.entries.get_mut(index))
            {
                tool.args_line = args_line(args);
                tool.args_pretty = args_pretty(args);
                self.touch(index);
            }
            return index;
        }
        let (args_line, args_pretty) = match args {
            Some(a) => (args_line(a), args_pretty(a)),
            None => (String::new(), String::new()),
        };
        let index = self.push(EntryKind::Tool(ToolEntry {
            round,
            call_id: one_line(call_id),
            name: one_line(name),
            args_line,
            args_pretty,
            result: None,
            folded: true,
            inner: Vec::new(),
        }));
        self.tools.insert(key, index);
        index
    }

    fn add_sheet(&mut self, round: u32, tool: &str, images: &[ImageRecord]) {
        if images.is_empty() {
            return;
        }
        let sheet = self.sheets.len();
        self.sheets.push(Sheet {
            start: self.gallery.len(),
            len: images.len(),
            round,
            tool: one_line(tool),
        });
        for image in images {
            self.gallery.push(GalleryImage {
                id: one_line(&image.id),
                hash: one_line(&image.hash),
                caption: one_line(&image.caption),
                activation: image.activation,
                sheet,
            });
        }
    }
}

fn args_line(args: &Value) -> String {
    match args {
        Value::String(s) => one_line(s),
        other => one_line(&other.to_string()),
    }
}

fn args_pretty(args: &Value) -> String {
    match args {
        Value::String(s) => sanitize(s),
        other => sanitize(&serde_json::to_string_pretty(other).unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use maia_core::llm::{RequestedToolCall, Usage};
    use serde_json::json;

    fn rec(seq: u64, event: Event) -> Record {
        Record {
            seq,
            t_ms: seq * 100,
            event,
        }
    }

    #[test]
    fn deltas_stream_into_one_block_and_the_message_settles_it() {
        let records = [
            rec(0, Event::RoundStarted { round: 1 }),
            rec(
                1,
                Event::TextDelta {
                    round: 1,
                    text: "think".into(),
                    reasoning: true,
                },
            ),
            rec(
                2,
                Event::TextDelta {
                    round: 1,
                    text: "Let me ".into(),
                    reasoning: false,
                },
            ),
            rec(
                3,
                Event::TextDelta {
                    round: 1,
                    text: "try".into(),
                    reasoning: false,
                },
            ),
        ];
        let mut view = RunView::from_records(&records);
        assert_eq!(view.entries.len(), 3);
        assert!(
            matches!(&view.entries[2].kind, EntryKind::Text { text, .. } if text == "Let me try")
        );
        view.apply(&rec(
            4,
            Event::AssistantMessage {
                round: 1,
                text: "Let me try red.".into(),
                reasoning: "thinking".into(),
                tool_calls: vec![RequestedToolCall {
                    id: "c1".into(),
                    name: "text2image".into(),
                    arguments: "{}".into(),
                }],
                usage: Usage {
                    input_tokens: 100,
                    output_tokens: 20,
                },
                cost_usd: 0.5,
            },
        ));
        assert_eq!(view.entries.len(), 3);
        assert!(
            matches!(&view.entries[1].kind, EntryKind::Reasoning { text, .. } if text == "thinking")
        );
        assert!(
            matches!(&view.entries[2].kind, EntryKind::Text { text, .. } if text == "Let me try red.")
        );
        assert_eq!(view.summary.input_tokens, 100);
        assert_eq!(view.summary.cost_usd, 0.5);
    }

    #[test]
    fn tool_calls_pair_up_and_images_fill_the_gallery() {
        let image = ImageRecord {
            id: "img_1".into(),
            hash: "abc".into(),
            caption: "a red\ncircle".into(),
            activation: Some(0.9),
        };
        let records = [
            rec(
                0,
                Event::ToolStarted {
                    round: 1,
                    call_id: "c1".into(),
                    name: "text2image".into(),
                    args: json!({"prompts": ["a red circle"]}),
                },
            ),
            rec(
                1,
                Event::ToolFinished {
                    round: 1,
                    call_id: "c1".into(),
                    name: "text2image".into(),
                    error: None,
                    text: "1 image".into(),
                    images: vec![image],
                    data: Value::Null,
                    elapsed_ms: 12,
                    cost_usd: 0.0,
                },
            ),
        ];
        let view = RunView::from_records(&records);
        assert_eq!(view.entries.len(), 1);
        let EntryKind::Tool(tool) = &view.entries[0].kind else {
            panic!("not a tool entry");
        };
        assert_eq!(tool.args_line, r#"{"prompts":["a red circle"]}"#);
        assert!(tool.folded);
        assert_eq!(tool.result.as_ref().map(|r| r.elapsed_ms), Some(12));
        assert_eq!(view.gallery.len(), 1);
        assert_eq!(view.gallery[0].caption, "a red circle");
        assert_eq!(view.sheets.len(), 1);
    }

    #[test]
    fn a_programs_inner_calls_nest_under_it_and_their_images_reach_the_gallery() {
        let inner = |seq: u64, index: u32, name: &str, error: Option<&str>| {
            rec(
                seq,
                Event::InnerCall {
                    round: 1,
                    parent: "p1".into(),
                    index,
                    name: name.into(),
                    args: json!({}),
                    error: error.map(str::to_owned),
                    text: format!("{name} said\nmore"),
                    images: vec![ImageRecord {
                        id: format!("img_{index}"),
                        hash: format!("h{index}"),
                        caption: format!("image {index}"),
                        activation: None,
                    }],
                    data: Value::Null,
                    elapsed_ms: 3,
                },
            )
        };
        let records = [
            rec(
                0,
                Event::ToolStarted {
                    round: 1,
                    call_id: "p1".into(),
                    name: "run_program".into(),
                    args: json!({"code": "text2image(prompts=['x'])"}),
                },
            ),
            inner(1, 1, "text2image", None),
            inner(2, 2, "call_unit", Some("failed")),
        ];
        let view = RunView::from_records(&records);
        assert_eq!(
            view.entries.len(),
            1,
            "inner calls are not blocks of their own"
        );
        let EntryKind::Tool(tool) = &view.entries[0].kind else {
            panic!("not a tool entry");
        };
        assert_eq!(tool.name, "run_program");
        assert!(tool.result.is_none(), "the program is still running");
        let names: Vec<(u32, &str, Option<&str>)> = tool
            .inner
            .iter()
            .map(|c| (c.index, c.name.as_str(), c.error.as_deref()))
            .collect();
        assert_eq!(
            names,
            [(1, "text2image", None), (2, "call_unit", Some("failed"))]
        );
        assert_eq!(tool.inner[0].first_line, "text2image said");
        assert_eq!(view.gallery.len(), 2);
    }

    #[test]
    fn phase_follows_pause_and_end() {
        let mut view = RunView::new();
        assert_eq!(view.phase, Phase::Waiting);
        view.apply(&rec(0, Event::RoundStarted { round: 1 }));
        view.apply(&rec(1, Event::Paused { paused: true }));
        assert_eq!(view.phase, Phase::Paused);
        view.apply(&rec(
            2,
            Event::RunEnded {
                status: RunStatus::Stopped,
                reason: "user quit".into(),
            },
        ));
        assert_eq!(view.phase, Phase::Ended(RunStatus::Stopped));
        assert_eq!(view.journal_elapsed_ms(), 200);
        assert_eq!(view.started_unix_ms(), None);
        // A resumed run goes on, even without its `resumed` record.
        view.apply(&rec(3, Event::RoundStarted { round: 2 }));
        assert_eq!(view.phase, Phase::Running);
    }
}
