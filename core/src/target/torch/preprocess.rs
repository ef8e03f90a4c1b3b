//! From image bytes to a model's input, in plain Rust: decode (JPEG, PNG or WebP by content,
//! through [`crate::imageio`]; any PNG color type and bit
//! depth; alpha is dropped, gray is spread over the three channels), area-average down to
//! the input size, normalize.
//!
//! No libtorch op runs here when an image is at least as big as the input (the common
//! case), so many threads can prepare images while others compute without fighting over
//! libtorch's thread pool. Images smaller than the input on a side are upsampled
//! bilinearly with libtorch (`align_corners = false`).

use super::resample::EvalTransform;
use image::DynamicImage;
use tch::{Device, Kind, Tensor};

/// How the model's input is made from an image.
#[derive(Clone, Debug, PartialEq)]
pub struct Preprocess {
    /// Side of the square input.
    pub size: u32,
    /// Per-channel mean (on 0..1 values).
    pub mean: [f64; 3],
    /// Per-channel std.
    pub std: [f64; 3],
    /// Round resized pixels to whole bytes before normalizing (what the world CNN was
    /// trained on; see its sidecar's `input.resize`).
    pub round_to_bytes: bool,
    /// Resize the shorter side, then crop the center (torchvision's and timm's eval
    /// transform), instead of area-resizing the whole image.
    pub eval: Option<EvalTransform>,
}

/// Pixels as decoded: interleaved 8-bit channels.
struct Pixels {
    bytes: Vec<u8>,
    width: usize,
    height: usize,
    /// 3 (RGB) or 4 (RGBA, alpha ignored).
    stride: usize,
}

impl Preprocess {
    /// torchvision's ImageNet evaluation transform: shorter side 256 (bilinear,
    /// antialiased), center crop 224, ImageNet mean and std.
    pub fn imagenet_eval() -> Preprocess {
        Preprocess {
            size: 224,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
            round_to_bytes: false,
            eval: Some(EvalTransform {
                resize: 256,
                crop: 224,
                interpolation: super::resample::Interpolation::Bilinear,
                antialias: true,
            }),
        }
    }

    /// Floats in one image's input: `3 × size × size`.
    pub fn input_len(&self) -> usize {
        3 * self.size as usize * self.size as usize
    }

    /// Appends the normalized `[3, size, size]` input of the image `png` (JPEG, PNG or
    /// WebP bytes) to `out`.
    pub fn append(&self, png: &[u8], out: &mut Vec<f32>) -> Result<(), String> {
        let pixels = decode(png)?;
        let s = self.size as usize;
        let start = out.len();
        out.resize(start + self.input_len(), 0.0);
        let planes = &mut out[start..];
        if let Some(eval) = &self.eval {
            // The crop is whole bytes already: planes of byte values, normalized below.
            let crop = eval.apply(&pixels.bytes, pixels.width, pixels.height, pixels.stride);
            for (i, px) in crop.chunks_exact(3).enumerate() {
                for (c, &byte) in px.iter().enumerate() {
                    planes[c * s * s + i] = f32::from(byte);
                }
            }
        } else if pixels.width >= s && pixels.height >= s {
            self.area(&pixels, planes);
        } else if let Err(e) = self.bilinear(&pixels, planes) {
            out.truncate(start);
            return Err(e);
        }
        for (c, plane) in out[start..].chunks_exact_mut(s * s).enumerate() {
            let (mean, std) = (self.mean[c] as f32, self.std[c] as f32);
            for v in plane {
                let byte = if self.round_to_bytes {
                    v.round_ties_even().clamp(0.0, 255.0)
                } else {
                    *v
                };
                *v = (byte / 255.0 - mean) / std;
            }
        }
        Ok(())
    }

