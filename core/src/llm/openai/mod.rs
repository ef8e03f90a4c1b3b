//! The OpenAI-compatible Chat Completions backend: OpenAI itself, vLLM, Ollama
//! (`http://localhost:11434/v1`), llama.cpp's server, and anything else that speaks
//! `POST {base_url}/chat/completions` with `stream: true`.
//!
//! Images travel as `data:image/png;base64,…` URLs in `image_url` parts. `tool` role
//! messages carry text only, so the images of a round's tool results follow in one `user`
//! message, each labelled with its id (`img_3:`). [`ToolResult::data`] is never sent.
//!
//! [`ToolResult::data`]: super::ToolResult::data

mod decode;
mod wire;

use super::http::{self, ApiKey, Endpoint};
use super::{ContextFuture, EventStream, LlmBackend, LlmError, LlmErrorKind, LlmRequest};
use decode::{Decoder, Flow};
use reqwest::header::{AUTHORIZATION, HeaderMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Which body field carries the output-token cap. OpenAI's newer models accept only
/// `max_completion_tokens`; many other servers know only `max_tokens`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaxTokensField {
    /// `max_tokens` (vLLM, Ollama, llama.cpp, most proxies).
    MaxTokens,
    /// `max_completion_tokens` (api.openai.com).
    MaxCompletionTokens,
}

/// Settings of an [`OpenAiBackend`]. `Debug` shows the key as `ApiKey(***)`.
#[derive(Clone, Debug)]
pub struct OpenAiConfig {
    /// API root including the version; requests go to `{base_url}/chat/completions`.
    /// Default [`OpenAiConfig::DEFAULT_BASE_URL`].
    pub base_url: String,
    /// Model id (`gpt-4o`, `Qwen/Qwen2.5-VL-7B-Instruct`, `llava:13b`, …).
    pub model: String,
    /// The key, when given directly; otherwise it is read from `api_key_env`.
    pub api_key: Option<ApiKey>,
    /// Environment variable holding the key. Default `OPENAI_API_KEY`. Unset is fine
    /// for local servers (Ollama, llama.cpp, vLLM without `--api-key`): no
    /// `Authorization` header is sent then.
    pub api_key_env: String,
    /// Which field carries the token cap; `None` picks `max_completion_tokens` for
    /// api.openai.com and `max_tokens` elsewhere.
    pub max_tokens_field: Option<MaxTokensField>,
    /// Limit on establishing the connection.
    pub connect_timeout: Duration,
    /// Longest silence tolerated while waiting for the response or between two chunks
    /// of its body (reasoning models can think quietly for a while).
    pub idle_timeout: Duration,
}

impl OpenAiConfig {
    /// OpenAI's API root.
    pub const DEFAULT_BASE_URL: &'static str = "https://api.openai.com/v1";
    /// Where the key is read from unless configured otherwise.
    pub const DEFAULT_KEY_ENV: &'static str = "OPENAI_API_KEY";

