//! The random-description control: a concept drawn at random from the shapes world's
//! vocabulary, in the shapes of the synthetic catalogue (mono, OR, AND, co-occurrence,
//! AND-NOT), written as English with [`Concept::describe`]. Scored like any description,
//! it is the floor an agent and a baseline must beat.
//!
//! The draw ignores the unit: a control may by chance name the truth (about one draw in
//! fifty for a mono unit), which is what "random" means.

use crate::rng::SplitMix;
use maia_shapes_world::{Atom, Color, Concept, Shape, SizeClass, Texture};

const TEXTURES: [Texture; 3] = [Texture::Stripes, Texture::Dots, Texture::Checker];

fn atom(a: Atom) -> Concept {
    Concept::Atom(a)
}

fn not(c: Concept) -> Concept {
    Concept::Not(Box::new(c))
}

fn shape(rng: &mut SplitMix) -> Atom {
    Atom::Shape(rng.pick(&Shape::ALL).unwrap_or(Shape::Circle))
}

fn color(rng: &mut SplitMix) -> Atom {
    Atom::Color(rng.pick(&Color::ALL).unwrap_or(Color::Red))
}

fn texture(rng: &mut SplitMix) -> Atom {
    Atom::Texture(rng.pick(&TEXTURES).unwrap_or(Texture::Stripes))
}

fn size(rng: &mut SplitMix) -> Atom {
    Atom::Size(rng.pick(&SizeClass::ALL).unwrap_or(SizeClass::Small))
}

/// A mono concept: a shape or a color (35 % each), a texture, a size or a background
/// color (10 % each).
fn mono(rng: &mut SplitMix) -> Atom {
    match rng.below(20) {
        0..7 => shape(rng),
        7..14 => color(rng),
        14..16 => texture(rng),
        16..18 => size(rng),
        _ => Atom::BackgroundColor(rng.pick(&Color::ALL).unwrap_or(Color::Blue)),
    }
}

/// Two different atoms of one kind.
fn pair(rng: &mut SplitMix, kind: usize) -> (Atom, Atom) {
    let fallback = (Atom::Shape(Shape::Circle), Atom::Shape(Shape::Star));
    match kind {
        0 => rng
            .pick_two(&Shape::ALL)
            .map(|(a, b)| (Atom::Shape(a), Atom::Shape(b))),
        1 => rng
            .pick_two(&Color::ALL)
            .map(|(a, b)| (Atom::Color(a), Atom::Color(b))),
        _ => rng
            .pick_two(&TEXTURES)
            .map(|(a, b)| (Atom::Texture(a), Atom::Texture(b))),
    }
    .unwrap_or(fallback)
}

/// A random concept from `seed`: mono, OR, AND (same object), co-occurrence or AND-NOT,
/// each a fifth of the time.
pub fn random_concept(seed: u64) -> Concept {
    let mut rng = SplitMix::new(seed, 0xC0_47_01);
    match rng.below(5) {
        0 => atom(mono(&mut rng)),
        1 => {
            let (a, b) = match rng.below(4) {
                0 => (color(&mut rng), shape(&mut rng)),
                kind => pair(&mut rng, kind - 1),
            };
            Concept::Or(vec![atom(a), atom(b)])
        }
        2 => {
            let parts = match rng.below(5) {
                0 => vec![color(&mut rng), shape(&mut rng)],
                1 => vec![texture(&mut rng), shape(&mut rng)],
                2 => vec![size(&mut rng), shape(&mut rng)],
                3 => vec![size(&mut rng), color(&mut rng)],
                _ => vec![
                    shape(&mut rng),
                    Atom::BackgroundColor(rng.pick(&Color::ALL).unwrap_or(Color::Blue)),
                ],
            };
            Concept::And(parts.into_iter().map(atom).collect())
        }
        3 => {
            let kind = rng.below(2);
            let (a, b) = pair(&mut rng, kind);
            Concept::With(vec![atom(a), atom(b)])
        }
        _ => {
            let (keep, drop) = match rng.below(5) {
                0 => (shape(&mut rng), color(&mut rng)),
                1 => (color(&mut rng), shape(&mut rng)),
                2 => (shape(&mut rng), texture(&mut rng)),
                3 => (texture(&mut rng), shape(&mut rng)),
                _ => (shape(&mut rng), size(&mut rng)),
            };
            Concept::And(vec![atom(keep), not(atom(drop))])
        }
    }
}

/// A random description from `seed`: [`random_concept`] in English.
pub fn random_description(seed: u64) -> String {
    random_concept(seed).describe()
}

#[cfg(test)]
mod tests {
    use super::*;
    use maia_shapes_world::{UnitKind, read_description};
    use std::collections::HashSet;

    #[test]
    fn controls_are_seeded_varied_and_read_back() {
        assert_eq!(random_description(5), random_description(5));
        let mut kinds = HashSet::new();
        let mut texts = HashSet::new();
        for seed in 0..300 {
            let concept = random_concept(seed);
            let text = random_description(seed);
            let read = read_description(&text).map(|r| r.concept);
            assert_eq!(read, Ok(concept.clone()), "seed {seed}: '{text}'");
            kinds.insert(UnitKind::of(&concept));
            texts.insert(text);
        }
        assert_eq!(kinds.len(), 4, "mono, or, and, andnot all drawn");
        assert!(texts.len() > 200, "{} different descriptions", texts.len());
    }
}
