//! The evaluation transform of torchvision and timm, in plain Rust: resize the shorter side
//! (`Resize(256)`), then crop the center (`CenterCrop(224)`), as Pillow resamples: a
//! separable convolution whose filter widens with the reduction (antialiasing), the rows
//! first, each pass rounded to whole bytes as Pillow stores them.
//!
//! Only the output pixels inside the crop are computed, and only the input rows they need.

use serde::{Deserialize, Serialize};

/// The resampling filter (torchvision's `InterpolationMode`, timm's `interpolation`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interpolation {
    /// Triangle filter (Pillow's BILINEAR), torchvision's default.
    #[default]
    Bilinear,
    /// Keys cubic with a = -0.5 (Pillow's BICUBIC), timm's usual choice.
    Bicubic,
}

impl Interpolation {
    fn support(self) -> f64 {
        match self {
            Interpolation::Bilinear => 1.0,
            Interpolation::Bicubic => 2.0,
        }
    }

    fn weight(self, x: f64) -> f64 {
        let x = x.abs();
        match self {
            Interpolation::Bilinear => (1.0 - x).max(0.0),
            Interpolation::Bicubic => {
                const A: f64 = -0.5;
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
        }
    }
}

/// Resize the shorter side to `resize`, then crop the center `crop × crop`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EvalTransform {
    /// The shorter side after resizing.
    pub resize: u32,
    /// The side of the center crop (the model's input).
    pub crop: u32,
    /// The filter.
    pub interpolation: Interpolation,
    /// Widen the filter when reducing (Pillow always does; torchvision's tensor path
    /// only with `antialias=True`).
    pub antialias: bool,
}

/// One output pixel's taps: the first input index and the normalized weights.
struct Taps {
    first: usize,
    weights: Vec<f64>,
}

/// Pillow's `precompute_coeffs` for the outputs `range` of `out_len` over `in_len` inputs.
fn taps(
    in_len: usize,
    out_len: usize,
    range: std::ops::Range<usize>,
    filter: Interpolation,
    antialias: bool,
) -> Vec<Taps> {
    let scale = in_len as f64 / out_len as f64;
    let filter_scale = if antialias { scale.max(1.0) } else { 1.0 };
    let support = filter.support() * filter_scale;
    range
        .map(|i| {
            let center = (i as f64 + 0.5) * scale;
            let lo = ((center - support + 0.5).floor().max(0.0)) as usize;
            let hi = ((center + support + 0.5).floor() as usize).min(in_len);
            let mut weights: Vec<f64> = (lo..hi)
                .map(|x| filter.weight((x as f64 - center + 0.5) / filter_scale))
                .collect();
            let total: f64 = weights.iter().sum();
            if total != 0.0 {
                for w in &mut weights {
                    *w /= total;
                }
            }
            Taps { first: lo, weights }
        })
        .collect()
}

fn to_byte(v: f64) -> u8 {
    v.round().clamp(0.0, 255.0) as u8
}

impl EvalTransform {
    /// The size after the resize (torchvision: the shorter side becomes `resize`, the
    /// longer `int(resize · long / short)`).
    pub fn resized_size(&self, width: usize, height: usize) -> (usize, usize) {
        let r = self.resize as usize;
        if width <= height {
            (r, (r as f64 * height as f64 / width as f64) as usize)
        } else {
            ((r as f64 * width as f64 / height as f64) as usize, r)
        }
    }

