//! `edit_images` through `Plugin::call`: pairing, every edit kind, and bad input.

use crate::common::{TestHost, TestResult, scene_of};
use maia_plugin_sdk::contracts::{EditFailure, EditedImage};
use maia_plugin_sdk::{ErrorKind, Image, ImageId, ToolOutput};
use maia_shapes_world::{Color, Scene, Shape, SizeClass, Texture};
use serde_json::{Value, json};

fn edit(
    host: &mut TestHost,
    ids: &[&str],
    edits: &[&str],
) -> Result<ToolOutput, Box<dyn std::error::Error>> {
    Ok(host.call("edit_images", json!({"image_ids": ids, "edits": edits}))?)
}

/// The scene of the one image an edit of `id` returned.
fn edited(
    host: &mut TestHost,
    id: &str,
    instruction: &str,
) -> Result<Scene, Box<dyn std::error::Error>> {
    let out = edit(host, &[id], &[instruction])?;
    assert_eq!(out.images.len(), 1, "{}", out.text);
    Ok(scene_of(&out.images[0])?)
}

fn sample(host: &TestHost, id: &str) -> Result<Scene, Box<dyn std::error::Error>> {
    Ok(scene_of(host.get(&ImageId::from(id)).ok_or("no sample")?)?)
}

#[test]
fn the_example_edit() -> TestResult {
    let mut host = TestHost::with_samples()?;
    let out = edit(&mut host, &["img_1"], &["make the circle green"])?;
    let image = &out.images[0];
    assert_eq!(image.caption, "make the circle green (from img_1)");
    assert_eq!(image.meta["world"], "shapes");
    assert_eq!(image.meta["source"], "img_1");
    assert_eq!(image.meta["edit"], "make the circle green");
    assert_eq!(image.meta["seed"], 0, "the samples carry no seed");
    let scene = scene_of(image)?;
    let before = sample(&host, "img_1")?;
    assert_eq!(scene.objects[0].color, Color::Green);
    assert_eq!(
        (scene.objects[0].x, scene.objects[0].y),
        (before.objects[0].x, before.objects[0].y)
    );
    let lines: Vec<&str> = out.text.lines().collect();
    assert_eq!(lines[0], "1 edited image:");
    assert!(
        lines[1].starts_with(
            "image 1 (img_1, \"make the circle green\"): red circle → green circle; now a "
        ) && lines[1].ends_with("green circle on a white background"),
        "{}",
        lines[1]
    );
    let data: Vec<EditedImage> = serde_json::from_value(out.data["images"].clone())?;
    assert_eq!(data[0].applied, vec!["red circle → green circle"]);
    assert_eq!(data[0].source, ImageId::from("img_1"));
    assert!(!data[0].unchanged);
    assert_eq!(out.data["failed"], json!([]));
    Ok(())
}

#[test]
fn one_edit_applies_to_every_image() -> TestResult {
    let mut host = TestHost::with_samples()?;
    let out = edit(
        &mut host,
        &["img_1", "img_2", "img_3"],
        &["make the background gray"],
    )?;
    assert_eq!(out.images.len(), 3);
    for (i, image) in out.images.iter().enumerate() {
        assert_eq!(scene_of(image)?.background.color, Color::Gray);
        assert_eq!(image.meta["source"], format!("img_{}", i + 1));
        assert_eq!(
            image.caption,
            format!("make the background gray (from img_{})", i + 1)
        );
    }
    assert_eq!(out.text.lines().count(), 4);
    assert_eq!(host.progress, vec![(1, 3), (2, 3), (3, 3)]);
    Ok(())
}

