//! The plugin against a fake host that answers `Host::http` from a script: both backends,
//! retries, the cache, failures reported not panicked, and the key kept out of the output.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http_images::HttpImages;
use maia_plugin_sdk::{
    ErrorKind, Host, HttpFailureKind, HttpOutcome, HttpRequest, HttpResponse, Image, ImageId,
    LogLevel, Plugin, ToolCall, ToolError, ToolOutput, UnitActivation,
};
use serde_json::{Value, json};
use std::collections::VecDeque;

fn png(w: u32, h: u32) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image::RgbaImage::from_pixel(w, h, image::Rgba([200, 10, 10, 255]))
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("encode");
    out.into_inner()
}

fn answer(status: u16, body: Value) -> HttpOutcome {
    HttpOutcome::Response(HttpResponse {
        status,
        headers: vec![("retry-after".into(), "0".into())],
        body: serde_json::to_vec(&body).expect("json"),
    })
}

fn a1111_ok(seed: u64) -> HttpOutcome {
    answer(
        200,
        json!({"images": [STANDARD.encode(png(64, 64))], "parameters": {},
               "info": json!({"seed": seed}).to_string()}),
    )
}

struct FakeHost {
    config: Value,
    script: VecDeque<HttpOutcome>,
    seen: Vec<HttpRequest>,
    images: Vec<Image>,
}

impl FakeHost {
    fn new(config: Value) -> Self {
        FakeHost {
            config,
            script: VecDeque::new(),
            seen: Vec::new(),
            images: Vec::new(),
        }
    }
}

impl Host for FakeHost {
    fn image(&mut self, id: &ImageId) -> Result<Image, ToolError> {
        self.images
            .iter()
            .find(|i| &i.id == id)
            .cloned()
            .ok_or_else(|| ToolError::invalid_args(format!("no image {id}")))
    }
    fn call_unit(&mut self, _: &[ImageId]) -> Result<Vec<UnitActivation>, ToolError> {
        Err(ToolError::failed("no unit"))
    }
    fn progress(&mut self, _: u64, _: u64) {}
    fn log(&mut self, _: LogLevel, _: &str) {}
    fn http(&mut self, requests: &[HttpRequest], _: usize) -> Result<Vec<HttpOutcome>, ToolError> {
        self.seen.extend(requests.iter().cloned());
        Ok(requests
            .iter()
            .map(|_| {
                self.script.pop_front().unwrap_or(HttpOutcome::Failed {
                    kind: HttpFailureKind::Connect,
                    message: "script ran out".into(),
                })
            })
            .collect())
    }
    fn config(&mut self) -> Value {
        self.config.clone()
    }
}

fn call(host: &mut FakeHost, tool: &str, args: Value) -> Result<ToolOutput, ToolError> {
    HttpImages::default().call(&ToolCall::new("c", tool, args), host)
}

fn a1111(cache: Option<&std::path::Path>) -> Value {
    let mut c = json!({"backend": "a1111", "base_url": "http://127.0.0.1:7860",
                       "retries": 2, "retry_base_ms": 1, "no_cache": false});
    if let Some(dir) = cache {
        c["cache_dir"] = json!(dir.display().to_string());
    }
    c
}

#[test]
fn a1111_generates_reads_the_seed_back_and_resizes() {
    let mut host = FakeHost::new(a1111(None));
    host.script.push_back(a1111_ok(1234));
    let out = call(
        &mut host,
        "text2image",
        json!({"prompts": ["a red car"], "seed": 5, "size": 32}),
    )
    .expect("ok");
    let meta = &out.images[0].meta;
    assert_eq!(
        (meta["seed"].as_u64(), meta["requested_seed"].as_u64()),
        (Some(1234), Some(5))
    );
    assert_eq!(meta["returned_size"], json!([64, 64]));
    assert_eq!(meta["size"], json!([32, 32]));
    assert_eq!(out.images[0].caption, "a red car");
    assert!(out.text.contains("resized to 32×32"), "{}", out.text);
    let body: Value = serde_json::from_slice(&host.seen[0].body).expect("json");
    assert_eq!(
        (body["seed"].as_u64(), body["width"].as_u64()),
        (Some(5), Some(512))
    );
}

