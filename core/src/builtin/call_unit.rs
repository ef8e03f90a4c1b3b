//! `call_unit`: the target unit's activation on images, with a mask per image showing
//! where it fired (MAIA's `System.call_neuron`).

use crate::target::format_activation;
use maia_plugin_sdk::contracts::CallUnitArgs;
use maia_plugin_sdk::{Host, Manifest, Plugin, ToolCall, ToolError, ToolOutput, ToolSpec};
use serde_json::json;

/// The `call_unit` tool.
#[derive(Default)]
pub struct CallUnit;

impl Plugin for CallUnit {
    fn manifest(&self) -> Manifest {
        Manifest::new(
            "builtin",
            env!("CARGO_PKG_VERSION"),
            "Tools built into maia",
        )
    }

    fn tools(&self) -> Vec<ToolSpec> {
        vec![
            ToolSpec::new(
                "call_unit",
                "Runs the target unit on images and returns its activation on each (the spatial max of its map) and a mask image that dims everything except where it fired most. Use it to test a hypothesis on images you made.",
                CallUnitArgs::schema(),
            )
            .returns("one line per image: id, activation, mask id; the masks as images; data[] holds image, activation and mask per image")
            .example(json!({"image_ids": ["img_1", "img_2"]})),
        ]
    }

    fn call(&mut self, call: &ToolCall, host: &mut dyn Host) -> Result<ToolOutput, ToolError> {
        let args: CallUnitArgs = call.parse_args()?;
        let results = host.call_unit(&args.image_ids)?;
        let mut lines = Vec::with_capacity(results.len());
        let mut output = ToolOutput::default();
        for r in &results {
            match &r.mask {
                Some(mask) => {
                    lines.push(format!(
                        "{}: activation {} (mask {mask})",
                        r.image,
                        format_activation(r.activation)
                    ));
                    output.images.push(host.image(mask)?);
                }
                None => lines.push(format!(
                    "{}: activation {}",
                    r.image,
                    format_activation(r.activation)
                )),
            }
        }
        output.text = lines.join("\n");
        output.data = json!(results);
        Ok(output)
    }
}
