//! Sampling scenes that show, or lack, a concept.
//!
//! The shapes world's evaluator turns a description's concept into positive scenes (the
//! concept is present) and neutral scenes (it is absent) with [`scenes_with`] and
//! [`scenes_without`]; any scene can be written as a prompt with
//! [`crate::scene_to_prompt`] and drawn again by `text2image`.
//!
//! Scenes are drawn at random and kept when they pass [`Concept::present_in`]. Draws are
//! biased towards the values the concept mentions (each attribute of each object takes a
//! mentioned value with probability [`MENTIONED_BIAS`]), so rare concepts ("yellow stars on
//! a black background") are found quickly; half of the neutral scenes are drawn the same
//! way, which makes them near misses (a red square for "red circles"), the other half
//! without bias. Scenes have one to three objects (neutrals sometimes none) and an object
//! never has its background's color, so every object is visible. Everything follows from
//! the seed.

use std::collections::HashSet;

use thiserror::Error;

use crate::attributes::{Color, Shape, SizeClass, Texture};
use crate::concept::{Atom, Concept};
use crate::describe::scene_to_prompt;
use crate::layout::{self, GroupSpec, Placement};
use crate::rng::{SeededRng, mix};
use crate::scene::{Background, Canvas, Scene};

/// Probability that a biased draw takes an attribute value the concept mentions.
pub const MENTIONED_BIAS: f32 = 0.6;

/// Draws tried for one scene before giving up.
pub const MAX_TRIES: usize = 4000;

/// Why scenes could not be found.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SamplingError {
    /// No draw showed the concept: it is probably impossible.
    #[error(
        "no scene showed '{concept}' in {tries} tries; the concept can probably never occur (e.g. an object that is both red and blue)"
    )]
    NeverPresent {
        /// The concept, as an expression.
        concept: String,
        /// Draws tried.
        tries: usize,
    },
    /// Every draw showed the concept: it holds everywhere.
    #[error(
        "every scene showed '{concept}' in {tries} tries; the concept holds in every image, so nothing can be shown without it"
    )]
    AlwaysPresent {
        /// The concept, as an expression.
        concept: String,
        /// Draws tried.
        tries: usize,
    },
}

/// The attribute values a concept mentions, negated or not.
#[derive(Debug, Default)]
struct Mentioned {
    shapes: Vec<Shape>,
    colors: Vec<Color>,
    textures: Vec<Texture>,
    sizes: Vec<SizeClass>,
    bg_colors: Vec<Color>,
    bg_textures: Vec<Texture>,
}

impl Mentioned {
    fn of(concept: &Concept) -> Mentioned {
        let mut m = Mentioned::default();
        m.collect(concept);
        m
    }

    fn collect(&mut self, concept: &Concept) {
        fn add<T: PartialEq>(list: &mut Vec<T>, value: T) {
            if !list.contains(&value) {
                list.push(value);
            }
        }
        match concept {
            Concept::Atom(atom) => match *atom {
                Atom::Shape(s) => add(&mut self.shapes, s),
                Atom::Color(c) => add(&mut self.colors, c),
                Atom::Texture(t) => add(&mut self.textures, t),
                Atom::Size(s) => add(&mut self.sizes, s),
                Atom::BackgroundColor(c) => add(&mut self.bg_colors, c),
                Atom::BackgroundTexture(t) => add(&mut self.bg_textures, t),
            },
            Concept::Not(inner) => self.collect(inner),
            Concept::And(parts) | Concept::Or(parts) | Concept::With(parts) => {
                for part in parts {
                    self.collect(part);
                }
            }
        }
    }
}

/// Picks from `mentioned` with probability [`MENTIONED_BIAS`] when biased, else from `all`.
fn pick<T: Copy>(rng: &mut SeededRng, biased: bool, mentioned: &[T], all: &[T]) -> Option<T> {
    if biased && !mentioned.is_empty() && rng.unit() < MENTIONED_BIAS {
        rng.pick(mentioned)
    } else {
        rng.pick(all)
    }
}

/// One random scene with `objects` objects, biased towards `mentioned` when `biased`.
fn draw(rng: &mut SeededRng, mentioned: &Mentioned, biased: bool, objects: usize) -> Scene {
    let canvas = Canvas::default();
    let bg_color = pick(rng, biased, &mentioned.bg_colors, &Color::ALL).unwrap_or(Color::White);
    let bg_texture = if biased && !mentioned.bg_textures.is_empty() && rng.unit() < MENTIONED_BIAS {
        rng.pick(&mentioned.bg_textures).unwrap_or(Texture::Solid)
    } else if rng.unit() < 0.7 {
        Texture::Solid
    } else {
        rng.pick(&Texture::ALL).unwrap_or(Texture::Solid)
    };
    let background = Background {
        color: bg_color,
        texture: bg_texture,
    };
    let visible: Vec<Color> = Color::ALL
        .iter()
        .copied()
        .filter(|&c| c != bg_color)
        .collect();
    let visible_mentioned: Vec<Color> = mentioned
        .colors
        .iter()
        .copied()
        .filter(|&c| c != bg_color)
        .collect();
    let mut groups = Vec::with_capacity(objects);
    for _ in 0..objects {
        let shape = pick(rng, biased, &mentioned.shapes, &Shape::ALL).unwrap_or(Shape::Circle);
        let color = pick(rng, biased, &visible_mentioned, &visible).unwrap_or(Color::Red);
        let texture = if biased && !mentioned.textures.is_empty() && rng.unit() < MENTIONED_BIAS {
            rng.pick(&mentioned.textures).unwrap_or(Texture::Solid)
        } else if rng.unit() < 0.5 {
            Texture::Solid
        } else {
            rng.pick(&Texture::ALL).unwrap_or(Texture::Solid)
        };
        let size =
            pick(rng, biased, &mentioned.sizes, &SizeClass::ALL).unwrap_or(SizeClass::Medium);
        groups.push(GroupSpec {
            shape,
            count: 1,
            color: Some(color),
            texture: Some(texture),
            size: Some(size),
            placement: Placement::default(),
        });
    }
    let layout_seed = mix(rng.below(usize::MAX) as u64, 0x5ca1e);
    let objects = layout::place(&groups, background, canvas, &[], layout_seed);
    Scene {
        width: canvas.width,
        height: canvas.height,
        background,
        objects,
    }
}

