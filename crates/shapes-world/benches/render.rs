//! Single-threaded render throughput of 224×224 dataset scenes (pixmap, PNG, masks).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use maia_shapes_world::{Scene, generate, object_masks, render_pixmap, render_png};

fn scenes() -> Vec<Scene> {
    generate(64, 42).map(|(_, scene)| scene).collect()
}

fn bench_render(c: &mut Criterion) {
    let scenes = scenes();
    let mut group = c.benchmark_group("render_224");
    group.throughput(Throughput::Elements(scenes.len() as u64));
    group.bench_function("pixmap", |b| {
        b.iter(|| {
            for scene in &scenes {
                black_box(render_pixmap(black_box(scene)).ok());
            }
        })
    });
    group.bench_function("png", |b| {
        b.iter(|| {
            for scene in &scenes {
                black_box(render_png(black_box(scene)).ok());
            }
        })
    });
    group.bench_function("masks", |b| {
        b.iter(|| {
            for scene in &scenes {
                black_box(object_masks(black_box(scene)).ok());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench_render);
criterion_main!(benches);
