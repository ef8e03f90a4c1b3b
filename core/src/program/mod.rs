//! `run_program`: the agent's experiment programs (MAIA 2.0's free-form code, made safe).
//! The program runs in the `maia-program` sandbox; every tool of the run's registry is a
//! function of the same name there, and each call it makes goes through the registry like
//! any other, is stored, and is reported to an observer (the agent journals it as an
//! [`Event::InnerCall`] under the program's call id). A resumed run hands the recorded
//! calls back ([`InnerRecord`]) so finished calls are not made again.

mod inner;
mod prompt;
mod spec;

pub use inner::InnerRecord;
pub use maia_program::{ErrorKind, Limits, ProgramError};
pub use prompt::{FUNCTIONS_HEADING, functions_doc, limits_doc};
pub use spec::{ProgramSpec, RUN_PROGRAM, program_tool_spec};

use crate::call_context::UnitCaller;
use crate::images::ImageStore;
use crate::tools::ToolRegistry;
use inner::Inner;
use maia_plugin_sdk::{ToolError, ToolOutput};
use maia_run::event::Event;
use serde_json::{Value, json};

/// Images one program may show the model.
pub const MAX_DISPLAYED: usize = 16;

/// Characters of printed output the model reads.
const PRINTED_CHARS: usize = 4_000;

/// Everything one program run needs.
pub struct ProgramRun<'a> {
    /// The run's tools (the program's functions).
    pub registry: &'a ToolRegistry,
    /// The run's images.
    pub store: &'a ImageStore,
    /// The target unit, if any.
    pub unit: Option<&'a dyn UnitCaller>,
    /// The program's own call id (inner calls are `<id>.1`, `<id>.2`, …).
    pub call_id: &'a str,
    /// Calls recorded by an earlier attempt at this same call (resume).
    pub replay: &'a [InnerRecord],
    /// The limits.
    pub limits: Limits,
}

impl ProgramRun<'_> {
    /// Runs `run_program`'s arguments (`{"code": "..."}`); `observer` sees each inner call
    /// made (not the replayed ones) as it finishes.
    pub fn run(
        &self,
        args: &Value,
        observer: &mut dyn FnMut(&InnerRecord),
    ) -> Result<ToolOutput, ToolError> {
        let code = args
            .get("code")
            .and_then(Value::as_str)
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| {
                ToolError::invalid_args("run_program needs `code`: the Python source to run")
            })?;
        let worker = maia_program::Worker::locate().map_err(ToolError::failed)?;
        let functions = self.functions();
        let mut host = Inner::new(self, observer);
        let finish = maia_program::run(&worker, code, &functions, &self.limits, &mut host);
        let (made, replayed, displayed) = host.finish();
        let calls = made + replayed;
        if let Some(error) = finish.error {
            let mut message = error.to_string();
            message.push_str(&format!(
                "\n(the program had made {calls} tool call{} before it stopped)",
                if calls == 1 { "" } else { "s" }
            ));
            if !finish.printed.is_empty() {
                message.push_str(&format!(
                    "\nprinted before it stopped:\n{}",
                    shorten(&finish.printed)
                ));
            }
            return Err(match error.kind {
                ErrorKind::Crash => ToolError::failed(message),
                _ => ToolError::invalid_args(message),
            });
        }
        let mut text = format!(
            "The program finished: {calls} tool call{}, {} image{} displayed.",
            if calls == 1 { "" } else { "s" },
            displayed.len(),
            if displayed.len() == 1 { "" } else { "s" }
        );
        if !finish.printed.is_empty() {
            text.push_str(&format!("\nprinted:\n{}", shorten(&finish.printed)));
        }
        if let Some(value) = &finish.value {
            text.push_str(&format!("\nvalue: {}", shorten(&value.to_string())));
        }
        Ok(ToolOutput {
            text,
            images: displayed,
            data: json!({
                "tool_calls": calls,
                "replayed": replayed,
                "printed": finish.printed,
                "value": finish.value,
            }),
        })
    }

    /// The functions a program can call: every tool but `run_program` and `final_answer`,
    /// plus `display`.
    fn functions(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .registry
            .tools()
            .map(|t| t.spec.name.clone())
            .filter(|n| n != RUN_PROGRAM && n != crate::agent::FINAL_ANSWER)
            .collect();
        names.push("display".into());
        names
    }
}

/// An inner call as the journal event.
pub fn inner_event(round: u32, parent: &str, record: &InnerRecord) -> Event {
    Event::InnerCall {
        round,
        parent: parent.to_owned(),
        index: record.index,
        name: record.name.clone(),
        args: record.args.clone(),
        error: record.error.clone(),
        text: record.text.clone(),
        images: record.images.clone(),
        data: record.data.clone(),
        elapsed_ms: record.elapsed_ms,
    }
}

fn shorten(text: &str) -> String {
    let text = text.trim_end();
    if text.chars().count() <= PRINTED_CHARS {
        return text.to_owned();
    }
    let kept: String = text.chars().take(PRINTED_CHARS).collect();
    format!(
        "{kept}\n… [{} more characters]",
        text.chars().count() - PRINTED_CHARS
    )
}
