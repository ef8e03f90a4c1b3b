//! `call_unit`: the target unit's activation on images, with a mask per image showing
//! where it fired (MAIA's `System.call_neuron`).

use crate::target::format_activation;
use maia_plugin_sdk::{Host, ImageId, Manifest, Plugin, ToolCall, ToolError, ToolOutput, ToolSpec};
use serde::Deserialize;
use serde_json::json;

/// Most images one call may take.
pub const MAX_IMAGES: usize = 64;

/// The `call_unit` tool.
#[derive(Default)]
pub struct CallUnit;

#[derive(Deserialize)]
struct Args {
    image_ids: Vec<ImageId>,
}

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
                json!({
                    "type": "object",
                    "properties": {
                        "image_ids": {
                            "type": "array",
                            "items": {"type": "string"},
                            "minItems": 1,
                            "maxItems": MAX_IMAGES,
                            "description": "Images to run the unit on, by id"
                        }
                    },
                    "required": ["image_ids"],
                    "additionalProperties": false
                }),
            )
            .returns("one line per image: id, activation, mask id; the masks as images")
            .example(json!({"image_ids": ["img_1", "img_2"]})),
        ]
    }

    fn call(&mut self, call: &ToolCall, host: &mut dyn Host) -> Result<ToolOutput, ToolError> {
        let args: Args = call.parse_args()?;
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
