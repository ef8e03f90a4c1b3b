//! `maia host serve` and `RemoteModel` over real sockets: the hello, many concurrent
//! clients, batching, per-request errors, protocol versions, clients that vanish, unix
//! sockets, tokens (required beyond loopback), garbage on the wire, a host that dies and
//! comes back, and graceful shutdown.

use maia_core::activation_server::protocol::{
    self, ErrorKind, Frame, PROTOCOL_VERSION, Request, Response, ServerHello, Version,
};
use maia_core::activation_server::{
    ActivationServer, ServerAddr, ServerConfig, ServerError, ServerToken,
};
use maia_core::target::{
    ModelInfo, RemoteModel, TargetError, TargetModel, UnitMap, UnitRef, open_target,
};
use maia_plugin_sdk::Image;
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

fn world_image(prompt: &str, seed: u64) -> Image {
    let parsed = maia_shapes_world::parse_prompt(prompt, seed).expect("prompt parses");
    let png = maia_shapes_world::render_png(&parsed.scene).expect("renders");
    let mut image = Image::new(png, prompt).with_meta(serde_json::json!({ "scene": parsed.scene }));
    image.id = format!("img_{seed}").into();
    image
}

fn images() -> Vec<Image> {
    [
        "a red circle on a white background",
        "two blue striped squares and a yellow star on a black background",
        "a green dotted triangle in the top left",
        "three red stars",
        "a big blue circle and a small red square",
    ]
    .iter()
    .enumerate()
    .map(|(i, p)| world_image(p, i as u64 + 1))
    .collect()
}

fn loopback() -> ServerConfig {
    ServerConfig {
        listen: ServerAddr::Tcp("127.0.0.1:0".into()),
        ..ServerConfig::default()
    }
}

fn serve(model: Arc<dyn TargetModel>, config: ServerConfig) -> ActivationServer {
    ActivationServer::start(model, config).unwrap_or_else(|e| panic!("{e}"))
}

fn connect(host: &ActivationServer) -> RemoteModel {
    RemoteModel::connect(&host.address().to_string()).unwrap_or_else(|e| panic!("{e}"))
}

fn catalogue() -> Arc<dyn TargetModel> {
    Arc::from(open_target("synthetic:all").expect("synthetic:all opens"))
}

/// A model that takes its time and remembers the batch size of every call.
struct Slow {
    inner: Box<dyn TargetModel>,
    delay: Duration,
    calls: Mutex<Vec<usize>>,
    running: AtomicUsize,
    overlapped: AtomicUsize,
    /// While closed (see [`Slow::gated`]), the first call waits for [`Slow::open`].
    gate: (Mutex<bool>, Condvar),
}

impl Slow {
    fn new(spec: &str, delay: Duration) -> Arc<Slow> {
        Arc::new(Slow {
            inner: open_target(spec).expect("target opens"),
            delay,
            calls: Mutex::new(Vec::new()),
            running: AtomicUsize::new(0),
            overlapped: AtomicUsize::new(0),
            gate: (Mutex::new(true), Condvar::new()),
        })
    }

    /// Like [`Slow::new`], but the first call waits until [`Slow::open`]: a test holds the
    /// model busy until every request it sends has reached the host, so what is batched
    /// does not depend on thread scheduling.
    fn gated(spec: &str, delay: Duration) -> Arc<Slow> {
        let slow = Slow::new(spec, delay);
        *slow.gate.0.lock().expect("lock") = false;
        slow
    }

    fn open(&self) {
        *self.gate.0.lock().expect("lock") = true;
        self.gate.1.notify_all();
    }

    fn wait_for_gate(&self) {
        let mut open = self.gate.0.lock().expect("lock");
        while !*open {
            open = self.gate.1.wait(open).expect("lock");
        }
    }

    fn calls(&self) -> Vec<usize> {
        self.calls.lock().expect("lock").clone()
    }
}

impl TargetModel for Slow {
    fn info(&self) -> &ModelInfo {
        self.inner.info()
    }

