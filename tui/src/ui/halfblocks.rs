//! The text-cell image fallback: each cell shows two vertical pixels with `▀`, the upper
//! one as the foreground colour and the lower one as the background. Works in every
//! terminal with 24-bit colour (and in tmux/screen), at the cost of resolution.

use image::RgbImage;
use image::imageops::{self, FilterType};
use ratatui::buffer::Buffer;
use ratatui::style::Color;

/// An image resampled to a block of cells, ready to draw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HalfblockImage {
    /// Width in cells.
    pub cols: u16,
    /// Height in cells (two pixels each).
    pub rows: u16,
    /// `cols × 2·rows` RGB pixels, row-major.
    pixels: Vec<[u8; 3]>,
}

/// The largest `(cols, rows)` within `max_cols × max_rows` that shows an image of
/// `img_w × img_h` pixels undistorted, for cells `cell_aspect` times as tall as wide
/// (about 2 in most fonts). Never 0 in either direction when the box is not empty.
pub fn fit(img_w: u32, img_h: u32, max_cols: u16, max_rows: u16, cell_aspect: f64) -> (u16, u16) {
    if max_cols == 0 || max_rows == 0 || img_w == 0 || img_h == 0 {
        return (0, 0);
    }
    let ratio = f64::from(img_h) / f64::from(img_w);
    let aspect = if cell_aspect.is_finite() && cell_aspect > 0.0 {
        cell_aspect
    } else {
        2.0
    };
    let rows_for_width = (f64::from(max_cols) * ratio / aspect).round();
    if rows_for_width <= f64::from(max_rows) {
        return (max_cols, (rows_for_width as u16).max(1));
    }
    let cols = (f64::from(max_rows) * aspect / ratio).round() as u16;
    (cols.clamp(1, max_cols), max_rows)
}

/// Resamples `img` to `cols × rows` cells (`cols × 2·rows` pixels).
pub fn encode(img: &RgbImage, cols: u16, rows: u16) -> HalfblockImage {
    let (w, h) = (u32::from(cols.max(1)), u32::from(rows.max(1)) * 2);
    let small = imageops::resize(img, w, h, FilterType::Triangle);
    let pixels = small.pixels().map(|p| p.0).collect();
    HalfblockImage {
        cols: cols.max(1),
        rows: rows.max(1),
        pixels,
    }
}

impl HalfblockImage {
    fn pixel(&self, x: u16, y: u16) -> [u8; 3] {
        let i = usize::from(y) * usize::from(self.cols) + usize::from(x);
        self.pixels.get(i).copied().unwrap_or([0, 0, 0])
    }

    /// Draws the image with its top-left cell at `(x, y)`, clipped to the buffer.
    pub fn render(&self, x: u16, y: u16, buf: &mut Buffer) {
        let area = buf.area;
        for row in 0..self.rows {
            for col in 0..self.cols {
                let Some(cell) = buf.cell_mut((x.saturating_add(col), y.saturating_add(row)))
                else {
                    continue;
                };
                if !area.contains((x + col, y + row).into()) {
                    continue;
                }
                let [r1, g1, b1] = self.pixel(col, row * 2);
                let [r2, g2, b2] = self.pixel(col, row * 2 + 1);
                cell.set_symbol("▀")
                    .set_fg(Color::Rgb(r1, g1, b1))
                    .set_bg(Color::Rgb(r2, g2, b2));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::layout::Rect;

    #[test]
    fn fit_keeps_the_aspect_ratio() {
        // A square image in a wide box: limited by height.
        assert_eq!(fit(224, 224, 40, 10, 2.0), (20, 10));
        // In a narrow box: limited by width.
        assert_eq!(fit(224, 224, 14, 20, 2.0), (14, 7));
        // A wide image.
        assert_eq!(fit(448, 224, 20, 20, 2.0), (20, 5));
        assert_eq!(fit(224, 224, 0, 5, 2.0), (0, 0));
        assert_eq!(fit(224, 224, 1, 1, 2.0), (1, 1));
    }

    #[test]
    fn each_cell_carries_two_pixels() {
        let mut img = RgbImage::new(2, 4);
        for (x, y, p) in img.enumerate_pixels_mut() {
            *p = if y < 2 {
                image::Rgb([255, 0, 0])
            } else {
                image::Rgb([0, 0, 255])
            };
            let _ = x;
        }
        let hb = encode(&img, 2, 1);
        let mut buf = Buffer::empty(Rect::new(0, 0, 4, 2));
        hb.render(1, 1, &mut buf);
        let cell = &buf[(1, 1)];
        assert_eq!(cell.symbol(), "▀");
        assert!(matches!(cell.fg, Color::Rgb(r, _, b) if r > 200 && b < 60));
        assert!(matches!(cell.bg, Color::Rgb(r, _, b) if r < 60 && b > 200));
        // Clipped at the right edge without panicking.
        hb.render(3, 1, &mut buf);
    }
}
