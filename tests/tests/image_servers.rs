//! The loopback diffusion servers of `maia_tests::image_servers`, driven by a plain
//! reqwest client: normal service of each route, then every scripted fault — status,
//! headers, body shape and whether the images decode.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use maia_tests::image_servers::{
    A1111_IMG2IMG, A1111_OPTIONS, A1111_SD_MODELS, A1111_TXT2IMG, DEFAULT_A1111_MODEL, Fault,
    INSTRUCT_PIX2PIX_MODEL, ImageServer, OPENAI_EDITS, OPENAI_GENERATIONS, RetryAfter,
    prompt_color, refused_url,
};
use maia_tests::{decode, pattern, png, solid_png};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type TestResult = Result<(), maia_tests::Error>;

/// A JSON answer: status, `Retry-After` (if any), body as JSON (or `Null`).
struct Answer {
    status: u16,
    retry_after: Option<String>,
    content_type: String,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

async fn answer(response: reqwest::Response) -> Result<Answer, reqwest::Error> {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let status = response.status().as_u16();
    let retry_after = header("retry-after");
    let content_type = header("content-type").unwrap_or_default();
    let text = response.text().await?;
    Ok(Answer {
        status,
        retry_after,
        content_type,
        text,
    })
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn post_json(url: &str, body: &Value) -> Result<Answer, reqwest::Error> {
    answer(client().post(url).json(body).send().await?).await
}

/// A multipart/form-data body, built by hand: `(name, filename, bytes)` per part.
fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----maiaTestBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, filename, data) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match filename {
            Some(file) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: image/png\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post_multipart(
    url: &str,
    parts: &[(&str, Option<&str>, &[u8])],
) -> Result<Answer, reqwest::Error> {
    let (content_type, body) = multipart(parts);
    let response = client()
        .post(url)
        .header("content-type", content_type)
        .header("authorization", "Bearer sk-test-edit")
        .body(body)
        .send()
        .await?;
    answer(response).await
}

/// The images of an answer, base64-decoded and PNG-decoded.
fn images(body: &Value, api_field: &str) -> Vec<image::RgbaImage> {
    let list = match api_field {
        "data" => body["data"]
            .as_array()
            .map(|d| d.iter().map(|e| e["b64_json"].clone()).collect::<Vec<_>>()),
        _ => body["images"].as_array().cloned(),
    };
    list.unwrap_or_default()
        .iter()
        .map(|v| {
            let bytes = BASE64
                .decode(v.as_str().unwrap_or(""))
                .unwrap_or_else(|e| panic!("image is not base64: {e}"));
            decode(&bytes).unwrap_or_else(|e| panic!("image is not a PNG: {e}"))
        })
        .collect()
}

fn rgb(image: &image::RgbaImage, x: u32, y: u32) -> [u8; 3] {
    let [r, g, b, _] = image.get_pixel(x, y).0;
    [r, g, b]
}

#[tokio::test]
async fn openai_generation_draws_the_requested_size_and_records_the_request() -> TestResult {
    let server = ImageServer::openai().await;
    let response = client()
        .post(format!("{}/v1{}", server.url(), "/images/generations"))
        .header("authorization", "Bearer sk-test-secret")
        .json(
            &json!({"model": "gpt-image-1", "prompt": "a red car", "n": 2,
                      "size": "64x32", "response_format": "b64_json"}),
        )
        .send()
        .await?;
    assert!(response.headers().contains_key("x-request-id"));
    let got = answer(response).await?;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.content_type, "application/json");
    let body = got.json();
    assert!(body["created"].as_u64().is_some_and(|t| t > 1_700_000_000));
    assert_eq!(body["data"][0]["revised_prompt"], "a red car");
    let pngs = images(&body, "data");
    assert_eq!(pngs.len(), 2);
    for (i, image) in pngs.iter().enumerate() {
        assert_eq!(image.dimensions(), (64, 32));
        assert_eq!(rgb(image, 63, 31), prompt_color("a red car", i as i64));
    }
    assert_ne!(rgb(&pngs[0], 0, 0), rgb(&pngs[1], 0, 0));

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        (request.method.as_str(), request.route()),
        ("POST", OPENAI_GENERATIONS)
    );
    assert_eq!(
        request.header("Authorization"),
        Some("Bearer sk-test-secret")
    );
    assert!(request.contains("sk-test-secret"));
    assert_eq!(
        request.json.as_ref().map(|j| j["prompt"].clone()),
        Some(json!("a red car"))
    );
    assert_eq!(request.fault, None);
    assert_eq!(server.count(OPENAI_GENERATIONS), 1);
    assert_eq!(server.count(OPENAI_EDITS), 0);
    Ok(())
}

