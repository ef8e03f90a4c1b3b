//! The server side: binding listeners, one task per connection, graceful shutdown.

use super::address::ServerAddr;
use super::batcher::{self, BatchLimits, Job};
use super::protocol::{
    self, ErrorKind, Frame, MAX_HEADER_BYTES, MAX_REQUEST_BYTES, PROTOCOL_VERSION, ProtocolError,
    READY_SINCE, Request, Response,
};
use super::stats::Counters;
use super::token::ServerToken;
use super::{ServerError, ServerEvent};
use crate::target::{ModelInfo, TargetModel, UnitRef};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

/// A bound listener.
pub(crate) enum Listener {
    Tcp(TcpListener),
    #[cfg(unix)]
    Unix {
        listener: tokio::net::UnixListener,
        /// Held for its drop: removes the socket file.
        _file: SocketFile,
    },
}

/// A unix socket file this host created; removed when the host stops.
#[cfg(unix)]
pub(crate) struct SocketFile(std::path::PathBuf);

#[cfg(unix)]
impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Any accepted stream.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

impl Listener {
    async fn accept(&self, unix_clients: &mut u64) -> std::io::Result<(Box<dyn Stream>, String)> {
        match self {
            Listener::Tcp(listener) => {
                let (stream, peer) = listener.accept().await?;
                // Requests are small and latency matters: no Nagle delay.
                let _ = stream.set_nodelay(true);
                Ok((Box::new(stream), peer.to_string()))
            }
            #[cfg(unix)]
            Listener::Unix { listener, .. } => {
                let (stream, _) = listener.accept().await?;
                *unix_clients += 1;
                Ok((Box::new(stream), format!("unix client #{unix_clients}")))
            }
        }
    }
}

/// Binds `addr`; returns the listener and the address it really has (port 0 resolved).
/// An address other machines can reach needs a token (`has_token`).
pub(crate) async fn bind(
    addr: &ServerAddr,
    has_token: bool,
) -> Result<(Listener, ServerAddr), ServerError> {
    match addr {
        ServerAddr::Tcp(text) => {
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host(text.as_str())
                .await
                .map_err(|source| ServerError::Bind {
                    addr: addr.clone(),
                    source,
                })?
                .collect();
            let open = resolved.iter().find(|a| !a.ip().is_loopback());
            if let (false, Some(open)) = (has_token, open) {
                return Err(ServerError::NotLoopback {
                    addr: addr.clone(),
                    ip: open.ip(),
                });
            }
            let mut last = std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the name resolves to no address",
            );
            for socket in &resolved {
                match TcpListener::bind(socket).await {
                    Ok(listener) => {
                        let local = listener.local_addr().map_err(|source| ServerError::Bind {
                            addr: addr.clone(),
                            source,
                        })?;
                        return Ok((Listener::Tcp(listener), ServerAddr::Tcp(local.to_string())));
                    }
                    Err(e) => last = e,
                }
            }
            Err(ServerError::Bind {
                addr: addr.clone(),
                source: last,
            })
        }
        #[cfg(unix)]
        ServerAddr::Unix(path) => {
            if let Ok(meta) = std::fs::symlink_metadata(path) {
                use std::os::unix::fs::FileTypeExt;
                if !meta.file_type().is_socket() {
                    return Err(ServerError::NotASocket { path: path.clone() });
                }
                match std::os::unix::net::UnixStream::connect(path) {
                    Ok(_) => return Err(ServerError::InUse { addr: addr.clone() }),
                    // Nobody listens: a socket left behind by a host that died.
                    Err(_) => {
                        std::fs::remove_file(path).map_err(|source| ServerError::Bind {
                            addr: addr.clone(),
                            source,
                        })?;
                    }
                }
            }
            let listener =
                tokio::net::UnixListener::bind(path).map_err(|source| ServerError::Bind {
                    addr: addr.clone(),
                    source,
                })?;
            let listener = Listener::Unix {
                listener,
                _file: SocketFile(path.clone()),
            };
            Ok((listener, addr.clone()))
        }
        #[cfg(not(unix))]
        ServerAddr::Unix(_) => Err(ServerError::Bind {
            addr: addr.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "unix sockets need a unix system",
            ),
        }),
    }
}

/// How the server runs once bound.
pub(crate) struct RunOptions {
    pub(crate) limits: BatchLimits,
    pub(crate) stop_on_signal: bool,
    pub(crate) stats_every: Option<Duration>,
    pub(crate) grace: Duration,
    pub(crate) token: Option<ServerToken>,
}