#[test]
fn edits_pair_with_images_in_order() -> TestResult {
    let mut host = TestHost::with_samples()?;
    let out = edit(
        &mut host,
        &["img_1", "img_2", "img_3"],
        &[
            "make the circle green",
            "remove the star",
            "make the triangle large",
        ],
    )?;
    let scenes: Vec<Scene> = out.images.iter().map(scene_of).collect::<Result<_, _>>()?;
    assert_eq!(scenes[0].objects[0].color, Color::Green);
    assert!(scenes[1].objects.iter().all(|o| o.shape == Shape::Square));
    assert_eq!(scenes[1].objects.len(), 2);
    assert_eq!(scenes[2].objects[0].size_class(), SizeClass::Large);
    assert_eq!(out.images[1].caption, "remove the star (from img_2)");
    // The same image twice, with two edits.
    let out = edit(
        &mut host,
        &["img_1", "img_1"],
        &["make it blue", "make it yellow"],
    )?;
    assert_eq!(scene_of(&out.images[0])?.objects[0].color, Color::Blue);
    assert_eq!(scene_of(&out.images[1])?.objects[0].color, Color::Yellow);
    Ok(())
}

#[test]
fn mismatched_counts_explain_the_rule() -> TestResult {
    let mut host = TestHost::with_samples()?;
    let err = host.fail(
        "edit_images",
        json!({"image_ids": ["img_1", "img_2", "img_3"], "edits": ["make it red", "make it blue"]}),
    )?;
    assert_eq!(err.kind, ErrorKind::InvalidArgs);
    assert_eq!(
        err.message,
        "got 3 image ids but 2 edits; give either one edit, applied to every image, or exactly one edit per image (3), paired in order"
    );
    let err = host.fail(
        "edit_images",
        json!({"image_ids": ["img_1"], "edits": ["make it red", "make it blue"]}),
    )?;
    assert!(
        err.message.starts_with("got 1 image ids but 2 edits"),
        "{}",
        err.message
    );
    let err = host.fail(
        "edit_images",
        json!({"image_ids": [], "edits": ["make it red"]}),
    )?;
    assert!(
        err.message.starts_with("image_ids is empty"),
        "{}",
        err.message
    );
    let err = host.fail("edit_images", json!({"image_ids": ["img_1"], "edits": []}))?;
    assert!(err.message.starts_with("edits is empty"), "{}", err.message);
    assert_eq!(host.len(), 3, "nothing made");
    Ok(())
}

#[test]
fn every_edit_kind_works_through_the_tool() -> TestResult {
    let mut host = TestHost::with_samples()?;
    let circle = sample(&host, "img_1")?.objects[0];
    let squares = sample(&host, "img_2")?;
    let triangle = sample(&host, "img_3")?.objects[0];

    // Color, texture, size class, relative size, shape.
    assert_eq!(
        edited(&mut host, "img_1", "paint the red circle blue")?.objects[0].color,
        Color::Blue
    );
    let dotted = edited(&mut host, "img_2", "make the squares dotted")?;
    assert_eq!(
        dotted
            .objects
            .iter()
            .filter(|o| o.texture == Texture::Dots)
            .count(),
        2,
        "both squares, not the star"
    );
    assert_eq!(
        edited(&mut host, "img_1", "make the circle small")?.objects[0].size_class(),
        SizeClass::Small
    );
    assert!(edited(&mut host, "img_1", "make the circle bigger")?.objects[0].size > circle.size);
    assert!(edited(&mut host, "img_1", "make it smaller")?.objects[0].size < circle.size);
    assert!(edited(&mut host, "img_1", "enlarge the circle")?.objects[0].size > circle.size);
    assert!(edited(&mut host, "img_1", "shrink the circle")?.objects[0].size < circle.size);
    let square = edited(&mut host, "img_3", "turn the triangle into a square")?.objects[0];
    assert_eq!(
        (square.shape, square.color, square.texture),
        (Shape::Square, Color::Green, Texture::Dots)
    );

    // Replace, add, remove, move.
    let hearts = edited(&mut host, "img_2", "replace the star with a pink heart")?;
    assert!(
        hearts
            .objects
            .iter()
            .any(|o| o.shape == Shape::Heart && o.color == Color::Pink)
    );
    assert!(!hearts.objects.iter().any(|o| o.shape == Shape::Star));
    let added = edited(
        &mut host,
        "img_1",
        "add a small cyan ring in the bottom right",
    )?;
    assert_eq!(added.objects.len(), 2);
    let ring = added.objects[1];
    assert_eq!(
        (ring.shape, ring.color, ring.size_class()),
        (Shape::Ring, Color::Cyan, SizeClass::Small)
    );
    assert!(ring.x > 0.5 && ring.y > 0.5, "{ring:?}");
    assert_eq!(
        edited(&mut host, "img_2", "remove the star")?.objects.len(),
        squares.objects.len() - 1
    );
    assert!(
        edited(&mut host, "img_2", "remove everything")?
            .objects
            .is_empty()
    );
    let stars: Vec<Shape> = edited(&mut host, "img_2", "delete the squares")?
        .objects
        .iter()
        .map(|o| o.shape)
        .collect();
    assert_eq!(stars, vec![Shape::Star]);
    let moved = edited(&mut host, "img_3", "move the triangle to the bottom right")?.objects[0];
    assert!(
        triangle.x < 0.5 && moved.x > 0.5 && moved.y > 0.5,
        "{moved:?}"
    );

    // Background color, texture, reset.
    let bg = edited(&mut host, "img_1", "change the background to black")?.background;
    assert_eq!((bg.color, bg.texture), (Color::Black, Texture::Solid));
    let bg = edited(&mut host, "img_2", "make the background checkered")?.background;
    assert_eq!((bg.color, bg.texture), (Color::Black, Texture::Checker));
    let bg = edited(&mut host, "img_2", "remove the background")?.background;
    assert_eq!((bg.color, bg.texture), (Color::White, Texture::Solid));

    // Several clauses at once.
    let both = edited(
        &mut host,
        "img_1",
        "make the circle green; add a star, then make the background striped",
    )?;
    assert_eq!(both.objects.len(), 2);
    assert_eq!(both.objects[0].color, Color::Green);
    assert_eq!(both.objects[1].shape, Shape::Star);
    assert_eq!(both.background.texture, Texture::Stripes);
    Ok(())
}

