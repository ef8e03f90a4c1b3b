//! Picking a backend by name from the resolved configuration.

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

/// Builds backend `name` (`model` overrides the config's model when non-empty; `replay`
/// needs the recorded run).
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
        "offline" => Ok(Arc::new(super::offline::OfflineBackend::new())),
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
