//! The program-mode prompt: what programs can call, generated from the run's tool specs
//! so plugin tools appear with their arguments.

use super::RUN_PROGRAM;
use crate::tools::{ToolRegistry, summarize_schema};
use maia_program::{ALLOWED_MODULES, HELPERS, Limits};

/// The line that opens the list of program functions in the system prompt; each function
/// follows on its own line as ``- `name(arguments)`: what it does``.
pub const FUNCTIONS_HEADING: &str = "Functions available in programs:";

/// The list of functions programs can call: every tool but `run_program` and
/// `final_answer` (keyword arguments, from its schema), then `display` and the helpers.
pub fn functions_doc(registry: &ToolRegistry) -> String {
    let mut lines = vec![FUNCTIONS_HEADING.to_owned()];
    for tool in registry.tools() {
        let name = tool.spec.name.as_str();
        if name == RUN_PROGRAM || name == crate::agent::FINAL_ANSWER {
            continue;
        }
        let first_sentence = tool
            .spec
            .description
            .split_inclusive(". ")
            .next()
            .unwrap_or_default()
            .trim();
        let summary = summarize_schema(&tool.spec.parameters);
        let arguments = summary
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .unwrap_or(&summary);
        lines.push(format!("- `{name}({arguments})`: {first_sentence}"));
    }
    lines.push(
        "- `display(image_ids, caption=None)`: shows these images to you with the program's \
         result (at most 16 per program)"
            .to_owned(),
    );
    for (_, signature) in HELPERS {
        lines.push(format!("- `{signature}`"));
    }
    lines.join("\n")
}

/// The limits and the import allow-list, as the prompt states them.
pub fn limits_doc(limits: &Limits) -> String {
    format!(
        "Each program may run {:.0} s of its own code, {:.0} s in all, make {} tool calls, and \
         import only {}. Files, the network and the environment are out of reach.",
        limits.cpu().as_secs_f64(),
        limits.wall().as_secs_f64(),
        limits.tool_calls,
        ALLOWED_MODULES.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::FinalAnswer;
    use crate::program::ProgramSpec;
    use crate::tools::InProcess;
    use maia_plugin_sdk::{Host, Manifest, Plugin, ToolCall, ToolError, ToolOutput, ToolSpec};
    use serde_json::json;

    struct Crop;

    impl Plugin for Crop {
        fn manifest(&self) -> Manifest {
            Manifest::new("crop", "0.1.0", "crops")
        }
        fn tools(&self) -> Vec<ToolSpec> {
            vec![ToolSpec::new(
                "crop",
                "Crops images. Keeps the centre.",
                json!({"type": "object", "properties": {"image_ids": {"type": "array", "items": {"type": "string"}}, "fraction": {"type": "number"}}, "required": ["image_ids"]}),
            )]
        }
        fn call(&mut self, _: &ToolCall, _: &mut dyn Host) -> Result<ToolOutput, ToolError> {
            Ok(ToolOutput::text("cropped"))
        }
    }

    #[test]
    fn plugin_tools_appear_with_their_arguments_and_the_run_tools_do_not() {
        let mut registry = ToolRegistry::new();
        for provider in [
            Box::new(InProcess::new(Crop)) as Box<dyn crate::tools::ToolProvider>,
            Box::new(InProcess::new(FinalAnswer)),
            Box::new(InProcess::new(ProgramSpec)),
        ] {
            assert!(registry.register(provider).is_ok());
        }
        let doc = functions_doc(&registry);
        let lines: Vec<&str> = doc.lines().collect();
        assert_eq!(lines[0], FUNCTIONS_HEADING);
        assert!(
            lines[1].starts_with("- `crop(fraction?: number, image_ids: [string])`"),
            "{doc}"
        );
        assert!(lines[1].ends_with("Crops images."), "{doc}");
        assert!(
            !doc.contains("final_answer(") && !doc.contains("run_program("),
            "{doc}"
        );
        assert!(
            doc.contains("- `display(image_ids, caption=None)`"),
            "{doc}"
        );
        assert!(doc.contains("- `argsort(xs, descending=False)"), "{doc}");
    }
}
