//! One `text2image` or `edit_images` call: cache look-ups, the requests (concurrent,
//! retried), checking and resizing what came back, and the report.

use crate::backend::{self, Returned, Work};
use crate::cache;
use crate::edit_path::{EditPath, EditPlan};
use crate::retry::{self, Final};
use crate::settings::{Backend, Settings};
use maia_plugin_sdk::contracts::{
    EditFailure, EditImagesData, EditedImage, FailedPrompt, GeneratedImage, Text2ImageData,
};
use maia_plugin_sdk::{Host, Image, ImageId, ToolError, ToolOutput};
use serde_json::{Value, json};
use std::io::Cursor;

/// One image to make.
pub struct Job<'a> {
    /// The prompt or edit instruction.
    pub text: &'a str,
    /// For edits: the source image id and its PNG.
    pub source: Option<(&'a ImageId, &'a [u8])>,
}

struct Made {
    png: Vec<u8>,
    seed: Option<u64>,
    returned: (u32, u32),
    revised_prompt: Option<String>,
    cached: bool,
}

/// The edit path of `plan`; img2img when a call has none (text2image, whose jobs have no
/// source and never ask).
fn edit_path(plan: Option<&EditPlan>) -> &EditPath {
    plan.map_or(&EditPath::Img2img, |p| &p.path)
}

fn cache_params(
    s: &Settings,
    job: &Job<'_>,
    size: u32,
    seed: u64,
    edit: Option<&EditPlan>,
) -> Value {
    let mut p = json!({
        "v": 1,
        "backend": s.backend.as_str(),
        "server": s.server(),
        "model": s.model,
        "size": size,
        "server_size": s.server_size,
        "seed": seed,
    });
    match s.backend {
        Backend::Openai => {}
        Backend::A1111 => {
            p["steps"] = json!(s.steps);
            p["cfg_scale"] = json!(s.cfg_scale);
            p["sampler"] = json!(s.sampler_name);
            p["negative_prompt"] = json!(s.negative_prompt);
        }
    }
    match job.source {
        None => p["prompt"] = json!(job.text),
        Some((_, png)) => {
            p["edit"] = json!(job.text);
            p["source"] = json!(blake3::hash(png).to_hex().to_string());
            // The path, not the `edit_model` setting: `auto` is img2img on one server and
            // InstructPix2Pix on another, and the two must never stand in for each other.
            let path = edit_path(edit);
            match path {
                EditPath::OpenaiEdits => {}
                EditPath::Img2img => {
                    p["edit_method"] = json!(path.method());
                    p["denoising_strength"] = json!(s.denoising_strength);
                }
                EditPath::InstructPix2Pix { checkpoint } => {
                    p["edit_method"] = json!(path.method());
                    p["edit_model"] = json!(checkpoint);
                    p["image_cfg_scale"] = json!(s.image_cfg_scale);
                }
            }
        }
    }
    p
}

fn encode(image: &image::RgbaImage) -> Result<Vec<u8>, String> {
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| format!("re-encoding the image: {e}"))?;
    Ok(out.into_inner())
}

fn finish(returned: Returned, size: u32) -> Result<Made, String> {
    let dims = (returned.image.width(), returned.image.height());
    let image = if dims == (size, size) {
        returned.image
    } else {
        image::imageops::resize(
            &returned.image,
            size,
            size,
            image::imageops::FilterType::Triangle,
        )
    };
    Ok(Made {
        png: encode(&image)?,
        seed: returned.seed,
        returned: dims,
        revised_prompt: returned.revised_prompt,
        cached: false,
    })
}

/// One tool call: what [`run`] needs to make its images and report them.
pub struct Call<'a> {
    /// The plugin's settings.
    pub settings: &'a Settings,
    /// `text2image` or `edit_images`.
    pub tool: &'a str,
    /// The images to make.
    pub jobs: &'a [Job<'a>],
    /// Side of the square images.
    pub size: u32,
    /// Seed of every job.
    pub seed: u64,
    /// How edits are made (`edit_images` only).
    pub edit: Option<&'a EditPlan>,
}

