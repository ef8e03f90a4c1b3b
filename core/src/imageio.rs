//! Reading the images of real data sets: JPEG (baseline, progressive, grayscale, CMYK), PNG
//! (every color type and bit depth) and WebP, recognized by their bytes, never by the file
//! name, so a PNG named `.JPEG` (ImageNet has one) is read as the PNG it is.
//!
//! Every decode goes through [`decode`], which refuses what would hurt a long pass instead of
//! failing it: an image over [`MAX_PIXELS`] (a decompression bomb is refused from its header,
//! before any pixel is allocated) and a JPEG cut short (the decoder would otherwise fill the
//! missing rows with gray and the pass would rank a broken file). EXIF orientation is applied,
//! so a photo taken sideways is seen upright.

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use std::io::Cursor;

/// The most pixels one image may have: Pillow's decompression-bomb threshold (2 × 89.5 M,
/// where Pillow refuses), far above any photo in ImageNet, Places365 or COCO.
pub const MAX_PIXELS: u64 = 178_956_970;

/// What maia reads, for messages.
pub const FORMATS: &str = "JPEG, PNG and WebP";

/// The image formats maia reads, by their bytes.
pub fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    match image::guess_format(bytes).ok()? {
        f @ (ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP) => Some(f),
        _ => None,
    }
}

/// Decodes an image by its content, with its EXIF orientation applied.
pub fn decode(bytes: &[u8]) -> Result<DynamicImage, String> {
    if bytes.is_empty() {
        return Err("the file is empty (0 bytes)".into());
    }
    let Some(format) = sniff(bytes) else {
        return Err(match image::guess_format(bytes) {
            Ok(other) => format!("a {other:?} image; maia reads {FORMATS}"),
            Err(_) => format!(
                "not an image ({}); maia reads {FORMATS}",
                first_bytes(bytes)
            ),
        });
    };
    if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        return Err("the JPEG is cut short (no end-of-image marker)".into());
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_PIXELS * 4 * 2);
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| format!("cannot decode {}: {e}", name(format)))?;
    let (width, height) = decoder.dimensions();
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_PIXELS {
        return Err(format!(
            "{width} × {height} pixels ({:.0} million) is over the limit of {:.0} million: refused as a possible decompression bomb",
            pixels as f64 / 1e6,
            MAX_PIXELS as f64 / 1e6
        ));
    }
    if pixels == 0 {
        return Err(format!("the {} has no pixels", name(format)));
    }
    let orientation = decoder.orientation().ok();
    let mut image = DynamicImage::from_decoder(decoder)
        .map_err(|e| format!("cannot decode {}: {e}", name(format)))?;
    if let Some(orientation) = orientation {
        image.apply_orientation(orientation);
    }
    Ok(image)
}

/// Decodes any image maia reads and encodes it as PNG (what tools, the store and the
/// agent take); PNG bytes are returned as they are.
pub fn to_png(bytes: Vec<u8>) -> Result<Vec<u8>, String> {
    if sniff(&bytes) == Some(ImageFormat::Png) {
        return Ok(bytes);
    }
    let image = decode(&bytes)?;
    let image = match image {
        DynamicImage::ImageRgb8(_) | DynamicImage::ImageRgba8(_) | DynamicImage::ImageLuma8(_) => {
            image
        }
        other => DynamicImage::ImageRgb8(other.to_rgb8()),
    };
    encode_png(&image)
}

/// Encodes an image as PNG.
pub fn encode_png(image: &DynamicImage) -> Result<Vec<u8>, String> {
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, ImageFormat::Png)
        .map_err(|e| format!("cannot encode PNG: {e}"))?;
    Ok(out.into_inner())
}

fn name(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Jpeg => "JPEG",
        ImageFormat::Png => "PNG",
        ImageFormat::WebP => "WebP",
        _ => "image",
    }
}

