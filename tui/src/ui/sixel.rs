//! Sixel images through libsixel (the `sixel-rs` crate's bindings): scaling an image to a block of
//! cells using the terminal's cell size in pixels, encoding it, and a cache keyed by
//! (image hash, cells, cell size) so a redraw never encodes again.
//!
//! How an encoded image reaches the screen: the whole escape sequence becomes the symbol
//! of the block's top-left buffer cell, marked with a forced width so ratatui's diff skips
//! the rest of the row, and the block's other cells are marked "skip" so ratatui never
//! paints over the picture. The sequence is re-sent only when that cell changes.
//!
//! We call libsixel's `sixel_output`/`sixel_dither`/`sixel_encode` through `sixel_rs::sys`
//! rather than `sixel_rs::sixel_string` or its `Encoder`: those pull libsixel's image
//! loader into the link, whose bundled stb_image clashes with the copy inside libtorch
//! (duplicate `stbi_*` symbols). The encode path needs no loader.

use image::RgbImage;
use image::imageops::{self, FilterType};
use ratatui::buffer::{Buffer, CellDiffOption};
use ratatui::layout::Rect;
use sixel_rs::sys;
use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU16;
use std::sync::Arc;

/// Encoded images kept by default; a 224×224 sixel is roughly 10–60 KB.
pub const DEFAULT_CACHE_ENTRIES: usize = 256;

/// Sixel rows come in bands of six pixels; heights are kept to whole bands so an image
/// never spills into the row below its block.
const BAND: u32 = 6;

/// What identifies an encoded image: the source and the block it was scaled for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SixelKey {
    /// Content hash of the source PNG.
    pub hash: String,
    /// Block width in cells.
    pub cols: u16,
    /// Block height in cells.
    pub rows: u16,
    /// Cell width in pixels.
    pub cell_w: u16,
    /// Cell height in pixels.
    pub cell_h: u16,
}

/// An encoded image and the cells it covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SixelImage {
    /// The escape sequence (DCS … ST).
    pub data: Arc<str>,
    /// Pixel width of the encoded image.
    pub width: u32,
    /// Pixel height of the encoded image.
    pub height: u32,
    /// Cells covered horizontally.
    pub cols: u16,
    /// Cells covered vertically.
    pub rows: u16,
}

/// Why an image could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum SixelError {
    /// libsixel refused.
    #[error("libsixel could not encode a {width}×{height} image: {reason}")]
    Encode {
        /// Pixel width.
        width: u32,
        /// Pixel height.
        height: u32,
        /// libsixel's status.
        reason: String,
    },
    /// Nothing to encode.
    #[error("cannot encode an empty image ({width}×{height})")]
    Empty {
        /// Pixel width.
        width: u32,
        /// Pixel height.
        height: u32,
    },
}

/// The pixel size to scale `img_w × img_h` to so it fits `cols × rows` cells of
/// `cell_w × cell_h` pixels with its aspect ratio kept and its height a multiple of six.
pub fn fit_pixels(img_w: u32, img_h: u32, cols: u16, rows: u16, cell: (u16, u16)) -> (u32, u32) {
    let box_w = u32::from(cols) * u32::from(cell.0);
    let box_h = u32::from(rows) * u32::from(cell.1);
    if img_w == 0 || img_h == 0 || box_w == 0 || box_h < BAND {
        return (0, 0);
    }
    let scale = f64::min(
        f64::from(box_w) / f64::from(img_w),
        f64::from(box_h) / f64::from(img_h),
    );
    let h = ((f64::from(img_h) * scale) as u32).clamp(BAND, box_h);
    let h = h - h % BAND;
    // Width from the rounded height keeps the aspect as close as it can be.
    let w = ((f64::from(img_w) * f64::from(h) / f64::from(img_h)).round() as u32).clamp(1, box_w);
    (w, h)
}

