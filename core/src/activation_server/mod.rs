//! `maia host serve`: one long-lived process owns the GPU and the loaded model, and serves
//! activation requests from many runs at once, batching them together.
//!
//! In code this is the *activation server* (`ActivationServer`, `ServerConfig`, ...), named
//! apart from the SDK's `Host` trait (what a tool call reaches, implemented by
//! [`CallContext`](crate::CallContext)) and from the plugin runtimes ([`crate::plugins`]); the
//! command and the docs for users keep "host".
//!
//! Clients reach it through [`RemoteModel`](crate::target::RemoteModel) (`--target
//! remote:ADDR`), which implements [`TargetModel`] like a local model does.
//!
//! # Addresses
//!
//! TCP (`127.0.0.1:7878`, the default) or a unix socket (`unix:/run/maia.sock`); see
//! [`ServerAddr`]. A unix socket left by a host that died is replaced, one another host still
//! listens on is refused.
//!
//! # Tokens
//!
//! Anyone who can connect can use the GPU and see what the model says about their images, so
//! a host listens on an address other machines can reach only with a shared [`ServerToken`]
//! ([`ServerConfig::token`]; `maia host serve --token-file PATH` or `MAIA_HOST_TOKEN`). Clients
//! send it in their hello (`MAIA_HOST_TOKEN`, or `--target remote:ADDR,token-file=PATH`); a
//! connection with a missing or wrong token gets an `auth` error and is closed before it can
//! send a request, and the host counts it ([`Stats::refused`]) without logging what was sent.
//! A loopback or unix host may have a token too; then it is required there as well.
//!
//! The server's hello (layer names and shapes, the model's fingerprint) is sent before the
//! token is checked: it says what is served, not what any client asked. The token travels in
//! clear text: on an untrusted network, reach the host through an SSH tunnel or a VPN.
//!
//! # Protocol (version 1.1)
//!
//! Every message is a *frame*:
//!
//! ```text
//! u32 LE  body length (everything after this field)
//! u32 LE  header length
//! [u8]    header: one JSON object with a "type" field
//! [u8]    blob: binary parts the header describes (may be empty)
//! ```
//!
//! 1. On connect the server sends `hello` — `{"type":"hello","service":"maia-host",
//!    "protocol":{"major":1,"minor":1},"server":"0.1.0","model":ModelInfo,"fingerprint":…,
//!    "token_required":false}`. The client checks `service` and the major version, then
//!    answers with its own `{"type":"hello","protocol":…,"client":…}`, adding `"token":…`
//!    when the server requires one. A server that gets another major version, or a missing
//!    or wrong token, replies with an `error` (kind `protocol` or `auth`) and closes; one
//!    that accepts the hello answers `{"type":"ready"}` to clients of 1.1 and later (a 1.0
//!    client just starts sending requests).
//! 2. Requests carry a client-chosen `id`; answers carry it back, so one connection can
//!    have many requests in flight (answers may come in any order).
//!    - `activations {id, layer, units:[…], images:[{id, caption, meta, png_bytes}]}` — the
//!      blob holds the PNG files in order (metadata travels too: synthetic units read the
//!      scene graph in it). Answer: `activations {id, maps:[[[w,h],…],…]}` with the f32
//!      little-endian values in the blob, image by image, unit by unit (in the requested
//!      order), each map row-major.
//!    - `stats {id}` → `stats {id, stats}` ([`Stats`]).
//!    - `ground_truth {id, unit:{layer,unit}}` → `ground_truth {id, description}`.
//! 3. A failed request gets `error {id, kind, message}`, where `kind` mirrors
//!    [`TargetError`](crate::target::TargetError) (`unit`, `input`, `compute`, `spec`) or is
//!    `protocol` (or `auth`, for a refused hello); the connection stays open. An `error` without `id` is about the connection,
//!    which the server then closes.
//!
//! A higher minor version only adds message types or optional fields: a server answers a
//! request type it does not know with a `protocol` error for that request.
//!
//! Sizes: a JSON header is at most 16 MiB, a request frame at most 1 GiB (a bigger one is
//! skipped and answered with an error). [`RemoteModel`](crate::target::RemoteModel) splits
//! requests so each carries at most 256 MiB of PNGs and gets at most 256 MiB of maps back.
//!
//! # Batching
//!
//! Activation requests for the same layer that arrive within [`ServerConfig::batch_window`] of
//! the first, up to [`ServerConfig::max_batch`] images, become one `activations` call over the
//! union of their units, on a blocking thread; each request gets back only its own images and
//! units. The window closes early once every connected client has a request waiting. Batches
//! run one at a time, and requests that arrive while the model computes join the next batch,
//! so a busy model gets bigger batches even with a zero window. If a merged batch fails, its
//! requests are retried one by one, so an error reaches only the request that caused it.

