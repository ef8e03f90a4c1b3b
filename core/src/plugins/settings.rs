//! What the host tells each plugin about its configuration
//! ([`Host::config`](maia_plugin_sdk::Host::config)): the plugin's `[plugins.NAME]` table
//! from `maia.toml`, plus the host-wide `cache_dir` and `no_cache`.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Settings for every plugin a loader loads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PluginSettings {
    /// `[plugins.NAME]` tables, by plugin name.
    pub tables: BTreeMap<String, toml::Table>,
    /// Folder under which each plugin gets a cache folder of its own
    /// (`<cache_root>/<name>`); `None`: no cache.
    pub cache_root: Option<PathBuf>,
    /// The user asked for fresh results (`--no-cache`).
    pub no_cache: bool,
}

impl PluginSettings {
    /// Settings from `maia.toml`'s `[plugins.*]` tables, with the cache under maia's
    /// cache folder (`<cache>/plugins/<name>`, see [`crate::cache::cache_dir`]).
    pub fn from_tables(tables: BTreeMap<String, toml::Table>) -> Self {
        PluginSettings {
            tables,
            cache_root: crate::cache::cache_dir("plugins"),
            no_cache: false,
        }
    }

    /// Sets `no_cache`.
    pub fn with_no_cache(mut self, no_cache: bool) -> Self {
        self.no_cache = no_cache;
        self
    }

    /// What `Host::config` answers `plugin`: its table as a JSON object, with `cache_dir`
    /// (when there is a cache root) and `no_cache` set by the host (a table's own keys of
    /// those names are replaced).
    pub fn for_plugin(&self, plugin: &str) -> Value {
        let mut object = self
            .tables
            .get(plugin)
            .and_then(|t| serde_json::to_value(t).ok())
            .and_then(|v| match v {
                Value::Object(o) => Some(o),
                _ => None,
            })
            .unwrap_or_default();
        if let Some(root) = &self.cache_root {
            object.insert(
                "cache_dir".into(),
                json!(root.join(plugin).display().to_string()),
            );
        } else {
            object.remove("cache_dir");
        }
        object.insert("no_cache".into(), json!(self.no_cache));
        Value::Object(object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugin_gets_its_table_plus_the_host_keys() {
        let mut tables = BTreeMap::new();
        tables.insert(
            "http-images".to_owned(),
            toml::toml! { base_url = "http://127.0.0.1:7860" steps = 20 no_cache = "x" },
        );
        let settings = PluginSettings {
            tables,
            cache_root: Some(PathBuf::from("/c/plugins")),
            no_cache: true,
        };
        let v = settings.for_plugin("http-images");
        assert_eq!(v["base_url"], "http://127.0.0.1:7860");
        assert_eq!(v["steps"], 20);
        assert_eq!(v["no_cache"], true);
        assert_eq!(v["cache_dir"], "/c/plugins/http-images");
        let other = settings.for_plugin("image-ops");
        assert_eq!(other["no_cache"], true);
        assert!(other.get("base_url").is_none());
    }
}
