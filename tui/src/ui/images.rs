//! The image pane: the run's gallery as a grid (each image with its id, the unit's
//! activation and its caption), following the latest tool call's images, scrollable back
//! through the whole run. Pixels come from [`ImageStore`], which decodes `images/<hash>.png`
//! and prepares half-block or sixel versions off the UI thread, caching each per
//! (hash, block size) so a frame never decodes or encodes.

use super::detect::Resolved;
use super::halfblocks::{self, HalfblockImage};
use super::sixel::{SixelCache, SixelImage, SixelKey, encode_fitted};
use super::state::RunView;
use super::wrap::truncate;
use image::RgbImage;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Decoded source images kept in memory (224×224 RGB is about 150 KB).
const DECODED_ENTRIES: usize = 64;
/// Half-block renditions kept.
const HALFBLOCK_ENTRIES: usize = 512;
/// Cell height over width assumed for half blocks.
const HALFBLOCK_ASPECT: f64 = 2.0;

/// The block an image is prepared for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// Half blocks fitted into `cols × rows` cells.
    Half {
        /// Width in cells.
        cols: u16,
        /// Height in cells.
        rows: u16,
    },
    /// Sixel fitted into `cols × rows` cells of `cell` pixels.
    Sixel {
        /// Width in cells.
        cols: u16,
        /// Height in cells.
        rows: u16,
        /// Cell size in pixels.
        cell: (u16, u16),
    },
}

/// An image ready to draw.
#[derive(Clone, Debug)]
pub enum Prepared {
    /// Half-block cells.
    Half(Arc<HalfblockImage>),
    /// A sixel sequence.
    Sixel(Arc<SixelImage>),
}

/// The state of an image for a target.
#[derive(Clone, Debug)]
pub enum Lookup {
    /// Ready to draw.
    Ready(Prepared),
    /// Being prepared (a job is queued or running).
    Loading,
    /// It cannot be shown (missing file, bad PNG, encoder error).
    Failed(String),
}

/// Work for a blocking thread: decode (unless `decoded` is given) and prepare.
#[derive(Clone, Debug)]
pub struct Job {
    /// Image hash.
    pub hash: String,
    /// `images/<hash>.png`.
    pub path: PathBuf,
    /// What to prepare.
    pub target: Target,
    /// The decoded image, when already in memory.
    pub decoded: Option<Arc<RgbImage>>,
}

/// A finished [`Job`].
#[derive(Clone, Debug)]
pub struct Done {
    hash: String,
    target: Target,
    decoded: Option<Arc<RgbImage>>,
    result: Result<Prepared, String>,
}

/// Decoded images and their prepared renditions, plus the queue of work to do.
#[derive(Debug)]
pub struct ImageStore {
    dir: PathBuf,
    decoded: HashMap<String, Arc<RgbImage>>,
    decoded_order: VecDeque<String>,
    half: HashMap<(String, u16, u16), Arc<HalfblockImage>>,
    half_order: VecDeque<(String, u16, u16)>,
    sixel: SixelCache,
    failed: HashMap<(String, Target), String>,
    pending: HashSet<(String, Target)>,
    queue: Vec<Job>,
}

