//! A host for the tests: an in-memory image store that hands out `img_N` ids the way
//! maia's does (identical PNG bytes keep their first id), plus the three sample images
//! `maia plugin check` stores before calling a plugin's examples.

use maia_plugin_sdk::{
    Host, Image, ImageId, LogLevel, Plugin, ToolCall, ToolError, ToolOutput, UnitActivation,
};
use serde_json::{Value, json};
use shapes_tools::ShapesTools;

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The prompts behind `maia plugin check`'s sample images, in id order (see
/// `tui/src/sample_images.rs`).
pub const SAMPLE_PROMPTS: [&str; 3] = [
    "a red circle on a white background",
    "two blue striped squares and a yellow star on a black background",
    "a green dotted triangle in the top left",
];

#[derive(Default)]
pub struct TestHost {
    images: Vec<Image>,
    pub progress: Vec<(u64, u64)>,
}

impl TestHost {
    /// A host holding the sample images as img_1..img_3, as `maia plugin check` makes them.
    pub fn with_samples() -> Result<Self, Box<dyn std::error::Error>> {
        let mut host = TestHost::default();
        for (i, prompt) in SAMPLE_PROMPTS.iter().enumerate() {
            let parsed = maia_shapes_world::parse_prompt(prompt, i as u64 + 1)?;
            let png = maia_shapes_world::render_png(&parsed.scene)?;
            let meta = json!({ "prompt": prompt, "scene": parsed.scene });
            host.insert(Image::new(png, *prompt).with_meta(meta));
        }
        Ok(host)
    }

    /// Stores an image; identical bytes keep the id they were first stored under.
    pub fn insert(&mut self, mut image: Image) -> ImageId {
        if let Some(known) = self.images.iter().find(|i| i.png == image.png) {
            return known.id.clone();
        }
        image.id = ImageId(format!("img_{}", self.images.len() + 1));
        let id = image.id.clone();
        self.images.push(image);
        id
    }

    /// Calls a tool; on success stores its images and writes their ids back, as maia does.
    pub fn call(&mut self, tool: &str, args: Value) -> Result<ToolOutput, ToolError> {
        let mut output = ShapesTools.call(&ToolCall::new("t1", tool, args), self)?;
        for image in &mut output.images {
            image.id = self.insert(image.clone());
        }
        Ok(output)
    }

    /// Calls a tool that must fail, returning its error.
    pub fn fail(&mut self, tool: &str, args: Value) -> Result<ToolError, String> {
        match self.call(tool, args) {
            Ok(output) => Err(format!("expected an error, got: {}", output.text)),
            Err(e) => Ok(e),
        }
    }

    pub fn get(&self, id: &ImageId) -> Option<&Image> {
        self.images.iter().find(|i| &i.id == id)
    }

    pub fn len(&self) -> usize {
        self.images.len()
    }
}

impl Host for TestHost {
    fn image(&mut self, id: &ImageId) -> Result<Image, ToolError> {
        self.get(id)
            .cloned()
            .ok_or_else(|| ToolError::invalid_args(format!("no image `{id}` in the store")))
    }
    fn call_unit(&mut self, _: &[ImageId]) -> Result<Vec<UnitActivation>, ToolError> {
        Err(ToolError::failed("no unit in these tests"))
    }
    fn progress(&mut self, done: u64, total: u64) {
        self.progress.push((done, total));
    }
    fn log(&mut self, _: LogLevel, _: &str) {}
}

/// The scene graph in an image's metadata.
pub fn scene_of(image: &Image) -> Result<maia_shapes_world::Scene, serde_json::Error> {
    serde_json::from_value(image.meta["scene"].clone())
}
