//! The Anthropic Messages backend: `POST {base_url}/v1/messages` with `stream: true`.
//!
//! Images travel as base64 `image` blocks, tool results as `tool_result` blocks whose
//! content holds the result's text and, for each image, an `img_N:` label and the image.
//! [`ToolResult::data`] is never sent.
//!
//! With extended thinking on ([`AnthropicConfig::thinking_budget`]), the API wants the
//! thinking blocks of the reply that made tool calls sent back with their signatures
//! when the tool results go in. The conversation types do not carry them, so the backend
//! remembers them itself, keyed by the reply's first tool-call id; when it does not know
//! them (a run resumed in a new process) that one request goes without thinking.
//!
//! [`ToolResult::data`]: super::ToolResult::data

mod decode;
mod wire;

use super::http::{self, ApiKey, Endpoint};
use super::{EventStream, LlmBackend, LlmError, LlmErrorKind, LlmRequest, RequestedToolCall};
use decode::{Decoder, Flow};
use reqwest::header::{HeaderMap, HeaderName};
use serde_json::Value;
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Replies whose thinking blocks are remembered for resending.
const THINKING_MEMORY: usize = 32;

/// Settings of an [`AnthropicBackend`]. `Debug` shows the key as `ApiKey(***)`.
#[derive(Clone, Debug)]
pub struct AnthropicConfig {
    /// API root; requests go to `{base_url}/v1/messages` (a root that already ends in
    /// `/v1` is used as is). Default [`AnthropicConfig::DEFAULT_BASE_URL`].
    pub base_url: String,
    /// Model id (`claude-sonnet-4-5`, …).
    pub model: String,
    /// The key, when given directly; otherwise it is read from `api_key_env`.
    pub api_key: Option<ApiKey>,
    /// Environment variable holding the key. Default `ANTHROPIC_API_KEY`.
    pub api_key_env: String,
    /// The `anthropic-version` header. Default `2023-06-01`.
    pub version: String,
    /// Extended thinking budget in tokens (≥ 1024); `None` leaves thinking off.
    pub thinking_budget: Option<u32>,
    /// Limit on establishing the connection.
    pub connect_timeout: Duration,
    /// Longest silence tolerated while waiting for the response or between two chunks
    /// of its body.
    pub idle_timeout: Duration,
}

impl AnthropicConfig {
    /// Anthropic's API root.
    pub const DEFAULT_BASE_URL: &'static str = "https://api.anthropic.com";
    /// Where the key is read from unless configured otherwise.
    pub const DEFAULT_KEY_ENV: &'static str = "ANTHROPIC_API_KEY";
    /// The API version this backend speaks.
    pub const DEFAULT_VERSION: &'static str = "2023-06-01";

    /// Defaults for `model`.
    pub fn new(model: impl Into<String>) -> Self {
        AnthropicConfig {
            base_url: Self::DEFAULT_BASE_URL.into(),
            model: model.into(),
            api_key: None,
            api_key_env: Self::DEFAULT_KEY_ENV.into(),
            version: Self::DEFAULT_VERSION.into(),
            thinking_budget: None,
            connect_timeout: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(300),
        }
    }

    /// The same settings with another API root.
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// The same settings with a key given directly.
    pub fn with_api_key(mut self, key: ApiKey) -> Self {
        self.api_key = Some(key);
        self
    }
}

/// Messages API over SSE. Cheap to clone; clones share one connection pool.
#[derive(Clone)]
pub struct AnthropicBackend {
    inner: Arc<Inner>,
}

struct Inner {
    model: String,
    thinking_budget: Option<u32>,
    headers: HeaderMap,
    endpoint: Endpoint,
    client: reqwest::Client,
    /// (first tool-call id, thinking blocks) of recent replies, newest last.
    thinking: Mutex<VecDeque<(String, Vec<Value>)>>,
}

impl fmt::Debug for AnthropicBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnthropicBackend")
            .field("url", &self.inner.endpoint.url)
            .field("model", &self.inner.model)
            .field("key", &self.inner.endpoint.key)
            .finish()
    }
}

