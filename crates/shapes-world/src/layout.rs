//! Seeded layout: turning parsed object groups into placed objects.
//!
//! Whatever a prompt leaves open — exact size within its class, rotation, the position of
//! objects with no position words, the color of objects with no color word — is drawn from
//! the seed, so the same prompt and seed always give the same scene.

use crate::attributes::{Color, Shape, SizeClass, Texture};
use crate::rng::SeededRng;
use crate::scene::{Background, Canvas, Object};

/// Horizontal position words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Horizontal {
    Left,
    Center,
    Right,
}

/// Vertical position words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Vertical {
    Top,
    Center,
    Bottom,
}

/// Where a group should go; `None` on an axis means "anywhere".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Placement {
    pub(crate) horizontal: Option<Horizontal>,
    pub(crate) vertical: Option<Vertical>,
}

impl Placement {
    pub(crate) fn is_set(&self) -> bool {
        self.horizontal.is_some() || self.vertical.is_some()
    }

    /// Anchor fractions for the set axes.
    fn anchor(&self) -> (Option<f32>, Option<f32>) {
        let x = self.horizontal.map(|h| match h {
            Horizontal::Left => 0.25,
            Horizontal::Center => 0.5,
            Horizontal::Right => 0.75,
        });
        let y = self.vertical.map(|v| match v {
            Vertical::Top => 0.25,
            Vertical::Center => 0.5,
            Vertical::Bottom => 0.75,
        });
        (x, y)
    }

    /// True when an object centred at (x, y) lies in the named region (halves of the
    /// image; "center" is the middle third).
    pub(crate) fn contains(&self, x: f32, y: f32) -> bool {
        let h_ok = match self.horizontal {
            None => true,
            Some(Horizontal::Left) => x < 0.5,
            Some(Horizontal::Right) => x > 0.5,
            Some(Horizontal::Center) => (1.0 / 3.0..=2.0 / 3.0).contains(&x),
        };
        let v_ok = match self.vertical {
            None => true,
            Some(Vertical::Top) => y < 0.5,
            Some(Vertical::Bottom) => y > 0.5,
            Some(Vertical::Center) => (1.0 / 3.0..=2.0 / 3.0).contains(&y),
        };
        h_ok && v_ok
    }
}

/// One group of identical objects as a prompt describes them ("two small red circles").
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GroupSpec {
    pub(crate) shape: Shape,
    pub(crate) count: usize,
    pub(crate) color: Option<Color>,
    pub(crate) texture: Option<Texture>,
    pub(crate) size: Option<SizeClass>,
    pub(crate) placement: Placement,
}

/// Random rotation range in degrees (small, so shapes stay recognisable).
const MAX_ROTATION: f32 = 25.0;
/// Candidate positions tried per object when looking for a free spot.
const PLACEMENT_TRIES: usize = 40;

/// Places every object of `groups`, avoiding overlap with `existing` objects and each other
/// where the canvas allows.
pub(crate) fn place(
    groups: &[GroupSpec],
    background: Background,
    canvas: Canvas,
    existing: &[Object],
    seed: u64,
) -> Vec<Object> {
    let mut rng = SeededRng::new(seed, 0x1a40);
    let mut placed: Vec<Object> = existing.to_vec();
    let mut new = Vec::new();
    let free_colors: Vec<Color> = Color::ALL
        .iter()
        .copied()
        .filter(|&c| c != background.color)
        .collect();
    for group in groups {
        for _ in 0..group.count {
            let color = match group.color {
                Some(color) => color,
                None => rng.pick(&free_colors).unwrap_or(Color::Red),
            };
            let (lo, hi) = group.size.unwrap_or(SizeClass::Medium).range();
            let size = rng.range(lo, hi);
            let rotation = match group.shape {
                Shape::Circle | Shape::Ring => 0.0,
                _ => rng.range(-MAX_ROTATION, MAX_ROTATION),
            };
            let mut object = Object {
                shape: group.shape,
                color,
                texture: group.texture.unwrap_or(Texture::Solid),
                size,
                x: 0.5,
                y: 0.5,
                rotation,
            };
            let (x, y) = find_spot(&object, group.placement, canvas, &placed, &mut rng);
            object.x = x;
            object.y = y;
            placed.push(object);
            new.push(object);
        }
    }
    new
}

/// The allowed range of centre fractions on each axis so the object stays inside.
fn bounds(object: &Object, canvas: Canvas) -> ((f32, f32), (f32, f32)) {
    let r = object.size * canvas.width.min(canvas.height) as f32 / 2.0;
    let mx = (r / canvas.width.max(1) as f32).min(0.5);
    let my = (r / canvas.height.max(1) as f32).min(0.5);
    ((mx, 1.0 - mx), (my, 1.0 - my))
}

/// Clamps an object's centre so it stays fully inside the canvas.
pub(crate) fn keep_inside(object: &mut Object, canvas: Canvas) {
    let ((x0, x1), (y0, y1)) = bounds(object, canvas);
    object.x = object.x.clamp(x0, x1);
    object.y = object.y.clamp(y0, y1);
}

/// Centre fractions for `placement` (named region, else a seeded free spot).
pub(crate) fn spot_for(
    object: &Object,
    placement: Placement,
    canvas: Canvas,
    others: &[Object],
    seed: u64,
) -> (f32, f32) {
    let mut rng = SeededRng::new(seed, 0x5907);
    find_spot(object, placement, canvas, others, &mut rng)
}

fn find_spot(
    object: &Object,
    placement: Placement,
    canvas: Canvas,
    placed: &[Object],
    rng: &mut SeededRng,
) -> (f32, f32) {
    let ((x0, x1), (y0, y1)) = bounds(object, canvas);
    let (ax, ay) = placement.anchor();
    let side = canvas.width.min(canvas.height) as f32;
    let r = object.size * side / 2.0;
    let mut best = (0.5f32.clamp(x0, x1), 0.5f32.clamp(y0, y1));
    let mut best_gap = f32::NEG_INFINITY;
    for _ in 0..PLACEMENT_TRIES {
        let x = match ax {
            Some(a) => (a + rng.range(-0.08, 0.08)).clamp(x0, x1),
            None => rng.range(x0, x1.max(x0 + f32::EPSILON)),
        };
        let y = match ay {
            Some(a) => (a + rng.range(-0.08, 0.08)).clamp(y0, y1),
            None => rng.range(y0, y1.max(y0 + f32::EPSILON)),
        };
        let gap = placed
            .iter()
            .map(|other| {
                let dx = (x - other.x) * canvas.width as f32;
                let dy = (y - other.y) * canvas.height as f32;
                (dx * dx + dy * dy).sqrt() - r - other.size * side / 2.0
            })
            .fold(f32::INFINITY, f32::min);
        if gap > best_gap {
            best_gap = gap;
            best = (x, y);
        }
        if gap >= 0.0 {
            break;
        }
    }
    best
}
