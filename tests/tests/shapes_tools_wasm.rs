//! The shapes world's tools through the real wasm host: the sandboxed component draws
//! the same bytes as the library, carries the scene graph across the boundary, edits its
//! own images, feeds synthetic units, and refuses what it cannot do with clear errors.

use maia_core::call_context::UnitCaller;
use maia_core::target::{TargetUnit, open_target};
use maia_core::{CallContext, Grants, ImageStore, PluginLoader, ToolRegistry, WasmLimits};
use maia_plugin_sdk::{ErrorKind, Image, ImageId, ToolCall, ToolOutput};
use maia_tests::SHAPES_TOOLS;
use serde_json::json;
use std::sync::Arc;

fn registry() -> (ToolRegistry, maia_tests::Installed) {
    let installed = SHAPES_TOOLS.install().unwrap_or_else(|e| panic!("{e}"));
    let provider = PluginLoader::new(Grants::none(), WasmLimits::default())
        .load(installed.dir())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut registry = ToolRegistry::new();
    registry
        .register(provider)
        .unwrap_or_else(|e| panic!("{e}"));
    (registry, installed)
}

fn call(
    registry: &ToolRegistry,
    store: &ImageStore,
    unit: Option<&dyn UnitCaller>,
    name: &str,
    args: serde_json::Value,
) -> Result<ToolOutput, maia_plugin_sdk::ToolError> {
    let mut host = CallContext::new(store);
    if let Some(unit) = unit {
        host = host.with_unit(unit);
    }
    let mut out = registry.call(&ToolCall::new("t", name, args), &mut host)?;
    store
        .adopt_output(&mut out)
        .unwrap_or_else(|e| panic!("{e}"));
    Ok(out)
}

#[test]
fn wasm_text2image_matches_the_library_byte_for_byte() {
    let (registry, _dir) = registry();
    let store = ImageStore::new();
    let prompt = "two small red striped circles and a green star on a white background";
    let out = call(
        &registry,
        &store,
        None,
        "text2image",
        json!({"prompts": [prompt], "seed": 5}),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let parsed = maia_shapes_world::parse_prompt(prompt, 5).unwrap_or_else(|e| panic!("{e}"));
    let expected = maia_shapes_world::render_png(&parsed.scene).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.images.len(), 1);
    assert!(
        out.images[0].png == expected,
        "the sandbox draws the same bytes as the library"
    );
    let scene: maia_shapes_world::Scene =
        serde_json::from_value(out.images[0].meta["scene"].clone())
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        scene, parsed.scene,
        "the scene graph crosses the boundary intact"
    );
}

#[test]
fn unknown_words_come_back_as_warnings() {
    let (registry, _dir) = registry();
    let store = ImageStore::new();
    let out = call(
        &registry,
        &store,
        None,
        "text2image",
        json!({"prompts": ["a glorpy circle"]}),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(out.text.contains("glorpy"), "{}", out.text);
}

#[test]
fn edits_and_synthetic_units_agree_with_the_ground_truth() {
    let (registry, _dir) = registry();
    let store = Arc::new(ImageStore::new());
    let model =
        Arc::from(open_target("synthetic:red_and_circle").unwrap_or_else(|e| panic!("{e}")));
    let unit = TargetUnit::new(
        model,
        "synthetic:0".parse().unwrap_or_else(|e| panic!("{e}")),
        store.clone(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let made = call(
        &registry,
        &store,
        Some(&unit),
        "text2image",
        json!({"prompts": ["a red circle"], "seed": 2}),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let id = made.images[0].id.clone();
    let edited = call(
        &registry,
        &store,
        Some(&unit),
        "edit_images",
        json!({"image_ids": [id, id], "edits": ["make the circle blue", "make it bigger"]}),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let ids: Vec<ImageId> = std::iter::once(id)
        .chain(edited.images.iter().map(|i| i.id.clone()))
        .collect();
    let acts = unit.call_unit(&ids).unwrap_or_else(|e| panic!("{e:?}"));
    assert!(acts[0].activation > 0.9, "red circle fires: {acts:?}");
    assert!(acts[1].activation < 0.2, "blue circle does not: {acts:?}");
    assert!(
        acts[2].activation > 0.9,
        "a bigger red circle still fires: {acts:?}"
    );
}

#[test]
fn bad_input_is_refused_with_what_to_do() {
    let (registry, _dir) = registry();
    let store = ImageStore::new();
    let photo = store
        .insert(Image::new(
            maia_tests::solid_png(8, 8, [1, 2, 3, 255]).unwrap_or_else(|e| panic!("{e}")),
            "photo",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    let err = call(
        &registry,
        &store,
        None,
        "edit_images",
        json!({"image_ids": [photo], "edits": ["make it red"]}),
    )
    .err()
    .unwrap_or_else(|| panic!("editing a photo must fail"));
    assert_eq!(err.kind, ErrorKind::InvalidArgs);
    assert!(err.message.contains("no scene graph"), "{}", err.message);

    let err = call(
        &registry,
        &store,
        None,
        "edit_images",
        json!({"image_ids": ["img_99"], "edits": ["make it red"]}),
    )
    .err()
    .unwrap_or_else(|| panic!("unknown id must fail"));
    assert!(err.message.contains("img_99"), "{}", err.message);

    let many: Vec<String> = (0..1000)
        .map(|i| format!("a red circle number {i}"))
        .collect();
    let err = call(
        &registry,
        &store,
        None,
        "text2image",
        json!({"prompts": many}),
    )
    .err()
    .unwrap_or_else(|| panic!("1000 prompts must be refused"));
    assert_eq!(err.kind, ErrorKind::InvalidArgs);
    assert!(
        err.message.len() < 2_000,
        "the refusal stays short: {} chars",
        err.message.len()
    );

    let long = "a red circle ".repeat(800);
    let err = call(
        &registry,
        &store,
        None,
        "text2image",
        json!({"prompts": [long]}),
    )
    .err()
    .unwrap_or_else(|| panic!("a 10,000-char prompt must be refused"));
    assert!(err.message.contains("at most"), "{}", err.message);

    let err = call(
        &registry,
        &store,
        None,
        "text2image",
        json!({"prompts": [""]}),
    )
    .err()
    .unwrap_or_else(|| panic!("empty prompt must be refused"));
    assert!(err.message.contains("empty"), "{}", err.message);
    // The plugin keeps serving after every refusal.
    assert!(
        call(
            &registry,
            &store,
            None,
            "text2image",
            json!({"prompts": ["un cercle rouge 🙂"]})
        )
        .is_ok()
    );
}
