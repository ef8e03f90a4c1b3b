//! The dataset generator: N seeded scenes that stand in for ImageNet exemplars.
//!
//! Diversity is by construction. The first object's shape, color and texture, the object
//! count and the background are each drawn from a seeded permutation that is re-shifted
//! every block, so every value of every attribute appears equally often within each block
//! of indices and the attributes are decorrelated. The remaining objects are random. Scene
//! `i` depends only on `(seed, i)`, so any index can be generated alone ([`scene_at`]).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde::Serialize;
use thiserror::Error;

use crate::attributes::{Color, Shape, SizeClass, Texture};
use crate::layout::{self, GroupSpec, Placement};
use crate::render::{RenderError, render_png};
use crate::rng::{SeededRng, mix};
use crate::scene::{Background, Canvas, MAX_OBJECTS, Scene};

/// Background textures cycle through this list: mostly plain, like most photo backdrops.
const BACKGROUND_TEXTURES: [Texture; 6] = [
    Texture::Solid,
    Texture::Solid,
    Texture::Solid,
    Texture::Stripes,
    Texture::Dots,
    Texture::Checker,
];

/// Why writing a dataset failed.
#[derive(Debug, Error)]
pub enum DatasetError {
    /// A file or directory could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A scene could not be rendered.
    #[error("cannot render scene {index}: {source}")]
    Render {
        /// The scene index.
        index: usize,
        /// The cause.
        source: RenderError,
    },
}

/// `n` scenes from `seed`, as `(index, scene)` pairs, on the default 224×224 canvas.
pub fn generate(n: usize, seed: u64) -> impl Iterator<Item = (usize, Scene)> {
    (0..n).map(move |index| (index, scene_at(index, seed)))
}

/// Scene number `index` of the dataset with `seed` (224×224).
pub fn scene_at(index: usize, seed: u64) -> Scene {
    scene_at_on(index, seed, Canvas::default())
}

/// Picks `values[k]` so that each block of `values.len()` consecutive indices uses every
/// value once, in a seeded order that changes from block to block.
fn balanced<T: Copy>(values: &[T], index: usize, seed: u64, attribute: u64) -> Option<T> {
    let len = values.len();
    if len == 0 {
        return None;
    }
    let block = (index / len) as u64;
    let mut order: Vec<usize> = (0..len).collect();
    SeededRng::new(mix(seed, attribute), block).shuffle(&mut order);
    order.get(index % len).and_then(|&k| values.get(k)).copied()
}

/// Scene number `index` of the dataset with `seed`, on any canvas.
pub fn scene_at_on(index: usize, seed: u64, canvas: Canvas) -> Scene {
    let shape = balanced(&Shape::ALL, index, seed, 1).unwrap_or(Shape::Circle);
    let color = balanced(&Color::ALL, index, seed, 2).unwrap_or(Color::Red);
    let texture = balanced(&Texture::ALL, index, seed, 3).unwrap_or(Texture::Solid);
    let counts: Vec<usize> = (1..=MAX_OBJECTS).collect();
    let count = balanced(&counts, index, seed, 4).unwrap_or(1);
    let bg_texture = balanced(&BACKGROUND_TEXTURES, index, seed, 5).unwrap_or(Texture::Solid);
    let mut bg_color = balanced(&Color::ALL, index, seed, 6).unwrap_or(Color::White);
    if bg_color == color {
        // Keep the balanced object visible: shift the background to the next color.
        let at = Color::ALL.iter().position(|&c| c == bg_color).unwrap_or(0);
        bg_color = Color::ALL[(at + 1) % Color::ALL.len()];
    }
    let background = Background {
        color: bg_color,
        texture: bg_texture,
    };

    let mut rng = SeededRng::new(seed, mix(index as u64, 7));
    let first_size = SizeClass::ALL[rng.below(SizeClass::ALL.len())];
    let mut groups = vec![GroupSpec {
        shape,
        count: 1,
        color: Some(color),
        texture: Some(texture),
        size: Some(first_size),
        placement: Placement::default(),
    }];
    for _ in 1..count {
        let mut other_color = Color::ALL[rng.below(Color::ALL.len())];
        if other_color == bg_color {
            other_color = color;
        }
        // Solid is more common for the extra objects, so textures stay a distinct cue.
        let other_texture = if rng.unit() < 0.5 {
            Texture::Solid
        } else {
            Texture::ALL[rng.below(Texture::ALL.len())]
        };
        groups.push(GroupSpec {
            shape: Shape::ALL[rng.below(Shape::ALL.len())],
            count: 1,
            color: Some(other_color),
            texture: Some(other_texture),
            size: Some(SizeClass::ALL[rng.below(SizeClass::ALL.len())]),
            placement: Placement::default(),
        });
    }
    // Shuffle drawing order so the balanced object is not always at the back.
    rng.shuffle(&mut groups);
    let objects = layout::place(&groups, background, canvas, &[], mix(seed, index as u64));
    Scene {
        width: canvas.width,
        height: canvas.height,
        background,
        objects,
    }
}

