//! # http-images
//!
//! `text2image` and `edit_images` — the same tool names and argument shapes as the
//! shapes world's plugin — backed by a real diffusion server, so the agent's prompts do
//! not change between worlds. Two APIs, chosen in maia.toml's `[plugins.http-images]`
//! table ([`settings::Settings`]): the OpenAI Images API (also served by compatible local
//! servers) and the AUTOMATIC1111 / Forge web UI API, whose edits use an InstructPix2Pix
//! checkpoint when the server has one and img2img otherwise ([`edit_path`]).
//!
//! Every request goes through the host ([`Host::http`]), which only lets it reach the
//! host and port of the configured `base_url`. Requests for several prompts run
//! concurrently; 429s, 5xx, timeouts and dropped connections are retried with backoff
//! (honoring `Retry-After`). Images are cached by content (prompt, parameters and seed →
//! PNG) under the host's cache folder, so a resumed or repeated run does not pay twice;
//! `maia run --no-cache` bypasses it. The API key is read from the environment variable
//! `api_key_env` names and only ever sent as a header: it never appears in a tool's text,
//! an image's meta or an error.

pub mod backend;
pub mod cache;
pub mod edit_path;
pub mod multipart;
pub mod retry;
pub mod run;
pub mod settings;

use maia_plugin_sdk::contracts::{self, EditImagesArgs, Text2ImageArgs};
use maia_plugin_sdk::{Host, Manifest, Plugin, ToolCall, ToolError, ToolOutput, ToolSpec};
use serde_json::json;
use settings::Settings;

/// The most prompts one `text2image` call takes, and the most images or edits one
/// `edit_images` call takes (the contract's limit, as in the shapes world).
pub const MAX_PROMPTS: usize = contracts::MAX_IMAGES_PER_CALL;
/// Smallest image side.
pub const MIN_SIZE: u32 = contracts::MIN_SIDE;
/// Largest image side a call may ask for (a configured `size` may be larger).
pub const MAX_SIZE: u32 = contracts::MAX_SIDE;
/// Seed used when a call gives none.
pub const DEFAULT_SEED: u64 = contracts::DEFAULT_SEED;
/// Longest prompt or edit, in characters.
pub const MAX_PROMPT_CHARS: usize = contracts::MAX_TEXT_CHARS;

/// The plugin. Settings are read per call; the only state kept between calls is each
/// A1111 server's checkpoint list, asked once for the first edit.
#[derive(Debug, Default)]
pub struct HttpImages {
    checkpoints: edit_path::CheckpointLists,
}

fn check_texts(what: &str, texts: &[String]) -> Result<(), ToolError> {
    if texts.is_empty() || texts.len() > MAX_PROMPTS {
        return Err(ToolError::invalid_args(format!(
            "give 1 to {MAX_PROMPTS} {what}s, not {}",
            texts.len()
        )));
    }
    for (i, t) in texts.iter().enumerate() {
        if t.trim().is_empty() || t.chars().count() > MAX_PROMPT_CHARS {
            return Err(ToolError::invalid_args(format!(
                "{what} {} is empty or longer than {MAX_PROMPT_CHARS} characters",
                i + 1
            )));
        }
    }
    Ok(())
}

impl HttpImages {
    fn text2image(
        &mut self,
        call: &ToolCall,
        host: &mut dyn Host,
    ) -> Result<ToolOutput, ToolError> {
        let args: Text2ImageArgs = call.parse_args()?;
        check_texts("prompt", &args.prompts)?;
        let settings = Settings::from_config(host.config())?;
        let size = args
            .size
            .unwrap_or(settings.size)
            .clamp(MIN_SIZE, MAX_SIZE.max(settings.size));
        let jobs: Vec<run::Job<'_>> = args
            .prompts
            .iter()
            .map(|p| run::Job {
                text: p,
                source: None,
            })
            .collect();
        run::run(
            host,
            &run::Call {
                settings: &settings,
                tool: "text2image",
                jobs: &jobs,
                size,
                seed: args.seed.unwrap_or(DEFAULT_SEED),
                edit: None,
            },
        )
    }