    fn activations(
        &self,
        images: &[&Image],
        layer: &str,
        units: &[usize],
    ) -> Result<Vec<Vec<UnitMap>>, TargetError> {
        if self.running.fetch_add(1, Ordering::SeqCst) > 0 {
            self.overlapped.fetch_add(1, Ordering::SeqCst);
        }
        self.calls.lock().expect("lock").push(images.len());
        self.wait_for_gate();
        std::thread::sleep(self.delay);
        let result = self.inner.activations(images, layer, units);
        self.running.fetch_sub(1, Ordering::SeqCst);
        result
    }

    fn fingerprint(&self) -> String {
        self.inner.fingerprint()
    }
}

#[test]
fn hello_reports_the_model_it_serves() {
    let local = catalogue();
    let host = serve(local.clone(), loopback());
    let remote = connect(&host);
    assert_eq!(remote.hello().model, *local.info());
    assert_eq!(remote.hello().protocol, PROTOCOL_VERSION);
    assert_eq!(
        remote.fingerprint(),
        local.fingerprint(),
        "remote and local runs share caches"
    );
    let info = remote.info();
    assert_eq!(info.kind, "remote");
    assert!(
        info.device.contains(&host.address().to_string()),
        "{}",
        info.device
    );
    assert_eq!(info.layers, local.info().layers);
    let unit = UnitRef {
        layer: "synthetic".into(),
        unit: 3,
    };
    assert_eq!(remote.ground_truth(&unit), local.ground_truth(&unit));
    assert!(remote.ground_truth(&unit).is_some());
    let stats = remote.stats().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((stats.clients, stats.requests), (1, 0));
}

#[test]
fn many_concurrent_clients_get_the_maps_a_local_model_gives() {
    let local = catalogue();
    let host = serve(local.clone(), loopback());
    let images = images();
    let shared = connect(&host);
    std::thread::scope(|scope| {
        for t in 0..16usize {
            let (local, images, host, shared) = (&local, &images, &host, &shared);
            scope.spawn(move || {
                // Half the threads share one connection, half have their own.
                let own;
                let remote: &RemoteModel = if t % 2 == 0 {
                    own = connect(host);
                    &own
                } else {
                    shared
                };
                for r in 0..4usize {
                    let units = [(t + r) % 20, (t * 7 + r) % 20 + 20];
                    let picked: Vec<&Image> =
                        images.iter().skip((t + r) % 3).take(2 + r % 2).collect();
                    let want = local
                        .activations(&picked, "synthetic", &units)
                        .expect("local maps");
                    let got = remote
                        .activations(&picked, "synthetic", &units)
                        .unwrap_or_else(|e| panic!("thread {t} request {r}: {e}"));
                    assert_eq!(got, want, "thread {t} request {r}");
                }
            });
        }
    });
    let stats = host.stats();
    assert_eq!((stats.requests, stats.errors), (64, 0), "{stats}");
    assert!(stats.batches <= 64 && stats.images >= 64 * 2, "{stats}");
}

