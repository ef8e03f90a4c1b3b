//! What going through `maia host serve` costs.
//!
//! 1. Round trip of one small request, local vs remote (criterion; the synthetic model, so
//!    only the host's overhead is measured).
//! 2. The target, with the world CNN on the CPU: **8 concurrent clients, each
//!    asking for `PER_CLIENT` images, against one in-process caller asking for all
//!    `8 × PER_CLIENT` at once** — the same total batch. Both run for the same time, in
//!    alternating rounds; the figure is images/s, and the ratio remote / in-process should
//!    stay ≥ 0.80 (printed as `host throughput ratio`).
//!
//! `cargo bench -p maia-core --bench activation_server` (the world CNN is trained once and cached, see
//! `maia world train-cnn`; `MAIA_BENCH_SECONDS` sets the length of each round).

use criterion::Criterion;
use maia_core::activation_server::{ActivationServer, ServerAddr, ServerConfig};
use maia_core::target::torch::TorchModel;
use maia_core::target::{RemoteModel, TargetModel, open_target, world_cnn_cache_dir};
use maia_core::world_cnn::{WorldCnnConfig, train_or_load};
use maia_plugin_sdk::Image;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Concurrent clients.
const CLIENTS: usize = 8;
/// Images per client request; the in-process caller asks for `CLIENTS × PER_CLIENT`.
const PER_CLIENT: usize = 4;
/// The layer and unit asked for (a `call_unit`-like request).
const LAYER: &str = "conv3";
const UNITS: [usize; 1] = [5];

fn image() -> Image {
    world_image("a red circle on a white background", 1)
}

fn world_image(prompt: &str, seed: u64) -> Image {
    let parsed = maia_shapes_world::parse_prompt(prompt, seed).expect("parses");
    let png = maia_shapes_world::render_png(&parsed.scene).expect("renders");
    Image::new(png, prompt).with_meta(serde_json::json!({ "scene": parsed.scene }))
}

fn host(model: Arc<dyn TargetModel>, window: Duration) -> ActivationServer {
    let config = ServerConfig {
        listen: ServerAddr::Tcp("127.0.0.1:0".into()),
        batch_window: window,
        ..ServerConfig::default()
    };
    ActivationServer::start(model, config).expect("host starts")
}

fn connect(host: &ActivationServer) -> RemoteModel {
    RemoteModel::connect(&host.address().to_string()).expect("connects")
}

fn round_trip(c: &mut Criterion) {
    let model: Arc<dyn TargetModel> = Arc::from(open_target("synthetic:red").expect("opens"));
    let image = image();
    let mut group = c.benchmark_group("round trip, 1 image");
    group.bench_function("local", |b| {
        b.iter(|| {
            black_box(
                model
                    .activations(&[&image], "synthetic", &[0])
                    .expect("maps"),
            )
        })
    });
    for window_ms in [0, 5] {
        let host = host(model.clone(), Duration::from_millis(window_ms));
        let remote = connect(&host);
        group.bench_function(format!("remote, {window_ms} ms window"), |b| {
            b.iter(|| {
                black_box(
                    remote
                        .activations(&[&image], "synthetic", &[0])
                        .expect("maps"),
                )
            })
        });
    }
    group.finish();
}

/// The world CNN, from maia's cache (trained there first if missing: a few minutes).
fn world_cnn() -> Arc<dyn TargetModel> {
    let cache = world_cnn_cache_dir().expect("a cache folder (HOME or MAIA_CACHE_DIR)");
    let config = WorldCnnConfig::default();
    if maia_core::world_cnn::cached(&cache, &config).is_none() {
        eprintln!(
            "training the world CNN once (cached in {})…",
            cache.display()
        );
    }
    let cnn = train_or_load(&cache, &config).expect("world CNN");
    Arc::new(TorchModel::load(&cnn.model_path, tch::Device::Cpu, false).expect("loads"))
}

/// Images/s of `call` (which handles `images_per_call` images) run by `threads` threads
/// for `length`.
fn rate(
    threads: usize,
    images_per_call: usize,
    length: Duration,
    call: &(dyn Fn(usize) + Sync),
) -> f64 {
    let started = Instant::now();
    let calls: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let mut n = 0;
                    while started.elapsed() < length {
                        call(t);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread")).sum()
    });
    (calls * images_per_call) as f64 / started.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The target: 8 clients through the host against one in-process caller, same total batch.
fn eight_clients_against_one_caller() {
    let model = world_cnn();
    let length = Duration::from_secs_f64(
        std::env::var("MAIA_BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3.0),
    );
    let prompts = [
        "a red circle",
        "two blue striped squares",
        "a green dotted triangle in the top left",
        "three yellow stars on a black background",
    ];
    let images: Vec<Image> = (0..CLIENTS * PER_CLIENT)
        .map(|i| world_image(prompts[i % prompts.len()], i as u64 + 1))
        .collect();
    let all: Vec<&Image> = images.iter().collect();
    let per_client: Vec<Vec<&Image>> = all.chunks(PER_CLIENT).map(<[_]>::to_vec).collect();
    // Same maps either way.
    let host_check = host(model.clone(), Duration::from_millis(5));
    assert_eq!(
        connect(&host_check)
            .activations(&per_client[0], LAYER, &UNITS)
            .expect("remote"),
        model
            .activations(&per_client[0], LAYER, &UNITS)
            .expect("local")
    );
    drop(host_check);

    println!(
        "\nhost throughput: world CNN on the CPU, {LAYER}:{:?}, {CLIENTS} clients × {PER_CLIENT} images vs 1 in-process caller × {} images, {:.0} s rounds",
        UNITS,
        CLIENTS * PER_CLIENT,
        length.as_secs_f64()
    );
    for window_ms in [5, 0] {
        let host = host(model.clone(), Duration::from_millis(window_ms));
        let clients: Vec<RemoteModel> = (0..CLIENTS).map(|_| connect(&host)).collect();
        let local = |_: usize| {
            black_box(model.activations(&all, LAYER, &UNITS).expect("maps"));
        };
        let remote = |t: usize| {
            black_box(
                clients[t]
                    .activations(&per_client[t], LAYER, &UNITS)
                    .expect("maps"),
            );
        };
        // Warm up both paths, then alternate rounds so load changes hit both alike.
        rate(1, all.len(), length / 3, &local);
        rate(CLIENTS, PER_CLIENT, length / 3, &remote);
        let before = host.stats();
        let (mut locals, mut remotes) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            locals.push(rate(1, all.len(), length, &local));
            remotes.push(rate(CLIENTS, PER_CLIENT, length, &remote));
        }
        let after = host.stats();
        let batches = after.batches - before.batches;
        let mean_batch = (after.images - before.images) as f64 / batches.max(1) as f64;
        let (local, remote) = (median(locals), median(remotes));
        println!(
            "  {window_ms} ms window: in-process {local:7.1} images/s, {CLIENTS} remote clients {remote:7.1} images/s, mean host batch {mean_batch:.1} images"
        );
        println!(
            "  host throughput ratio ({window_ms} ms window): {:.2} (target >= 0.80)",
            remote / local
        );
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    round_trip(&mut c);
    // `cargo test --benches` runs this binary without `--bench`: no long measurement then.
    if std::env::args().any(|a| a == "--bench") {
        eight_clients_against_one_caller();
    }
    c.final_summary();
}