/// Runs the call's jobs and builds the tool output.
pub fn run(host: &mut dyn Host, call: &Call<'_>) -> Result<ToolOutput, ToolError> {
    let &Call {
        settings,
        jobs,
        size,
        seed,
        edit,
        ..
    } = call;
    let cache_dir = settings.cache_dir.as_deref().filter(|_| !settings.no_cache);
    let keys: Vec<String> = jobs
        .iter()
        .map(|j| cache::key(&cache_params(settings, j, size, seed, edit)))
        .collect();
    let mut results: Vec<Option<Result<Made, String>>> = jobs.iter().map(|_| None).collect();
    if let Some(dir) = cache_dir {
        for (slot, key) in results.iter_mut().zip(&keys) {
            if let Some((png, entry)) = cache::get(dir, key) {
                *slot = Some(Ok(Made {
                    png,
                    seed: entry.seed,
                    returned: entry.returned,
                    revised_prompt: entry.revised_prompt,
                    cached: true,
                }));
            }
        }
    }
    let todo: Vec<usize> = (0..jobs.len()).filter(|&i| results[i].is_none()).collect();
    if !todo.is_empty() {
        let requests: Vec<_> = todo
            .iter()
            .map(|&i| {
                let work = match jobs[i].source {
                    None => Work::Generate {
                        prompt: jobs[i].text,
                    },
                    Some((_, png)) => Work::Edit {
                        edit: jobs[i].text,
                        png,
                        path: edit_path(edit),
                    },
                };
                backend::request(settings, &work, size, seed)
            })
            .collect();
        let finals = retry::send_all(host, settings, &requests)?;
        for (&i, fin) in todo.iter().zip(finals) {
            let made = match fin {
                Final::Answer(response) => {
                    backend::parse(settings, &response).and_then(|r| finish(r, size))
                }
                Final::GaveUp(why) => Err(why),
            };
            if let (Ok(made), Some(dir)) = (&made, cache_dir) {
                let entry = cache::Entry {
                    seed: made.seed,
                    returned: made.returned,
                    revised_prompt: made.revised_prompt.clone(),
                };
                if let Err(e) = cache::put(dir, &keys[i], &made.png, &entry) {
                    host.log(
                        maia_plugin_sdk::LogLevel::Warn,
                        &format!("http-images: cannot cache in {}: {e}", dir.display()),
                    );
                }
            }
            results[i] = Some(made);
        }
    }
    host.progress(jobs.len() as u64, jobs.len() as u64);
    report(call, results)
}

