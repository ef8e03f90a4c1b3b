//! The http-images plugin as maia runs it: built, installed with its plugin.toml, loaded
//! through `PluginLoader` (the real native host, whose `Host::http` checks destinations),
//! registered, and called with a real image store, against real loopback servers that
//! speak the OpenAI Images API and the AUTOMATIC1111 API (`maia_tests::image_servers`),
//! including their faults.

use maia_core::plugins::PluginSettings;
use maia_core::{CallContext, Grants, ImageStore, PluginLoader, ToolRegistry, WasmLimits};
use maia_plugin_sdk::contracts::{EditImagesData, Text2ImageData};
use maia_plugin_sdk::{ErrorKind, ToolCall, ToolError, ToolOutput};
use maia_tests::image_servers::{
    A1111_IMG2IMG, A1111_SD_MODELS, A1111_TXT2IMG, DEFAULT_A1111_MODEL, Fault,
    INSTRUCT_PIX2PIX_MODEL, ImageServer, OPENAI_EDITS, OPENAI_GENERATIONS, RetryAfter, refused_url,
};
use maia_tests::{Error, HTTP_IMAGES, Installed, decode};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

type TestResult = Result<(), Error>;

/// The key the OpenAI tests use; it must never show in what the agent sees.
const KEY: &str = "sk-maia-test-key-0123456789";
const KEY_ENV: &str = "MAIA_HTTP_IMAGES_TEST_KEY";

/// A loopback server world: a runtime serving the fake APIs while tests call the plugin
/// synchronously, as `maia call` does.
fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// The plugin loaded with `settings` as its `[plugins.http-images]` table.
struct Plugin {
    registry: ToolRegistry,
    store: ImageStore,
    _installed: Installed,
    _cache: tempfile::TempDir,
}

struct Options {
    manifest: Option<String>,
    grant: bool,
    no_cache: bool,
    cache: Option<tempfile::TempDir>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            manifest: None,
            grant: true,
            no_cache: false,
            cache: None,
        }
    }
}

fn load(settings: Value, options: Options) -> Result<Plugin, Error> {
    let installed = match &options.manifest {
        Some(text) => HTTP_IMAGES.install_with_manifest(text)?,
        None => HTTP_IMAGES.install()?,
    };
    let table: toml::Table = toml::Table::try_from(settings)?;
    let cache = match options.cache {
        Some(c) => c,
        None => tempfile::tempdir()?,
    };
    let grants = if options.grant {
        Grants::none().allow_net("http-images")
    } else {
        Grants::none()
    };
    let loader = PluginLoader::new(grants, WasmLimits::default()).with_settings(PluginSettings {
        tables: BTreeMap::from([("http-images".to_owned(), table)]),
        cache_root: Some(cache.path().to_path_buf()),
        no_cache: options.no_cache,
    });
    let mut registry = ToolRegistry::new();
    registry.register(loader.load(installed.dir()).map_err(|e| e.to_string())?)?;
    Ok(Plugin {
        registry,
        store: ImageStore::new(),
        _installed: installed,
        _cache: cache,
    })
}

impl Plugin {
    fn call(&self, tool: &str, args: Value) -> Result<ToolOutput, ToolError> {
        let mut out = self.registry.call(
            &ToolCall::new("t", tool, args),
            &mut CallContext::new(&self.store),
        )?;
        self.store
            .adopt_output(&mut out)
            .map_err(|e| ToolError::failed(format!("storing outputs: {e}")))?;
        Ok(out)
    }
}

fn a1111(server: &ImageServer) -> Value {
    json!({"backend": "a1111", "base_url": server.url(), "retries": 2, "retry_base_ms": 10,
           "server_size": 0, "timeout_s": 10.0})
}

fn openai(server: &ImageServer) -> Value {
    json!({"backend": "openai", "base_url": format!("{}/v1", server.url()), "model": "dall-e-2",
           "api_key_env": KEY_ENV, "retries": 2, "retry_base_ms": 10, "server_size": 0,
           "timeout_s": 10.0})
}

fn no_key_in(out: &str) {
    assert!(
        !out.contains(KEY) && !out.contains("sk-maia"),
        "key leaked: {out}"
    );
}

