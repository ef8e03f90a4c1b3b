//! [`RemoteModel`]: a target model served by `maia host serve`, reached over TCP or a unix
//! socket (`--target remote:ADDR`). See [`crate::activation_server`] for the protocol.
//!
//! A host that requires a token (see [`crate::activation_server`], "Tokens") gets the one named by the
//! address's `token-file=PATH` option (`remote:10.0.0.5:7878,token-file=/etc/maia.token`)
//! or else the `MAIA_HOST_TOKEN` environment variable; the token is sent only to hosts that
//! ask for one.
//!
//! The client is blocking and thread-safe: one connection, a writer behind a mutex and a
//! reader thread that hands each answer to the request waiting for its id, so threads that
//! share a `RemoteModel` have their requests in flight together (and batched by the host).

use super::{ModelInfo, TargetError, TargetModel, UnitMap, UnitRef};
use crate::activation_server::protocol::{
    self, PROTOCOL_VERSION, READY_SINCE, Request, Response, SERVICE, ServerHello,
};
use crate::activation_server::{ServerAddr, ServerToken, Stats, TOKEN_ENV};
use maia_plugin_sdk::Image;
use std::collections::HashMap;
use std::io::Write;
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long connecting and the hello may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Answers are split so none is bigger than this (maps of many units add up).
const RESPONSE_BUDGET: usize = 256 << 20;

/// Requests are split so their PNGs stay under this.
const REQUEST_BUDGET: usize = 256 << 20;

/// A target model that lives in a `maia host serve` process.
pub struct RemoteModel {
    addr: ServerAddr,
    token: Option<ServerToken>,
    hello: ServerHello,
    info: ModelInfo,
    conn: Mutex<Arc<Connection>>,
    truths: Mutex<HashMap<UnitRef, Option<String>>>,
}

impl std::fmt::Debug for RemoteModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteModel")
            .field("addr", &self.addr)
            .field("model", &self.hello.model.name)
            .finish()
    }
}

impl RemoteModel {
    /// Connects to the host at `spec` (`127.0.0.1:7878`, `tcp://HOST:PORT` or `unix:PATH`,
    /// optionally followed by `,token-file=PATH`) and reads the model it serves. Without a
    /// token file, the token comes from `MAIA_HOST_TOKEN` when it is set.
    pub fn connect(spec: &str) -> Result<RemoteModel, TargetError> {
        let (addr, token_file) = split_options(spec)?;
        let addr: ServerAddr = addr
            .parse()
            .map_err(|e: crate::activation_server::BadAddr| TargetError::Spec(e.to_string()))?;
        let token = match token_file {
            Some(path) => Some(ServerToken::from_file(std::path::Path::new(path))),
            None => ServerToken::from_env().transpose(),
        }
        .transpose()
        .map_err(|e| TargetError::Spec(e.to_string()))?;
        RemoteModel::connect_to(addr, token)
    }

    /// Connects to the host at `addr` with `token` (sent only if the host requires one).
    pub fn connect_to(
        addr: ServerAddr,
        token: Option<ServerToken>,
    ) -> Result<RemoteModel, TargetError> {
        let (conn, hello) = Connection::open(&addr, token.as_ref())?;
        let mut info = hello.model.clone();
        info.kind = "remote".into();
        info.device = format!("{} via {addr}", hello.model.device);
        Ok(RemoteModel {
            addr,
            token,
            hello,
            info,
            conn: Mutex::new(Arc::new(conn)),
            truths: Mutex::new(HashMap::new()),
        })
    }

    /// The host's address.
    pub fn address(&self) -> &ServerAddr {
        &self.addr
    }

    /// The host's hello: its version and the model as it describes it.
    pub fn hello(&self) -> &ServerHello {
        &self.hello
    }

    /// The host's counters.
    pub fn stats(&self) -> Result<Stats, TargetError> {
        let conn = self.connection()?;
        let waiting = conn.send(|id| protocol::encode_message(&Request::Stats { id }))?;
        match conn.wait(waiting)? {
            (Response::Stats { stats, .. }, _) => Ok(stats),
            (other, _) => Err(conn.unexpected(&other)),
        }
    }

