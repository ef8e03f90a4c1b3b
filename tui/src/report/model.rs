//! A run's journal folded into what the page shows: the header facts, the task, the
//! rounds with their messages, tool calls and interjections in journal order, and the
//! answer. Pure data, no I/O: [`RunReport::from_records`] takes the records
//! [`maia_core::agent::journal::read_journal`] returned.

use maia_core::agent::summary::RunSummary;
use maia_core::agent::{Event, ImageRecord, Record, RunStatus};
use serde_json::Value;

/// Everything the page shows about a run, in the order it happened.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunReport {
    /// The run id (the folder name).
    pub run_id: String,
    /// What `run_started` said; `None` for a journal that lacks it (empty or damaged).
    pub started: Option<RunStart>,
    /// Events before the first round (a note typed before the model answered).
    pub preamble: Vec<Item>,
    /// The rounds, in journal order. A round redone after a resume appears twice.
    pub rounds: Vec<Round>,
    /// The final answer, when one was given.
    pub answer: Option<Answer>,
    /// What the run came to (rounds, resumes, tokens, cost, how it ended, when): the one
    /// fold every view shares ([`RunSummary`]).
    pub summary: RunSummary,
    /// Bytes of a torn last journal line that was left out.
    pub torn_bytes: u64,
    /// Where the journal is damaged (a line in the middle that is not a record): the
    /// report shows what precedes it.
    pub damage: Option<String>,
    /// Records of event kinds this build does not know (`type` at line N), left out.
    pub unknown: Vec<String>,
}

/// The facts of `run_started`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunStart {
    /// Task name (`describe-unit`, `find-bias`).
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
    /// The task as the model first read it.
    pub task_text: String,
}

/// Where the run stands.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum RunState {
    /// No `run_ended` after the last start: running now, or killed (resumable).
    #[default]
    InProgress,
    /// Ended, with the reason in words.
    Ended(RunStatus, String),
}

impl RunState {
    /// `completed`, `stopped`, `limit`, `failed` or `in progress`.
    pub fn label(&self) -> &'static str {
        match self {
            RunState::InProgress => "in progress",
            RunState::Ended(status, _) => status.as_str(),
        }
    }
}

/// One model round and what followed it until the next round began.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Round {
    /// 1-based round number.
    pub number: u32,
    /// When it began (UNIX ms).
    pub started_ms: u64,
    /// Streamed text that never became a whole message (the run is in progress or died
    /// mid-reply); empty once the round's message is in.
    pub partial_text: String,
    /// Streamed reasoning of the same kind.
    pub partial_reasoning: String,
    /// What happened in the round, in order.
    pub items: Vec<Item>,
}

impl Round {
    /// The tool calls of the round.
    pub fn calls(&self) -> impl Iterator<Item = &ToolCall> {
        self.items.iter().filter_map(|item| match item {
            Item::Call(call) => Some(call),
            _ => None,
        })
    }

    fn has_message(&self) -> bool {
        self.items.iter().any(|i| matches!(i, Item::Message(_)))
    }
}

/// One thing in a round, in journal order.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// The model's reply.
    Message(Message),
    /// A tool call and (once finished) its result.
    Call(ToolCall),
    /// A note the human typed.
    Note(String),
    /// A message maia sent the model on its own.
    Nudge(String),
    /// `--verify`: candidate answers scored on fresh images.
    Verification(String),
    /// Something not fatal the user should know.
    Warning(String),
    /// A failed model request that was retried.
    Retry {
        /// Attempt that failed (1-based).
        attempt: u32,
        /// What went wrong.
        reason: String,
        /// Milliseconds until the next attempt.
        wait_ms: u64,
    },
    /// Paused (`true`) or running again (`false`).
    Paused(bool),
    /// `maia resume` picked the run up, with this many rounds complete.
    Resumed(u32),
    /// The run (or one process working on it) ended.
    Ended(RunStatus, String),
}

/// The model's whole reply for a round.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Message {
    /// Visible text.
    pub text: String,
    /// Reasoning text.
    pub reasoning: String,
    /// Prompt tokens of the request.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Dollars.
    pub cost_usd: f64,
}

/// A tool call.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    /// Call id.
    pub call_id: String,
    /// Tool name.
    pub name: String,
    /// Arguments: parsed JSON, or the raw text as a string when it was not JSON.
    pub args: Value,
    /// The result, once the call finished.
    pub result: Option<ToolResult>,
    /// The calls a program (`run_program`) made, in order.
    pub inner: Vec<ToolCall>,
}