impl ImageStore {
    /// A store reading `dir/<hash>.png` (a run's `images/` folder).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ImageStore {
            dir: dir.into(),
            decoded: HashMap::new(),
            decoded_order: VecDeque::new(),
            half: HashMap::new(),
            half_order: VecDeque::new(),
            sixel: SixelCache::default(),
            failed: HashMap::new(),
            pending: HashSet::new(),
            queue: Vec::new(),
        }
    }

    /// The folder images are read from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The sixel cache (for its hit/miss counts).
    pub fn sixel_cache(&self) -> &SixelCache {
        &self.sixel
    }

    /// The image `hash` prepared for `target`, queueing the work on a miss.
    pub fn lookup(&mut self, hash: &str, target: Target) -> Lookup {
        let cached = match target {
            Target::Half { cols, rows } => self
                .half
                .get(&(hash.to_string(), cols, rows))
                .cloned()
                .map(Prepared::Half),
            Target::Sixel { cols, rows, cell } => self
                .sixel
                .get(&SixelKey {
                    hash: hash.to_string(),
                    cols,
                    rows,
                    cell_w: cell.0,
                    cell_h: cell.1,
                })
                .map(Prepared::Sixel),
        };
        if let Some(p) = cached {
            return Lookup::Ready(p);
        }
        let key = (hash.to_string(), target);
        if let Some(reason) = self.failed.get(&key) {
            return Lookup::Failed(reason.clone());
        }
        if self.pending.insert(key) {
            self.queue.push(Job {
                hash: hash.to_string(),
                path: self.dir.join(format!("{hash}.png")),
                target,
                decoded: self.decoded.get(hash).cloned(),
            });
        }
        Lookup::Loading
    }

    /// The queued jobs (each is handed out once).
    pub fn take_jobs(&mut self) -> Vec<Job> {
        std::mem::take(&mut self.queue)
    }

    /// Whether any job is queued or running.
    pub fn busy(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Stores a finished job's result.
    pub fn finish(&mut self, done: Done) {
        let key = (done.hash.clone(), done.target);
        self.pending.remove(&key);
        if let Some(img) = done.decoded
            && !self.decoded.contains_key(&done.hash)
        {
            self.decoded.insert(done.hash.clone(), img);
            self.decoded_order.push_back(done.hash.clone());
            while self.decoded_order.len() > DECODED_ENTRIES {
                if let Some(old) = self.decoded_order.pop_front() {
                    self.decoded.remove(&old);
                }
            }
        }
        match (done.result, done.target) {
            (Ok(Prepared::Half(hb)), Target::Half { cols, rows }) => {
                let k = (done.hash, cols, rows);
                if self.half.insert(k.clone(), hb).is_none() {
                    self.half_order.push_back(k);
                }
                while self.half_order.len() > HALFBLOCK_ENTRIES {
                    if let Some(old) = self.half_order.pop_front() {
                        self.half.remove(&old);
                    }
                }
            }
            (Ok(Prepared::Sixel(s)), Target::Sixel { cols, rows, cell }) => {
                self.sixel.insert(
                    SixelKey {
                        hash: done.hash,
                        cols,
                        rows,
                        cell_w: cell.0,
                        cell_h: cell.1,
                    },
                    s,
                );
            }
            (Ok(_), _) => {}
            (Err(reason), _) => {
                self.failed.insert(key, reason);
            }
        }
    }

    /// Runs every queued job on this thread (tests, benchmarks, tools without a runtime).
    pub fn resolve_now(&mut self) {
        for job in self.take_jobs() {
            let done = run_job(job);
            self.finish(done);
        }
    }
}

/// Decodes and prepares one image; meant for a blocking thread.
pub fn run_job(job: Job) -> Done {
    let decoded = match job.decoded.clone() {
        Some(img) => Ok(img),
        None => decode(&job.path).map(Arc::new),
    };
    let (decoded, result) = match decoded {
        Err(e) => (None, Err(e)),
        Ok(img) => {
            let result = prepare(&img, job.target);
            (Some(img), result)
        }
    };
    Done {
        hash: job.hash,
        target: job.target,
        decoded,
        result,
    }
}

fn decode(path: &Path) -> Result<RgbImage, String> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "missing".to_string(),
        _ => format!("unreadable: {e}"),
    })?;
    image::load_from_memory(&bytes)
        .map(|i| i.to_rgb8())
        .map_err(|e| format!("bad image: {e}"))
}

fn prepare(img: &RgbImage, target: Target) -> Result<Prepared, String> {
    match target {
        Target::Half { cols, rows } => {
            let (c, r) = halfblocks::fit(img.width(), img.height(), cols, rows, HALFBLOCK_ASPECT);
            if c == 0 || r == 0 {
                return Err("no room".into());
            }
            Ok(Prepared::Half(Arc::new(halfblocks::encode(img, c, r))))
        }
        Target::Sixel { cols, rows, cell } => encode_fitted(img, cols, rows, cell)
            .map(|s| Prepared::Sixel(Arc::new(s)))
            .map_err(|e| e.to_string()),
    }
}

/// Where the gallery window is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GalleryScroll {
    /// Show the latest tool call's images.
    Follow,
    /// Show images from this gallery index on.
    At(usize),
}

/// Scroll state of the image pane.
#[derive(Clone, Debug)]
pub struct GalleryView {
    /// Where the window is.
    pub scroll: GalleryScroll,
    capacity: usize,
    cols: usize,
}

impl Default for GalleryView {
    fn default() -> Self {
        GalleryView {
            scroll: GalleryScroll::Follow,
            capacity: 4,
            cols: 2,
        }
    }
}

/// An image drawn as sixel in the last frame: where, and which.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Cells covered.
    pub rect: Rect,
    /// Image hash.
    pub hash: String,
}

/// The grid the pane is cut into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grid {
    /// Images per row.
    pub cols: u16,
    /// Rows of images.
    pub rows: u16,
    /// Width of one grid cell.
    pub cell_w: u16,
    /// Height of one grid cell (image + two text lines).
    pub cell_h: u16,
    /// Image block width.
    pub img_cols: u16,
    /// Image block height (0 in list mode).
    pub img_rows: u16,
}

