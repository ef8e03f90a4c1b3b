//! The HTTP plumbing both network backends share: API keys that never print, one POST
//! that answers with an SSE body, and the mapping from HTTP failures to [`LlmError`]s.
//!
//! Error messages name the provider, the URL and the status, quote the provider's own
//! explanation (truncated, with the key scrubbed out should a server echo it), and say
//! what to do. They never contain a key or an auth header.

use super::sse::{SseEvent, SseParser};
use super::{EventSender, EventStream, LlmError, LlmErrorKind, channel, retry};
use reqwest::header::{HeaderMap, HeaderValue};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::time::{Duration, SystemTime};

/// Longest provider error text quoted in an [`LlmError`] message.
const MAX_QUOTED: usize = 400;

/// Most bytes of an error response body read before giving up on the rest.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// An API key. Its `Debug` prints `ApiKey(***)` and it has no `Display`, so configs that
/// hold one can be logged and printed safely.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }

    /// The key from environment variable `var`; `None` when unset or blank.
    pub fn from_env(var: &str) -> Option<Self> {
        let key = std::env::var(var).ok()?;
        let key = key.trim();
        (!key.is_empty()).then(|| ApiKey(key.to_string()))
    }

    /// The secret itself, for the one place that puts it into a header.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A header value marked sensitive (hyper and reqwest then keep it out of their
    /// debug output). `None` if the key holds bytes no header may carry.
    pub(crate) fn header_value(&self, prefix: &str) -> Option<HeaderValue> {
        let mut value = HeaderValue::from_str(&format!("{prefix}{}", self.0)).ok()?;
        value.set_sensitive(true);
        Some(value)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// Who a request goes to, for error messages.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    /// Provider as users know it (`OpenAI-compatible server`, `Anthropic`).
    pub provider: &'static str,
    /// The full request URL.
    pub url: String,
    /// The environment variable the key comes from.
    pub key_env: String,
    /// The key, only to scrub it from quoted server text.
    pub key: Option<ApiKey>,
    /// Longest silence tolerated between two body chunks.
    pub idle_timeout: Duration,
}

impl Endpoint {
    /// An error of `kind` whose message is prefixed with the provider.
    pub fn error(&self, kind: LlmErrorKind, message: impl fmt::Display) -> LlmError {
        LlmError::new(kind, format!("{}: {message}", self.provider))
    }

    /// `text` with the key (if any) replaced by `***`, whitespace collapsed and cut to
    /// [`MAX_QUOTED`] characters.
    pub fn quote(&self, text: &str) -> String {
        let mut text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if let Some(key) = &self.key
            && !key.0.is_empty()
        {
            text = text.replace(&key.0, "***");
        }
        truncate(&text, MAX_QUOTED)
    }

    /// The error for a non-success HTTP status with response `body`.
    pub fn status_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> LlmError {
        let said = self.quote(&provider_message(body));
        let said = if said.is_empty() {
            String::new()
        } else {
            format!(": {said}")
        };
        let url = &self.url;
        if refuses_images(&said) {
            // llama.cpp answers 500 here, which would otherwise be retried in vain.
            return self.error(
                LlmErrorKind::BadRequest { status },
                format!(
                    "the model takes no image input (HTTP {status} at {url}{said}); maia sends it the images its tools make, so serve a vision model: for llama.cpp give the server the model's projector (--mmproj FILE), for vLLM or Ollama pick a multimodal model"
                ),
            );
        }
        match status {
            429 => {
                let retry_after = retry_after(headers);
                let wait = match retry_after {
                    Some(d) => format!("; the server asks to wait {:.1}s", d.as_secs_f64()),
                    None => String::new(),
                };
                self.error(
                    LlmErrorKind::RateLimited { retry_after },
                    format!("rate limited (HTTP 429) at {url}{said}{wait}"),
                )
            }
            401 | 403 => {
                let hint = match &self.key {
                    Some(_) => format!(
                        "check the key in ${} (it was sent but refused)",
                        self.key_env
                    ),
                    None => format!("no API key was sent; set ${}", self.key_env),
                };
                self.error(
                    LlmErrorKind::Auth,
                    format!("authentication failed (HTTP {status}) at {url}{said}; {hint}"),
                )
            }
            408 => self.error(
                LlmErrorKind::Network,
                format!("request timed out (HTTP 408) at {url}{said}"),
            ),
            500..=599 => self.error(
                LlmErrorKind::Server { status },
                format!("server error (HTTP {status}) at {url}{said}"),
            ),
            400..=499 => {
                let hint = match status {
                    _ if exceeds_context(&said) => {
                        "; the conversation no longer fits the model's context: give the server a larger one (llama.cpp: --ctx-size)"
                    }
                    404 => "; check the base URL and the model name",
                    413 => "; the request is too large (fewer or smaller images may help)",
                    _ => "",
                };
                self.error(
                    LlmErrorKind::BadRequest { status },
                    format!("request rejected (HTTP {status}) at {url}{said}{hint}"),
                )
            }
            _ => self.error(
                LlmErrorKind::Protocol,
                format!("unexpected HTTP status {status} at {url}{said}"),
            ),
        }
    }

