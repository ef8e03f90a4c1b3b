//! Why a plugin could not be loaded or run.

use std::path::PathBuf;

/// A plugin that could not be found, read, loaded or trusted.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// Reading a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No `plugin.toml` where one is needed.
    #[error(
        "{path}: no plugin.toml found; every plugin ships one beside its artifact (see `maia plugin new`)"
    )]
    NoManifest {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// `plugin.toml` is not valid.
    #[error("{path}: invalid plugin.toml: {message}")]
    BadManifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The artifact is missing or ambiguous.
    #[error("{dir}: {message}")]
    Artifact {
        /// Plugin directory.
        dir: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The file is not a maia plugin.
    #[error("{path} is not a maia plugin: {reason}")]
    NotAPlugin {
        /// The artifact.
        path: PathBuf,
        /// Why not.
        reason: String,
    },
    /// Built against another SDK major version.
    #[error(
        "plugin `{plugin}` ({origin}) was built against maia-plugin-sdk {plugin_sdk}, but this maia uses maia-plugin-sdk {host_sdk}; major versions must match: rebuild the plugin against maia-plugin-sdk {host_sdk}"
    )]
    SdkVersion {
        /// Plugin name.
        plugin: String,
        /// Where the version was read.
        origin: String,
        /// The plugin's SDK version.
        plugin_sdk: String,
        /// This maia's SDK version.
        host_sdk: String,
    },
    /// Built for another native ABI.
    #[error(
        "{path}: native plugin ABI v{found}, but this maia speaks ABI v{expected}; rebuild against maia-plugin-sdk {sdk}"
    )]
    Abi {
        /// The library.
        path: PathBuf,
        /// ABI the plugin uses.
        found: u32,
        /// ABI this maia speaks.
        expected: u32,
        /// This maia's SDK version.
        sdk: String,
    },
    /// The manifest and the plugin disagree.
    #[error("{path}: {detail}")]
    ManifestMismatch {
        /// The artifact.
        path: PathBuf,
        /// What differs.
        detail: String,
    },
    /// The plugin failed while starting up.
    #[error("plugin `{plugin}` failed to start: {message}")]
    Startup {
        /// Plugin name.
        plugin: String,
        /// What happened.
        message: String,
    },
    /// The wasm runtime could not start.
    #[error("wasm runtime: {0}")]
    Runtime(String),
}
