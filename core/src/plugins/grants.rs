//! What the user grants sandboxed plugins beyond their default (nothing).

use std::collections::BTreeSet;

/// Per-plugin permission grants from the command line (`--allow-net NAME`, `--allow-fs
/// NAME`, `--allow-env NAME`) or config. A grant only enables what the plugin's manifest
/// asks for; a plugin that asks for nothing gets nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    net: BTreeSet<String>,
    fs: BTreeSet<String>,
    env: BTreeSet<String>,
}

impl Grants {
    /// No grants.
    pub fn none() -> Self {
        Self::default()
    }

    /// Grants network access (to the hosts its manifest names) to a plugin.
    pub fn allow_net(mut self, plugin: impl Into<String>) -> Self {
        self.net.insert(plugin.into());
        self
    }

    /// Grants access to the directories its manifest names.
    pub fn allow_fs(mut self, plugin: impl Into<String>) -> Self {
        self.fs.insert(plugin.into());
        self
    }

    /// Grants read access to the environment variables its manifest names.
    pub fn allow_env(mut self, plugin: impl Into<String>) -> Self {
        self.env.insert(plugin.into());
        self
    }

    /// Whether network access is granted to `plugin`.
    pub fn net(&self, plugin: &str) -> bool {
        self.net.contains(plugin) || self.net.contains("*")
    }

    /// Whether filesystem access is granted to `plugin`.
    pub fn fs(&self, plugin: &str) -> bool {
        self.fs.contains(plugin) || self.fs.contains("*")
    }

    /// Whether environment access is granted to `plugin`.
    pub fn env(&self, plugin: &str) -> bool {
        self.env.contains(plugin) || self.env.contains("*")
    }
}
