//! `text2image` and `edit_images`: the image makers' arguments and results.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{MAX_IMAGES_PER_CALL, MAX_SIDE, MIN_SIDE, ToolWarning, schema_of};
use crate::ImageId;

/// Arguments of `text2image`: one image per prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Text2ImageArgs {
    /// The prompts, one per image, in the order the images come back.
    #[schemars(
        length(min = 1, max = MAX_IMAGES_PER_CALL),
        description = "One prompt per image (1 to 64), each an English description of one scene of at most 1000 characters; images come back in this order"
    )]
    pub prompts: Vec<String>,
    /// The seed every prompt uses; [`DEFAULT_SEED`](super::DEFAULT_SEED) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        description = "Drives whatever the prompts leave open (exact layout, unnamed details); every prompt uses it. The same prompt and seed give the same image. Default 0"
    )]
    pub seed: Option<u64>,
    /// Side of the square images in pixels; the tool's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        range(min = MIN_SIDE, max = MAX_SIDE),
        description = "Side of the square images in pixels (32 to 512). Default 224"
    )]
    pub size: Option<u32>,
}

impl Text2ImageArgs {
    /// Arguments for `prompts` with the given seed and the tool's default size.
    pub fn new(prompts: Vec<String>, seed: u64) -> Self {
        Text2ImageArgs {
            prompts,
            seed: Some(seed),
            size: None,
        }
    }

    /// The JSON Schema every `text2image` advertises.
    pub fn schema() -> Value {
        schema_of::<Self>()
    }

    /// The arguments as the JSON a tool call carries.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Arguments of `edit_images`: edits applied to earlier images, paired as MAIA pairs them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EditImagesArgs {
    /// The images to edit.
    #[schemars(
        length(min = 1, max = MAX_IMAGES_PER_CALL),
        description = "Images to edit, by id (1 to 64); each must come from text2image or edit_images"
    )]
    pub image_ids: Vec<ImageId>,
    /// One edit for every image, or one edit per image in order.
    #[schemars(
        length(min = 1, max = MAX_IMAGES_PER_CALL),
        description = "Either one edit, applied to every image, or exactly one edit per image id, applied pairwise in order; each an instruction of at most 1000 characters"
    )]
    pub edits: Vec<String>,
}

impl EditImagesArgs {
    /// The JSON Schema every `edit_images` advertises.
    pub fn schema() -> Value {
        schema_of::<Self>()
    }

    /// The (image, edit) pairs MAIA's rule makes: one edit for all images, or one per
    /// image. `None` when the counts do not pair (or either list is empty).
    pub fn pairs(&self) -> Option<Vec<(&ImageId, &String)>> {
        match self.edits.as_slice() {
            _ if self.image_ids.is_empty() => None,
            [only] => Some(self.image_ids.iter().map(|id| (id, only)).collect()),
            edits if edits.len() == self.image_ids.len() => {
                Some(self.image_ids.iter().zip(edits).collect())
            }
            _ => None,
        }
    }
}

/// `data` of a `text2image` result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Text2ImageData {
    /// The world the images belong to, when they come from a simulated one (`"shapes"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub world: Option<String>,
    /// The generator's backend, when a real one made the images (`a1111`, `openai`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// The generator's model, when it is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The seed requested.
    pub seed: u64,
    /// The side requested, in pixels.
    pub size: u32,
    /// One entry per returned image, in the order of `images`.
    pub images: Vec<GeneratedImage>,
    /// Prompts that made no image, with why.
    #[serde(default)]
    pub failed: Vec<FailedPrompt>,
}

/// What `text2image` reports about one image it made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratedImage {
    /// Position among the call's returned images, from 1 ("image 1" in the text).
    pub image: usize,
    /// The prompt, as given.
    pub prompt: String,
    /// The seed the image was made with, when the generator reports one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// What was drawn, as a prompt that parses back to the same scene, when the
    /// generator knows (the shapes world names what the seed chose).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drew: Option<String>,
    /// Everything in the prompt that was not (fully) honoured.
    #[serde(default)]
    pub warnings: Vec<ToolWarning>,
    /// True when the image came from the tool's cache rather than a new request.
    #[serde(default, skip_serializing_if = "is_false")]
    pub cached: bool,
}

/// A prompt `text2image` could not turn into an image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedPrompt {
    /// The prompt, as given.
    pub prompt: String,
    /// Why no image came back.
    pub error: String,
}

/// `data` of an `edit_images` result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EditImagesData {
    /// The world the images belong to, when they come from a simulated one (`"shapes"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub world: Option<String>,
    /// The generator's backend, when a real one made the images (`a1111`, `openai`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// The generator's model, when it is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// How the edits were made, when the editor has several ways (`img2img`,
    /// `instruct-pix2pix`, `images/edits`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_method: Option<String>,
    /// One entry per returned image, in the order of `images`.
    pub images: Vec<EditedImage>,
    /// Pairs whose edit made no image, with why.
    #[serde(default)]
    pub failed: Vec<EditFailure>,
}

/// What `edit_images` reports about one edited image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EditedImage {
    /// Position among the call's returned images, from 1 ("image 1" in the text).
    pub image: usize,
    /// The image that was edited.
    pub source: ImageId,
    /// The edit instruction, as given.
    pub edit: String,
    /// The seed the edit used, when the editor reports one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// One entry per change made ("red circle → green circle"), when the editor knows.
    #[serde(default)]
    pub applied: Vec<String>,
    /// The edited scene, as a prompt that parses back to it, when the editor knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drew: Option<String>,
    /// Words not understood, ambiguous references, clamped counts.
    #[serde(default)]
    pub warnings: Vec<ToolWarning>,
    /// True when the editor knows the edit left the image exactly as it was.
    #[serde(default)]
    pub unchanged: bool,
    /// True when the image came from the tool's cache rather than a new request.
    #[serde(default, skip_serializing_if = "is_false")]
    pub cached: bool,
}

/// An (image, edit) pair `edit_images` could not apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EditFailure {
    /// The image the edit was meant for.
    pub source: ImageId,
    /// The edit instruction, as given.
    pub edit: String,
    /// Why it could not be applied.
    pub error: String,
}

fn is_false(b: &bool) -> bool {
    !*b
}
