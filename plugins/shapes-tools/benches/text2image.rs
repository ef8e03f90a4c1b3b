//! Native `text2image` throughput through `Plugin::call`: parsing, layout, rendering and
//! PNG encoding of 224×224 images, for one prompt and for a batch of 16.
//!
//! `cargo bench -p maia-shapes-tools`; the same call inside the wasm sandbox is measured
//! by the host's benches.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use maia_plugin_sdk::{
    Host, Image, ImageId, LogLevel, Plugin, ToolCall, ToolError, UnitActivation,
};
use serde_json::json;
use shapes_tools::ShapesTools;
use std::hint::black_box;

/// A host that lends nothing: `text2image` needs no images or units.
struct NoHost;

impl Host for NoHost {
    fn image(&mut self, id: &ImageId) -> Result<Image, ToolError> {
        Err(ToolError::invalid_args(format!(
            "no image `{id}` in the bench"
        )))
    }
    fn call_unit(&mut self, _: &[ImageId]) -> Result<Vec<UnitActivation>, ToolError> {
        Err(ToolError::failed("no unit in the bench"))
    }
    fn progress(&mut self, _: u64, _: u64) {}
    fn log(&mut self, _: LogLevel, _: &str) {}
}

/// Sixteen different prompts of the kind an agent writes: one to three objects, textures,
/// positions, plain and textured backgrounds.
fn prompts() -> Vec<String> {
    const SHAPES: [&str; 4] = ["circle", "star", "hexagon", "heart"];
    const COLORS: [&str; 4] = ["red", "blue", "yellow", "purple"];
    const TEXTURES: [&str; 4] = ["solid", "striped", "dotted", "checkered"];
    const PLACES: [&str; 4] = ["", " in the top left", " in the center", " on the right"];
    (0..16)
        .map(|i| {
            let count = ["a", "two", "three"][i % 3];
            let plural = if i % 3 == 0 { "" } else { "s" };
            let background = if i % 2 == 0 { "white" } else { "dotted green" };
            format!(
                "{count} {} {} {}{plural}{} and a small gray ring on a {background} background",
                COLORS[i % 4],
                TEXTURES[(i / 4) % 4],
                SHAPES[(i + i / 4) % 4],
                PLACES[(i / 2) % 4],
            )
        })
        .collect()
}

fn text2image(c: &mut Criterion) {
    let prompts = prompts();
    let call = |prompts: &[String]| {
        ToolCall::new(
            "bench",
            "text2image",
            json!({"prompts": prompts, "seed": 7}),
        )
    };
    let mut group = c.benchmark_group("text2image");

    // One prompt per call, going round the same sixteen prompts.
    let singles: Vec<ToolCall> = prompts.chunks(1).map(call).collect();
    group.throughput(Throughput::Elements(1));
    group.bench_function(BenchmarkId::new("prompts", 1), |b| {
        let mut next = singles.iter().cycle();
        b.iter(|| {
            let call = next.next().unwrap_or(&singles[0]);
            let output = ShapesTools.call(black_box(call), &mut NoHost);
            black_box(output.map(|o| o.images.len()).unwrap_or_default())
        });
    });

    // All sixteen in one call.
    let batch = call(&prompts);
    group.throughput(Throughput::Elements(prompts.len() as u64));
    group.bench_function(BenchmarkId::new("prompts", prompts.len()), |b| {
        b.iter(|| {
            let output = ShapesTools.call(black_box(&batch), &mut NoHost);
            black_box(output.map(|o| o.images.len()).unwrap_or_default())
        });
    });
    group.finish();
}

criterion_group!(benches, text2image);
criterion_main!(benches);
