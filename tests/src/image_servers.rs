//! Real HTTP/1.1 servers on loopback that play the two diffusion APIs maia's
//! `http-images` plugin speaks: the **OpenAI Images API** and the **AUTOMATIC1111 / Forge**
//! web-UI API. They draw real PNGs (a solid colour derived from the prompt and seed, at the
//! size asked for), answer with the bodies those services send, record every request, and
//! play scripted faults: 429 with `Retry-After`, 5xx, slow answers, bad base64, PNGs that
//! do not decode, zero images, dropped connections.
//!
//! ```no_run
//! # async fn demo() {
//! use maia_tests::image_servers::{Fault, ImageServer, RetryAfter, prompt_color, OPENAI_GENERATIONS};
//!
//! let server = ImageServer::openai().await;
//! server.push_fault(Fault::TooManyRequests { retry_after: RetryAfter::Seconds(2) });
//! server.push_fault(Fault::InvalidBase64);
//! // point the client at format!("{}/v1", server.url()): the first image request gets 429,
//! // the second a body whose b64_json is not base64, the rest are served normally.
//! assert_eq!(server.count(OPENAI_GENERATIONS), 0);
//! let red_ish = prompt_color("a red car", 0); // the colour of the first image for that prompt
//! # let _ = red_ish;
//! # }
//! ```
//!
//! # What is served
//!
//! | API | route | answer |
//! |---|---|---|
//! | OpenAI | `POST /v1/images/generations` (JSON) | `{"created", "data": [{"b64_json", "revised_prompt"}]}` |
//! | OpenAI | `POST /v1/images/edits` (multipart) | same shape; 400 if the `image` part is not a PNG |
//! | A1111 | `POST /sdapi/v1/txt2img` (JSON) | `{"images": [b64], "parameters": {…}, "info": "<JSON text>"}` |
//! | A1111 | `POST /sdapi/v1/img2img` (JSON, `init_images`) | same shape |
//! | A1111 | `GET /sdapi/v1/sd-models` | `[{"title", "model_name", "hash", "sha256", "filename", "config"}]` |
//! | A1111 | `GET /sdapi/v1/options` | `{"sd_model_checkpoint": <title of the first model>, …}` |
//!
//! Anything else is answered 404 (and recorded). Errors have each service's shape: OpenAI's
//! `{"error": {"message", "type", "param", "code"}}`; A1111's
//! `{"error", "detail", "body", "errors"}` (and FastAPI's `{"detail": [...]}` for 422
//! validation errors).
//!
//! # Images
//!
//! Image `i` of a request (0-based) is filled with [`prompt_color`]`(prompt, seed + i)`:
//! for A1111 `seed` is the request's (a seed of `-1` is replaced by a random one, reported
//! in `info`), for OpenAI (which has no seed) it is 0. Edits blend the input image (resized
//! to the output size) toward that colour: `out = in·(1−s) + colour·s` per channel, with
//! `s` = `denoising_strength` (default 0.75) for A1111 and 0.5 for OpenAI; alpha is kept.
//!
//! # Faults
//!
//! [`ImageServer::push_fault`] queues a [`Fault`] for the next *image* request (the four
//! generation/edit routes); [`ImageServer::push_fault_on`] for the next request to one
//! exact route (e.g. `/sdapi/v1/sd-models`). Each request takes the first queued fault that
//! applies to it, in the order pushed; when none is left it is served normally. Every
//! response closes its connection, so each request arrives on a fresh one.

use crate::http_wire::{self, WireRequest, find, header_in, reason};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use image::{ImageFormat, Rgba, RgbaImage};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// `POST`: OpenAI image generation (JSON body).
pub const OPENAI_GENERATIONS: &str = "/v1/images/generations";
/// `POST`: OpenAI image edit (multipart body).
pub const OPENAI_EDITS: &str = "/v1/images/edits";
/// `POST`: A1111 text-to-image.
pub const A1111_TXT2IMG: &str = "/sdapi/v1/txt2img";
/// `POST`: A1111 image-to-image.
pub const A1111_IMG2IMG: &str = "/sdapi/v1/img2img";
/// `GET`: A1111 checkpoint list.
pub const A1111_SD_MODELS: &str = "/sdapi/v1/sd-models";
/// `GET`: A1111 current options (holds the loaded checkpoint).
pub const A1111_OPTIONS: &str = "/sdapi/v1/options";

/// The checkpoint an A1111 server from [`ImageServer::a1111`] lists (and has loaded).
pub const DEFAULT_A1111_MODEL: &str = "v1-5-pruned-emaonly";

/// An InstructPix2Pix checkpoint name, for [`ImageServer::a1111_with_models`].
pub const INSTRUCT_PIX2PIX_MODEL: &str = "instruct-pix2pix-00-22000";

/// Largest width or height drawn (larger requests are refused as invalid).
const MAX_SIDE: u64 = 4096;

