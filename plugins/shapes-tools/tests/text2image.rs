//! `text2image` through `Plugin::call`: output shape, determinism, warnings, bad input.

use crate::common::{TestHost, TestResult, scene_of};
use maia_plugin_sdk::contracts::{GeneratedImage, ToolWarning};
use maia_plugin_sdk::{ErrorKind, Image};
use maia_shapes_world::{MAX_PROMPT_CHARS, Warning};
use serde_json::json;

/// Width and height from a PNG's IHDR chunk.
fn png_size(image: &Image) -> Result<(u32, u32), String> {
    let header = image.png.get(16..24).ok_or("PNG too short")?;
    let w = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let h = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    Ok((w, h))
}

/// The shapes world's own warnings, read back from the contract's tagged form.
fn world_warnings(warnings: &[ToolWarning]) -> Result<Vec<Warning>, serde_json::Error> {
    warnings
        .iter()
        .map(|w| serde_json::to_value(w).and_then(serde_json::from_value))
        .collect()
}

fn generated(data: &serde_json::Value) -> Result<Vec<GeneratedImage>, serde_json::Error> {
    serde_json::from_value(data["images"].clone())
}

#[test]
fn one_image_per_prompt_with_scene_and_caption() -> TestResult {
    let mut host = TestHost::default();
    let prompts = [
        "two red striped circles on a blue background",
        "a yellow star",
    ];
    let out = host.call("text2image", json!({"prompts": prompts, "seed": 5}))?;
    assert_eq!(out.images.len(), 2);
    for (image, prompt) in out.images.iter().zip(prompts) {
        assert!(image.png.starts_with(b"\x89PNG"));
        assert_eq!(png_size(image)?, (224, 224));
        assert_eq!(image.caption, prompt);
        assert_eq!(image.meta["world"], "shapes");
        assert_eq!(image.meta["prompt"], prompt);
        assert_eq!(image.meta["seed"], 5);
        scene_of(image)?.validate()?;
    }
    let first = scene_of(&out.images[0])?;
    assert_eq!(first.objects.len(), 2);
    assert_eq!(first.background.color, maia_shapes_world::Color::Blue);
    let lines: Vec<&str> = out.text.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.text);
    assert_eq!(lines[0], "2 images (seed 5, 224×224 px):");
    assert!(
        lines[1]
            .starts_with("image 1 (\"two red striped circles on a blue background\"): drew two ")
            && lines[1].ends_with("red striped circles on a blue background"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("image 2 (\"a yellow star\"): drew a "),
        "{}",
        lines[2]
    );
    let data = generated(&out.data)?;
    assert_eq!(data.len(), 2);
    assert_eq!(
        (data[1].image, data[1].prompt.as_str()),
        (2, "a yellow star")
    );
    assert!(data.iter().all(|g| g.warnings.is_empty()));
    assert_eq!(
        (out.data["seed"].as_u64(), out.data["size"].as_u64()),
        (Some(5), Some(224))
    );
    assert_eq!(host.progress, vec![(1, 2), (2, 2)]);
    Ok(())
}

#[test]
fn same_prompt_and_seed_give_the_same_bytes() -> TestResult {
    let mut host = TestHost::default();
    let prompt =
        "three small dotted hexagons and a large checkered heart on a striped pink background";
    let png = |host: &mut TestHost, args| -> Result<Vec<u8>, Box<dyn std::error::Error>> {
        let out = host.call("text2image", args)?;
        Ok(out.images.first().ok_or("no image")?.png.clone())
    };
    let a = png(&mut host, json!({"prompts": [prompt], "seed": 42}))?;
    let b = png(&mut host, json!({"prompts": [prompt], "seed": 42}))?;
    assert_eq!(a, b, "same prompt and seed");
    let c = png(&mut host, json!({"prompts": [prompt], "seed": 43}))?;
    assert_ne!(a, c, "another seed moves things");
    let default = png(&mut host, json!({"prompts": [prompt]}))?;
    let zero = png(&mut host, json!({"prompts": [prompt], "seed": 0}))?;
    assert_eq!(default, zero, "the default seed is 0");
    let huge = png(&mut host, json!({"prompts": [prompt], "seed": u64::MAX}))?;
    assert!(huge.starts_with(b"\x89PNG"), "the largest seed works");
    // A prompt's image does not depend on where it sits in the batch.
    let out = host.call(
        "text2image",
        json!({"prompts": ["a red circle", prompt], "seed": 42}),
    )?;
    assert_eq!(out.images[1].png, a);
    Ok(())
}