impl Grid {
    /// Images shown at once.
    pub fn capacity(&self) -> usize {
        usize::from(self.cols) * usize::from(self.rows)
    }
}

/// Cuts the pane's inner area into a grid for `mode`.
pub fn grid(inner: Rect, mode: Resolved) -> Grid {
    let aspect = match mode {
        Resolved::Sixel { cell } if cell.0 > 0 => f64::from(cell.1) / f64::from(cell.0),
        _ => HALFBLOCK_ASPECT,
    };
    if matches!(mode, Resolved::None) || inner.width < 4 || inner.height < 3 {
        return Grid {
            cols: 1,
            rows: inner.height,
            cell_w: inner.width,
            cell_h: 1,
            img_cols: 0,
            img_rows: 0,
        };
    }
    let cols = ((inner.width + 4) / 17).max(1);
    let cell_w = inner.width / cols;
    let img_cols = cell_w.saturating_sub(1).max(2);
    let mut img_rows = ((f64::from(img_cols) / aspect).round() as u16).max(1);
    let mut rows = inner.height / (img_rows + 2);
    let mut img_cols = img_cols;
    if rows == 0 {
        img_rows = inner.height.saturating_sub(2).max(1);
        img_cols = ((f64::from(img_rows) * aspect).round() as u16).clamp(2, img_cols);
        rows = 1;
    }
    Grid {
        cols,
        rows,
        cell_w,
        cell_h: img_rows + 2,
        img_cols,
        img_rows,
    }
}

impl GalleryView {
    /// First gallery index shown.
    pub fn start(&self, view: &RunView) -> usize {
        match self.scroll {
            GalleryScroll::Follow => view.sheets.last().map_or(0, |s| s.start),
            GalleryScroll::At(i) => i.min(view.gallery.len().saturating_sub(1)),
        }
    }

    /// Moves the window by `delta` images; moving past the latest sheet follows again.
    pub fn move_by(&mut self, view: &RunView, delta: isize) {
        let follow_start = view.sheets.last().map_or(0, |s| s.start);
        let start = self.start(view) as isize + delta;
        self.scroll = if start >= follow_start as isize {
            GalleryScroll::Follow
        } else {
            GalleryScroll::At(start.max(0) as usize)
        };
    }

    /// Moves by whole screens of images.
    pub fn page(&mut self, view: &RunView, pages: isize) {
        self.move_by(view, pages * self.capacity.max(1) as isize);
    }

    /// Moves by grid rows (mouse wheel).
    pub fn rows(&mut self, view: &RunView, rows: isize) {
        self.move_by(view, rows * self.cols.max(1) as isize);
    }

