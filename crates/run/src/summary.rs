//! One fold of a journal into what a run came to: the views that list runs (`maia runs`,
//! batch status) read this instead of each keeping its own rules.
//!
//! The rules, in one place: the rounds are the highest round started (a resumed run may
//! start its interrupted round again); a `resumed` event clears the end (the run is going
//! again); cost and tokens add up over every assistant message; the last final answer
//! counts. Every event kind is named in [`RunSummary::add`], so a new kind is a compile
//! error here rather than silently ignored.

use crate::event::{Event, Record, RunStatus};

/// The answer a run gave.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Answer {
    /// The description.
    pub description: String,
    /// The short label (may be empty).
    pub label: String,
}

/// What a run's journal says it came to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunSummary {
    /// The run id recorded at its start.
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
    /// The highest round started.
    pub rounds: u32,
    /// Times the run was resumed.
    pub resumes: u32,
    /// Dollars over every assistant message.
    pub cost_usd: f64,
    /// Input (prompt) tokens over every assistant message.
    pub input_tokens: u64,
    /// Output tokens over every assistant message.
    pub output_tokens: u64,
    /// The last final answer.
    pub answer: Option<Answer>,
    /// How it ended and why; `None` while running (or killed before it could say).
    pub ended: Option<(RunStatus, String)>,
    /// Time of the first record (UNIX ms).
    pub first_ms: Option<u64>,
    /// Time of the last record (UNIX ms).
    pub last_ms: Option<u64>,
}

impl RunSummary {
    /// Folds records in order.
    pub fn fold<'a>(records: impl IntoIterator<Item = &'a Record>) -> RunSummary {
        let mut summary = RunSummary::default();
        for record in records {
            summary.add(record);
        }
        summary
    }

    /// Adds one record.
    pub fn add(&mut self, record: &Record) {
        self.first_ms.get_or_insert(record.t_ms);
        self.last_ms = Some(record.t_ms);
        match &record.event {
            Event::RunStarted {
                run_id,
                task,
                target,
                unit,
                backend,
                model,
                max_rounds: _,
                task_text: _,
            } => {
                self.run_id.clone_from(run_id);
                self.task.clone_from(task);
                self.target.clone_from(target);
                self.unit.clone_from(unit);
                self.backend.clone_from(backend);
                self.model.clone_from(model);
            }
            Event::Resumed { .. } => {
                self.resumes += 1;
                self.ended = None;
            }
            Event::RoundStarted { round } => self.rounds = self.rounds.max(*round),
            Event::AssistantMessage {
                usage, cost_usd, ..
            } => {
                self.cost_usd += cost_usd;
                self.input_tokens += usage.input_tokens;
                self.output_tokens += usage.output_tokens;
            }
            Event::FinalAnswer {
                description, label, ..
            } => {
                self.answer = Some(Answer {
                    description: description.clone(),
                    label: label.clone(),
                });
            }
            Event::Verification { candidates, .. } => {
                for candidate in candidates {
                    self.cost_usd += candidate.cost_usd;
                    self.input_tokens += candidate.usage.input_tokens;
                    self.output_tokens += candidate.usage.output_tokens;
                }
            }
            Event::ToolFinished { cost_usd, .. } => self.cost_usd += cost_usd,
            Event::RunEnded { status, reason } => self.ended = Some((*status, reason.clone())),
            Event::TextDelta { .. }
            | Event::ToolStarted { .. }
            | Event::InnerCall { .. }
            | Event::Note { .. }
            | Event::Nudge { .. }
            | Event::Paused { .. }
            | Event::Retry { .. }
            | Event::Warning { .. }
            | Event::ContextTrimmed { .. } => {}
        }
    }

    /// Input and output tokens together.
    pub fn tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }

    /// Milliseconds from the first record to the last.
    pub fn duration_ms(&self) -> Option<u64> {
        Some(self.last_ms?.saturating_sub(self.first_ms?))
    }

    /// `completed`, `stopped`, `limit`, `failed`, or `running?` when the journal has no end
    /// after its last start (still going, or its process was killed).
    pub fn status_label(&self) -> &'static str {
        self.ended.as_ref().map_or("running?", |(s, _)| s.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Usage;

    fn record(seq: u64, event: Event) -> Record {
        Record {
            seq,
            t_ms: 1000 + seq,
            event,
        }
    }

    #[test]
    fn rounds_are_the_highest_started_and_a_resume_clears_the_end() {
        let message = |cost: f64| Event::AssistantMessage {
            round: 1,
            text: String::new(),
            reasoning: String::new(),
            tool_calls: Vec::new(),
            usage: Usage {
                input_tokens: 10,
                output_tokens: 5,
            },
            cost_usd: cost,
        };
        let records = [
            record(0, Event::RoundStarted { round: 1 }),
            record(1, Event::RoundStarted { round: 2 }),
            record(2, message(0.5)),
            record(
                3,
                Event::RunEnded {
                    status: RunStatus::Stopped,
                    reason: "user".into(),
                },
            ),
            record(
                4,
                Event::Resumed {
                    completed_rounds: 1,
                },
            ),
            record(5, Event::RoundStarted { round: 2 }),
            record(6, message(0.25)),
        ];
        let s = RunSummary::fold(&records);
        assert_eq!((s.rounds, s.resumes, s.tokens()), (2, 1, 30));
        assert_eq!((s.input_tokens, s.output_tokens), (20, 10));
        assert!((s.cost_usd - 0.75).abs() < 1e-9);
        assert_eq!(s.status_label(), "running?");
        assert_eq!((s.first_ms, s.last_ms), (Some(1000), Some(1006)));
    }
}