    /// The error for a JSON payload that does not parse.
    pub fn malformed(&self, error: &serde_json::Error, data: &str) -> LlmError {
        self.error(
            LlmErrorKind::Protocol,
            format!(
                "malformed JSON in a stream event from {} ({error}): {}",
                self.url,
                self.quote(data)
            ),
        )
    }
}

/// Cuts `text` to at most `max` characters, marking the cut.
fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// The human part of an error body, in whichever shape the server uses:
/// `{"error": {"message": …}}` (OpenAI, Anthropic, vLLM), `{"error": "…"}` (Ollama,
/// llama.cpp), `{"message": …}`, `{"detail": …}` (FastAPI); else the body as text.
pub(crate) fn provider_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
        return text.trim().to_string();
    };
    if let Some(message) = json["error"]["message"].as_str() {
        return message.to_string();
    }
    if let Some(message) = json["error"].as_str() {
        return message.to_string();
    }
    for field in ["message", "detail"] {
        match &json[field] {
            serde_json::Value::Null => {}
            serde_json::Value::String(s) => return s.clone(),
            other => return other.to_string(),
        }
    }
    text.trim().to_string()
}

/// The server's requested wait: `retry-after-ms` (OpenAI) or `retry-after` (seconds or
/// an HTTP-date).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    retry::parse_retry_after(get("retry-after")?, SystemTime::now())
}

/// Builds the HTTP client a backend keeps for its lifetime.
pub(crate) fn client(connect_timeout: Duration) -> Result<reqwest::Client, LlmError> {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .user_agent(concat!("maia/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            LlmError::new(
                LlmErrorKind::Config,
                format!("cannot set up the HTTP client: {e}"),
            )
        })
}

/// Whether a server's error text says the model cannot take images (llama.cpp without its
/// projector, vLLM and Ollama text-only models, OpenAI's text models).
fn refuses_images(said: &str) -> bool {
    let said = said.to_ascii_lowercase();
    said.contains("image")
        && (said.contains("not supported")
            || said.contains("not support image")
            || said.contains("only supported by certain models")
            || said.contains("missing data required for image input"))
        || said.contains("not a multimodal model")
}

/// Whether a server's error text says the request is longer than the model's context.
fn exceeds_context(said: &str) -> bool {
    let said = said.to_ascii_lowercase();
    said.contains("exceed")
        && (said.contains("context") || said.contains("maximum") || said.contains("too long"))
        || said.contains("context_length_exceeded")
        || said.contains("maximum context length")
}

/// POSTs `body` (JSON) and returns the SSE reply, or the error the status maps to.
pub(crate) async fn post_sse(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    headers: HeaderMap,
    body: Vec<u8>,
) -> Result<SseBody, LlmError> {
    let send = client
        .post(&endpoint.url)
        .headers(headers)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::ACCEPT, "text/event-stream")
        .body(body)
        .send();
    let idle = endpoint.idle_timeout;
    let response = tokio::time::timeout(idle, send)
        .await
        .map_err(|_| {
            endpoint.error(
                LlmErrorKind::Network,
                format!(
                    "no response from {} within {:.1}s",
                    endpoint.url,
                    idle.as_secs_f64()
                ),
            )
        })?
        .map_err(|e| {
            endpoint.error(
                LlmErrorKind::Network,
                format!(
                    "cannot reach {} ({}); is the server running and the base URL right?",
                    endpoint.url,
                    error_chain(&e)
                ),
            )
        })?;
    let status = response.status();
    if !status.is_success() {
        let headers = response.headers().clone();
        let body = read_limited(response, endpoint.idle_timeout).await;
        return Err(endpoint.status_error(status.as_u16(), &headers, &body));
    }
    Ok(SseBody {
        response,
        parser: SseParser::new(),
        ready: VecDeque::new(),
        endpoint: endpoint.clone(),
        received: 0,
    })
}

