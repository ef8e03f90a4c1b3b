//! A plugin's identity and the permissions it asks for (`plugin.toml` beside the artifact).

use serde::{Deserialize, Serialize};

/// How a plugin is built and loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginKind {
    /// A native dynamic library (`cdylib`), loaded in-process: trusted code.
    Native,
    /// A WebAssembly component (`wasm32-wasip2`), run sandboxed by wasmtime.
    Wasm,
}

impl std::fmt::Display for PluginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PluginKind::Native => "native",
            PluginKind::Wasm => "wasm",
        })
    }
}

/// Capabilities a sandboxed plugin asks for. Nothing is granted unless the manifest asks
/// *and* the user grants it (`--allow-net NAME`, `--allow-fs NAME`, `--allow-env NAME`).
/// Native plugins run in-process and are not sandboxed; their permissions are advisory.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permissions {
    /// Hosts the plugin may connect to, as `host:port` or `host` (any port).
    #[serde(default)]
    pub net: Vec<String>,
    /// Host directories the plugin may read and write (mounted at the same path).
    #[serde(default)]
    pub fs: Vec<String>,
    /// Environment variables the plugin may read.
    #[serde(default)]
    pub env: Vec<String>,
}

impl Permissions {
    /// True when the plugin asks for nothing.
    pub fn is_empty(&self) -> bool {
        self.net.is_empty() && self.fs.is_empty() && self.env.is_empty()
    }
}

/// A plugin's identity, as in its `plugin.toml` and as the plugin itself reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Plugin name (unique among loaded plugins).
    pub name: String,
    /// The plugin's own version.
    pub version: String,
    /// The `maia-plugin-sdk` version it was built against; the major must match the host's.
    pub sdk_version: String,
    /// Native library or wasm component.
    pub kind: PluginKind,
    /// What the plugin offers, in a sentence.
    #[serde(default)]
    pub description: String,
    /// File name of the artifact beside `plugin.toml` (`libfoo.so`, `foo.wasm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<String>,
    /// Capabilities asked for.
    #[serde(default, skip_serializing_if = "Permissions::is_empty")]
    pub permissions: Permissions,
}

impl Manifest {
    /// A manifest for a plugin built against this SDK. The export macros set `kind`.
    pub fn new(
        name: impl Into<String>,
        version: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Manifest {
            name: name.into(),
            version: version.into(),
            sdk_version: crate::SDK_VERSION.to_owned(),
            kind: PluginKind::Native,
            description: description.into(),
            artifact: None,
            permissions: Permissions::default(),
        }
    }

    /// Asks for permissions.
    pub fn with_permissions(mut self, permissions: Permissions) -> Self {
        self.permissions = permissions;
        self
    }
}

/// The major component of a semver string (`"1.4.2"` → `Some(1)`).
pub fn major_version(version: &str) -> Option<u64> {
    version.trim().split('.').next()?.parse().ok()
}

/// What a plugin tells the host about itself on load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Description {
    /// Identity and permissions.
    pub manifest: Manifest,
    /// Tools offered.
    pub tools: Vec<crate::ToolSpec>,
}
