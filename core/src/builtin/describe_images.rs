//! `describe_images` and `summarize_images`: words for images, from a second model call
//! (MAIA's tools of the same names).

use super::describer::Describer;
use maia_plugin_sdk::{Host, ImageId, Manifest, Plugin, ToolCall, ToolError, ToolOutput, ToolSpec};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// Most images one call may take.
pub const MAX_IMAGES: usize = 16;

/// Both tools, over one describer.
pub struct DescribeImages {
    describer: Arc<dyn Describer>,
    describe_prompt: String,
    summarize_prompt: String,
}

impl DescribeImages {
    /// Tools using `describer`, with the instructions from `prompts/`.
    pub fn new(
        describer: Arc<dyn Describer>,
        describe_prompt: String,
        summarize_prompt: String,
    ) -> Self {
        DescribeImages {
            describer,
            describe_prompt,
            summarize_prompt,
        }
    }
}

#[derive(Deserialize)]
struct Args {
    image_ids: Vec<ImageId>,
}

fn schema(what: &str) -> serde_json::Value {
    json!({
        "type": "object",
        "properties": {
            "image_ids": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": MAX_IMAGES, "description": what}
        },
        "required": ["image_ids"],
        "additionalProperties": false
    })
}

impl Plugin for DescribeImages {
    fn manifest(&self) -> Manifest {
        Manifest::new(
            "builtin-describer",
            env!("CARGO_PKG_VERSION"),
            "Image descriptions from a second model",
        )
    }

    fn tools(&self) -> Vec<ToolSpec> {
        vec![
            ToolSpec::new(
                "describe_images",
                "Describes each image in one sentence (for masks, only the bright region where the unit fired). Use it to check what an image really shows.",
                schema("Images to describe, by id"),
            )
            .returns("one line per image: `ID: description`")
            .example(json!({"image_ids": ["img_3", "img_4"]})),
            ToolSpec::new(
                "summarize_images",
                "Says what a set of images has in common (e.g. the top exemplars). Use it to form hypotheses.",
                schema("Images to summarize, by id"),
            )
            .returns("one or two sentences")
            .example(json!({"image_ids": ["img_1", "img_2", "img_3"]})),
        ]
    }

    fn call(&mut self, call: &ToolCall, host: &mut dyn Host) -> Result<ToolOutput, ToolError> {
        let args: Args = call.parse_args()?;
        let images = args
            .image_ids
            .iter()
            .map(|id| host.image(id).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        let text = if call.name == "summarize_images" {
            self.describer.summarize(&self.summarize_prompt, &images)?
        } else {
            self.describer.describe(&self.describe_prompt, &images)?
        };
        Ok(ToolOutput::text(text))
    }
}