/// Reads at most [`MAX_ERROR_BODY`] bytes of an error response; whatever arrived if the
/// body breaks or stalls (the status already says what matters).
async fn read_limited(mut response: reqwest::Response, idle: Duration) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < MAX_ERROR_BODY {
        match tokio::time::timeout(idle, response.chunk()).await {
            Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body
}

/// `e` and its sources, joined (reqwest's top-level message alone is often just
/// "error sending request").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}

/// A streaming SSE response body.
pub(crate) struct SseBody {
    response: reqwest::Response,
    parser: SseParser,
    ready: VecDeque<SseEvent>,
    endpoint: Endpoint,
    received: usize,
}

impl SseBody {
    /// The next event; `Ok(None)` when the body ended cleanly. A broken connection or a
    /// stall longer than the idle timeout is a [`LlmErrorKind::Network`] error.
    pub async fn next(&mut self) -> Result<Option<SseEvent>, LlmError> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(Some(event));
            }
            let idle = self.endpoint.idle_timeout;
            let chunk = match tokio::time::timeout(idle, self.response.chunk()).await {
                Ok(Ok(chunk)) => chunk,
                Ok(Err(e)) => {
                    return Err(self.endpoint.error(
                        LlmErrorKind::Network,
                        format!(
                            "the connection to {} broke after {} bytes of the reply ({})",
                            self.endpoint.url,
                            self.received,
                            error_chain(&e)
                        ),
                    ));
                }
                Err(_) => {
                    return Err(self.endpoint.error(
                        LlmErrorKind::Network,
                        format!(
                            "no data from {} for {:.1}s after {} bytes of the reply",
                            self.endpoint.url,
                            idle.as_secs_f64(),
                            self.received
                        ),
                    ));
                }
            };
            let Some(chunk) = chunk else {
                return Ok(None);
            };
            self.received += chunk.len();
            self.ready.extend(self.parser.feed(&chunk));
        }
    }

    /// The error for a stream that ended before the provider's end marker.
    pub fn ended_early(&self, marker: &str) -> LlmError {
        self.endpoint.error(
            LlmErrorKind::Network,
            format!(
                "the reply from {} ended after {} bytes without {marker}; the connection \
                 was probably cut",
                self.endpoint.url, self.received
            ),
        )
    }
}

/// Runs `work` on a new tokio task that streams into the returned [`EventStream`]; an
/// error it returns becomes the stream's final item. Outside a tokio runtime the stream
/// holds one [`LlmErrorKind::Config`] error instead of panicking.
pub(crate) fn spawn_stream<F, Fut>(work: F) -> EventStream
where
    F: FnOnce(EventSender) -> Fut,
    Fut: Future<Output = Result<(), LlmError>> + Send + 'static,
{
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return EventStream::failed(LlmError::new(
            LlmErrorKind::Config,
            "LlmBackend::stream was called outside a tokio runtime",
        ));
    };
    let (tx, stream) = channel();
    let fut = work(tx.clone());
    runtime.spawn(async move {
        if let Err(error) = fut.await {
            tx.fail(error).await;
        }
    });
    stream
}

