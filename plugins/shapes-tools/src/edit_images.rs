//! `edit_images`: English edits applied to the scene graphs of earlier images.
//!
//! Pairing follows MAIA: one edit applies to every image; as many edits as images pair up
//! in order; anything else is refused. Problems with the arguments themselves — unknown
//! ids, images with no scene graph, empty or over-long edits — fail the whole call. An
//! edit that cannot apply to one image (it names an object that is not there, say) only
//! skips that pair: the others still come back, and the text lists what was skipped and
//! why. When no pair applies the call fails with those reasons.

use maia_plugin_sdk::contracts::{
    EditFailure, EditImagesArgs, EditImagesData, EditedImage, ToolWarning,
};
use maia_plugin_sdk::{Host, Image, ImageId, ToolCall, ToolError, ToolOutput};
use maia_shapes_world::{MAX_PROMPT_CHARS, Scene, apply_edit, render_png, scene_to_prompt};
use serde_json::{Value, json};

use crate::report::{self, quote, summarize};
use crate::text2image::{scene_json, to_json};
use crate::{DEFAULT_SEED, MAX_PROMPTS, MAX_SIZE, WORLD};

const EXPECTED: &str = "{image_ids: [string] (1 to 64), edits: [string] (1, or one per image)}";

/// A fetched source image: its scene graph and the seed it was made with.
struct Source {
    scene: Scene,
    seed: u64,
}

/// Runs an `edit_images` call.
pub(crate) fn run(call: &ToolCall, host: &mut dyn Host) -> Result<ToolOutput, ToolError> {
    let args: EditImagesArgs = report::parse_args(call, EXPECTED)?;
    let pairs = pair_up(&args.image_ids, &args.edits)?;
    check_edits(&args.edits)?;

    // Fetch every source before editing, so an unknown id or a foreign image fails the
    // call before any work is done.
    let mut sources: Vec<(ImageId, Source)> = Vec::new();
    for id in &args.image_ids {
        if !sources.iter().any(|(known, _)| known == id) {
            let source = fetch(host, id)?;
            sources.push((id.clone(), source));
        }
    }

    let total = pairs.len() as u64;
    let mut lines = Vec::new();
    let mut images: Vec<Image> = Vec::new();
    let mut edited = Vec::new();
    let mut failed = Vec::new();
    for (done, (id, edit)) in pairs.into_iter().enumerate() {
        let Some(source) = sources
            .iter()
            .find(|(known, _)| known == id)
            .map(|(_, s)| s)
        else {
            return Err(ToolError::failed(format!(
                "{id} was fetched but then lost; this is a bug in shapes-tools"
            )));
        };
        match apply_edit(&source.scene, edit, source.seed) {
            Err(e) => {
                lines.push(format!("{id} not edited ({}): {e}", quote(edit)));
                failed.push(EditFailure {
                    source: id.clone(),
                    edit: edit.clone(),
                    error: e.to_string(),
                });
            }
            Ok(outcome) => {
                let n = images.len() + 1;
                let png = render_png(&outcome.scene).map_err(|e| {
                    ToolError::failed(format!(
                        "drawing {id} after {} failed: {e}; this is a bug in the shapes world, please report it with the edit",
                        quote(edit)
                    ))
                })?;
                let unchanged = outcome.scene == source.scene;
                let drew = scene_to_prompt(&outcome.scene);
                let mut line = format!(
                    "image {n} ({id}, {}): {}",
                    quote(edit),
                    outcome.applied.join(", ")
                );
                if unchanged {
                    line.push_str(&format!("; nothing changed, same as {id}"));
                } else {
                    line.push_str(&format!("; now {drew}"));
                }
                let summary = summarize(&outcome.warnings);
                if !summary.is_empty() {
                    line.push_str("; ");
                    line.push_str(&summary);
                }
                lines.push(line);
                let meta = json!({
                    "world": WORLD,
                    "edit": edit,
                    "source": id,
                    "seed": source.seed,
                    "scene": scene_json(&outcome.scene)?,
                });
                images.push(Image::new(png, format!("{edit} (from {id})")).with_meta(meta));
                edited.push(EditedImage {
                    image: n,
                    source: id.clone(),
                    edit: edit.clone(),
                    seed: Some(source.seed),
                    applied: outcome.applied,
                    drew: Some(drew),
                    warnings: outcome
                        .warnings
                        .iter()
                        .map(ToolWarning::from_tagged)
                        .collect(),
                    unchanged,
                    cached: false,
                });
            }
        }
        host.progress(done as u64 + 1, total);
    }

    if images.is_empty() {
        return Err(ToolError::invalid_args(format!(
            "{}\nno edit could be applied, so no images were made",
            report::problems(&lines)
        )));
    }
    let mut header = format!(
        "{} edited image{}",
        images.len(),
        if images.len() == 1 { "" } else { "s" }
    );
    if !failed.is_empty() {
        header.push_str(&format!(
            " ({} of {} pairs could not be edited)",
            failed.len(),
            total
        ));
    }
    header.push(':');
    lines.insert(0, header);
    let data = to_json(&EditImagesData {
        world: Some(WORLD.to_owned()),
        images: edited,
        failed,
        ..Default::default()
    })?;
    let mut output = ToolOutput::text(lines.join("\n")).with_data(data);
    output.images = images;
    Ok(output)
}