    /// Applies the transform to interleaved 8-bit pixels (`stride` 3 or 4; RGB is read),
    /// returning the `crop × crop` RGB bytes. Crop areas outside the resized image (a crop
    /// larger than it) are black, as torchvision pads.
    pub fn apply(&self, bytes: &[u8], width: usize, height: usize, stride: usize) -> Vec<u8> {
        let (rw, rh) = self.resized_size(width, height);
        let c = self.crop as usize;
        // torchvision: int(round((h - crop) / 2.0)), half to even, may be negative (pad).
        let offset = |len: usize| ((len as f64 - c as f64) / 2.0).round_ties_even() as i64;
        let (left, top) = (offset(rw), offset(rh));
        let inside = |o: i64, len: usize| {
            let start = o.max(0) as usize;
            let end = ((o + c as i64).max(0) as usize).min(len);
            start..end.max(start)
        };
        let (cols, rows) = (inside(left, rw), inside(top, rh));
        let xt = taps(width, rw, cols.clone(), self.interpolation, self.antialias);
        let yt = taps(height, rh, rows.clone(), self.interpolation, self.antialias);
        // Input rows the vertical pass reads.
        let (y0, y1) = yt.iter().fold((height, 0), |(lo, hi), t| {
            (lo.min(t.first), hi.max(t.first + t.weights.len()))
        });
        let y1 = y1.max(y0);
        // Horizontal pass over those rows, rounded to bytes (Pillow's intermediate image).
        let w = cols.len();
        let mut mid = vec![0u8; (y1 - y0) * w * 3];
        for y in y0..y1 {
            let line = &bytes[y * width * stride..(y + 1) * width * stride];
            let out = &mut mid[(y - y0) * w * 3..(y - y0 + 1) * w * 3];
            for (ox, t) in xt.iter().enumerate() {
                let mut acc = [0f64; 3];
                for (k, weight) in t.weights.iter().enumerate() {
                    let p = &line[(t.first + k) * stride..];
                    acc[0] += f64::from(p[0]) * weight;
                    acc[1] += f64::from(p[1]) * weight;
                    acc[2] += f64::from(p[2]) * weight;
                }
                out[ox * 3] = to_byte(acc[0]);
                out[ox * 3 + 1] = to_byte(acc[1]);
                out[ox * 3 + 2] = to_byte(acc[2]);
            }
        }
        // Vertical pass into the crop.
        let mut crop = vec![0u8; c * c * 3];
        let (dx, dy) = (
            (cols.start as i64 - left) as usize,
            (rows.start as i64 - top) as usize,
        );
        for (oy, t) in yt.iter().enumerate() {
            let out_row = oy + dy;
            for ox in 0..w {
                let mut acc = [0f64; 3];
                for (k, weight) in t.weights.iter().enumerate() {
                    let at = ((t.first + k - y0) * w + ox) * 3;
                    acc[0] += f64::from(mid[at]) * weight;
                    acc[1] += f64::from(mid[at + 1]) * weight;
                    acc[2] += f64::from(mid[at + 2]) * weight;
                }
                let at = (out_row * c + ox + dx) * 3;
                crop[at] = to_byte(acc[0]);
                crop[at + 1] = to_byte(acc[1]);
                crop[at + 2] = to_byte(acc[2]);
            }
        }
        crop
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transform(resize: u32, crop: u32) -> EvalTransform {
        EvalTransform {
            resize,
            crop,
            interpolation: Interpolation::Bilinear,
            antialias: true,
        }
    }

    #[test]
    fn the_shorter_side_is_resized_and_the_longer_truncated() {
        assert_eq!(transform(256, 224).resized_size(500, 375), (341, 256));
        assert_eq!(transform(256, 224).resized_size(375, 500), (256, 341));
        assert_eq!(transform(8, 8).resized_size(10, 10), (8, 8));
    }

    #[test]
    fn a_flat_image_stays_flat_and_weights_sum_to_one() {
        let bytes = vec![77u8; 50 * 40 * 3];
        for filter in [Interpolation::Bilinear, Interpolation::Bicubic] {
            let t = EvalTransform {
                interpolation: filter,
                ..transform(24, 20)
            };
            assert!(
                t.apply(&bytes, 50, 40, 3).iter().all(|&v| v == 77),
                "{filter:?}"
            );
            for tap in taps(50, 30, 0..30, filter, true) {
                assert!((tap.weights.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn a_crop_larger_than_the_image_is_padded_black() {
        let bytes = vec![200u8; 10 * 10 * 3];
        let out = transform(10, 12).apply(&bytes, 10, 10, 3);
        assert_eq!(out.len(), 12 * 12 * 3);
        assert_eq!(out[0], 0, "corner is padding");
        assert_eq!(out[(6 * 12 + 6) * 3], 200, "center is the image");
    }
}