/// Which service a server plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// The OpenAI Images API (`/v1/images/…`).
    OpenAi,
    /// The AUTOMATIC1111 / Forge web-UI API (`/sdapi/v1/…`).
    A1111,
}

/// The value of a `Retry-After` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryAfter {
    /// `Retry-After: N` (delay in seconds).
    Seconds(u64),
    /// `Retry-After: Sun, 06 Nov 1994 08:49:37 GMT` (an IMF-fixdate).
    HttpDate(SystemTime),
}

impl RetryAfter {
    /// The header value as sent.
    pub fn header_value(&self) -> String {
        match self {
            RetryAfter::Seconds(n) => n.to_string(),
            RetryAfter::HttpDate(at) => httpdate::fmt_http_date(*at),
        }
    }
}

/// A scripted misbehaviour, played for one request instead of (or before) normal service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// 429 with a `Retry-After` header and the service's rate-limit error body.
    TooManyRequests {
        /// The header's value.
        retry_after: RetryAfter,
    },
    /// This status (500, 502, 503, …) with the service's server-error body.
    ServerError(u16),
    /// This status with this body verbatim (`application/json` if it parses as JSON,
    /// else `text/plain`).
    Status(u16, String),
    /// Sleep this long before answering (normally) — for client timeouts.
    Slow(Duration),
    /// 200 with the normal body shape, but the image fields are not base64.
    InvalidBase64,
    /// 200 with the normal body shape, but the image fields are valid base64 of bytes that
    /// are not a PNG.
    UndecodablePng,
    /// 200 with no images: `"data": []` (OpenAI) or `"images": []` (A1111).
    ZeroImages,
    /// Read the request, then close the connection without a byte of reply.
    CloseConnection,
}

/// One part of a `multipart/form-data` body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormField {
    /// The part's `name`.
    pub name: String,
    /// The part's `filename`, for file parts.
    pub filename: Option<String>,
    /// The part's `Content-Type`, if it had one.
    pub content_type: Option<String>,
    /// The part's bytes.
    pub data: Vec<u8>,
}

impl FormField {
    /// The part's bytes as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

/// One request as the server received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// Path and query as sent (`/sdapi/v1/txt2img`).
    pub path: String,
    /// Headers in arrival order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The raw body (chunked transfer encoding already undone).
    pub body: Vec<u8>,
    /// The body parsed as JSON, when it is JSON.
    pub json: Option<Value>,
    /// The parts of a `multipart/form-data` body, in order (empty otherwise).
    pub form: Vec<FormField>,
    /// The fault played for this request, if any.
    pub fault: Option<Fault>,
}

impl RecordedRequest {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }

    /// The path without its query.
    pub fn route(&self) -> &str {
        self.path.split('?').next().unwrap_or(&self.path)
    }

    /// The first multipart part called `name`.
    pub fn field(&self, name: &str) -> Option<&FormField> {
        self.form.iter().find(|f| f.name == name)
    }

    /// The text of the first multipart part called `name`.
    pub fn field_text(&self, name: &str) -> Option<String> {
        self.field(name).map(FormField::text)
    }

    /// Whether `needle` occurs anywhere in the request: path, any header value or the body
    /// (e.g. to check where an API key went).
    pub fn contains(&self, needle: &str) -> bool {
        self.path.contains(needle)
            || self.headers.iter().any(|(_, v)| v.contains(needle))
            || find(&self.body, needle.as_bytes()).is_some()
    }
}

/// The colour of image `seed` for `prompt`: the first three bytes of a 64-bit FNV-1a hash
/// of the prompt's UTF-8 bytes followed by the seed's little-endian bytes.
pub fn prompt_color(prompt: &str, seed: i64) -> [u8; 3] {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in prompt.bytes().chain(seed.to_le_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let [a, b, c, ..] = hash.to_le_bytes();
    [a, b, c]
}

/// A loopback port nothing listens on (a listener was bound to it, then dropped), for
/// "connection refused". Another process could take it in between; in practice the kernel
/// does not hand a just-freed ephemeral port out again at once.
///
/// # Panics
/// If no loopback port can be bound.
pub fn refused_port() -> u16 {
    let listener = match std::net::TcpListener::bind("127.0.0.1:0") {
        Ok(listener) => listener,
        Err(e) => panic!("cannot bind a loopback port to find a closed one: {e}"),
    };
    match listener.local_addr() {
        Ok(addr) => addr.port(),
        Err(e) => panic!("bound loopback listener has no local address: {e}"),
    }
}

/// `http://127.0.0.1:PORT` for a [`refused_port`].
pub fn refused_url() -> String {
    format!("http://127.0.0.1:{}", refused_port())
}

/// A checkpoint an A1111 server lists.
#[derive(Clone, Debug)]
struct Checkpoint {
    model_name: String,
    title: String,
    hash: String,
}

impl Checkpoint {
    fn new(model_name: &str) -> Checkpoint {
        let hash = prompt_color(model_name, 0)
            .iter()
            .chain(&prompt_color(model_name, 1))
            .fold(String::new(), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            });
        let hash = hash[..10].to_string();
        Checkpoint {
            title: format!("{model_name}.safetensors [{hash}]"),
            model_name: model_name.to_string(),
            hash,
        }
    }

    /// Whether an `sd_model_checkpoint` value names this checkpoint (title, model name,
    /// file name or hash, as A1111's closest-match lookup accepts).
    fn matches(&self, wanted: &str) -> bool {
        wanted == self.title
            || wanted == self.model_name
            || wanted == format!("{}.safetensors", self.model_name)
            || wanted == self.hash
    }

    fn json(&self) -> Value {
        json!({
            "title": self.title,
            "model_name": self.model_name,
            "hash": self.hash,
            "sha256": format!("{}{}", self.hash, "0".repeat(54)),
            "filename": format!("/stable-diffusion-webui/models/Stable-diffusion/{}.safetensors", self.model_name),
            "config": null,
        })
    }
}

