//! Which agent an experiment command runs (`maia spurious`, `maia eval bias`): the backend,
//! its model, base URL and round limit, as flags, as config overrides for an agent built
//! in this process, and as arguments for the `maia` processes it starts.

/// The agent of an experiment command.
#[derive(clap::Args, Clone, Debug)]
pub struct AgentChoice {
    /// The agent: offline (no key, the default), openai, anthropic, or any other backend
    /// maia knows.
    #[arg(long, default_value = "offline")]
    pub backend: String,
    /// The agent's model (default: the backend's).
    #[arg(long)]
    pub model: Option<String>,
    /// The agent's API base URL (an OpenAI-compatible server: vLLM, llama.cpp, Ollama).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Rounds per agent run.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_rounds: Option<u32>,
}

impl AgentChoice {
    /// The choice as config overrides (`run.backend`, `run.model`, the base URL of the
    /// HTTP backends).
    pub fn overrides(&self) -> toml::Table {
        let mut run = toml::Table::new();
        run.insert("backend".into(), self.backend.clone().into());
        if let Some(model) = &self.model {
            run.insert("model".into(), model.clone().into());
        }
        if let Some(rounds) = self.max_rounds {
            run.insert("max_rounds".into(), i64::from(rounds).into());
        }
        let mut table = toml::Table::new();
        table.insert("run".into(), toml::Value::Table(run));
        insert_base_url(&mut table, self.base_url.as_deref());
        table
    }

    /// The choice as `maia run` / `maia batch plan` arguments.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec!["--backend".to_owned(), self.backend.clone()];
        if let Some(model) = &self.model {
            args.extend(["--model".to_owned(), model.clone()]);
        }
        if let Some(url) = &self.base_url {
            args.extend(["--base-url".to_owned(), url.clone()]);
        }
        if let Some(rounds) = self.max_rounds {
            args.extend(["--max-rounds".to_owned(), rounds.to_string()]);
        }
        args
    }
}

/// Sets `url` as the base URL of every HTTP backend (`[openai]` and `[anthropic]`).
pub fn insert_base_url(table: &mut toml::Table, url: Option<&str>) {
    if let Some(url) = url {
        for backend in ["openai", "anthropic"] {
            let mut t = toml::Table::new();
            t.insert("base_url".into(), url.into());
            table.insert(backend.into(), toml::Value::Table(t));
        }
    }
}
