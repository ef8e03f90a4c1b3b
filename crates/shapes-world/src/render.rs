//! Drawing scenes: RGBA pixmaps, PNG bytes, and per-object coverage masks.
//!
//! Rendering is anti-aliased and deterministic: tiny-skia has no hidden state, so the same
//! scene always gives the same pixels and the same PNG bytes.

use thiserror::Error;
use tiny_skia::{FillRule, Mask, Paint, Pixmap, Transform};

use crate::geometry::{OUTLINE_FILL, object_radius, object_transform, shape_path, texture_path};
use crate::scene::{Scene, SceneError};

/// Texture period as a fraction of the shorter image side (≈10 px at 224).
const TEXTURE_PERIOD: f32 = 0.045;
/// How far background texture marks move from the base color toward the contrast color,
/// so that objects stay more salient than the background.
const BACKGROUND_TEXTURE_STRENGTH: f32 = 0.35;

/// Why a scene could not be drawn.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum RenderError {
    /// The scene failed validation.
    #[error(transparent)]
    Scene(#[from] SceneError),
    /// tiny-skia refused to allocate the image.
    #[error("cannot allocate a {width}x{height} image")]
    Allocation {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
    },
    /// PNG encoding failed.
    #[error("PNG encoding failed: {0}")]
    Png(String),
}

/// Renders a scene into an RGBA pixmap (premultiplied; every pixel is opaque).
pub fn render_pixmap(scene: &Scene) -> Result<Pixmap, RenderError> {
    scene.validate()?;
    let (width, height) = (scene.width, scene.height);
    let mut pixmap = Pixmap::new(width, height).ok_or(RenderError::Allocation { width, height })?;
    let mut mask = Mask::new(width, height).ok_or(RenderError::Allocation { width, height })?;
    let period = TEXTURE_PERIOD * width.min(height) as f32;

    // Background.
    let bg = scene.background;
    pixmap.fill(skia_color(bg.color.rgb()));
    let half = width.max(height) as f32;
    if let Some(marks) = texture_path(bg.texture, half, period) {
        let tint = blend(
            bg.color.rgb(),
            bg.color.contrast(),
            BACKGROUND_TEXTURE_STRENGTH,
        );
        pixmap.fill_path(
            &marks,
            &paint(tint),
            FillRule::Winding,
            Transform::identity(),
            None,
        );
    }

    // Objects, back to front.
    for object in &scene.objects {
        let r = object_radius(object, width, height);
        let Some(outline) = shape_path(object.shape, r) else {
            continue;
        };
        let transform = object_transform(object, width, height);
        pixmap.fill_path(
            &outline,
            &paint(object.color.rgb()),
            OUTLINE_FILL,
            transform,
            None,
        );
        if let Some(marks) = texture_path(object.texture, r * 1.05, period) {
            mask.clear();
            mask.fill_path(&outline, OUTLINE_FILL, true, transform);
            pixmap.fill_path(
                &marks,
                &paint(object.color.contrast()),
                FillRule::Winding,
                transform,
                Some(&mask),
            );
        }
    }
    Ok(pixmap)
}

/// Renders a scene and encodes it as PNG bytes.
pub fn render_png(scene: &Scene) -> Result<Vec<u8>, RenderError> {
    let pixmap = render_pixmap(scene)?;
    pixmap
        .encode_png()
        .map_err(|e| RenderError::Png(e.to_string()))
}

/// Renders a scene into straight RGBA bytes (`width * height * 4`, row-major), handy for
/// hosts that want raw pixels rather than PNG.
pub fn render_rgba(scene: &Scene) -> Result<Vec<u8>, RenderError> {
    // Every pixel is opaque, so premultiplied and straight alpha coincide.
    Ok(render_pixmap(scene)?.take())
}

/// How much of each pixel every object (and the background) visibly covers.
///
/// Coverage is anti-aliased (fractional at edges) and accounts for occlusion: an object
/// drawn later hides what is under it, and a ring's hole shows what is behind it. For every
/// pixel the object coverages plus the background coverage sum to 1.
#[derive(Debug, Clone, PartialEq)]
pub struct SceneMasks {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// One row-major coverage map in [0, 1] per object, in `scene.objects` order.
    pub objects: Vec<Vec<f32>>,
    /// Coverage of the background (what no object hides).
    pub background: Vec<f32>,
}

/// Computes each object's visible pixel coverage; see [`SceneMasks`].
pub fn object_masks(scene: &Scene) -> Result<SceneMasks, RenderError> {
    scene.validate()?;
    let (width, height) = (scene.width, scene.height);
    let pixels = width as usize * height as usize;
    let mut mask = Mask::new(width, height).ok_or(RenderError::Allocation { width, height })?;
    // Front to back: what is still visible after the objects in front of it.
    let mut remaining = vec![1.0f32; pixels];
    let mut objects = vec![Vec::new(); scene.objects.len()];
    for (index, object) in scene.objects.iter().enumerate().rev() {
        let r = object_radius(object, width, height);
        let mut visible = vec![0.0f32; pixels];
        if let Some(outline) = shape_path(object.shape, r) {
            mask.clear();
            mask.fill_path(
                &outline,
                OUTLINE_FILL,
                true,
                object_transform(object, width, height),
            );
            for ((v, rem), &m) in visible
                .iter_mut()
                .zip(remaining.iter_mut())
                .zip(mask.data())
            {
                if m != 0 {
                    let coverage = f32::from(m) / 255.0;
                    *v = coverage * *rem;
                    *rem *= 1.0 - coverage;
                }
            }
        }
        if let Some(slot) = objects.get_mut(index) {
            *slot = visible;
        }
    }
    Ok(SceneMasks {
        width,
        height,
        objects,
        background: remaining,
    })
}

fn skia_color([r, g, b]: [u8; 3]) -> tiny_skia::Color {
    tiny_skia::Color::from_rgba8(r, g, b, 255)
}

fn paint(rgb: [u8; 3]) -> Paint<'static> {
    let mut paint = Paint::default();
    paint.set_color(skia_color(rgb));
    paint.anti_alias = true;
    paint
}

fn blend(a: [u8; 3], b: [u8; 3], t: f32) -> [u8; 3] {
    let mix = |x: u8, y: u8| (f32::from(x) + (f32::from(y) - f32::from(x)) * t).round() as u8;
    [mix(a[0], b[0]), mix(a[1], b[1]), mix(a[2], b[2])]
}
