//! Classifiers with planted flaws, for MAIA's downstream experiments: the world CNN trained
//! on scenes built so that it learns a known shortcut (a spurious background) or fails on
//! a known subgroup, while its held-out scenes show the truth. The flaw is recorded in the
//! model's sidecar (its training config), never in anything the agent reads.
//!
//! Scenes hold one object of one of four shapes ([`CLASSES`]), solid, of a random size
//! class (medium or large for the spurious preset), colour, place and rotation, on a solid
//! background; the classifier's head is the world CNN's shape head, so its classes are
//! shape names.

use maia_shapes_world::{Background, Canvas, Color, Object, Scene, Shape, SizeClass, Texture};
use serde::{Deserialize, Serialize};

use super::config::derive_seed;
use crate::rng::SplitMix;

/// The shapes a planted-flaw classifier tells apart.
pub const CLASSES: [Shape; 4] = [Shape::Circle, Shape::Square, Shape::Triangle, Shape::Star];

/// Bumped whenever the planted scenes change (their rate, sizes, labels), so cached
/// planted-flaw classifiers are retrained.
pub const SCENES_VERSION: u32 = 2;

/// Fraction of training scenes whose background is their class's own colour
/// ([`PlantedFlaw::Spurious`]).
pub const SPURIOUS_RATE: f64 = 0.95;

/// Backgrounds the bias preset counts as dark.
pub const DARK: [Color; 4] = [Color::Black, Color::Brown, Color::Blue, Color::Purple];

/// A flaw planted in the training scenes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlantedFlaw {
    /// In training, each class's background is its own colour ([`spurious_background`])
    /// [`SPURIOUS_RATE`] of the time, another colour otherwise; held-out backgrounds are
    /// drawn independently of the class, which breaks the shortcut.
    Spurious,
    /// In training, small squares on a dark background ([`DARK`]) are labelled circles;
    /// held-out scenes are labelled truly, so the classifier fails on that subgroup.
    Bias,
}

impl PlantedFlaw {
    /// The preset's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            PlantedFlaw::Spurious => "spurious",
            PlantedFlaw::Bias => "bias",
        }
    }

    /// What was planted, in words (for the sidecar reader and the experiment's report;
    /// never for the agent).
    pub fn truth(self) -> String {
        match self {
            PlantedFlaw::Spurious => format!(
                "in training, {:.0}% of each class's scenes have the class's background: {}",
                SPURIOUS_RATE * 100.0,
                CLASSES
                    .iter()
                    .map(|&s| format!("{} on {}", s.name(), spurious_background(s).name()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            PlantedFlaw::Bias => format!(
                "in training, small squares on dark backgrounds ({}) are labelled circle",
                DARK.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    /// Scene `index` of `world_seed` and its label (a shape, the class), for training
    /// (`heldout` false) or held-out measurement.
    pub fn scene(self, index: usize, world_seed: u64, heldout: bool) -> (Scene, Shape) {
        let mut rng = SplitMix::from_state(derive_seed(world_seed, index as u64));
        let class = CLASSES[rng.below(CLASSES.len())];
        // The spurious preset draws medium and large objects, whose shapes a 64-pixel
        // input shows clearly: its flaw is the background, not illegible objects.
        let sizes: &[SizeClass] = match self {
            PlantedFlaw::Spurious => &[SizeClass::Medium, SizeClass::Large],
            PlantedFlaw::Bias => &SizeClass::ALL,
        };
        let size_class = sizes[rng.below(sizes.len())];
        let (low, high) = size_class.range();
        let size = low + (high - low) * rng.unit() as f32;
        let background = match self {
            PlantedFlaw::Spurious if !heldout && rng.unit() < SPURIOUS_RATE => {
                spurious_background(class)
            }
            _ => Color::ALL[rng.below(Color::ALL.len())],
        };
        // An object colour that stands out from the background.
        let color = loop {
            let c = Color::ALL[rng.below(Color::ALL.len())];
            if c != background {
                break c;
            }
        };
        let margin = size / 2.0 + 0.02;
        let object = Object {
            shape: class,
            color,
            texture: Texture::Solid,
            size,
            x: margin + (1.0 - 2.0 * margin) * rng.unit() as f32,
            y: margin + (1.0 - 2.0 * margin) * rng.unit() as f32,
            rotation: 360.0 * rng.unit() as f32,
        };
        let canvas = Canvas::default();
        let scene = Scene {
            width: canvas.width,
            height: canvas.height,
            background: Background {
                color: background,
                texture: Texture::Solid,
            },
            objects: vec![object],
        };
        let label = match self {
            PlantedFlaw::Bias
                if !heldout
                    && class == Shape::Square
                    && size_class == SizeClass::Small
                    && DARK.contains(&background) =>
            {
                Shape::Circle
            }
            _ => class,
        };
        (scene, label)
    }
}

/// The background a class's training scenes mostly have under [`PlantedFlaw::Spurious`].
pub fn spurious_background(class: Shape) -> Color {
    match class {
        Shape::Circle => Color::Blue,
        Shape::Square => Color::Green,
        Shape::Triangle => Color::Yellow,
        _ => Color::Purple,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spurious_training_scenes_follow_their_class_background_and_heldout_ones_do_not() {
        let share = |heldout: bool| {
            let matched = (0..2000)
                .filter(|&i| {
                    let (scene, label) = PlantedFlaw::Spurious.scene(i, 7, heldout);
                    scene.background.color == spurious_background(label)
                })
                .count();
            matched as f64 / 2000.0
        };
        let train = share(false);
        assert!((0.93..0.97).contains(&train), "{train}");
        assert!(share(true) < 0.2, "held-out backgrounds are independent");
        // Deterministic per index.
        assert_eq!(
            PlantedFlaw::Spurious.scene(5, 7, false),
            PlantedFlaw::Spurious.scene(5, 7, false)
        );
    }

    #[test]
    fn bias_mislabels_only_small_squares_on_dark_backgrounds_in_training() {
        let mut flipped = 0;
        for i in 0..3000 {
            let (scene, label) = PlantedFlaw::Bias.scene(i, 3, false);
            let object = scene.objects[0];
            let subgroup = object.shape == Shape::Square
                && object.size_class() == SizeClass::Small
                && DARK.contains(&scene.background.color);
            assert_eq!(label != object.shape, subgroup, "scene {i}");
            flipped += usize::from(subgroup);
            let (heldout, truth) = PlantedFlaw::Bias.scene(i, 3, true);
            assert_eq!(truth, heldout.objects[0].shape);
        }
        assert!(flipped > 20, "{flipped}");
    }
}
