//! `maia host serve` and `RemoteModel` over real sockets: the hello, many concurrent
//! clients, batching, per-request errors, protocol versions, clients that vanish, unix
//! sockets, the loopback rule and graceful shutdown.

use maia_core::host::protocol::{
    self, Frame, PROTOCOL_VERSION, Request, Response, ServerHello, Version,
};
use maia_core::host::{Host, HostAddr, HostConfig, HostError};
use maia_core::target::{
    ModelInfo, RemoteModel, TargetError, TargetModel, UnitMap, UnitRef, open_target,
};
use maia_plugin_sdk::Image;
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
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

fn loopback() -> HostConfig {
    HostConfig {
        listen: HostAddr::Tcp("127.0.0.1:0".into()),
        ..HostConfig::default()
    }
}

fn serve(model: Arc<dyn TargetModel>, config: HostConfig) -> Host {
    Host::start(model, config).unwrap_or_else(|e| panic!("{e}"))
}

fn connect(host: &Host) -> RemoteModel {
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
}

impl Slow {
    fn new(spec: &str, delay: Duration) -> Arc<Slow> {
        Arc::new(Slow {
            inner: open_target(spec).expect("target opens"),
            delay,
            calls: Mutex::new(Vec::new()),
            running: AtomicUsize::new(0),
            overlapped: AtomicUsize::new(0),
        })
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

#[test]
fn requests_within_the_window_share_one_model_call() {
    let slow = Slow::new("synthetic:all", Duration::from_millis(40));
    let config = HostConfig {
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
    });
    let stats = host.stats();
    let calls = slow.calls();
    assert_eq!(stats.requests, 32);
    assert_eq!(stats.batches as usize, calls.len());
    assert!(
        stats.batches < stats.requests / 2,
        "requests were not batched: {stats}; calls {calls:?}"
    );
    assert!(
        calls.iter().all(|&n| n <= 6),
        "max batch exceeded: {calls:?}"
    );
    assert_eq!(calls.iter().sum::<usize>(), 32);
    assert!(stats.mean_batch_size() > 2.0, "{stats}");
    assert_eq!(
        slow.overlapped.load(Ordering::SeqCst),
        0,
        "batches must run one at a time"
    );
}

#[test]
fn a_busy_model_gets_bigger_batches_even_without_a_window() {
    let slow = Slow::new("synthetic:red", Duration::from_millis(40));
    let config = HostConfig {
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
    });
    // Requests that arrive while the model computes wait for it together.
    let stats = host.stats();
    assert_eq!(stats.requests, 24);
    assert!(
        stats.mean_batch_size() > 2.0,
        "{stats}; calls {:?}",
        slow.calls()
    );
}

#[test]
fn the_window_closes_early_when_every_client_is_waiting() {
    let config = HostConfig {
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
    let config = HostConfig {
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
    fn connect(host: &Host) -> (Raw, ServerHello) {
        let stream = TcpStream::connect(host.address().to_string()).expect("connects");
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
        let hello = Request::Hello {
            protocol: Version { major, minor: 0 },
            client: "test".into(),
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
                message.contains("protocol 1.0") && message.contains("speaks 9.0"),
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
        err.contains("speaks protocol 2.3") && err.contains("speaks 1.0"),
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
    let config = HostConfig {
        listen: HostAddr::Unix(path.clone()),
        ..HostConfig::default()
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

    let err = Host::start(local.clone(), config.clone())
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
    let err = Host::start(local, config)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("is not a socket"), "{err}");
}

#[test]
fn other_machines_are_refused_unless_allowed() {
    let config = HostConfig {
        listen: HostAddr::Tcp("0.0.0.0:0".into()),
        ..HostConfig::default()
    };
    match Host::start(catalogue(), config.clone()) {
        Err(e @ HostError::NotLoopback { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("not a loopback address") && msg.contains("--allow-remote"),
                "{msg}"
            );
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("0.0.0.0 must be refused without allow_remote"),
    }
    let host = serve(
        catalogue(),
        HostConfig {
            allow_remote: true,
            ..config
        },
    );
    assert!(host.address().to_string().starts_with("0.0.0.0:"));
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