    /// The live connection, reconnecting once if the host restarted.
    fn connection(&self) -> Result<Arc<Connection>, TargetError> {
        let mut current = self
            .conn
            .lock()
            .map_err(|_| TargetError::Compute("the connection lock is poisoned".into()))?;
        if current.closed().is_none() {
            return Ok(current.clone());
        }
        let (conn, hello) = Connection::open(&self.addr, self.token.as_ref())?;
        if hello.fingerprint != self.hello.fingerprint {
            return Err(TargetError::Spec(format!(
                "the maia host at {} now serves another model ({}, was {}); start this run again to use it",
                self.addr, hello.model.name, self.hello.model.name
            )));
        }
        *current = Arc::new(conn);
        Ok(current.clone())
    }

    /// Images per request so answers and requests stay within budget.
    fn chunks<'a>(
        &self,
        images: &'a [&'a Image],
        layer: &str,
        units: usize,
    ) -> Vec<&'a [&'a Image]> {
        let pixels = self
            .info
            .layer(layer)
            .map_or(1, |l| (l.map_width as usize * l.map_height as usize).max(1));
        let max_images = RESPONSE_BUDGET / (units.max(1) * pixels * 4);
        split(images, max_images, REQUEST_BUDGET)
    }
}

/// Splits `ADDR[,token-file=PATH]` into the address and the token file.
fn split_options(spec: &str) -> Result<(&str, Option<&str>), TargetError> {
    let spec = spec.trim();
    let Some((addr, options)) = spec.split_once(",") else {
        return Ok((spec, None));
    };
    let mut token_file = None;
    for option in options.split(',') {
        match option.trim().split_once('=') {
            Some(("token-file", path)) if !path.trim().is_empty() => {
                token_file = Some(path.trim());
            }
            _ => {
                // Only the option's name: a value may be a token pasted in by mistake.
                let name = option.split('=').next().unwrap_or_default().trim();
                return Err(TargetError::Spec(format!(
                    "`{name}` is not an option of a remote target; the only one is token-file=PATH, as in remote:{addr},token-file=/etc/maia-host.token (tokens are never written in the address itself)"
                )));
            }
        }
    }
    Ok((addr.trim(), token_file))
}

/// Consecutive runs of at most `max_images` images (at least one) whose PNGs add up to at
/// most `max_png_bytes` (unless a single image is bigger).
fn split<'a>(
    images: &'a [&'a Image],
    max_images: usize,
    max_png_bytes: usize,
) -> Vec<&'a [&'a Image]> {
    let max_images = max_images.max(1);
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut png_bytes = 0;
    for (i, image) in images.iter().enumerate() {
        let full =
            i - start >= max_images || (i > start && png_bytes + image.png.len() > max_png_bytes);
        if full {
            chunks.push(&images[start..i]);
            start = i;
            png_bytes = 0;
        }
        png_bytes += image.png.len();
    }
    if start < images.len() {
        chunks.push(&images[start..]);
    }
    chunks
}

impl TargetModel for RemoteModel {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn activations(
        &self,
        images: &[&Image],
        layer: &str,
        units: &[usize],
    ) -> Result<Vec<Vec<UnitMap>>, TargetError> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let conn = self.connection()?;
        // All chunks go out before any answer is awaited: the host can batch them.
        let waiting: Vec<_> = self
            .chunks(images, layer, units.len())
            .into_iter()
            .map(|chunk| {
                conn.send(|id| protocol::encode_activations_request(id, layer, units, chunk))
            })
            .collect::<Result<_, _>>()?;
        let mut maps = Vec::with_capacity(images.len());
        for waiting in waiting {
            match conn.wait(waiting)? {
                (Response::Activations { maps: dims, .. }, blob) => {
                    maps.extend(
                        protocol::decode_maps(&dims, &blob)
                            .map_err(|e| conn.broken(&e.to_string()))?,
                    );
                }
                (Response::Error { kind, message, .. }, _) => {
                    return Err(kind.into_target_error(message));
                }
                (other, _) => return Err(conn.unexpected(&other)),
            }
        }
        if maps.len() != images.len() {
            return Err(conn.broken(&format!(
                "{} answers for {} images",
                maps.len(),
                images.len()
            )));
        }
        Ok(maps)
    }

    fn fingerprint(&self) -> String {
        // The served model's own fingerprint: local and remote runs share caches.
        self.hello.fingerprint.clone()
    }

    fn ground_truth(&self, unit: &UnitRef) -> Option<String> {
        if let Some(known) = self.truths.lock().ok()?.get(unit) {
            return known.clone();
        }
        let conn = self.connection().ok()?;
        let waiting = conn
            .send(|id| {
                protocol::encode_message(&Request::GroundTruth {
                    id,
                    unit: unit.clone(),
                })
            })
            .ok()?;
        let description = match conn.wait(waiting).ok()? {
            (Response::GroundTruth { description, .. }, _) => description,
            _ => return None,
        };
        self.truths
            .lock()
            .ok()?
            .insert(unit.clone(), description.clone());
        description
    }
}