#[test]
fn repeated_prompts_are_flagged() -> TestResult {
    let mut host = TestHost::default();
    let out = host.call(
        "text2image",
        json!({"prompts": ["a red circle", "a blue star", "a red circle"]}),
    )?;
    assert_eq!(
        out.images[0].id, out.images[2].id,
        "the store keeps one copy"
    );
    let third = out.text.lines().nth(3).ok_or("no line 3")?;
    assert!(
        third.ends_with("; identical to image 1: use another seed for a different layout"),
        "{third}"
    );
    Ok(())
}

#[test]
fn sizes() -> TestResult {
    let mut host = TestHost::default();
    for side in [32u32, 100, 512] {
        let out = host.call(
            "text2image",
            json!({"prompts": ["a star in the top right and two rings"], "size": side}),
        )?;
        assert_eq!(png_size(&out.images[0])?, (side, side));
        let scene = scene_of(&out.images[0])?;
        assert_eq!((scene.width, scene.height), (side, side));
        assert!(
            out.text
                .starts_with(&format!("1 image (seed 0, {side}×{side} px):")),
            "{}",
            out.text
        );
    }
    for side in [0u32, 31, 513, 4096] {
        let err = host.fail("text2image", json!({"prompts": ["a star"], "size": side}))?;
        assert_eq!(err.kind, ErrorKind::InvalidArgs);
        assert!(
            err.message.contains(&format!(
                "size {side} is out of range; give a side of 32 to 512"
            )),
            "{}",
            err.message
        );
    }
    let err = host.fail("text2image", json!({"prompts": ["a star"], "size": -4}))?;
    assert_eq!(err.kind, ErrorKind::InvalidArgs);
    assert!(
        err.message.contains("size?: integer 32..=512"),
        "{}",
        err.message
    );
    assert_eq!(host.len(), 3);
    Ok(())
}

#[test]
fn unknown_words_are_reported_per_image() -> TestResult {
    let mut host = TestHost::default();
    let out = host.call(
        "text2image",
        json!({"prompts": ["a red circle", "a purple-ish foo circle", "a shiny blob"]}),
    )?;
    let lines: Vec<&str> = out.text.lines().collect();
    assert!(!lines[1].contains("understand"), "{}", lines[1]);
    assert!(
        lines[2].starts_with("image 2 (\"a purple-ish foo circle\"): drew a ")
            && lines[2]
                .ends_with("purple circle on a white background; did not understand 'ish', 'foo'"),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].contains(
            "did not understand 'shiny', 'blob'; no shape named; the image is an empty background"
        ),
        "{}",
        lines[3]
    );
    let data = generated(&out.data)?;
    assert!(data[0].warnings.is_empty());
    assert_eq!(
        world_warnings(&data[1].warnings)?,
        vec![
            Warning::UnknownWord { word: "ish".into() },
            Warning::UnknownWord { word: "foo".into() }
        ]
    );
    assert!(world_warnings(&data[2].warnings)?.contains(&Warning::NoObjects));
    // The JSON form is the world's own, tagged by kind, with the sentence the agent reads.
    assert_eq!(
        out.data["images"][1]["warnings"][1],
        json!({"kind": "unknown_word", "word": "foo", "message": "unknown word 'foo' was ignored"})
    );
    assert_eq!(scene_of(&out.images[2])?.objects.len(), 0);
    Ok(())
}

#[test]
fn contradictions_and_clamped_counts_are_reported() -> TestResult {
    let mut host = TestHost::default();
    let out = host.call(
        "text2image",
        json!({"prompts": ["a red blue circle", "20 stars", "no circles and a square"]}),
    )?;
    let lines: Vec<&str> = out.text.lines().collect();
    assert!(
        lines[1].contains("contradictory color: 'red' and 'blue'; kept 'red'"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].contains("asked for 20 objects; a scene holds at most 6 so 6 were drawn"),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].contains("zero circles requested; none drawn"),
        "{}",
        lines[3]
    );
    assert_eq!(scene_of(&out.images[1])?.objects.len(), 6);
    Ok(())
}

#[test]
fn empty_prompts_are_refused_by_position() -> TestResult {
    let mut host = TestHost::default();
    let err = host.fail(
        "text2image",
        json!({"prompts": ["a red circle", "", "   \n"]}),
    )?;
    assert_eq!(err.kind, ErrorKind::InvalidArgs);
    assert!(
        err.message
            .starts_with("prompt 2 (\"\"): the prompt is empty; describe a scene"),
        "{}",
        err.message
    );
    assert!(
        err.message
            .contains("prompt 3 (\"   \\n\"): the prompt is empty"),
        "{}",
        err.message
    );
    assert!(
        err.message
            .ends_with("no images were made; fix the prompts above and call again")
    );
    assert_eq!(host.len(), 0, "nothing made when one prompt is bad");
    let err = host.fail("text2image", json!({"prompts": []}))?;
    assert_eq!(err.kind, ErrorKind::InvalidArgs);
    assert!(
        err.message
            .starts_with("prompts is empty; give 1 to 64 prompts"),
        "{}",
        err.message
    );
    Ok(())
}

