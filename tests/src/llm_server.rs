//! A real HTTP/1.1 server on loopback that plays a model provider: it records every
//! request and answers each from a queue of scripted responses — SSE bodies from recorded
//! fixtures or built with [`ScriptedReply`], error statuses, slow or cut streams.
//!
//! ```no_run
//! # async fn demo() {
//! use maia_tests::llm_server::{LlmServer, ScriptedReply, ScriptedResponse};
//!
//! let server = LlmServer::start().await;
//! server.push(ScriptedResponse::sse_file("openai_text_usage.sse"));
//! server.push(ScriptedReply::new().text("Done.").openai());
//! server.push(ScriptedResponse::json(429, serde_json::json!({"error": {"message": "slow down"}}))
//!     .header("retry-after", "3"));
//! // point a backend at format!("{}/v1", server.url()) …
//! let requests = server.requests(); // method, path, headers, body of each
//! # }
//! ```
//!
//! Responses are served in the order pushed, one per request; when the queue is empty
//! the server answers 500 with a body saying so. Every response closes its connection
//! (`Connection: close`), so each request arrives on a fresh one and a scripted reset
//! affects only its own request. SSE bodies are sent with chunked transfer encoding, one
//! HTTP chunk per event unless [`ScriptedResponse::split_every`] says otherwise.

use crate::http_wire::{find, read_request, reason};
use serde_json::Value;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The directory of the recorded provider streams: `tests/fixtures/llm/`.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/llm")
}

/// One request as the server received it.
pub type RecordedRequest = crate::http_wire::WireRequest;

/// How a response's body ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The body completes normally (terminating chunk) and the connection closes.
    Complete,
    /// After the body bytes, the connection is reset (TCP RST, no terminating chunk):
    /// the client sees a broken stream.
    Reset,
}

/// How the body is cut into HTTP chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunking {
    /// One chunk per SSE event (after each blank line).
    Events,
    /// Chunks of this many bytes, cutting events (and CRLFs, and UTF-8) anywhere.
    Every(usize),
    /// The whole body at once, with a Content-Length.
    Whole,
}

/// A response the server plays for one request.
#[derive(Clone, Debug)]
pub struct ScriptedResponse {
    /// HTTP status.
    pub status: u16,
    /// Extra headers (`Content-Type` is set from the constructor; these may override it).
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
    chunking: Chunking,
    /// Pause before the status line.
    start_delay: Duration,
    /// Pause before each chunk.
    chunk_delay: Duration,
    ending: Ending,
}

impl ScriptedResponse {
    /// A 200 `text/event-stream` response with `text` as its body.
    pub fn sse(text: impl Into<String>) -> Self {
        ScriptedResponse {
            status: 200,
            headers: vec![(
                "content-type".into(),
                "text/event-stream; charset=utf-8".into(),
            )],
            body: text.into().into_bytes(),
            chunking: Chunking::Events,
            start_delay: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            ending: Ending::Complete,
        }
    }

    /// [`ScriptedResponse::sse`] with the text of a fixture: `path` relative to
    /// [`fixtures_dir`] (or absolute).
    ///
    /// # Panics
    /// If the file cannot be read (a missing fixture is a bug in the test).
    pub fn sse_file(path: impl AsRef<Path>) -> Self {
        let path = fixtures_dir().join(path);
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::sse(text),
            Err(e) => panic!("cannot read SSE fixture {}: {e}", path.display()),
        }
    }

    /// A JSON response (errors: `{"error": {"message": …}}`).
    pub fn json(status: u16, body: Value) -> Self {
        Self::text(status, &body.to_string()).header("content-type", "application/json")
    }

    /// A plain-text response.
    pub fn text(status: u16, body: &str) -> Self {
        ScriptedResponse {
            status,
            headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
            body: body.as_bytes().to_vec(),
            chunking: Chunking::Whole,
            start_delay: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            ending: Ending::Complete,
        }
    }

    /// Adds a header, replacing one of the same name.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let name = name.to_ascii_lowercase();
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.to_string()));
        self
    }

    /// Sends the body in chunks of `bytes` bytes (at least 1), cutting anywhere.
    pub fn split_every(mut self, bytes: usize) -> Self {
        self.chunking = Chunking::Every(bytes.max(1));
        self
    }

    /// Waits `delay` before each chunk.
    pub fn delay_each(mut self, delay: Duration) -> Self {
        self.chunk_delay = delay;
        self
    }

    /// Waits `delay` before sending anything (not even the status line).
    pub fn delay_start(mut self, delay: Duration) -> Self {
        self.start_delay = delay;
        self
    }

    /// Keeps only the body before the first occurrence of `marker` (e.g. `"data: [DONE]"`
    /// for a stream that stops without its end marker).
    ///
    /// # Panics
    /// If the body does not contain `marker`.
    pub fn cut_before(mut self, marker: &str) -> Self {
        let at = find(&self.body, marker.as_bytes())
            .unwrap_or_else(|| panic!("cut_before: {marker:?} is not in the scripted body"));
        self.body.truncate(at);
        self
    }

    /// Keeps only the first `events` SSE events (each up to and including its blank line).
    pub fn keep_events(mut self, events: usize) -> Self {
        let kept: usize = sse_events(&self.body)
            .iter()
            .take(events)
            .map(|e| e.len())
            .sum();
        self.body.truncate(kept);
        self
    }

    /// Resets the connection after the body instead of completing it.
    pub fn reset(mut self) -> Self {
        self.ending = Ending::Reset;
        self
    }

    /// The body cut into HTTP chunks.
    fn chunks(&self) -> Vec<&[u8]> {
        match self.chunking {
            Chunking::Whole => vec![&self.body[..]],
            Chunking::Every(n) => self.body.chunks(n).collect(),
            Chunking::Events => sse_events(&self.body),
        }
    }
}

