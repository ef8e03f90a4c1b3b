//! Command-line options shared by every subcommand that loads plugins: where to find
//! them, what they may do, and the sandbox limits for wasm.

use maia_core::builtin::CallUnit;
use maia_core::config::Config;
use maia_core::plugins::{PluginSettings, default_search_dirs};
use maia_core::tools::InProcess;
use maia_core::{Grants, LoadProblem, PluginLoader, PluginSearch, ToolRegistry, WasmLimits};
use std::path::PathBuf;
use std::time::Duration;

/// Capabilities granted to plugins and limits on wasm calls.
#[derive(clap::Args, Debug, Clone)]
pub struct SandboxArgs {
    /// Let plugin NAME connect to the hosts its plugin.toml lists (`*`: every plugin).
    #[arg(long = "allow-net", value_name = "NAME")]
    pub allow_net: Vec<String>,
    /// Let plugin NAME read and write the directories its plugin.toml lists (`*`: every plugin).
    #[arg(long = "allow-fs", value_name = "NAME")]
    pub allow_fs: Vec<String>,
    /// Let plugin NAME read the environment variables its plugin.toml lists (`*`: every plugin).
    #[arg(long = "allow-env", value_name = "NAME")]
    pub allow_env: Vec<String>,
    /// Deadline for one wasm tool call, in seconds; a call still running is stopped.
    #[arg(long, value_name = "SECS", default_value_t = 5.0, value_parser = positive_secs)]
    pub wasm_timeout: f64,
    /// Memory cap for a wasm plugin, in MiB; growing past it stops the call.
    #[arg(long, value_name = "MB", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub wasm_memory_mb: u64,
}

fn positive_secs(s: &str) -> Result<f64, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if secs.is_finite() && secs > 0.0 && secs <= 86_400.0 {
        Ok(secs)
    } else {
        Err(format!(
            "{s} s is out of range: give a deadline between 0 and 86400 seconds"
        ))
    }
}

impl SandboxArgs {
    /// The grants these flags give.
    pub fn grants(&self) -> Grants {
        let mut grants = Grants::none();
        for name in &self.allow_net {
            grants = grants.allow_net(name);
        }
        for name in &self.allow_fs {
            grants = grants.allow_fs(name);
        }
        for name in &self.allow_env {
            grants = grants.allow_env(name);
        }
        grants
    }

    /// The wasm limits these flags set.
    pub fn limits(&self) -> WasmLimits {
        WasmLimits {
            timeout: Duration::from_secs_f64(self.wasm_timeout),
            memory_bytes: usize::try_from(self.wasm_memory_mb << 20).unwrap_or(usize::MAX),
        }
    }

    /// A loader with these grants and limits.
    pub fn loader(&self) -> PluginLoader {
        PluginLoader::new(self.grants(), self.limits())
    }
}

/// Which plugins to load, plus the sandbox options.
#[derive(clap::Args, Debug, Clone)]
pub struct PluginArgs {
    /// Load the plugin at PATH: a directory with plugin.toml, the .so/.wasm beside one, or
    /// a folder of plugin directories. Repeatable.
    #[arg(long = "plugin", value_name = "PATH")]
    pub plugins: Vec<PathBuf>,
    /// Load only --plugin paths; skip the default folders (the build's target/plugins and
    /// ~/.config/maia/plugins).
    #[arg(long)]
    pub no_default_plugins: bool,
    /// Which plugin provides text2image and edit_images: `shapes` (the shapes world) or
    /// `http` (the http-images plugin: a real diffusion server set up under
    /// `[plugins.http-images]` in maia.toml; implies --allow-net http-images). Config key
    /// `run.images_from`; default shapes.
    #[arg(long = "images-from", value_name = "shapes|http", value_parser = ["shapes", "http"])]
    pub images_from: Option<String>,
    /// Plugins fetch fresh results instead of reading their caches (e.g. generated images).
    #[arg(long)]
    pub no_cache: bool,
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

/// The plugin of each `--images-from` choice.
pub const IMAGE_PLUGINS: [(&str, &str); 2] = [("shapes", "shapes-tools"), ("http", "http-images")];

/// What `--images-from http` needs in maia.toml, for the error when it is missing.
pub const HTTP_IMAGES_HINT: &str = "--images-from http needs a diffusion server: add to maia.toml\n\n  [plugins.http-images]\n  backend = \"a1111\"                    # AUTOMATIC1111/Forge; or \"openai\"\n  base_url = \"http://127.0.0.1:7860\"   # openai: \"https://api.openai.com/v1\" (key in $OPENAI_API_KEY)";

impl PluginArgs {
    /// Where plugins are looked for, with the flag's `--images-from` (default shapes).
    pub fn search(&self) -> PluginSearch {
        self.search_with(self.images_from.as_deref().unwrap_or("shapes"))
    }

    /// Where plugins are looked for, loading the `text2image` plugin of `images_from`
    /// (`shapes` or `http`) and skipping the other: both offer the same tool names.
    pub fn search_with(&self, images_from: &str) -> PluginSearch {
        PluginSearch {
            explicit: self.plugins.clone(),
            dirs: if self.no_default_plugins {
                Vec::new()
            } else {
                default_search_dirs()
            },
            skip: IMAGE_PLUGINS
                .iter()
                .filter(|(choice, _)| *choice != images_from)
                .map(|(_, plugin)| (*plugin).to_owned())
                .collect(),
        }
    }