/// Encodes an RGB image as-is (no scaling): a 256-colour palette chosen for the image,
/// with libsixel's automatic choice of error diffusion.
pub fn encode_rgb(img: &RgbImage) -> Result<String, SixelError> {
    let (width, height) = img.dimensions();
    if width == 0 || height == 0 {
        return Err(SixelError::Empty { width, height });
    }
    let (Ok(w), Ok(h)) = (i32::try_from(width), i32::try_from(height)) else {
        return Err(SixelError::Empty { width, height });
    };
    let fail = |what: &str, status: sys::status::Status| SixelError::Encode {
        width,
        height,
        reason: format!("{what} returned status {status:#06x}"),
    };
    // libsixel may rewrite the pixels it is given; hand it a copy.
    let mut pixels = img.as_raw().clone();
    let mut out: Vec<u8> = Vec::with_capacity(pixels.len() / 4);

    /// Called by libsixel with each chunk of output.
    unsafe extern "C" fn write_chunk(
        data: *mut std::os::raw::c_char,
        size: std::os::raw::c_int,
        private: *mut std::os::raw::c_void,
    ) -> std::os::raw::c_int {
        if data.is_null() || private.is_null() || size <= 0 {
            return sys::status::OK;
        }
        // SAFETY: `private` is the `Vec<u8>` passed to `sixel_output_new` below, alive
        // for the whole encode; `data` points at `size` bytes libsixel owns.
        unsafe {
            let out = &mut *private.cast::<Vec<u8>>();
            out.extend_from_slice(std::slice::from_raw_parts(data.cast::<u8>(), size as usize));
        }
        sys::status::OK
    }

    struct Output(*mut sys::Output);
    impl Drop for Output {
        fn drop(&mut self) {
            if !self.0.is_null() {
                // SAFETY: created by `sixel_output_new`, released once.
                unsafe { sys::sixel_output_unref(self.0) }
            }
        }
    }
    struct Dither(*mut sys::Dither);
    impl Drop for Dither {
        fn drop(&mut self) {
            if !self.0.is_null() {
                // SAFETY: created by `sixel_dither_new`, released once.
                unsafe { sys::sixel_dither_unref(self.0) }
            }
        }
    }

    let mut output = Output(std::ptr::null_mut());
    let mut dither = Dither(std::ptr::null_mut());
    // SAFETY: every pointer passed is valid for the duration of the call: `output.0` and
    // `dither.0` are out-parameters, `out` outlives `output` (dropped at the end of this
    // function, before `out` is read), `pixels` holds `width × height × 3` bytes.
    unsafe {
        let private = (&mut out as *mut Vec<u8>).cast::<std::os::raw::c_void>();
        let status = sys::sixel_output_new(
            &mut output.0,
            Some(write_chunk),
            private,
            std::ptr::null_mut(),
        );
        if status != sys::status::OK {
            return Err(fail("sixel_output_new", status));
        }
        sys::sixel_output_set_encode_policy(output.0, sys::EncodePolicy::Auto);
        let status = sys::sixel_dither_new(&mut dither.0, 256, std::ptr::null_mut());
        if status != sys::status::OK {
            return Err(fail("sixel_dither_new", status));
        }
        let status = sys::sixel_dither_initialize(
            dither.0,
            pixels.as_mut_ptr(),
            w,
            h,
            sys::PixelFormat::RGB888,
            sys::MethodForLargest::Auto,
            sys::MethodForRepColor::Auto,
            sys::QualityMode::Auto,
        );
        if status != sys::status::OK {
            return Err(fail("sixel_dither_initialize", status));
        }
        sys::sixel_dither_set_diffusion_type(dither.0, sys::DiffusionMethod::Auto);
        let status = sys::sixel_encode(pixels.as_mut_ptr(), w, h, 24, dither.0, output.0);
        if status != sys::status::OK {
            return Err(fail("sixel_encode", status));
        }
    }
    drop(output);
    drop(dither);
    String::from_utf8(out).map_err(|_| SixelError::Encode {
        width,
        height,
        reason: "output was not text".into(),
    })
}

/// Scales `img` to fit `cols × rows` cells of `cell` pixels and encodes it.
pub fn encode_fitted(
    img: &RgbImage,
    cols: u16,
    rows: u16,
    cell: (u16, u16),
) -> Result<SixelImage, SixelError> {
    let (w, h) = fit_pixels(img.width(), img.height(), cols, rows, cell);
    if w == 0 || h == 0 {
        return Err(SixelError::Empty {
            width: w,
            height: h,
        });
    }
    let scaled;
    let source = if (w, h) == img.dimensions() {
        img
    } else {
        scaled = imageops::resize(img, w, h, FilterType::Triangle);
        &scaled
    };
    let data = encode_rgb(source)?;
    Ok(SixelImage {
        data: Arc::from(data),
        width: w,
        height: h,
        cols: w.div_ceil(u32::from(cell.0.max(1))).min(u32::from(cols)) as u16,
        rows: h.div_ceil(u32::from(cell.1.max(1))).min(u32::from(rows)) as u16,
    })
}

