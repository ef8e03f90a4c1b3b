//! The standard tools' contracts (`maia_plugin_sdk::contracts`) as the real plugins
//! advertise and honour them: each plugin's advertised argument schema is the contract's,
//! its examples parse as the contract's arguments, and the shapes world's `data` is the
//! contract's field for field. A plugin that drifts (a hand-edited schema, a renamed
//! field, a stale build) fails here.

use maia_core::builtin::CallUnit;
use maia_core::{CallContext, Grants, ImageStore, PluginLoader, ToolRegistry, WasmLimits};
use maia_plugin_sdk::contracts::{
    CallUnitArgs, EditImagesArgs, EditImagesData, Text2ImageArgs, Text2ImageData,
};
use maia_plugin_sdk::{Plugin, ToolCall, ToolOutput};
use maia_tests::{Error, HTTP_IMAGES, Installed, Package, SHAPES_TOOLS};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

type TestResult = Result<(), Error>;

fn registry_of(package: Package) -> Result<(ToolRegistry, Installed), Error> {
    let installed = package.install()?;
    let provider = PluginLoader::new(Grants::none(), WasmLimits::default())
        .load(installed.dir())
        .map_err(|e| format!("loading {}: {e}", package.name))?;
    let mut registry = ToolRegistry::new();
    registry.register(provider)?;
    Ok((registry, installed))
}

/// `tool`'s advertised schema is `contract`'s, and its examples parse as `A`.
fn advertises<A: DeserializeOwned>(
    registry: &ToolRegistry,
    plugin: &str,
    tool: &str,
    contract: &Value,
) -> TestResult {
    let spec = &registry
        .get(tool)
        .ok_or_else(|| format!("{plugin} has no {tool}"))?
        .spec;
    assert_eq!(
        &spec.parameters, contract,
        "{plugin}'s {tool} schema drifted from the contract"
    );
    assert!(
        !spec.examples.is_empty(),
        "{plugin}'s {tool} has no example"
    );
    for example in &spec.examples {
        serde_json::from_value::<A>(example.clone())
            .map_err(|e| format!("{plugin}'s {tool} example {example} breaks the contract: {e}"))?;
    }
    Ok(())
}

#[test]
fn both_image_plugins_advertise_the_contract_schemas() -> TestResult {
    for package in [SHAPES_TOOLS, HTTP_IMAGES] {
        let (registry, _installed) = registry_of(package)?;
        let text2image = Text2ImageArgs::schema();
        advertises::<Text2ImageArgs>(&registry, package.name, "text2image", &text2image)?;
        let edit_images = EditImagesArgs::schema();
        advertises::<EditImagesArgs>(&registry, package.name, "edit_images", &edit_images)?;
    }
    let call_unit = CallUnit.tools();
    assert_eq!(call_unit[0].parameters, CallUnitArgs::schema());
    Ok(())
}

/// `out.data` read as `T` and written back is `out.data` again: no field outside the
/// contract, none renamed.
fn exactly<T: DeserializeOwned + serde::Serialize>(out: &ToolOutput) -> Result<T, Error> {
    let data: T = serde_json::from_value(out.data.clone())?;
    assert_eq!(
        serde_json::to_value(&data)?,
        out.data,
        "data beyond the contract"
    );
    Ok(data)
}

#[test]
fn the_sandboxed_shapes_world_returns_the_contract_data() -> TestResult {
    let (registry, _installed) = registry_of(SHAPES_TOOLS)?;
    let store = ImageStore::new();
    let call = |name: &str, args: Value| -> Result<ToolOutput, Error> {
        let mut out = registry.call(
            &ToolCall::new("t", name, args),
            &mut CallContext::new(&store),
        )?;
        store.adopt_output(&mut out)?;
        Ok(out)
    };
    let args = Text2ImageArgs::new(
        vec!["a red circle".into(), "two blue florp squares".into()],
        4,
    );
    let out = call("text2image", args.to_value())?;
    let made: Text2ImageData = exactly(&out)?;
    assert_eq!(
        (made.world.as_deref(), made.seed, made.size),
        (Some("shapes"), 4, 224)
    );
    assert_eq!(made.images.len(), 2);
    assert!(
        made.images[0]
            .drew
            .as_deref()
            .is_some_and(|d| d.contains("red") && d.contains("circle"))
    );
    let warning = &made.images[1].warnings[0];
    assert_eq!(
        (warning.kind.as_str(), &warning.details["word"]),
        ("unknown_word", &json!("florp"))
    );
    assert_eq!(warning.to_string(), "unknown word 'florp' was ignored");

    let first = out.images[0].id.clone();
    let edited = call(
        "edit_images",
        json!({"image_ids": [first.as_str(), first.as_str()], "edits": ["make the circle green", "remove the star"]}),
    )?;
    let data: EditImagesData = exactly(&edited)?;
    assert_eq!(data.images.len(), 1);
    assert_eq!(data.images[0].source, first);
    assert_eq!(data.images[0].applied, ["red circle → green circle"]);
    assert!(
        data.images[0]
            .drew
            .as_deref()
            .is_some_and(|d| d.contains("green circle"))
    );
    assert_eq!(
        (data.failed[0].source.as_str(), data.failed[0].edit.as_str()),
        (first.as_str(), "remove the star")
    );
    Ok(())
}