mod address;
mod batcher;
pub mod protocol;
mod server;
mod stats;
mod token;

pub use address::{BadAddr, DEFAULT_ADDR, DEFAULT_PORT, ServerAddr};
pub use stats::Stats;
pub use token::{MIN_TOKEN_CHARS, ServerToken, TOKEN_ENV, TokenError};

use crate::target::TargetModel;
use batcher::BatchLimits;
use protocol::{PROTOCOL_VERSION, Response, SERVICE, ServerHello};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How `maia host serve` runs.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Where to listen (port 0 picks a free port; [`ActivationServer::address`] tells which).
    pub listen: ServerAddr,
    /// How long the first request of a batch waits for others to join it (less when every
    /// connected client already has a request waiting).
    pub batch_window: Duration,
    /// Most images in one model call (a single request bigger than this still runs, alone).
    pub max_batch: usize,
    /// The shared token clients must send. Required to listen on an address other machines
    /// can reach; optional (but then enforced) on loopback and unix sockets.
    pub token: Option<ServerToken>,
    /// Stop on ctrl-c or SIGTERM (the `maia host serve` command; not for embedded hosts).
    pub stop_on_signal: bool,
    /// Emit [`ServerEvent::Stats`] this often while requests come in.
    pub stats_every: Option<Duration>,
    /// How long stopping waits for requests already being computed.
    pub grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: ServerAddr::Tcp(DEFAULT_ADDR.to_owned()),
            batch_window: Duration::from_millis(5),
            max_batch: 64,
            token: None,
            stop_on_signal: false,
            stats_every: None,
            grace: Duration::from_secs(10),
        }
    }
}

/// Why a host could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A non-loopback address without a [`ServerConfig::token`].
    #[error(
        "refusing to listen on {addr} ({ip}): it is not a loopback address, and without a token anyone who can \
reach this machine could use its GPU and read what the model says about their images. \
Give the host a shared token with --token-file PATH (or the {TOKEN_ENV} environment variable) and give \
clients the same token ({TOKEN_ENV}, or --target remote:ADDR,token-file=PATH); or listen on 127.0.0.1:PORT or unix:PATH"
    )]
    NotLoopback {
        /// The address asked for.
        addr: ServerAddr,
        /// The non-loopback address it resolved to.
        ip: IpAddr,
    },
    /// Another host answers on the unix socket.
    #[error(
        "another maia host is already serving on {addr}; stop it first, or listen somewhere else with --listen"
    )]
    InUse {
        /// The socket.
        addr: ServerAddr,
    },
    /// The unix socket path is taken by something that is not a socket.
    #[error("{} exists and is not a socket; refusing to replace it: choose another unix:PATH", .path.display())]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// Binding failed.
    #[error("cannot listen on {addr}: {source}{}", bind_hint(.source))]
    Bind {
        /// The address.
        addr: ServerAddr,
        /// The system's reason.
        source: std::io::Error,
    },
    /// A configuration value that cannot work.
    #[error("{0}")]
    Config(String),
    /// The async runtime or the host thread could not start.
    #[error("cannot start the host's runtime: {0}")]
    Runtime(std::io::Error),
    /// The hello could not be encoded (a model info that is not JSON-able).
    #[error("cannot describe the model to clients: {0}")]
    Protocol(#[from] protocol::ProtocolError),
}