#[test]
fn retries_after_429_and_500_then_succeeds() {
    let mut host = FakeHost::new(a1111(None));
    host.script
        .push_back(answer(429, json!({"detail": "busy"})));
    host.script.push_back(answer(500, json!({"error": "boom"})));
    host.script.push_back(a1111_ok(1));
    let out = call(&mut host, "text2image", json!({"prompts": ["x"]})).expect("ok");
    assert_eq!((out.images.len(), host.seen.len()), (1, 3));
}

#[test]
fn a_400_is_final_and_a_call_where_all_fail_is_a_tool_error() {
    let mut host = FakeHost::new(a1111(None));
    host.script
        .push_back(answer(400, json!({"detail": "bad sampler"})));
    host.script.push_back(answer(200, json!({"images": []})));
    let err = call(&mut host, "text2image", json!({"prompts": ["x", "y"]})).expect_err("fails");
    assert_eq!(err.kind, ErrorKind::Failed);
    assert!(
        err.message.contains("400") && err.message.contains("bad sampler"),
        "{}",
        err.message
    );
    assert!(err.message.contains("no image"), "{}", err.message);
    assert_eq!(host.seen.len(), 2, "no retry of a 400");
}

#[test]
fn one_failure_among_successes_is_reported_in_the_text() {
    let mut host = FakeHost::new(a1111(None));
    host.script.push_back(a1111_ok(1));
    host.script
        .push_back(answer(200, json!({"images": ["%%%"]})));
    let out = call(&mut host, "text2image", json!({"prompts": ["x", "y"]})).expect("ok");
    assert_eq!(out.images.len(), 1);
    assert!(
        out.text.contains("failed: 'y'") && out.text.contains("base64"),
        "{}",
        out.text
    );
}

#[test]
fn the_cache_serves_a_repeated_call_and_no_cache_bypasses_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut host = FakeHost::new(a1111(Some(dir.path())));
    host.script.push_back(a1111_ok(9));
    let args = json!({"prompts": ["a cat"], "seed": 3});
    let first = call(&mut host, "text2image", args.clone()).expect("first");
    let second = call(&mut host, "text2image", args.clone()).expect("second");
    assert_eq!(host.seen.len(), 1, "the second call made no request");
    assert_eq!(first.images[0].png, second.images[0].png);
    assert_eq!(second.images[0].meta["cached"], true);
    assert_eq!(second.images[0].meta["seed"], 9);
    host.config["no_cache"] = json!(true);
    host.script.push_back(a1111_ok(9));
    let third = call(&mut host, "text2image", args).expect("third");
    assert_eq!(host.seen.len(), 2);
    assert_eq!(third.images[0].meta["cached"], false);
}

#[test]
fn openai_edits_are_multipart_and_the_key_stays_out_of_the_output() {
    // SAFETY: this test binary's only test that touches the environment.
    unsafe { std::env::set_var("HTTP_IMAGES_TEST_KEY", "sk-test-secret-123") };
    let mut host = FakeHost::new(
        json!({"backend": "openai", "base_url": "http://127.0.0.1:9/v1",
        "model": "gpt-image-1", "api_key_env": "HTTP_IMAGES_TEST_KEY", "retries": 0}),
    );
    let mut src = Image::new(png(32, 32), "src").with_meta(json!({"size": [32, 32], "seed": 4}));
    src.id = ImageId::from("img_1");
    host.images.push(src);
    host.script.push_back(answer(
        200,
        json!({"created": 1, "data": [{"b64_json": STANDARD.encode(png(32, 32))}]}),
    ));
    let out = call(
        &mut host,
        "edit_images",
        json!({"image_ids": ["img_1"], "edits": ["make it blue"]}),
    )
    .expect("ok");
    let req = &host.seen[0];
    assert!(req.url.ends_with("/v1/images/edits"));
    let ct = req
        .headers
        .iter()
        .find(|(n, _)| n == "Content-Type")
        .map(|(_, v)| v.as_str());
    assert!(ct.is_some_and(|c| c.starts_with("multipart/form-data; boundary=")));
    assert!(
        req.headers
            .contains(&("Authorization".into(), "Bearer sk-test-secret-123".into()))
    );
    let body = String::from_utf8_lossy(&req.body);
    assert!(
        body.contains("name=\"prompt\"\r\n\r\nmake it blue") && !body.contains("response_format")
    );
    assert_eq!(out.images[0].caption, "make it blue (from img_1)");
    let shown = format!("{} {:?} {}", out.text, out.images[0].meta, out.data);
    assert!(!shown.contains("sk-test"), "{shown}");
    assert!(out.text.contains("takes no seed"), "{}", out.text);
    host.script.push_back(answer(
        401,
        json!({"error": {"message": "Incorrect API key provided: sk-test-secret-123."}}),
    ));
    let err = call(&mut host, "text2image", json!({"prompts": ["x"]})).expect_err("401");
    assert!(
        !err.message.contains("sk-test") && err.message.contains("HTTP_IMAGES_TEST_KEY"),
        "{}",
        err.message
    );
}

