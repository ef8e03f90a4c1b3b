//! The two APIs: building a request for one image, and reading one image back.
//!
//! OpenAI Images: `POST {base}/images/generations` (JSON) and `POST {base}/images/edits`
//! (multipart), answered with `{"created": .., "data": [{"b64_json": ..}]}`. It takes no
//! seed. AUTOMATIC1111 / Forge: `POST {base}/sdapi/v1/txt2img` and `/img2img` (JSON),
//! answered with `{"images": [b64], "parameters": {..}, "info": "<JSON with seed>"}`;
//! `GET {base}/sdapi/v1/sd-models` lists its checkpoints (see [`crate::edit_path`]).

use crate::edit_path::EditPath;
use crate::settings::{Backend, Settings};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use maia_plugin_sdk::{HttpRequest, HttpResponse};
use serde_json::{Value, json};

/// What to make: a new image from a prompt, or an edit of an existing one.
#[derive(Clone, Debug)]
pub enum Work<'a> {
    /// text2image.
    Generate {
        /// The prompt.
        prompt: &'a str,
    },
    /// edit_images.
    Edit {
        /// The instruction.
        edit: &'a str,
        /// The source image's PNG bytes.
        png: &'a [u8],
        /// How the edit is made (a1111: img2img or an InstructPix2Pix checkpoint).
        path: &'a EditPath,
    },
}

/// One image as the server sent it, checked.
#[derive(Clone, Debug)]
pub struct Returned {
    /// The decoded image.
    pub image: image::RgbaImage,
    /// The seed the server reports it used (a1111), if any.
    pub seed: Option<u64>,
    /// OpenAI's rewritten prompt, if any.
    pub revised_prompt: Option<String>,
}

/// Whether an OpenAI model rejects `response_format` (the gpt-image models always
/// answer with base64 and refuse the parameter).
fn takes_response_format(model: &str) -> bool {
    !model.starts_with("gpt-image")
}

/// The side asked of the server.
fn server_side(settings: &Settings, size: u32) -> u32 {
    if settings.server_size == 0 {
        size
    } else {
        settings.server_size
    }
}

/// The size string sent to OpenAI.
fn openai_size(settings: &Settings, size: u32) -> String {
    let side = server_side(settings, size);
    format!("{side}x{side}")
}

/// Rounds a side up to a multiple of 8, as Stable Diffusion needs.
fn sd_side(settings: &Settings, size: u32) -> u32 {
    server_side(settings, size).div_ceil(8) * 8
}

/// Builds the request for one image. The key (if any) goes in a header only.
pub fn request(settings: &Settings, work: &Work<'_>, size: u32, seed: u64) -> HttpRequest {
    let base = &settings.base_url;
    let req = match (settings.backend, work) {
        (Backend::Openai, Work::Generate { prompt }) => {
            let mut body = json!({
                "model": settings.model,
                "prompt": prompt,
                "n": 1,
                "size": openai_size(settings, size),
            });
            if takes_response_format(&settings.model) {
                body["response_format"] = json!("b64_json");
            }
            HttpRequest::post_json(format!("{base}/images/generations"), &body)
        }
        (Backend::Openai, Work::Edit { edit, png, .. }) => {
            let mut form = crate::multipart::Form::new();
            form.text("model", &settings.model);
            form.text("prompt", edit);
            form.text("n", "1");
            form.text("size", &openai_size(settings, size));
            if takes_response_format(&settings.model) {
                form.text("response_format", "b64_json");
            }
            form.file("image", "image.png", "image/png", png);
            let (content_type, body) = form.finish();
            HttpRequest {
                method: "POST".into(),
                url: format!("{base}/images/edits"),
                headers: vec![("Content-Type".into(), content_type)],
                body,
                timeout_ms: 0,
            }
        }
        (Backend::A1111, work) => {
            let side = sd_side(settings, size);
            let mut body = json!({
                "negative_prompt": settings.negative_prompt,
                "seed": seed,
                "steps": settings.steps,
                "width": side,
                "height": side,
                "cfg_scale": settings.cfg_scale,
                "sampler_name": settings.sampler_name,
                "batch_size": 1,
                "n_iter": 1,
            });
            let mut overrides = serde_json::Map::new();
            if !settings.model.is_empty() {
                overrides.insert("sd_model_checkpoint".into(), json!(settings.model));
            }
            let path = match work {
                Work::Generate { prompt } => {
                    body["prompt"] = json!(prompt);
                    "txt2img"
                }
                Work::Edit { edit, png, path } => {
                    body["prompt"] = json!(edit);
                    body["init_images"] = json!([STANDARD.encode(png)]);
                    match path {
                        EditPath::InstructPix2Pix { checkpoint } => {
                            overrides.insert("sd_model_checkpoint".into(), json!(checkpoint));
                            body["image_cfg_scale"] = json!(settings.image_cfg_scale);
                            body["denoising_strength"] = json!(1.0);
                        }
                        EditPath::Img2img | EditPath::OpenaiEdits => {
                            body["denoising_strength"] = json!(settings.denoising_strength);
                        }
                    }
                    "img2img"
                }
            };
            if !overrides.is_empty() {
                body["override_settings"] = Value::Object(overrides);
            }
            HttpRequest::post_json(format!("{base}/sdapi/v1/{path}"), &body)
        }
    };
    with_common_headers(settings, req)
}