/// An answer (or why none came) for one request.
type Answer = Result<(Response, Vec<u8>), TargetError>;

/// Requests in flight on a connection, and whether it is still up.
#[derive(Default)]
struct Pending {
    waiting: HashMap<u64, mpsc::Sender<Answer>>,
    closed: Option<String>,
}

/// One connection to the host.
struct Connection {
    addr: ServerAddr,
    writer: Mutex<Socket>,
    pending: Arc<Mutex<Pending>>,
    next_id: AtomicU64,
}

/// A request that was sent, waiting for its answer.
struct Waiting(mpsc::Receiver<Answer>);

impl Connection {
    /// Connects, exchanges hellos (with `token` if the host requires one), and starts the
    /// reader thread.
    fn open(
        addr: &ServerAddr,
        token: Option<&ServerToken>,
    ) -> Result<(Connection, ServerHello), TargetError> {
        let socket = Socket::connect(addr).map_err(|e| not_running(addr, &e))?;
        socket
            .set_read_timeout(Some(CONNECT_TIMEOUT))
            .map_err(|e| not_running(addr, &e))?;
        let mut reader = socket.try_clone().map_err(|e| not_running(addr, &e))?;
        let not_a_host = |why: String| {
            TargetError::Spec(format!(
                "{addr} answered, but not as a maia host ({why}); check the address (`maia host info {addr}`)"
            ))
        };
        let frame = match protocol::read_frame(&mut reader, protocol::MAX_HEADER_BYTES) {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                return Err(not_a_host(
                    "it closed the connection without a hello".into(),
                ));
            }
            Err(protocol::ProtocolError::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(not_a_host(format!(
                    "no hello within {} s",
                    CONNECT_TIMEOUT.as_secs()
                )));
            }
            Err(e) => return Err(not_a_host(e.to_string())),
        };
        let hello = match frame.message::<Response>() {
            Ok(Response::Hello(hello)) if hello.service == SERVICE => hello,
            Ok(Response::Error { message, .. }) => {
                return Err(TargetError::Spec(format!(
                    "the maia host at {addr} refused the connection: {message}"
                )));
            }
            Ok(_) => return Err(not_a_host("its first message is not a hello".into())),
            Err(_) => {
                // A hello from another major version may not parse: name the versions anyway.
                let theirs = serde_json::from_slice::<serde_json::Value>(&frame.header)
                    .ok()
                    .and_then(|v| v.get("protocol").cloned())
                    .and_then(|p| serde_json::from_value::<protocol::Version>(p).ok());
                return Err(match theirs {
                    Some(theirs) => version_mismatch(addr, theirs),
                    None => not_a_host("its hello does not parse".into()),
                });
            }
        };
        if hello.protocol.major != PROTOCOL_VERSION.major {
            return Err(version_mismatch(addr, hello.protocol));
        }
        let token = match (hello.token_required, token) {
            (false, _) => None,
            (true, Some(token)) => Some(token.clone()),
            (true, None) => {
                return Err(TargetError::Spec(format!(
                    "the maia host at {addr} requires a token; set {TOKEN_ENV} to the host's token, or name a file holding it: --target remote:{addr},token-file=PATH"
                )));
            }
        };
        let greeting = protocol::encode_message(&Request::Hello {
            protocol: PROTOCOL_VERSION,
            client: format!("maia {}", env!("CARGO_PKG_VERSION")),
            token,
        })
        .map_err(|e| TargetError::Compute(e.to_string()))?;
        let mut writer = socket;
        writer
            .write_all(&greeting)
            .map_err(|e| not_running(addr, &e))?;
        if hello.protocol >= READY_SINCE {
            // Wait for the host to accept the hello, so a refused token fails here, clearly.
            let refused = |why: String| {
                TargetError::Spec(format!(
                    "the maia host at {addr} refused the connection: {why}"
                ))
            };
            match protocol::read_frame(&mut reader, protocol::MAX_HEADER_BYTES) {
                Ok(Some(frame)) => match frame.message::<Response>() {
                    Ok(Response::Ready) => {}
                    Ok(Response::Error { message, .. }) => return Err(refused(message)),
                    Ok(_) => return Err(not_a_host("it did not answer the hello".into())),
                    Err(e) => return Err(not_a_host(e.to_string())),
                },
                Ok(None) => {
                    return Err(refused("it closed the connection after the hello".into()));
                }
                Err(e) => return Err(refused(e.to_string())),
            }
        }
        reader
            .set_read_timeout(None)
            .map_err(|e| not_running(addr, &e))?;
        let pending = Arc::new(Mutex::new(Pending::default()));
        let thread_pending = pending.clone();
        let name = addr.to_string();
        std::thread::Builder::new()
            .name("maia-remote-reader".into())
            .spawn(move || read_answers(reader, &name, &thread_pending))
            .map_err(|e| {
                TargetError::Compute(format!("cannot start the connection's reader thread: {e}"))
            })?;
        Ok((
            Connection {
                addr: addr.clone(),
                writer: Mutex::new(writer),
                pending,
                next_id: AtomicU64::new(1),
            },
            hello,
        ))
    }

    /// Why the connection is down, if it is.
    fn closed(&self) -> Option<String> {
        match self.pending.lock() {
            Ok(pending) => pending.closed.clone(),
            Err(_) => Some("its state lock is poisoned".into()),
        }
    }

    /// Sends the request `encode` builds for a fresh id.
    fn send(
        &self,
        encode: impl FnOnce(u64) -> Result<Vec<u8>, protocol::ProtocolError>,
    ) -> Result<Waiting, TargetError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let bytes = encode(id).map_err(|e| {
            TargetError::Input(format!("cannot send this request to {}: {e}", self.addr))
        })?;
        let (tx, rx) = mpsc::channel();
        {
            let mut pending = self.lock_pending()?;
            if let Some(why) = &pending.closed {
                return Err(lost(&self.addr, why));
            }
            pending.waiting.insert(id, tx);
        }
        let written = match self.writer.lock() {
            Ok(mut writer) => writer.write_all(&bytes),
            Err(_) => Err(std::io::Error::other("the writer lock is poisoned")),
        };
        if let Err(e) = written {
            let why = format!("sending failed: {e}");
            close(&self.pending, &self.addr_string(), why.clone());
            return Err(lost(&self.addr, &why));
        }
        Ok(Waiting(rx))
    }

    /// Waits for the answer to a sent request.
    fn wait(&self, waiting: Waiting) -> Result<(Response, Vec<u8>), TargetError> {
        match waiting.0.recv() {
            Ok(answer) => answer,
            Err(_) => Err(lost(&self.addr, "the connection closed")),
        }
    }

    fn lock_pending(&self) -> Result<std::sync::MutexGuard<'_, Pending>, TargetError> {
        self.pending
            .lock()
            .map_err(|_| TargetError::Compute("the connection's state lock is poisoned".into()))
    }

    fn addr_string(&self) -> String {
        self.addr.to_string()
    }

    /// An answer of the wrong type.
    fn unexpected(&self, response: &Response) -> TargetError {
        match response {
            Response::Error { kind, message, .. } => kind.into_target_error(message.clone()),
            other => self.broken(&format!("unexpected answer {other:?}")),
        }
    }

    /// An answer that breaks the protocol.
    fn broken(&self, why: &str) -> TargetError {
        TargetError::Compute(format!(
            "the maia host at {} sent an answer this client cannot read ({why}); are host and client the same maia version?",
            self.addr
        ))
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Unblocks the reader thread, which then ends.
        if let Ok(writer) = self.writer.lock() {
            writer.shutdown();
        }
    }
}