/// What a tool call returned.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolResult {
    /// Error kind, when it failed.
    pub error: Option<String>,
    /// The text the model saw.
    pub text: String,
    /// Images produced.
    pub images: Vec<ImageRecord>,
    /// Structured data.
    pub data: Value,
    /// Milliseconds the call took.
    pub elapsed_ms: u64,
}

/// The agent's answer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Answer {
    /// Round it was given in.
    pub round: u32,
    /// What the unit does.
    pub description: String,
    /// A short label.
    pub label: String,
}

impl RunReport {
    /// Folds a journal's records into a report.
    pub fn from_records(run_id: impl Into<String>, records: &[Record], torn_bytes: u64) -> Self {
        let mut report = RunReport {
            run_id: run_id.into(),
            torn_bytes,
            ..RunReport::default()
        };
        for record in records {
            report.add(record);
        }
        report
    }

    /// Rounds begun.
    pub fn round_count(&self) -> u32 {
        self.rounds.iter().map(|r| r.number).max().unwrap_or(0)
    }

    /// Milliseconds from the first record to the last.
    pub fn duration_ms(&self) -> Option<u64> {
        self.summary.duration_ms()
    }

    /// How the run ended, or [`RunState::InProgress`] when the journal has no end after its
    /// last (re)start.
    pub fn state(&self) -> RunState {
        match &self.summary.ended {
            Some((status, reason)) => RunState::Ended(*status, reason.clone()),
            None => RunState::InProgress,
        }
    }

    /// Every image of every tool result, in page order.
    pub fn images(&self) -> impl Iterator<Item = &ImageRecord> {
        self.rounds
            .iter()
            .flat_map(|r| r.calls())
            .flat_map(|c| c.inner.iter().chain(std::iter::once(c)))
            .filter_map(|c| c.result.as_ref())
            .flat_map(|r| r.images.iter())
    }

    /// Where the next item goes: the current round, or the preamble before any round.
    fn items(&mut self) -> &mut Vec<Item> {
        match self.rounds.last_mut() {
            Some(round) => &mut round.items,
            None => &mut self.preamble,
        }
    }

