//! Plugin runtimes: finding plugins, reading their manifests, and loading them as native
//! libraries or sandboxed wasm components behind one [`ToolProvider`] interface.

mod discovery;
mod error;
mod grants;
mod manifest_file;
mod native;
pub mod net;
mod settings;
mod wasm;

pub use discovery::{PluginSearch, default_search_dirs, discover};
pub use error::PluginError;
pub use grants::Grants;
pub use manifest_file::{PluginFiles, locate};
pub use native::{NativePlugin, Services};
pub use net::NetPolicy;
pub use settings::PluginSettings;
pub use wasm::{WasmLimits, WasmPlugin, WasmRuntime};

use crate::tools::{ToolProvider, ToolRegistry};
use maia_plugin_sdk::{Manifest, PluginKind, SDK_MAJOR, SDK_VERSION, major_version};
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// Loads plugins of either kind, with the user's grants and the sandbox limits.
pub struct PluginLoader {
    grants: Grants,
    limits: WasmLimits,
    settings: PluginSettings,
    wasm: OnceLock<Result<Arc<WasmRuntime>, String>>,
}

impl PluginLoader {
    /// A loader with the given grants and wasm limits.
    pub fn new(grants: Grants, limits: WasmLimits) -> Self {
        PluginLoader {
            grants,
            limits,
            settings: PluginSettings::default(),
            wasm: OnceLock::new(),
        }
    }

    /// Lends native plugins these settings (`Host::config`), from which their
    /// `config:KEY` network permissions are resolved too.
    pub fn with_settings(mut self, settings: PluginSettings) -> Self {
        self.settings = settings;
        self
    }

    /// The settings native plugins get.
    pub fn settings(&self) -> &PluginSettings {
        &self.settings
    }

    /// What a native plugin is lent: its settings, and its `[permissions] net` list
    /// resolved against them, with the user's grant.
    pub fn services_for(&self, manifest: &Manifest) -> Services {
        let config = self.settings.for_plugin(&manifest.name);
        Services {
            plugin: manifest.name.clone(),
            policy: NetPolicy::resolve(&manifest.permissions.net, &config),
            net_granted: self.grants.net(&manifest.name),
            config,
        }
    }

    /// The shared wasm runtime (engine, linker, epoch ticker), started on first use.
    pub fn wasm_runtime(&self) -> Result<Arc<WasmRuntime>, PluginError> {
        self.wasm
            .get_or_init(|| {
                WasmRuntime::new()
                    .map(Arc::new)
                    .map_err(|e| format!("{e:#}"))
            })
            .clone()
            .map_err(PluginError::Runtime)
    }

    /// The user's grants.
    pub fn grants(&self) -> &Grants {
        &self.grants
    }

    /// Loads the plugin at `path`: a plugin directory (with `plugin.toml`), or an artifact
    /// (`.so`/`.wasm`) with `plugin.toml` beside it.
    pub fn load(&self, path: &Path) -> Result<Box<dyn ToolProvider>, PluginError> {
        self.load_files(&locate(path)?)
    }

    /// Loads a plugin already located on disk (see [`locate`]).
    pub fn load_files(&self, files: &PluginFiles) -> Result<Box<dyn ToolProvider>, PluginError> {
        check_sdk_version(&files.manifest, &files.manifest_path.display().to_string())?;
        let provider: Box<dyn ToolProvider> = match files.manifest.kind {
            PluginKind::Native => Box::new(NativePlugin::load_with(
                files,
                self.services_for(&files.manifest),
            )?),
            PluginKind::Wasm => Box::new(WasmPlugin::load(
                self.wasm_runtime()?,
                files,
                &self.grants,
                self.limits,
            )?),
        };
        let reported = &provider.description().manifest;
        if reported.name != files.manifest.name {
            return Err(PluginError::ManifestMismatch {
                path: files.artifact.clone(),
                detail: format!(
                    "plugin.toml names `{}` but the plugin reports `{}`",
                    files.manifest.name, reported.name
                ),
            });
        }
        Ok(provider)
    }
}

/// A plugin that was found but could not be loaded or registered.
#[derive(Debug)]
pub struct LoadProblem {
    /// Plugin name when its manifest could be read, else the path.
    pub plugin: String,
    /// What went wrong, ready to show to the user.
    pub message: String,
}

impl PluginLoader {
    /// Discovers plugins (`search`), loads each and registers its tools. A plugin that
    /// fails is skipped and reported, so one broken plugin never takes the others down.
    pub fn load_into(
        &self,
        registry: &mut ToolRegistry,
        search: &PluginSearch,
    ) -> Vec<LoadProblem> {
        let mut problems = Vec::new();
        for found in discover(search) {
            let files = match found {
                Ok(files) => files,
                Err(e) => {
                    problems.push(LoadProblem {
                        plugin: "?".into(),
                        message: e.to_string(),
                    });
                    continue;
                }
            };
            let plugin = files.manifest.name.clone();
            let result = self
                .load_files(&files)
                .map_err(|e| e.to_string())
                .and_then(|provider| registry.register(provider).map_err(|e| e.to_string()));
            if let Err(message) = result {
                problems.push(LoadProblem { plugin, message });
            }
        }
        problems
    }
}

/// Refuses a plugin whose SDK major version differs from this maia's, naming both.
pub fn check_sdk_version(manifest: &Manifest, origin: &str) -> Result<(), PluginError> {
    match major_version(&manifest.sdk_version) {
        Some(SDK_MAJOR) => Ok(()),
        _ => Err(PluginError::SdkVersion {
            plugin: manifest.name.clone(),
            origin: origin.to_owned(),
            plugin_sdk: manifest.sdk_version.clone(),
            host_sdk: SDK_VERSION.to_owned(),
        }),
    }
}
