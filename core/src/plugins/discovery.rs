//! Where plugins are found: `--plugin PATH` arguments, the project-local build output
//! (`target/plugins/`, beside the `maia` binary), and the user config dir
//! (`$XDG_CONFIG_HOME/maia/plugins` or `~/.config/maia/plugins`).

use super::{PluginError, PluginFiles, locate};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Where to look for plugins.
#[derive(Clone, Debug, Default)]
pub struct PluginSearch {
    /// Paths given explicitly: a plugin dir, an artifact, or a folder of plugin dirs.
    pub explicit: Vec<PathBuf>,
    /// Folders whose subdirectories are plugins.
    pub dirs: Vec<PathBuf>,
    /// Plugin names not to load from folders of plugins (e.g. `http-images` when the
    /// shapes world provides `text2image`: both offer the same tool names). A plugin
    /// named by its own path in `explicit` always loads.
    pub skip: BTreeSet<String>,
}

/// The default folders: the build output beside the binary, then the user config dir.
pub fn default_search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(target) = std::env::current_exe()
        .ok()
        .as_deref()
        .and_then(Path::parent)
        .and_then(Path::parent)
    {
        dirs.push(target.join("plugins"));
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
    if let Some(config) = config {
        dirs.push(config.join("maia").join("plugins"));
    }
    dirs
}

fn children_with_manifest(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("plugin.toml").is_file())
        .collect();
    found.sort();
    found
}

/// Finds plugins. A name found twice keeps the first (explicit paths win over the
/// build output, which wins over the config dir). Unreadable candidates come back as
/// errors so the caller can report them without losing the others.
pub fn discover(search: &PluginSearch) -> Vec<Result<PluginFiles, PluginError>> {
    let mut candidates = Vec::new();
    for path in &search.explicit {
        let is_folder_of_plugins = path.is_dir() && !path.join("plugin.toml").is_file();
        if is_folder_of_plugins {
            candidates.extend(children_with_manifest(path).into_iter().map(|p| (p, true)));
        } else {
            candidates.push((path.clone(), false));
        }
    }
    for dir in &search.dirs {
        candidates.extend(children_with_manifest(dir).into_iter().map(|p| (p, true)));
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (candidate, skippable) in candidates {
        match locate(&candidate) {
            Ok(files) => {
                if skippable && search.skip.contains(&files.manifest.name) {
                    continue;
                }
                if seen.insert(files.manifest.name.clone()) {
                    out.push(Ok(files));
                }
            }
            Err(e) => out.push(Err(e)),
        }
    }
    out
}