#[test]
fn transport_failures_are_retried_then_reported() {
    let mut host = FakeHost::new(a1111(None));
    for _ in 0..3 {
        host.script.push_back(HttpOutcome::Failed {
            kind: HttpFailureKind::Timeout,
            message: "127.0.0.1:7860 did not answer within 0.1 s".into(),
        });
    }
    let err = call(&mut host, "text2image", json!({"prompts": ["x"]})).expect_err("timeout");
    assert!(
        err.message.contains("timed out") && err.message.contains("3 tries"),
        "{}",
        err.message
    );
}

#[test]
fn unconfigured_and_refused_hosts_are_tool_errors() {
    let mut host = FakeHost::new(Value::Null);
    let err = call(&mut host, "text2image", json!({"prompts": ["x"]})).expect_err("no config");
    assert!(
        err.message.contains("[plugins.http-images]"),
        "{}",
        err.message
    );
    struct NoNet;
    impl Host for NoNet {
        fn image(&mut self, _: &ImageId) -> Result<Image, ToolError> {
            Err(ToolError::failed("x"))
        }
        fn call_unit(&mut self, _: &[ImageId]) -> Result<Vec<UnitActivation>, ToolError> {
            Err(ToolError::failed("x"))
        }
        fn progress(&mut self, _: u64, _: u64) {}
        fn log(&mut self, _: LogLevel, _: &str) {}
        fn config(&mut self) -> Value {
            json!({"base_url": "http://127.0.0.1:1"})
        }
    }
    let err = HttpImages::default()
        .call(
            &ToolCall::new("c", "text2image", json!({"prompts": ["x"]})),
            &mut NoNet,
        )
        .expect_err("no network");
    assert_eq!(err.kind, ErrorKind::Denied);
}

#[test]
fn every_example_matches_its_schema() {
    for spec in HttpImages::default().tools() {
        let validator = jsonschema::validator_for(&spec.parameters).expect("schema");
        for example in &spec.examples {
            assert!(validator.is_valid(example), "{}: {example}", spec.name);
        }
    }
}

/// A1111's answer to `GET /sdapi/v1/sd-models` listing these model names.
fn sd_models(names: &[&str]) -> HttpOutcome {
    answer(
        200,
        Value::Array(
            names
                .iter()
                .map(|n| {
                    json!({"title": format!("{n}.safetensors [abcdef0123]"), "model_name": n,
                           "hash": "abcdef0123", "sha256": null,
                           "filename": format!("/m/{n}.safetensors"), "config": null})
                })
                .collect(),
        ),
    )
}

fn with_source(config: Value) -> FakeHost {
    let mut host = FakeHost::new(config);
    let mut src = Image::new(png(32, 32), "src").with_meta(json!({"size": [32, 32], "seed": 4}));
    src.id = ImageId::from("img_1");
    host.images.push(src);
    host
}

fn edit(plugin: &mut HttpImages, host: &mut FakeHost) -> Result<ToolOutput, ToolError> {
    plugin.call(
        &ToolCall::new(
            "c",
            "edit_images",
            json!({"image_ids": ["img_1"], "edits": ["make it blue"]}),
        ),
        host,
    )
}