#[test]
fn a1111_generates_and_edits_with_img2img_and_instruct_pix2pix() -> TestResult {
    let rt = runtime()?;
    let server = rt.block_on(ImageServer::a1111_with_models(&[
        DEFAULT_A1111_MODEL,
        INSTRUCT_PIX2PIX_MODEL,
    ]));
    let mut settings = a1111(&server);
    settings["edit_model"] = json!("none");
    let plugin = load(settings, Options::default())?;
    let out = plugin.call(
        "text2image",
        json!({"prompts": ["a red car", "a blue boat"], "seed": 7, "size": 64}),
    )?;
    assert_eq!(out.images.len(), 2);
    assert_eq!(server.count(A1111_TXT2IMG), 2);
    for (image, prompt) in out.images.iter().zip(["a red car", "a blue boat"]) {
        assert_eq!(image.meta["prompt"], prompt);
        assert_eq!(image.meta["backend"], "a1111");
        assert_eq!(image.meta["seed"], 7);
        assert_eq!(image.caption, prompt);
        let rgba = decode(&image.png)?;
        assert_eq!((rgba.width(), rgba.height()), (64, 64));
    }
    assert!(out.text.contains("requested 64×64, seed 7"), "{}", out.text);
    // `data` is the text2image contract, field for field.
    let data: Text2ImageData = serde_json::from_value(out.data.clone())?;
    assert_eq!(
        serde_json::to_value(&data)?,
        out.data,
        "data beyond the contract"
    );
    let prompts: Vec<(usize, &str, Option<u64>)> = data
        .images
        .iter()
        .map(|g| (g.image, g.prompt.as_str(), g.seed))
        .collect();
    assert_eq!(
        prompts,
        [(1, "a red car", Some(7)), (2, "a blue boat", Some(7))]
    );
    assert_eq!((data.seed, data.size, data.world), (7, 64, None));
    assert_eq!((data.backend.as_deref(), data.model), (Some("a1111"), None));
    let id = out.images[0].id.clone();
    let edited = plugin.call(
        "edit_images",
        json!({"image_ids": [id.as_str()], "edits": ["make it green"]}),
    )?;
    assert_eq!(server.count(A1111_IMG2IMG), 1);
    assert_eq!(edited.images[0].meta["source"], id.as_str());
    assert_eq!(
        edited.images[0].caption,
        format!("make it green (from {id})")
    );
    let first = &server.requests()[2];
    assert!(first.contains("init_images") && first.contains("denoising_strength"));
    assert!(!first.contains("override_settings"));
    assert_eq!(server.count(A1111_SD_MODELS), 0, "\"none\" asks nothing");
    assert_eq!(edited.images[0].meta["edit_method"], "img2img");
    let data: EditImagesData = serde_json::from_value(edited.data.clone())?;
    assert_eq!(
        serde_json::to_value(&data)?,
        edited.data,
        "data beyond the contract"
    );
    assert_eq!(
        (data.images[0].source.as_str(), data.images[0].edit.as_str()),
        (id.as_str(), "make it green")
    );
    assert!(data.failed.is_empty() && data.images[0].drew.is_none());
    assert_eq!(data.edit_method.as_deref(), Some("img2img"));

    let mut settings = a1111(&server);
    settings["edit_model"] = json!(INSTRUCT_PIX2PIX_MODEL);
    let pix = load(settings, Options::default())?;
    let made = pix.call("text2image", json!({"prompts": ["a cat"], "size": 32}))?;
    let id = made.images[0].id.clone();
    pix.call(
        "edit_images",
        json!({"image_ids": [id.as_str()], "edits": ["make it a dog"]}),
    )?;
    let last = server.requests().pop().ok_or("no request")?;
    assert_eq!(last.route(), A1111_IMG2IMG);
    assert!(last.contains(INSTRUCT_PIX2PIX_MODEL) && last.contains("image_cfg_scale"));
    Ok(())
}

