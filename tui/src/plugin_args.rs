//! Command-line options shared by every subcommand that loads plugins: where to find
//! them, what they may do, and the sandbox limits for wasm.

use maia_core::builtin::CallUnit;
use maia_core::plugins::default_search_dirs;
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
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

impl PluginArgs {
    /// Where plugins are looked for.
    pub fn search(&self) -> PluginSearch {
        PluginSearch {
            explicit: self.plugins.clone(),
            dirs: if self.no_default_plugins {
                Vec::new()
            } else {
                default_search_dirs()
            },
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
        problems.extend(
            self.sandbox
                .loader()
                .load_into(&mut registry, &self.search()),
        );
        (registry, problems)
    }
}

/// Prints load problems as warnings on stderr.
pub fn warn_problems(problems: &[LoadProblem]) {
    for p in problems {
        eprintln!("warning: plugin {} skipped: {}", p.plugin, p.message);
    }
}