fn body(request: &HttpRequest) -> Value {
    serde_json::from_slice(&request.body).unwrap_or(Value::Null)
}

#[test]
fn auto_asks_for_the_checkpoints_once_and_edits_with_instruct_pix2pix() {
    let mut host = with_source(a1111(None));
    host.script
        .push_back(sd_models(&["v1-5", "instruct-pix2pix-00-22000"]));
    host.script.push_back(a1111_ok(1));
    host.script.push_back(a1111_ok(1));
    let mut plugin = HttpImages::default();
    let out = edit(&mut plugin, &mut host).expect("first edit");
    edit(&mut plugin, &mut host).expect("second edit");
    let routes: Vec<(&str, &str)> = host
        .seen
        .iter()
        .map(|r| (r.method.as_str(), r.url.as_str()))
        .collect();
    assert_eq!(
        routes,
        [
            ("GET", "http://127.0.0.1:7860/sdapi/v1/sd-models"),
            ("POST", "http://127.0.0.1:7860/sdapi/v1/img2img"),
            ("POST", "http://127.0.0.1:7860/sdapi/v1/img2img"),
        ]
    );
    let title = "instruct-pix2pix-00-22000.safetensors [abcdef0123]";
    let sent = body(&host.seen[1]);
    assert_eq!(sent["override_settings"]["sd_model_checkpoint"], title);
    assert_eq!(sent["image_cfg_scale"], 1.5);
    assert!(
        out.text
            .contains(&format!("edits: InstructPix2Pix checkpoint `{title}`")),
        "{}",
        out.text
    );
    let meta = &out.images[0].meta;
    assert_eq!(
        (meta["edit_method"].as_str(), meta["edit_model"].as_str()),
        (Some("instruct-pix2pix"), Some(title))
    );
}

#[test]
fn an_img2img_edit_in_the_cache_is_not_served_for_instruct_pix2pix() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut config = a1111(Some(dir.path()));
    config["edit_model"] = json!("none");
    let mut host = with_source(config);
    host.script.push_back(a1111_ok(1));
    let out = edit(&mut HttpImages::default(), &mut host).expect("img2img");
    assert_eq!(out.images[0].meta["edit_method"], "img2img");
    assert!(out.images[0].meta["edit_model"].is_null());
    host.config["edit_model"] = json!("auto");
    host.script
        .push_back(sd_models(&["v1-5", "instruct-pix2pix-00-22000"]));
    host.script.push_back(a1111_ok(1));
    let out = edit(&mut HttpImages::default(), &mut host).expect("ip2p");
    assert_eq!(out.images[0].meta["cached"], false);
    assert_eq!(host.seen.len(), 3, "img2img, sd-models, and a new img2img");
    assert!(body(&host.seen[2])["override_settings"].is_object());
}

#[test]
fn an_unreadable_checkpoint_list_means_img2img_for_auto_and_trust_for_a_name() {
    let timeout = || HttpOutcome::Failed {
        kind: HttpFailureKind::Timeout,
        message: "127.0.0.1:7860 did not answer within 0.1 s".into(),
    };
    let mut host = with_source(a1111(None));
    for _ in 0..3 {
        host.script.push_back(timeout());
    }
    host.script.push_back(a1111_ok(1));
    let out = edit(&mut HttpImages::default(), &mut host).expect("img2img");
    assert!(
        out.text
            .contains("edits: img2img at denoising_strength 0.6 (could not list")
            && out.text.contains("timed out"),
        "{}",
        out.text
    );
    let sent = body(&host.seen[3]);
    assert!(sent.get("override_settings").is_none() && sent["denoising_strength"] == 0.6);

    host.config["edit_model"] = json!("my-ip2p");
    host.seen.clear();
    for _ in 0..3 {
        host.script.push_back(timeout());
    }
    host.script.push_back(a1111_ok(1));
    let out = edit(&mut HttpImages::default(), &mut host).expect("trusted");
    assert!(
        out.text
            .contains("InstructPix2Pix checkpoint `my-ip2p` (edit_model as set, unchecked"),
        "{}",
        out.text
    );
    assert_eq!(
        body(&host.seen[3])["override_settings"]["sd_model_checkpoint"],
        "my-ip2p"
    );
}