impl AnthropicBackend {
    /// A backend for `config`, resolving the key (config, then `api_key_env`).
    ///
    /// Fails with [`LlmErrorKind::Config`] when there is no key, no model, or the base
    /// URL or version cannot be used.
    pub fn new(config: AnthropicConfig) -> Result<Self, LlmError> {
        let config_error = |message: String| LlmError::new(LlmErrorKind::Config, message);
        let (base, _) = http::check_model_and_base(
            "Anthropic",
            &config.model,
            &config.base_url,
            AnthropicConfig::DEFAULT_BASE_URL,
        )?;
        let key = config
            .api_key
            .clone()
            .or_else(|| ApiKey::from_env(&config.api_key_env))
            .ok_or_else(|| {
                config_error(format!(
                    "no Anthropic API key: set ${} (or choose another backend)",
                    config.api_key_env
                ))
            })?;
        let mut headers = HeaderMap::new();
        let api_key = key.header_value("").ok_or_else(|| {
            config_error(format!(
                "the API key in ${} holds characters an HTTP header cannot carry",
                config.api_key_env
            ))
        })?;
        headers.insert(HeaderName::from_static("x-api-key"), api_key);
        let version = config.version.parse().map_err(|_| {
            config_error(format!(
                "anthropic-version {:?} is not a valid header value",
                config.version
            ))
        })?;
        headers.insert(HeaderName::from_static("anthropic-version"), version);
        let url = if base.ends_with("/v1") {
            format!("{base}/messages")
        } else {
            format!("{base}/v1/messages")
        };
        let endpoint = Endpoint {
            provider: "Anthropic",
            url,
            key_env: config.api_key_env.clone(),
            key: Some(key),
            idle_timeout: config.idle_timeout,
        };
        Ok(AnthropicBackend {
            inner: Arc::new(Inner {
                model: config.model,
                thinking_budget: config.thinking_budget,
                headers,
                endpoint,
                client: http::client(config.connect_timeout)?,
                thinking: Mutex::new(VecDeque::new()),
            }),
        })
    }

    /// The URL requests go to.
    pub fn url(&self) -> &str {
        &self.inner.endpoint.url
    }
}

impl Inner {
    fn thinking_for(&self, calls: &[RequestedToolCall]) -> Option<Vec<Value>> {
        let first = &calls.first()?.id;
        let memory = self.thinking.lock().unwrap_or_else(|p| p.into_inner());
        memory
            .iter()
            .rev()
            .find(|(id, _)| id == first)
            .map(|(_, blocks)| blocks.clone())
    }

    fn remember_thinking(&self, first_tool_id: &str, blocks: &[Value]) {
        let mut memory = self.thinking.lock().unwrap_or_else(|p| p.into_inner());
        if memory.len() >= THINKING_MEMORY {
            memory.pop_front();
        }
        memory.push_back((first_tool_id.to_string(), blocks.to_vec()));
    }
}

impl LlmBackend for AnthropicBackend {
    fn name(&self) -> &str {
        "anthropic"
    }

    fn model(&self) -> &str {
        &self.inner.model
    }

    fn stream(&self, request: LlmRequest) -> EventStream {
        let inner = self.inner.clone();
        http::spawn_stream(move |tx| async move {
            let settings = wire::BodySettings {
                model: &inner.model,
                thinking_budget: inner.thinking_budget,
            };
            let body = wire::request_body(&settings, &request, &|calls| inner.thinking_for(calls));
            drop(request);
            let body = serde_json::to_vec(&body).map_err(|e| {
                LlmError::new(
                    LlmErrorKind::Config,
                    format!("cannot encode the request: {e}"),
                )
            })?;
            let headers = inner.headers.clone();
            let mut sse = http::post_sse(&inner.client, &inner.endpoint, headers, body).await?;
            let mut decoder = Decoder::new();
            let mut events = Vec::new();
            loop {
                let Some(event) = sse.next().await? else {
                    return Err(sse.ended_early("`message_stop`"));
                };
                let flow =
                    decoder.event(&inner.endpoint, &event.event, &event.data, &mut events)?;
                if flow == Flow::Done
                    && let Some((id, blocks)) = decoder.thinking_blocks()
                {
                    inner.remember_thinking(id, blocks);
                }
                for event in events.drain(..) {
                    if !tx.send(event).await {
                        return Ok(());
                    }
                }
                if flow == Flow::Done {
                    return Ok(());
                }
            }
        })
    }
}