/// The first bytes, printable, to say what a non-image file looks like.
fn first_bytes(bytes: &[u8]) -> String {
    let head: String = bytes
        .iter()
        .take(12)
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '.'
            }
        })
        .collect();
    format!("it starts with \"{head}\"")
}

/// Whether a JPEG's marker structure runs to its end-of-image marker. Walks the segments
/// (each with its length) and, after each start-of-scan, the entropy-coded data up to the
/// next marker (`FF` then neither `00` nor a restart marker), so an `FF D9` inside an EXIF
/// thumbnail does not count.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let mut at = 2; // after SOI
    loop {
        // Fill bytes (FF FF ...) may precede a marker.
        while bytes.get(at) == Some(&0xFF) && bytes.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        if bytes.get(at) != Some(&0xFF) {
            return false;
        }
        let Some(&marker) = bytes.get(at + 1) else {
            return false;
        };
        at += 2;
        match marker {
            0xD9 => return true,
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let (Some(&hi), Some(&lo)) = (bytes.get(at), bytes.get(at + 1)) else {
            return false;
        };
        at += usize::from(u16::from_be_bytes([hi, lo]));
        if at > bytes.len() {
            return false;
        }
        if marker == 0xDA {
            // Entropy-coded data: up to the next real marker.
            loop {
                let Some(offset) = bytes[at..].iter().position(|&b| b == 0xFF) else {
                    return false;
                };
                at += offset;
                match bytes.get(at + 1) {
                    None => return false,
                    Some(0x00 | 0xD0..=0xD7 | 0xFF) => at += 1,
                    Some(_) => break,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        image
            .write_to(&mut out, format)
            .unwrap_or_else(|e| panic!("{e}"));
        out.into_inner()
    }

    fn photo() -> DynamicImage {
        DynamicImage::ImageRgb8(image::RgbImage::from_fn(64, 48, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 5) as u8, ((x * y) % 200) as u8])
        }))
    }

    #[test]
    fn formats_are_read_by_content_whatever_the_name() {
        for format in [ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::WebP] {
            let bytes = encode(&photo(), format);
            assert_eq!(sniff(&bytes), Some(format));
            let image = decode(&bytes).unwrap_or_else(|e| panic!("{format:?}: {e}"));
            assert_eq!((image.width(), image.height()), (64, 48), "{format:?}");
        }
    }

    #[test]
    fn a_jpeg_cut_short_is_refused_and_a_whole_one_is_not() {
        let jpeg = encode(&photo(), ImageFormat::Jpeg);
        assert!(jpeg_is_complete(&jpeg));
        for cut in [jpeg.len() - 2, jpeg.len() / 2, 40] {
            let err = decode(&jpeg[..cut]).err().unwrap_or_default();
            assert!(err.contains("cut short"), "cut at {cut}: {err}");
        }
        // Bytes after the end marker (some cameras append data) are fine.
        let mut tail = jpeg.clone();
        tail.extend_from_slice(b"trailing camera data");
        assert!(decode(&tail).is_ok());
    }

    #[test]
    fn non_images_say_what_they_are() {
        assert!(decode(b"").err().unwrap_or_default().contains("empty"));
        let text = decode(b"hello, this is text").err().unwrap_or_default();
        assert!(
            text.contains("not an image") && text.contains("hello"),
            "{text}"
        );
        let gif = decode(b"GIF89a\x01\x00\x01\x00").err().unwrap_or_default();
        assert!(gif.contains("Gif") && gif.contains(FORMATS), "{gif}");
    }

    #[test]
    fn to_png_keeps_png_bytes_and_converts_the_rest() {
        let png = encode(&photo(), ImageFormat::Png);
        assert_eq!(to_png(png.clone()).unwrap_or_default(), png);
        let from_jpeg = to_png(encode(&photo(), ImageFormat::Jpeg)).unwrap_or_default();
        assert_eq!(sniff(&from_jpeg), Some(ImageFormat::Png));
    }
}
