//! Picking a backend by name from the resolved configuration.
//!
//! The HTTP backends and `replay` are built here; backends that live in crates above this
//! one (the offline experimenter, `maia-offline`) are registered by the program that links
//! them, with [`BackendFactory::with_local`].

use super::replay::ReplayBackend;
use super::{
    AnthropicBackend, AnthropicConfig, LlmBackend, LlmError, LlmErrorKind, OpenAiBackend,
    OpenAiConfig,
};
use crate::config::{Config, HttpBackendConfig};
use std::path::Path;
use std::sync::Arc;

/// Backend names `--backend` accepts.
pub const BACKENDS: &[&str] = &["offline", "openai", "anthropic", "replay"];

/// Makes a backend that needs no configuration (the offline experimenter).
pub type MakeBackend = fn() -> Arc<dyn LlmBackend>;

/// The backends a program can build by name: the built-in ones and those it registered.
#[derive(Clone, Debug, Default)]
pub struct BackendFactory {
    local: Vec<(&'static str, MakeBackend)>,
}

impl BackendFactory {
    /// Registers `name` (one of [`BACKENDS`]) as built by `make`.
    pub fn with_local(mut self, name: &'static str, make: MakeBackend) -> Self {
        self.local.retain(|(known, _)| *known != name);
        self.local.push((name, make));
        self
    }

    /// Builds backend `name` (`model` overrides the config's model when non-empty;
    /// `replay` needs the recorded run).
    pub fn build(
        &self,
        name: &str,
        model: &str,
        config: &Config,
        replay: Option<&Path>,
    ) -> Result<Arc<dyn LlmBackend>, LlmError> {
        match self.local.iter().find(|(known, _)| *known == name) {
            Some((_, make)) => Ok(make()),
            None => build_backend(name, model, config, replay),
        }
    }
}

/// Builds the built-in backend `name` (`model` overrides the config's model when non-empty;
/// `replay` needs the recorded run). A backend from another crate, such as `offline`,
/// needs a [`BackendFactory`] it was registered with.
pub fn build_backend(
    name: &str,
    model: &str,
    config: &Config,
    replay: Option<&Path>,
) -> Result<Arc<dyn LlmBackend>, LlmError> {
    let pick = |table: &HttpBackendConfig| {
        if model.is_empty() {
            table.model.clone()
        } else {
            model.to_owned()
        }
    };
    match name {
        "offline" => Err(LlmError::new(
            LlmErrorKind::Config,
            "the offline experimenter is not registered in this program; build its backends \
             with BackendFactory::default().with_local(\"offline\", maia_offline::backend)",
        )),
        "openai" => {
            let mut c = OpenAiConfig::new(pick(&config.openai));
            if !config.openai.base_url.is_empty() {
                c.base_url = config.openai.base_url.clone();
            }
            if !config.openai.api_key_env.is_empty() {
                c.api_key_env = config.openai.api_key_env.clone();
            }
            Ok(Arc::new(OpenAiBackend::new(c)?))
        }
        "anthropic" => {
            let mut c = AnthropicConfig::new(pick(&config.anthropic));
            if !config.anthropic.base_url.is_empty() {
                c.base_url = config.anthropic.base_url.clone();
            }
            if !config.anthropic.api_key_env.is_empty() {
                c.api_key_env = config.anthropic.api_key_env.clone();
            }
            Ok(Arc::new(AnthropicBackend::new(c)?))
        }
        "replay" => {
            let path = replay.ok_or_else(|| {
                LlmError::new(
                    LlmErrorKind::Config,
                    "the replay backend needs a recorded run: pass --replay RUN",
                )
            })?;
            Ok(Arc::new(ReplayBackend::from_journal(path)?))
        }
        other => Err(LlmError::new(
            LlmErrorKind::Config,
            format!(
                "unknown backend `{other}`; backends: {}",
                BACKENDS.join(", ")
            ),
        )),
    }
}