    /// Dollars per image for scoring outside a run (`eval score`, `report --score`): the
    /// config's `run.image_price_usd` when `--images-from http` draws the images, else 0.
    pub fn image_price(&self) -> anyhow::Result<f64> {
        if self.images_from.as_deref() != Some("http") {
            return Ok(0.0);
        }
        let (config, _) = Config::resolve(None, toml::Table::new())?;
        Ok(config.run.image_price_usd.max(0.0))
    }

    /// `--images-from`, else the config's `run.images_from`; checked.
    pub fn images_from(&self, config: &Config) -> anyhow::Result<String> {
        let choice = self
            .images_from
            .clone()
            .unwrap_or_else(|| config.run.images_from.clone());
        if IMAGE_PLUGINS.iter().any(|(c, _)| *c == choice) {
            Ok(choice)
        } else {
            anyhow::bail!("run.images_from = `{choice}` in maia.toml: use `shapes` or `http`")
        }
    }

    /// A loader lending plugins their `[plugins.*]` settings (and `--no-cache`), with the
    /// net grant `--images-from http` implies. Fails, saying what to put in maia.toml,
    /// when `http` is chosen and no server is configured.
    pub fn loader_for(&self, config: &Config) -> anyhow::Result<PluginLoader> {
        let images_from = self.images_from(config)?;
        let mut grants = self.sandbox.grants();
        if images_from == "http" {
            let configured = config
                .plugins
                .get("http-images")
                .and_then(|t| t.get("base_url"))
                .and_then(|v| v.as_str())
                .is_some_and(|u| !u.trim().is_empty());
            if !configured {
                let keys: Vec<&str> = config
                    .plugins
                    .get("http-images")
                    .map(|t| t.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                if let Some(typo) = keys
                    .iter()
                    .find(|k| maia_core::spelling::closest(k, ["base_url"]).is_some())
                {
                    anyhow::bail!(
                        "[plugins.http-images] in maia.toml has `{typo}` but no `base_url`: did you mean `base_url`?\n\n{HTTP_IMAGES_HINT}"
                    );
                }
                anyhow::bail!("{HTTP_IMAGES_HINT}");
            }
            grants = grants.allow_net("http-images");
        }
        Ok(
            PluginLoader::new(grants, self.sandbox.limits()).with_settings(
                PluginSettings::from_tables(config.plugins.clone()).with_no_cache(self.no_cache),
            ),
        )
    }

    /// The loader and search of a command that has no run config of its own: settings
    /// from `./maia.toml` and the user's config (defaults when they cannot be read).
    fn loader_and_search(&self) -> (PluginLoader, PluginSearch, Vec<LoadProblem>) {
        let mut problems = Vec::new();
        let config = match Config::resolve(None, toml::Table::new()) {
            Ok((config, _)) => config,
            Err(e) => {
                problems.push(LoadProblem {
                    plugin: "config".into(),
                    message: e.to_string(),
                });
                Config::default()
            }
        };
        let images_from = self
            .images_from(&config)
            .unwrap_or_else(|_| "shapes".into());
        match self.loader_for(&config) {
            Ok(loader) => (loader, self.search_with(&images_from), problems),
            Err(e) => {
                problems.push(LoadProblem {
                    plugin: "http-images".into(),
                    message: e.to_string(),
                });
                (self.sandbox.loader(), self.search_with("shapes"), problems)
            }
        }
    }

    /// Loads every plugin found into a registry; failures are returned, not fatal.
    pub fn load_registry(&self) -> (ToolRegistry, Vec<LoadProblem>) {
        let mut registry = ToolRegistry::new();
        let mut problems = Vec::new();
        if let Err(e) = registry.register(Box::new(InProcess::new(CallUnit))) {
            problems.push(LoadProblem {
                plugin: "builtin".into(),
                message: e.to_string(),
            });
        }
        let (loader, search, config_problems) = self.loader_and_search();
        problems.extend(config_problems);
        problems.extend(loader.load_into(&mut registry, &search));
        if let Err(e) = registry.register(Box::new(InProcess::new(maia_core::program::ProgramSpec)))
        {
            problems.push(LoadProblem {
                plugin: "builtin".into(),
                message: e.to_string(),
            });
        }
        (registry, problems)
    }
}

/// Prints load problems as warnings on stderr.
pub fn warn_problems(problems: &[LoadProblem]) {
    for p in problems {
        eprintln!("warning: plugin {} skipped: {}", p.plugin, p.message);
    }
}

/// What to say when no `text2image` tool was loaded (`None` when one was): the agent can
/// then make no images, and a run describes units from exemplars alone or not at all.
pub fn no_image_tools(registry: &ToolRegistry, search: &PluginSearch) -> Option<String> {
    if registry.get("text2image").is_some() {
        return None;
    }
    let looked: Vec<String> = search
        .dirs
        .iter()
        .map(|d| d.display().to_string())
        .collect();
    Some(format!(
        "warning: no text2image tool was loaded (no image plugin found in {}); the agent cannot make images. Build the plugins (scripts/build-plugins.sh) and run maia from its build folder, or pass --plugin PATH",
        if looked.is_empty() {
            "no folder: --no-default-plugins".to_owned()
        } else {
            looked.join(", ")
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registry_without_text2image_is_warned_about_with_the_folders_searched() {
        let search = PluginSearch {
            dirs: vec![PathBuf::from("/opt/maia/plugins")],
            ..PluginSearch::default()
        };
        let warning = no_image_tools(&ToolRegistry::new(), &search).unwrap_or_default();
        assert!(warning.contains("no text2image tool"), "{warning}");
        assert!(warning.contains("/opt/maia/plugins"), "{warning}");
        let none = no_image_tools(&ToolRegistry::new(), &PluginSearch::default());
        assert!(none.is_some_and(|w| w.contains("--no-default-plugins")));
    }
}