#[tokio::test]
async fn openai_defaults_and_validation_errors() -> TestResult {
    let server = ImageServer::openai().await;
    let url = format!("{}{OPENAI_GENERATIONS}", server.url());
    let got = post_json(&url, &json!({"prompt": "default size"})).await?;
    let pngs = images(&got.json(), "data");
    assert_eq!(pngs.len(), 1);
    assert_eq!(pngs[0].dimensions(), (1024, 1024));

    let got = post_json(&url, &json!({"size": "64x64"})).await?;
    assert_eq!(got.status, 400);
    assert_eq!(got.json()["error"]["param"], "prompt");
    assert_eq!(got.json()["error"]["type"], "invalid_request_error");

    let got = post_json(&url, &json!({"prompt": "p", "size": "big"})).await?;
    assert_eq!(got.status, 400);
    assert_eq!(got.json()["error"]["param"], "size");

    let got = post_json(&url, &json!({"prompt": "p", "response_format": "url"})).await?;
    assert_eq!(got.status, 400);
    assert_eq!(got.json()["error"]["param"], "response_format");

    let got = post_json(&format!("{}/v1/nope", server.url()), &json!({})).await?;
    assert_eq!(got.status, 404);
    assert!(got.json()["error"]["message"].is_string());
    assert_eq!(server.count("/v1/nope"), 1);
    Ok(())
}

#[tokio::test]
async fn openai_key_is_checked_when_required() -> TestResult {
    let server = ImageServer::openai().await;
    server.require_api_key("sk-right");
    let url = format!("{}{OPENAI_GENERATIONS}", server.url());
    let body = json!({"prompt": "p", "size": "8x8"});
    let got = answer(
        client()
            .post(&url)
            .bearer_auth("sk-wrong")
            .json(&body)
            .send()
            .await?,
    )
    .await?;
    assert_eq!(got.status, 401);
    assert_eq!(got.json()["error"]["code"], "invalid_api_key");
    assert!(!got.text.contains("sk-wrong"));
    let got = answer(
        client()
            .post(&url)
            .bearer_auth("sk-right")
            .json(&body)
            .send()
            .await?,
    )
    .await?;
    assert_eq!(got.status, 200);
    Ok(())
}

#[tokio::test]
async fn openai_edit_parses_multipart_and_blends_the_input() -> TestResult {
    let server = ImageServer::openai().await;
    let url = format!("{}{OPENAI_EDITS}", server.url());
    let input = solid_png(16, 16, [0, 0, 0, 255])?;
    let got = post_multipart(
        &url,
        &[
            ("image", Some("image.png"), &input),
            ("prompt", None, b"make it blue"),
            ("model", None, b"gpt-image-1"),
            ("size", None, b"32x24"),
            ("n", None, b"1"),
        ],
    )
    .await?;
    assert_eq!(got.status, 200, "{}", got.text);
    let pngs = images(&got.json(), "data");
    assert_eq!(pngs.len(), 1);
    assert_eq!(pngs[0].dimensions(), (32, 24));
    // Black blended halfway toward the prompt's colour.
    let half = prompt_color("make it blue", 0).map(|c| (f64::from(c) * 0.5).round() as u8);
    assert_eq!(rgb(&pngs[0], 5, 5), half);

    let request = &server.requests()[0];
    let image = request.field("image").ok_or("no image part recorded")?;
    assert_eq!(image.filename.as_deref(), Some("image.png"));
    assert_eq!(image.content_type.as_deref(), Some("image/png"));
    assert_eq!(image.data, input);
    assert_eq!(
        request.field_text("prompt").as_deref(),
        Some("make it blue")
    );
    assert_eq!(request.field_text("size").as_deref(), Some("32x24"));

    // Without a size the input's is kept.
    let patterned = png(&pattern(20, 10))?;
    let got = post_multipart(
        &url,
        &[("image", Some("x.png"), &patterned), ("prompt", None, b"p")],
    )
    .await?;
    assert_eq!(images(&got.json(), "data")[0].dimensions(), (20, 10));

    // An image part that is not a PNG: 400 with OpenAI's error shape.
    let got = post_multipart(
        &url,
        &[
            ("image", Some("image.png"), b"JFIF not a png"),
            ("prompt", None, b"p"),
        ],
    )
    .await?;
    assert_eq!(got.status, 400);
    let error = &got.json()["error"];
    assert_eq!(error["param"], "image");
    assert_eq!(error["code"], "invalid_image_format");
    assert!(error["message"].as_str().is_some_and(|m| m.contains("PNG")));

    let got = post_multipart(&url, &[("prompt", None, b"p")]).await?;
    assert_eq!(got.status, 400);
    assert_eq!(got.json()["error"]["param"], "image");
    assert_eq!(server.count(OPENAI_EDITS), 4);
    Ok(())
}

