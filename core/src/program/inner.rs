//! A program's calls: served through the registry, stored, recorded — or replayed from an
//! earlier attempt's records when the program asks for exactly the same call again.

use super::{MAX_DISPLAYED, ProgramRun, RUN_PROGRAM};
use crate::agent::tool_calls::{activation_of, call_tool};
use maia_plugin_sdk::{Image, ImageId, ToolCall};
use maia_program::ProgramHost;
use maia_run::event::ImageRecord;
use serde_json::{Value, json};
use std::time::Instant;

/// One call a program made, as journaled.
#[derive(Clone, Debug, PartialEq)]
pub struct InnerRecord {
    /// 1-based position among the program's calls.
    pub index: u32,
    /// Tool name.
    pub name: String,
    /// Arguments.
    pub args: Value,
    /// Error kind, or `None`.
    pub error: Option<String>,
    /// The tool's text (the error message when it failed).
    pub text: String,
    /// Images produced.
    pub images: Vec<ImageRecord>,
    /// Structured data.
    pub data: Value,
    /// Milliseconds the call took.
    pub elapsed_ms: u64,
}

impl InnerRecord {
    /// What the program receives for this call.
    fn value(&self) -> Value {
        json!({
            "text": self.text,
            "image_ids": self.images.iter().map(|i| i.id.clone()).collect::<Vec<_>>(),
            "images": self.images.iter().map(|i| json!({"id": i.id, "caption": i.caption, "activation": i.activation})).collect::<Vec<_>>(),
            "data": self.data,
        })
    }
}

/// The host a running program calls.
pub(super) struct Inner<'a, 'o> {
    run: &'a ProgramRun<'a>,
    observer: &'o mut dyn FnMut(&InnerRecord),
    next: u32,
    made: u32,
    replayed: u32,
    displayed: Vec<Image>,
}

impl<'a, 'o> Inner<'a, 'o> {
    pub(super) fn new(run: &'a ProgramRun<'a>, observer: &'o mut dyn FnMut(&InnerRecord)) -> Self {
        Inner {
            run,
            observer,
            next: 0,
            made: 0,
            replayed: 0,
            displayed: Vec::new(),
        }
    }

    /// Calls made, calls replayed, images displayed.
    pub(super) fn finish(self) -> (u32, u32, Vec<Image>) {
        (self.made, self.replayed, self.displayed)
    }

    fn display(&mut self, args: &Value) -> Result<Value, String> {
        let ids: Vec<String> = match &args["image_ids"] {
            Value::String(id) => vec![id.clone()],
            Value::Array(ids) => ids
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or("display() takes image ids (strings such as 'img_3')")?,
            _ => return Err("display(image_ids, caption=None) needs a list of image ids".into()),
        };
        let caption = args.get("caption").and_then(Value::as_str);
        for id in ids {
            if self.displayed.iter().any(|shown| shown.id.as_str() == id) {
                continue;
            }
            if self.displayed.len() >= MAX_DISPLAYED {
                return Err(format!(
                    "display() shows at most {MAX_DISPLAYED} images per program; choose the telling ones"
                ));
            }
            let stored = self
                .run
                .store
                .get_or_error(&ImageId(id.clone()))
                .map_err(|e| e.message)?;
            let mut image = (*stored).clone();
            if let Some(caption) = caption {
                image.caption = format!("{caption} — {}", image.caption);
            }
            self.displayed.push(image);
        }
        Ok(Value::Null)
    }
}

impl ProgramHost for Inner<'_, '_> {
    fn call(&mut self, name: &str, args: Value) -> Result<Value, String> {
        if name == "display" {
            return self.display(&args);
        }
        if name == RUN_PROGRAM || name == crate::agent::FINAL_ANSWER {
            return Err(format!(
                "{name} cannot be called from a program; call it as a tool"
            ));
        }
        self.next += 1;
        let index = self.next;
        if let Some(recorded) = self.run.replay.iter().find(|r| r.index == index)
            && recorded.name == name
            && recorded.args == args
            && recorded.error.is_none()
        {
            self.replayed += 1;
            return Ok(recorded.value());
        }
        let started = Instant::now();
        let call = ToolCall::new(format!("{}.{index}", self.run.call_id), name, args.clone());
        // A program's calls are plain tool calls: `run_program` itself is refused above.
        let result = call_tool(
            self.run.registry,
            self.run.store,
            self.run.unit,
            &call,
            &[],
            &mut |_| {},
        );
        let elapsed_ms = started.elapsed().as_millis() as u64;
        self.made += 1;
        let record = match &result {
            Ok(output) => InnerRecord {
                index,
                name: name.to_owned(),
                args,
                error: None,
                text: output.text.clone(),
                images: output
                    .images
                    .iter()
                    .map(|img| ImageRecord {
                        id: img.id.to_string(),
                        hash: self
                            .run
                            .store
                            .get(&img.id)
                            .map(|s| s.hash)
                            .unwrap_or_default(),
                        caption: img.caption.clone(),
                        activation: activation_of(&output.data, img.id.as_str()),
                    })
                    .collect(),
                data: output.data.clone(),
                elapsed_ms,
            },
            Err(e) => InnerRecord {
                index,
                name: name.to_owned(),
                args,
                error: Some(e.kind.as_str().to_owned()),
                text: e.message.clone(),
                images: Vec::new(),
                data: Value::Null,
                elapsed_ms,
            },
        };
        (self.observer)(&record);
        match result {
            Ok(_) => Ok(record.value()),
            Err(e) => Err(format!(
                "{name} failed ({}): {}",
                e.kind.as_str(),
                e.message
            )),
        }
    }
}
