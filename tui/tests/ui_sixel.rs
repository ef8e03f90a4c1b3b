//! Sixel output checked by an independent decoder: what maia writes is decoded with
//! libsixel's `sixel2png` (Debian `libsixel-bin`, installed by scripts/install-deps.sh)
//! and compared pixel by pixel with the source, allowing for palette quantization.
//! Plus what reaches the terminal: one DCS per image, none on an unchanged redraw, and
//! none at all in half-block mode.

use crate::support::ui::{app_with, sample_dir, sample_records};
use image::RgbImage;
use maia_tui::ui::detect::Resolved;
use maia_tui::ui::render;
use maia_tui::ui::sixel::{SixelCache, SixelKey, encode_fitted, encode_rgb};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

/// A 224×224 image from the sample run (a text2image scene).
fn sample_image() -> RgbImage {
    let records = sample_records();
    let hash = records
        .iter()
        .find_map(|r| match &r.event {
            maia_core::agent::Event::ToolFinished { name, images, .. }
                if name == "text2image" && !images.is_empty() =>
            {
                Some(images[0].hash.clone())
            }
            _ => None,
        })
        .expect("a text2image result in the sample");
    image::open(sample_dir().join("images").join(format!("{hash}.png")))
        .expect("sample PNG")
        .to_rgb8()
}

/// Decodes sixel data with `sixel2png`.
fn decode_with_sixel2png(data: &str, dir: &Path) -> RgbImage {
    let six = dir.join("out.six");
    let png = dir.join("out.png");
    std::fs::write(&six, data).expect("write sixel");
    let status = Command::new("sixel2png")
        .arg("-i")
        .arg(&six)
        .arg("-o")
        .arg(&png)
        .status()
        .unwrap_or_else(|e| {
            panic!("sixel2png could not run ({e}); install it with scripts/install-deps.sh (Debian package libsixel-bin)")
        });
    assert!(status.success(), "sixel2png failed on maia's output");
    image::open(&png).expect("decoded PNG").to_rgb8()
}

/// Mean absolute channel difference and the share of pixels within `tol` per channel.
fn compare(a: &RgbImage, b: &RgbImage, tol: u8) -> (f64, f64) {
    assert_eq!(a.dimensions(), b.dimensions(), "decoded size differs");
    let mut sum = 0u64;
    let mut close = 0u64;
    for (p, q) in a.pixels().zip(b.pixels()) {
        let d: Vec<u8> = (0..3).map(|c| p.0[c].abs_diff(q.0[c])).collect();
        sum += d.iter().map(|&x| u64::from(x)).sum::<u64>();
        if d.iter().all(|&x| x <= tol) {
            close += 1;
        }
    }
    let n = u64::from(a.width()) * u64::from(a.height());
    (sum as f64 / (n * 3) as f64, close as f64 / n as f64)
}

#[test]
fn sixel2png_decodes_what_we_encode() {
    let source = sample_image();
    assert_eq!(source.dimensions(), (224, 224));
    let data = encode_rgb(&source).expect("encode");
    assert!(data.starts_with("\x1bP"), "a DCS sequence");
    assert!(data.ends_with("\x1b\\"), "ends with ST");
    let dir = tempfile::tempdir().expect("tempdir");
    let decoded = decode_with_sixel2png(&data, dir.path());
    let (mean, close) = compare(&source, &decoded, 24);
    assert!(mean < 4.0, "mean channel error {mean:.2}");
    assert!(
        close > 0.97,
        "only {:.1}% of pixels within tolerance",
        close * 100.0
    );
}

#[test]
fn fitted_images_decode_at_their_fitted_size() {
    let source = sample_image();
    // 9×18-pixel cells, a 14×7-cell block: 126×126 px box, height rounded to bands of 6.
    let fitted = encode_fitted(&source, 14, 7, (9, 18)).expect("encode");
    assert_eq!((fitted.width, fitted.height), (126, 126));
    assert_eq!((fitted.cols, fitted.rows), (14, 7));
    let dir = tempfile::tempdir().expect("tempdir");
    let decoded = decode_with_sixel2png(&fitted.data, dir.path());
    let expected =
        image::imageops::resize(&source, 126, 126, image::imageops::FilterType::Triangle);
    let (mean, close) = compare(&expected, &decoded, 32);
    assert!(mean < 6.0, "mean channel error {mean:.2}");
    assert!(
        close > 0.95,
        "only {:.1}% of pixels within tolerance",
        close * 100.0
    );
}

#[test]
fn the_cache_encodes_once_per_size() {
    let source = sample_image();
    let mut cache = SixelCache::default();
    let key = |cols| SixelKey {
        hash: "h".into(),
        cols,
        rows: 7,
        cell_w: 9,
        cell_h: 18,
    };
    let a = cache.get_or_encode(key(14), &source).expect("encode");
    let b = cache.get_or_encode(key(14), &source).expect("hit");
    assert!(Arc::ptr_eq(&a, &b));
    let c = cache.get_or_encode(key(10), &source).expect("another size");
    assert!(!Arc::ptr_eq(&a, &c));
    assert_eq!(cache.stats(), (1, 2));
    assert_eq!(cache.len(), 2);
}

/// A writer the test can read back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn take(&self) -> String {
        String::from_utf8_lossy(&std::mem::take(&mut *self.0.lock().expect("lock"))).into_owned()
    }
}

/// Draws the sample run through the real crossterm backend into memory.
fn frames(mode: Resolved) -> (String, String) {
    let out = Captured::default();
    let backend = CrosstermBackend::new(out.clone());
    let mut terminal = Terminal::with_options(
        backend,
        ratatui::TerminalOptions {
            viewport: ratatui::Viewport::Fixed(ratatui::layout::Rect::new(0, 0, 120, 40)),
        },
    )
    .expect("terminal");
    let mut app = app_with(&sample_records(), mode);
    terminal
        .draw(|f| {
            render::draw(f, &mut app);
        })
        .expect("draw");
    app.images.resolve_now();
    out.take();
    terminal
        .draw(|f| {
            render::draw(f, &mut app);
        })
        .expect("draw");
    let first = out.take();
    terminal
        .draw(|f| {
            render::draw(f, &mut app);
        })
        .expect("draw");
    (first, out.take())
}

#[test]
fn sixels_are_sent_once_and_not_on_unchanged_redraws() {
    let (first, second) = frames(Resolved::Sixel { cell: (9, 18) });
    let shown = first.matches("\x1bP").count();
    assert!(
        shown >= 2,
        "expected the latest images as sixel, got {shown}"
    );
    assert_eq!(
        second.matches("\x1bP").count(),
        0,
        "an unchanged frame re-sent images"
    );
}

#[test]
fn halfblock_mode_writes_no_sixel_or_other_dcs() {
    let (first, _) = frames(Resolved::Halfblocks);
    assert!(first.contains('▀'));
    assert!(!first.contains("\x1bP"), "a DCS in half-block mode");
    assert!(!first.contains("\x1b_"), "an APC in half-block mode");
    assert!(!first.contains("\x1b]"), "an OSC in half-block mode");
}