/// The reader thread: routes answers to the requests waiting for them.
fn read_answers(mut reader: Socket, addr: &str, pending: &Mutex<Pending>) {
    let why = loop {
        let frame = match protocol::read_frame(&mut reader, u32::MAX) {
            Ok(Some(frame)) => frame,
            Ok(None) => break "the host closed the connection".to_owned(),
            Err(e) => break e.to_string(),
        };
        let response = match frame.message::<Response>() {
            Ok(response) => response,
            Err(e) => break format!("an answer did not parse: {e}"),
        };
        let Some(id) = response.id() else {
            // An error about the whole connection: the host closes it.
            break match response {
                Response::Error { message, .. } => message,
                _ => "the host sent a second hello".to_owned(),
            };
        };
        let waiter = match pending.lock() {
            Ok(mut pending) => pending.waiting.remove(&id),
            Err(_) => break "the connection's state lock is poisoned".to_owned(),
        };
        if let Some(waiter) = waiter {
            let _ = waiter.send(Ok((response, frame.blob)));
        }
    };
    close(pending, addr, why);
}

/// Marks the connection down and fails every request still waiting.
fn close(pending: &Mutex<Pending>, addr: &str, why: String) {
    let Ok(mut pending) = pending.lock() else {
        return;
    };
    if pending.closed.is_none() {
        pending.closed = Some(why.clone());
    }
    for (_, waiter) in pending.waiting.drain() {
        let _ = waiter.send(Err(TargetError::Compute(format!(
            "lost the connection to the maia host at {addr}: {why}; is `maia host serve` still running? (check with `maia host info {addr}`)"
        ))));
    }
}