struct State {
    api: Api,
    models: Vec<Checkpoint>,
    api_key: Option<String>,
    /// Queued faults: `None` applies to the next image request, `Some(route)` to the next
    /// request to that route.
    faults: VecDeque<(Option<String>, Fault)>,
    requests: Vec<RecordedRequest>,
}

/// The server. Stops accepting when dropped.
pub struct ImageServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    accept: JoinHandle<()>,
}

impl std::fmt::Debug for ImageServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageServer")
            .field("addr", &self.addr)
            .field("api", &self.api())
            .finish()
    }
}

impl ImageServer {
    /// An OpenAI Images API server on a free loopback port. Its base URL for clients is
    /// `{url}/v1`. Call inside a tokio runtime.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub async fn openai() -> ImageServer {
        Self::start(Api::OpenAi, &[]).await
    }

    /// An A1111 web-UI API server listing (and having loaded) [`DEFAULT_A1111_MODEL`].
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub async fn a1111() -> ImageServer {
        Self::start(Api::A1111, &[DEFAULT_A1111_MODEL]).await
    }

    /// An A1111 server listing these checkpoints by model name (the first is the loaded
    /// one), e.g. `&[DEFAULT_A1111_MODEL, INSTRUCT_PIX2PIX_MODEL]`. Titles are
    /// `"{name}.safetensors [{hash}]"` as A1111 shows them.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub async fn a1111_with_models(models: &[&str]) -> ImageServer {
        Self::start(Api::A1111, models).await
    }

    async fn start(api: Api, models: &[&str]) -> ImageServer {
        let listener = match TcpListener::bind("127.0.0.1:0").await {
            Ok(listener) => listener,
            Err(e) => panic!("cannot bind a loopback port for the test image server: {e}"),
        };
        let addr = match listener.local_addr() {
            Ok(addr) => addr,
            Err(e) => panic!("test image server has no local address: {e}"),
        };
        let state = Arc::new(Mutex::new(State {
            api,
            models: models.iter().map(|m| Checkpoint::new(m)).collect(),
            api_key: None,
            faults: VecDeque::new(),
            requests: Vec::new(),
        }));
        let shared = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, shared.clone()));
            }
        });
        ImageServer {
            addr,
            state,
            accept,
        }
    }

    /// Which service this server plays.
    pub fn api(&self) -> Api {
        self.lock().api
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// From now on, answer 401 (OpenAI's `invalid_api_key` error) to any request without
    /// `Authorization: Bearer {key}`. Faults are still played first.
    pub fn require_api_key(&self, key: &str) {
        self.lock().api_key = Some(key.to_string());
    }

    /// Queues `fault` for the next image request (generation or edit) that has none yet.
    pub fn push_fault(&self, fault: Fault) {
        self.lock().faults.push_back((None, fault));
    }

    /// Queues `fault` for the next request to `route` (a path without query, e.g.
    /// [`A1111_SD_MODELS`]).
    pub fn push_fault_on(&self, route: &str, fault: Fault) {
        self.lock()
            .faults
            .push_back((Some(route.to_string()), fault));
    }

    /// Faults queued but not yet played.
    pub fn pending_faults(&self) -> usize {
        self.lock().faults.len()
    }

    /// The requests received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// How many requests arrived for `route` (compared without the query).
    pub fn count(&self, route: &str) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.route() == route)
            .count()
    }

    /// The titles of the checkpoints an A1111 server lists (empty for OpenAI).
    pub fn model_titles(&self) -> Vec<String> {
        self.lock().models.iter().map(|m| m.title.clone()).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for ImageServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// A response about to be written.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn json(status: u16, body: &Value) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

fn is_image_route(route: &str) -> bool {
    [
        OPENAI_GENERATIONS,
        OPENAI_EDITS,
        A1111_TXT2IMG,
        A1111_IMG2IMG,
    ]
    .contains(&route)
}

/// Serves one connection: one request, one response, then close.
async fn serve(mut socket: TcpStream, state: Arc<Mutex<State>>) {
    let Some(mut request) = read_request(&mut socket).await else {
        return;
    };
    let (api, models, api_key, fault) = {
        let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
        let route = request.route().to_string();
        let at = state.faults.iter().position(|(on, _)| match on {
            None => is_image_route(&route),
            Some(on) => *on == route,
        });
        let fault = at.and_then(|at| state.faults.remove(at)).map(|(_, f)| f);
        request.fault = fault.clone();
        state.requests.push(request.clone());
        (
            state.api,
            state.models.clone(),
            state.api_key.clone(),
            fault,
        )
    };
    let mut mode = Mode::Normal;
    match fault {
        Some(Fault::CloseConnection) => return, // dropping the socket closes it
        Some(Fault::Slow(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::TooManyRequests { retry_after }) => {
            let response = rate_limited(api).header("retry-after", &retry_after.header_value());
            let _ = write_response(&mut socket, api, response).await;
            return;
        }
        Some(Fault::ServerError(status)) => {
            let _ = write_response(&mut socket, api, server_error(api, status)).await;
            return;
        }
        Some(Fault::Status(status, body)) => {
            let content_type = if serde_json::from_str::<Value>(&body).is_ok() {
                "application/json"
            } else {
                "text/plain; charset=utf-8"
            };
            let response = Response {
                status,
                headers: vec![("content-type".into(), content_type.into())],
                body: body.into_bytes(),
            };
            let _ = write_response(&mut socket, api, response).await;
            return;
        }
        Some(Fault::InvalidBase64) => mode = Mode::InvalidBase64,
        Some(Fault::UndecodablePng) => mode = Mode::UndecodablePng,
        Some(Fault::ZeroImages) => mode = Mode::ZeroImages,
        None => {}
    }
    let response = match api_key {
        Some(key) if request.header("authorization") != Some(&format!("Bearer {key}")) => {
            unauthorized()
        }
        _ => {
            // Drawing and encoding PNGs is CPU work: keep it off the runtime's threads.
            let handled =
                tokio::task::spawn_blocking(move || answer(api, &models, &request, mode)).await;
            match handled {
                Ok(response) => response,
                Err(e) => server_error_text(api, &format!("test image server panicked: {e}")),
            }
        }
    };
    // A write error means the client went away (a timeout, say); nothing to do about it.
    let _ = write_response(&mut socket, api, response).await;
}

/// How the images of a normal answer are spoiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Normal,
    InvalidBase64,
    UndecodablePng,
    ZeroImages,
}

impl Mode {
    /// The image fields of an answer: the PNGs' base64, or the spoiled stand-ins.
    fn encode(self, pngs: &[Vec<u8>]) -> Vec<String> {
        match self {
            Mode::Normal => pngs.iter().map(|p| BASE64.encode(p)).collect(),
            Mode::InvalidBase64 => pngs
                .iter()
                .map(|_| "iVBORw0KGgo!!not*base64~~".to_string())
                .collect(),
            Mode::UndecodablePng => pngs
                .iter()
                .map(|_| BASE64.encode(b"GIF89a: these bytes are not a PNG image"))
                .collect(),
            Mode::ZeroImages => Vec::new(),
        }
    }
}

fn answer(api: Api, models: &[Checkpoint], request: &RecordedRequest, mode: Mode) -> Response {
    let route = request.route();
    match (api, request.method.as_str(), route) {
        (Api::OpenAi, "POST", OPENAI_GENERATIONS) => openai_generate(request, mode),
        (Api::OpenAi, "POST", OPENAI_EDITS) => openai_edit(request, mode),
        (Api::A1111, "POST", A1111_TXT2IMG) => a1111_generate(models, request, mode, false),
        (Api::A1111, "POST", A1111_IMG2IMG) => a1111_generate(models, request, mode, true),
        (Api::A1111, "GET", A1111_SD_MODELS) => Response::json(
            200,
            &Value::Array(models.iter().map(Checkpoint::json).collect()),
        ),
        (Api::A1111, "GET", A1111_OPTIONS) => Response::json(
            200,
            &json!({
                "sd_model_checkpoint": models.first().map(|m| m.title.clone()),
                "samples_format": "png",
                "CLIP_stop_at_last_layers": 1,
            }),
        ),
        (Api::OpenAi, ..) => openai_error(
            404,
            &format!("Invalid URL ({} {})", request.method, route),
            "invalid_request_error",
            None,
            None,
        ),
        (Api::A1111, ..) => Response::json(404, &json!({"detail": "Not Found"})),
    }
}

// --- OpenAI --------------------------------------------------------------------------------

fn openai_error(
    status: u16,
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Response {
    Response::json(
        status,
        &json!({"error": {"message": message, "type": kind, "param": param, "code": code}}),
    )
}

fn unauthorized() -> Response {
    openai_error(
        401,
        "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        None,
        Some("invalid_api_key"),
    )
}

fn rate_limited(api: Api) -> Response {
    match api {
        Api::OpenAi => openai_error(
            429,
            "Rate limit reached for images per minute. Please try again later.",
            "requests",
            None,
            Some("rate_limit_exceeded"),
        ),
        Api::A1111 => Response::json(429, &json!({"detail": "Too Many Requests"})),
    }
}

fn server_error(api: Api, status: u16) -> Response {
    match api {
        Api::OpenAi => openai_error(
            status,
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
            None,
        ),
        Api::A1111 => Response::json(
            status,
            &json!({"error": "OutOfMemoryError", "detail": "", "body": "",
                    "errors": "CUDA out of memory. Tried to allocate 2.00 GiB"}),
        ),
    }
}

fn server_error_text(api: Api, message: &str) -> Response {
    match api {
        Api::OpenAi => openai_error(500, message, "server_error", None, None),
        Api::A1111 => Response::json(
            500,
            &json!({"error": "RuntimeError", "detail": "", "body": "", "errors": message}),
        ),
    }
}

/// `"WxH"`, each side 1..=4096.
fn parse_size(size: &str) -> Option<(u32, u32)> {
    let (w, h) = size.split_once('x')?;
    let (w, h) = (w.parse::<u64>().ok()?, h.parse::<u64>().ok()?);
    let ok = |v: u64| (1..=MAX_SIDE).contains(&v);
    (ok(w) && ok(h)).then_some((w as u32, h as u32))
}

/// The common parameters of both OpenAI routes, or the error to answer.
struct OpenAiParams {
    prompt: String,
    n: u32,
    size: (u32, u32),
}

fn openai_params(
    prompt: Option<String>,
    n: Option<Value>,
    size: Option<String>,
) -> Result<OpenAiParams, Response> {
    let prompt = match prompt {
        Some(p) if !p.is_empty() => p,
        _ => {
            return Err(openai_error(
                400,
                "Missing required parameter: 'prompt'.",
                "invalid_request_error",
                Some("prompt"),
                Some("missing_required_parameter"),
            ));
        }
    };
    let n = match n {
        None | Some(Value::Null) => 1,
        Some(v) => match v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        {
            Some(n @ 1..=10) => n as u32,
            _ => {
                return Err(openai_error(
                    400,
                    &format!("Invalid 'n': {v} is not an integer between 1 and 10."),
                    "invalid_request_error",
                    Some("n"),
                    Some("invalid_value"),
                ));
            }
        },
    };
    let size_text = size.unwrap_or_else(|| "1024x1024".to_string());
    let Some(size) = parse_size(&size_text) else {
        return Err(openai_error(
            400,
            &format!(
                "Invalid 'size': '{size_text}' is not of the form 'WIDTHxHEIGHT' with sides 1 to {MAX_SIDE}."
            ),
            "invalid_request_error",
            Some("size"),
            Some("invalid_value"),
        ));
    };
    Ok(OpenAiParams { prompt, n, size })
}

fn openai_body(params: &OpenAiParams, pngs: &[Vec<u8>], mode: Mode) -> Response {
    let data: Vec<Value> = mode
        .encode(pngs)
        .into_iter()
        .map(|b64| json!({"b64_json": b64, "revised_prompt": params.prompt}))
        .collect();
    Response::json(200, &json!({"created": unix_now(), "data": data}))
}

fn openai_generate(request: &RecordedRequest, mode: Mode) -> Response {
    let Some(body) = request.json.as_ref().filter(|b| b.is_object()) else {
        return openai_error(
            400,
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
            "invalid_request_error",
            None,
            None,
        );
    };
    if let Some(format) = body["response_format"].as_str()
        && format != "b64_json"
    {
        return openai_error(
            400,
            &format!(
                "Invalid 'response_format': '{format}'; the maia test server only answers 'b64_json'."
            ),
            "invalid_request_error",
            Some("response_format"),
            Some("invalid_value"),
        );
    }
    let params = match openai_params(
        body["prompt"].as_str().map(str::to_string),
        body.get("n").cloned(),
        body["size"].as_str().map(str::to_string),
    ) {
        Ok(params) => params,
        Err(response) => return response,
    };
    let (w, h) = params.size;
    let pngs: Result<Vec<Vec<u8>>, String> = (0..params.n)
        .map(|i| draw(w, h, prompt_color(&params.prompt, i64::from(i)), None, 0.0))
        .collect();
    match pngs {
        Ok(pngs) => openai_body(&params, &pngs, mode),
        Err(e) => server_error_text(Api::OpenAi, &e),
    }
}

fn openai_edit(request: &RecordedRequest, mode: Mode) -> Response {
    if request.form.is_empty() {
        return openai_error(
            400,
            "Invalid Content-Type header (expected multipart/form-data with at least one part).",
            "invalid_request_error",
            None,
            None,
        );
    }
    let image = request.field("image").or_else(|| request.field("image[]"));
    let Some(image) = image else {
        return openai_error(
            400,
            "Missing required parameter: 'image'.",
            "invalid_request_error",
            Some("image"),
            Some("missing_required_parameter"),
        );
    };
    let Some(input) = decode_png(&image.data) else {
        return openai_error(
            400,
            "Invalid input image - format must be in ['image/png'], and the file must be a valid PNG.",
            "invalid_request_error",
            Some("image"),
            Some("invalid_image_format"),
        );
    };
    let params = match openai_params(
        request.field_text("prompt"),
        request.field_text("n").map(Value::String),
        request.field_text("size"),
    ) {
        Ok(params) => params,
        Err(response) => return response,
    };
    // Without a size the edit keeps the input's.
    let (w, h) = if request.field("size").is_some() {
        params.size
    } else {
        input.dimensions()
    };
    let pngs: Result<Vec<Vec<u8>>, String> = (0..params.n)
        .map(|i| {
            let color = prompt_color(&params.prompt, i64::from(i));
            draw(w, h, color, Some(&input), 0.5)
        })
        .collect();
    match pngs {
        Ok(pngs) => openai_body(&params, &pngs, mode),
        Err(e) => server_error_text(Api::OpenAi, &e),
    }
}

// --- A1111 ---------------------------------------------------------------------------------

/// FastAPI's 422 for one bad field.
fn validation_error(field: &str, message: &str, kind: &str) -> Response {
    Response::json(
        422,
        &json!({"detail": [{"loc": ["body", field], "msg": message, "type": kind}]}),
    )
}

/// A1111's error body for an exception.
fn a1111_exception(status: u16, error: &str, detail: &str, errors: &str) -> Response {
    Response::json(
        status,
        &json!({"error": error, "detail": detail, "body": "", "errors": errors}),
    )
}

/// A seed for a request's `-1`: in 0..4294967294 like A1111's `random.randrange`, and
/// different on every call.
fn random_seed() -> i64 {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mix = nanos
        ^ CALLS
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let [a, b, c] = prompt_color("seed", mix as i64);
    let [d, ..] = prompt_color("seed", !mix as i64);
    (u32::from_le_bytes([a, b, c, d]) % 4_294_967_294) as i64
}

fn a1111_generate(
    models: &[Checkpoint],
    request: &RecordedRequest,
    mode: Mode,
    img2img: bool,
) -> Response {
    let Some(body) = request.json.as_ref().filter(|b| b.is_object()) else {
        return Response::json(
            422,
            &json!({"detail": [{"loc": ["body"], "msg": "value is not a valid dict", "type": "type_error.dict"}]}),
        );
    };
    let text = |field: &str| body[field].as_str().unwrap_or("").to_string();
    let prompt = text("prompt");
    let negative_prompt = text("negative_prompt");
    let int = |field: &str, default: i64| -> Result<i64, Response> {
        match &body[field] {
            Value::Null => Ok(default),
            v => v.as_i64().ok_or_else(|| {
                validation_error(field, "value is not a valid integer", "type_error.integer")
            }),
        }
    };
    let number = |field: &str, default: f64| -> Result<f64, Response> {
        match &body[field] {
            Value::Null => Ok(default),
            v => v.as_f64().ok_or_else(|| {
                validation_error(field, "value is not a valid float", "type_error.float")
            }),
        }
    };
    let parsed = (|| {
        Ok::<_, Response>((
            int("seed", -1)?,
            int("steps", 50)?,
            int("width", 512)?,
            int("height", 512)?,
            number("cfg_scale", 7.0)?,
            int("batch_size", 1)?,
            int("n_iter", 1)?,
            number("denoising_strength", 0.75)?,
            number("image_cfg_scale", 1.5)?,
        ))
    })();
    let (seed, steps, width, height, cfg_scale, batch_size, n_iter, strength, image_cfg) =
        match parsed {
            Ok(values) => values,
            Err(response) => return response,
        };
    for (field, value, max) in [
        ("width", width, MAX_SIDE as i64),
        ("height", height, MAX_SIDE as i64),
        ("steps", steps, 150),
        ("batch_size", batch_size, 16),
        ("n_iter", n_iter, 16),
    ] {
        if !(1..=max).contains(&value) {
            return validation_error(
                field,
                &format!("ensure this value is between 1 and {max}"),
                "value_error.number.not_in_range",
            );
        }
    }
    if !(0.0..=1.0).contains(&strength) {
        return validation_error(
            "denoising_strength",
            "ensure this value is between 0 and 1",
            "value_error.number.not_in_range",
        );
    }
    let sampler = body["sampler_name"]
        .as_str()
        .unwrap_or("Euler a")
        .to_string();
    // The checkpoint: override_settings.sd_model_checkpoint, else the loaded (first) one.
    let wanted = body["override_settings"]["sd_model_checkpoint"].as_str();
    let model = match wanted {
        Some(wanted) => match models.iter().find(|m| m.matches(wanted)) {
            Some(model) => model.clone(),
            None => {
                return a1111_exception(
                    500,
                    "RuntimeError",
                    "",
                    &format!(
                        "checkpoint {wanted:?} not found; available: {}",
                        models
                            .iter()
                            .map(|m| m.title.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
        },
        None => match models.first() {
            Some(model) => model.clone(),
            None => {
                return a1111_exception(
                    500,
                    "RuntimeError",
                    "",
                    "No checkpoints found. When searching for checkpoints, looked at: models/Stable-diffusion",
                );
            }
        },
    };
    let init = if img2img {
        let first = body["init_images"].as_array().and_then(|a| a.first());
        let Some(first) = first else {
            return a1111_exception(404, "HTTPException", "Init image not found", "");
        };
        let encoded = first.as_str().unwrap_or("");
        // A1111 accepts a data URL as well as bare base64.
        let encoded = match encoded.split_once(";base64,") {
            Some((prefix, rest)) if prefix.starts_with("data:") => rest,
            _ => encoded,
        };
        match BASE64.decode(encoded).ok().and_then(|b| decode_png(&b)) {
            Some(image) => Some(image),
            None => {
                return a1111_exception(500, "HTTPException", "Invalid encoded image", "");
            }
        }
    } else {
        None
    };
    let seed = if seed == -1 { random_seed() } else { seed };
    let count = batch_size * n_iter;
    let all_seeds: Vec<i64> = (0..count).map(|i| seed + i).collect();
    let (w, h) = (width as u32, height as u32);
    let pngs: Result<Vec<Vec<u8>>, String> = all_seeds
        .iter()
        .map(|&s| draw(w, h, prompt_color(&prompt, s), init.as_ref(), strength))
        .collect();
    let pngs = match pngs {
        Ok(pngs) => pngs,
        Err(e) => return server_error_text(Api::A1111, &e),
    };
    // `parameters` echoes the request with A1111's defaults filled in.
    let mut parameters = json!({
        "prompt": prompt,
        "negative_prompt": negative_prompt,
        "styles": null,
        "seed": body.get("seed").cloned().unwrap_or(json!(-1)),
        "subseed": -1,
        "subseed_strength": 0,
        "sampler_name": body.get("sampler_name").cloned().unwrap_or(Value::Null),
        "batch_size": batch_size,
        "n_iter": n_iter,
        "steps": steps,
        "cfg_scale": cfg_scale,
        "width": width,
        "height": height,
        "restore_faces": null,
        "tiling": null,
        "override_settings": body.get("override_settings").cloned().unwrap_or(Value::Null),
        "send_images": true,
        "save_images": false,
    });
    if img2img {
        parameters["init_images"] = Value::Null; // A1111 does not echo the input images
        parameters["denoising_strength"] = json!(strength);
        parameters["image_cfg_scale"] = json!(image_cfg);
        parameters["resize_mode"] = body.get("resize_mode").cloned().unwrap_or(json!(0));
    }
    let infotexts: Vec<String> = all_seeds
        .iter()
        .map(|s| {
            format!(
                "{prompt}\nNegative prompt: {negative_prompt}\nSteps: {steps}, Sampler: {sampler}, CFG scale: {cfg_scale}, Seed: {s}, Size: {width}x{height}, Model hash: {}, Model: {}, Version: v1.10.1",
                model.hash, model.model_name
            )
        })
        .collect();
    let info = json!({
        "prompt": prompt,
        "all_prompts": vec![prompt.clone(); all_seeds.len()],
        "negative_prompt": negative_prompt,
        "all_negative_prompts": vec![negative_prompt.clone(); all_seeds.len()],
        "seed": seed,
        "all_seeds": all_seeds,
        "subseed": seed + 1,
        "all_subseeds": all_seeds.iter().map(|s| s + 1).collect::<Vec<_>>(),
        "subseed_strength": 0,
        "width": width,
        "height": height,
        "sampler_name": sampler,
        "cfg_scale": cfg_scale,
        "steps": steps,
        "batch_size": batch_size,
        "restore_faces": false,
        "face_restoration_model": null,
        "sd_model_name": model.model_name,
        "sd_model_hash": model.hash,
        "sd_vae_name": null,
        "sd_vae_hash": null,
        "seed_resize_from_w": -1,
        "seed_resize_from_h": -1,
        "denoising_strength": if img2img { json!(strength) } else { Value::Null },
        "image_cfg_scale": if img2img { json!(image_cfg) } else { Value::Null },
        "extra_generation_params": {},
        "index_of_first_image": 0,
        "infotexts": infotexts,
        "styles": [],
        "job_timestamp": "20250101120000",
        "clip_skip": 1,
        "is_using_inpainting_conditioning": false,
        "version": "v1.10.1",
    });
    Response::json(
        200,
        &json!({
            "images": mode.encode(&pngs),
            "parameters": parameters,
            "info": info.to_string(),
        }),
    )
}

// --- images --------------------------------------------------------------------------------

fn decode_png(bytes: &[u8]) -> Option<RgbaImage> {
    image::load_from_memory_with_format(bytes, ImageFormat::Png)
        .ok()
        .map(|i| i.to_rgba8())
}

/// A `w`×`h` PNG of `color`, or of `input` (resized) blended toward it by `strength`.
fn draw(
    w: u32,
    h: u32,
    color: [u8; 3],
    input: Option<&RgbaImage>,
    strength: f64,
) -> Result<Vec<u8>, String> {
    let [r, g, b] = color;
    let image = match input {
        None => RgbaImage::from_pixel(w, h, Rgba([r, g, b, 255])),
        Some(input) => {
            let mut out = if input.dimensions() == (w, h) {
                input.clone()
            } else {
                image::imageops::resize(input, w, h, image::imageops::FilterType::Nearest)
            };
            let mix = |a: u8, b: u8| {
                (f64::from(a) * (1.0 - strength) + f64::from(b) * strength).round() as u8
            };
            for pixel in out.pixels_mut() {
                let Rgba([pr, pg, pb, pa]) = *pixel;
                *pixel = Rgba([mix(pr, r), mix(pg, g), mix(pb, b), pa]);
            }
            out
        }
    };
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, ImageFormat::Png)
        .map_err(|e| format!("encoding a {w}x{h} PNG: {e}"))?;
    Ok(out.into_inner())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

// --- HTTP ----------------------------------------------------------------------------------

async fn read_request(socket: &mut TcpStream) -> Option<RecordedRequest> {
    let WireRequest {
        method,
        path,
        headers,
        body,
    } = http_wire::read_request(socket).await?;
    let content_type = header_in(&headers, "content-type")
        .unwrap_or("")
        .to_string();
    let json = serde_json::from_slice(&body).ok();
    let form = multipart_boundary(&content_type)
        .map(|boundary| parse_multipart(&body, &boundary))
        .unwrap_or_default();
    Some(RecordedRequest {
        method,
        path,
        headers,
        body,
        json,
        form,
        fault: None,
    })
}

/// The boundary of a `multipart/form-data` content type.
fn multipart_boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let kind = params.next()?.trim();
    if !kind.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
}

/// The parts of a multipart body (parts that do not parse are skipped).
fn parse_multipart(body: &[u8], boundary: &str) -> Vec<FormField> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut fields = Vec::new();
    let Some(mut at) = find(body, delimiter) else {
        return fields;
    };
    loop {
        let start = at + delimiter.len();
        if body[start..].starts_with(b"--") {
            break; // the closing delimiter
        }
        let Some(part_start) = find(&body[start..], b"\r\n").map(|i| start + i + 2) else {
            break;
        };
        let Some(next) = find(&body[part_start..], delimiter).map(|i| part_start + i) else {
            break;
        };
        // The CRLF before a delimiter belongs to the delimiter.
        let part_end = if body[..next].ends_with(b"\r\n") {
            next - 2
        } else {
            next
        };
        if let Some(field) = parse_part(&body[part_start..part_end.max(part_start)]) {
            fields.push(field);
        }
        at = next;
    }
    fields
}

fn parse_part(part: &[u8]) -> Option<FormField> {
    let head_end = find(part, b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&part[..head_end]).into_owned();
    let mut name = None;
    let mut filename = None;
    let mut content_type = None;
    for line in head.split("\r\n") {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        if key.trim().eq_ignore_ascii_case("content-disposition") {
            for param in value.split(';').skip(1) {
                if let Some((k, v)) = param.split_once('=') {
                    let v = v.trim().trim_matches('"').to_string();
                    match k.trim() {
                        "name" => name = Some(v),
                        "filename" => filename = Some(v),
                        _ => {}
                    }
                }
            }
        } else if key.trim().eq_ignore_ascii_case("content-type") {
            content_type = Some(value.trim().to_string());
        }
    }
    Some(FormField {
        name: name?,
        filename,
        content_type,
        data: part[head_end + 4..].to_vec(),
    })
}

async fn write_response(
    socket: &mut TcpStream,
    api: Api,
    response: Response,
) -> std::io::Result<()> {
    static REQUEST_IDS: AtomicU64 = AtomicU64::new(1);
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason(response.status)
    );
    for (name, value) in &response.headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    match api {
        Api::OpenAi => {
            let id = REQUEST_IDS.fetch_add(1, Ordering::Relaxed);
            let _ = write!(head, "x-request-id: req_maia{id:024x}\r\n");
        }
        Api::A1111 => head.push_str("server: uvicorn\r\n"),
    }
    let _ = write!(head, "content-length: {}\r\n", response.body.len());
    head.push_str("connection: close\r\n\r\n");
    socket.write_all(head.as_bytes()).await?;
    socket.write_all(&response.body).await?;
    socket.flush().await?;
    socket.shutdown().await
}