/// `body` split after each blank line (LF LF or CRLF CRLF); the tail, if any, last.
fn sse_events(body: &[u8]) -> Vec<&[u8]> {
    let mut events = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < body.len() {
        let end = if body[i..].starts_with(b"\r\n\r\n") {
            Some(i + 4)
        } else if body[i..].starts_with(b"\n\n") {
            Some(i + 2)
        } else {
            None
        };
        match end {
            Some(end) => {
                events.push(&body[start..end]);
                start = end;
                i = end;
            }
            None => i += 1,
        }
    }
    if start < body.len() {
        events.push(&body[start..]);
    }
    events
}

#[derive(Default)]
struct State {
    queue: VecDeque<ScriptedResponse>,
    requests: Vec<RecordedRequest>,
    /// What `GET …/models` answers (`None`: an empty list, as a server with nothing to
    /// say about its models).
    models: Option<Value>,
}

/// The server. Stops accepting when dropped.
pub struct LlmServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    accept: JoinHandle<()>,
}

impl std::fmt::Debug for LlmServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl LlmServer {
    /// Binds `127.0.0.1` on a free port and starts serving. Call inside a tokio runtime.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub async fn start() -> LlmServer {
        let listener = match TcpListener::bind("127.0.0.1:0").await {
            Ok(listener) => listener,
            Err(e) => panic!("cannot bind a loopback port for the test LLM server: {e}"),
        };
        let addr = match listener.local_addr() {
            Ok(addr) => addr,
            Err(e) => panic!("test LLM server has no local address: {e}"),
        };
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, shared.clone()));
            }
        });
        LlmServer {
            addr,
            state,
            accept,
        }
    }

    /// `http://127.0.0.1:PORT` (no trailing slash). OpenAI-style clients want
    /// `{url}/v1` as their base URL, Anthropic-style ones `{url}`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues the response for the next request that has none yet.
    pub fn push(&self, response: ScriptedResponse) {
        self.lock().queue.push_back(response);
    }

    /// Answers `GET …/models` with `list` (llama.cpp's and vLLM's lists report the context
    /// size). Those requests take no scripted response and are not in [`Self::requests`].
    pub fn set_models(&self, list: Value) {
        self.lock().models = Some(list);
    }

    /// The requests received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// Responses pushed but not yet served.
    pub fn pending(&self) -> usize {
        self.lock().queue.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for LlmServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Serves one connection: one request, one response, then close.
async fn serve(mut socket: TcpStream, state: Arc<Mutex<State>>) {
    let Some(request) = read_request(&mut socket).await else {
        return;
    };
    let response = {
        let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
        if request.method == "GET" && request.path.ends_with("/models") {
            let list = state
                .models
                .clone()
                .unwrap_or_else(|| serde_json::json!({"object": "list", "data": []}));
            Some(ScriptedResponse::json(200, list))
        } else {
            state.requests.push(request);
            state.queue.pop_front()
        }
    };
    let response = response.unwrap_or_else(|| {
        ScriptedResponse::text(500, "maia test LLM server: no scripted response left")
    });
    // A write error means the client went away; nothing to do about it.
    let _ = write_response(&mut socket, &response).await;
}

async fn write_response(
    socket: &mut TcpStream,
    response: &ScriptedResponse,
) -> std::io::Result<()> {
    if !response.start_delay.is_zero() {
        tokio::time::sleep(response.start_delay).await;
    }
    let chunked = response.chunking != Chunking::Whole;
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason(response.status)
    );
    for (name, value) in &response.headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    if chunked {
        head.push_str("transfer-encoding: chunked\r\n");
    } else {
        let _ = write!(head, "content-length: {}\r\n", response.body.len());
    }
    head.push_str("connection: close\r\n\r\n");
    socket.write_all(head.as_bytes()).await?;
    socket.flush().await?;
    for chunk in response.chunks() {
        if !response.chunk_delay.is_zero() {
            tokio::time::sleep(response.chunk_delay).await;
        }
        if chunked {
            if chunk.is_empty() {
                continue; // an empty chunk would end the body
            }
            socket
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            socket.write_all(chunk).await?;
            socket.write_all(b"\r\n").await?;
        } else {
            socket.write_all(chunk).await?;
        }
        socket.flush().await?;
    }
    match response.ending {
        Ending::Complete => {
            if chunked {
                socket.write_all(b"0\r\n\r\n").await?;
            }
            socket.flush().await?;
            socket.shutdown().await
        }
        Ending::Reset => {
            // Let the client read what was sent first (a stack may drop unread data on
            // RST), then close with SO_LINGER 0, which sends RST instead of FIN.
            tokio::time::sleep(Duration::from_millis(50)).await;
            socket.set_zero_linger()?;
            Ok(())
        }
    }
}

