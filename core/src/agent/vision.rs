//! Images as the model gets them: downscaled to the configured size once per image and
//! capped per message.

use crate::images::ImageStore;
use crate::llm::ImagePart;
use std::collections::HashMap;
use std::io::Cursor;
use std::sync::{Arc, Mutex};

/// Turns stored images into [`ImagePart`]s, caching each downscaled PNG.
#[derive(Debug)]
pub struct ModelImages {
    max_side: u32,
    cache: Mutex<HashMap<String, Arc<Vec<u8>>>>,
}

impl ModelImages {
    /// Images no larger than `max_side` on their longest side.
    pub fn new(max_side: u32) -> Self {
        ModelImages {
            max_side: max_side.max(16),
            cache: Mutex::default(),
        }
    }

    /// The image with this id, ready to send; `None` if the store has no such image.
    pub fn part(&self, store: &ImageStore, id: &str) -> Option<ImagePart> {
        let stored = store.get(&id.into())?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let png = cache
            .entry(stored.hash.clone())
            .or_insert_with(|| Arc::new(downscale(&stored.image.png, self.max_side)))
            .clone();
        Some(ImagePart {
            id: id.to_owned(),
            png,
        })
    }
}

/// Re-encodes a PNG so its longest side is at most `max_side`; returns the input when it
/// is already small enough or cannot be decoded (the model then gets the original).
pub fn downscale(png: &[u8], max_side: u32) -> Vec<u8> {
    let Ok(img) = image::load_from_memory_with_format(png, image::ImageFormat::Png) else {
        return png.to_vec();
    };
    if img.width().max(img.height()) <= max_side {
        return png.to_vec();
    }
    let small = img.resize(max_side, max_side, image::imageops::FilterType::Triangle);
    let mut out = Vec::new();
    match small.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png) {
        Ok(()) => out,
        Err(_) => png.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_images_are_downscaled_small_ones_kept() {
        let big = image::RgbImage::from_pixel(512, 256, image::Rgb([200, 10, 10]));
        let mut png = Vec::new();
        image::DynamicImage::ImageRgb8(big)
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .expect("encode");
        let out = downscale(&png, 128);
        let back = image::load_from_memory(&out).expect("decode");
        assert_eq!((back.width(), back.height()), (128, 64));
        assert_eq!(downscale(&out, 256), out);
    }
}