    /// What the model sees of an image, as PNG, when that is not the whole image: the
    /// center crop of the eval transform (masks are drawn over it). `None` without one.
    pub fn view(&self, bytes: &[u8]) -> Result<Option<Vec<u8>>, String> {
        let Some(eval) = &self.eval else {
            return Ok(None);
        };
        let pixels = decode(bytes)?;
        let crop = eval.apply(&pixels.bytes, pixels.width, pixels.height, pixels.stride);
        let side = eval.crop;
        let image = image::RgbImage::from_raw(side, side, crop)
            .ok_or_else(|| "the crop has the wrong size".to_string())?;
        crate::imageio::encode_png(&DynamicImage::ImageRgb8(image)).map(Some)
    }

    /// Box-averages every output pixel over its window, as `adaptive_avg_pool2d` does:
    /// output `i` of `n` covers input `floor(i·len/n) .. ceil((i+1)·len/n)`. The window is
    /// a product of a row range and a column range, so rows are summed first, then columns;
    /// sums of bytes are exact in `u32`. Writes 0..255 values into `planes`.
    fn area(&self, px: &Pixels, planes: &mut [f32]) {
        let s = self.size as usize;
        let cols = windows(px.width, s);
        let rows = windows(px.height, s);
        // Per input row, per output column, per channel: the sum over the column window.
        let mut row_sums = vec![0u32; px.height * s * 3];
        for y in 0..px.height {
            let line = &px.bytes[y * px.width * px.stride..(y + 1) * px.width * px.stride];
            let sums = &mut row_sums[y * s * 3..(y + 1) * s * 3];
            for (ox, &(x0, x1)) in cols.iter().enumerate() {
                let mut acc = [0u32; 3];
                for p in line[x0 * px.stride..x1 * px.stride].chunks_exact(px.stride) {
                    acc[0] += u32::from(p[0]);
                    acc[1] += u32::from(p[1]);
                    acc[2] += u32::from(p[2]);
                }
                sums[ox * 3..ox * 3 + 3].copy_from_slice(&acc);
            }
        }
        for (oy, &(y0, y1)) in rows.iter().enumerate() {
            for (ox, &(x0, x1)) in cols.iter().enumerate() {
                let count = ((y1 - y0) * (x1 - x0)) as f32;
                let mut acc = [0u32; 3];
                for y in y0..y1 {
                    let at = (y * s + ox) * 3;
                    acc[0] += row_sums[at];
                    acc[1] += row_sums[at + 1];
                    acc[2] += row_sums[at + 2];
                }
                for (c, sum) in acc.iter().enumerate() {
                    planes[(c * s + oy) * s + ox] = *sum as f32 / count;
                }
            }
        }
    }

    /// Bilinear resize with libtorch, for images smaller than the input on a side.
    fn bilinear(&self, px: &Pixels, planes: &mut [f32]) -> Result<(), String> {
        let s = i64::from(self.size);
        let hwc = Tensor::from_slice(&px.bytes).view([
            px.height as i64,
            px.width as i64,
            px.stride as i64,
        ]);
        let resized = hwc
            .narrow(2, 0, 3)
            .permute([2, 0, 1])
            .to_kind(Kind::Float)
            .unsqueeze(0)
            .upsample_bilinear2d([s, s], false, None, None)
            .to_device(Device::Cpu)
            .contiguous()
            .flatten(0, -1);
        let values = Vec::<f32>::try_from(&resized).map_err(|e| e.to_string())?;
        planes.copy_from_slice(&values);
        Ok(())
    }
}

/// The input window `[start, end)` of each of `n` outputs over `len` inputs.
fn windows(len: usize, n: usize) -> Vec<(usize, usize)> {
    (0..n)
        .map(|i| ((i * len) / n, ((i + 1) * len).div_ceil(n)))
        .collect()
}