fn bind_hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            " (is another `maia host serve` running there? stop it, or pick another port with --listen 127.0.0.1:PORT)"
        }
        std::io::ErrorKind::PermissionDenied => {
            " (ports below 1024 need privileges; pick a higher port)"
        }
        _ => "",
    }
}

/// What a running host reports, for `maia host serve` to print.
#[derive(Clone, Debug, PartialEq)]
pub enum ServerEvent {
    /// A client connected (its address, or `unix client #N`).
    Connected {
        /// The client.
        client: String,
    },
    /// A client left.
    Disconnected {
        /// The client.
        client: String,
    },
    /// Periodic counters (see [`ServerConfig::stats_every`]).
    Stats(Stats),
    /// Something went wrong that did not stop the host.
    Warning(String),
    /// The host stopped accepting and is finishing running requests.
    Stopping {
        /// Why (ctrl-c, SIGTERM, asked to stop).
        reason: String,
    },
    /// The host has stopped; the final counters. Always the last event.
    Stopped(Stats),
}

/// A running host: serves on its own threads until [`ActivationServer::shutdown`], drop, or (with
/// [`ServerConfig::stop_on_signal`]) ctrl-c.
pub struct ActivationServer {
    address: ServerAddr,
    counters: Arc<stats::Counters>,
    stop: tokio::sync::watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
    events: Mutex<Receiver<ServerEvent>>,
}

impl ActivationServer {
    /// Binds `config.listen` and starts serving `model`. Returns once the address is bound,
    /// so clients can connect right away.
    pub fn start(
        model: Arc<dyn TargetModel>,
        config: ServerConfig,
    ) -> Result<ActivationServer, ServerError> {
        if config.max_batch == 0 {
            return Err(ServerError::Config("--max-batch must be at least 1".into()));
        }
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("maia-host")
            .enable_all()
            .build()
            .map_err(ServerError::Runtime)?;
        let (listener, address) =
            runtime.block_on(server::bind(&config.listen, config.token.is_some()))?;
        let hello = protocol::encode_message(&Response::Hello(ServerHello {
            service: SERVICE.to_owned(),
            protocol: PROTOCOL_VERSION,
            server: env!("CARGO_PKG_VERSION").to_owned(),
            model: model.info().clone(),
            fingerprint: model.fingerprint(),
            token_required: config.token.is_some(),
        }))?;
        let counters = Arc::new(stats::Counters::new());
        let (events_tx, events) = std::sync::mpsc::channel();
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let options = server::RunOptions {
            limits: BatchLimits {
                window: config.batch_window,
                max_batch: config.max_batch,
            },
            stop_on_signal: config.stop_on_signal,
            stats_every: config.stats_every,
            grace: config.grace,
            token: config.token.clone(),
        };
        let grace = config.grace;
        let run_counters = counters.clone();
        let thread = std::thread::Builder::new()
            .name("maia-host".into())
            .spawn(move || {
                runtime.block_on(server::run(
                    listener,
                    model,
                    hello,
                    options,
                    run_counters,
                    events_tx,
                    stop_rx,
                ));
                // A model call still running past the grace period must not hold the exit.
                runtime.shutdown_timeout(grace);
            })
            .map_err(ServerError::Runtime)?;
        Ok(ActivationServer {
            address,
            counters,
            stop,
            thread: Some(thread),
            events: Mutex::new(events),
        })
    }

    /// The address clients connect to (with the real port when 0 was asked for).
    pub fn address(&self) -> &ServerAddr {
        &self.address
    }

    /// The counters now.
    pub fn stats(&self) -> Stats {
        self.counters.snapshot()
    }

    /// The next event, waiting at most `timeout`; `None` on timeout or once the host is gone.
    pub fn next_event(&self, timeout: Duration) -> Option<ServerEvent> {
        let events = self.events.lock().ok()?;
        events.recv_timeout(timeout).ok()
    }

    /// True until the host has stopped.
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops accepting, finishes running requests (up to the grace period), and returns the
    /// final counters.
    pub fn shutdown(mut self) -> Stats {
        self.stop_and_join();
        self.counters.snapshot()
    }

    fn stop_and_join(&mut self) {
        self.stop.send_replace(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ActivationServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}