fn info_of(body: &Value) -> Value {
    let text = body["info"]
        .as_str()
        .unwrap_or_else(|| panic!("info is not a string: {body}"));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("info is not JSON text ({e}): {text}"))
}

#[tokio::test]
async fn a1111_txt2img_honours_size_and_seed() -> TestResult {
    let server = ImageServer::a1111().await;
    let url = format!("{}{A1111_TXT2IMG}", server.url());
    let got = post_json(
        &url,
        &json!({"prompt": "a dog", "negative_prompt": "blurry", "seed": 42, "steps": 20,
                "width": 48, "height": 40, "cfg_scale": 7.5, "sampler_name": "DPM++ 2M",
                "batch_size": 2, "n_iter": 1}),
    )
    .await?;
    assert_eq!(got.status, 200, "{}", got.text);
    let body = got.json();
    let pngs = images(&body, "images");
    assert_eq!(pngs.len(), 2);
    assert_eq!(pngs[0].dimensions(), (48, 40));
    assert_eq!(rgb(&pngs[0], 0, 0), prompt_color("a dog", 42));
    assert_eq!(rgb(&pngs[1], 0, 0), prompt_color("a dog", 43));
    assert_eq!(body["parameters"]["seed"], 42);
    assert_eq!(body["parameters"]["steps"], 20);
    let info = info_of(&body);
    assert_eq!(info["seed"], 42);
    assert_eq!(info["all_seeds"], json!([42, 43]));
    assert_eq!(
        (info["width"].clone(), info["height"].clone()),
        (json!(48), json!(40))
    );
    assert_eq!(info["sd_model_name"], DEFAULT_A1111_MODEL);
    assert_eq!(info["sampler_name"], "DPM++ 2M");
    assert_eq!(info["negative_prompt"], "blurry");
    assert_eq!(info["infotexts"].as_array().map(Vec::len), Some(2));

    // -1: a random seed, reported back, and the image drawn from it.
    let got = post_json(
        &url,
        &json!({"prompt": "a cat", "seed": -1, "width": 8, "height": 8}),
    )
    .await?;
    let body = got.json();
    let seed = info_of(&body)["seed"].as_i64().ok_or("no seed in info")?;
    assert!((0..4_294_967_294).contains(&seed), "seed {seed}");
    assert_eq!(
        rgb(&images(&body, "images")[0], 0, 0),
        prompt_color("a cat", seed)
    );
    assert_eq!(body["parameters"]["seed"], -1);

    // Defaults: 512x512, one image.
    let got = post_json(&url, &json!({"prompt": "x"})).await?;
    let pngs = images(&got.json(), "images");
    assert_eq!((pngs.len(), pngs[0].dimensions()), (1, (512, 512)));

    // FastAPI-style validation error.
    let got = post_json(&url, &json!({"prompt": "x", "width": "wide"})).await?;
    assert_eq!(got.status, 422);
    assert_eq!(got.json()["detail"][0]["loc"], json!(["body", "width"]));
    let got = post_json(&url, &json!({"prompt": "x", "height": 0})).await?;
    assert_eq!(got.status, 422);
    assert_eq!(server.count(A1111_TXT2IMG), 5);
    Ok(())
}