/// Opens `slow`'s gate once the host has received `requests` requests (panics after a
/// minute: a request that never arrives is a bug, not a slow machine).
fn open_when_received(slow: &Slow, host: &ActivationServer, requests: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while host.stats().requests < requests {
        assert!(
            std::time::Instant::now() < deadline,
            "the host received only {} of {requests} requests",
            host.stats().requests
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    slow.open();
}

#[test]
fn requests_within_the_window_share_one_model_call() {
    let slow = Slow::gated("synthetic:all", Duration::from_millis(40));
    let config = ServerConfig {
        batch_window: Duration::from_millis(20),
        max_batch: 6,
        ..loopback()
    };
    let host = serve(slow.clone(), config);
    let images = images();
    let local = catalogue();
    std::thread::scope(|scope| {
        for t in 0..8usize {
            let (host, images, local) = (&host, &images, &local);
            scope.spawn(move || {
                let remote = connect(host);
                for r in 0..4usize {
                    let image = &images[(t + r) % images.len()];
                    let got = remote
                        .activations(&[image], "synthetic", &[t, 30 + r])
                        .expect("maps");
                    assert_eq!(
                        got,
                        local
                            .activations(&[image], "synthetic", &[t, 30 + r])
                            .expect("local")
                    );
                }
            });
        }
        // The model holds its first batch until every client's first request is in, so
        // the second batch is made of requests that waited together.
        open_when_received(&slow, &host, 8);
    });
    let stats = host.stats();
    let calls = slow.calls();
    assert_eq!(stats.requests, 32);
    assert_eq!(stats.batches as usize, calls.len());
    assert!(
        calls.len() >= 2 && calls[1] == (8 - calls[0]).min(6),
        "the requests that waited for the model were not batched: {stats}; calls {calls:?}"
    );
    assert!(
        stats.batches < stats.requests,
        "requests were not batched: {stats}; calls {calls:?}"
    );
    assert!(
        calls.iter().all(|&n| n <= 6),
        "max batch exceeded: {calls:?}"
    );
    assert_eq!(calls.iter().sum::<usize>(), 32);
    assert_eq!(
        slow.overlapped.load(Ordering::SeqCst),
        0,
        "batches must run one at a time"
    );
}

#[test]
fn a_busy_model_gets_bigger_batches_even_without_a_window() {
    let slow = Slow::gated("synthetic:red", Duration::from_millis(40));
    let config = ServerConfig {
        batch_window: Duration::ZERO,
        ..loopback()
    };
    let host = serve(slow.clone(), config);
    let image = &images()[0];
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                let remote = connect(&host);
                for _ in 0..3 {
                    remote
                        .activations(&[image], "synthetic", &[0])
                        .expect("maps");
                }
            });
        }
        open_when_received(&slow, &host, 8);
    });
    // Requests that arrive while the model computes wait for it together: with no window
    // the first call takes what had arrived, and the rest of the first eight, which came
    // while it ran, go together in the second. A client served in the first call may send
    // its next request in time to join the second too (seen under a loaded machine), so
    // the first two calls hold at least the first eight.
    let stats = host.stats();
    let calls = slow.calls();
    assert_eq!(stats.requests, 24);
    assert_eq!(calls.iter().sum::<usize>(), 24);
    assert!(
        calls.len() >= 2 && calls[0] + calls[1] >= 8,
        "the requests that waited for the model were not batched: {stats}; calls {calls:?}"
    );
}

#[test]
fn the_window_closes_early_when_every_client_is_waiting() {
    let config = ServerConfig {
        batch_window: Duration::from_secs(3),
        ..loopback()
    };
    let host = serve(catalogue(), config);
    let remote = connect(&host);
    let image = &images()[0];
    let started = std::time::Instant::now();
    remote
        .activations(&[image], "synthetic", &[0])
        .expect("maps");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // A second client that is connected but quiet keeps the window open.
    let _quiet = connect(&host);
    let started = std::time::Instant::now();
    remote
        .activations(&[image], "synthetic", &[0])
        .expect("maps");
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_bad_request_gets_its_error_and_the_connection_keeps_working() {
    let local = catalogue();
    let host = serve(local.clone(), loopback());
    let remote = connect(&host);
    let images = images();
    let one = [&images[0]];
    let err = remote
        .activations(&one, "synthetic", &[0, 999])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("unit 999 out of range for synthetic"), "{err}");
    let err = remote
        .activations(&one, "layer9", &[0])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("no layer `layer9`") && err.contains("synthetic ("),
        "{err}"
    );
    assert!(matches!(
        remote.activations(&one, "synthetic", &[999]),
        Err(TargetError::Unit(_))
    ));
    let got = remote
        .activations(&one, "synthetic", &[1])
        .expect("a good request after bad ones works");
    assert_eq!(
        got,
        local.activations(&one, "synthetic", &[1]).expect("local")
    );
    let stats = remote.stats().expect("stats");
    assert_eq!(
        (stats.requests, stats.errors, stats.clients_total),
        (4, 3, 1),
        "{stats}"
    );
}

