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
    HttpImages.call(&ToolCall::new("c", tool, args), host)
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
    let err = HttpImages
        .call(
            &ToolCall::new("c", "text2image", json!({"prompts": ["x"]})),
            &mut NoNet,
        )
        .expect_err("no network");
    assert_eq!(err.kind, ErrorKind::Denied);
}

#[test]
fn every_example_matches_its_schema() {
    for spec in HttpImages.tools() {
        let validator = jsonschema::validator_for(&spec.parameters).expect("schema");
        for example in &spec.examples {
            assert!(validator.is_valid(example), "{}: {example}", spec.name);
        }
    }
}
