//! The run's image store: content-addressed PNGs that tools and the agent refer to by
//! short ids (`img_12`). Storing the same bytes twice returns the first id.

use maia_plugin_sdk::{Image, ImageId, ToolError, ToolOutput};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// A stored image and its content hash.
#[derive(Clone, Debug)]
pub struct StoredImage {
    /// The image, with its assigned id.
    pub image: Arc<Image>,
    /// blake3 hash of the PNG bytes (hex).
    pub hash: String,
}

#[derive(Default)]
struct Inner {
    by_id: HashMap<ImageId, StoredImage>,
    by_hash: HashMap<String, ImageId>,
    next: u64,
}

/// Thread-safe image store. With a directory, every new image is also written to
/// `DIR/<hash>.png` so a run's images outlive the process.
#[derive(Default)]
pub struct ImageStore {
    inner: Mutex<Inner>,
    dir: Option<PathBuf>,
}

impl ImageStore {
    /// An in-memory store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store that also writes images under `dir` (created if missing).
    pub fn with_dir(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(ImageStore {
            inner: Mutex::default(),
            dir: Some(dir),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the maps consistent (single inserts).
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stores an image and returns its id; identical PNG bytes get the existing id.
    pub fn insert(&self, mut image: Image) -> std::io::Result<ImageId> {
        let hash = blake3::hash(&image.png).to_hex().to_string();
        let mut inner = self.lock();
        if let Some(id) = inner.by_hash.get(&hash) {
            return Ok(id.clone());
        }
        if let Some(dir) = &self.dir {
            write_atomically(&dir.join(format!("{hash}.png")), &image.png)?;
        }
        inner.next += 1;
        let id = ImageId(format!("img_{}", inner.next));
        image.id = id.clone();
        inner.by_hash.insert(hash.clone(), id.clone());
        inner.by_id.insert(
            id.clone(),
            StoredImage {
                image: Arc::new(image),
                hash,
            },
        );
        Ok(id)
    }

    /// Looks an image up by id.
    pub fn get(&self, id: &ImageId) -> Option<StoredImage> {
        self.lock().by_id.get(id).cloned()
    }

    /// Looks an image up, with an agent-facing error listing a few known ids on a miss.
    pub fn get_or_error(&self, id: &ImageId) -> Result<Arc<Image>, ToolError> {
        let inner = self.lock();
        if let Some(stored) = inner.by_id.get(id) {
            return Ok(stored.image.clone());
        }
        let mut known: Vec<&ImageId> = inner.by_id.keys().collect();
        known.sort_by_key(|k| {
            k.0.trim_start_matches("img_")
                .parse::<u64>()
                .unwrap_or(u64::MAX)
        });
        let shown: Vec<&str> = known.iter().rev().take(8).map(|k| k.as_str()).collect();
        Err(ToolError::invalid_args(if shown.is_empty() {
            format!("no image `{id}`: the store is empty; make images first (e.g. text2image)")
        } else {
            format!("no image `{id}`; most recent ids: {}", shown.join(", "))
        }))
    }

    /// Stores every image a tool returned and writes the assigned ids back into `output`,
    /// so the text the agent reads and the ids it can use next agree.
    pub fn adopt_output(&self, output: &mut ToolOutput) -> std::io::Result<Vec<ImageId>> {
        let mut ids = Vec::with_capacity(output.images.len());
        for image in &mut output.images {
            let id = self.insert(image.clone())?;
            image.id = id.clone();
            ids.push(id);
        }
        Ok(ids)
    }

    /// Where an image's PNG is on disk, for a store with a directory.
    pub fn path_of(&self, id: &ImageId) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        let hash = self.lock().by_id.get(id)?.hash.clone();
        Some(dir.join(format!("{hash}.png")))
    }

    /// Number of stored images.
    pub fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The directory images are written to, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("png.tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_bytes_share_an_id_and_ids_are_sequential() {
        let store = ImageStore::new();
        let a = store
            .insert(Image::new(vec![1, 2, 3], "a"))
            .unwrap_or_default();
        let b = store.insert(Image::new(vec![4], "b")).unwrap_or_default();
        let a2 = store
            .insert(Image::new(vec![1, 2, 3], "again"))
            .unwrap_or_default();
        assert_eq!(
            (a.as_str(), b.as_str(), a2.as_str()),
            ("img_1", "img_2", "img_1")
        );
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn missing_id_error_lists_recent_ids() {
        let store = ImageStore::new();
        let err = store.get_or_error(&"img_9".into()).err().map(|e| e.message);
        assert!(err.is_some_and(|m| m.contains("store is empty")));
        let _ = store.insert(Image::new(vec![1], "a"));
        let err = store.get_or_error(&"img_9".into()).err();
        assert!(err.is_some_and(|e| e.message.contains("img_1")));
    }

    #[test]
    fn images_are_written_to_disk_by_hash() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = ImageStore::with_dir(dir.path())?;
        let id = store.insert(Image::new(vec![9, 9], "x"))?;
        let hash = store.get(&id).map(|s| s.hash).unwrap_or_default();
        assert_eq!(
            std::fs::read(dir.path().join(format!("{hash}.png")))?,
            vec![9, 9]
        );
        Ok(())
    }
}
