//! Prompt parsing over many phrasings, warnings, bad input, and the round trip.

use maia_shapes_world::{
    Color, MAX_PROMPT_CHARS, PromptError, Scene, Shape, SizeClass, Texture, Warning, parse_prompt,
    scene_to_prompt,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn kinds(scene: &Scene) -> Vec<(Shape, Color, Texture, SizeClass)> {
    scene
        .objects
        .iter()
        .map(|o| (o.shape, o.color, o.texture, o.size_class()))
        .collect()
}

fn unknown(warnings: &[Warning]) -> Vec<String> {
    warnings
        .iter()
        .filter_map(|w| match w {
            Warning::UnknownWord { word } => Some(word.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn the_headline_prompt() -> TestResult {
    let parsed = parse_prompt(
        "two small red striped circles and a green star on a white background",
        3,
    )?;
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    let scene = parsed.scene;
    assert_eq!((scene.width, scene.height), (224, 224));
    assert_eq!(scene.objects.len(), 3);
    for circle in &scene.objects[..2] {
        assert_eq!(circle.shape, Shape::Circle);
        assert_eq!(circle.color, Color::Red);
        assert_eq!(circle.texture, Texture::Stripes);
        assert_eq!(circle.size_class(), SizeClass::Small);
    }
    assert_eq!(scene.objects[2].shape, Shape::Star);
    assert_eq!(scene.objects[2].color, Color::Green);
    assert_eq!(scene.objects[2].texture, Texture::Solid);
    assert_eq!(scene.background.color, Color::White);
    Ok(())
}

#[test]
fn counts_from_number_words_digits_and_plurals() -> TestResult {
    let cases = [
        ("a circle", 1),
        ("an orange star", 1),
        ("one square", 1),
        ("two hearts", 2),
        ("3 rings", 3),
        ("four crosses", 4),
        ("five boxes", 5),
        ("six diamonds", 6),
        ("circles", 2),
        ("a pair of stars", 2),
        ("several triangles", 3),
    ];
    for (prompt, expected) in cases {
        let parsed = parse_prompt(prompt, 0)?;
        assert_eq!(parsed.scene.objects.len(), expected, "{prompt}");
        assert!(
            !parsed
                .warnings
                .iter()
                .any(|w| matches!(w, Warning::Contradiction { .. })),
            "{prompt}: {:?}",
            parsed.warnings
        );
    }
    Ok(())
}

#[test]
fn synonyms_map_to_shapes() -> TestResult {
    let cases = [
        ("a box", Shape::Square),
        ("a disc", Shape::Circle),
        ("a plus", Shape::Cross),
        ("a donut", Shape::Ring),
        ("a rhombus", Shape::Diamond),
        ("a hexagon", Shape::Hexagon),
    ];
    for (prompt, shape) in cases {
        let scene = parse_prompt(prompt, 1)?.scene;
        assert_eq!(scene.objects.len(), 1, "{prompt}");
        assert_eq!(scene.objects[0].shape, shape, "{prompt}");
    }
    Ok(())
}

#[test]
fn sizes_and_textures() -> TestResult {
    let cases = [
        ("a tiny dotted circle", SizeClass::Small, Texture::Dots),
        (
            "a huge checkered square",
            SizeClass::Large,
            Texture::Checker,
        ),
        ("a big polka-dot star", SizeClass::Large, Texture::Dots),
        ("a medium plain heart", SizeClass::Medium, Texture::Solid),
        (
            "a little chequered ring",
            SizeClass::Small,
            Texture::Checker,
        ),
        (
            "a large triangle with stripes",
            SizeClass::Large,
            Texture::Stripes,
        ),
    ];
    for (prompt, size, texture) in cases {
        let parsed = parse_prompt(prompt, 9)?;
        assert!(
            parsed.warnings.is_empty(),
            "{prompt}: {:?}",
            parsed.warnings
        );
        let object = parsed.scene.objects.first().ok_or("no object")?;
        assert_eq!(object.size_class(), size, "{prompt}");
        assert_eq!(object.texture, texture, "{prompt}");
    }
    Ok(())
}

#[test]
fn positions() -> TestResult {
    let cases: [(&str, Option<bool>, Option<bool>); 7] = [
        // (prompt, is_left, is_top)
        ("a red circle in the top left", Some(true), Some(true)),
        ("a red circle on the right", Some(false), None),
        ("a red circle at the bottom", None, Some(false)),
        (
            "in the bottom-right corner a blue star",
            Some(false),
            Some(false),
        ),
        ("a square in the upper right", Some(false), Some(true)),
        ("a heart on the left side", Some(true), None),
        ("a star in the lower left", Some(true), Some(false)),
    ];
    for seed in 0..5 {
        for (prompt, left, top) in cases {
            let parsed = parse_prompt(prompt, seed)?;
            assert!(
                parsed.warnings.is_empty(),
                "{prompt}: {:?}",
                parsed.warnings
            );
            let o = parsed.scene.objects.first().ok_or("no object")?;
            if let Some(left) = left {
                assert_eq!(o.x < 0.5, left, "{prompt} x={}", o.x);
            }
            if let Some(top) = top {
                assert_eq!(o.y < 0.5, top, "{prompt} y={}", o.y);
            }
        }
        let centre = parse_prompt("a circle in the centre", seed)?.scene;
        let o = centre.objects.first().ok_or("no object")?;
        assert!((o.x - 0.5).abs() < 0.1 && (o.y - 0.5).abs() < 0.1, "{o:?}");
    }
    Ok(())
}

#[test]
fn backgrounds() -> TestResult {
    let cases = [
        (
            "a circle on a white background",
            Color::White,
            Texture::Solid,
        ),
        (
            "a star on a striped blue background",
            Color::Blue,
            Texture::Stripes,
        ),
        (
            "a heart. the background is black",
            Color::Black,
            Texture::Solid,
        ),
        (
            "green checkered background with a red square",
            Color::Green,
            Texture::Checker,
        ),
        ("a red circle on yellow", Color::Yellow, Texture::Solid),
        ("a circle", Color::White, Texture::Solid),
    ];
    for (prompt, color, texture) in cases {
        let parsed = parse_prompt(prompt, 4)?;
        assert!(
            parsed.warnings.is_empty(),
            "{prompt}: {:?}",
            parsed.warnings
        );
        assert_eq!(parsed.scene.background.color, color, "{prompt}");
        assert_eq!(parsed.scene.background.texture, texture, "{prompt}");
        assert_eq!(parsed.scene.objects.len(), 1, "{prompt}");
    }
    let square = parse_prompt("green checkered background with a red square", 4)?.scene;
    assert_eq!(square.objects[0].color, Color::Red);
    let bare = parse_prompt("a blue background", 4)?;
    assert!(bare.scene.objects.is_empty());
    assert!(bare.warnings.is_empty(), "{:?}", bare.warnings);
    Ok(())
}

#[test]
fn unspecified_colors_avoid_the_background() -> TestResult {
    for seed in 0..40 {
        let scene = parse_prompt("three stars on a purple background", seed)?.scene;
        assert!(scene.objects.iter().all(|o| o.color != Color::Purple));
    }
    Ok(())
}

#[test]
fn unknown_words_are_reported() -> TestResult {
    let parsed = parse_prompt("a florp", 0)?;
    assert_eq!(unknown(&parsed.warnings), vec!["florp"]);
    assert!(parsed.warnings.contains(&Warning::NoObjects));
    assert!(parsed.scene.objects.is_empty());

    let parsed = parse_prompt("a shiny red circle next to a wobbly square", 0)?;
    assert_eq!(unknown(&parsed.warnings), vec!["shiny", "next", "wobbly"]);
    assert_eq!(parsed.scene.objects.len(), 2);
    Ok(())
}

#[test]
fn contradictions_are_reported() -> TestResult {
    let parsed = parse_prompt("red blue circle", 0)?;
    assert_eq!(
        parsed.warnings,
        vec![Warning::Contradiction {
            attribute: "color".into(),
            kept: "red".into(),
            dropped: "blue".into()
        }]
    );
    assert_eq!(parsed.scene.objects[0].color, Color::Red);
    let parsed = parse_prompt("a small large striped dotted square", 0)?;
    let attributes: Vec<&str> = parsed
        .warnings
        .iter()
        .filter_map(|w| match w {
            Warning::Contradiction { attribute, .. } => Some(attribute.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(attributes, vec!["size", "texture"]);
    let parsed = parse_prompt("a circle in the top bottom", 0)?;
    assert!(
        parsed.warnings.iter().any(
            |w| matches!(w, Warning::Contradiction { attribute, .. } if attribute == "position")
        )
    );
    Ok(())
}

#[test]
fn counts_above_six_are_clamped() -> TestResult {
    let parsed = parse_prompt("ten stars", 0)?;
    assert_eq!(parsed.scene.objects.len(), 6);
    assert!(parsed.warnings.contains(&Warning::CountClamped {
        requested: 10,
        used: 6
    }));
    let parsed = parse_prompt("four circles and four squares", 0)?;
    assert_eq!(parsed.scene.objects.len(), 6);
    assert!(parsed.warnings.contains(&Warning::CountClamped {
        requested: 8,
        used: 6
    }));
    let parsed = parse_prompt("99999999999999999999999999 rings", 0)?;
    assert_eq!(parsed.scene.objects.len(), 6);
    let parsed = parse_prompt("no circles", 0)?;
    assert!(parsed.scene.objects.is_empty());
    assert!(
        parsed
            .warnings
            .iter()
            .any(|w| matches!(w, Warning::ZeroCount { .. }))
    );
    Ok(())
}

#[test]
fn dangling_adjectives_are_reported() -> TestResult {
    let parsed = parse_prompt("a red circle and a big green", 0)?;
    assert_eq!(parsed.scene.objects.len(), 1);
    assert!(
        parsed.warnings.iter().any(
            |w| matches!(w, Warning::NoShape { words } if words.contains(&"green".to_string()))
        )
    );
    let parsed = parse_prompt("a circle on a large blue background", 0)?;
    assert_eq!(parsed.scene.background.color, Color::Blue);
    assert!(
        parsed
            .warnings
            .iter()
            .any(|w| matches!(w, Warning::NotApplicable { word, .. } if word == "large"))
    );
    Ok(())
}

#[test]
fn bad_input() {
    assert_eq!(parse_prompt("", 0), Err(PromptError::Empty));
    assert_eq!(parse_prompt("   \n\t ", 0), Err(PromptError::Empty));
    let long = "red circle ".repeat(1000);
    assert!(matches!(
        parse_prompt(&long, 0),
        Err(PromptError::TooLong {
            chars: 11000,
            max: MAX_PROMPT_CHARS
        })
    ));
    let just_fits = "a".repeat(MAX_PROMPT_CHARS);
    assert!(parse_prompt(&just_fits, 0).is_ok());
}

#[test]
fn non_ascii_words_are_unknown_not_fatal() -> TestResult {
    let parsed = parse_prompt("un cercle rouge 🙂 and a café circle", 0)?;
    let words = unknown(&parsed.warnings);
    for word in ["un", "cercle", "rouge", "🙂", "café"] {
        assert!(
            words.contains(&word.to_string()),
            "{word} missing from {words:?}"
        );
    }
    assert_eq!(parsed.scene.objects.len(), 1);
    Ok(())
}

#[test]
fn same_seed_same_scene_different_seed_different_layout() -> TestResult {
    let prompt = "two blue squares and a yellow star";
    assert_eq!(parse_prompt(prompt, 5)?, parse_prompt(prompt, 5)?);
    let a = parse_prompt(prompt, 5)?.scene;
    let b = parse_prompt(prompt, 6)?.scene;
    assert_eq!(kinds(&a).len(), kinds(&b).len());
    assert_ne!(a.objects[0].x, b.objects[0].x);
    Ok(())
}

#[test]
fn round_trip_scene_prompt_scene() -> TestResult {
    let prompts = [
        "two small red striped circles and a green star on a white background",
        "a large checkered heart on a dotted black background",
        "three medium cyan rings",
        "a gray blue background",
    ];
    for prompt in prompts {
        let scene = parse_prompt(prompt, 11)?.scene;
        let text = scene_to_prompt(&scene);
        let back = parse_prompt(&text, 99)?;
        assert!(back.warnings.is_empty(), "{text}: {:?}", back.warnings);
        assert_eq!(kinds(&back.scene), kinds(&scene), "{prompt} -> {text}");
        assert_eq!(back.scene.background, scene.background, "{text}");
    }
    // Every dataset scene round-trips too.
    for (_, scene) in maia_shapes_world::generate(60, 3) {
        let text = scene_to_prompt(&scene);
        let back = parse_prompt(&text, 1)?;
        assert!(back.warnings.is_empty(), "{text}: {:?}", back.warnings);
        assert_eq!(kinds(&back.scene), kinds(&scene), "{text}");
        assert_eq!(back.scene.background, scene.background, "{text}");
    }
    Ok(())
}