    fn add(&mut self, record: &Record) {
        self.summary.add(record);
        match &record.event {
            Event::RunStarted {
                task,
                target,
                unit,
                backend,
                model,
                max_rounds,
                task_text,
                ..
            } => {
                self.started = Some(RunStart {
                    task: task.clone(),
                    target: target.clone(),
                    unit: unit.clone(),
                    backend: backend.clone(),
                    model: model.clone(),
                    max_rounds: *max_rounds,
                    task_text: task_text.clone(),
                });
            }
            Event::Resumed { completed_rounds } => {
                self.items().push(Item::Resumed(*completed_rounds));
            }
            Event::RoundStarted { round } => {
                self.rounds.push(Round {
                    number: *round,
                    started_ms: record.t_ms,
                    ..Round::default()
                });
            }
            Event::TextDelta {
                round,
                text,
                reasoning,
            } => {
                if let Some(r) = self
                    .rounds
                    .last_mut()
                    .filter(|r| r.number == *round && !r.has_message())
                {
                    if *reasoning {
                        r.partial_reasoning.push_str(text);
                    } else {
                        r.partial_text.push_str(text);
                    }
                }
            }
            Event::AssistantMessage {
                text,
                reasoning,
                usage,
                cost_usd,
                ..
            } => {
                if let Some(r) = self.rounds.last_mut() {
                    r.partial_text.clear();
                    r.partial_reasoning.clear();
                }
                self.items().push(Item::Message(Message {
                    text: text.clone(),
                    reasoning: reasoning.clone(),
                    input_tokens: usage.input_tokens,
                    output_tokens: usage.output_tokens,
                    cost_usd: *cost_usd,
                }));
            }
            Event::ToolStarted {
                call_id,
                name,
                args,
                ..
            } => {
                self.items().push(Item::Call(ToolCall {
                    call_id: call_id.clone(),
                    name: name.clone(),
                    args: args.clone(),
                    result: None,
                    inner: Vec::new(),
                }));
            }
            Event::ToolFinished {
                call_id,
                name,
                error,
                text,
                images,
                data,
                elapsed_ms,
                ..
            } => {
                let result = ToolResult {
                    error: error.clone(),
                    text: text.clone(),
                    images: images.clone(),
                    data: data.clone(),
                    elapsed_ms: *elapsed_ms,
                };
                let items = self.items();
                let pending = items.iter_mut().rev().find_map(|item| match item {
                    Item::Call(call) if call.call_id == *call_id && call.result.is_none() => {
                        Some(call)
                    }
                    _ => None,
                });
                match pending {
                    Some(call) => call.result = Some(result),
                    // A result without its start (a journal cut in between): show it alone.
                    None => items.push(Item::Call(ToolCall {
                        call_id: call_id.clone(),
                        name: name.clone(),
                        args: Value::Null,
                        result: Some(result),
                        inner: Vec::new(),
                    })),
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
                let inner = ToolCall {
                    call_id: format!("{parent}.{index}"),
                    name: name.clone(),
                    args: args.clone(),
                    result: Some(ToolResult {
                        error: error.clone(),
                        text: text.clone(),
                        images: images.clone(),
                        data: data.clone(),
                        elapsed_ms: *elapsed_ms,
                    }),
                    inner: Vec::new(),
                };
                let program = self.items().iter_mut().rev().find_map(|item| match item {
                    Item::Call(call) if call.call_id == *parent => Some(call),
                    _ => None,
                });
                match program {
                    Some(program) => program.inner.push(inner),
                    None => self.items().push(Item::Call(inner)),
                }
            }
            Event::Verification {
                candidates,
                best,
                accepted,
                ..
            } => {
                let text = maia_core::agent::verify::describe(candidates, *best, *accepted);
                self.items().push(Item::Verification(text));
            }
            Event::Note { text } => self.items().push(Item::Note(text.clone())),
            Event::Nudge { text } => self.items().push(Item::Nudge(text.clone())),
            Event::Warning { text } => self.items().push(Item::Warning(text.clone())),
            Event::ContextTrimmed {
                step,
                messages,
                tokens_before,
                tokens_after,
                ..
            } => self.items().push(Item::Warning(step.describe(
                *messages,
                *tokens_before,
                *tokens_after,
            ))),
            Event::Retry {
                attempt,
                reason,
                wait_ms,
                ..
            } => self.items().push(Item::Retry {
                attempt: *attempt,
                reason: reason.clone(),
                wait_ms: *wait_ms,
            }),
            Event::Paused { paused } => self.items().push(Item::Paused(*paused)),
            Event::FinalAnswer {
                round,
                description,
                label,
            } => {
                self.answer = Some(Answer {
                    round: *round,
                    description: description.clone(),
                    label: label.clone(),
                });
            }
            Event::RunEnded { status, reason } => {
                self.items().push(Item::Ended(*status, reason.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use maia_core::llm::{RequestedToolCall, Usage};

    fn rec(seq: u64, event: Event) -> Record {
        Record {
            seq,
            t_ms: 1000 + seq * 10,
            event,
        }
    }

    fn started() -> Event {
        Event::RunStarted {
            run_id: "r".into(),
            task: "describe-unit".into(),
            target: "synthetic:red_and_circle".into(),
            unit: "synthetic:0".into(),
            backend: "offline".into(),
            model: "m".into(),
            max_rounds: 5,
            task_text: "describe it".into(),
        }
    }

    #[test]
    fn calls_get_their_results_and_interjections_stay_in_order() {
        let records = vec![
            rec(0, started()),
            rec(
                1,
                Event::Note {
                    text: "early".into(),
                },
            ),
            rec(2, Event::RoundStarted { round: 1 }),
            rec(
                3,
                Event::TextDelta {
                    round: 1,
                    text: "thinking".into(),
                    reasoning: false,
                },
            ),
            rec(
                4,
                Event::AssistantMessage {
                    round: 1,
                    text: "look".into(),
                    reasoning: String::new(),
                    tool_calls: vec![RequestedToolCall {
                        id: "c1".into(),
                        name: "t".into(),
                        arguments: "{}".into(),
                    }],
                    usage: Usage {
                        input_tokens: 10,
                        output_tokens: 5,
                    },
                    cost_usd: 0.5,
                },
            ),
            rec(
                5,
                Event::ToolStarted {
                    round: 1,
                    call_id: "c1".into(),
                    name: "t".into(),
                    args: serde_json::json!({"k": 1}),
                },
            ),
            rec(
                6,
                Event::Warning {
                    text: "careful".into(),
                },
            ),
            rec(
                7,
                Event::ToolFinished {
                    round: 1,
                    call_id: "c1".into(),
                    name: "t".into(),
                    error: None,
                    text: "ok".into(),
                    images: vec![],
                    data: Value::Null,
                    elapsed_ms: 3,
                    cost_usd: 0.0,
                },
            ),
            rec(
                8,
                Event::FinalAnswer {
                    round: 1,
                    description: "d".into(),
                    label: "l".into(),
                },
            ),
            rec(
                9,
                Event::RunEnded {
                    status: RunStatus::Completed,
                    reason: "answered".into(),
                },
            ),
        ];
        let report = RunReport::from_records("r", &records, 0);
        assert_eq!(report.preamble, vec![Item::Note("early".into())]);
        assert_eq!(report.rounds.len(), 1);
        let round = &report.rounds[0];
        assert!(
            round.partial_text.is_empty(),
            "the whole message replaces the streamed text"
        );
        assert!(matches!(&round.items[0], Item::Message(m) if m.text == "look"));
        assert!(
            matches!(&round.items[1], Item::Call(c) if c.result.as_ref().is_some_and(|r| r.text == "ok"))
        );
        assert_eq!(round.items[2], Item::Warning("careful".into()));
        assert_eq!(
            report.state(),
            RunState::Ended(RunStatus::Completed, "answered".into())
        );
        assert_eq!(
            (report.summary.input_tokens, report.summary.output_tokens),
            (10, 5)
        );
        assert_eq!(report.answer.as_ref().map(|a| a.label.as_str()), Some("l"));
        assert_eq!(report.duration_ms(), Some(90));
    }

    #[test]
    fn a_programs_inner_calls_nest_under_it_with_their_images() {
        let image = ImageRecord {
            id: "img_4".into(),
            hash: "h4".into(),
            caption: "made inside".into(),
            activation: Some(0.5),
        };
        let records = vec![
            rec(0, started()),
            rec(1, Event::RoundStarted { round: 1 }),
            rec(
                2,
                Event::ToolStarted {
                    round: 1,
                    call_id: "p".into(),
                    name: "run_program".into(),
                    args: serde_json::json!({"code": "x = 1"}),
                },
            ),
            rec(
                3,
                Event::InnerCall {
                    round: 1,
                    parent: "p".into(),
                    index: 1,
                    name: "text2image".into(),
                    args: serde_json::json!({"prompts": ["x"]}),
                    error: None,
                    text: "1 image".into(),
                    images: vec![image.clone()],
                    data: Value::Null,
                    elapsed_ms: 4,
                },
            ),
            rec(
                4,
                Event::ToolFinished {
                    round: 1,
                    call_id: "p".into(),
                    name: "run_program".into(),
                    error: None,
                    text: "The program finished".into(),
                    images: Vec::new(),
                    data: Value::Null,
                    elapsed_ms: 9,
                    cost_usd: 0.0,
                },
            ),
        ];
        let report = RunReport::from_records("r", &records, 0);
        let Item::Call(program) = &report.rounds[0].items[0] else {
            panic!("not a call: {:?}", report.rounds[0].items);
        };
        assert_eq!(report.rounds[0].items.len(), 1);
        assert!(program.result.is_some());
        assert_eq!(program.inner.len(), 1);
        assert_eq!(program.inner[0].call_id, "p.1");
        assert_eq!(program.inner[0].name, "text2image");
        assert_eq!(report.images().collect::<Vec<_>>(), [&image]);
    }

    #[test]
    fn a_run_without_an_end_after_its_resume_is_in_progress() {
        let records = vec![
            rec(0, started()),
            rec(1, Event::RoundStarted { round: 1 }),
            rec(
                2,
                Event::RunEnded {
                    status: RunStatus::Stopped,
                    reason: "user".into(),
                },
            ),
            rec(
                3,
                Event::Resumed {
                    completed_rounds: 0,
                },
            ),
            rec(4, Event::RoundStarted { round: 1 }),
            rec(
                5,
                Event::TextDelta {
                    round: 1,
                    text: "half a tho".into(),
                    reasoning: false,
                },
            ),
        ];
        let report = RunReport::from_records("r", &records, 12);
        assert_eq!(report.state(), RunState::InProgress);
        assert_eq!(report.state().label(), "in progress");
        assert_eq!(report.rounds.len(), 2);
        assert_eq!(report.rounds[1].partial_text, "half a tho");
        assert_eq!(report.summary.resumes, 1);
        assert_eq!(report.torn_bytes, 12);
    }
}
