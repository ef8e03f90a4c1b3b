//! Headless output: one plain line per event for logs and batch jobs (`tail -f`
//! friendly: no colour, no cursor movement, no control characters from model text), or
//! the records themselves as JSON lines (`--json`).
//!
//! Streamed text deltas are not printed (the round's `assistant_message` line carries
//! the text); everything else gets one line, prefixed with the event's time.

use crate::ui::wrap::{one_line, truncate};
use maia_core::agent::{Event, Record};

/// Longest free-text excerpt in a line.
const EXCERPT: usize = 160;
/// `t_ms` at or above this are UNIX milliseconds (printed as UTC time of day).
const UNIX_MS: u64 = 1_000_000_000_000;

/// The time prefix: `12:34:56` (UTC) for wall-clock stamps, `+1:02.3` for offsets.
fn stamp(t_ms: u64) -> String {
    if t_ms >= UNIX_MS {
        let s = (t_ms / 1000) % 86_400;
        format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        let s = t_ms / 1000;
        format!("+{}:{:02}.{}", s / 60, s % 60, (t_ms % 1000) / 100)
    }
}

/// `ok`, or `failed (KIND)`.
fn status(error: Option<&str>) -> String {
    match error {
        Some(kind) => format!("failed ({})", one_line(kind)),
        None => "ok".to_owned(),
    }
}

fn excerpt(text: &str) -> String {
    truncate(&one_line(text), EXCERPT)
}

