//! The exemplar cache: one JSON file per (model fingerprint, layer, dataset hash, k),
//! written atomically so a killed pass never leaves a file that later loads.

use super::LayerExemplars;
use crate::target::TargetModel;
use std::path::{Path, PathBuf};

/// The default cache folder (see [`crate::cache::cache_dir`]): `…/maia/exemplars`.
pub fn cache_dir() -> Option<PathBuf> {
    crate::cache::cache_dir("exemplars")
}

/// The key of a layer's exemplars: changes when the model, its preprocessing, the layer,
/// the dataset's content or k change.
pub fn cache_key(model: &dyn TargetModel, layer: &str, dataset_hash: &str, k: usize) -> String {
    let mut h = blake3::Hasher::new();
    for part in [
        model.fingerprint().as_str(),
        layer,
        dataset_hash,
        &k.to_string(),
        "exemplars-v1",
    ] {
        h.update(part.as_bytes());
        h.update(&[0]);
    }
    h.finalize().to_hex()[..32].to_owned()
}

fn path(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("{key}.json"))
}

/// A cached entry, if present and readable for this key.
pub fn load(dir: &Path, key: &str) -> Option<LayerExemplars> {
    let text = std::fs::read_to_string(path(dir, key)).ok()?;
    serde_json::from_str::<LayerExemplars>(&text)
        .ok()
        .filter(|e| e.key == key)
}

/// Stores an entry; a cache that cannot be written only costs a recomputation later.
pub fn store(dir: &Path, exemplars: &LayerExemplars) {
    let Ok(text) = serde_json::to_string(exemplars) else {
        return;
    };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let final_path = path(dir, &exemplars.key);
    let tmp = final_path.with_extension(format!("json.tmp{}", std::process::id()));
    if std::fs::write(&tmp, text).is_ok() && std::fs::rename(&tmp, &final_path).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}