#[test]
fn a_bad_image_fails_only_its_own_request_in_a_shared_batch() {
    let slow = Slow::new("synthetic:all", Duration::from_millis(30));
    let config = ServerConfig {
        // Long, but it closes as soon as both clients have their request in.
        batch_window: Duration::from_secs(5),
        ..loopback()
    };
    let host = serve(slow.clone(), config);
    let (one, two) = (connect(&host), connect(&host));
    let images = images();
    let mut photo = Image::new(images[0].png.clone(), "a photo");
    photo.id = "img_99".into();
    std::thread::scope(|scope| {
        let good = scope.spawn(|| one.activations(&[&images[0], &images[1]], "synthetic", &[0]));
        let bad = scope.spawn(|| two.activations(&[&photo], "synthetic", &[0]));
        assert!(good.join().expect("thread").is_ok());
        let err = bad
            .join()
            .expect("thread")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("img_99 has no scene graph"), "{err}");
    });
    // One merged call that failed, then one call per request.
    let mut calls = slow.calls();
    assert_eq!(calls.first(), Some(&3), "{calls:?}");
    calls[1..].sort_unstable();
    assert_eq!(calls, [3, 1, 2]);
}

/// A raw protocol client, for what `RemoteModel` would never send.
struct Raw(TcpStream);

impl Raw {
    fn connect(host: &ActivationServer) -> (Raw, ServerHello) {
        Raw::connect_to(&host.address().to_string())
    }

    fn connect_to(addr: &str) -> (Raw, ServerHello) {
        let stream = TcpStream::connect(addr).expect("connects");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut raw = Raw(stream);
        let hello = match raw
            .read()
            .expect("a hello")
            .message::<Response>()
            .expect("parses")
        {
            Response::Hello(hello) => hello,
            other => panic!("not a hello: {other:?}"),
        };
        (raw, hello)
    }

    fn send(&mut self, header: &serde_json::Value) {
        self.0
            .write_all(&protocol::encode_message(header).expect("encodes"))
            .expect("sends");
    }

    fn hello(&mut self, major: u16) {
        self.hello_with(Version { major, minor: 0 }, None);
    }

    fn hello_with(&mut self, protocol: Version, token: Option<&str>) {
        let hello = Request::Hello {
            protocol,
            client: "test".into(),
            token: token.map(|t| serde_json::from_value(serde_json::json!(t)).expect("a token")),
        };
        self.send(&serde_json::to_value(hello).expect("json"));
    }

    fn read(&mut self) -> Option<Frame> {
        protocol::read_frame(&mut self.0, u32::MAX).expect("reads")
    }

    fn answer(&mut self) -> Response {
        self.read().expect("an answer").message().expect("parses")
    }
}

#[test]
fn a_client_with_another_major_version_is_told_both_versions() {
    let host = serve(catalogue(), loopback());
    let (mut raw, hello) = Raw::connect(&host);
    assert_eq!(hello.service, "maia-host");
    raw.hello(9);
    match raw.answer() {
        Response::Error {
            id: None, message, ..
        } => {
            assert!(
                message.contains(&format!("protocol {PROTOCOL_VERSION}"))
                    && message.contains("speaks 9.0"),
                "{message}"
            );
        }
        other => panic!("expected an error, got {other:?}"),
    }
    assert!(
        raw.read().is_none(),
        "the host closes the connection after the error"
    );

    // And the other way round: a host that speaks 2.0 (handcrafted hello).
    let fake = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let addr = fake.local_addr().expect("addr");
    let server = std::thread::spawn(move || {
        let (mut stream, _) = fake.accept().expect("accepts");
        let mut hello = serde_json::to_value(Response::Hello(ServerHello {
            protocol: PROTOCOL_VERSION,
            ..hello
        }))
        .expect("json");
        hello["protocol"] = serde_json::json!({"major": 2, "minor": 3});
        hello["model"] = serde_json::json!("a model description from the future");
        stream
            .write_all(&protocol::encode_message(&hello).expect("encodes"))
            .expect("writes");
        std::thread::sleep(Duration::from_millis(200));
    });
    let err = RemoteModel::connect(&addr.to_string())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("speaks protocol 2.3") && err.contains(&format!("speaks {PROTOCOL_VERSION}")),
        "{err}"
    );
    server.join().expect("fake host");
}