#[test]
fn openai_generates_and_edits_and_the_key_stays_in_the_header() -> TestResult {
    // SAFETY: no other test in this binary reads or writes this variable.
    unsafe { std::env::set_var(KEY_ENV, KEY) };
    let rt = runtime()?;
    let server = rt.block_on(ImageServer::openai());
    server.require_api_key(KEY);
    let plugin = load(openai(&server), Options::default())?;
    let out = plugin.call(
        "text2image",
        json!({"prompts": ["a lighthouse"], "seed": 3, "size": 256}),
    )?;
    assert_eq!(server.count(OPENAI_GENERATIONS), 1);
    let meta = &out.images[0].meta;
    assert_eq!(
        (meta["backend"].as_str(), meta["model"].as_str()),
        (Some("openai"), Some("dall-e-2"))
    );
    assert_eq!(meta["requested_seed"], 3);
    assert!(out.text.contains("takes no seed"), "{}", out.text);
    let id = out.images[0].id.clone();
    let edited = plugin.call(
        "edit_images",
        json!({"image_ids": [id.as_str()], "edits": ["add fog"]}),
    )?;
    let edit = server
        .requests()
        .into_iter()
        .find(|r| r.route() == OPENAI_EDITS)
        .ok_or("no edit request")?;
    assert_eq!(edit.field_text("prompt").as_deref(), Some("add fog"));
    assert_eq!(
        edit.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    for o in [&out, &edited] {
        no_key_in(&format!(
            "{} {} {:?}",
            o.text,
            o.data,
            o.images.iter().map(|i| &i.meta).collect::<Vec<_>>()
        ));
    }
    // A wrong key: the server's 401 names it; the agent must not see it.
    unsafe { std::env::set_var(KEY_ENV, "sk-maia-wrong-key") };
    let err = plugin
        .call("text2image", json!({"prompts": ["another"]}))
        .expect_err("401");
    assert!(
        err.message.contains("401") && err.message.contains(KEY_ENV),
        "{}",
        err.message
    );
    no_key_in(&err.message);
    unsafe { std::env::set_var(KEY_ENV, KEY) };
    Ok(())
}

#[test]
fn a_429_with_retry_after_and_a_500_are_retried() -> TestResult {
    let rt = runtime()?;
    let server = rt.block_on(ImageServer::a1111());
    let plugin = load(a1111(&server), Options::default())?;
    server.push_fault(Fault::TooManyRequests {
        retry_after: RetryAfter::Seconds(1),
    });
    let start = Instant::now();
    plugin.call("text2image", json!({"prompts": ["x"], "size": 32}))?;
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "Retry-After was honored"
    );
    assert_eq!(server.count(A1111_TXT2IMG), 2);
    server.push_fault(Fault::ServerError(500));
    plugin.call("text2image", json!({"prompts": ["y"], "size": 32}))?;
    assert_eq!(server.count(A1111_TXT2IMG), 4);
    Ok(())
}

/// One prompt against one fault, no retries: the call fails with a message naming it.
fn fails_with(fault: Fault, settings_change: Value, expect: &str) -> TestResult {
    let rt = runtime()?;
    let server = rt.block_on(ImageServer::a1111());
    let mut settings = a1111(&server);
    settings["retries"] = json!(0);
    if let Value::Object(extra) = settings_change {
        for (k, v) in extra {
            settings[k] = v;
        }
    }
    let plugin = load(settings, Options::default())?;
    server.push_fault(fault);
    let err = plugin
        .call("text2image", json!({"prompts": ["x"], "size": 32}))
        .expect_err("fault");
    assert_eq!(err.kind, ErrorKind::Failed, "{}", err.message);
    assert!(err.message.contains(expect), "{}", err.message);
    Ok(())
}

#[test]
fn a_slow_answer_past_the_timeout_fails_the_call() -> TestResult {
    fails_with(
        Fault::Slow(Duration::from_secs(5)),
        json!({"timeout_s": 0.5}),
        "did not answer within 0.5 s",
    )
}

#[test]
fn invalid_base64_fails_the_call() -> TestResult {
    fails_with(Fault::InvalidBase64, json!({}), "not valid base64")
}

#[test]
fn an_undecodable_png_fails_the_call() -> TestResult {
    fails_with(Fault::UndecodablePng, json!({}), "not a PNG that decodes")
}

#[test]
fn zero_images_fails_the_call() -> TestResult {
    fails_with(Fault::ZeroImages, json!({}), "no image")
}

#[test]
fn a_refused_connection_fails_the_call() -> TestResult {
    let plugin = load(
        json!({"backend": "a1111", "base_url": refused_url(), "retries": 1, "retry_base_ms": 10}),
        Options::default(),
    )?;
    let err = plugin
        .call("text2image", json!({"prompts": ["x"]}))
        .expect_err("refused");
    assert_eq!(err.kind, ErrorKind::Failed);
    assert!(
        err.message.contains("could not connect") && err.message.contains("2 tries"),
        "{}",
        err.message
    );
    Ok(())
}

