//! `call_classifier` over a real target: class probabilities from a logits-like layer,
//! the top prediction, and clear refusals for a wrong layer or class.

use maia_core::builtin::CallClassifier;
use maia_core::target::{SYNTHETIC_LAYER, open_target};
use maia_core::{CallContext, ImageStore};
use maia_plugin_sdk::{Image, Plugin, ToolCall};
use serde_json::json;
use std::sync::Arc;

fn image(prompt: &str) -> Image {
    let parsed = maia_shapes_world::parse_prompt(prompt, 1).expect("prompt parses");
    let png = maia_shapes_world::render_png(&parsed.scene).expect("renders");
    Image::new(png, prompt).with_meta(json!({"scene": parsed.scene}))
}

#[test]
fn the_class_probability_follows_the_image() {
    let model: Arc<dyn maia_core::target::TargetModel> =
        Arc::from(open_target("synthetic:all").expect("target"));
    let names = maia_shapes_world::unit_names();
    let red = names.iter().position(|n| *n == "red").expect("a red unit");
    let mut tool = CallClassifier::new(model.clone(), SYNTHETIC_LAYER, red).expect("classifier");
    let store = ImageStore::new();
    let a = store.insert(image("a large red square")).expect("store");
    let b = store.insert(image("a large blue square")).expect("store");
    let mut host = CallContext::new(&store);
    let out = tool
        .call(
            &ToolCall::new("c", "call_classifier", json!({"image_ids": [a, b]})),
            &mut host,
        )
        .expect("classifies");
    let rows = out.data.as_array().expect("rows");
    let p = |i: usize| rows[i]["class_probability"].as_f64().expect("p");
    assert!(
        p(0) > 2.0 * p(1),
        "P(red) on a red square {} vs a blue one {}: {}",
        p(0),
        p(1),
        out.text
    );
    assert!(out.text.contains("img_1: P(class "), "{}", out.text);

    let err = CallClassifier::new(model.clone(), "fc", 0)
        .err()
        .expect("no such layer");
    assert!(err.message.contains("no layer `fc`"));
    let err = CallClassifier::new(model, SYNTHETIC_LAYER, 10_000)
        .err()
        .expect("out of range");
    assert!(err.message.contains("out of range"), "{}", err.message);
}