#[test]
fn requests_before_hello_and_unknown_requests_get_errors_not_hangups() {
    let host = serve(catalogue(), loopback());
    let (mut raw, _) = Raw::connect(&host);
    raw.send(&serde_json::json!({"type": "stats", "id": 1}));
    assert!(
        matches!(raw.answer(), Response::Error { id: Some(1), message, .. } if message.contains("hello"))
    );
    raw.hello(PROTOCOL_VERSION.major);
    raw.send(&serde_json::json!({"type": "teleport", "id": 2}));
    match raw.answer() {
        Response::Error {
            id: Some(2),
            message,
            ..
        } => assert!(message.contains("does not understand"), "{message}"),
        other => panic!("{other:?}"),
    }
    raw.send(&serde_json::json!({"type": "stats", "id": 3}));
    assert!(matches!(raw.answer(), Response::Stats { id: 3, .. }));
}

#[test]
fn clients_that_vanish_mid_request_do_not_hurt_the_host() {
    let slow = Slow::new("synthetic:red", Duration::from_millis(100));
    let host = serve(slow.clone(), loopback());
    let images = images();
    for _ in 0..3 {
        // A whole request, then gone before the answer.
        let (mut raw, _) = Raw::connect(&host);
        raw.hello(PROTOCOL_VERSION.major);
        let request = protocol::encode_activations_request(1, "synthetic", &[0], &[&images[0]])
            .expect("encodes");
        raw.0.write_all(&request).expect("sends");
        drop(raw);
        // Half a request, then gone.
        let (mut raw, _) = Raw::connect(&host);
        raw.hello(PROTOCOL_VERSION.major);
        raw.0
            .write_all(&request[..request.len() / 2])
            .expect("sends");
        drop(raw);
    }
    let remote = connect(&host);
    let got = remote
        .activations(&[&images[0]], "synthetic", &[0])
        .expect("the host still serves");
    assert!(got[0][0].max() > 0.8);
    // The vanished clients are all gone (they leave as their reads fail).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while host.stats().clients != 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(host.stats().clients, 1, "{}", host.stats());
}

#[cfg(unix)]
#[test]
fn unix_sockets_serve_replace_stale_files_and_refuse_live_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("host.sock");
    // A stale socket: bound and closed, its file left behind.
    drop(std::os::unix::net::UnixListener::bind(&path).expect("binds"));
    assert!(path.exists());
    let config = ServerConfig {
        listen: ServerAddr::Unix(path.clone()),
        ..ServerConfig::default()
    };
    let local = catalogue();
    let host = serve(local.clone(), config.clone());
    let remote =
        RemoteModel::connect(&format!("unix:{}", path.display())).unwrap_or_else(|e| panic!("{e}"));
    let images = images();
    let refs: Vec<&Image> = images.iter().collect();
    assert_eq!(
        remote
            .activations(&refs, "synthetic", &[5, 2])
            .expect("maps"),
        local
            .activations(&refs, "synthetic", &[5, 2])
            .expect("local")
    );
    let spec = format!("remote:unix:{}", path.display());
    assert_eq!(
        open_target(&spec).expect("opens").info().name,
        "synthetic:all"
    );

    let err = ActivationServer::start(local.clone(), config.clone())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("another maia host is already serving on unix:"),
        "{err}"
    );
    host.shutdown();
    assert!(!path.exists(), "the host removes its socket when it stops");

    std::fs::write(&path, "not a socket").expect("writes");
    let err = ActivationServer::start(local, config)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("is not a socket"), "{err}");
}

const SECRET: &str = "s3cret-Token-0123456789abcdef";
const WRONG: &str = "wrong-Token-9876543210fedcba";