/// `GET {base}/sdapi/v1/sd-models`: the A1111 server's checkpoints.
pub fn sd_models_request(settings: &Settings) -> HttpRequest {
    let req = HttpRequest {
        method: "GET".into(),
        url: format!("{}/sdapi/v1/sd-models", settings.base_url),
        headers: Vec::new(),
        body: Vec::new(),
        timeout_ms: 0,
    };
    with_common_headers(settings, req)
}

/// The deadline, `Accept` and the key (if any, as a header only) every request carries.
fn with_common_headers(settings: &Settings, mut req: HttpRequest) -> HttpRequest {
    req.timeout_ms = settings.timeout().as_millis().min(u128::from(u64::MAX)) as u64;
    req.headers
        .push(("Accept".into(), "application/json".into()));
    if let Some(key) = settings.api_key() {
        req.headers
            .push(("Authorization".into(), format!("Bearer {key}")));
    }
    req
}

/// A short, key-free excerpt of an error body: OpenAI's `error.message`, A1111's
/// `detail`/`error`, else the start of the text.
pub fn error_excerpt(body: &[u8]) -> Option<String> {
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(v) => v["error"]["message"]
            .as_str()
            .or_else(|| v["detail"].as_str())
            .or_else(|| v["error"].as_str())
            .or_else(|| v["message"].as_str())
            .map(str::to_owned)
            .or_else(|| (!v["detail"].is_null()).then(|| v["detail"].to_string())),
        Err(_) => Some(String::from_utf8_lossy(body).into_owned()),
    }?;
    let text = redact(text.trim());
    if text.is_empty() {
        return None;
    }
    let mut short: String = text.chars().take(300).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    Some(short)
}

/// [`error_excerpt`] as a `": …"` suffix for a message, or nothing.
pub fn excerpt_suffix(body: &[u8]) -> String {
    error_excerpt(body)
        .map(|e| format!(": {e}"))
        .unwrap_or_default()
}