/// "all squares" picks the squares only; "everything" still picks every object.
#[test]
fn all_with_a_noun_picks_only_that_noun() -> TestResult {
    let mut host = TestHost::with_samples()?;
    let left: Vec<Shape> = edited(&mut host, "img_2", "delete all squares")?
        .objects
        .iter()
        .map(|o| o.shape)
        .collect();
    assert_eq!(left, vec![Shape::Star], "'all squares' keeps the star");
    let recolored = edited(&mut host, "img_2", "make every square red")?;
    assert!(
        recolored
            .objects
            .iter()
            .any(|o| o.shape == Shape::Star && o.color == Color::Yellow)
    );
    Ok(())
}

#[test]
fn edits_chain_and_keep_the_seed() -> TestResult {
    let mut host = TestHost::default();
    let made = host.call(
        "text2image",
        json!({"prompts": ["a red circle"], "seed": 9}),
    )?;
    let first = made.images[0].id.clone();
    let once = edit(&mut host, &[first.as_str()], &["add a blue star"])?;
    assert_eq!(once.images[0].meta["seed"], 9);
    let again = edit(&mut host, &[first.as_str()], &["add a blue star"])?;
    assert_eq!(
        once.images[0].png, again.images[0].png,
        "edits are deterministic"
    );
    let second = once.images[0].id.clone();
    let twice = edit(&mut host, &[second.as_str()], &["make the star striped"])?;
    let scene = scene_of(&twice.images[0])?;
    assert_eq!(scene.objects.len(), 2);
    assert_eq!(
        (scene.objects[1].shape, scene.objects[1].texture),
        (Shape::Star, Texture::Stripes)
    );
    assert_eq!(
        twice.images[0].caption,
        format!("make the star striped (from {second})")
    );
    Ok(())
}

#[test]
fn an_edit_that_matches_nothing_says_so() -> TestResult {
    let mut host = TestHost::with_samples()?;
    let err = host.fail(
        "edit_images",
        json!({"image_ids": ["img_1"], "edits": ["remove the star"]}),
    )?;
    assert_eq!(err.kind, ErrorKind::InvalidArgs);
    assert_eq!(
        err.message,
        "img_1 not edited (\"remove the star\"): no star in this image; objects are: red circle\nno edit could be applied, so no images were made"
    );
    // With other images, the ones that have a star are still edited.
    let out = edit(&mut host, &["img_1", "img_2"], &["remove the star"])?;
    assert_eq!(out.images.len(), 1);
    assert_eq!(out.images[0].meta["source"], "img_2");
    let lines: Vec<&str> = out.text.lines().collect();
    assert_eq!(
        lines[0],
        "1 edited image (1 of 2 pairs could not be edited):"
    );
    assert!(
        lines[1].starts_with("img_1 not edited (\"remove the star\"): no star in this image"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("image 1 (img_2, \"remove the star\"): removed yellow star; now "),
        "{}",
        lines[2]
    );
    let failed: Vec<EditFailure> = serde_json::from_value(out.data["failed"].clone())?;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].source, ImageId::from("img_1"));
    Ok(())
}