#[tokio::test]
async fn a1111_models_options_and_img2img_with_an_edit_checkpoint() -> TestResult {
    let server =
        ImageServer::a1111_with_models(&[DEFAULT_A1111_MODEL, INSTRUCT_PIX2PIX_MODEL]).await;
    let models: Value = client()
        .get(format!("{}{A1111_SD_MODELS}", server.url()))
        .send()
        .await?
        .json()
        .await?;
    let names: Vec<&str> = models
        .as_array()
        .ok_or("sd-models is not a list")?
        .iter()
        .filter_map(|m| m["model_name"].as_str())
        .collect();
    assert_eq!(names, [DEFAULT_A1111_MODEL, INSTRUCT_PIX2PIX_MODEL]);
    let title = models[1]["title"].as_str().ok_or("no title")?;
    assert!(
        title.starts_with("instruct-pix2pix-00-22000.safetensors ["),
        "{title}"
    );
    assert_eq!(server.model_titles()[1], title);
    let options: Value = client()
        .get(format!("{}{A1111_OPTIONS}", server.url()))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(
        options["sd_model_checkpoint"],
        json!(server.model_titles()[0])
    );

    let url = format!("{}{A1111_IMG2IMG}", server.url());
    let input = BASE64.encode(solid_png(10, 10, [200, 100, 0, 255])?);
    let got = post_json(
        &url,
        &json!({"prompt": "make it snow", "seed": 7, "width": 20, "height": 10,
                "init_images": [format!("data:image/png;base64,{input}")],
                "denoising_strength": 0.0, "image_cfg_scale": 1.5,
                "override_settings": {"sd_model_checkpoint": title}}),
    )
    .await?;
    assert_eq!(got.status, 200, "{}", got.text);
    let body = got.json();
    let info = info_of(&body);
    assert_eq!(info["sd_model_name"], INSTRUCT_PIX2PIX_MODEL);
    assert_eq!(info["seed"], 7);
    assert_eq!(info["denoising_strength"], 0.0);
    let pngs = images(&body, "images");
    assert_eq!(pngs[0].dimensions(), (20, 10));
    assert_eq!(rgb(&pngs[0], 3, 3), [200, 100, 0]); // strength 0 keeps the input
    let recorded = server.requests().pop().ok_or("no request recorded")?;
    let sent = recorded.json.ok_or("body not recorded as JSON")?;
    assert_eq!(
        sent["override_settings"]["sd_model_checkpoint"],
        json!(title)
    );

    // By model name too; full strength paints the prompt's colour.
    let got = post_json(
        &url,
        &json!({"prompt": "p", "seed": 1, "init_images": [input], "denoising_strength": 1.0,
                "override_settings": {"sd_model_checkpoint": INSTRUCT_PIX2PIX_MODEL}}),
    )
    .await?;
    let pngs = images(&got.json(), "images");
    assert_eq!(pngs[0].dimensions(), (512, 512));
    assert_eq!(rgb(&pngs[0], 0, 0), prompt_color("p", 1));

    // An unknown checkpoint, no init image, an init image that is not a PNG.
    let got = post_json(
        &url,
        &json!({"prompt": "p", "init_images": [input],
                "override_settings": {"sd_model_checkpoint": "nope-v9"}}),
    )
    .await?;
    assert_eq!(got.status, 500);
    assert!(
        got.json()["errors"]
            .as_str()
            .is_some_and(|e| e.contains("nope-v9"))
    );
    let got = post_json(&url, &json!({"prompt": "p"})).await?;
    assert_eq!(got.status, 404);
    assert_eq!(got.json()["detail"], "Init image not found");
    let got = post_json(
        &url,
        &json!({"prompt": "p", "init_images": [BASE64.encode(b"not a png")]}),
    )
    .await?;
    assert_eq!(got.status, 500);
    assert_eq!(got.json()["detail"], "Invalid encoded image");
    Ok(())
}

#[tokio::test]
async fn the_a1111_server_lists_only_the_default_checkpoint() -> TestResult {
    let server = ImageServer::a1111().await;
    let models: Value = client()
        .get(format!("{}{A1111_SD_MODELS}", server.url()))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(models.as_array().map(Vec::len), Some(1));
    assert_eq!(models[0]["model_name"], DEFAULT_A1111_MODEL);
    let got = post_json(&format!("{}/sdapi/v1/nope", server.url()), &json!({})).await?;
    assert_eq!(got.status, 404);
    Ok(())
}

/// Each API's image route and a request body for it.
async fn servers() -> Vec<(ImageServer, String, Value, &'static str)> {
    let openai = ImageServer::openai().await;
    let a1111 = ImageServer::a1111().await;
    let openai_url = format!("{}{OPENAI_GENERATIONS}", openai.url());
    let a1111_url = format!("{}{A1111_TXT2IMG}", a1111.url());
    vec![
        (
            openai,
            openai_url,
            json!({"prompt": "p", "size": "16x16", "response_format": "b64_json"}),
            "data",
        ),
        (
            a1111,
            a1111_url,
            json!({"prompt": "p", "seed": 3, "width": 16, "height": 16}),
            "images",
        ),
    ]
}

