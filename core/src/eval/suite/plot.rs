//! `scores.png`: mean predictive correlation per unit kind, the three methods side by
//! side as bars with their 95 % intervals as whiskers (plotters, bitmap backend).
//!
//! Text is drawn with the first TrueType font found on the system (`MAIA_PLOT_FONT`, then
//! DejaVu Sans or Liberation Sans where Debian, Fedora and Arch put them); where there is
//! none the same plot is drawn without text — bars, whiskers, axis ticks and legend
//! swatches in the same places — and `summary.md` carries the numbers.

use super::Method;
use super::summary::KindSummary;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Size of the plot in pixels.
pub const SIZE: (u32, u32) = (960, 540);

/// Fonts tried, in order, after `MAIA_PLOT_FONT`.
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
];

/// Why the plot could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// Drawing failed.
    #[error("drawing the plot: {0}")]
    Draw(String),
    /// Encoding or writing the PNG failed.
    #[error("writing {}: {message}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

fn draw_err<E: std::fmt::Debug>(e: E) -> PlotError {
    PlotError::Draw(format!("{e:?}"))
}

/// Whether a font is registered for text: found and registered once per process.
fn has_font() -> bool {
    static FONT: OnceLock<bool> = OnceLock::new();
    *FONT.get_or_init(|| {
        let candidates = std::env::var_os("MAIA_PLOT_FONT")
            .map(PathBuf::from)
            .into_iter()
            .chain(FONT_PATHS.iter().map(PathBuf::from));
        for path in candidates {
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            // Registered fonts live as long as the process: leaked once, on purpose.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                return true;
            }
        }
        false
    })
}

/// Method colors: the agent blue, the baseline orange, the control gray.
fn color(method: Method) -> RGBColor {
    match method {
        Method::Agent => RGBColor(31, 119, 180),
        Method::Baseline => RGBColor(255, 127, 14),
        Method::Control => RGBColor(140, 140, 140),
    }
}