fn token(value: &str) -> ServerToken {
    ServerToken::new(value, "the test").unwrap_or_else(|e| panic!("{e}"))
}

/// Every event the host has emitted so far, as text.
fn events(host: &ActivationServer) -> Vec<String> {
    std::iter::from_fn(|| host.next_event(Duration::from_millis(50)))
        .map(|e| format!("{e:?}"))
        .collect()
}

#[test]
fn other_machines_are_refused_without_a_token() {
    let config = ServerConfig {
        listen: ServerAddr::Tcp("0.0.0.0:0".into()),
        ..ServerConfig::default()
    };
    match ActivationServer::start(catalogue(), config.clone()) {
        Err(e @ ServerError::NotLoopback { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("not a loopback address")
                    && msg.contains("--token-file PATH")
                    && msg.contains("MAIA_HOST_TOKEN")
                    && msg.contains("remote:ADDR,token-file=PATH"),
                "{msg}"
            );
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("0.0.0.0 must be refused without a token"),
    }
    let host = serve(
        catalogue(),
        ServerConfig {
            token: Some(token(SECRET)),
            ..config
        },
    );
    assert!(host.address().to_string().starts_with("0.0.0.0:"));
}

#[test]
fn a_token_host_refuses_missing_and_wrong_tokens_without_repeating_them() {
    let local = catalogue();
    let host = serve(
        local.clone(),
        ServerConfig {
            listen: ServerAddr::Tcp("0.0.0.0:0".into()),
            token: Some(token(SECRET)),
            ..ServerConfig::default()
        },
    );
    let port = host
        .address()
        .to_string()
        .rsplit_once(':')
        .map(|(_, p)| p.to_owned())
        .expect("a port");
    let addr = format!("127.0.0.1:{port}");
    let addr_parsed: ServerAddr = addr.parse().expect("an address");

    // A client without a token stops before sending anything, and says how to give one.
    let err = RemoteModel::connect_to(addr_parsed.clone(), None)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("requires a token")
            && err.contains("MAIA_HOST_TOKEN")
            && err.contains("token-file=PATH"),
        "{err}"
    );
    // A wrong token is refused by the host, and neither token shows up in the message.
    let err = RemoteModel::connect_to(addr_parsed.clone(), Some(token(WRONG)))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("refused the connection") && err.contains("does not match"),
        "{err}"
    );
    assert!(!err.contains(WRONG) && !err.contains(SECRET), "{err}");

    // The protocol itself: an `auth` error and a closed connection, no requests before.
    let (mut raw, hello) = Raw::connect_to(&addr);
    assert!(hello.token_required);
    raw.send(&serde_json::json!({"type": "stats", "id": 1}));
    assert!(matches!(raw.answer(), Response::Error { id: Some(1), .. }));
    raw.hello_with(PROTOCOL_VERSION, None);
    match raw.answer() {
        Response::Error {
            id: None,
            kind: ErrorKind::Auth,
            message,
        } => assert!(message.contains("sent none"), "{message}"),
        other => panic!("expected an auth error, got {other:?}"),
    }
    assert!(raw.read().is_none(), "the host closes the connection");
    let (mut raw, _) = Raw::connect_to(&addr);
    raw.hello_with(Version { major: 1, minor: 0 }, Some(WRONG));
    assert!(matches!(
        raw.answer(),
        Response::Error {
            kind: ErrorKind::Auth,
            ..
        }
    ));
    assert!(raw.read().is_none());

    // The right token, from a token file named in the target spec.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("host.token");
    std::fs::write(&file, format!("{SECRET}\n")).expect("writes");
    let spec = format!("remote:{addr},token-file={}", file.display());
    let remote = open_target(&spec).unwrap_or_else(|e| panic!("{e}"));
    let images = images();
    let refs: Vec<&Image> = images.iter().collect();
    assert_eq!(
        remote
            .activations(&refs, "synthetic", &[1, 4])
            .expect("maps"),
        local
            .activations(&refs, "synthetic", &[1, 4])
            .expect("local")
    );
    // A 1.0 client with the right token gets no `ready` and goes straight to requests.
    let (mut raw, _) = Raw::connect_to(&addr);
    raw.hello_with(Version { major: 1, minor: 0 }, Some(SECRET));
    raw.send(&serde_json::json!({"type": "stats", "id": 7}));
    match raw.answer() {
        Response::Stats { id: 7, stats } => assert_eq!(stats.refused, 3, "{stats}"),
        other => panic!("{other:?}"),
    }

    // The host says what it refused, never what was sent.
    let events = events(&host);
    let refusals: Vec<&String> = events.iter().filter(|e| e.contains("refused")).collect();
    assert_eq!(refusals.len(), 3, "{events:#?}");
    assert!(
        refusals.iter().any(|e| e.contains("does not match"))
            && refusals.iter().any(|e| e.contains("sent no token")),
        "{refusals:#?}"
    );
    for event in &events {
        assert!(!event.contains(WRONG) && !event.contains(SECRET), "{event}");
    }
    // Options that are not token-file are refused without repeating their value.
    let err = open_target(&format!("remote:{addr},token={SECRET}"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("`token` is not an option") && !err.contains(SECRET),
        "{err}"
    );
    let err = open_target(&format!(
        "remote:{addr},token-file={}",
        dir.path().join("nope").display()
    ))
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(err.contains("cannot read the host token"), "{err}");
}

