//! Shape outlines and texture patterns as tiny-skia paths.
//!
//! Every path is built in the object's own frame (centre at the origin, bounding-circle
//! radius `r` pixels) and placed with [`object_transform`], so a pattern rotates with its
//! shape.

use std::f32::consts::PI;

use tiny_skia::{FillRule, Path, PathBuilder, Rect, Transform};

use crate::attributes::{Shape, Texture};
use crate::scene::Object;

/// The fill rule every outline uses; even-odd gives the ring its hole.
pub(crate) const OUTLINE_FILL: FillRule = FillRule::EvenOdd;

/// Pixel radius of an object's bounding circle.
pub(crate) fn object_radius(object: &Object, width: u32, height: u32) -> f32 {
    object.size * width.min(height) as f32 / 2.0
}

/// Transform from the object's frame to image pixels.
pub(crate) fn object_transform(object: &Object, width: u32, height: u32) -> Transform {
    Transform::from_rotate(object.rotation)
        .post_translate(object.x * width as f32, object.y * height as f32)
}

/// The outline of `shape` with bounding-circle radius `r`, centred at the origin.
pub(crate) fn shape_path(shape: Shape, r: f32) -> Option<Path> {
    let mut pb = PathBuilder::new();
    match shape {
        Shape::Circle => pb.push_circle(0.0, 0.0, r),
        Shape::Ring => {
            pb.push_circle(0.0, 0.0, r);
            pb.push_circle(0.0, 0.0, r * 0.55);
        }
        Shape::Square => {
            let s = r * 0.78;
            pb.push_rect(Rect::from_ltrb(-s, -s, s, s)?);
        }
        Shape::Triangle => polygon(&mut pb, &regular(3, r, 0.0, r * 0.12)),
        Shape::Hexagon => polygon(&mut pb, &regular(6, r * 0.95, 0.0, 0.0)),
        Shape::Star => {
            let points: Vec<(f32, f32)> = (0..10)
                .map(|i| {
                    let radius = if i % 2 == 0 { r } else { r * 0.45 };
                    let angle = -PI / 2.0 + i as f32 * PI / 5.0;
                    (radius * angle.cos(), radius * angle.sin() + r * 0.05)
                })
                .collect();
            polygon(&mut pb, &points);
        }
        Shape::Cross => {
            let a = r * 0.28;
            let b = r * 0.85;
            polygon(
                &mut pb,
                &[
                    (-a, -b),
                    (a, -b),
                    (a, -a),
                    (b, -a),
                    (b, a),
                    (a, a),
                    (a, b),
                    (-a, b),
                    (-a, a),
                    (-b, a),
                    (-b, -a),
                    (-a, -a),
                ],
            );
        }
        Shape::Diamond => polygon(
            &mut pb,
            &[(0.0, -r), (r * 0.65, 0.0), (0.0, r), (-r * 0.65, 0.0)],
        ),
        Shape::Heart => {
            // The classic parametric heart, scaled to the bounding circle.
            let scale = r / 17.0;
            let points: Vec<(f32, f32)> = (0..64)
                .map(|i| {
                    let t = i as f32 * 2.0 * PI / 64.0;
                    let x = 16.0 * t.sin().powi(3);
                    let y = 13.0 * t.cos()
                        - 5.0 * (2.0 * t).cos()
                        - 2.0 * (3.0 * t).cos()
                        - (4.0 * t).cos();
                    (x * scale, (-y - 2.5) * scale)
                })
                .collect();
            polygon(&mut pb, &points);
        }
    }
    pb.finish()
}

fn regular(n: usize, r: f32, phase: f32, dy: f32) -> Vec<(f32, f32)> {
    (0..n)
        .map(|i| {
            let angle = -PI / 2.0 + phase + i as f32 * 2.0 * PI / n as f32;
            (r * angle.cos(), r * angle.sin() + dy)
        })
        .collect()
}

fn polygon(pb: &mut PathBuilder, points: &[(f32, f32)]) {
    let mut iter = points.iter();
    if let Some(&(x, y)) = iter.next() {
        pb.move_to(x, y);
        for &(x, y) in iter {
            pb.line_to(x, y);
        }
        pb.close();
    }
}

/// The contrast-colored marks of `texture` covering the square `[-half, half]²`, with
/// pattern period `period` pixels. `None` for [`Texture::Solid`].
pub(crate) fn texture_path(texture: Texture, half: f32, period: f32) -> Option<Path> {
    let mut pb = PathBuilder::new();
    let n = (half / period).ceil() as i32 + 1;
    match texture {
        Texture::Solid => return None,
        Texture::Stripes => {
            let w = period * 0.5;
            for i in -n..=n {
                let y = i as f32 * period;
                pb.push_rect(Rect::from_xywh(-half, y - w / 2.0, 2.0 * half, w)?);
            }
        }
        Texture::Dots => {
            let dot = period * 0.28;
            for j in -n..=n {
                let offset = if j % 2 == 0 { 0.0 } else { period / 2.0 };
                for i in -n..=n {
                    pb.push_circle(i as f32 * period + offset, j as f32 * period, dot);
                }
            }
        }
        Texture::Checker => {
            let cell = period * 0.6;
            let m = (half / cell).ceil() as i32 + 1;
            for j in -m..m {
                for i in -m..m {
                    if (i + j).rem_euclid(2) == 0 {
                        pb.push_rect(Rect::from_xywh(
                            i as f32 * cell,
                            j as f32 * cell,
                            cell,
                            cell,
                        )?);
                    }
                }
            }
        }
    }
    pb.finish()
}