/// Draws the plot of `kinds` into an RGB buffer of [`SIZE`]; `title` goes on top.
pub fn render(kinds: &[KindSummary], title: &str) -> Result<Vec<u8>, PlotError> {
    let (w, h) = SIZE;
    let mut buf = vec![0u8; (w * h * 3) as usize];
    let text = has_font();
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let (left, right, top, bottom) = (80i32, 24i32, 64i32, 72i32);
        let (x0, x1, y0, y1) = (left, w as i32 - right, top, h as i32 - bottom);
        // The value range: at least 0..1, widened to every interval, in steps of 0.2.
        let mut lo = 0.0f64;
        let mut hi = 1.0f64;
        for k in kinds {
            for m in &k.methods {
                if let Some(p) = &m.summary.pearson {
                    lo = lo.min(p.lo).min(p.mean);
                    hi = hi.max(p.hi).max(p.mean);
                }
            }
        }
        // Correlations live in [-1, 1]: intervals reaching past it are drawn to its edge.
        let lo = ((lo.max(-1.0) / 0.2).floor() * 0.2).min(0.0);
        let hi = ((hi.min(1.0) / 0.2).ceil() * 0.2).max(lo + 0.2);
        let y_of = |v: f64| -> i32 {
            let t = (v.clamp(lo, hi) - lo) / (hi - lo);
            y1 - (t * f64::from(y1 - y0)).round() as i32
        };
        let font = |size: i32| TextStyle::from(("sans-serif", size).into_font()).color(&BLACK);
        // Grid and y axis.
        let steps = ((hi - lo) / 0.2).round() as i32;
        for i in 0..=steps {
            let v = lo + f64::from(i) * 0.2;
            let y = y_of(v);
            let style = if v.abs() < 1e-9 {
                BLACK.stroke_width(2)
            } else {
                RGBColor(225, 225, 225).stroke_width(1)
            };
            root.draw(&PathElement::new(vec![(x0, y), (x1, y)], style))
                .map_err(draw_err)?;
            root.draw(&PathElement::new(vec![(x0 - 6, y), (x0, y)], BLACK))
                .map_err(draw_err)?;
            if text {
                root.draw(&Text::new(
                    format!("{v:.1}"),
                    (x0 - 10, y),
                    font(15).pos(Pos::new(HPos::Right, VPos::Center)),
                ))
                .map_err(draw_err)?;
            }
        }
        root.draw(&PathElement::new(vec![(x0, y0), (x0, y1)], BLACK))
            .map_err(draw_err)?;
        // Bars and whiskers, one group per kind.
        let groups = kinds.len().max(1) as i32;
        let group_w = (x1 - x0) / groups;
        let bar_w = (group_w * 2 / 3) / Method::ALL.len() as i32;
        for (g, k) in kinds.iter().enumerate() {
            let gx = x0 + g as i32 * group_w + (group_w - bar_w * Method::ALL.len() as i32) / 2;
            for (b, method) in Method::ALL.iter().enumerate() {
                let Some(p) = k.method(*method).and_then(|m| m.summary.pearson) else {
                    continue;
                };
                let bx = gx + b as i32 * bar_w;
                let (ya, yb) = (y_of(0.0), y_of(p.mean));
                root.draw(&Rectangle::new(
                    [(bx + 2, ya.min(yb)), (bx + bar_w - 2, ya.max(yb))],
                    color(*method).filled(),
                ))
                .map_err(draw_err)?;
                if p.n > 1 {
                    let cx = bx + bar_w / 2;
                    let (ylo, yhi) = (y_of(p.lo), y_of(p.hi));
                    let whisker = BLACK.stroke_width(2);
                    for segment in [
                        vec![(cx, ylo), (cx, yhi)],
                        vec![(cx - bar_w / 5, ylo), (cx + bar_w / 5, ylo)],
                        vec![(cx - bar_w / 5, yhi), (cx + bar_w / 5, yhi)],
                    ] {
                        root.draw(&PathElement::new(segment, whisker))
                            .map_err(draw_err)?;
                    }
                }
            }
            let cx = x0 + g as i32 * group_w + group_w / 2;
            root.draw(&PathElement::new(vec![(cx, y1), (cx, y1 + 6)], BLACK))
                .map_err(draw_err)?;
            if text {
                let live = k.units - k.dead;
                root.draw(&Text::new(
                    k.kind.clone(),
                    (cx, y1 + 10),
                    font(18).pos(Pos::new(HPos::Center, VPos::Top)),
                ))
                .map_err(draw_err)?;
                root.draw(&Text::new(
                    format!(
                        "n = {live}{}",
                        if k.dead > 0 {
                            format!(" (+{} dead)", k.dead)
                        } else {
                            String::new()
                        }
                    ),
                    (cx, y1 + 34),
                    font(14).pos(Pos::new(HPos::Center, VPos::Top)),
                ))
                .map_err(draw_err)?;
            }
        }
        // Legend, top right; title, top left.
        let mut lx = x1 - 3 * 190;
        for method in Method::ALL {
            root.draw(&Rectangle::new(
                [(lx, 30), (lx + 18, 48)],
                color(method).filled(),
            ))
            .map_err(draw_err)?;
            if text {
                root.draw(&Text::new(
                    method.title(),
                    (lx + 24, 39),
                    font(15).pos(Pos::new(HPos::Left, VPos::Center)),
                ))
                .map_err(draw_err)?;
            }
            lx += 190;
        }
        if text {
            root.draw(&Text::new(
                title.to_owned(),
                (x0, 8),
                font(17).pos(Pos::new(HPos::Left, VPos::Top)),
            ))
            .map_err(draw_err)?;
            root.draw(&Text::new(
                "mean Pearson r (95% CI)".to_owned(),
                (x0, 39),
                font(14).pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .map_err(draw_err)?;
        }
        root.present().map_err(draw_err)?;
    }
    Ok(buf)
}

/// Draws the plot and writes it as a PNG.
pub fn write(path: &Path, kinds: &[KindSummary], title: &str) -> Result<(), PlotError> {
    let rgb = render(kinds, title)?;
    let failed = |message: String| PlotError::Write {
        path: path.to_path_buf(),
        message,
    };
    let image = image::RgbImage::from_raw(SIZE.0, SIZE.1, rgb)
        .ok_or_else(|| failed("the drawing has the wrong size".into()))?;
    let tmp = path.with_extension("png.tmp");
    image
        .save_with_format(&tmp, image::ImageFormat::Png)
        .map_err(|e| failed(e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| failed(e.to_string()))
}