#[test]
fn edits_the_world_cannot_read_are_explained() -> TestResult {
    let mut host = TestHost::with_samples()?;
    for (instruction, expected) in [
        (
            "frobnicate the circle",
            "don't know how to 'frobnicate' in 'frobnicate the circle'; start an edit with one of: make,",
        ),
        (
            "make the circle",
            "'make the circle' does not say what to change",
        ),
        ("add a florp", "'add a florp' names no shape to add"),
        ("make the circle grün", "does not say what to change"),
    ] {
        let err = host.fail(
            "edit_images",
            json!({"image_ids": ["img_1"], "edits": [instruction]}),
        )?;
        assert_eq!(err.kind, ErrorKind::InvalidArgs);
        assert!(
            err.message.contains(expected),
            "{instruction}: {}",
            err.message
        );
    }
    // Unknown words and ambiguous references warn but still edit.
    let out = edit(&mut host, &["img_2"], &["make the square sparkly red 🙂"])?;
    let line = out.text.lines().nth(1).ok_or("no line")?;
    assert!(
        line.contains("did not understand 'sparkly', '🙂'"),
        "{line}"
    );
    assert!(
        line.contains("2 objects match 'square'; changed all of them"),
        "{line}"
    );
    let data: Vec<EditedImage> = serde_json::from_value(out.data["images"].clone())?;
    assert_eq!(data[0].warnings.len(), 3);
    Ok(())
}

#[test]
fn an_edit_that_changes_nothing_says_so() -> TestResult {
    let mut host = TestHost::with_samples()?;
    let out = edit(&mut host, &["img_1"], &["make the red circle red"])?;
    assert!(
        out.text
            .lines()
            .nth(1)
            .is_some_and(|l| l.ends_with("; nothing changed, same as img_1")),
        "{}",
        out.text
    );
    assert_eq!(
        out.images[0].id,
        ImageId::from("img_1"),
        "same bytes, same id"
    );
    assert!(
        out.data["images"][0]["unchanged"]
            .as_bool()
            .unwrap_or_default()
    );
    Ok(())
}

#[test]
fn images_without_a_scene_graph_are_refused() -> TestResult {
    let mut host = TestHost::with_samples()?;
    let png = host
        .get(&ImageId::from("img_1"))
        .ok_or("no sample")?
        .png
        .clone();
    let mut foreign = png.clone();
    foreign.push(0); // different bytes, so a different id
    let mut id = host.insert(Image::new(foreign.clone(), "a photo"));
    while id != ImageId::from("img_7") {
        foreign.push(0);
        id = host.insert(Image::new(foreign.clone(), "padding").with_meta(json!({"prompt": "x"})));
    }
    let err = host.fail(
        "edit_images",
        json!({"image_ids": ["img_1", "img_7"], "edits": ["make it blue"]}),
    )?;
    assert_eq!(err.kind, ErrorKind::InvalidArgs);
    assert_eq!(
        err.message,
        "img_7 was not made by the shapes world (no scene graph in its metadata); edit_images can only edit images from text2image or earlier edits"
    );
    let err = host.fail(
        "edit_images",
        json!({"image_ids": ["img_4"], "edits": ["make it blue"]}),
    )?;
    assert!(
        err.message
            .starts_with("img_4 was not made by the shapes world"),
        "{}",
        err.message
    );

    // A scene graph stored as a JSON string is read too.
    let scene = sample(&host, "img_1")?;
    foreign.push(0);
    let as_text = host.insert(
        Image::new(foreign.clone(), "text scene").with_meta(json!({"scene": scene.to_json()})),
    );
    let out = edit(&mut host, &[as_text.as_str()], &["make it blue"])?;
    assert_eq!(scene_of(&out.images[0])?.objects[0].color, Color::Blue);

    // Broken or oversized scene graphs are named, not drawn.
    for (meta, expected) in [
        (json!({"scene": {"width": 3}}), "missing field"),
        (
            json!({"scene": {"width": 0, "height": 10, "background": {"color": "red", "texture": "solid"}, "objects": []}}),
            "out of range",
        ),
        (
            json!({"scene": {"width": 4096, "height": 4096, "background": {"color": "red", "texture": "solid"}, "objects": []}}),
            "edit_images redraws images of at most 512×512",
        ),
        (
            json!({"scene": "not json"}),
            "was not made by the shapes world",
        ),
    ] {
        foreign.push(0);
        let id = host.insert(Image::new(foreign.clone(), "broken").with_meta(meta));
        let err = host.fail(
            "edit_images",
            json!({"image_ids": [id], "edits": ["make it blue"]}),
        )?;
        assert_eq!(err.kind, ErrorKind::InvalidArgs);
        assert!(err.message.contains(expected), "{}", err.message);
    }
    Ok(())
}