    fn edit_images(
        &mut self,
        call: &ToolCall,
        host: &mut dyn Host,
    ) -> Result<ToolOutput, ToolError> {
        let args: EditImagesArgs = call.parse_args()?;
        check_texts("edit", &args.edits)?;
        let n = args.image_ids.len();
        if n == 0 || n > MAX_PROMPTS {
            return Err(ToolError::invalid_args(format!(
                "give 1 to {MAX_PROMPTS} image ids, not {n}"
            )));
        }
        if args.edits.len() != 1 && args.edits.len() != n {
            return Err(ToolError::invalid_args(format!(
                "{} edits for {n} images: give one edit for every image, or exactly one per image",
                args.edits.len()
            )));
        }
        let settings = Settings::from_config(host.config())?;
        let mut sources = Vec::with_capacity(n);
        for id in &args.image_ids {
            sources.push(host.image(id)?);
        }
        let plan = edit_path::resolve(host, &settings, &mut self.checkpoints)?;
        // Edits keep the source's size when the source made one (text2image records it),
        // else the configured size.
        let size = sources
            .first()
            .and_then(|s| s.meta["size"][0].as_u64())
            .map_or(settings.size, |v| v as u32)
            .clamp(MIN_SIZE, MAX_SIZE.max(settings.size));
        let seed = sources
            .first()
            .and_then(|s| s.meta["seed"].as_u64())
            .unwrap_or(DEFAULT_SEED);
        let jobs: Vec<run::Job<'_>> = args
            .image_ids
            .iter()
            .zip(&sources)
            .enumerate()
            .map(|(i, (id, image))| run::Job {
                text: if args.edits.len() == 1 {
                    &args.edits[0]
                } else {
                    &args.edits[i]
                },
                source: Some((id, image.png.as_slice())),
            })
            .collect();
        run::run(
            host,
            &run::Call {
                settings: &settings,
                tool: "edit_images",
                jobs: &jobs,
                size,
                seed,
                edit: Some(&plan),
            },
        )
    }
}

impl Plugin for HttpImages {
    fn manifest(&self) -> Manifest {
        Manifest::new(
            "http-images",
            env!("CARGO_PKG_VERSION"),
            "text2image and edit_images on a real diffusion server: the OpenAI Images API (or a compatible local server) or AUTOMATIC1111/Forge",
        )
    }

    fn tools(&self) -> Vec<ToolSpec> {
        vec![text2image_spec(), edit_images_spec()]
    }

    fn call(&mut self, call: &ToolCall, host: &mut dyn Host) -> Result<ToolOutput, ToolError> {
        match call.name.as_str() {
            "text2image" => self.text2image(call, host),
            "edit_images" => self.edit_images(call, host),
            other => Err(ToolError::invalid_args(format!(
                "http-images has no tool `{other}`; its tools are text2image and edit_images"
            ))),
        }
    }
}

/// `text2image`: the shapes world's argument schema, for a real text-to-image model.
pub fn text2image_spec() -> ToolSpec {
    ToolSpec::new(
        "text2image",
        "Generates one photo-like image per English prompt with a real text-to-image \
         diffusion model (e.g. 'a red sports car on a snowy road at night'). Describe the \
         scene concretely: objects, colors, textures, setting, viewpoint. Use the same seed \
         to compare prompts that differ in one detail; change it for another sample.",
        Text2ImageArgs::schema(),
    )
    .returns(
        "one image per prompt, captioned with its prompt, with prompt, backend, model and seed \
         in meta; one line per image with the size and seed requested and returned; prompts \
         the server could not serve are listed as failed, and the call fails if none succeeds; \
         data.images[] holds prompt and seed per image, data.failed[] prompt and error",
    )
    .example(json!({
        "prompts": ["a red sports car on a snowy road", "a bowl of oranges on a wooden table"],
        "seed": 1
    }))
}

/// `edit_images`: the shapes world's argument schema, for a real image-editing model.
pub fn edit_images_spec() -> ToolSpec {
    ToolSpec::new(
        "edit_images",
        "Edits images with a real image-editing diffusion model and returns the edited \
         copies; the originals stay. Write each edit as an instruction ('make the car blue', \
         'remove the dog', 'add snow on the ground', 'turn it into a painting'). Give one \
         edit to apply to every image, or one edit per image (paired in order).",
        EditImagesArgs::schema(),
    )
    .returns(
        "one edited image per (image, edit) pair, captioned '<edit> (from img_N)', with the \
         edit, source id, backend, model, edit method and seed in meta; a line saying how \
         the edits were made; one line per image with what was requested and returned; \
         pairs the server could not serve are listed as failed, and the call fails if none \
         succeeds; data.images[] holds source, edit and seed per image, data.failed[] source, \
         edit and error",
    )
    .example(json!({"image_ids": ["img_1"], "edits": ["make the car blue"]}))
}

maia_plugin_sdk::export_native!(HttpImages);
