//! Property tests: the parsers never panic and always respect their limits.

use maia_shapes_world::{Concept, MAX_OBJECTS, apply_edit, parse_prompt, render_png};
use proptest::prelude::*;

const WORDS: &[&str] = &[
    "a",
    "two",
    "7",
    "red",
    "blue",
    "striped",
    "dotted",
    "small",
    "huge",
    "circle",
    "stars",
    "boxes",
    "in",
    "the",
    "top",
    "left",
    "on",
    "background",
    "is",
    "and",
    "with",
    "stripes",
    "florp",
    ",",
    "no",
    "center",
    "🙂",
];

fn sentence() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(WORDS), 0..30).prop_map(|w| w.join(" "))
}

proptest! {
    #[test]
    fn prompt_parser_never_panics(text in "\\PC{0,300}", seed in any::<u64>()) {
        let _ = parse_prompt(&text, seed);
    }

    #[test]
    fn word_salad_gives_valid_scenes(text in sentence(), seed in any::<u64>()) {
        if let Ok(parsed) = parse_prompt(&text, seed) {
            prop_assert!(parsed.scene.objects.len() <= MAX_OBJECTS);
            prop_assert!(parsed.scene.validate().is_ok());
            prop_assert!(render_png(&parsed.scene).is_ok());
        }
    }

    #[test]
    fn edit_parser_never_panics(text in "\\PC{0,200}", words in sentence()) {
        if let Ok(parsed) = parse_prompt("a red circle and two blue stars", 1) {
            let _ = apply_edit(&parsed.scene, &text, 0);
            let _ = apply_edit(&parsed.scene, &format!("make {words}"), 0);
            if let Ok(out) = apply_edit(&parsed.scene, &format!("add {words}"), 0) {
                prop_assert!(out.scene.objects.len() <= MAX_OBJECTS);
            }
        }
    }

    #[test]
    fn concept_parser_never_panics(text in "[a-z:!&|+() ]{0,80}") {
        let _ = Concept::parse(&text);
    }
}
