//! `text2image`: English prompts → shapes-world images with their scene graphs.
//!
//! Every prompt is parsed before anything is drawn, so a call with one bad prompt (empty,
//! too long) fails as a whole with `invalid_args` naming it, and the images of a
//! successful call always line up with its prompts ("image 3" is prompt 3).

use maia_plugin_sdk::contracts::{GeneratedImage, Text2ImageArgs, Text2ImageData, ToolWarning};
use maia_plugin_sdk::{Host, Image, ToolCall, ToolError, ToolOutput};
use maia_shapes_world::{
    Canvas, ParsedPrompt, Scene, parse_prompt_on, render_png, scene_to_prompt,
};
use serde::Serialize;
use serde_json::{Value, json};

use crate::report::{self, quote, summarize};
use crate::{DEFAULT_SEED, DEFAULT_SIZE, MAX_PROMPTS, MAX_SIZE, MIN_SIZE, WORLD};

const EXPECTED: &str = "{prompts: [string] (1 to 64), seed?: integer ≥ 0, size?: integer 32..=512}";

/// Runs a `text2image` call.
pub(crate) fn run(call: &ToolCall, host: &mut dyn Host) -> Result<ToolOutput, ToolError> {
    let args: Text2ImageArgs = report::parse_args(call, EXPECTED)?;
    let seed = args.seed.unwrap_or(DEFAULT_SEED);
    let side = args.size.unwrap_or(DEFAULT_SIZE);
    check_counts(&args.prompts, side)?;
    let canvas = Canvas {
        width: side,
        height: side,
    };

    // Parse everything first: a bad prompt fails the call before any drawing.
    let mut parsed: Vec<ParsedPrompt> = Vec::with_capacity(args.prompts.len());
    let mut bad = Vec::new();
    for (i, prompt) in args.prompts.iter().enumerate() {
        match parse_prompt_on(prompt, seed, canvas) {
            Ok(p) => parsed.push(p),
            Err(e) => bad.push(format!("prompt {} ({}): {e}", i + 1, quote(prompt))),
        }
    }
    if !bad.is_empty() {
        return Err(ToolError::invalid_args(format!(
            "{}\nno images were made; fix the prompts above and call again",
            report::problems(&bad)
        )));
    }

    let total = parsed.len() as u64;
    let mut lines = vec![format!(
        "{} image{} (seed {seed}, {side}×{side} px):",
        parsed.len(),
        if parsed.len() == 1 { "" } else { "s" }
    )];
    let mut images = Vec::with_capacity(parsed.len());
    let mut generated = Vec::with_capacity(parsed.len());
    for (i, (prompt, ParsedPrompt { scene, warnings })) in
        args.prompts.iter().zip(parsed).enumerate()
    {
        let n = i + 1;
        let png = render_png(&scene).map_err(|e| {
            ToolError::failed(format!(
                "drawing image {n} ({}) failed: {e}; this is a bug in the shapes world, please report it with the prompt and seed {seed}",
                quote(prompt)
            ))
        })?;
        let drew = scene_to_prompt(&scene);
        let mut line = format!("image {n} ({}): drew {drew}", quote(prompt));
        let summary = summarize(&warnings);
        if !summary.is_empty() {
            line.push_str("; ");
            line.push_str(&summary);
        }
        if let Some(same) = images.iter().position(|earlier: &Image| earlier.png == png) {
            line.push_str(&format!(
                "; identical to image {}: use another seed for a different layout",
                same + 1
            ));
        }
        lines.push(line);
        let meta = json!({
            "world": WORLD,
            "prompt": prompt,
            "seed": seed,
            "scene": scene_json(&scene)?,
        });
        images.push(Image::new(png, prompt.as_str()).with_meta(meta));
        generated.push(GeneratedImage {
            image: n,
            prompt: prompt.clone(),
            seed: Some(seed),
            drew: Some(drew),
            warnings: warnings.iter().map(ToolWarning::from_tagged).collect(),
            cached: false,
        });
        host.progress(n as u64, total);
    }

    let data = to_json(&Text2ImageData {
        world: Some(WORLD.to_owned()),
        seed,
        size: side,
        images: generated,
        failed: Vec::new(),
        ..Default::default()
    })?;
    let mut output = ToolOutput::text(lines.join("\n")).with_data(data);
    output.images = images;
    Ok(output)
}

/// Refuses calls that are too big or too small before any work is done.
fn check_counts(prompts: &[String], side: u32) -> Result<(), ToolError> {
    if prompts.is_empty() {
        return Err(ToolError::invalid_args(
            "prompts is empty; give 1 to 64 prompts, e.g. [\"two red circles on a blue background\"]",
        ));
    }
    if prompts.len() > MAX_PROMPTS {
        return Err(ToolError::invalid_args(format!(
            "got {} prompts; at most {MAX_PROMPTS} are drawn per call, so split them across several calls",
            prompts.len()
        )));
    }
    if !(MIN_SIZE..=MAX_SIZE).contains(&side) {
        return Err(ToolError::invalid_args(format!(
            "size {side} is out of range; give a side of {MIN_SIZE} to {MAX_SIZE} pixels (default {DEFAULT_SIZE})"
        )));
    }
    Ok(())
}

/// A scene as the JSON value stored in `meta["scene"]`.
pub(crate) fn scene_json(scene: &Scene) -> Result<Value, ToolError> {
    serde_json::to_value(scene)
        .map_err(|e| ToolError::failed(format!("writing the scene graph as JSON failed: {e}")))
}

/// A result's `data` as JSON.
pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<Value, ToolError> {
    serde_json::to_value(value)
        .map_err(|e| ToolError::failed(format!("describing the images as JSON failed: {e}")))
}