#[test]
fn unknown_ids_fail_the_call_before_any_edit() -> TestResult {
    let mut host = TestHost::with_samples()?;
    let err = host.fail(
        "edit_images",
        json!({"image_ids": ["img_1", "img_99"], "edits": ["make it blue"]}),
    )?;
    assert_eq!(err.kind, ErrorKind::InvalidArgs);
    assert!(err.message.contains("img_99"), "{}", err.message);
    assert!(
        host.progress.is_empty() && host.len() == 3,
        "nothing edited"
    );
    Ok(())
}

#[test]
fn empty_long_and_too_many_edits_are_refused() -> TestResult {
    let mut host = TestHost::with_samples()?;
    let err = host.fail(
        "edit_images",
        json!({"image_ids": ["img_1", "img_2"], "edits": ["make it blue", " "]}),
    )?;
    assert_eq!(err.kind, ErrorKind::InvalidArgs);
    assert!(
        err.message
            .starts_with("edit 2 is empty; say what to change"),
        "{}",
        err.message
    );
    let long = "make it red ".repeat(1000);
    let err = host.fail(
        "edit_images",
        json!({"image_ids": ["img_1"], "edits": [long]}),
    )?;
    assert!(
        err.message
            .contains("is 12000 characters long; at most 1000 are accepted"),
        "{}",
        err.message
    );
    assert!(err.message.len() < 300, "{}", err.message);
    let ids: Vec<String> = (0..1000).map(|i| format!("img_{i}")).collect();
    let err = host.fail(
        "edit_images",
        json!({"image_ids": ids, "edits": ["make it red"]}),
    )?;
    assert_eq!(
        err.message,
        "got 1000 image ids and 1 edits; at most 64 of each per call, so split them across several calls"
    );
    let edits: Vec<String> = (0..1000).map(|_| String::from("make it red")).collect();
    let err = host.fail(
        "edit_images",
        json!({"image_ids": ["img_1"], "edits": edits}),
    )?;
    assert!(
        err.message.starts_with("got 1 image ids and 1000 edits"),
        "{}",
        err.message
    );
    let err = host.fail(
        "edit_images",
        json!({"image_ids": ["img_1"], "edits": ["make it red"], "seed": 3}),
    )?;
    assert!(
        err.message.contains("unknown field `seed`"),
        "{}",
        err.message
    );
    assert!(host.progress.is_empty() && host.len() == 3);
    Ok(())
}

#[test]
fn data_lists_edited_and_failed_pairs() -> TestResult {
    let mut host = TestHost::with_samples()?;
    let out = edit(
        &mut host,
        &["img_2", "img_3"],
        &["make the star red", "make the star red"],
    )?;
    let data: Value = out.data;
    assert_eq!(data["world"], "shapes");
    assert_eq!(data["images"].as_array().map(Vec::len), Some(1));
    assert_eq!(data["failed"][0]["source"], "img_3");
    assert!(
        data["failed"][0]["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("no star in this image"))
    );
    Ok(())
}
