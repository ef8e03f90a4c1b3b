//! Who answers `describe_images` and `summarize_images`: a second model call (possibly a
//! cheaper model than the agent's), or, with no model, the shapes world's own scene graph.

use crate::llm::{ImagePart, LlmBackend, LlmRequest, Message, Part};
use crate::target::scene_of;
use maia_plugin_sdk::{Image, ToolError};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Describes images in words.
pub trait Describer: Send + Sync {
    /// One line per image, `ID: description`.
    fn describe(&self, instructions: &str, images: &[Arc<Image>]) -> Result<String, ToolError>;

    /// What the images have in common.
    fn summarize(&self, instructions: &str, images: &[Arc<Image>]) -> Result<String, ToolError>;
}

/// A describer backed by a model: one request per tool call, images attached.
pub struct LlmDescriber {
    backend: Arc<dyn LlmBackend>,
    runtime: tokio::runtime::Handle,
    max_side: u32,
}

impl LlmDescriber {
    /// Uses `backend` through the given runtime (tool calls run on blocking threads).
    pub fn new(
        backend: Arc<dyn LlmBackend>,
        runtime: tokio::runtime::Handle,
        max_side: u32,
    ) -> Self {
        LlmDescriber {
            backend,
            runtime,
            max_side,
        }
    }

    fn ask(&self, instructions: &str, images: &[Arc<Image>]) -> Result<String, ToolError> {
        let mut parts = vec![Part::Text(instructions.to_owned())];
        for image in images {
            parts.push(Part::Text(format!("{}:", image.id)));
            parts.push(Part::Image(ImagePart {
                id: image.id.to_string(),
                png: Arc::new(crate::agent::vision::downscale(&image.png, self.max_side)),
            }));
        }
        let request = LlmRequest {
            system: "You describe images precisely and briefly.".into(),
            messages: vec![Message::User(parts)],
            tools: Vec::new(),
            max_output_tokens: 1024,
            temperature: Some(0.0),
            reply_schema: None,
        };
        let backend = self.backend.clone();
        self.runtime.block_on(async move {
            let text = crate::llm::complete(backend.as_ref(), request)
                .await
                .map_err(|e| ToolError::failed(format!("the describer model failed: {e}")))?
                .text;
            if text.trim().is_empty() {
                return Err(ToolError::failed("the describer model returned no text"));
            }
            Ok(text)
        })
    }
}

impl Describer for LlmDescriber {
    fn describe(&self, instructions: &str, images: &[Arc<Image>]) -> Result<String, ToolError> {
        self.ask(instructions, images)
    }

    fn summarize(&self, instructions: &str, images: &[Arc<Image>]) -> Result<String, ToolError> {
        self.ask(instructions, images)
    }
}

/// The offline describer: reads each image's shapes-world scene graph. Exact for
/// shapes-world images; says so for images without one.
#[derive(Clone, Copy, Debug, Default)]
pub struct SceneDescriber;

impl SceneDescriber {
    fn scene_text(image: &Image) -> Option<String> {
        scene_of(image)
            .ok()
            .map(|s| maia_shapes_world::scene_to_prompt(&s))
    }
}

impl Describer for SceneDescriber {
    fn describe(&self, _instructions: &str, images: &[Arc<Image>]) -> Result<String, ToolError> {
        Ok(images
            .iter()
            .map(|i| match Self::scene_text(i) {
                Some(text) => format!("{}: {text}", i.id),
                None => format!("{}: {} (no scene information; the offline describer reads only shapes-world images)", i.id, i.caption),
            })
            .collect::<Vec<_>>()
            .join("\n"))
    }

    fn summarize(&self, _instructions: &str, images: &[Arc<Image>]) -> Result<String, ToolError> {
        let texts: Vec<String> = images.iter().filter_map(|i| Self::scene_text(i)).collect();
        if texts.is_empty() {
            return Ok(
                "None of these images carries a scene description; nothing to summarize.".into(),
            );
        }
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for text in &texts {
            let mut words: Vec<&str> = text
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| w.len() > 2)
                .collect();
            words.sort_unstable();
            words.dedup();
            for w in words {
                if !matches!(w, "and" | "the" | "background" | "one" | "two" | "three") {
                    *counts.entry(w).or_default() += 1;
                }
            }
        }
        let n = texts.len();
        let mut common: Vec<(&str, usize)> = counts
            .into_iter()
            .filter(|(_, c)| *c * 10 >= n * 6)
            .collect();
        common.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        if common.is_empty() {
            return Ok(format!("The {n} images share no single attribute."));
        }
        let listed: Vec<String> = common
            .iter()
            .map(|(w, c)| format!("{w} ({c}/{n})"))
            .collect();
        Ok(format!(
            "Common to most of the {n} images: {}.",
            listed.join(", ")
        ))
    }
}
