//! What going through `maia host serve` costs: one request's round trip, local vs remote
//! (the same synthetic model, one image), and throughput with 8 concurrent clients.
//!
//! `cargo bench -p maia-core --bench host`

use criterion::{Criterion, criterion_group, criterion_main};
use maia_core::host::{Host, HostAddr, HostConfig};
use maia_core::target::{RemoteModel, TargetModel, open_target};
use maia_plugin_sdk::Image;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn image() -> Image {
    let parsed =
        maia_shapes_world::parse_prompt("a red circle on a white background", 1).expect("parses");
    let png = maia_shapes_world::render_png(&parsed.scene).expect("renders");
    Image::new(png, "a red circle").with_meta(serde_json::json!({ "scene": parsed.scene }))
}

fn host(model: Arc<dyn TargetModel>, window: Duration) -> Host {
    let config = HostConfig {
        listen: HostAddr::Tcp("127.0.0.1:0".into()),
        batch_window: window,
        ..HostConfig::default()
    };
    Host::start(model, config).expect("host starts")
}

fn connect(host: &Host) -> RemoteModel {
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

/// 8 clients × `per_client` one-image requests; time for all of them.
fn eight_clients(per_client: u64, call: &(dyn Fn(usize) + Sync)) -> Duration {
    let started = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..8 {
            scope.spawn(move || {
                for _ in 0..per_client {
                    call(t);
                }
            });
        }
    });
    started.elapsed()
}

fn throughput(c: &mut Criterion) {
    let model: Arc<dyn TargetModel> = Arc::from(open_target("synthetic:red").expect("opens"));
    let image = image();
    let mut group = c.benchmark_group("8 concurrent clients, 1 image per request");
    group.throughput(criterion::Throughput::Elements(8));
    group.bench_function("local threads", |b| {
        b.iter_custom(|iters| {
            eight_clients(iters, &|_| {
                black_box(
                    model
                        .activations(&[&image], "synthetic", &[0])
                        .expect("maps"),
                );
            })
        })
    });
    for window_ms in [0, 5] {
        let host = host(model.clone(), Duration::from_millis(window_ms));
        let clients: Vec<RemoteModel> = (0..8).map(|_| connect(&host)).collect();
        group.bench_function(format!("remote, {window_ms} ms window"), |b| {
            b.iter_custom(|iters| {
                eight_clients(iters, &|t| {
                    black_box(
                        clients[t]
                            .activations(&[&image], "synthetic", &[0])
                            .expect("maps"),
                    );
                })
            })
        });
        let stats = host.stats();
        eprintln!("  host, {window_ms} ms window: {stats}");
    }
    group.finish();
}

criterion_group!(benches, round_trip, throughput);
criterion_main!(benches);
