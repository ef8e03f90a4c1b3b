//! A run's images as `data:` URIs, so the page needs no other file: each
//! `images/<hash>.png` is read once, shrunk to fit [`MAX_SIDE`] when larger (a report of
//! a long run stays a few megabytes), and base64-encoded. A file that is missing or
//! unreadable becomes a [`Inlined::Missing`] with the reason, never an error.

use base64::Engine;
use image::imageops::FilterType;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The longest side of an image in the page, in pixels.
pub const MAX_SIDE: u32 = 224;

/// An image ready for the page.
#[derive(Clone, Debug, PartialEq)]
pub enum Inlined {
    /// The PNG as a `data:image/png;base64,…` URI.
    Data {
        /// The URI.
        uri: String,
        /// Width in the page.
        width: u32,
        /// Height in the page.
        height: u32,
    },
    /// The image could not be inlined.
    Missing {
        /// Why, in words.
        reason: String,
    },
}

/// Reads and encodes a run's images, each hash once.
#[derive(Debug)]
pub struct ImageInliner {
    dir: PathBuf,
    cache: HashMap<String, Inlined>,
}

impl ImageInliner {
    /// Images under `run_dir/images`.
    pub fn new(run_dir: &Path) -> Self {
        ImageInliner {
            dir: maia_core::agent::dir::RunDir::new(run_dir).images(),
            cache: HashMap::new(),
        }
    }

    /// The image with this content hash.
    pub fn get(&mut self, hash: &str) -> &Inlined {
        if !self.cache.contains_key(hash) {
            let inlined = self.load(hash);
            self.cache.insert(hash.to_owned(), inlined);
        }
        &self.cache[hash]
    }

    /// Distinct images read so far that could not be inlined.
    pub fn missing(&self) -> usize {
        self.cache
            .values()
            .filter(|i| matches!(i, Inlined::Missing { .. }))
            .count()
    }

    /// Distinct images read so far.
    pub fn distinct(&self) -> usize {
        self.cache.len()
    }

    fn load(&self, hash: &str) -> Inlined {
        // The hash names a file: refuse anything that could step out of images/.
        if hash.is_empty()
            || !hash
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Inlined::Missing {
                reason: format!("the journal names it by a malformed hash `{hash}`"),
            };
        }
        let path = self.dir.join(format!("{hash}.png"));
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Inlined::Missing {
                    reason: format!("images/{hash}.png is missing"),
                };
            }
            Err(e) => {
                return Inlined::Missing {
                    reason: format!("images/{hash}.png could not be read: {e}"),
                };
            }
        };
        match encode(&bytes) {
            Ok((png, width, height)) => Inlined::Data {
                uri: format!(
                    "data:image/png;base64,{}",
                    base64::engine::general_purpose::STANDARD.encode(png)
                ),
                width,
                height,
            },
            Err(e) => Inlined::Missing {
                reason: format!("images/{hash}.png is not a readable PNG: {e}"),
            },
        }
    }
}

/// The PNG to embed and its size: the file's own bytes when it already fits, otherwise
/// a downscaled copy.
fn encode(bytes: &[u8]) -> Result<(Vec<u8>, u32, u32), image::ImageError> {
    let img = image::load_from_memory_with_format(bytes, image::ImageFormat::Png)?;
    let (w, h) = (img.width(), img.height());
    if w <= MAX_SIDE && h <= MAX_SIDE {
        return Ok((bytes.to_vec(), w, h));
    }
    let small = img.resize(MAX_SIDE, MAX_SIDE, FilterType::Triangle);
    let mut out = std::io::Cursor::new(Vec::new());
    small.write_to(&mut out, image::ImageFormat::Png)?;
    Ok((out.into_inner(), small.width(), small.height()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_pixel(w, h, image::Rgb([200, 30, 30]));
        let mut out = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(img)
            .write_to(&mut out, image::ImageFormat::Png)
            .expect("encode");
        out.into_inner()
    }

    #[test]
    fn large_images_shrink_small_ones_stay_and_bad_ones_are_missing() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("images")).expect("mkdir");
        std::fs::write(dir.path().join("images/big.png"), png(512, 256)).expect("write");
        std::fs::write(dir.path().join("images/small.png"), png(64, 64)).expect("write");
        std::fs::write(dir.path().join("images/bad.png"), b"not a png").expect("write");
        let mut inliner = ImageInliner::new(dir.path());
        assert!(matches!(
            inliner.get("big"),
            Inlined::Data {
                width: 224,
                height: 112,
                ..
            }
        ));
        assert!(
            matches!(inliner.get("small"), Inlined::Data { width: 64, height: 64, uri } if uri.starts_with("data:image/png;base64,"))
        );
        assert!(
            matches!(inliner.get("bad"), Inlined::Missing { reason } if reason.contains("not a readable PNG"))
        );
        assert!(
            matches!(inliner.get("gone"), Inlined::Missing { reason } if reason.contains("missing"))
        );
        assert!(
            matches!(inliner.get("../x"), Inlined::Missing { reason } if reason.contains("malformed"))
        );
        assert_eq!((inliner.distinct(), inliner.missing()), (5, 3));
    }
}