/// The image strings of a 200 answer.
fn image_fields(body: &Value, field: &str) -> Vec<String> {
    let list = body[field].as_array().cloned().unwrap_or_default();
    list.iter()
        .map(|v| {
            let v = if field == "data" { &v["b64_json"] } else { v };
            v.as_str().unwrap_or_default().to_string()
        })
        .collect()
}

#[tokio::test]
async fn rate_limits_carry_retry_after_in_seconds_or_as_a_date() -> TestResult {
    let at = UNIX_EPOCH
        + Duration::from_secs(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() + 30);
    for (server, url, body, field) in servers().await {
        server.push_fault(Fault::TooManyRequests {
            retry_after: RetryAfter::Seconds(3),
        });
        server.push_fault(Fault::TooManyRequests {
            retry_after: RetryAfter::HttpDate(at),
        });
        let got = post_json(&url, &body).await?;
        assert_eq!(got.status, 429);
        assert_eq!(got.retry_after.as_deref(), Some("3"));
        if field == "data" {
            assert_eq!(got.json()["error"]["code"], "rate_limit_exceeded");
        } else {
            assert!(got.json()["detail"].is_string());
        }
        let got = post_json(&url, &body).await?;
        assert_eq!(got.status, 429);
        let date = got.retry_after.ok_or("no Retry-After")?;
        assert!(date.ends_with(" GMT"), "{date}");
        assert_eq!(httpdate::parse_http_date(&date)?, at);
        // Then normal service.
        assert_eq!(server.pending_faults(), 0);
        let got = post_json(&url, &body).await?;
        assert_eq!(got.status, 200);
        assert_eq!(images(&got.json(), field).len(), 1);
        let faults: Vec<_> = server.requests().into_iter().map(|r| r.fault).collect();
        assert!(matches!(faults[0], Some(Fault::TooManyRequests { .. })));
        assert_eq!(faults[2], None);
    }
    Ok(())
}

#[tokio::test]
async fn server_errors_and_scripted_statuses() -> TestResult {
    for (server, url, body, field) in servers().await {
        server.push_fault(Fault::ServerError(500));
        server.push_fault(Fault::ServerError(503));
        server.push_fault(Fault::Status(418, "I'm a teapot".into()));
        server.push_fault(Fault::Status(
            400,
            r#"{"error": {"message": "custom"}}"#.into(),
        ));
        let got = post_json(&url, &body).await?;
        assert_eq!(got.status, 500);
        if field == "data" {
            assert_eq!(got.json()["error"]["type"], "server_error");
        } else {
            assert!(got.json()["errors"].is_string());
        }
        assert_eq!(post_json(&url, &body).await?.status, 503);
        let got = post_json(&url, &body).await?;
        assert_eq!((got.status, got.text.as_str()), (418, "I'm a teapot"));
        assert!(got.content_type.starts_with("text/plain"));
        let got = post_json(&url, &body).await?;
        assert_eq!(got.status, 400);
        assert_eq!(got.content_type, "application/json");
        assert_eq!(got.json()["error"]["message"], "custom");
        assert_eq!(post_json(&url, &body).await?.status, 200);
    }
    Ok(())
}

#[tokio::test]
async fn slow_answers_trip_client_timeouts_then_service_resumes() -> TestResult {
    for (server, url, body, field) in servers().await {
        server.push_fault(Fault::Slow(Duration::from_secs(2)));
        server.push_fault(Fault::Slow(Duration::from_millis(50)));
        let impatient = reqwest::Client::builder()
            .timeout(Duration::from_millis(300))
            .build()?;
        let started = std::time::Instant::now();
        let error = impatient
            .post(&url)
            .json(&body)
            .send()
            .await
            .err()
            .ok_or("a 2 s answer beat a 300 ms timeout")?;
        assert!(error.is_timeout(), "{error}");
        assert!(started.elapsed() < Duration::from_secs(2));
        // A short delay still answers normally.
        let got = answer(impatient.post(&url).json(&body).send().await?).await?;
        assert_eq!(got.status, 200);
        assert_eq!(images(&got.json(), field).len(), 1);
        assert_eq!(server.count(server.requests()[0].route()), 2);
    }
    Ok(())
}