/// One plain line for `record`, or `None` for events not worth a line of their own
/// (text deltas). Every line starts with the time and carries no control characters.
pub fn format_line(record: &Record) -> Option<String> {
    let body = match &record.event {
        Event::RunStarted {
            run_id,
            task,
            target,
            unit,
            backend,
            model,
            max_rounds,
            ..
        } => format!(
            "run {} started: {} {} on {} · {}/{} · up to {max_rounds} rounds",
            one_line(run_id),
            one_line(task),
            one_line(unit),
            one_line(target),
            one_line(backend),
            one_line(model)
        ),
        Event::Resumed { completed_rounds } => {
            format!("resumed after {completed_rounds} complete rounds")
        }
        Event::RoundStarted { round } => format!("round {round}"),
        Event::TextDelta { .. } => return None,
        Event::AssistantMessage {
            round,
            text,
            reasoning,
            tool_calls,
            usage,
            cost_usd,
        } => {
            let mut line = format!(
                "assistant r{round}: {} tok in, {} out, ${cost_usd:.4}",
                usage.input_tokens, usage.output_tokens
            );
            if !reasoning.is_empty() {
                line.push_str(&format!(", {} chars reasoning", reasoning.chars().count()));
            }
            if !tool_calls.is_empty() {
                let names: Vec<String> = tool_calls.iter().map(|c| one_line(&c.name)).collect();
                line.push_str(&format!(", calls {}", names.join(" ")));
            }
            if !text.trim().is_empty() {
                line.push_str(&format!(" · {}", excerpt(text)));
            }
            line
        }
        Event::ToolStarted {
            round, name, args, ..
        } => {
            let args = match args {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("→ r{round} {} {}", one_line(name), excerpt(&args))
        }
        Event::ToolFinished {
            round,
            name,
            error,
            text,
            images,
            elapsed_ms,
            ..
        } => {
            let mut line = format!(
                "← r{round} {} {} {elapsed_ms} ms",
                one_line(name),
                status(error.as_deref())
            );
            if !images.is_empty() {
                let list: Vec<String> = images
                    .iter()
                    .map(|i| match i.activation {
                        Some(a) => format!("{} {a:.2}", one_line(&i.id)),
                        None => one_line(&i.id),
                    })
                    .collect();
                line.push_str(&format!(
                    " · {} image{} [{}]",
                    images.len(),
                    if images.len() == 1 { "" } else { "s" },
                    truncate(&list.join(", "), EXCERPT)
                ));
            }
            if !text.trim().is_empty() {
                line.push_str(&format!(" · {}", excerpt(text)));
            }
            line
        }
        Event::InnerCall {
            round,
            index,
            name,
            error,
            text,
            images,
            elapsed_ms,
            ..
        } => {
            let mut line = format!(
                "  ↳ r{round} #{index} {} {} {elapsed_ms} ms",
                one_line(name),
                status(error.as_deref())
            );
            if !images.is_empty() {
                line.push_str(&format!(
                    " · {} image{}",
                    images.len(),
                    if images.len() == 1 { "" } else { "s" }
                ));
            }
            if !text.trim().is_empty() {
                line.push_str(&format!(" · {}", excerpt(text)));
            }
            line
        }
        Event::Verification {
            round,
            candidates,
            best,
            accepted,
        } => {
            let text = maia_core::agent::verify::describe(candidates, *best, *accepted);
            format!("verify r{round}: {}", excerpt(&text.replace('\n', " · ")))
        }
        Event::Note { text } => format!("note: {}", excerpt(text)),
        Event::Nudge { text } => format!("nudge: {}", excerpt(text)),
        Event::Paused { paused: true } => "paused".to_string(),
        Event::Paused { paused: false } => "running again".to_string(),
        Event::Retry {
            round,
            attempt,
            reason,
            wait_ms,
        } => format!(
            "retry r{round} attempt {attempt} failed: {}; next in {:.1} s",
            excerpt(reason),
            *wait_ms as f64 / 1000.0
        ),
        Event::Warning { text } => format!("warning: {}", excerpt(text)),
        Event::ContextTrimmed {
            step,
            messages,
            tokens_before,
            tokens_after,
            ..
        } => step.describe(*messages, *tokens_before, *tokens_after),
        Event::FinalAnswer {
            round,
            description,
            label,
        } => format!(
            "answer r{round}: {} — {}",
            one_line(label),
            one_line(description)
        ),
        Event::RunEnded { status, reason } => {
            format!("run {}: {}", status.as_str(), one_line(reason))
        }
    };
    Some(format!("{} {body}", stamp(record.t_ms)))
}

/// The record as one JSON line (no trailing newline), for `--json`.
pub fn json_line(record: &Record) -> serde_json::Result<String> {
    serde_json::to_string(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use maia_core::agent::{ImageRecord, RunStatus};

    fn at(t_ms: u64, event: Event) -> Record {
        Record {
            seq: 0,
            t_ms,
            event,
        }
    }

    #[test]
    fn deltas_are_suppressed_and_lines_are_plain() {
        let delta = at(
            0,
            Event::TextDelta {
                round: 1,
                text: "x".into(),
                reasoning: false,
            },
        );
        assert_eq!(format_line(&delta), None);
        let note = at(
            1_764_000_000_000,
            Event::Note {
                text: "try\x1b[31m blue\nnow".into(),
            },
        );
        let line = format_line(&note).expect("a line");
        assert!(!line.contains('\x1b') && !line.contains('\n'), "{line:?}");
        assert!(line.ends_with("note: try\u{FFFD}[31m blue now"), "{line}");
        assert!(line.starts_with("16:00:00 "), "{line}");
    }

    #[test]
    fn tool_results_list_images_with_activations() {
        let r = at(
            61_500,
            Event::ToolFinished {
                round: 2,
                call_id: "c".into(),
                name: "call_unit".into(),
                error: None,
                text: "activations".into(),
                images: vec![ImageRecord {
                    id: "img_3".into(),
                    hash: "h".into(),
                    caption: "c".into(),
                    activation: Some(0.914),
                }],
                data: serde_json::Value::Null,
                elapsed_ms: 12,
                cost_usd: 0.0,
            },
        );
        assert_eq!(
            format_line(&r).as_deref(),
            Some("+1:01.5 ← r2 call_unit ok 12 ms · 1 image [img_3 0.91] · activations")
        );
        let end = at(
            0,
            Event::RunEnded {
                status: RunStatus::Completed,
                reason: "answered".into(),
            },
        );
        assert_eq!(
            format_line(&end).as_deref(),
            Some("+0:00.0 run completed: answered")
        );
        assert!(
            json_line(&end)
                .expect("json")
                .contains("\"type\":\"run_ended\"")
        );
    }
}
