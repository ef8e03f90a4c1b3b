//! The content-addressed cache: blake3 of the canonical JSON of everything that decides
//! an image (backend, server, model, prompt or edit, source image hash, size, steps, seed,
//! …) → `<cache_dir>/<hex>.png` plus a `<hex>.json` sidecar (seed the server reported,
//! size it returned). Writes are atomic (temporary file, then rename), so a crash leaves
//! either the whole entry or none; a damaged entry reads as a miss.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// What the sidecar records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The seed the server reported (a1111), if any.
    pub seed: Option<u64>,
    /// Width and height the server returned.
    pub returned: (u32, u32),
    /// OpenAI's rewritten prompt, if any.
    #[serde(default)]
    pub revised_prompt: Option<String>,
}

/// The key of a canonical JSON value (serde_json objects keep keys sorted).
pub fn key(params: &Value) -> String {
    blake3::hash(&serde_json::to_vec(params).unwrap_or_default())
        .to_hex()
        .to_string()
}

fn paths(dir: &Path, key: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{key}.png")),
        dir.join(format!("{key}.json")),
    )
}

/// The cached PNG and its sidecar, if both are there and readable.
pub fn get(dir: &Path, key: &str) -> Option<(Vec<u8>, Entry)> {
    let (png, json) = paths(dir, key);
    let entry: Entry = serde_json::from_slice(&std::fs::read(json).ok()?).ok()?;
    let bytes = std::fs::read(png).ok()?;
    image::load_from_memory_with_format(&bytes, image::ImageFormat::Png).ok()?;
    Some((bytes, entry))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Stores an entry (PNG first, sidecar last: the sidecar's presence marks it complete).
pub fn put(dir: &Path, key: &str, png: &[u8], entry: &Entry) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let (png_path, json_path) = paths(dir, key);
    write_atomic(&png_path, png)?;
    write_atomic(&json_path, &serde_json::to_vec(entry).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_depend_on_every_field_and_entries_round_trip() {
        let a = key(&json!({"prompt": "a cat", "seed": 1}));
        assert_eq!(a, key(&json!({"seed": 1, "prompt": "a cat"})));
        assert_ne!(a, key(&json!({"prompt": "a cat", "seed": 2})));
        let dir = tempfile::tempdir().expect("tmp");
        assert!(get(dir.path(), &a).is_none());
        let mut png = std::io::Cursor::new(Vec::new());
        image::RgbaImage::new(2, 2)
            .write_to(&mut png, image::ImageFormat::Png)
            .expect("png");
        let entry = Entry {
            seed: Some(5),
            returned: (2, 2),
            revised_prompt: None,
        };
        put(dir.path(), &a, png.get_ref(), &entry).expect("put");
        assert_eq!(get(dir.path(), &a), Some((png.into_inner(), entry)));
        std::fs::write(dir.path().join(format!("{a}.png")), b"torn").expect("write");
        assert!(get(dir.path(), &a).is_none(), "a damaged entry is a miss");
    }
}
