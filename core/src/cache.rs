//! Where maia keeps what it can recompute: compiled wasm, trained models, exemplars.

use std::path::PathBuf;

/// `$MAIA_CACHE_DIR/<kind>`, else `$XDG_CACHE_HOME/maia/<kind>`, else
/// `~/.cache/maia/<kind>`; `None` when none of those variables is set.
pub fn cache_dir(kind: &str) -> Option<PathBuf> {
    let root = std::env::var_os("MAIA_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|p| PathBuf::from(p).join("maia")))
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("maia"))
        })?;
    Some(root.join(kind))
}