#[test]
fn over_long_prompts_are_refused_not_truncated() -> TestResult {
    let mut host = TestHost::default();
    let long = "a red circle and ".repeat(600); // 10,200 characters
    let long = &long[..10_000];
    let err = host.fail("text2image", json!({"prompts": [long]}))?;
    assert_eq!(err.kind, ErrorKind::InvalidArgs);
    assert!(
        err.message
            .contains("the prompt is 10000 characters long; at most 1000 are accepted, shorten it"),
        "{}",
        err.message
    );
    assert!(
        err.message.len() < 400,
        "the prompt is quoted briefly: {}",
        err.message
    );
    // Exactly at the limit is fine; the extra objects are reported.
    let at_limit: String = "a red circle and "
        .repeat(60)
        .chars()
        .take(MAX_PROMPT_CHARS)
        .collect();
    let out = host.call("text2image", json!({"prompts": [at_limit]}))?;
    assert!(out.text.contains("a scene holds at most 6"), "{}", out.text);
    // A 1000-character prompt of nonsense lists a few words, not hundreds.
    let nonsense: String = (0..200)
        .map(|i| format!("w{i:03} "))
        .collect::<String>()
        .chars()
        .take(1000)
        .collect();
    let out = host.call("text2image", json!({"prompts": [nonsense]}))?;
    assert!(out.text.contains("and 190 more"), "{}", out.text);
    assert!(out.text.len() < 400, "{}", out.text);
    assert_eq!(
        generated(&out.data)?[0].warnings.len(),
        201,
        "data keeps them all"
    );
    Ok(())
}

#[test]
fn non_ascii_prompts_warn_and_still_draw() -> TestResult {
    let mut host = TestHost::default();
    let out = host.call(
        "text2image",
        json!({"prompts": ["un cercle rouge 🙂", "a rèd circle", "A RED Circle", "a red\u{0} circle\u{7}"]}),
    )?;
    assert_eq!(out.images.len(), 4);
    let lines: Vec<&str> = out.text.lines().collect();
    assert!(
        lines[1].contains("did not understand 'un', 'cercle', 'rouge', '🙂'"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].contains("did not understand 'rèd'"),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].ends_with("red circle on a white background"),
        "{}",
        lines[3]
    );
    assert!(
        !lines[3].contains("understand"),
        "case is ignored: {}",
        lines[3]
    );
    assert!(
        lines[4].contains("did not understand 'red\\u{0}', 'circle\\u{7}'"),
        "{}",
        lines[4]
    );
    assert_eq!(
        out.text.lines().count(),
        5,
        "control characters stay escaped"
    );
    assert_eq!(out.images[0].caption, "un cercle rouge 🙂");
    Ok(())
}

#[test]
fn too_many_prompts_fail_fast() -> TestResult {
    let mut host = TestHost::default();
    let prompts: Vec<String> = (0..1000)
        .map(|i| format!("a red circle number {i}"))
        .collect();
    let err = host.fail("text2image", json!({"prompts": prompts}))?;
    assert_eq!(err.kind, ErrorKind::InvalidArgs);
    assert_eq!(
        err.message,
        "got 1000 prompts; at most 64 are drawn per call, so split them across several calls"
    );
    assert!(
        host.progress.is_empty() && host.len() == 0,
        "no work was done"
    );
    let sixty_four: Vec<String> = (0..64).map(|i| format!("{} stars", i % 6 + 1)).collect();
    let out = host.call("text2image", json!({"prompts": sixty_four, "size": 32}))?;
    assert_eq!(out.images.len(), 64);
    assert_eq!(host.progress.last(), Some(&(64, 64)));
    Ok(())
}

#[test]
fn malformed_arguments_name_the_expected_shape() -> TestResult {
    let mut host = TestHost::default();
    for args in [
        json!({"prompt": "a red circle"}),
        json!({"prompts": "a red circle"}),
        json!({"prompts": ["a red circle"], "seed": -1}),
        json!({"prompts": ["a red circle"], "seed": 1.5}),
        json!({"prompts": ["a red circle"], "steps": 20}),
        json!(null),
    ] {
        let err = host.fail("text2image", args.clone())?;
        assert_eq!(err.kind, ErrorKind::InvalidArgs, "{args}");
        assert!(
            err.message.starts_with("arguments of `text2image`: "),
            "{}",
            err.message
        );
        assert!(err.message.ends_with("expected {prompts: [string] (1 to 64), seed?: integer ≥ 0, size?: integer 32..=512}"), "{}", err.message);
    }
    Ok(())
}