/// What every connection task shares.
struct Ctx {
    model: Arc<dyn TargetModel>,
    info: ModelInfo,
    hello: Vec<u8>,
    jobs: mpsc::Sender<Job>,
    counters: Arc<Counters>,
    events: Sender<ServerEvent>,
    /// What clients must send in their hello.
    token: Option<ServerToken>,
}

/// Serves until `stop` turns true (or a signal, with `stop_on_signal`), then drains.
pub(crate) async fn run(
    listener: Listener,
    model: Arc<dyn TargetModel>,
    hello: Vec<u8>,
    options: RunOptions,
    counters: Arc<Counters>,
    events: Sender<ServerEvent>,
    mut stop: watch::Receiver<bool>,
) {
    let (job_tx, job_rx) = mpsc::channel(1024);
    let (batch_tx, batch_rx) = mpsc::channel(1);
    let collector = tokio::spawn(batcher::collect(
        job_rx,
        batch_tx,
        options.limits,
        counters.clone(),
    ));
    let executor = tokio::spawn(batcher::execute(model.clone(), batch_rx, counters.clone()));
    let info = model.info().clone();
    let ctx = Arc::new(Ctx {
        model,
        info,
        hello,
        jobs: job_tx,
        counters: counters.clone(),
        events: events.clone(),
        token: options.token,
    });
    let reporter = options
        .stats_every
        .map(|every| tokio::spawn(report_stats(counters.clone(), events.clone(), every)));

    let (conn_stop_tx, conn_stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    let mut unix_clients = 0u64;
    let reason = {
        let stopping = stop_reason(&mut stop, options.stop_on_signal);
        tokio::pin!(stopping);
        loop {
            tokio::select! {
                reason = &mut stopping => break reason,
                accepted = listener.accept(&mut unix_clients) => match accepted {
                    Ok((stream, peer)) => {
                        conns.spawn(serve_connection(stream, peer, ctx.clone(), conn_stop_rx.clone()));
                    }
                    Err(e) => {
                        let _ = events.send(ServerEvent::Warning(format!("accepting a connection failed: {e}")));
                        // Out of file descriptors and the like: do not spin.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
    };
    let _ = events.send(ServerEvent::Stopping { reason });
    drop(listener);
    let _ = conn_stop_tx.send(true);
    let drain = async { while conns.join_next().await.is_some() {} };
    let drained = tokio::select! {
        done = tokio::time::timeout(options.grace, drain) => done.is_ok(),
        () = second_interrupt(options.stop_on_signal) => false,
    };
    if !drained {
        let _ = events.send(ServerEvent::Warning(format!(
            "{} connections still had requests running; dropped them",
            conns.len()
        )));
        conns.abort_all();
        while conns.join_next().await.is_some() {}
    }
    drop(ctx);
    if drained {
        // The job senders are gone: the collector and then the executor finish.
        let _ = tokio::time::timeout(options.grace, async {
            let _ = collector.await;
            let _ = executor.await;
        })
        .await;
    }
    if let Some(reporter) = reporter {
        reporter.abort();
    }
    let _ = events.send(ServerEvent::Stopped(counters.snapshot()));
}

/// Resolves when the host should stop, saying why.
async fn stop_reason(stop: &mut watch::Receiver<bool>, signals: bool) -> String {
    let asked = async {
        while !*stop.borrow_and_update() {
            if stop.changed().await.is_err() {
                break;
            }
        }
        "asked to stop".to_owned()
    };
    if !signals {
        return asked.await;
    }
    let interrupt = async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => "interrupted (ctrl-c)".to_owned(),
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        reason = asked => reason,
        reason = interrupt => reason,
        reason = terminate() => reason,
    }
}

#[cfg(unix)]
async fn terminate() -> String {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            term.recv().await;
            "terminated (SIGTERM)".to_owned()
        }
        Err(_) => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn terminate() -> String {
    std::future::pending().await
}

/// A second ctrl-c while draining: stop now.
async fn second_interrupt(signals: bool) {
    if signals && tokio::signal::ctrl_c().await.is_ok() {
        return;
    }
    std::future::pending().await
}

/// Emits the stats every `every` while something changed.
async fn report_stats(counters: Arc<Counters>, events: Sender<ServerEvent>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.tick().await;
    let mut last_requests = 0;
    loop {
        ticks.tick().await;
        let stats = counters.snapshot();
        if stats.requests != last_requests {
            last_requests = stats.requests;
            if events.send(ServerEvent::Stats(stats)).is_err() {
                return;
            }
        }
    }
}

/// A frame off the wire, or the news that one was too big (and skipped).
enum Incoming {
    Frame(Frame),
    TooLarge { id: Option<u64>, len: u32 },
}

/// The largest frame a client may send before its hello is accepted: a hello is small, and
/// a connection that has not shown it speaks the protocol (or has the token) must not make
/// the host read, or wait for, a big body. Anything bigger closes the connection.
const MAX_HELLO_BYTES: u32 = 64 << 10;

/// Answers with at most this many map values are encoded on the async runtime.
const INLINE_ENCODE_VALUES: usize = 64 << 10;

/// How long a new connection has to send its hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads one frame; `Ok(None)` at a clean end of stream. Before the hello (`greeted`
/// false) frames over [`MAX_HELLO_BYTES`] are an error; after it, frames over
/// [`MAX_REQUEST_BYTES`] are skipped and reported.
async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    greeted: bool,
) -> Result<Option<Incoming>, ProtocolError> {
    let mut len = [0u8; 4];
    if reader.read(&mut len[..1]).await? == 0 {
        return Ok(None);
    }
    reader.read_exact(&mut len[1..]).await?;
    let len = u32::from_le_bytes(len);
    if !greeted && len > MAX_HELLO_BYTES {
        return Err(ProtocolError::Frame(format!(
            "a first frame of {len} bytes is not a maia hello (at most {MAX_HELLO_BYTES} bytes); is this a maia client?"
        )));
    }
    if len > MAX_REQUEST_BYTES {
        // Read the header for the request's id, skip the blob: the connection stays usable.
        let mut header_len = [0u8; 4];
        reader.read_exact(&mut header_len).await?;
        let header_len = u32::from_le_bytes(header_len);
        let mut skipped = 4u64;
        let mut id = None;
        if header_len <= MAX_HEADER_BYTES && header_len <= len - 4 {
            let mut header = vec![0; header_len as usize];
            reader.read_exact(&mut header).await?;
            id = protocol::request_id(&header);
            skipped += u64::from(header_len);
        }
        let rest = u64::from(len) - skipped;
        let copied =
            tokio::io::copy(&mut (&mut *reader).take(rest), &mut tokio::io::sink()).await?;
        if copied != rest {
            return Err(ProtocolError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        return Ok(Some(Incoming::TooLarge { id, len }));
    }
    let mut body = Vec::with_capacity((len as usize).min(1 << 20));
    (&mut *reader)
        .take(u64::from(len))
        .read_to_end(&mut body)
        .await?;
    if body.len() != len as usize {
        return Err(ProtocolError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    protocol::split_body(body).map(|f| Some(Incoming::Frame(f)))
}

/// One client: hello, then requests until it leaves or the host stops.
async fn serve_connection(
    stream: Box<dyn Stream>,
    peer: String,
    ctx: Arc<Ctx>,
    mut stop: watch::Receiver<bool>,
) {
    let serial = ctx.counters.connected();
    let _ = ctx.events.send(ServerEvent::Connected {
        client: peer.clone(),
    });
    let (mut reader, mut writer) = tokio::io::split(stream);
    let (out, mut outgoing) = mpsc::channel::<Vec<u8>>(32);
    let write_task = tokio::spawn(async move {
        while let Some(frame) = outgoing.recv().await {
            if writer.write_all(&frame).await.is_err() {
                // The client left; its answers have nowhere to go.
                return;
            }
        }
        let _ = writer.shutdown().await;
    });
    let _ = out.send(ctx.hello.clone()).await;
    let mut greeted = false;
    let hello_deadline = tokio::time::Instant::now() + HELLO_TIMEOUT;
    loop {
        if *stop.borrow_and_update() {
            break;
        }
        let incoming = tokio::select! {
            incoming = read_frame(&mut reader, greeted) => incoming,
            _ = stop.changed() => break,
            () = tokio::time::sleep_until(hello_deadline), if !greeted => {
                let message = format!(
                    "no hello within {} s; closing the connection",
                    HELLO_TIMEOUT.as_secs()
                );
                let _ = out
                    .send(protocol::error_frame(None, ErrorKind::Protocol, message))
                    .await;
                break;
            }
        };
        let frame = match incoming {
            Ok(None) => break,
            Ok(Some(Incoming::Frame(frame))) => frame,
            Ok(Some(Incoming::TooLarge { id, len })) => {
                ctx.counters.request();
                ctx.counters.error();
                let message = format!(
                    "a request of {len} bytes is over the host's limit of {MAX_REQUEST_BYTES} bytes; send fewer images per request"
                );
                let _ = out
                    .send(protocol::error_frame(id, ErrorKind::Protocol, message))
                    .await;
                continue;
            }
            Err(ProtocolError::Io(_)) => break,
            Err(e) => {
                // The framing is lost: say why, and close.
                let message = format!("{e}; closing the connection");
                let _ = out
                    .send(protocol::error_frame(None, ErrorKind::Protocol, message))
                    .await;
                break;
            }
        };
        let request = match frame.message::<Request>() {
            Ok(request) => request,
            Err(e) if !greeted && frame.request_id().is_none() => {
                // Not even a request this host is too old for: not a maia client.
                let message =
                    format!("the first message is not a maia hello ({e}); closing the connection");
                let _ = out
                    .send(protocol::error_frame(None, ErrorKind::Protocol, message))
                    .await;
                break;
            }
            Err(e) => {
                let message = format!(
                    "the host (protocol {PROTOCOL_VERSION}) does not understand this request: {e}"
                );
                let _ = out
                    .send(protocol::error_frame(
                        frame.request_id(),
                        ErrorKind::Protocol,
                        message,
                    ))
                    .await;
                continue;
            }
        };
        match request {
            Request::Hello {
                protocol,
                client,
                token,
            } => {
                if protocol.major != PROTOCOL_VERSION.major {
                    let message = format!(
                        "this maia host speaks protocol {PROTOCOL_VERSION} (maia {}), the client ({client}) speaks {protocol}; use the same major version of maia for the host and its clients",
                        env!("CARGO_PKG_VERSION")
                    );
                    let _ = out
                        .send(protocol::error_frame(None, ErrorKind::Protocol, message))
                        .await;
                    break;
                }
                if let Some(refusal) = check_token(ctx.token.as_ref(), token.as_ref()) {
                    // What the client sent is neither logged nor echoed.
                    ctx.counters.refused();
                    let _ = ctx.events.send(ServerEvent::Warning(format!(
                        "{peer}: refused the connection: {}",
                        refusal.log
                    )));
                    let _ = out
                        .send(protocol::error_frame(
                            None,
                            ErrorKind::Auth,
                            refusal.message,
                        ))
                        .await;
                    break;
                }
                if protocol >= READY_SINCE
                    && let Ok(ready) = protocol::encode_message(&Response::Ready)
                {
                    let _ = out.send(ready).await;
                }
                greeted = true;
            }
            request if !greeted => {
                let id = match request {
                    Request::Activations { id, .. }
                    | Request::Stats { id }
                    | Request::GroundTruth { id, .. } => Some(id),
                    Request::Hello { .. } => None,
                };
                let message =
                    "send a hello with your protocol version before any request".to_owned();
                let _ = out
                    .send(protocol::error_frame(id, ErrorKind::Protocol, message))
                    .await;
            }
            Request::Activations {
                id,
                layer,
                units,
                images,
            } => {
                ctx.counters.request();
                let client = Client { serial, out: &out };
                if let Some(answer) =
                    submit(&ctx, client, id, layer, units, images, frame.blob).await
                {
                    ctx.counters.error();
                    let _ = out.send(answer).await;
                }
            }
            Request::Stats { id } => {
                let answer = Response::Stats {
                    id,
                    stats: ctx.counters.snapshot(),
                };
                let frame = protocol::encode_message(&answer).unwrap_or_else(|e| {
                    protocol::error_frame(Some(id), ErrorKind::Protocol, e.to_string())
                });
                let _ = out.send(frame).await;
            }
            Request::GroundTruth { id, unit } => {
                let answer = Response::GroundTruth {
                    id,
                    description: ctx.model.ground_truth(&unit),
                };
                let frame = protocol::encode_message(&answer).unwrap_or_else(|e| {
                    protocol::error_frame(Some(id), ErrorKind::Protocol, e.to_string())
                });
                let _ = out.send(frame).await;
            }
        }
    }
    // Answers still being computed keep `out` alive through their tasks; the writer ends
    // once they are sent.
    drop(out);
    let _ = write_task.await;
    ctx.counters.disconnected();
    let _ = ctx.events.send(ServerEvent::Disconnected { client: peer });
}

/// Why a hello's token was refused: for the client, and for the host's log.
struct Refusal {
    message: String,
    log: &'static str,
}

/// Checks a client's token against the host's; `None` when the client may go on.
fn check_token(required: Option<&ServerToken>, sent: Option<&ServerToken>) -> Option<Refusal> {
    let required = required?;
    let env = super::token::TOKEN_ENV;
    match sent {
        None => Some(Refusal {
            message: format!(
                "this maia host requires a token and the client sent none; give the client the host's token with {env} or --target remote:ADDR,token-file=PATH"
            ),
            log: "it sent no token",
        }),
        Some(sent) if !required.matches(sent) => Some(Refusal {
            message: format!(
                "the token the client sent does not match this maia host's; check {env} or the token-file the client was given"
            ),
            log: "its token does not match",
        }),
        Some(_) => None,
    }
}

/// The connection a request came on.
struct Client<'a> {
    /// Numbers connections since the host started.
    serial: u64,
    /// Where its answers go.
    out: &'a mpsc::Sender<Vec<u8>>,
}

/// Checks an activations request and hands it to the batcher; a task sends the answer.
/// Returns an error frame when the request fails before reaching the model.
async fn submit(
    ctx: &Ctx,
    client: Client<'_>,
    id: u64,
    layer: String,
    units: Vec<usize>,
    images: Vec<protocol::ImageHeader>,
    blob: Vec<u8>,
) -> Option<Vec<u8>> {
    for &unit in &units {
        let unit = UnitRef {
            layer: layer.clone(),
            unit,
        };
        if let Err(e) = unit.validate(&ctx.info) {
            return Some(protocol::error_frame(
                Some(id),
                ErrorKind::of(&e),
                e.to_string(),
            ));
        }
    }
    if ctx.info.layer(&layer).is_none() {
        // No units asked for, but the layer must still exist.
        let e = UnitRef { layer, unit: 0 }.validate(&ctx.info).err()?;
        return Some(protocol::error_frame(
            Some(id),
            ErrorKind::of(&e),
            e.to_string(),
        ));
    }
    let images = match protocol::decode_images(images, &blob) {
        Ok(images) => images,
        Err(e) => {
            return Some(protocol::error_frame(
                Some(id),
                ErrorKind::Protocol,
                e.to_string(),
            ));
        }
    };
    drop(blob);
    let (reply, answer) = oneshot::channel();
    if images.is_empty() {
        let _ = reply.send(Ok(Vec::new()));
    } else {
        let job = Job {
            client: client.serial,
            layer,
            units,
            images,
            reply,
        };
        if ctx.jobs.send(job).await.is_err() {
            let message = "the host is shutting down; start it again and retry".to_owned();
            return Some(protocol::error_frame(Some(id), ErrorKind::Compute, message));
        }
    }
    let out = client.out.clone();
    let counters = ctx.counters.clone();
    tokio::spawn(async move {
        let frame = match answer.await {
            Ok(Ok(maps)) => {
                // Small answers (a few units' maps: the usual request) are encoded here;
                // a hop to a blocking thread would cost more than the copy.
                let values: usize = maps.iter().flatten().map(|m| m.values.len()).sum();
                let encoded = if values <= INLINE_ENCODE_VALUES {
                    Ok(protocol::encode_activations_response(id, &maps))
                } else {
                    tokio::task::spawn_blocking(move || {
                        protocol::encode_activations_response(id, &maps)
                    })
                    .await
                };
                match encoded {
                    Ok(Ok(frame)) => frame,
                    Ok(Err(e)) => {
                        counters.error();
                        protocol::error_frame(Some(id), ErrorKind::Compute, e.to_string())
                    }
                    Err(e) => {
                        counters.error();
                        protocol::error_frame(
                            Some(id),
                            ErrorKind::Compute,
                            format!("encoding the maps failed: {e}"),
                        )
                    }
                }
            }
            Ok(Err(e)) => {
                counters.error();
                protocol::error_frame(Some(id), ErrorKind::of(&e), e.to_string())
            }
            Err(_) => {
                counters.error();
                let message = "the model failed (panicked) while computing this request's batch; see the host's output".to_owned();
                protocol::error_frame(Some(id), ErrorKind::Compute, message)
            }
        };
        let _ = out.send(frame).await;
    });
    None
}
