//! # shapes-tools
//!
//! The shapes world ([`maia_shapes_world`]) as two maia tools, exported as a sandboxed
//! **WebAssembly** plugin:
//!
//! - `text2image(prompts, seed?, size?)` draws one image per English prompt
//!   ("two red striped circles on a blue background");
//! - `edit_images(image_ids, edits)` changes images made by `text2image` (or by earlier
//!   edits) with instructions such as "make the circle green" or "remove the star".
//!
//! The names and argument shapes are the ones the HTTP diffusion plugin offers too, so the
//! agent's prompts do not change between the shapes world and real image generators.
//! What differs is ground truth: every image carries its scene graph in
//! `meta["scene"]`, which is how `edit_images` knows what an image contains and how the
//! synthetic units and evaluation read it back.
//!
//! Nothing is silently dropped. Words the world does not understand, contradictions
//! ("a red blue circle") and clamped counts come back as warnings, both in the text the
//! agent reads (one line per image) and in `data` for programs. Arguments that cannot
//! work at all (an empty or over-long prompt, more than [`MAX_PROMPTS`] prompts, edits
//! that do not pair with the images, an image with no scene graph) are `invalid_args`
//! errors that say what to do instead; such a call makes no images.
//!
//! Build with `cargo build --release --target wasm32-wasip2 -p maia-shapes-tools`
//! (→ `target/wasm32-wasip2/release/shapes_tools.wasm`), or run
//! `scripts/build-plugins.sh`, which installs it with its `plugin.toml` under
//! `target/plugins/shapes-tools/`. `cargo test -p maia-shapes-tools` runs the tests
//! natively; `cargo bench -p maia-shapes-tools` measures native `text2image` throughput.

mod edit_images;
mod report;
mod text2image;

use maia_plugin_sdk::contracts::{self, EditImagesArgs, Text2ImageArgs};
use maia_plugin_sdk::{Host, Manifest, Plugin, ToolCall, ToolError, ToolOutput, ToolSpec};
use serde_json::json;

/// The most prompts one `text2image` call takes, and the most images or edits one
/// `edit_images` call takes (the contract's limit).
pub const MAX_PROMPTS: usize = contracts::MAX_IMAGES_PER_CALL;

/// Image side in pixels when `text2image` is given no `size` (MAIA's 224×224).
pub const DEFAULT_SIZE: u32 = contracts::DEFAULT_SIDE;

/// Smallest image side `text2image` draws.
pub const MIN_SIZE: u32 = contracts::MIN_SIDE;

/// Largest image side `text2image` draws, and the largest scene `edit_images` redraws:
/// bigger images would strain the sandbox's per-call deadline and memory cap.
pub const MAX_SIZE: u32 = contracts::MAX_SIDE;

/// Seed `text2image` uses when given none, so that a call without one is reproducible.
pub const DEFAULT_SEED: u64 = contracts::DEFAULT_SEED;

/// The value of `meta["world"]` on every image this plugin makes.
pub const WORLD: &str = "shapes";

/// The plugin. maia creates it with `Default::default()`; it keeps no state between calls.
#[derive(Debug, Default)]
pub struct ShapesTools;

impl Plugin for ShapesTools {
    fn manifest(&self) -> Manifest {
        Manifest::new(
            "shapes-tools",
            env!("CARGO_PKG_VERSION"),
            "text2image and edit_images for the shapes world: English prompts and edits to images with known scene graphs, sandboxed",
        )
    }

    fn tools(&self) -> Vec<ToolSpec> {
        vec![text2image_spec(), edit_images_spec()]
    }

    fn call(&mut self, call: &ToolCall, host: &mut dyn Host) -> Result<ToolOutput, ToolError> {
        match call.name.as_str() {
            "text2image" => text2image::run(call, host),
            "edit_images" => edit_images::run(call, host),
            other => Err(ToolError::invalid_args(format!(
                "shapes-tools has no tool `{other}`; its tools are text2image and edit_images"
            ))),
        }
    }
}

fn text2image_spec() -> ToolSpec {
    ToolSpec::new(
        "text2image",
        "Draws one image of the shapes world per English prompt. The world knows shapes \
         (circle, square, triangle, star, ring, cross, heart, hexagon, diamond), colors (red, \
         green, blue, yellow, orange, purple, pink, brown, black, white, gray, cyan), textures \
         (solid, striped, dotted, checkered), sizes (small, medium, large), counts (up to 6 \
         objects), positions (top, bottom, left, right, center) and the background's color and \
         texture, e.g. 'two small red striped circles in the top left on a blue background'. \
         Words it does not know are reported, not drawn. The same prompt and seed always give \
         the same image; change the seed for another layout.",
        Text2ImageArgs::schema(),
    )
    .returns(
        "one image per prompt, captioned with its prompt, with the scene graph in meta.scene; \
         one line per image saying what was drawn and which words were not understood; \
         data.images[] holds prompt, seed, drew and warnings per image",
    )
    .example(json!({
        "prompts": ["two red striped circles on a blue background", "a large yellow star in the top left"],
        "seed": 1
    }))
}

fn edit_images_spec() -> ToolSpec {
    ToolSpec::new(
        "edit_images",
        "Edits images made by text2image (or by earlier edits) and returns the edited copies; \
         the originals stay. An edit starts with a verb: make/turn/change (color, texture, size \
         or shape), remove, add, replace ... with, move ... to, enlarge, shrink; it names the \
         objects ('the red square', 'all circles', 'it', 'the background'), e.g. 'make the \
         circle green', 'remove the star', 'add a small blue heart in the top right', 'replace \
         the triangle with a dotted hexagon'. Join several with ';'. Give one edit to apply to \
         every image, or one edit per image (paired in order).",
        EditImagesArgs::schema(),
    )
    .returns(
        "one edited image per (image, edit) pair, captioned '<edit> (from img_N)', with the new \
         scene graph and the source id in meta; one line per image saying what changed; pairs \
         whose edit cannot apply (e.g. no such object) are listed as not edited, and the call \
         fails if none applies",
    )
    .example(json!({"image_ids": ["img_1"], "edits": ["make the circle green"]}))
    .example(json!({
        "image_ids": ["img_2", "img_3"],
        "edits": ["remove the star", "replace the triangle with a large red heart"]
    }))
}

maia_plugin_sdk::export_wasm!(ShapesTools);
