//! LLM backends: one [`LlmBackend`] trait that turns a conversation into a stream of
//! [`LlmEvent`]s (text, reasoning and tool-call deltas, usage, finish), and the backends
//! that implement it.
//!
//! The agent loop ([`crate::agent`]) owns the conversation; a backend only translates it to
//! its wire format and the reply back into events. Backends never see API keys in error
//! messages they return: errors name the endpoint and status, never headers.

mod anthropic;
mod completion;
pub mod context;
mod factory;
mod http;
mod message;
mod openai;
pub mod replay;
pub mod retry;
pub mod sse;
mod stream;

pub use anthropic::{AnthropicBackend, AnthropicConfig};
pub use completion::{Completion, CompletionBuilder, RequestedToolCall, complete};
pub use factory::{BACKENDS, BackendFactory, build_backend};
pub use http::ApiKey;
pub use message::{ImagePart, LlmRequest, Message, Part, ToolResult};
pub use openai::{MaxTokensField, OpenAiBackend, OpenAiConfig};
pub use retry::backoff;
pub use stream::{EventSender, EventStream, channel};

use std::fmt;
use std::time::Duration;

/// The text the agent loop puts in a user message to make the model answer at once (the
/// round limit, or a human's `ForceAnswer`).
pub const ANSWER_NOW: &str = "Give your final answer now";

/// One streamed piece of a model reply.
#[derive(Clone, Debug, PartialEq)]
pub enum LlmEvent {
    /// Visible text.
    TextDelta(String),
    /// Reasoning / thinking text, shown but not resent as an answer.
    ReasoningDelta(String),
    /// A tool call begins (`index` orders parallel calls in one reply).
    ToolCallStart {
        /// Position of the call in the reply.
        index: usize,
        /// Provider's call id.
        id: String,
        /// Tool name.
        name: String,
    },
    /// More of a tool call's JSON arguments (raw text; may split anywhere).
    ToolCallDelta {
        /// Which call.
        index: usize,
        /// Argument text to append.
        arguments: String,
    },
    /// Token counts for this request (may come more than once; the last wins per field).
    Usage(Usage),
    /// The reply is complete.
    Finish(FinishReason),
}

/// Token usage of one request (defined with the run's events, which record it).
pub use maia_run::event::Usage;

/// Why a reply ended.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model finished its turn.
    Stop,
    /// The model wants its tool calls run.
    ToolCalls,
    /// Output token limit hit.
    Length,
    /// Anything else the provider reported.
    Other(String),
}

/// What kind of failure a backend hit; decides whether the agent retries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LlmErrorKind {
    /// 429; retry after the given delay if the server said.
    RateLimited {
        /// Server's Retry-After.
        retry_after: Option<Duration>,
    },
    /// 5xx.
    Server {
        /// HTTP status.
        status: u16,
    },
    /// Connection failed, reset, or the stream ended before the reply was complete.
    Network,
    /// The server sent something that is not the protocol (malformed JSON, unknown event).
    Protocol,
    /// 401/403: bad or missing key. Never retried.
    Auth,
    /// Other 4xx: the request itself is wrong. Never retried.
    BadRequest {
        /// HTTP status.
        status: u16,
    },
    /// Configuration problem found before any request (no key, bad URL).
    Config,
}

impl LlmErrorKind {
    /// Whether trying the same request again can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            LlmErrorKind::RateLimited { .. }
                | LlmErrorKind::Server { .. }
                | LlmErrorKind::Network
                | LlmErrorKind::Protocol
        )
    }
}

/// A backend failure. The message names what went wrong and, where it helps, how to fix
/// it; it never contains a key or an auth header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LlmError {
    /// Failure class.
    pub kind: LlmErrorKind,
    /// Human-readable explanation.
    pub message: String,
}

impl LlmError {
    /// A new error.
    pub fn new(kind: LlmErrorKind, message: impl Into<String>) -> Self {
        LlmError {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for LlmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LlmError {}

/// A model provider. `stream` starts one request and returns at once; events (or one
/// final error) arrive on the returned stream. Implementations retry nothing themselves
/// except where noted: the agent decides about retries from [`LlmErrorKind`].
pub trait LlmBackend: Send + Sync {
    /// Short backend name for the status bar and journal (`openai`, `anthropic`, `offline`).
    fn name(&self) -> &str;

    /// The model id requests go to.
    fn model(&self) -> &str;

    /// Starts a request. Must be called inside a tokio runtime.
    fn stream(&self, request: LlmRequest) -> EventStream;

    /// The model's context window in tokens: what the server reports where it does, else
    /// the model's known one ([`context::known_context`]), else `None`.
    fn context_window(&self) -> ContextFuture<'_> {
        let known = context::known_context(self.model());
        Box::pin(async move { known })
    }
}

/// What [`LlmBackend::context_window`] returns.
pub type ContextFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Option<u64>> + Send + 'a>>;
