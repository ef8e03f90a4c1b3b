//! MAIA-style masks: where a unit fired on an image, drawn over the image. The unit's map
//! is upsampled to the image, thresholded at a top quantile of its values (and at least
//! half its peak, when the peak is positive), and everything below the threshold is dimmed.

use super::{TargetError, UnitMap};
use image::{ImageFormat, RgbImage};
use std::io::Cursor;

/// The fraction of pixels kept bright: the top 5% of the upsampled map, as in MAIA's masks.
pub const DEFAULT_TOP_QUANTILE: f32 = 0.95;

/// Brightness of the dimmed part (0 = black, 1 = unchanged).
const DIM: f32 = 0.25;

/// Bilinear sample of the map at image pixel (x, y) of a `w`×`h` image.
fn sample(map: &UnitMap, x: u32, y: u32, w: u32, h: u32) -> f32 {
    let mx =
        ((x as f32 + 0.5) * map.width as f32 / w as f32 - 0.5).clamp(0.0, (map.width - 1) as f32);
    let my =
        ((y as f32 + 0.5) * map.height as f32 / h as f32 - 0.5).clamp(0.0, (map.height - 1) as f32);
    let (x0, y0) = (mx.floor() as u32, my.floor() as u32);
    let (x1, y1) = ((x0 + 1).min(map.width - 1), (y0 + 1).min(map.height - 1));
    let (fx, fy) = (mx - x0 as f32, my - y0 as f32);
    let at = |x: u32, y: u32| map.values[(y * map.width + x) as usize];
    let top = at(x0, y0) * (1.0 - fx) + at(x1, y0) * fx;
    let bottom = at(x0, y1) * (1.0 - fx) + at(x1, y1) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// Draws the mask of `map` over the PNG `png`: pixels where the upsampled map is at or
/// above its `quantile` keep their color, the rest are dimmed. Returns PNG bytes.
pub fn mask_overlay(png: &[u8], map: &UnitMap, quantile: f32) -> Result<Vec<u8>, TargetError> {
    if map.width == 0 || map.height == 0 || map.values.len() != (map.width * map.height) as usize {
        return Err(TargetError::Compute(format!(
            "activation map {}×{} has {} values",
            map.width,
            map.height,
            map.values.len()
        )));
    }
    let mut rgb: RgbImage = crate::imageio::decode(png)
        .map_err(|e| TargetError::Input(format!("cannot decode the image to draw its mask: {e}")))?
        .to_rgb8();
    let (w, h) = rgb.dimensions();
    let upsampled: Vec<f32> = (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .map(|(x, y)| sample(map, x, y, w, h))
        .collect();
    let mut sorted = upsampled.clone();
    sorted.sort_by(f32::total_cmp);
    let index = ((sorted.len() as f32 - 1.0) * quantile.clamp(0.0, 1.0)).round() as usize;
    // The quantile alone would let noise through when the unit fires on less than the top
    // share of the image; half the peak keeps the mask on where it fired strongly. A map
    // that is negative everywhere (a transformer's residual stream can be) has no such
    // floor: half a negative peak lies above the peak and would keep nothing.
    let peak = sorted.last().copied().unwrap_or(0.0);
    let quantile_value = sorted.get(index).copied().unwrap_or(f32::INFINITY);
    let threshold = if peak > 0.0 {
        quantile_value.max(peak * 0.5)
    } else {
        quantile_value
    };
    for (pixel, &value) in rgb.pixels_mut().zip(&upsampled) {
        if value < threshold {
            for c in pixel.0.iter_mut() {
                *c = (*c as f32 * DIM) as u8;
            }
        }
    }
    let mut out = Vec::new();
    rgb.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
        .map_err(|e| TargetError::Compute(format!("encoding the mask: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_negative_everywhere_still_keeps_its_least_negative_part() {
        let img = RgbImage::from_pixel(16, 16, image::Rgb([200, 200, 200]));
        let mut png = Vec::new();
        img.write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap_or_else(|e| panic!("{e}"));
        let map = UnitMap {
            width: 2,
            height: 2,
            values: vec![-1.0, -5.0, -5.0, -5.0],
        };
        let out = mask_overlay(&png, &map, DEFAULT_TOP_QUANTILE).unwrap_or_else(|e| panic!("{e}"));
        let out = image::load_from_memory(&out)
            .unwrap_or_else(|e| panic!("{e}"))
            .to_rgb8();
        assert_eq!(out.get_pixel(0, 0).0, [200, 200, 200], "the top-left stays");
        assert_eq!(out.get_pixel(15, 15).0, [50, 50, 50], "the rest dims");
    }

    #[test]
    fn the_hot_corner_stays_bright_and_the_rest_dims() {
        let img = RgbImage::from_pixel(16, 16, image::Rgb([200, 200, 200]));
        let mut png = Vec::new();
        img.write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap_or_else(|e| panic!("{e}"));
        // A 4×4 map, hot only in its top-left cell.
        let mut values = vec![0.0; 16];
        values[0] = 1.0;
        let map = UnitMap {
            width: 4,
            height: 4,
            values,
        };
        let out = mask_overlay(&png, &map, 0.95).unwrap_or_else(|e| panic!("{e}"));
        let out = image::load_from_memory(&out)
            .unwrap_or_else(|e| panic!("{e}"))
            .to_rgb8();
        assert_eq!(out.get_pixel(0, 0).0, [200, 200, 200]);
        assert_eq!(out.get_pixel(15, 15).0, [50, 50, 50]);
    }
}
