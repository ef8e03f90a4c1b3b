//! `final_answer`: how the agent ends a run (MAIA's `[DESCRIPTION]` / `[LABEL]`).

use maia_plugin_sdk::{Host, Manifest, Plugin, ToolCall, ToolError, ToolOutput, ToolSpec};
use serde::Deserialize;
use serde_json::json;

/// The `final_answer` tool.
#[derive(Default)]
pub struct FinalAnswer;

#[derive(Deserialize)]
struct Args {
    description: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    alternatives: Vec<String>,
}

impl Plugin for FinalAnswer {
    fn manifest(&self) -> Manifest {
        Manifest::new(
            "builtin-final-answer",
            env!("CARGO_PKG_VERSION"),
            "Ends a run with its answer",
        )
    }

    fn tools(&self) -> Vec<ToolSpec> {
        vec![
            ToolSpec::new(
                crate::agent::FINAL_ANSWER,
                "Ends the investigation with your conclusion. Call it alone, once you have tested your hypothesis against controls.",
                json!({
                    "type": "object",
                    "properties": {
                        "description": {"type": "string", "minLength": 1, "description": "One sentence: what makes the unit fire (join alternatives with 'or', exclusions with 'but not')"},
                        "label": {"type": "string", "description": "A short label, at most five words"},
                        "alternatives": {"type": "array", "items": {"type": "string"}, "description": "Other descriptions you still consider (scored beside yours when the run verifies answers)"}
                    },
                    "required": ["description", "label"],
                    "additionalProperties": false
                }),
            )
            .example(json!({"description": "red circles, of any size, on any background", "label": "red circles"})),
        ]
    }

    fn call(&mut self, call: &ToolCall, _host: &mut dyn Host) -> Result<ToolOutput, ToolError> {
        let args: Args = call.parse_args()?;
        let description = args.description.trim();
        if description.is_empty() {
            return Err(ToolError::invalid_args(
                "the description is empty: say in one sentence what makes the unit fire",
            ));
        }
        Ok(ToolOutput::text("Final answer recorded.")
            .with_data(json!({"description": description, "label": args.label.trim(), "alternatives": args.alternatives})))
    }
}
