//! The run's image store: content-addressed PNGs that tools and the agent refer to by
//! short ids (`img_12`). Storing the same bytes twice returns the first id.

use maia_plugin_sdk::{Image, ImageId, ToolError, ToolOutput};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// Sub-folder of a store's directory holding one `<hash>.json` per image (its id,
/// caption and metadata), so the folder itself holds only the PNGs.
pub const META_DIR: &str = ".meta";

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

    /// Reopens a store written by [`ImageStore::with_dir`]: every image comes back under
    /// the id it had, and new images continue the numbering. This is how a resumed run
    /// finds the images its conversation refers to. Unreadable entries are skipped and
    /// counted in the returned number.
    pub fn reopen(dir: impl Into<PathBuf>) -> std::io::Result<(Self, usize)> {
        let store = Self::with_dir(dir)?;
        let mut skipped = 0;
        let Some(dir) = store.dir.clone() else {
            return Ok((store, 0));
        };
        let entries = match std::fs::read_dir(dir.join(META_DIR)) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((store, 0)),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            match restore_one(&path) {
                Some((hash, image)) => {
                    let mut inner = store.lock();
                    let n = image
                        .id
                        .0
                        .trim_start_matches("img_")
                        .parse::<u64>()
                        .unwrap_or(0);
                    inner.next = inner.next.max(n);
                    inner.by_hash.insert(hash.clone(), image.id.clone());
                    inner.by_id.insert(
                        image.id.clone(),
                        StoredImage {
                            image: Arc::new(image),
                            hash,
                        },
                    );
                }
                None => skipped += 1,
            }
        }
        Ok((store, skipped))
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
        inner.next += 1;
        let id = ImageId(format!("img_{}", inner.next));
        image.id = id.clone();
        if let Some(dir) = &self.dir {
            write_atomically(&dir.join(format!("{hash}.png")), &image.png)?;
            let sidecar =
                serde_json::json!({"id": id, "caption": image.caption, "meta": image.meta});
            let meta_dir = dir.join(META_DIR);
            std::fs::create_dir_all(&meta_dir)?;
            write_atomically(
                &meta_dir.join(format!("{hash}.json")),
                sidecar.to_string().as_bytes(),
            )?;
        }
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

fn restore_one(sidecar: &Path) -> Option<(String, Image)> {
    let hash = sidecar.file_stem()?.to_str()?.to_owned();
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(sidecar).ok()?).ok()?;
    let png = std::fs::read(sidecar.parent()?.parent()?.join(format!("{hash}.png"))).ok()?;
    if blake3::hash(&png).to_hex().as_str() != hash {
        return None;
    }
    let id = meta.get("id")?.as_str()?.to_owned();
    let caption = meta
        .get("caption")
        .and_then(|c| c.as_str())
        .unwrap_or_default();
    let image = Image {
        id: ImageId(id),
        png,
        caption: caption.to_owned(),
        meta: meta.get("meta").cloned().unwrap_or_default(),
    };
    Some((hash, image))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
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
    fn reopened_store_keeps_ids_captions_and_metadata() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ImageStore::with_dir(dir.path()).expect("store");
        let meta = serde_json::json!({"scene": "red circle"});
        store.insert(Image::new(vec![1], "a")).expect("insert");
        store
            .insert(Image::new(vec![2], "b").with_meta(meta.clone()))
            .expect("insert");
        drop(store);
        std::fs::write(dir.path().join(META_DIR).join("torn.json"), b"{").expect("write");
        let (store, skipped) = ImageStore::reopen(dir.path()).expect("reopen");
        assert_eq!(skipped, 1);
        let b = store.get(&"img_2".into()).expect("img_2 restored");
        assert_eq!((b.image.caption.as_str(), &b.image.meta), ("b", &meta));
        let c = store.insert(Image::new(vec![3], "c")).expect("insert");
        assert_eq!(c.as_str(), "img_3");
        assert_eq!(
            store
                .insert(Image::new(vec![1], "again"))
                .expect("insert")
                .as_str(),
            "img_1"
        );
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