/// Checks what every HTTP backend needs before its first request: a model id and an
/// http(s) base URL. Returns the base without a trailing slash, and parsed.
pub(crate) fn check_model_and_base<'a>(
    backend: &str,
    model: &str,
    base_url: &'a str,
    example: &str,
) -> Result<(&'a str, reqwest::Url), LlmError> {
    let config_error = |message: String| LlmError::new(LlmErrorKind::Config, message);
    if model.trim().is_empty() {
        return Err(config_error(format!(
            "no model given for the {backend} backend; pass --model"
        )));
    }
    let base = base_url.trim_end_matches('/');
    let parsed = reqwest::Url::parse(base).map_err(|e| {
        config_error(format!(
            "base URL {base:?} is not a URL ({e}); expected e.g. {example}"
        ))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(config_error(format!(
            "base URL {base:?} must start with http:// or https://"
        )));
    }
    Ok((base, parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(key: Option<&str>) -> Endpoint {
        Endpoint {
            provider: "Test",
            url: "http://127.0.0.1:9/v1/chat/completions".into(),
            key_env: "TEST_KEY".into(),
            key: key.map(ApiKey::new),
            idle_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn provider_messages_come_out_of_every_error_shape() {
        let cases: [(&str, &str); 6] = [
            (
                r#"{"error":{"message":"bad model","type":"x"}}"#,
                "bad model",
            ),
            (
                r#"{"type":"error","error":{"type":"invalid_request_error","message":"m"}}"#,
                "m",
            ),
            (r#"{"error":"model 'x' not found"}"#, "model 'x' not found"),
            (r#"{"message":"nope"}"#, "nope"),
            (r#"{"detail":[{"loc":["body"]}]}"#, r#"[{"loc":["body"]}]"#),
            ("  Bad Gateway \n", "Bad Gateway"),
        ];
        for (body, want) in cases {
            assert_eq!(provider_message(body.as_bytes()), want, "{body}");
        }
    }

    #[test]
    fn quoted_text_is_scrubbed_and_truncated() {
        let e = endpoint(Some("sk-secret"));
        assert_eq!(
            e.quote("Incorrect key sk-secret\n given"),
            "Incorrect key *** given"
        );
        let long = "é".repeat(1000);
        let quoted = e.quote(&long);
        assert_eq!(quoted.chars().count(), MAX_QUOTED + 1);
    }

    #[test]
    fn real_servers_refusing_images_or_context_are_named_and_not_retried() {
        let e = endpoint(None);
        let none = HeaderMap::new();
        // llama.cpp's server without its projector, as recorded (HTTP 500).
        let images = e.status_error(
            500,
            &none,
            br#"{"error":{"code":500,"message":"image input is not supported - hint: if this is unexpected, you may need to provide the mmproj","type":"server_error"}}"#,
        );
        assert!(!images.kind.is_retryable(), "{images}");
        assert!(
            images.to_string().contains("takes no image input")
                && images.to_string().contains("--mmproj"),
            "{images}"
        );
        // vLLM's text-only model.
        let vllm = e.status_error(
            400,
            &none,
            br#"{"object":"error","message":"Qwen2ForCausalLM is not a multimodal model","type":"BadRequestError","code":400}"#,
        );
        assert!(vllm.to_string().contains("takes no image input"), "{vllm}");
        // llama.cpp's context overflow, as recorded (HTTP 400).
        let context = e.status_error(
            400,
            &none,
            br#"{"error":{"code":400,"message":"request (1230 tokens) exceeds the available context size (256 tokens), try increasing it","type":"exceed_context_size_error","n_prompt_tokens":1230,"n_ctx":256}}"#,
        );
        assert_eq!(context.kind, LlmErrorKind::BadRequest { status: 400 });
        assert!(
            context
                .to_string()
                .contains("no longer fits the model's context"),
            "{context}"
        );
        // A plain server error stays retryable.
        assert!(e.status_error(500, &none, b"oops").kind.is_retryable());
    }

    #[test]
    fn statuses_map_to_kinds() {
        let e = endpoint(Some("sk-secret"));
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("7"));
        let kind = |status, headers: &HeaderMap| e.status_error(status, headers, b"").kind;
        assert_eq!(
            kind(429, &headers),
            LlmErrorKind::RateLimited {
                retry_after: Some(Duration::from_secs(7))
            }
        );
        let none = HeaderMap::new();
        assert_eq!(
            kind(429, &none),
            LlmErrorKind::RateLimited { retry_after: None }
        );
        assert_eq!(kind(503, &none), LlmErrorKind::Server { status: 503 });
        assert_eq!(kind(529, &none), LlmErrorKind::Server { status: 529 });
        assert_eq!(kind(401, &none), LlmErrorKind::Auth);
        assert_eq!(kind(403, &none), LlmErrorKind::Auth);
        assert_eq!(kind(404, &none), LlmErrorKind::BadRequest { status: 404 });
        assert_eq!(kind(408, &none), LlmErrorKind::Network);
        let auth = e.status_error(
            401,
            &none,
            b"{\"error\":{\"message\":\"bad key sk-secret\"}}",
        );
        assert!(!auth.message.contains("sk-secret"), "{}", auth.message);
        assert!(auth.message.contains("$TEST_KEY"), "{}", auth.message);
    }

    #[test]
    fn retry_after_ms_wins_over_retry_after() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("7"));
        headers.insert("retry-after-ms", HeaderValue::from_static("1500"));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn keys_do_not_debug_print() {
        assert_eq!(format!("{:?}", ApiKey::new("sk-secret")), "ApiKey(***)");
    }
}
