//! The `run_program` tool's spec, and the provider that lists it. Its calls never reach
//! the provider: whoever runs tool calls (the agent, `maia call`) runs programs through
//! [`super::ProgramRun`], which needs the whole registry.

use maia_plugin_sdk::{Host, Manifest, Plugin, ToolCall, ToolError, ToolOutput, ToolSpec};
use serde_json::json;

/// The tool's name.
pub const RUN_PROGRAM: &str = "run_program";

/// The spec the agent sees.
pub fn program_tool_spec() -> ToolSpec {
    ToolSpec::new(
        RUN_PROGRAM,
        "Runs a Python program that composes the other tools: each tool is a function of the \
         same name taking keyword arguments (text2image(prompts=[...]), call_unit(image_ids=[...])) \
         and returning a dict with text, image_ids, images and data. display(image_ids, caption) \
         chooses the images you will see; print() output comes back; mean, median, stdev, \
         correlation and argsort are built in. No files, network or imports beyond math, re, \
         json, itertools, functools, collections.",
        json!({
            "type": "object",
            "properties": {
                "code": {"type": "string", "minLength": 1, "description": "Python source"}
            },
            "required": ["code"],
            "additionalProperties": false
        }),
    )
    .example(json!({"code": "r = text2image(prompts=['a red circle', 'a blue square'])\na = call_unit(image_ids=r['image_ids'])\nprint(a['text'])\ndisplay(r['image_ids'], 'probes')"}))
}

/// Lists `run_program` among the built-in tools.
#[derive(Default)]
pub struct ProgramSpec;

impl Plugin for ProgramSpec {
    fn manifest(&self) -> Manifest {
        Manifest::new(
            "builtin-run-program",
            env!("CARGO_PKG_VERSION"),
            "Runs experiment programs in a sandbox",
        )
    }

    fn tools(&self) -> Vec<ToolSpec> {
        vec![program_tool_spec()]
    }

    fn call(&mut self, _call: &ToolCall, _host: &mut dyn Host) -> Result<ToolOutput, ToolError> {
        Err(ToolError::failed(
            "run_program runs only where tool calls are journaled: in an agent run or `maia call`",
        ))
    }
}