fn lost(addr: &ServerAddr, why: &str) -> TargetError {
    TargetError::Compute(format!(
        "lost the connection to the maia host at {addr}: {why}; is `maia host serve` still running? (check with `maia host info {addr}`)"
    ))
}

fn not_running(addr: &ServerAddr, e: &std::io::Error) -> TargetError {
    TargetError::Spec(format!(
        "cannot connect to a maia host at {addr}: {e}; is `maia host serve` running? start it with `maia host serve --model MODEL --listen {addr}`"
    ))
}

fn version_mismatch(addr: &ServerAddr, theirs: protocol::Version) -> TargetError {
    TargetError::Spec(format!(
        "the maia host at {addr} speaks protocol {theirs}, this maia ({}) speaks {PROTOCOL_VERSION}; run the same major version of maia for the host and its clients",
        env!("CARGO_PKG_VERSION")
    ))
}

/// A TCP or unix stream.
enum Socket {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixStream),
}

impl Socket {
    fn connect(addr: &ServerAddr) -> std::io::Result<Socket> {
        match addr {
            ServerAddr::Tcp(text) => {
                let mut last = std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the name resolves to no address",
                );
                for socket in text.to_socket_addrs()? {
                    match TcpStream::connect_timeout(&socket, CONNECT_TIMEOUT) {
                        Ok(stream) => {
                            stream.set_nodelay(true)?;
                            return Ok(Socket::Tcp(stream));
                        }
                        Err(e) => last = e,
                    }
                }
                Err(last)
            }
            #[cfg(unix)]
            ServerAddr::Unix(path) => {
                Ok(Socket::Unix(std::os::unix::net::UnixStream::connect(path)?))
            }
            #[cfg(not(unix))]
            ServerAddr::Unix(_) => Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "unix sockets need a unix system",
            )),
        }
    }

    fn try_clone(&self) -> std::io::Result<Socket> {
        Ok(match self {
            Socket::Tcp(s) => Socket::Tcp(s.try_clone()?),
            #[cfg(unix)]
            Socket::Unix(s) => Socket::Unix(s.try_clone()?),
        })
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> std::io::Result<()> {
        match self {
            Socket::Tcp(s) => s.set_read_timeout(timeout),
            #[cfg(unix)]
            Socket::Unix(s) => s.set_read_timeout(timeout),
        }
    }

    fn shutdown(&self) {
        let _ = match self {
            Socket::Tcp(s) => s.shutdown(Shutdown::Both),
            #[cfg(unix)]
            Socket::Unix(s) => s.shutdown(Shutdown::Both),
        };
    }
}

impl std::io::Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.read(buf),
            #[cfg(unix)]
            Socket::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.write(buf),
            #[cfg(unix)]
            Socket::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Socket::Tcp(s) => s.flush(),
            #[cfg(unix)]
            Socket::Unix(s) => s.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_requests_are_split_by_count_and_by_bytes() {
        let images: Vec<Image> = [3, 3, 9, 1, 1, 1, 1]
            .iter()
            .map(|&n| Image::new(vec![0; n], ""))
            .collect();
        let refs: Vec<&Image> = images.iter().collect();
        let sizes = |max_images, max_bytes| -> Vec<usize> {
            split(&refs, max_images, max_bytes)
                .iter()
                .map(|c| c.len())
                .collect()
        };
        assert_eq!(sizes(100, 100), [7]);
        assert_eq!(sizes(3, 100), [3, 3, 1]);
        assert_eq!(sizes(0, 100), [1; 7]);
        // 3+3 fit in 6; 9 is alone even over the budget; then 1+1+1+1.
        assert_eq!(sizes(100, 6), [2, 1, 4]);
        assert!(split(&[], 4, 4).is_empty());
    }
}