#[test]
fn the_host_refuses_destinations_outside_the_policy_and_without_a_grant() -> TestResult {
    let rt = runtime()?;
    let server = rt.block_on(ImageServer::a1111());
    // The manifest allows only another port: the host refuses before anything is sent.
    let manifest = HTTP_IMAGES
        .manifest_text()?
        .replace("net = [\"config:base_url\"]", "net = [\"127.0.0.1:1\"]");
    assert!(manifest.contains("127.0.0.1:1"));
    let plugin = load(
        a1111(&server),
        Options {
            manifest: Some(manifest),
            ..Options::default()
        },
    )?;
    let err = plugin
        .call("text2image", json!({"prompts": ["x"]}))
        .expect_err("refused");
    assert_eq!(err.kind, ErrorKind::Denied);
    let refused = server.addr().to_string();
    assert!(
        err.message.contains(&refused) && err.message.contains("allowed: 127.0.0.1:1"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("[plugins.http-images]"),
        "{}",
        err.message
    );
    // No grant at all.
    let ungranted = load(
        a1111(&server),
        Options {
            grant: false,
            ..Options::default()
        },
    )?;
    let err = ungranted
        .call("text2image", json!({"prompts": ["x"]}))
        .expect_err("no grant");
    assert_eq!(err.kind, ErrorKind::Denied);
    assert!(
        err.message.contains("--allow-net http-images"),
        "{}",
        err.message
    );
    assert_eq!(server.requests().len(), 0, "nothing reached the server");
    Ok(())
}

#[test]
fn a_repeated_call_is_served_from_the_cache_and_no_cache_bypasses_it() -> TestResult {
    let rt = runtime()?;
    let server = rt.block_on(ImageServer::a1111());
    let cache = tempfile::tempdir()?;
    let cache_path = cache.path().to_path_buf();
    let plugin = load(
        a1111(&server),
        Options {
            cache: Some(cache),
            ..Options::default()
        },
    )?;
    let args = json!({"prompts": ["a red car"], "seed": 11, "size": 48});
    let first = plugin.call("text2image", args.clone())?;
    let second = plugin.call("text2image", args.clone())?;
    assert_eq!(server.count(A1111_TXT2IMG), 1, "the server saw one request");
    assert_eq!(first.images[0].png, second.images[0].png);
    assert_eq!(second.images[0].meta["cached"], true);
    assert!(second.text.contains("from cache"), "{}", second.text);
    assert!(cache_path.join("http-images").is_dir());
    let fresh = load(
        a1111(&server),
        Options {
            no_cache: true,
            cache: Some(tempfile::TempDir::new_in(&cache_path)?),
            ..Options::default()
        },
    )?;
    let third = fresh.call("text2image", args)?;
    assert_eq!(server.count(A1111_TXT2IMG), 2);
    assert_eq!(third.images[0].meta["cached"], false);
    Ok(())
}

/// An image made by `plugin` to edit, by id.
fn source(plugin: &Plugin) -> Result<String, Error> {
    let made = plugin.call("text2image", json!({"prompts": ["a cat"], "size": 32}))?;
    Ok(made.images[0].id.as_str().to_owned())
}

fn edit(plugin: &Plugin, id: &str, edit: &str) -> Result<ToolOutput, ToolError> {
    plugin.call("edit_images", json!({"image_ids": [id], "edits": [edit]}))
}

/// The last img2img request's JSON body.
fn last_img2img(server: &ImageServer) -> Result<Value, Error> {
    let request = server
        .requests()
        .into_iter()
        .rfind(|r| r.route() == A1111_IMG2IMG)
        .ok_or("no img2img request")?;
    Ok(serde_json::from_slice(&request.body)?)
}

#[test]
fn auto_edits_with_the_servers_instruct_pix2pix_checkpoint_asking_once() -> TestResult {
    let rt = runtime()?;
    let server = rt.block_on(ImageServer::a1111_with_models(&[
        DEFAULT_A1111_MODEL,
        INSTRUCT_PIX2PIX_MODEL,
    ]));
    let plugin = load(a1111(&server), Options::default())?;
    let id = source(&plugin)?;
    assert_eq!(server.count(A1111_SD_MODELS), 0, "text2image asks nothing");
    let first = edit(&plugin, &id, "make it a dog")?;
    let title = server
        .model_titles()
        .into_iter()
        .find(|t| t.starts_with(INSTRUCT_PIX2PIX_MODEL))
        .ok_or("no ip2p title")?;
    let body = last_img2img(&server)?;
    assert_eq!(
        body["override_settings"]["sd_model_checkpoint"],
        title.as_str()
    );
    assert_eq!(body["image_cfg_scale"], 1.5);
    assert!(
        first
            .text
            .contains(&format!("edits: InstructPix2Pix checkpoint `{title}`")),
        "{}",
        first.text
    );
    let meta = &first.images[0].meta;
    assert_eq!(meta["edit_method"], "instruct-pix2pix");
    assert_eq!(meta["edit_model"], title.as_str());
    edit(&plugin, &id, "make it a fox")?;
    assert_eq!(server.count(A1111_IMG2IMG), 2);
    assert_eq!(server.count(A1111_SD_MODELS), 1, "the list is asked once");
    Ok(())
}

#[test]
fn auto_falls_back_to_img2img_when_the_server_has_no_instruct_pix2pix() -> TestResult {
    let rt = runtime()?;
    let server = rt.block_on(ImageServer::a1111());
    let plugin = load(a1111(&server), Options::default())?;
    let id = source(&plugin)?;
    let out = edit(&plugin, &id, "make it green")?;
    assert_eq!(server.count(A1111_SD_MODELS), 1);
    let body = last_img2img(&server)?;
    assert!(body.get("override_settings").is_none(), "{body}");
    assert_eq!(body["denoising_strength"], 0.6);
    assert!(
        out.text.contains(
            "edits: img2img at denoising_strength 0.6 (the server has no InstructPix2Pix checkpoint)"
        ),
        "{}",
        out.text
    );
    assert_eq!(out.images[0].meta["edit_method"], "img2img");
    assert!(out.images[0].meta["edit_model"].is_null());
    Ok(())
}

#[test]
fn an_edit_model_the_server_lacks_fails_with_its_checkpoints() -> TestResult {
    let rt = runtime()?;
    let server = rt.block_on(ImageServer::a1111());
    let mut settings = a1111(&server);
    settings["edit_model"] = json!("instruct-pix2pix");
    let plugin = load(settings, Options::default())?;
    let id = source(&plugin)?;
    let err = edit(&plugin, &id, "make it green").expect_err("missing checkpoint");
    assert_eq!(err.kind, ErrorKind::Failed, "{}", err.message);
    for needle in [
        "edit_model `instruct-pix2pix`".to_owned(),
        format!("`{}`", server.model_titles()[0]),
        "maia.toml".to_owned(),
        "\"auto\"".to_owned(),
    ] {
        assert!(err.message.contains(&needle), "{needle}: {}", err.message);
    }
    assert_eq!(server.count(A1111_IMG2IMG), 0, "no edit was sent");
    Ok(())
}

#[test]
fn auto_uses_img2img_and_says_so_when_the_server_has_no_checkpoint_list() -> TestResult {
    let rt = runtime()?;
    let server = rt.block_on(ImageServer::a1111_with_models(&[
        DEFAULT_A1111_MODEL,
        INSTRUCT_PIX2PIX_MODEL,
    ]));
    server.push_fault_on(
        A1111_SD_MODELS,
        Fault::Status(404, r#"{"detail":"Not Found"}"#.into()),
    );
    let plugin = load(a1111(&server), Options::default())?;
    let id = source(&plugin)?;
    let out = edit(&plugin, &id, "make it green")?;
    assert_eq!(server.count(A1111_SD_MODELS), 1, "a 404 is not retried");
    let body = last_img2img(&server)?;
    assert!(body.get("override_settings").is_none(), "{body}");
    assert_eq!(body["denoising_strength"], 0.6);
    assert!(
        out.text
            .contains("edits: img2img at denoising_strength 0.6 (could not list")
            && out.text.contains("404"),
        "{}",
        out.text
    );
    Ok(())
}

/// `value` with every `description` string removed: the shape of a schema.
fn shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, v)| !(k.as_str() == "description" && v.is_string()))
                .map(|(k, v)| (k.clone(), shape(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(shape).collect()),
        other => other.clone(),
    }
}

