//! `sample_dataset`: random images from the dataset folder, optionally only those whose
//! scene mentions a word (MAIA's class-conditioned sampler).

use crate::exemplars::Dataset;
use maia_plugin_sdk::{Host, Manifest, Plugin, ToolCall, ToolError, ToolOutput, ToolSpec};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// Most images one call returns.
pub const MAX_SAMPLES: usize = 32;

/// The `sample_dataset` tool over one image folder.
pub struct SampleDataset {
    dataset: Arc<Dataset>,
}

impl SampleDataset {
    /// Samples from `dataset`.
    pub fn new(dataset: Arc<Dataset>) -> Self {
        SampleDataset { dataset }
    }
}

#[derive(Deserialize)]
struct Args {
    #[serde(default = "default_n")]
    n: usize,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    contains: Option<String>,
}

fn default_n() -> usize {
    8
}

impl Plugin for SampleDataset {
    fn manifest(&self) -> Manifest {
        Manifest::new(
            "builtin-sampler",
            env!("CARGO_PKG_VERSION"),
            "Samples of the dataset",
        )
    }

    fn tools(&self) -> Vec<ToolSpec> {
        vec![ToolSpec::new(
            "sample_dataset",
            "Returns random images from the dataset, optionally only those whose scene (shapes-world data) or class name (class folders, shards) contains a word (e.g. 'circle', 'red', 'goldfish').",
            json!({
                "type": "object",
                "properties": {
                    "n": {"type": "integer", "minimum": 1, "maximum": MAX_SAMPLES, "description": "How many images (default 8)"},
                    "seed": {"type": "integer", "minimum": 0, "description": "Random seed; change it for a different sample"},
                    "contains": {"type": "string", "description": "Keep only images whose scene description or class name contains this word"}
                },
                "additionalProperties": false
            }),
        )
        .example(json!({"n": 8, "contains": "circle"}))]
    }

    fn call(&mut self, call: &ToolCall, _host: &mut dyn Host) -> Result<ToolOutput, ToolError> {
        let args: Args = call.parse_args()?;
        let n = args.n.clamp(1, MAX_SAMPLES);
        let total = self.dataset.len();
        let word = args
            .contains
            .as_deref()
            .map(|w| w.trim().to_ascii_lowercase())
            .filter(|w| !w.is_empty());
        let mut output = ToolOutput::default();
        let mut state = args.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
        let mut seen = std::collections::HashSet::new();
        let mut tries = 0;
        while output.images.len() < n && seen.len() < total && tries < total * 4 {
            tries += 1;
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let index = ((state >> 33) as usize) % total;
            if !seen.insert(index) {
                continue;
            }
            // A file that cannot be read is passed over: another is drawn.
            let Ok(image) = self.dataset.image(index) else {
                continue;
            };
            let class = self
                .dataset
                .class(index)
                .map(|(id, words)| words.unwrap_or(id));
            let text = crate::target::scene_of(&image)
                .ok()
                .map(|s| maia_shapes_world::scene_to_prompt(&s))
                .or(class);
            if let Some(word) = &word
                && !text
                    .as_deref()
                    .is_some_and(|t| t.to_ascii_lowercase().contains(word.as_str()))
            {
                continue;
            }
            let caption = text.unwrap_or_else(|| image.caption.clone());
            output
                .images
                .push(maia_plugin_sdk::Image { caption, ..image });
        }
        if output.images.is_empty() {
            return Err(ToolError::failed(match word {
                Some(w) => format!("no dataset image's scene or class contains `{w}`"),
                None => "no image of the dataset could be read".into(),
            }));
        }
        output.text = format!(
            "{} of {total} dataset images (seed {}):",
            output.images.len(),
            args.seed
        );
        Ok(output)
    }
}