impl SixelImage {
    /// Places the image with its top-left cell at `(x, y)`: the sequence goes into that
    /// cell with a forced width, the rest of the block is marked skip. Draws nothing
    /// when the block does not fit inside the buffer (a clipped sixel would overwrite
    /// whatever lies beyond).
    pub fn render(&self, x: u16, y: u16, buf: &mut Buffer) {
        let block = Rect::new(x, y, self.cols.max(1), self.rows.max(1));
        if block.intersection(buf.area) != block || self.cols < 2 {
            return;
        }
        for row in block.rows() {
            for pos in row.positions() {
                if let Some(cell) = buf.cell_mut(pos) {
                    cell.reset();
                    cell.set_diff_option(CellDiffOption::Skip);
                }
            }
        }
        if let (Some(cell), Some(width)) = (buf.cell_mut((x, y)), NonZeroU16::new(self.cols)) {
            cell.set_symbol(&self.data);
            cell.set_diff_option(CellDiffOption::ForcedWidth(width));
        }
    }
}

/// Encoded images by key; the oldest are dropped past a size limit.
#[derive(Debug)]
pub struct SixelCache {
    map: HashMap<SixelKey, Arc<SixelImage>>,
    order: VecDeque<SixelKey>,
    capacity: usize,
    hits: u64,
    misses: u64,
}

impl Default for SixelCache {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CACHE_ENTRIES)
    }
}

impl SixelCache {
    /// A cache keeping at most `capacity` images.
    pub fn with_capacity(capacity: usize) -> Self {
        SixelCache {
            map: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
            hits: 0,
            misses: 0,
        }
    }

    /// The cached image for `key`.
    pub fn get(&mut self, key: &SixelKey) -> Option<Arc<SixelImage>> {
        let found = self.map.get(key).cloned();
        if found.is_some() {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
        found
    }

    /// Stores an encoded image.
    pub fn insert(&mut self, key: SixelKey, image: Arc<SixelImage>) {
        if self.map.insert(key.clone(), image).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }

    /// The cached image for `key`, encoding `img` on a miss.
    pub fn get_or_encode(
        &mut self,
        key: SixelKey,
        img: &RgbImage,
    ) -> Result<Arc<SixelImage>, SixelError> {
        if let Some(hit) = self.get(&key) {
            return Ok(hit);
        }
        let encoded = Arc::new(encode_fitted(
            img,
            key.cols,
            key.rows,
            (key.cell_w, key.cell_h),
        )?);
        self.insert(key, encoded.clone());
        Ok(encoded)
    }

    /// `(hits, misses)` so far.
    pub fn stats(&self) -> (u64, u64) {
        (self.hits, self.misses)
    }

    /// Number of cached images.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_pixels_keeps_whole_bands_inside_the_block() {
        // 10×20 px cells, a 10×5 block: 100×100 px box.
        let (w, h) = fit_pixels(224, 224, 10, 5, (10, 20));
        assert_eq!(h % 6, 0);
        assert!(w <= 100 && h <= 100);
        assert_eq!((w, h), (96, 96));
        assert_eq!(fit_pixels(224, 224, 0, 5, (10, 20)), (0, 0));
        // A tall cell box limited by width.
        let (w, h) = fit_pixels(200, 100, 5, 10, (10, 20));
        assert_eq!((w, h), (48, 24));
    }

    #[test]
    fn encodes_once_and_then_hits_the_cache() {
        let img = RgbImage::from_fn(32, 32, |x, _| {
            if x < 16 {
                image::Rgb([200, 30, 30])
            } else {
                image::Rgb([30, 30, 200])
            }
        });
        let mut cache = SixelCache::with_capacity(2);
        let key = SixelKey {
            hash: "h".into(),
            cols: 4,
            rows: 2,
            cell_w: 8,
            cell_h: 16,
        };
        let a = cache.get_or_encode(key.clone(), &img).expect("encode");
        assert!(a.data.starts_with("\x1bP"), "{:?}", &a.data[..10]);
        assert!(a.data.ends_with("\x1b\\"));
        let b = cache.get_or_encode(key, &img).expect("cached");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(cache.stats(), (1, 1));
    }

    #[test]
    fn render_marks_the_block_skip() {
        let image = SixelImage {
            data: Arc::from("\x1bPq#0~-\x1b\\"),
            width: 20,
            height: 12,
            cols: 3,
            rows: 2,
        };
        let mut buf = Buffer::empty(Rect::new(0, 0, 6, 4));
        image.render(1, 1, &mut buf);
        assert_eq!(
            buf[(1, 1)].diff_option,
            CellDiffOption::ForcedWidth(NonZeroU16::new(3).expect("3"))
        );
        assert_eq!(buf[(2, 2)].diff_option, CellDiffOption::Skip);
        assert_eq!(buf[(4, 1)].diff_option, CellDiffOption::None);
        // Does not fit: nothing drawn.
        let mut buf = Buffer::empty(Rect::new(0, 0, 6, 4));
        image.render(5, 3, &mut buf);
        assert_eq!(buf[(5, 3)].diff_option, CellDiffOption::None);
    }
}