#[cfg(unix)]
#[test]
fn a_loopback_host_with_a_token_requires_it_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("host.sock");
    let host = serve(
        catalogue(),
        ServerConfig {
            listen: ServerAddr::Unix(path.clone()),
            token: Some(token(SECRET)),
            ..ServerConfig::default()
        },
    );
    let err = RemoteModel::connect_to(host.address().clone(), None)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("requires a token"), "{err}");
    let remote = RemoteModel::connect_to(host.address().clone(), Some(token(SECRET)))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(remote.stats().expect("stats").refused, 0);
    // A client's token is not sent to a host that does not ask for one.
    let open = serve(catalogue(), loopback());
    let remote = RemoteModel::connect_to(open.address().clone(), Some(token(WRONG)))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(remote.stats().expect("stats").refused, 0);
}

#[test]
fn garbage_on_the_wire_drops_that_connection_and_the_host_serves_others() {
    let local = catalogue();
    let host = serve(local.clone(), loopback());
    let remote = connect(&host);
    let images = images();
    let one = [&images[0]];
    let garbage: [&[u8]; 4] = [
        // Someone points a browser at the port.
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        // A frame whose header length runs past its body.
        &[8, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 2, 3, 4],
        // A well-framed first message that is not JSON.
        &[9, 0, 0, 0, 5, 0, 0, 0, b'h', b'e', b'l', b'l', b'o'],
        // Random-looking bytes.
        &[0xde, 0xad, 0xbe, 0xef, 0x13, 0x37, 0x00, 0x01],
    ];
    for bytes in garbage {
        let (mut raw, _) = Raw::connect(&host);
        raw.0.write_all(bytes).expect("sends");
        // The host answers with an error about the connection and closes it. (Closing with
        // unread garbage may reset the connection before the error is read: also fine, as
        // long as it does not hang.)
        loop {
            match protocol::read_frame(&mut raw.0, u32::MAX) {
                Ok(Some(frame)) => match frame.message::<Response>() {
                    Ok(Response::Error { id: None, kind, .. }) => {
                        assert_eq!(kind, ErrorKind::Protocol)
                    }
                    other => panic!("{bytes:?}: expected an error, got {other:?}"),
                },
                Ok(None) => break,
                Err(protocol::ProtocolError::Io(e))
                    if e.kind() == std::io::ErrorKind::ConnectionReset =>
                {
                    break;
                }
                Err(e) => panic!("{bytes:?}: the host neither answered nor closed: {e}"),
            }
        }
        // The well-behaved client never noticed.
        assert_eq!(
            remote
                .activations(&one, "synthetic", &[2])
                .expect("still served"),
            local.activations(&one, "synthetic", &[2]).expect("local")
        );
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while host.stats().clients != 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(host.stats().clients, 1, "{}", host.stats());
}

#[cfg(unix)]
#[test]
fn a_host_that_dies_mid_request_fails_it_and_the_next_call_reconnects() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("host.sock");
    let config = ServerConfig {
        listen: ServerAddr::Unix(path.clone()),
        // No grace: stopping drops running requests, as a crash would.
        grace: Duration::ZERO,
        ..ServerConfig::default()
    };
    let slow = Slow::new("synthetic:all", Duration::from_millis(400));
    let host = serve(slow.clone(), config.clone());
    let remote = connect(&host);
    let images = images();
    let one = [&images[0]];
    std::thread::scope(|scope| {
        let running = scope.spawn(|| remote.activations(&one, "synthetic", &[3]));
        while slow.calls().is_empty() {
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(host);
        let err = running
            .join()
            .expect("thread")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("lost the connection") && err.contains("maia host serve"),
            "{err}"
        );
    });
    // While no host runs, calls fail with how to start one.
    let err = remote
        .activations(&one, "synthetic", &[3])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("is `maia host serve` running?"), "{err}");
    // A new host on the same address: the same client reconnects on its next call.
    let local = catalogue();
    let _again = serve(local.clone(), config);
    assert_eq!(
        remote
            .activations(&one, "synthetic", &[3])
            .expect("reconnected"),
        local.activations(&one, "synthetic", &[3]).expect("local")
    );
    assert_eq!(remote.stats().expect("stats").clients_total, 1);
}

