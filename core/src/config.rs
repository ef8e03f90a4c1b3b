//! `maia.toml`: the resolved configuration of a run. Defaults, then the user's config
//! (`~/.config/maia/maia.toml`), then the project's (`./maia.toml`), then command-line
//! flags — each layer overrides the keys it sets.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Everything a run can be configured with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// What to run.
    pub run: RunConfig,
    /// Images sent to the model.
    pub images: ImagesConfig,
    /// The OpenAI-compatible backend.
    pub openai: HttpBackendConfig,
    /// The Anthropic backend.
    pub anthropic: HttpBackendConfig,
    /// The backend `describe_images` / `summarize_images` use.
    pub describer: DescriberConfig,
    /// Dollar prices per million tokens, by model id.
    pub prices: BTreeMap<String, Price>,
    /// `[plugins.NAME]`: settings handed to plugin NAME (`Host::config`), e.g.
    /// `[plugins.http-images] base_url = "http://127.0.0.1:7860"`. Keys still live in the
    /// environment only: a table naming one is refused like any other.
    pub plugins: BTreeMap<String, toml::Table>,
}

/// The `[run]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// `offline`, `openai`, `anthropic` or `replay`.
    pub backend: String,
    /// Model id (empty: the backend's own default).
    pub model: String,
    /// Task (a file under `prompts/tasks/`).
    pub task: String,
    /// Target spec.
    pub target: String,
    /// Unit (`layer:unit`; empty: the target's only unit).
    pub unit: String,
    /// Where runs are written.
    pub runs_dir: PathBuf,
    /// Prompt folder (empty: `./prompts`, then the compiled-in copies).
    pub prompts: Option<PathBuf>,
    /// Data set for `dataset_exemplars` and `sample_dataset` (empty: none): a folder, a
    /// list file or tar shards ([`crate::dataset`]).
    pub data: Option<PathBuf>,
    /// A sparse autoencoder (SAELens layout) applied next to the target: its latents are
    /// units `LAYER:sae:N` (empty: none).
    pub sae: Option<PathBuf>,
    /// Named directions (safetensors or `.npy`) applied next to the target: each is a
    /// unit `LAYER:dir:NAME` (empty: none).
    pub directions: Option<PathBuf>,
    /// The recorded run the `replay` backend re-feeds.
    pub replay: Option<PathBuf>,
    /// Model rounds before the agent is told to answer (MAIA: 25).
    pub max_rounds: u32,
    /// Total token budget (input + output) of a run; 0 = no limit.
    pub max_tokens: u64,
    /// Dollar budget of a run; 0 = no limit.
    pub max_cost_usd: f64,
    /// Wall-time budget in minutes; 0 = no limit.
    pub max_wall_minutes: f64,
    /// Cap on output tokens per request.
    pub max_output_tokens: u32,
    /// Token budget of each request's conversation: older images, then older tool outputs
    /// are shortened to keep under it. Absent: the server's reported context or the
    /// model's known one, else no budget; 0: no budget.
    pub context_tokens: Option<u64>,
    /// Retries of a failed model request before the run stops.
    pub max_retries: u32,
    /// Which plugin provides `text2image` and `edit_images`: `shapes` (the shapes world,
    /// the default) or `http` (the `http-images` plugin, real diffusion servers,
    /// configured under `[plugins.http-images]`).
    pub images_from: String,
    /// Dollars per image the `http` image source draws (a paid image API); counted in a
    /// run's cost and `--max-cost`. The shapes world is free.
    pub image_price_usd: f64,
    /// How the agent experiments: `tools` (one schema-checked tool call at a time, the
    /// default) or `program` (Python programs through `run_program` that compose the tools;
    /// see `prompts/program-mode.md`).
    pub mode: String,
    /// `--verify K`: before a final answer is accepted, score it and up to K-1 alternatives
    /// on fresh images, show the agent the scores (it may experiment once more) and keep
    /// the best; 0: off.
    pub verify: u32,
}

/// The `[images]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImagesConfig {
    /// Most images attached to one message; the rest are listed by id only.
    pub per_message: usize,
    /// Longest side, in pixels, of an image sent to the model.
    pub max_side: u32,
}

/// `[openai]` / `[anthropic]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpBackendConfig {
    /// API root.
    pub base_url: String,
    /// Default model.
    pub model: String,
    /// Name of the environment variable holding the key (the key itself never goes in a
    /// config file).
    pub api_key_env: String,
}

/// `[describer]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DescriberConfig {
    /// Backend name, or `same` for the run's backend.
    pub backend: String,
    /// Model id (empty: that backend's default; e.g. a cheaper model than the agent's).
    pub model: String,
}

/// Dollars per million tokens.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Input tokens.
    pub input_per_mtok: f64,
    /// Output tokens.
    pub output_per_mtok: f64,
}