/// The index file of a dataset folder: one `{index, file, scene}` per line. Its presence
/// marks a finished shapes-world dataset.
pub const SCENE_INDEX: &str = "scenes.jsonl";

/// What [`write_dataset`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetSummary {
    /// The directory.
    pub dir: PathBuf,
    /// Images written.
    pub images: usize,
    /// The index file (`scenes.jsonl`).
    pub index: PathBuf,
}

#[derive(Serialize)]
struct IndexLine<'a> {
    index: usize,
    file: &'a str,
    scene: &'a Scene,
}

/// Writes `n` PNGs (`00000.png`, …) and `scenes.jsonl` (one `{index, file, scene}` per
/// line) into `dir`, creating it if needed.
pub fn write_dataset(dir: &Path, n: usize, seed: u64) -> Result<DatasetSummary, DatasetError> {
    write_dataset_with(dir, n, seed, 1, &mut |_, _| {})
}

/// [`write_dataset`] on `threads` rendering threads, calling `progress(done, n)` as images
/// are written (from the calling thread, at most every few milliseconds). The output is
/// byte-identical whatever the thread count.
pub fn write_dataset_with(
    dir: &Path,
    n: usize,
    seed: u64,
    threads: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<DatasetSummary, DatasetError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DatasetError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let threads = threads.clamp(1, 64);
    let done = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let render_share = |worker: usize| -> Result<(), DatasetError> {
        for index in (worker..n).step_by(threads) {
            if failed.load(Ordering::Relaxed) {
                return Ok(());
            }
            let png = render_png(&scene_at(index, seed))
                .map_err(|source| DatasetError::Render { index, source })?;
            let path = dir.join(format!("{index:05}.png"));
            std::fs::write(&path, png).map_err(io(&path))?;
            done.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    };
    let results: Vec<Result<(), DatasetError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|worker| {
                let render_share = &render_share;
                let failed = &failed;
                scope.spawn(move || {
                    let result = render_share(worker);
                    if result.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    result
                })
            })
            .collect();
        while handles.iter().any(|h| !h.is_finished()) {
            progress(done.load(Ordering::Relaxed), n);
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(DatasetError::Io {
                        path: dir.to_path_buf(),
                        source: std::io::Error::other("a rendering thread panicked"),
                    })
                })
            })
            .collect()
    });
    results.into_iter().collect::<Result<Vec<()>, _>>()?;
    progress(n, n);
    let index_path = dir.join(SCENE_INDEX);
    let file = std::fs::File::create(&index_path).map_err(io(&index_path))?;
    let mut index_file = std::io::BufWriter::new(file);
    for (index, scene) in generate(n, seed) {
        let name = format!("{index:05}.png");
        let line = serde_json::to_string(&IndexLine {
            index,
            file: &name,
            scene: &scene,
        })
        .map_err(|e| DatasetError::Io {
            path: index_path.clone(),
            source: std::io::Error::other(e),
        })?;
        writeln!(index_file, "{line}").map_err(io(&index_path))?;
    }
    index_file.flush().map_err(io(&index_path))?;
    Ok(DatasetSummary {
        dir: dir.to_path_buf(),
        images: n,
        index: index_path,
    })
}
