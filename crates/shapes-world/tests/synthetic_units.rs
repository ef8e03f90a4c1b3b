//! Synthetic-unit truth tables, concept parsing, and the catalogue.

use std::collections::HashSet;

use maia_shapes_world::{
    Concept, ConceptError, Scene, SyntheticUnit, UnitKind, catalogue, lookup, parse_prompt,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Scalar activation of `expr` on the scene of `prompt`.
fn fire(expr: &str, prompt: &str) -> Result<f32, Box<dyn std::error::Error>> {
    let unit = SyntheticUnit::from_expr(expr)?;
    let scene: Scene = parse_prompt(prompt, 8)?.scene;
    Ok(unit.activation(&scene, 1)?)
}

fn fires(expr: &str, prompt: &str) -> Result<bool, Box<dyn std::error::Error>> {
    let value = fire(expr, prompt)?;
    assert!(
        !(0.05..=0.9).contains(&value),
        "{expr} on {prompt}: ambiguous {value}"
    );
    Ok(value > 0.5)
}

#[test]
fn truth_tables() -> TestResult {
    let table = [
        ("red & circle", "a red circle", true),
        ("red & circle", "a red square", false),
        ("red & circle", "a red square and a blue circle", false),
        ("circle & !red", "a blue circle", true),
        ("circle & !red", "a red circle", false),
        ("circle | star", "a green circle", true),
        ("circle | star", "a green star", true),
        ("circle | star", "a green heart", false),
        ("striped", "a striped heart", true),
        ("striped", "a dotted heart", false),
        ("small", "a small ring", true),
        ("small", "a large ring", false),
        ("bg:blue", "a red circle on a blue background", true),
        ("bg:blue", "a red circle on a green background", false),
        ("circle & bg:blue", "a circle on a blue background", true),
        ("circle & bg:blue", "a star on a blue background", false),
        ("circle + star", "a circle and a star", true),
        ("circle + star", "a circle and a heart", false),
        ("circle + star", "two stars", false),
        ("(circle|star) & !red", "a red star and a blue heart", false),
        ("(circle|star) & !red", "a yellow star", true),
        ("not red and not blue", "a yellow square", true),
    ];
    for (expr, prompt, expected) in table {
        assert_eq!(fires(expr, prompt)?, expected, "{expr} on '{prompt}'");
    }
    Ok(())
}

#[test]
fn map_follows_the_matching_object_and_noise_is_seeded() -> TestResult {
    let scene = parse_prompt(
        "a red circle in the top left and a blue square in the bottom right",
        2,
    )?
    .scene;
    let unit = lookup("red").ok_or("no red unit")?;
    let map = unit.activation_map(&scene, 5)?;
    let circle = scene.objects[0];
    let square = scene.objects[1];
    let at = |o: maia_shapes_world::Object| {
        map.get((o.x * 224.0) as u32, (o.y * 224.0) as u32)
            .unwrap_or(-1.0)
    };
    assert!(at(circle) > 0.99);
    assert!(at(square) < 0.05);
    assert!(map.values.iter().all(|&v| (0.0..1.05).contains(&v)));
    assert_eq!(map, unit.activation_map(&scene, 5)?);
    assert_ne!(map, unit.activation_map(&scene, 6)?);
    // AND convention: parts missing → only noise.
    let and = lookup("red_and_circle").ok_or("missing")?;
    let noise = and.activation_map(&parse_prompt("a red square", 0)?.scene, 0)?;
    assert!(noise.max() < maia_shapes_world::units::NOISE_AMPLITUDE);
    assert!(noise.max() > 0.0, "noise is present");
    Ok(())
}

#[test]
fn concept_parse_errors_name_the_problem() {
    let error = Concept::parse("circle & florp");
    match &error {
        Err(ConceptError::UnknownAtom {
            atom,
            position,
            valid,
        }) => {
            assert_eq!(atom, "florp");
            assert_eq!(*position, 9);
            assert!(valid.contains("circle") && valid.contains("bg:<color>"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(Concept::parse(""), Err(ConceptError::Empty)));
    assert!(matches!(
        Concept::parse("(circle | star"),
        Err(ConceptError::UnexpectedEnd { .. })
    ));
    assert!(matches!(
        Concept::parse("circle star"),
        Err(ConceptError::Unexpected { .. })
    ));
    assert!(matches!(
        Concept::parse("circle & & red"),
        Err(ConceptError::Unexpected { .. })
    ));
    assert!(matches!(
        Concept::parse("circle $ red"),
        Err(ConceptError::BadChar { ch: '$', .. })
    ));
    assert!(matches!(
        Concept::parse(&"!".repeat(400)),
        Err(ConceptError::TooDeep { .. }) | Err(ConceptError::UnexpectedEnd { .. })
    ));
    assert!(matches!(
        Concept::parse(&"(".repeat(300)),
        Err(ConceptError::TooDeep { .. })
    ));
    assert!(matches!(
        Concept::parse(&"red|".repeat(200)),
        Err(ConceptError::TooLong { .. })
    ));
}

#[test]
fn concepts_print_canonically_and_reparse() -> TestResult {
    for expr in [
        "(circle|star) & !red",
        "red and circle",
        "circle + star | heart",
        "!(red | blue) & bg:striped",
        "stripes & large",
    ] {
        let concept = Concept::parse(expr)?;
        let printed = concept.to_string();
        assert_eq!(Concept::parse(&printed)?, concept, "{expr} -> {printed}");
    }
    assert_eq!(
        Concept::parse("(circle|star)&!red")?.to_string(),
        "(circle | star) & !red"
    );
    let json = serde_json::to_string(&SyntheticUnit::from_expr("red & circle")?)?;
    assert!(json.contains("\"concept\":\"red & circle\""), "{json}");
    assert!(json.contains("\"kind\":\"and\""), "{json}");
    let back: SyntheticUnit = serde_json::from_str(&json)?;
    assert_eq!(back.concept, Concept::parse("red & circle")?);
    Ok(())
}

#[test]
fn descriptions_are_plain_english() -> TestResult {
    let cases = [
        ("red & circle", "red circles"),
        ("circle & !red", "circles that are not red"),
        ("circle | star", "circles or stars"),
        ("striped", "striped objects"),
        ("bg:blue", "images with a blue background"),
        (
            "circle + star",
            "circles and stars, only in images containing all of them together",
        ),
    ];
    for (expr, description) in cases {
        assert_eq!(SyntheticUnit::from_expr(expr)?.description, description);
    }
    Ok(())
}

#[test]
fn catalogue_is_large_varied_and_unique() -> TestResult {
    let units = catalogue();
    assert!(units.len() >= 60, "{} units", units.len());
    let names: HashSet<&str> = units.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names.len(), units.len(), "duplicate names");
    for kind in [
        UnitKind::Mono,
        UnitKind::Or,
        UnitKind::And,
        UnitKind::AndNot,
    ] {
        let n = units.iter().filter(|u| u.kind == kind).count();
        assert!(n >= 8, "{kind:?}: {n}");
    }
    for unit in &units {
        assert!(!unit.description.is_empty());
        assert_eq!(Concept::parse(&unit.concept.to_string())?, unit.concept);
    }
    assert_eq!(
        lookup("circle_not_red").map(|u| u.kind),
        Some(UnitKind::AndNot)
    );
    assert_eq!(lookup("CIRCLE_OR_STAR").map(|u| u.kind), Some(UnitKind::Or));
    assert!(lookup("nope").is_none());
    Ok(())
}

#[test]
fn every_catalogued_unit_fires_somewhere_in_a_dataset() -> TestResult {
    let scenes: Vec<Scene> = maia_shapes_world::generate(300, 17)
        .map(|(_, s)| s)
        .collect();
    for unit in catalogue() {
        let hits = scenes.iter().filter(|s| unit.concept.present_in(s)).count();
        assert!(hits > 0, "{} never fires", unit.name);
        assert!(hits < scenes.len(), "{} always fires", unit.name);
    }
    Ok(())
}
