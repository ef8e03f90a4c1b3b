//! Reading `plugin.toml` and finding the artifact beside it.

use super::PluginError;
use maia_plugin_sdk::{Manifest, PluginKind};
use std::path::{Path, PathBuf};

/// A plugin on disk: its directory, manifest and artifact.
#[derive(Clone, Debug)]
pub struct PluginFiles {
    /// Directory holding `plugin.toml` and the artifact.
    pub dir: PathBuf,
    /// The `plugin.toml` path.
    pub manifest_path: PathBuf,
    /// The parsed manifest.
    pub manifest: Manifest,
    /// The `.so`/`.dylib`/`.wasm` file.
    pub artifact: PathBuf,
}

fn artifact_matches(kind: PluginKind, path: &Path) -> bool {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    match kind {
        PluginKind::Native => matches!(ext, "so" | "dylib" | "dll"),
        PluginKind::Wasm => ext == "wasm",
    }
}

/// Reads a `plugin.toml`.
pub fn read_manifest(path: &Path) -> Result<Manifest, PluginError> {
    let text = std::fs::read_to_string(path).map_err(|source| PluginError::Io {
        path: path.into(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| PluginError::BadManifest {
        path: path.into(),
        message: e.to_string(),
    })
}

/// Finds a plugin from a directory (holding `plugin.toml`) or an artifact path (with
/// `plugin.toml` beside it).
pub fn locate(path: &Path) -> Result<PluginFiles, PluginError> {
    let meta = std::fs::metadata(path).map_err(|source| PluginError::Io {
        path: path.into(),
        source,
    })?;
    let (dir, file) = if meta.is_dir() {
        (path.to_path_buf(), None)
    } else {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        (dir.to_path_buf(), Some(path.to_path_buf()))
    };
    let manifest_path = dir.join("plugin.toml");
    if !manifest_path.is_file() {
        return Err(PluginError::NoManifest {
            path: manifest_path,
        });
    }
    let manifest = read_manifest(&manifest_path)?;
    let artifact = match (file, &manifest.artifact) {
        (Some(file), Some(named))
            if file.file_name().and_then(|f| f.to_str()) != Some(named.as_str()) =>
        {
            return Err(PluginError::Artifact {
                dir,
                message: format!(
                    "plugin.toml names artifact `{named}` but {} was given",
                    file.display()
                ),
            });
        }
        (Some(file), _) => file,
        (None, Some(named)) => dir.join(named),
        (None, None) => {
            let entries = std::fs::read_dir(&dir).map_err(|source| PluginError::Io {
                path: dir.clone(),
                source,
            })?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| artifact_matches(manifest.kind, p))
                .collect();
            found.sort();
            match found.len() {
                1 => found.remove(0),
                0 => {
                    return Err(PluginError::Artifact {
                        dir,
                        message: format!(
                            "no {} artifact found; build the plugin, or set `artifact` in plugin.toml",
                            manifest.kind
                        ),
                    });
                }
                _ => {
                    return Err(PluginError::Artifact {
                        dir,
                        message: format!(
                            "several artifacts found ({}); set `artifact` in plugin.toml",
                            found.len()
                        ),
                    });
                }
            }
        }
    };
    if !artifact.is_file() {
        return Err(PluginError::Artifact {
            dir,
            message: format!(
                "artifact {} does not exist; build the plugin first",
                artifact.display()
            ),
        });
    }
    Ok(PluginFiles {
        dir,
        manifest_path,
        manifest,
        artifact,
    })
}
