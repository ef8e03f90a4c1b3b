//! Sample images from the shapes world, so tools can be tried without any data: `maia
//! plugin check` and `maia demo` put these in the store as `img_1`, `img_2`, `img_3`.

use anyhow::{Context, Result};
use maia_core::ImageStore;
use maia_plugin_sdk::{Image, ImageId};

/// The prompts behind the sample images, in id order.
pub const SAMPLE_PROMPTS: [&str; 3] = [
    "a red circle on a white background",
    "two blue striped squares and a yellow star on a black background",
    "a green dotted triangle in the top left",
];

/// Renders the sample images and stores them; returns their ids (`img_1`.. in a fresh store).
pub fn insert_samples(store: &ImageStore) -> Result<Vec<ImageId>> {
    SAMPLE_PROMPTS
        .iter()
        .enumerate()
        .map(|(i, prompt)| {
            let parsed = maia_shapes_world::parse_prompt(prompt, i as u64 + 1)
                .with_context(|| format!("parsing sample prompt {prompt:?}"))?;
            let png = maia_shapes_world::render_png(&parsed.scene)
                .with_context(|| format!("rendering sample prompt {prompt:?}"))?;
            let meta = serde_json::json!({
                "world": "shapes", "prompt": prompt, "seed": i as u64 + 1, "scene": parsed.scene
            });
            store
                .insert(Image::new(png, *prompt).with_meta(meta))
                .context("storing a sample image")
        })
        .collect()
}