/// Decodes an image (JPEG, PNG or WebP, by content) to interleaved 8-bit RGB or RGBA
/// (16-bit, gray and CMYK images are converted).
fn decode(bytes: &[u8]) -> Result<Pixels, String> {
    let image = crate::imageio::decode(bytes)?;
    let (width, height) = (image.width() as usize, image.height() as usize);
    let (bytes, stride) = match image {
        DynamicImage::ImageRgb8(rgb) => (rgb.into_raw(), 3),
        DynamicImage::ImageRgba8(rgba) => (rgba.into_raw(), 4),
        other => (other.to_rgb8().into_raw(), 3),
    };
    if width == 0 || height == 0 {
        return Err("the PNG has no pixels".into());
    }
    Ok(Pixels {
        bytes,
        width,
        height,
        stride,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::ImageFormat;

    fn png(image: DynamicImage) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        image
            .write_to(&mut out, ImageFormat::Png)
            .unwrap_or_else(|e| panic!("{e}"));
        out.into_inner()
    }

    fn plain(size: u32) -> Preprocess {
        Preprocess {
            size,
            mean: [0.0; 3],
            std: [1.0 / 255.0; 3],
            round_to_bytes: false,
            eval: None,
        }
    }

    /// What libtorch computes: `adaptive_avg_pool2d` (or bilinear) on the RGB bytes.
    fn torch_reference(image: &DynamicImage, size: i64) -> Vec<f32> {
        let rgb = image.to_rgb8();
        let (w, h) = (i64::from(rgb.width()), i64::from(rgb.height()));
        let x = Tensor::from_slice(rgb.as_raw())
            .view([h, w, 3])
            .permute([2, 0, 1])
            .to_kind(Kind::Float)
            .unsqueeze(0);
        let y = if h >= size && w >= size {
            x.adaptive_avg_pool2d([size, size])
        } else {
            x.upsample_bilinear2d([size, size], false, None, None)
        };
        Vec::<f32>::try_from(y.contiguous().flatten(0, -1)).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn area_and_bilinear_resizes_match_libtorch_for_every_mode() {
        let gradient = image::RgbaImage::from_fn(97, 61, |x, y| {
            image::Rgba([(x * 2) as u8, (y * 4) as u8, ((x * y) % 251) as u8, 128])
        });
        let rgba = DynamicImage::ImageRgba8(gradient);
        let cases = [
            rgba.clone(),
            DynamicImage::ImageRgb8(rgba.to_rgb8()),
            DynamicImage::ImageLuma8(rgba.to_luma8()),
            DynamicImage::ImageLumaA8(rgba.to_luma_alpha8()),
            DynamicImage::ImageRgb16(rgba.to_rgb16()),
            DynamicImage::ImageRgba16(rgba.to_rgba16()),
            DynamicImage::ImageLuma16(rgba.to_luma16()),
        ];
        for image in &cases {
            for size in [16, 32, 61, 64, 100] {
                let mut got = Vec::new();
                plain(size)
                    .append(&png(image.clone()), &mut got)
                    .unwrap_or_else(|e| panic!("{e}"));
                let want = torch_reference(image, i64::from(size));
                assert_eq!(got.len(), want.len());
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (g - w).abs() <= 1e-3 * w.abs().max(1.0),
                        "{:?} at {size}: value {i}: {g} vs libtorch {w}",
                        image.color()
                    );
                }
            }
        }
    }

    #[test]
    fn bytes_are_rounded_half_to_even_when_asked() {
        // 2×1 → 1×1: the mean of 1 and 2 is 1.5, rounded to 2; of 2 and 3, 2.5 → 2.
        for (a, b, want) in [(1u8, 2u8, 2.0), (2, 3, 2.0), (0, 255, 128.0)] {
            let image = image::RgbImage::from_fn(2, 2, |x, _| {
                let v = if x == 0 { a } else { b };
                image::Rgb([v, v, v])
            });
            let pre = Preprocess {
                round_to_bytes: true,
                ..plain(1)
            };
            let mut got = Vec::new();
            pre.append(&png(DynamicImage::ImageRgb8(image)), &mut got)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(got, vec![want; 3], "{a} {b}");
        }
    }

    #[test]
    fn broken_files_are_errors() {
        let mut out = Vec::new();
        for (bad, says) in [
            (&b"not a png"[..], "not an image"),
            (&b"\x89PNG\r\n\x1a\n"[..], "cannot decode PNG"),
        ] {
            let msg = plain(8).append(bad, &mut out).err().unwrap_or_default();
            assert!(msg.contains(says), "{msg}");
        }
        assert!(out.is_empty(), "nothing appended for a broken file");
    }
}
