//! A planted-flaw classifier's scenes as an image folder with one subfolder per class (the
//! ImageFolder layout researchers already have), so the downstream experiments read them
//! like any real dataset. The training split is the classifier's own training scenes with
//! the labels it was taught (the planted flaw included); the test split its held-out
//! scenes, labelled truly. `scenes.jsonl` records every scene's true class, background,
//! size class and the label its folder gives it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use maia_shapes_world::render_png;
use serde::Serialize;

use super::WorldCnnError;
use super::config::WorldCnnConfig;
use super::planted::PlantedFlaw;

/// Which scenes of a planted-flaw classifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// Its training scenes, with the labels it was taught.
    Train,
    /// Its held-out scenes, labelled truly.
    Test,
}

/// One line of `scenes.jsonl`.
#[derive(Debug, Serialize)]
struct SceneLine {
    file: String,
    index: usize,
    label: &'static str,
    shape: &'static str,
    background: &'static str,
    color: &'static str,
    size: &'static str,
}

/// What [`write_planted_dataset`] wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct PlantedDataset {
    /// Images written.
    pub images: usize,
    /// Images per class folder, in class order.
    pub per_class: Vec<(String, usize)>,
    /// The `scenes.jsonl` index.
    pub index: PathBuf,
}

/// Writes the first `n` scenes of `split` of the classifier `WorldCnnConfig::planted(flaw,
/// seed)` into `dir/<class>/<index>.png` and `dir/scenes.jsonl`, on `threads` threads;
/// `progress(done, n)` as images are written. The same arguments write the same bytes.
pub fn write_planted_dataset(
    dir: &Path,
    flaw: PlantedFlaw,
    split: Split,
    n: usize,
    seed: u64,
    threads: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<PlantedDataset, WorldCnnError> {
    let io = |doing: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| WorldCnnError::Io {
            doing,
            path,
            source,
        }
    };
    let config = WorldCnnConfig::planted(flaw, seed);
    let (world_seed, heldout) = match split {
        Split::Train => (config.train_world_seed(), false),
        Split::Test => (config.heldout_world_seed(), true),
    };
    for class in super::planted::CLASSES {
        let folder = dir.join(class.name());
        std::fs::create_dir_all(&folder).map_err(io("create", &folder))?;
    }
    let threads = threads.clamp(1, 64);
    let done = AtomicUsize::new(0);
    let render_share = |worker: usize| -> Result<Vec<SceneLine>, WorldCnnError> {
        let mut lines = Vec::new();
        for index in (worker..n).step_by(threads) {
            let (scene, label) = flaw.scene(index, world_seed, heldout);
            let png = render_png(&scene).map_err(|source| WorldCnnError::Render {
                index,
                seed: world_seed,
                source,
            })?;
            let file = format!("{}/{index:05}.png", label.name());
            let path = dir.join(&file);
            std::fs::write(&path, png).map_err(io("write", &path))?;
            let object = scene.objects[0];
            lines.push(SceneLine {
                file,
                index,
                label: label.name(),
                shape: object.shape.name(),
                background: scene.background.color.name(),
                color: object.color.name(),
                size: object.size_class().name(),
            });
            progress(done.fetch_add(1, Ordering::Relaxed) + 1, n);
        }
        Ok(lines)
    };
    let parts: Vec<Result<Vec<SceneLine>, WorldCnnError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|worker| {
                let render_share = &render_share;
                scope.spawn(move || render_share(worker))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(WorldCnnError::Io {
                        doing: "render scenes on",
                        path: PathBuf::from("a worker thread"),
                        source: std::io::Error::other("a rendering thread panicked"),
                    })
                })
            })
            .collect()
    });
    let mut lines = Vec::with_capacity(n);
    for part in parts {
        lines.extend(part?);
    }
    lines.sort_by_key(|l| l.index);
    let mut text = String::new();
    for line in &lines {
        text.push_str(&serde_json::to_string(line).unwrap_or_default());
        text.push('\n');
    }
    let index = dir.join("scenes.jsonl");
    std::fs::write(&index, text).map_err(io("write", &index))?;
    let per_class = super::planted::CLASSES
        .iter()
        .map(|c| {
            let name = c.name().to_owned();
            let count = lines.iter().filter(|l| l.label == c.name()).count();
            (name, count)
        })
        .collect();
    Ok(PlantedDataset {
        images: lines.len(),
        per_class,
        index,
    })
}