/// Hides anything that looks like an API key (`sk-…`) in server text.
fn redact(text: &str) -> String {
    text.split(' ')
        .map(|w| {
            if w.starts_with("sk-") || w.starts_with("Bearer") {
                "[redacted]"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads one image out of a final answer; `Err` says why there is none.
pub fn parse(settings: &Settings, response: &HttpResponse) -> Result<Returned, String> {
    if !response.is_success() {
        let excerpt = excerpt_suffix(&response.body);
        let hint = match response.status {
            401 | 403 => match &settings.api_key_env {
                Some(var) => format!(" (check the API key in the environment variable {var})"),
                None => " (set api_key_env under [plugins.http-images] if the server needs a key)"
                    .into(),
            },
            404 => format!(
                " (is {} a {} server? check base_url)",
                settings.base_url,
                settings.backend.as_str()
            ),
            _ => String::new(),
        };
        return Err(format!(
            "the server answered {}{excerpt}{hint}",
            response.status
        ));
    }
    let body: Value = serde_json::from_slice(&response.body)
        .map_err(|e| format!("the server's answer is not JSON ({e})"))?;
    let (b64, seed, revised_prompt) = match settings.backend {
        Backend::Openai => {
            let data = body["data"]
                .as_array()
                .ok_or("the answer has no `data` list")?;
            let first = data
                .first()
                .ok_or("the server returned no image (empty `data`)")?;
            let b64 = match first["b64_json"].as_str() {
                Some(b) => b,
                None if first["url"].is_string() => {
                    return Err(
                        "the server returned an image URL, not image data (b64_json)".into(),
                    );
                }
                None => return Err("the image entry has no `b64_json`".into()),
            };
            (
                b64,
                None,
                first["revised_prompt"].as_str().map(str::to_owned),
            )
        }
        Backend::A1111 => {
            let images = body["images"]
                .as_array()
                .ok_or("the answer has no `images` list")?;
            let b64 = images
                .first()
                .and_then(Value::as_str)
                .ok_or("the server returned no image (empty `images`)")?;
            (b64, a1111_seed(&body), None)
        }
    };
    let b64 = b64.split_once(";base64,").map_or(b64, |(_, data)| data);
    let bytes = STANDARD
        .decode(b64.trim())
        .map_err(|e| format!("the image data is not valid base64 ({e})"))?;
    let image = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
        .map_err(|e| format!("the image data is not a PNG that decodes ({e})"))?
        .to_rgba8();
    Ok(Returned {
        image,
        seed,
        revised_prompt,
    })
}

/// The seed A1111 used: `info` is a JSON *string* holding `seed`.
fn a1111_seed(body: &Value) -> Option<u64> {
    let info = match &body["info"] {
        Value::String(s) => serde_json::from_str::<Value>(s).ok()?,
        Value::Object(_) => body["info"].clone(),
        _ => return body["parameters"]["seed"].as_u64(),
    };
    info["seed"]
        .as_u64()
        .or_else(|| info["all_seeds"][0].as_u64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        image::RgbaImage::from_pixel(w, h, image::Rgba([1, 2, 3, 255]))
            .write_to(&mut out, image::ImageFormat::Png)
            .expect("encode");
        out.into_inner()
    }

    fn settings(backend: Backend, model: &str) -> Settings {
        Settings {
            backend,
            base_url: "http://127.0.0.1:1".into(),
            model: model.into(),
            api_key_env: None,
            ..Settings::default()
        }
    }

    fn ok(body: Value) -> HttpResponse {
        HttpResponse {
            status: 200,
            headers: vec![],
            body: serde_json::to_vec(&body).expect("json"),
        }
    }

    #[test]
    fn gpt_image_models_get_no_response_format() {
        let w = Work::Generate { prompt: "a cat" };
        let mut s = settings(Backend::Openai, "dall-e-2");
        s.server_size = 0;
        let r = request(&s, &w, 256, 1);
        let body: Value = serde_json::from_slice(&r.body).expect("json");
        assert_eq!(body["response_format"], "b64_json");
        assert_eq!(body["size"], "256x256");
        let r = request(&settings(Backend::Openai, "gpt-image-1"), &w, 256, 1);
        let body: Value = serde_json::from_slice(&r.body).expect("json");
        assert!(body.get("response_format").is_none());
    }

    #[test]
    fn a1111_requests_carry_seed_and_edit_model() {
        let mut s = settings(Backend::A1111, "");
        s.server_size = 100;
        let src = png(4, 4);
        let r = request(
            &s,
            &Work::Edit {
                edit: "make it red",
                png: &src,
                path: &EditPath::Img2img,
            },
            100,
            7,
        );
        assert!(r.url.ends_with("/sdapi/v1/img2img"));
        let body: Value = serde_json::from_slice(&r.body).expect("json");
        assert_eq!(
            (body["seed"].as_u64(), body["width"].as_u64()),
            (Some(7), Some(104))
        );
        assert_eq!(body["denoising_strength"], 0.6);
        assert!(body.get("override_settings").is_none());
        let pix = EditPath::InstructPix2Pix {
            checkpoint: "instruct-pix2pix".into(),
        };
        let r = request(
            &s,
            &Work::Edit {
                edit: "make it red",
                png: &src,
                path: &pix,
            },
            100,
            7,
        );
        let body: Value = serde_json::from_slice(&r.body).expect("json");
        assert_eq!(
            body["override_settings"]["sd_model_checkpoint"],
            "instruct-pix2pix"
        );
        assert_eq!(body["image_cfg_scale"], 1.5);
        assert_eq!(body["denoising_strength"], 1.0);
        let list = sd_models_request(&s);
        assert_eq!(
            (list.method.as_str(), list.url.as_str()),
            ("GET", "http://127.0.0.1:1/sdapi/v1/sd-models")
        );
        assert!(list.timeout_ms > 0 && list.body.is_empty());
    }

    #[test]
    fn answers_are_parsed_and_faults_named() {
        let a = settings(Backend::A1111, "");
        let b64 = STANDARD.encode(png(8, 6));
        let got = parse(
            &a,
            &ok(json!({"images": [b64], "parameters": {}, "info": "{\"seed\": 42}"})),
        )
        .expect("image");
        assert_eq!((got.image.width(), got.seed), (8, Some(42)));
        let err = |s: &Settings, v: Value| parse(s, &ok(v)).expect_err("fault");
        assert!(err(&a, json!({"images": []})).contains("no image"));
        assert!(err(&a, json!({"images": ["!!!"]})).contains("base64"));
        let not_png = STANDARD.encode(b"GIF89a not a png");
        assert!(err(&a, json!({"images": [not_png]})).contains("PNG"));
        let o = settings(Backend::Openai, "dall-e-2");
        assert!(err(&o, json!({"created": 1, "data": []})).contains("no image"));
        let refused = HttpResponse {
            status: 401,
            headers: vec![],
            body: br#"{"error":{"message":"Incorrect API key provided: sk-abc123. You can find"}}"#
                .to_vec(),
        };
        let e = parse(&o, &refused).expect_err("401");
        assert!(e.contains("401") && !e.contains("sk-abc123"), "{e}");
    }
}
