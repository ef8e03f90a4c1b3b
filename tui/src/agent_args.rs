//! Agent options shared by `maia run` and `maia batch plan`: which backend, its limits,
//! the dataset and prompts, and where a torch model runs. Every option is also a
//! `maia.toml` key (`[run]`, `[openai]`/`[anthropic]` `base_url`); flags win.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// How an agent run is driven.
#[derive(clap::Args, Debug, Clone)]
pub struct AgentArgs {
    /// Backend: offline (no key, the default), openai, anthropic, replay.
    #[arg(long)]
    pub backend: Option<String>,
    /// Model id for the backend (e.g. gpt-4o, claude-sonnet-4-5, a vLLM/Ollama model).
    #[arg(long)]
    pub model: Option<String>,
    /// API root for openai/anthropic (vLLM: http://HOST:8000/v1, Ollama:
    /// http://localhost:11434/v1).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Data set for dataset exemplars and samples: JPEG, PNG or WebP images in a folder (flat or class folders at any depth), a text file listing image paths, or WebDataset tar shards ('shards/{000000..000099}.tar' or a folder of .tar files); e.g. made by `maia world dataset`.
    #[arg(long, value_name = "DATA")]
    pub data: Option<PathBuf>,
    /// Exemplars kept per unit (1 to 1000).
    #[arg(long, default_value_t = maia_core::exemplars::DEFAULT_K, value_parser = parse_k)]
    pub k: usize,
    /// Rounds before the agent must answer (MAIA: 25; at least 1).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_rounds: Option<u32>,
    /// Stop a run when it has cost this many dollars.
    #[arg(long, value_name = "USD")]
    pub max_cost: Option<f64>,
    /// Stop a run after this many tokens (input + output).
    #[arg(long)]
    pub max_tokens: Option<u64>,
    /// Stop a run after this many minutes.
    #[arg(long, value_name = "MIN")]
    pub max_minutes: Option<f64>,
    /// Keep each request's conversation under this many tokens: older images are replaced
    /// by their ids and captions, then older tool outputs shortened, each step journaled
    /// (config run.context_tokens). Default: the context the server reports (llama.cpp,
    /// vLLM) or the model's known one; 0: no budget.
    #[arg(long, value_name = "N")]
    pub context_tokens: Option<u64>,
    /// How the agent experiments: tools (one tool call at a time, the default) or program
    /// (Python programs that compose the tools, run sandboxed by `run_program`; config
    /// run.mode).
    #[arg(long, value_parser = ["tools", "program"])]
    pub mode: Option<String>,
    /// Before a final answer is accepted, score it and up to K-1 alternatives the agent
    /// lists on fresh images, show the agent the scores (it may experiment once more) and
    /// keep the best (config run.verify; 0: off).
    #[arg(long, value_name = "K")]
    pub verify: Option<u32>,
    /// Project config file (default ./maia.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Prompt folder (default ./prompts, then the built-in copies).
    #[arg(long, value_name = "DIR")]
    pub prompts: Option<PathBuf>,
    /// Where a torch model runs: cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Run a torch model in float16 (CUDA only).
    #[arg(long)]
    pub half: bool,
    /// A sparse autoencoder in SAELens layout (cfg.json, sae_weights.safetensors): its
    /// latents are units LAYER:sae:N (config key run.sae).
    #[arg(long, value_name = "DIR")]
    pub sae: Option<PathBuf>,
    /// Named directions (a safetensors file of one named vector each, or a .npy vector):
    /// each is a unit LAYER:dir:NAME, the layer's projection onto it (config key
    /// run.directions).
    #[arg(long, value_name = "FILE")]
    pub directions: Option<PathBuf>,
}

impl Default for AgentArgs {
    /// What the flags default to when none is given.
    fn default() -> Self {
        AgentArgs {
            backend: None,
            model: None,
            base_url: None,
            data: None,
            k: maia_core::exemplars::DEFAULT_K,
            max_rounds: None,
            max_cost: None,
            max_tokens: None,
            context_tokens: None,
            max_minutes: None,
            mode: None,
            verify: None,
            config: None,
            prompts: None,
            device: "auto".into(),
            half: false,
            sae: None,
            directions: None,
        }
    }
}

impl AgentArgs {
    /// The config these flags override: `[run]` keys into `run`, and `base_url` as
    /// `[openai]` and `[anthropic]` tables into `table`. Paths are made absolute: a run is
    /// resumed, and a batch's workers start, from other folders.
    pub fn override_into(&self, run: &mut toml::Table, table: &mut toml::Table) -> Result<()> {
        let path = absolute;
        let mut put = |k: &str, v: Option<toml::Value>| {
            if let Some(v) = v {
                run.insert(k.into(), v);
            }
        };
        put("backend", self.backend.clone().map(Into::into));
        put("model", self.model.clone().map(Into::into));
        put(
            "data",
            self.data
                .as_deref()
                .map(&path)
                .transpose()?
                .map(|p| p.display().to_string().into()),
        );
        put(
            "prompts",
            self.prompts
                .as_deref()
                .map(&path)
                .transpose()?
                .map(|p| p.display().to_string().into()),
        );
        for (key, file) in [("sae", &self.sae), ("directions", &self.directions)] {
            put(
                key,
                file.as_deref()
                    .map(&path)
                    .transpose()?
                    .map(|p| p.display().to_string().into()),
            );
        }
        put("max_rounds", self.max_rounds.map(|v| i64::from(v).into()));
        put("max_cost_usd", self.max_cost.map(Into::into));
        put("max_tokens", self.max_tokens.map(|v| (v as i64).into()));
        put(
            "context_tokens",
            self.context_tokens.map(|v| (v as i64).into()),
        );
        put("max_wall_minutes", self.max_minutes.map(Into::into));
        put("mode", self.mode.clone().map(Into::into));
        put("verify", self.verify.map(|v| i64::from(v).into()));
        if let Some(url) = &self.base_url {
            for backend in ["openai", "anthropic"] {
                let mut t = toml::Table::new();
                t.insert("base_url".into(), url.clone().into());
                table.insert(backend.into(), toml::Value::Table(t));
            }
        }
        Ok(())
    }
}

/// A `--k` value: exemplars per unit, 1 to 1000.
pub fn parse_k(s: &str) -> std::result::Result<usize, String> {
    let k: usize = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of exemplars"))?;
    if (1..=1000).contains(&k) {
        Ok(k)
    } else {
        Err(format!(
            "{k} is out of range: keep 1 to 1000 exemplars per unit"
        ))
    }
}

/// `path` made absolute against the current directory.
pub fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("{}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_become_run_keys_and_backend_tables() {
        let args = AgentArgs {
            backend: Some("openai".into()),
            base_url: Some("http://gpu:8000/v1".into()),
            data: Some(PathBuf::from("shapes")),
            max_rounds: Some(7),
            max_cost: Some(1.5),
            ..AgentArgs::default()
        };
        let (mut run, mut table) = (toml::Table::new(), toml::Table::new());
        args.override_into(&mut run, &mut table).expect("overrides");
        assert_eq!(run["backend"].as_str(), Some("openai"));
        assert_eq!(run["max_rounds"].as_integer(), Some(7));
        assert_eq!(run["max_cost_usd"].as_float(), Some(1.5));
        let data = run["data"].as_str().expect("data");
        assert!(Path::new(data).is_absolute() && data.ends_with("shapes"));
        assert!(!run.contains_key("model") && !run.contains_key("max_tokens"));
        for backend in ["openai", "anthropic"] {
            assert_eq!(
                table[backend]["base_url"].as_str(),
                Some("http://gpu:8000/v1")
            );
        }
    }
}