fn report(
    call: &Call<'_>,
    results: Vec<Option<Result<Made, String>>>,
) -> Result<ToolOutput, ToolError> {
    let &Call {
        settings,
        tool,
        jobs,
        size,
        seed,
        edit,
    } = call;
    let backend = settings.backend.as_str();
    let seed_note = match settings.backend {
        Backend::Openai => " (the openai backend takes no seed; recorded only)",
        Backend::A1111 => "",
    };
    let mut lines = vec![format!(
        "{tool} via {backend} ({}) at {}: requested {size}×{size}, seed {seed}{seed_note}",
        if settings.model.is_empty() {
            "the server's loaded model"
        } else {
            &settings.model
        },
        settings.server()
    )];
    if let Some(plan) = edit.filter(|p| p.path != EditPath::OpenaiEdits) {
        lines.push(format!("edits: {}", plan.describe(settings)));
    }
    let mut output = ToolOutput::text(String::new());
    let mut contract = Contract::default();
    let mut failures = 0;
    let mut n = 0;
    for (job, result) in jobs.iter().zip(results) {
        let what = match job.source {
            None => format!("'{}'", job.text),
            Some((id, _)) => format!("'{}' on {id}", job.text),
        };
        match result.unwrap_or_else(|| Err("no result".into())) {
            Ok(made) => {
                n += 1;
                let (w, h) = made.returned;
                let got_size = if (w, h) == (size, size) {
                    format!("{w}×{h}")
                } else {
                    format!("{w}×{h} (resized to {size}×{size})")
                };
                let got_seed = made
                    .seed
                    .map_or_else(|| "seed not reported".to_owned(), |s| format!("seed {s}"));
                lines.push(format!(
                    "image {n}: {what} → got {got_size}, {got_seed}{}",
                    if made.cached { ", from cache" } else { "" }
                ));
                let mut meta = json!({
                    "backend": backend,
                    "model": settings.model,
                    "seed": made.seed.unwrap_or(seed),
                    "requested_seed": seed,
                    "requested_size": [size, size],
                    "size": [size, size],
                    "returned_size": [w, h],
                    "cached": made.cached,
                });
                let caption = match job.source {
                    None => {
                        meta["prompt"] = json!(job.text);
                        job.text.to_owned()
                    }
                    Some((id, _)) => {
                        meta["edit"] = json!(job.text);
                        meta["source"] = json!(id);
                        let path = edit_path(edit);
                        meta["edit_method"] = json!(path.method());
                        meta["edit_model"] = match path {
                            EditPath::OpenaiEdits => json!(settings.model),
                            _ => json!(path.checkpoint()),
                        };
                        format!("{} (from {id})", job.text)
                    }
                };
                if let Some(revised) = &made.revised_prompt {
                    meta["revised_prompt"] = json!(revised);
                }
                contract.made(n, job, made.seed, made.cached);
                output = output.with_image(Image::new(made.png, caption).with_meta(meta));
            }
            Err(why) => {
                failures += 1;
                lines.push(format!("failed: {what}: {why}"));
                contract.failed(job, &why);
            }
        }
    }
    let text = lines.join("\n");
    if failures == jobs.len() {
        return Err(ToolError::failed(text));
    }
    output.text = text;
    let model = (!settings.model.is_empty()).then(|| settings.model.clone());
    let data = match edit {
        None => serde_json::to_value(Text2ImageData {
            world: None,
            backend: Some(backend.to_owned()),
            model: model.clone(),
            seed,
            size,
            images: contract.generated,
            failed: contract.failed_prompts,
        }),
        Some(plan) => serde_json::to_value(EditImagesData {
            world: None,
            backend: Some(backend.to_owned()),
            model,
            edit_method: Some(plan.path.method().to_owned()),
            images: contract.edited,
            failed: contract.failed_edits,
        }),
    }
    .map_err(|e| ToolError::failed(format!("describing the images as JSON failed: {e}")))?;
    Ok(output.with_data(data))
}

/// The call's `data` in the standard tools' contract, filled image by image.
#[derive(Default)]
struct Contract {
    generated: Vec<GeneratedImage>,
    failed_prompts: Vec<FailedPrompt>,
    edited: Vec<EditedImage>,
    failed_edits: Vec<EditFailure>,
}

impl Contract {
    /// Image `n` (from 1) came back for `job`, made with `seed` when the server said, or
    /// from the cache.
    fn made(&mut self, n: usize, job: &Job<'_>, seed: Option<u64>, cached: bool) {
        match job.source {
            None => self.generated.push(GeneratedImage {
                image: n,
                prompt: job.text.to_owned(),
                seed,
                drew: None,
                warnings: Vec::new(),
                cached,
            }),
            Some((id, _)) => self.edited.push(EditedImage {
                image: n,
                source: id.clone(),
                edit: job.text.to_owned(),
                seed,
                applied: Vec::new(),
                drew: None,
                warnings: Vec::new(),
                unchanged: false,
                cached,
            }),
        }
    }

    /// `job` made no image, for `why`.
    fn failed(&mut self, job: &Job<'_>, why: &str) {
        match job.source {
            None => self.failed_prompts.push(FailedPrompt {
                prompt: job.text.to_owned(),
                error: why.to_owned(),
            }),
            Some((id, _)) => self.failed_edits.push(EditFailure {
                source: id.clone(),
                edit: job.text.to_owned(),
                error: why.to_owned(),
            }),
        }
    }
}