#[test]
fn connecting_to_nothing_says_how_to_start_a_host() {
    // A port that was just free.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let err = RemoteModel::connect(&format!("127.0.0.1:{port}"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("is `maia host serve` running?") && err.contains("maia host serve --model"),
        "{err}"
    );
    let err = open_target("remote:nowhere:port")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("write HOST:PORT"), "{err}");
}

#[test]
fn shutdown_finishes_requests_already_running_and_clients_notice_it() {
    let slow = Slow::new("synthetic:red", Duration::from_millis(300));
    let host = serve(slow.clone(), loopback());
    let remote = connect(&host);
    let images = images();
    std::thread::scope(|scope| {
        let running = scope.spawn(|| remote.activations(&[&images[0]], "synthetic", &[0]));
        while slow.calls().is_empty() {
            std::thread::sleep(Duration::from_millis(5));
        }
        let stats = host.shutdown();
        assert_eq!(stats.batches, 1);
        let maps = running
            .join()
            .expect("thread")
            .expect("the running request finished");
        assert!(maps[0][0].max() > 0.8);
    });
    let err = remote
        .activations(&[&images[0]], "synthetic", &[0])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("maia host serve"), "{err}");
}

#[test]
fn a_vit_is_served_with_its_token_layers_and_class_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("vit.pt");
    crate::support::check(
        std::process::Command::new(crate::support::python())
            .arg(crate::support::script("export_model.py"))
            .args(["--arch", "tiny_vit", "--size", "32", "--out"])
            .arg(&path),
    );
    let local: Arc<dyn TargetModel> =
        Arc::from(open_target(&format!("torch:{}", path.display())).expect("the ViT opens"));
    let host = serve(local.clone(), loopback());
    let remote = connect(&host);
    let layer = "encoder.layers.encoder_layer_1";
    let tokens = remote.info().layer(layer).and_then(|l| l.tokens);
    assert_eq!(tokens, local.info().layer(layer).and_then(|l| l.tokens));
    assert_eq!(
        tokens.map(|g| (g.prefix, g.height, g.width)),
        Some((1, 4, 4))
    );
    let images = images();
    let picked: Vec<&Image> = images.iter().take(2).collect();
    for name in [layer.to_owned(), format!("{layer}:cls")] {
        let want = local
            .activations(&picked, &name, &[0, 5, 31])
            .expect("local maps");
        let got = remote
            .activations(&picked, &name, &[0, 5, 31])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, want, "{name}");
    }
}