impl Price {
    /// Dollars that `usage` costs.
    pub fn cost(&self, usage: crate::llm::Usage) -> f64 {
        (usage.input_tokens as f64 * self.input_per_mtok
            + usage.output_tokens as f64 * self.output_per_mtok)
            / 1e6
    }
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            backend: "offline".into(),
            model: String::new(),
            task: "describe-unit".into(),
            target: "synthetic:red_and_circle".into(),
            unit: String::new(),
            runs_dir: PathBuf::from("runs"),
            prompts: None,
            data: None,
            sae: None,
            directions: None,
            replay: None,
            max_rounds: 25,
            max_tokens: 0,
            max_cost_usd: 0.0,
            max_wall_minutes: 0.0,
            max_output_tokens: 4096,
            context_tokens: None,
            max_retries: 5,
            images_from: "shapes".into(),
            image_price_usd: 0.0,
            mode: "tools".into(),
            verify: 0,
        }
    }
}

impl Default for ImagesConfig {
    fn default() -> Self {
        ImagesConfig {
            per_message: 16,
            max_side: 256,
        }
    }
}

impl Default for DescriberConfig {
    fn default() -> Self {
        DescriberConfig {
            backend: "same".into(),
            model: String::new(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        let prices = [
            ("gpt-4o", 2.5, 10.0),
            ("gpt-4o-mini", 0.15, 0.6),
            ("gpt-4.1", 2.0, 8.0),
            ("gpt-4.1-mini", 0.4, 1.6),
            ("claude-sonnet-4-5", 3.0, 15.0),
            ("claude-haiku-4-5", 1.0, 5.0),
            ("claude-opus-4-1", 15.0, 75.0),
        ]
        .into_iter()
        .map(|(m, i, o)| {
            (
                m.to_owned(),
                Price {
                    input_per_mtok: i,
                    output_per_mtok: o,
                },
            )
        })
        .collect();
        Config {
            run: RunConfig::default(),
            images: ImagesConfig::default(),
            openai: HttpBackendConfig {
                base_url: "https://api.openai.com/v1".into(),
                model: "gpt-4o".into(),
                api_key_env: "OPENAI_API_KEY".into(),
            },
            anthropic: HttpBackendConfig {
                base_url: "https://api.anthropic.com".into(),
                model: "claude-sonnet-4-5".into(),
                api_key_env: "ANTHROPIC_API_KEY".into(),
            },
            describer: DescriberConfig::default(),
            prices,
            plugins: BTreeMap::new(),
        }
    }
}

/// Where `text2image` and `edit_images` come from (`run.images_from`): the shapes world
/// or a diffusion server over HTTP.
pub const IMAGES_FROM: [&str; 2] = ["shapes", "http"];

/// How the agent experiments (`run.mode`): tool calls, or programs that compose them.
pub const RUN_MODES: [&str; 2] = ["tools", "program"];

/// A config file that could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub message: String,
}

/// The layers a resolved config came from, lowest first.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    /// Files that were read.
    pub files: Vec<PathBuf>,
}

impl Config {
    /// The user's config file: `$MAIA_CONFIG_DIR/maia.toml`, `$XDG_CONFIG_HOME/maia/maia.toml`
    /// or `~/.config/maia/maia.toml`.
    pub fn user_file() -> Option<PathBuf> {
        if let Some(d) = std::env::var_os("MAIA_CONFIG_DIR") {
            return Some(PathBuf::from(d).join("maia.toml"));
        }
        if let Some(d) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(d).join("maia/maia.toml"));
        }
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config/maia/maia.toml"))
    }

    /// Defaults ← user file ← `project` file (default `./maia.toml`) ← `overrides` (a TOML
    /// table built from flags).
    pub fn resolve(
        project: Option<&Path>,
        overrides: toml::Table,
    ) -> Result<(Config, Sources), ConfigError> {
        let mut merged = toml::Table::try_from(Config::default()).map_err(|e| ConfigError {
            path: PathBuf::from("<defaults>"),
            message: e.to_string(),
        })?;
        let mut sources = Sources::default();
        let project = project
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("maia.toml"));
        for path in Self::user_file().into_iter().chain([project]) {
            if !path.is_file() {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|e| ConfigError {
                path: path.clone(),
                message: e.to_string(),
            })?;
            let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError {
                path: path.clone(),
                message: e.to_string(),
            })?;
            reject_literal_secrets(&table, &path)?;
            merge(&mut merged, table);
            sources.files.push(path);
        }
        merge(&mut merged, overrides);
        let config: Config =
            toml::Value::Table(merged)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError {
                    path: sources
                        .files
                        .last()
                        .cloned()
                        .unwrap_or_else(|| PathBuf::from("<flags>")),
                    message: e.to_string(),
                })?;
        config.validate().map_err(|message| ConfigError {
            path: sources
                .files
                .last()
                .cloned()
                .unwrap_or_else(|| PathBuf::from("<flags>")),
            message,
        })?;
        Ok((config, sources))
    }

    /// Checks the values whose type alone does not say they are usable, so that
    /// `maia config`, `maia run`, `maia resume` and a batch refuse the same things, with
    /// the same words: the backend, where images come from, and the round limit.
    pub fn validate(&self) -> Result<(), String> {
        use crate::llm::BACKENDS;
        let run = &self.run;
        if !BACKENDS.contains(&run.backend.as_str()) {
            return Err(format!(
                "unknown backend `{}`; backends: {}",
                run.backend,
                BACKENDS.join(", ")
            ));
        }
        if !IMAGES_FROM.contains(&run.images_from.as_str()) {
            return Err(format!(
                "run.images_from = `{}`: use {}",
                run.images_from,
                IMAGES_FROM.map(|c| format!("`{c}`")).join(" or ")
            ));
        }
        if !RUN_MODES.contains(&run.mode.as_str()) {
            return Err(format!(
                "run.mode = `{}`: use {}",
                run.mode,
                RUN_MODES.map(|c| format!("`{c}`")).join(" or ")
            ));
        }
        if run.max_rounds == 0 {
            return Err(
                "run.max_rounds = 0: the agent needs at least one round (MAIA uses 25)".into(),
            );
        }
        Ok(())
    }

    /// The resolved config as TOML, for `maia config` and `run.toml`. Holds no secrets:
    /// keys live only in the environment, and only their variable names appear here.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Dollars per image the run's image source draws: `run.image_price_usd` when it is
    /// the `http` plugin (a paid API may be behind it); the shapes world is free.
    pub fn image_price(&self) -> f64 {
        if self.run.images_from == "http" {
            self.run.image_price_usd.max(0.0)
        } else {
            0.0
        }
    }

    /// Dollar cost of a request, if the model has a price.
    pub fn cost(&self, model: &str, input_tokens: u64, output_tokens: u64) -> f64 {
        self.prices.get(model).map_or(0.0, |p| {
            p.cost(crate::llm::Usage {
                input_tokens,
                output_tokens,
            })
        })
    }
}