/// A model reply described once and rendered in either provider's SSE format, the way
/// the providers stream it: text and reasoning in small pieces, each tool call's id and
/// name first and its arguments in several pieces, usage at the end.
#[derive(Clone, Debug, Default)]
pub struct ScriptedReply {
    reasoning: String,
    text: String,
    calls: Vec<(String, String, String)>,
    usage: (u64, u64),
    finish: Option<String>,
}

impl ScriptedReply {
    /// An empty reply (usage 0/0).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the reasoning / thinking text.
    pub fn reasoning(mut self, text: &str) -> Self {
        self.reasoning = text.to_string();
        self
    }

    /// Sets the visible text.
    pub fn text(mut self, text: &str) -> Self {
        self.text = text.to_string();
        self
    }

    /// Adds a tool call; `arguments` is sent verbatim (it need not be valid JSON).
    pub fn tool_call(mut self, id: &str, name: &str, arguments: &str) -> Self {
        self.calls.push((id.into(), name.into(), arguments.into()));
        self
    }

    /// Sets prompt and completion token counts.
    pub fn usage(mut self, input_tokens: u64, output_tokens: u64) -> Self {
        self.usage = (input_tokens, output_tokens);
        self
    }

    /// Overrides the provider's finish / stop reason (`length`, `max_tokens`, …).
    pub fn finish_reason(mut self, reason: &str) -> Self {
        self.finish = Some(reason.to_string());
        self
    }

    /// As an OpenAI Chat Completions stream.
    pub fn openai(&self) -> ScriptedResponse {
        ScriptedResponse::sse(self.openai_sse())
    }

    /// As an Anthropic Messages stream.
    pub fn anthropic(&self) -> ScriptedResponse {
        ScriptedResponse::sse(self.anthropic_sse())
    }