    /// Defaults for `model` on OpenAI; set `base_url` for other servers.
    pub fn new(model: impl Into<String>) -> Self {
        OpenAiConfig {
            base_url: Self::DEFAULT_BASE_URL.into(),
            model: model.into(),
            api_key: None,
            api_key_env: Self::DEFAULT_KEY_ENV.into(),
            max_tokens_field: None,
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

/// Chat Completions over SSE. Cheap to clone; clones share one connection pool.
#[derive(Clone)]
pub struct OpenAiBackend {
    inner: Arc<Inner>,
}

struct Inner {
    model: String,
    max_tokens_field: MaxTokensField,
    key: Option<ApiKey>,
    endpoint: Endpoint,
    models_url: String,
    client: reqwest::Client,
}

impl fmt::Debug for OpenAiBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiBackend")
            .field("url", &self.inner.endpoint.url)
            .field("model", &self.inner.model)
            .field("key", &self.inner.key)
            .finish()
    }
}

impl OpenAiBackend {
    /// A backend for `config`, resolving the key (config, then `api_key_env`).
    ///
    /// Fails with [`LlmErrorKind::Config`] on an empty model, a base URL that is not
    /// http(s), or no key for api.openai.com.
    pub fn new(config: OpenAiConfig) -> Result<Self, LlmError> {
        let config_error = |message: String| LlmError::new(LlmErrorKind::Config, message);
        let (base, parsed) = http::check_model_and_base(
            "OpenAI-compatible",
            &config.model,
            &config.base_url,
            &format!(
                "{} or http://localhost:11434/v1",
                OpenAiConfig::DEFAULT_BASE_URL
            ),
        )?;
        let is_openai = parsed.host_str() == Some("api.openai.com");
        let key = config
            .api_key
            .clone()
            .or_else(|| ApiKey::from_env(&config.api_key_env));
        if key.is_none() && is_openai {
            return Err(config_error(format!(
                "no API key for {base}: set ${} (or pass --base-url for a local server \
                 such as Ollama at http://localhost:11434/v1)",
                config.api_key_env
            )));
        }
        let max_tokens_field = config.max_tokens_field.unwrap_or(if is_openai {
            MaxTokensField::MaxCompletionTokens
        } else {
            MaxTokensField::MaxTokens
        });
        let models_url = format!("{base}/models");
        let endpoint = Endpoint {
            provider: "OpenAI-compatible server",
            url: format!("{base}/chat/completions"),
            key_env: config.api_key_env.clone(),
            key: key.clone(),
            idle_timeout: config.idle_timeout,
        };
        Ok(OpenAiBackend {
            inner: Arc::new(Inner {
                model: config.model,
                max_tokens_field,
                key,
                endpoint,
                models_url,
                client: http::client(config.connect_timeout)?,
            }),
        })
    }

    /// The URL requests go to.
    pub fn url(&self) -> &str {
        &self.inner.endpoint.url
    }
}

impl LlmBackend for OpenAiBackend {
    fn name(&self) -> &str {
        "openai"
    }

    fn model(&self) -> &str {
        &self.inner.model
    }

    /// `GET {base}/models`: llama.cpp and vLLM say how long a context they serve; else
    /// the model's known context. A server that does not answer within five seconds counts
    /// as saying nothing.
    fn context_window(&self) -> ContextFuture<'_> {
        Box::pin(async move {
            let mut request = self
                .inner
                .client
                .get(&self.inner.models_url)
                .timeout(Duration::from_secs(5));
            if let Some(value) = self
                .inner
                .key
                .as_ref()
                .and_then(|k| k.header_value("Bearer "))
            {
                request = request.header(AUTHORIZATION, value);
            }
            let reported = match request.send().await {
                Ok(reply) if reply.status().is_success() => reply
                    .json::<serde_json::Value>()
                    .await
                    .ok()
                    .and_then(|models| {
                        super::context::reported_context(&models, &self.inner.model)
                    }),
                _ => None,
            };
            reported.or_else(|| super::context::known_context(&self.inner.model))
        })
    }

    fn stream(&self, request: LlmRequest) -> EventStream {
        let inner = self.inner.clone();
        http::spawn_stream(move |tx| async move {
            let body = wire::request_body(&inner.model, inner.max_tokens_field, &request);
            drop(request);
            let body = serde_json::to_vec(&body).map_err(|e| {
                LlmError::new(
                    LlmErrorKind::Config,
                    format!("cannot encode the request: {e}"),
                )
            })?;
            let mut headers = HeaderMap::new();
            if let Some(key) = &inner.key {
                let value = key.header_value("Bearer ").ok_or_else(|| {
                    LlmError::new(
                        LlmErrorKind::Config,
                        format!(
                            "the API key in ${} holds characters an HTTP header cannot carry",
                            inner.endpoint.key_env
                        ),
                    )
                })?;
                headers.insert(AUTHORIZATION, value);
            }
            let mut sse = http::post_sse(&inner.client, &inner.endpoint, headers, body).await?;
            let mut decoder = Decoder::new();
            let mut events = Vec::new();
            loop {
                let Some(event) = sse.next().await? else {
                    return Err(sse.ended_early("`data: [DONE]`"));
                };
                let flow = decoder.data(&inner.endpoint, &event.data, &mut events)?;
                for event in events.drain(..) {
                    if !tx.send(event).await {
                        return Ok(()); // nobody listens any more
                    }
                }
                if flow == Flow::Done {
                    return Ok(());
                }
            }
        })
    }
}