/// A config that puts a key in a file is refused: keys belong in the environment.
fn reject_literal_secrets(table: &toml::Table, path: &Path) -> Result<(), ConfigError> {
    for (k, v) in table {
        let lower = k.to_ascii_lowercase();
        if (lower == "api_key" || lower.ends_with("token") || lower.contains("secret"))
            && v.is_str()
        {
            return Err(ConfigError {
                path: path.to_path_buf(),
                message: format!(
                    "`{k}` holds a secret; put the key in an environment variable and name it with `api_key_env` instead"
                ),
            });
        }
        if let Some(t) = v.as_table() {
            reject_literal_secrets(t, path)?;
        }
    }
    Ok(())
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_file_and_flags_override_defaults_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("maia.toml");
        std::fs::write(&file, "[run]\nmax_rounds = 10\nbackend = \"openai\"\n[prices.\"my-model\"]\ninput_per_mtok = 1.0\noutput_per_mtok = 2.0\n").expect("write");
        let mut flags = toml::Table::new();
        flags.insert(
            "run".into(),
            toml::Value::Table(toml::toml! { max_rounds = 3 }),
        );
        let (c, sources) = Config::resolve(Some(&file), flags).expect("resolve");
        assert_eq!((c.run.max_rounds, c.run.backend.as_str()), (3, "openai"));
        assert_eq!(c.images.per_message, 16);
        assert!((c.cost("my-model", 1_000_000, 500_000) - 2.0).abs() < 1e-9);
        assert!(sources.files.contains(&file));
    }

    #[test]
    fn plugin_tables_are_kept_and_a_key_in_one_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("maia.toml");
        std::fs::write(
            &file,
            "[run]\nimages_from = \"http\"\n[plugins.http-images]\nbase_url = \"http://127.0.0.1:7860\"\nsteps = 20\n",
        )
        .expect("write");
        let (c, _) = Config::resolve(Some(&file), toml::Table::new()).expect("resolve");
        assert_eq!(c.run.images_from, "http");
        let table = &c.plugins["http-images"];
        assert_eq!(table["base_url"].as_str(), Some("http://127.0.0.1:7860"));
        assert_eq!(table["steps"].as_integer(), Some(20));
        assert!(c.to_toml().contains("[plugins.http-images]"));
        std::fs::write(&file, "[plugins.http-images]\napi_key = \"sk-secret\"\n").expect("write");
        let err = Config::resolve(Some(&file), toml::Table::new())
            .expect_err("secret")
            .to_string();
        assert!(
            err.contains("api_key_env") && !err.contains("sk-secret"),
            "{err}"
        );
    }

    #[test]
    fn a_key_in_a_file_is_refused_and_typos_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("maia.toml");
        std::fs::write(&file, "[openai]\napi_key = \"sk-secret\"\n").expect("write");
        let err = Config::resolve(Some(&file), toml::Table::new())
            .expect_err("secret")
            .to_string();
        assert!(
            err.contains("api_key_env") && !err.contains("sk-secret"),
            "{err}"
        );
        std::fs::write(&file, "[run]\nmax_round = 3\n").expect("write");
        let err = Config::resolve(Some(&file), toml::Table::new())
            .expect_err("typo")
            .to_string();
        assert!(err.contains("max_round"), "{err}");
    }
}