#[tokio::test]
async fn spoiled_images_invalid_base64_undecodable_png_zero_images() -> TestResult {
    for (server, url, body, field) in servers().await {
        server.push_fault(Fault::InvalidBase64);
        server.push_fault(Fault::UndecodablePng);
        server.push_fault(Fault::ZeroImages);

        let got = post_json(&url, &body).await?;
        assert_eq!(got.status, 200);
        let fields = image_fields(&got.json(), field);
        assert_eq!(fields.len(), 1);
        assert!(BASE64.decode(&fields[0]).is_err(), "{}", fields[0]);

        let got = post_json(&url, &body).await?;
        assert_eq!(got.status, 200);
        let fields = image_fields(&got.json(), field);
        assert_eq!(fields.len(), 1);
        let bytes = BASE64.decode(&fields[0])?;
        assert!(decode(&bytes).is_err());

        let got = post_json(&url, &body).await?;
        assert_eq!(got.status, 200);
        assert_eq!(got.json()[field], json!([]));
        if field == "images" {
            assert!(got.json()["info"].is_string(), "A1111 keeps its info");
        }

        let got = post_json(&url, &body).await?;
        assert_eq!(images(&got.json(), field).len(), 1);
    }
    Ok(())
}

#[tokio::test]
async fn a_dropped_connection_and_a_refused_one() -> TestResult {
    for (server, url, body, field) in servers().await {
        server.push_fault(Fault::CloseConnection);
        let error = client()
            .post(&url)
            .json(&body)
            .send()
            .await
            .err()
            .ok_or("a dropped connection gave an answer")?;
        assert!(!error.is_timeout() && error.status().is_none(), "{error}");
        assert_eq!(server.requests().len(), 1, "the request was still recorded");
        let got = post_json(&url, &body).await?;
        assert_eq!(images(&got.json(), field).len(), 1);
    }
    let error = client()
        .post(format!("{}{OPENAI_GENERATIONS}", refused_url()))
        .json(&json!({"prompt": "p"}))
        .send()
        .await
        .err()
        .ok_or("a closed port answered")?;
    assert!(error.is_connect(), "{error}");
    Ok(())
}

#[tokio::test]
async fn faults_wait_for_image_requests_unless_aimed_at_a_route() -> TestResult {
    let server = ImageServer::a1111().await;
    server.push_fault(Fault::ServerError(500));
    server.push_fault_on(A1111_SD_MODELS, Fault::Status(502, "bad gateway".into()));
    let models_url = format!("{}{A1111_SD_MODELS}", server.url());
    // The first listing takes the fault aimed at it, not the image fault queued before it.
    assert_eq!(client().get(&models_url).send().await?.status(), 502);
    assert_eq!(client().get(&models_url).send().await?.status(), 200);
    assert_eq!(server.pending_faults(), 1);
    let url = format!("{}{A1111_TXT2IMG}?trace=1", server.url());
    let got = post_json(&url, &json!({"prompt": "p", "width": 8, "height": 8})).await?;
    assert_eq!(got.status, 500);
    assert_eq!(server.count(A1111_TXT2IMG), 1, "count ignores the query");
    assert_eq!(server.count(A1111_SD_MODELS), 2);
    Ok(())
}

#[tokio::test]
async fn chunked_bodies_and_expect_continue_are_understood() -> TestResult {
    let server = ImageServer::openai().await;
    let mut socket = tokio::net::TcpStream::connect(server.addr()).await?;
    let body = br#"{"prompt": "chunked", "size": "4x4"}"#;
    let (a, b) = body.split_at(10);
    let mut request = format!(
        "POST {OPENAI_GENERATIONS} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n{:x}\r\n",
        a.len()
    )
    .into_bytes();
    request.extend_from_slice(a);
    request.extend_from_slice(format!("\r\n{:x}\r\n", b.len()).as_bytes());
    request.extend_from_slice(b);
    request.extend_from_slice(b"\r\n0\r\n\r\n");
    socket.write_all(&request).await?;
    let mut reply = Vec::new();
    socket.read_to_end(&mut reply).await?;
    let reply = String::from_utf8_lossy(&reply);
    assert!(
        reply.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"),
        "{reply}"
    );
    let recorded = &server.requests()[0];
    assert_eq!(recorded.body, body);
    assert_eq!(
        recorded.json.as_ref().map(|j| j["prompt"].clone()),
        Some(json!("chunked"))
    );
    Ok(())
}
