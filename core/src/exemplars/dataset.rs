//! An image folder as the exemplar pass reads it: PNG files in name order, plus the scene
//! graphs from `scenes.jsonl` when the folder was written by `maia world dataset` (so
//! synthetic units can read them).

use maia_plugin_sdk::Image;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Why a dataset folder could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The folder or a file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// No images in the folder.
    #[error("{0}: no .png images found; make a dataset with `maia world dataset --n 10000 DIR`")]
    Empty(PathBuf),
}

/// A folder of PNG images.
pub struct Dataset {
    dir: PathBuf,
    files: Vec<String>,
    scenes: HashMap<String, serde_json::Value>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DatasetError + '_ {
    move |source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Dataset {
    /// Lists the folder's PNGs (sorted by name; folders named like images are ignored)
    /// and reads `scenes.jsonl` if present.
    pub fn open(dir: &Path) -> Result<Dataset, DatasetError> {
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .map_err(io(dir))?
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.to_ascii_lowercase().ends_with(".png"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(DatasetError::Empty(dir.to_path_buf()));
        }
        let mut scenes = HashMap::new();
        let index = dir.join("scenes.jsonl");
        if let Ok(text) = std::fs::read_to_string(&index) {
            for line in text.lines() {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(line)
                    && let (Some(file), Some(scene)) =
                        (v.get("file").and_then(|f| f.as_str()), v.get("scene"))
                {
                    scenes.insert(file.to_owned(), scene.clone());
                }
            }
        }
        Ok(Dataset {
            dir: dir.to_path_buf(),
            files,
            scenes,
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True when empty (never, once opened).
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// File name of image `index`.
    pub fn file_name(&self, index: usize) -> String {
        self.files.get(index).cloned().unwrap_or_default()
    }

    /// Reads image `index`, with its scene graph in `meta` when the dataset has one.
    pub fn image(&self, index: usize) -> Result<Image, DatasetError> {
        let name = self.file_name(index);
        let path = self.dir.join(&name);
        let png = std::fs::read(&path).map_err(io(&path))?;
        let mut meta = serde_json::json!({"dataset_file": name});
        if let Some(scene) = self.scenes.get(&name) {
            meta["scene"] = scene.clone();
        }
        Ok(Image::new(png, name).with_meta(meta))
    }

    /// BLAKE3 over every file's name and bytes (and the scene index): what the dataset is,
    /// whatever its path or timestamps. A file that cannot be read counts as its name and
    /// the kind of error (the pass skips it), so it changes the hash but is not fatal.
    pub fn content_hash(&self) -> Result<String, DatasetError> {
        let mut hasher = blake3::Hasher::new();
        let mut buf = Vec::new();
        for name in self
            .files
            .iter()
            .map(String::as_str)
            .chain(std::iter::once("scenes.jsonl"))
        {
            let path = self.dir.join(name);
            buf.clear();
            match std::fs::File::open(&path) {
                Ok(mut f) => {
                    f.read_to_end(&mut buf).map_err(io(&path))?;
                }
                Err(e) if name == "scenes.jsonl" && e.kind() == std::io::ErrorKind::NotFound => {
                    continue;
                }
                Err(e) => {
                    hasher.update(name.as_bytes());
                    hasher.update(format!("unreadable: {:?}", e.kind()).as_bytes());
                    continue;
                }
            }
            hasher.update(name.as_bytes());
            hasher.update(&(buf.len() as u64).to_le_bytes());
            hasher.update(&buf);
        }
        Ok(hasher.finalize().to_hex().to_string())
    }
}
