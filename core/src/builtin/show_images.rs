//! `show_images`: brings images back into view by id, such as those a long run stopped
//! sending to keep within the model's context (see [`crate::agent::context_budget`]).

use maia_plugin_sdk::{Host, ImageId, Manifest, Plugin, ToolCall, ToolError, ToolOutput, ToolSpec};
use serde::Deserialize;
use serde_json::json;

/// Most images one call shows.
const MAX_IMAGES: usize = 8;

/// The `show_images` tool.
#[derive(Default)]
pub struct ShowImages;

#[derive(Deserialize)]
struct Args {
    image_ids: Vec<ImageId>,
}

impl Plugin for ShowImages {
    fn manifest(&self) -> Manifest {
        Manifest::new(
            "builtin-show-images",
            env!("CARGO_PKG_VERSION"),
            "Shows earlier images again",
        )
    }

    fn tools(&self) -> Vec<ToolSpec> {
        vec![
            ToolSpec::new(
                "show_images",
                "Shows earlier images again, by id (for example images no longer shown to keep within your context).",
                json!({
                    "type": "object",
                    "properties": {
                        "image_ids": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": MAX_IMAGES, "description": "Images to show, by id"}
                    },
                    "required": ["image_ids"],
                    "additionalProperties": false
                }),
            )
            .returns("the images, each with its caption")
            .example(json!({"image_ids": ["img_3", "img_4"]})),
        ]
    }

    fn call(&mut self, call: &ToolCall, host: &mut dyn Host) -> Result<ToolOutput, ToolError> {
        let args: Args = call.parse_args()?;
        let mut lines = Vec::with_capacity(args.image_ids.len());
        let mut images = Vec::with_capacity(args.image_ids.len());
        for id in &args.image_ids {
            let image = host.image(id)?;
            lines.push(format!("{id}: {}", image.caption));
            images.push(image);
        }
        let mut output = ToolOutput::text(lines.join("\n"));
        output.images = images;
        Ok(output)
    }
}