/// How the `index`-th scene of a set is drawn.
#[derive(Clone, Copy)]
struct Recipe {
    biased: bool,
    allow_empty: bool,
}

fn sample(
    concept: &Concept,
    n: usize,
    seed: u64,
    want_present: bool,
    recipe: impl Fn(usize) -> Recipe,
) -> Result<Vec<Scene>, SamplingError> {
    let mentioned = Mentioned::of(concept);
    let stream = if want_present { 0x9051 } else { 0x0e97 };
    let mut rng = SeededRng::new(seed, stream);
    let mut scenes = Vec::with_capacity(n);
    let mut seen = HashSet::new();
    for index in 0..n {
        let mut wanted = recipe(index);
        let mut found = None;
        for attempt in 0..MAX_TRIES {
            // A biased recipe that keeps failing (near misses of a concept that holds
            // almost everywhere) falls back to unbiased draws.
            if attempt == MAX_TRIES / 2 {
                wanted.biased = !wanted.biased;
            }
            let objects = if wanted.allow_empty && rng.unit() < 0.1 {
                0
            } else {
                1 + rng.below(3)
            };
            let scene = draw(&mut rng, &mentioned, wanted.biased, objects);
            if concept.present_in(&scene) != want_present {
                continue;
            }
            // Prefer scenes that read differently, so prompts do not repeat.
            let prompt = scene_to_prompt(&scene);
            if seen.contains(&prompt) && attempt < MAX_TRIES / 4 {
                continue;
            }
            seen.insert(prompt);
            found = Some(scene);
            break;
        }
        match found {
            Some(scene) => scenes.push(scene),
            None if want_present => {
                return Err(SamplingError::NeverPresent {
                    concept: concept.to_string(),
                    tries: MAX_TRIES,
                });
            }
            None => {
                return Err(SamplingError::AlwaysPresent {
                    concept: concept.to_string(),
                    tries: MAX_TRIES,
                });
            }
        }
    }
    Ok(scenes)
}

/// `n` scenes in which `concept` is present, drawn from `seed`.
pub fn scenes_with(concept: &Concept, n: usize, seed: u64) -> Result<Vec<Scene>, SamplingError> {
    sample(concept, n, seed, true, |_| Recipe {
        biased: true,
        allow_empty: false,
    })
}

/// `n` scenes in which `concept` is absent, drawn from `seed`: even-numbered ones are near
/// misses (biased towards the concept's values), odd-numbered ones unbiased.
pub fn scenes_without(concept: &Concept, n: usize, seed: u64) -> Result<Vec<Scene>, SamplingError> {
    sample(concept, n, seed, false, |index| Recipe {
        biased: index % 2 == 0,
        allow_empty: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::parse_prompt;

    fn concept(text: &str) -> Concept {
        Concept::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn positives_show_and_neutrals_lack_the_concept() {
        for text in [
            "red & circle",
            "circle + star",
            "yellow & star & bg:black",
            "star & !small",
            "bg:blue",
            "striped | dotted",
        ] {
            let c = concept(text);
            let with = scenes_with(&c, 12, 3).unwrap_or_else(|e| panic!("{e}"));
            let without = scenes_without(&c, 12, 3).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!((with.len(), without.len()), (12, 12));
            for scene in &with {
                assert!(c.present_in(scene), "{text}: {}", scene_to_prompt(scene));
                // The prompt draws a scene that shows the concept too.
                let redrawn = parse_prompt(&scene_to_prompt(scene), 1_000_003)
                    .unwrap_or_else(|e| panic!("{e}"));
                assert!(c.present_in(&redrawn.scene), "{text}: redrawn");
                assert!(redrawn.warnings.is_empty(), "{:?}", redrawn.warnings);
            }
            for scene in &without {
                assert!(!c.present_in(scene), "{text}: {}", scene_to_prompt(scene));
            }
        }
    }

    #[test]
    fn same_seed_same_scenes_and_prompts_vary() {
        let c = concept("red");
        let a = scenes_with(&c, 10, 9).unwrap_or_else(|e| panic!("{e}"));
        let b = scenes_with(&c, 10, 9).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a, b);
        let prompts: HashSet<String> = a.iter().map(scene_to_prompt).collect();
        assert_eq!(prompts.len(), 10);
    }

    #[test]
    fn impossible_and_universal_concepts_are_errors() {
        assert!(matches!(
            scenes_with(&concept("red & blue"), 2, 1),
            Err(SamplingError::NeverPresent { .. })
        ));
        // `!red` holds for every background region.
        assert!(matches!(
            scenes_without(&concept("!red"), 2, 1),
            Err(SamplingError::AlwaysPresent { .. })
        ));
    }
}