/// MAIA's pairing rule: one edit for all images, or one edit per image.
fn pair_up<'a>(
    image_ids: &'a [ImageId],
    edits: &'a [String],
) -> Result<Vec<(&'a ImageId, &'a String)>, ToolError> {
    if image_ids.is_empty() {
        return Err(ToolError::invalid_args(
            "image_ids is empty; give the ids of the images to edit (img_1, ...)",
        ));
    }
    if edits.is_empty() {
        return Err(ToolError::invalid_args(
            "edits is empty; give one edit for all images, e.g. [\"make the circle green\"], or one edit per image",
        ));
    }
    if image_ids.len() > MAX_PROMPTS || edits.len() > MAX_PROMPTS {
        return Err(ToolError::invalid_args(format!(
            "got {} image ids and {} edits; at most {MAX_PROMPTS} of each per call, so split them across several calls",
            image_ids.len(),
            edits.len()
        )));
    }
    match edits {
        [only] => Ok(image_ids.iter().map(|id| (id, only)).collect()),
        _ if edits.len() == image_ids.len() => Ok(image_ids.iter().zip(edits).collect()),
        _ => Err(ToolError::invalid_args(format!(
            "got {} image ids but {} edits; give either one edit, applied to every image, or exactly one edit per image ({}), paired in order",
            image_ids.len(),
            edits.len(),
            image_ids.len()
        ))),
    }
}

/// Refuses edits that cannot apply to any image: empty or longer than the world reads.
fn check_edits(edits: &[String]) -> Result<(), ToolError> {
    let mut bad = Vec::new();
    for (i, edit) in edits.iter().enumerate() {
        let chars = edit.chars().count();
        if edit.trim().is_empty() {
            bad.push(format!(
                "edit {} is empty; say what to change, e.g. 'make the circle green' or 'remove the star'",
                i + 1
            ));
        } else if chars > MAX_PROMPT_CHARS {
            bad.push(format!(
                "edit {} ({}) is {chars} characters long; at most {MAX_PROMPT_CHARS} are accepted, shorten it",
                i + 1,
                quote(edit)
            ));
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(ToolError::invalid_args(format!(
            "{}\nno images were edited",
            report::problems(&bad)
        )))
    }
}

/// Fetches an image and reads its scene graph and seed from `meta`.
fn fetch(host: &mut dyn Host, id: &ImageId) -> Result<Source, ToolError> {
    let image = host.image(id)?;
    let scene_value = match image.meta.get("scene") {
        Some(Value::String(text)) => serde_json::from_str::<Value>(text).ok(),
        Some(Value::Null) | None => None,
        Some(value) => Some(value.clone()),
    };
    let Some(scene_value) = scene_value else {
        return Err(ToolError::invalid_args(format!(
            "{id} was not made by the shapes world (no scene graph in its metadata); edit_images can only edit images from text2image or earlier edits"
        )));
    };
    let unreadable = |why: String| {
        ToolError::invalid_args(format!(
            "{id} has a scene graph in its metadata that the shapes world cannot use ({why}); make a new image with text2image and edit that"
        ))
    };
    let scene: Scene =
        serde_json::from_value(scene_value).map_err(|e| unreadable(e.to_string()))?;
    scene.validate().map_err(|e| unreadable(e.to_string()))?;
    if scene.width > MAX_SIZE || scene.height > MAX_SIZE {
        return Err(unreadable(format!(
            "it is {}×{} px; edit_images redraws images of at most {MAX_SIZE}×{MAX_SIZE}",
            scene.width, scene.height
        )));
    }
    let seed = image
        .meta
        .get("seed")
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_SEED);
    Ok(Source { scene, seed })
}
