//! Property tests for the description reader and the scene sampler: any text reads
//! without panicking, and whatever concept a word salad reads as, the sampler either
//! finds scenes that show it and scenes that lack it, or says why not.

use maia_shapes_world::{
    Concept, ReadingError, SamplingError, read_description, scenes_with, scenes_without,
};
use proptest::prelude::*;

const WORDS: &[&str] = &[
    "the",
    "unit",
    "fires",
    "on",
    "red",
    "blue",
    "reddish",
    "striped",
    "dotted",
    "small",
    "large",
    "circles",
    "star",
    "hearts",
    "objects",
    "ones",
    "background",
    "is",
    "and",
    "or",
    "but",
    "not",
    "non",
    "except",
    "other",
    "than",
    "with",
    "together",
    "both",
    "especially",
    "two",
    "florp",
    ",",
    ".",
    "(",
    "/",
    "e.g.",
    "that",
    "are",
    "🙂",
];

fn sentence() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(WORDS), 0..25).prop_map(|w| w.join(" "))
}

proptest! {
    #[test]
    fn reader_never_panics(text in "\\PC{0,400}") {
        let _ = read_description(&text);
    }

    #[test]
    fn word_salad_reads_to_a_concept_the_sampler_handles(text in sentence(), seed in 0u64..1000) {
        match read_description(&text) {
            Ok(reading) => {
                let concept: Concept = reading.concept;
                // The concept survives its own expression syntax.
                prop_assert_eq!(Concept::parse(&concept.to_string()).ok(), Some(concept.clone()));
                match scenes_with(&concept, 2, seed) {
                    Ok(scenes) => {
                        for s in &scenes {
                            prop_assert!(concept.present_in(s));
                        }
                    }
                    Err(SamplingError::NeverPresent { .. }) => {}
                    Err(e) => prop_assert!(false, "{e}"),
                }
                match scenes_without(&concept, 2, seed) {
                    Ok(scenes) => {
                        for s in &scenes {
                            prop_assert!(!concept.present_in(s));
                        }
                    }
                    Err(SamplingError::AlwaysPresent { .. }) => {}
                    Err(e) => prop_assert!(false, "{e}"),
                }
            }
            Err(ReadingError::Empty | ReadingError::NoConcept { .. }) => {}
            Err(e) => prop_assert!(false, "{e}"),
        }
    }
}