    /// Draws the pane's contents into `inner`; returns the sixel placements drawn.
    pub fn render(
        &mut self,
        view: &RunView,
        store: &mut ImageStore,
        mode: Resolved,
        inner: Rect,
        buf: &mut Buffer,
    ) -> Vec<Placement> {
        let g = grid(inner, mode);
        self.capacity = g.capacity().max(1);
        self.cols = usize::from(g.cols);
        let mut placements = Vec::new();
        if view.gallery.is_empty() {
            if inner.height > 0 {
                let y = inner.y + inner.height / 2;
                let text = truncate("no images yet", usize::from(inner.width));
                let x = inner.x + inner.width.saturating_sub(text.chars().count() as u16) / 2;
                buf.set_string(x, y, text, Style::default().fg(Color::DarkGray));
            }
            return placements;
        }
        let start = self.start(view);
        let shown = view
            .gallery
            .iter()
            .enumerate()
            .skip(start)
            .take(g.capacity());
        for (slot, (_, image)) in shown.enumerate() {
            let slot = slot as u16;
            let cx = inner.x + (slot % g.cols) * g.cell_w;
            let cy = inner.y + (slot / g.cols) * g.cell_h;
            let text_w = usize::from(g.cell_w.saturating_sub(1).max(1));
            if g.img_rows == 0 {
                // List mode: one line per image.
                let act = image
                    .activation
                    .map_or(String::new(), |a| format!(" {a:.2}"));
                let line = Line::from(vec![
                    Span::styled(
                        image.id.clone(),
                        Style::default().add_modifier(Modifier::BOLD),
                    ),
                    Span::styled(act, Style::default().fg(Color::Yellow)),
                    Span::raw(" "),
                    Span::styled(image.caption.clone(), Style::default().fg(Color::Gray)),
                ]);
                buf.set_line(cx, cy, &line, g.cell_w);
                continue;
            }
            let target = match mode {
                Resolved::Sixel { cell } => Target::Sixel {
                    cols: g.img_cols,
                    rows: g.img_rows,
                    cell,
                },
                _ => Target::Half {
                    cols: g.img_cols,
                    rows: g.img_rows,
                },
            };
            match store.lookup(&image.hash, target) {
                Lookup::Ready(Prepared::Half(hb)) => {
                    let x = cx + g.img_cols.saturating_sub(hb.cols) / 2;
                    let y = cy + g.img_rows.saturating_sub(hb.rows) / 2;
                    hb.render(x, y, buf);
                }
                Lookup::Ready(Prepared::Sixel(s)) => {
                    let x = cx + g.img_cols.saturating_sub(s.cols) / 2;
                    let y = cy + g.img_rows.saturating_sub(s.rows) / 2;
                    s.render(x, y, buf);
                    placements.push(Placement {
                        rect: Rect::new(x, y, s.cols, s.rows),
                        hash: image.hash.clone(),
                    });
                }
                Lookup::Loading => {
                    let text = truncate("loading…", usize::from(g.img_cols));
                    buf.set_string(
                        cx,
                        cy + g.img_rows / 2,
                        text,
                        Style::default().fg(Color::DarkGray),
                    );
                }
                Lookup::Failed(reason) => {
                    let text = truncate(&format!("✗ {reason}"), usize::from(g.img_cols));
                    buf.set_string(
                        cx,
                        cy + g.img_rows / 2,
                        text,
                        Style::default().fg(Color::Red),
                    );
                }
            }
            let act = image
                .activation
                .map_or(String::new(), |a| format!(" {a:.2}"));
            let label = Line::from(vec![
                Span::styled(
                    image.id.clone(),
                    Style::default().add_modifier(Modifier::BOLD),
                ),
                Span::styled(act, Style::default().fg(Color::Yellow)),
            ]);
            buf.set_line(cx, cy + g.img_rows, &label, text_w as u16);
            buf.set_string(
                cx,
                cy + g.img_rows + 1,
                truncate(&image.caption, text_w),
                Style::default().fg(Color::Gray),
            );
        }
        placements
    }

    /// The pane title: which images are shown and which call made them.
    pub fn title(&self, view: &RunView) -> String {
        if view.gallery.is_empty() {
            return " images ".to_string();
        }
        let start = self.start(view);
        let end = (start + self.capacity).min(view.gallery.len());
        let sheet = view
            .gallery
            .get(start)
            .and_then(|i| view.sheets.get(i.sheet));
        let from = sheet.map_or(String::new(), |s| format!(" · r{} {}", s.round, s.tool));
        let mark = if self.scroll == GalleryScroll::Follow {
            ""
        } else {
            " · ]: latest"
        };
        format!(
            " images {}–{} of {}{from}{mark} ",
            start + 1,
            end,
            view.gallery.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_fits_80x24_and_200x60_panes() {
        // 80×24: a 32-column pane (30 inner), 21 inner rows.
        let g = grid(Rect::new(0, 0, 30, 21), Resolved::Halfblocks);
        assert_eq!((g.cols, g.rows, g.img_cols, g.img_rows), (2, 2, 14, 7));
        // 200×60: an 80-column pane.
        let g = grid(Rect::new(0, 0, 78, 57), Resolved::Halfblocks);
        assert_eq!((g.cols, g.rows, g.img_cols, g.img_rows), (4, 5, 18, 9));
        // Very short pane: the image shrinks to fit.
        let g = grid(Rect::new(0, 0, 30, 5), Resolved::Halfblocks);
        assert_eq!((g.rows, g.img_rows), (1, 3));
        assert!(g.img_cols <= 14);
        let g = grid(Rect::new(0, 0, 30, 10), Resolved::None);
        assert_eq!(g.capacity(), 10);
    }

    #[test]
    fn missing_files_fail_without_panicking() {
        let mut store = ImageStore::new("/nonexistent/images");
        let target = Target::Half { cols: 4, rows: 2 };
        assert!(matches!(store.lookup("abc", target), Lookup::Loading));
        assert_eq!(store.take_jobs().len(), 1);
        // A second lookup while pending does not queue twice.
        assert!(matches!(store.lookup("abc", target), Lookup::Loading));
        assert!(store.take_jobs().is_empty());
        store.queue.push(Job {
            hash: "abc".into(),
            path: PathBuf::from("/nonexistent/images/abc.png"),
            target,
            decoded: None,
        });
        store.resolve_now();
        assert!(matches!(store.lookup("abc", target), Lookup::Failed(r) if r == "missing"));
    }
}