    /// The OpenAI SSE text.
    pub fn openai_sse(&self) -> String {
        let chunk = |delta: Value, finish: Value| {
            serde_json::json!({
                "id": "chatcmpl-maiaScripted0001",
                "object": "chat.completion.chunk",
                "created": 1_767_225_600,
                "model": "gpt-4o-2024-08-06",
                "system_fingerprint": "fp_maia_test",
                "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
                "usage": null,
            })
        };
        let mut out = String::new();
        let mut event = |value: Value| {
            let _ = write!(out, "data: {value}\n\n");
        };
        event(chunk(
            serde_json::json!({"role": "assistant", "content": "", "refusal": null}),
            Value::Null,
        ));
        for piece in pieces(&self.reasoning) {
            event(chunk(
                serde_json::json!({"reasoning_content": piece}),
                Value::Null,
            ));
        }
        for piece in pieces(&self.text) {
            event(chunk(serde_json::json!({"content": piece}), Value::Null));
        }
        for (index, (id, name, arguments)) in self.calls.iter().enumerate() {
            event(chunk(
                serde_json::json!({"tool_calls": [{"index": index, "id": id, "type": "function",
                    "function": {"name": name, "arguments": ""}}]}),
                Value::Null,
            ));
            for piece in pieces(arguments) {
                event(chunk(
                    serde_json::json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}),
                    Value::Null,
                ));
            }
        }
        let finish = self.finish.clone().unwrap_or_else(|| {
            if self.calls.is_empty() {
                "stop"
            } else {
                "tool_calls"
            }
            .to_string()
        });
        event(chunk(serde_json::json!({}), Value::String(finish)));
        let (input, output) = self.usage;
        event(serde_json::json!({
            "id": "chatcmpl-maiaScripted0001",
            "object": "chat.completion.chunk",
            "created": 1_767_225_600,
            "model": "gpt-4o-2024-08-06",
            "system_fingerprint": "fp_maia_test",
            "choices": [],
            "usage": {"prompt_tokens": input, "completion_tokens": output,
                      "total_tokens": input + output},
        }));
        out.push_str("data: [DONE]\n\n");
        out
    }

    /// The Anthropic SSE text.
    pub fn anthropic_sse(&self) -> String {
        let mut out = String::new();
        let mut event = |name: &str, value: Value| {
            let _ = write!(out, "event: {name}\ndata: {value}\n\n");
        };
        let (input, output) = self.usage;
        event(
            "message_start",
            serde_json::json!({"type": "message_start", "message": {
                "id": "msg_01MaiaScripted", "type": "message", "role": "assistant",
                "model": "claude-sonnet-4-5-20250929", "content": [], "stop_reason": null,
                "stop_sequence": null, "usage": {"input_tokens": input,
                "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                "output_tokens": 1}}}),
        );
        event("ping", serde_json::json!({"type": "ping"}));
        let mut index = 0;
        if !self.reasoning.is_empty() {
            event(
                "content_block_start",
                serde_json::json!({"type": "content_block_start", "index": index,
                    "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
            );
            for piece in pieces(&self.reasoning) {
                event(
                    "content_block_delta",
                    serde_json::json!({"type": "content_block_delta", "index": index,
                        "delta": {"type": "thinking_delta", "thinking": piece}}),
                );
            }
            event(
                "content_block_delta",
                serde_json::json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": "signature_delta", "signature": "EqQBCkgIARABGAIiQMaiaScriptedSignature=="}}),
            );
            event(
                "content_block_stop",
                serde_json::json!({"type": "content_block_stop", "index": index}),
            );
            index += 1;
        }
        if !self.text.is_empty() {
            event(
                "content_block_start",
                serde_json::json!({"type": "content_block_start", "index": index,
                    "content_block": {"type": "text", "text": ""}}),
            );
            for piece in pieces(&self.text) {
                event(
                    "content_block_delta",
                    serde_json::json!({"type": "content_block_delta", "index": index,
                        "delta": {"type": "text_delta", "text": piece}}),
                );
            }
            event(
                "content_block_stop",
                serde_json::json!({"type": "content_block_stop", "index": index}),
            );
            index += 1;
        }
        for (id, name, arguments) in &self.calls {
            event(
                "content_block_start",
                serde_json::json!({"type": "content_block_start", "index": index,
                    "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
            );
            event(
                "content_block_delta",
                serde_json::json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": ""}}),
            );
            for piece in pieces(arguments) {
                event(
                    "content_block_delta",
                    serde_json::json!({"type": "content_block_delta", "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": piece}}),
                );
            }
            event(
                "content_block_stop",
                serde_json::json!({"type": "content_block_stop", "index": index}),
            );
            index += 1;
        }
        let stop = self.finish.clone().unwrap_or_else(|| {
            if self.calls.is_empty() {
                "end_turn"
            } else {
                "tool_use"
            }
            .to_string()
        });
        event(
            "message_delta",
            serde_json::json!({"type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": null},
                "usage": {"output_tokens": output}}),
        );
        event("message_stop", serde_json::json!({"type": "message_stop"}));
        out
    }
}

/// `text` in pieces of up to 6 characters (never splitting a character), as providers
/// stream tokens.
fn pieces(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(6).map(|c| c.iter().collect()).collect()
}