/// The issue's promise: `--images-from http` swaps the shapes world for a diffusion
/// server without the agent noticing a different tool. Both plugins, loaded through their
/// real hosts (native and wasm), offer the same tool names with argument schemas equal in
/// everything but their prose.
#[test]
fn http_images_offers_the_shapes_tools_names_and_argument_shapes() -> TestResult {
    let http = load(
        json!({"backend": "a1111", "base_url": "http://127.0.0.1:9"}),
        Options::default(),
    )?;
    let shapes_installed = maia_tests::SHAPES_TOOLS.install()?;
    let mut shapes = ToolRegistry::new();
    shapes.register(
        PluginLoader::new(Grants::none(), WasmLimits::default())
            .load(shapes_installed.dir())
            .map_err(|e| e.to_string())?,
    )?;
    let names = |r: &ToolRegistry| r.tools().map(|t| t.spec.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&http.registry), names(&shapes));
    assert_eq!(names(&shapes), ["edit_images", "text2image"]);
    for tool in ["text2image", "edit_images"] {
        let (a, b) = (
            http.registry.get(tool).ok_or("http-images tool")?,
            shapes.get(tool).ok_or("shapes tool")?,
        );
        assert_eq!(
            shape(&a.spec.parameters),
            shape(&b.spec.parameters),
            "{tool}: argument schemas differ"
        );
    }
    Ok(())
}
