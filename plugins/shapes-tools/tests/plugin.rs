//! The plugin as maia sees it: manifest, tool specs, schemas and examples.

use crate::common::{TestHost, TestResult};
use maia_plugin_sdk::{Manifest, Plugin, PluginKind, ToolSpec};
use serde_json::{Value, json};
use shapes_tools::{MAX_PROMPTS, ShapesTools};

fn spec(name: &str) -> Result<ToolSpec, String> {
    ShapesTools
        .tools()
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| format!("no tool {name}"))
}

fn schema_accepts(spec: &ToolSpec, args: &Value) -> Result<bool, Box<dyn std::error::Error>> {
    let validator = jsonschema::validator_for(&spec.parameters)?;
    Ok(validator.is_valid(args))
}

#[test]
fn tools_are_text2image_and_edit_images() {
    let names: Vec<String> = ShapesTools.tools().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["text2image", "edit_images"]);
}

#[test]
fn every_example_is_valid_and_runs_on_the_check_samples() -> TestResult {
    let mut host = TestHost::with_samples()?;
    for spec in ShapesTools.tools() {
        assert!(!spec.examples.is_empty(), "{} has no example", spec.name);
        assert!(
            !spec.returns.is_empty(),
            "{} does not say what it returns",
            spec.name
        );
        assert_eq!(
            spec.parameters["additionalProperties"], false,
            "{}",
            spec.name
        );
        for example in &spec.examples {
            assert!(schema_accepts(&spec, example)?, "{}: {example}", spec.name);
            let out = host.call(&spec.name, example.clone())?;
            assert!(!out.images.is_empty(), "{}: {}", spec.name, out.text);
            assert!(!out.text.contains("could not be edited"), "{}", out.text);
        }
    }
    Ok(())
}

#[test]
fn schemas_refuse_what_the_tools_refuse() -> TestResult {
    let t2i = spec("text2image")?;
    let many: Vec<String> = (0..=MAX_PROMPTS).map(|i| format!("{i} circles")).collect();
    for bad in [
        json!({}),
        json!({"prompts": []}),
        json!({"prompts": many}),
        json!({"prompts": ["a star"], "seed": -1}),
        json!({"prompts": ["a star"], "size": 31}),
        json!({"prompts": ["a star"], "size": 513}),
        json!({"prompts": ["a star"], "negative_prompt": "blur"}),
    ] {
        assert!(!schema_accepts(&t2i, &bad)?, "text2image accepted {bad}");
    }
    assert!(schema_accepts(
        &t2i,
        &json!({"prompts": ["a star"], "seed": 7, "size": 64})
    )?);
    // Empty and over-long prompts pass the schema on purpose: the tool's own message
    // (which prompt, what to do, a short quote) is clearer than the validator's, which
    // would echo a 10,000-character prompt back to the agent.
    let long = "x".repeat(10_000);
    assert!(schema_accepts(&t2i, &json!({"prompts": ["", long]}))?);
    let edit = spec("edit_images")?;
    for bad in [
        json!({"image_ids": ["img_1"]}),
        json!({"image_ids": [], "edits": ["make it red"]}),
        json!({"image_ids": ["img_1"], "edits": []}),
        json!({"image_ids": ["img_1"], "edits": ["make it red"], "seed": 1}),
    ] {
        assert!(!schema_accepts(&edit, &bad)?, "edit_images accepted {bad}");
    }
    Ok(())
}

#[test]
fn unknown_tools_are_invalid_args() -> TestResult {
    let mut host = TestHost::default();
    let err = host.fail("inpaint", json!({}))?;
    assert_eq!(err.kind, maia_plugin_sdk::ErrorKind::InvalidArgs);
    assert_eq!(
        err.message,
        "shapes-tools has no tool `inpaint`; its tools are text2image and edit_images"
    );
    Ok(())
}

#[test]
fn plugin_toml_matches_the_manifest() -> TestResult {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/plugin.toml"))?;
    let file: Manifest = toml::from_str(&text)?;
    let reported = ShapesTools.manifest();
    assert_eq!(
        (
            file.name.as_str(),
            file.version.as_str(),
            file.description.as_str()
        ),
        (
            reported.name.as_str(),
            reported.version.as_str(),
            reported.description.as_str()
        )
    );
    assert_eq!(file.sdk_version, maia_plugin_sdk::SDK_VERSION);
    assert_eq!(file.kind, PluginKind::Wasm);
    assert_eq!(file.artifact.as_deref(), Some("shapes_tools.wasm"));
    assert!(
        file.permissions.is_empty(),
        "shapes-tools needs no permissions"
    );
    Ok(())
}
