//! Tool-call round trips through the registry (schema validation, dispatch, the plugin
//! boundary and back): a no-op on a native plugin and on a wasm plugin, and a 256×256 PNG
//! passed into and out of a wasm tool. Targets on a 2-core machine: native ≤ 20 µs,
//! wasm ≤ 200 µs, wasm with PNG ≤ 3 ms. The native no-op is the peer the wasm figures
//! are read against.

use criterion::{Criterion, criterion_group, criterion_main};
use maia_core::{CallContext, Grants, ImageStore, PluginLoader, ToolRegistry, WasmLimits};
use maia_plugin_sdk::{Image, ToolCall};
use maia_tests::{NATIVE_FIXTURE, Package, WASM_FIXTURE, pattern, png};
use serde_json::json;

fn registry_with(package: Package) -> (ToolRegistry, maia_tests::Installed) {
    let installed = match package.install() {
        Ok(i) => i,
        Err(e) => panic!("building {}: {e}", package.name),
    };
    let loader = PluginLoader::new(Grants::none(), WasmLimits::default());
    let provider = match loader.load(installed.dir()) {
        Ok(p) => p,
        Err(e) => panic!("loading {}: {e}", package.name),
    };
    let mut registry = ToolRegistry::new();
    if let Err(e) = registry.register(provider) {
        panic!("registering {}: {e}", package.name);
    }
    (registry, installed)
}

fn round_trips(c: &mut Criterion) {
    let store = ImageStore::new();
    let image = match png(&pattern(256, 256)) {
        Ok(bytes) => bytes,
        Err(e) => panic!("encoding the test PNG: {e}"),
    };
    eprintln!("256×256 test PNG: {} bytes", image.len());
    let id = match store.insert(Image::new(image, "256×256 pattern")) {
        Ok(id) => id,
        Err(e) => panic!("storing the test PNG: {e}"),
    };
    let noop = ToolCall::new("bench", "noop", json!({}));
    let echo_image = ToolCall::new("bench", "echo_image", json!({"image_id": id.as_str()}));

    let (native, _native_dir) = registry_with(NATIVE_FIXTURE);
    let (wasm, _wasm_dir) = registry_with(WASM_FIXTURE);
    // Measure the success path only: each call must work before it is timed.
    for (name, registry) in [("native", &native), ("wasm", &wasm)] {
        for call in [&noop, &echo_image] {
            let mut host = CallContext::new(&store);
            if let Err(e) = registry.call(call, &mut host) {
                panic!("{name} {} fails: {e:?}", call.name);
            }
        }
    }
    let mut group = c.benchmark_group("tool_call");
    group.bench_function("native_noop", |b| {
        b.iter(|| {
            let mut host = CallContext::new(&store);
            native.call(&noop, &mut host).map(|o| o.text.len())
        })
    });
    group.bench_function("wasm_noop", |b| {
        b.iter(|| {
            let mut host = CallContext::new(&store);
            wasm.call(&noop, &mut host).map(|o| o.text.len())
        })
    });
    group.bench_function("native_png_256", |b| {
        b.iter(|| {
            let mut host = CallContext::new(&store);
            native.call(&echo_image, &mut host).map(|o| o.images.len())
        })
    });
    group.bench_function("wasm_png_256", |b| {
        b.iter(|| {
            let mut host = CallContext::new(&store);
            wasm.call(&echo_image, &mut host).map(|o| o.images.len())
        })
    });
    group.finish();
}

/// Shapes-world render throughput, natively (the library) and through the sandboxed
/// shapes-tools plugin (text2image), same prompt and seed: the ratio is the wasm cost.
fn render(c: &mut Criterion) {
    let store = ImageStore::new();
    let prompt = "two small red striped circles and a green star on a white background";
    let (wasm, _dir) = registry_with(maia_tests::SHAPES_TOOLS);
    let call = ToolCall::new(
        "bench",
        "text2image",
        json!({"prompts": [prompt], "seed": 1}),
    );
    let mut group = c.benchmark_group("render_224");
    group.throughput(criterion::Throughput::Elements(1));
    group.bench_function("native_library", |b| {
        b.iter(|| {
            maia_shapes_world::parse_prompt(prompt, 1)
                .map_err(|e| e.to_string())
                .and_then(|p| maia_shapes_world::render_png(&p.scene).map_err(|e| e.to_string()))
                .map(|png| png.len())
        })
    });
    group.bench_function("wasm_text2image", |b| {
        b.iter(|| {
            let mut host = CallContext::new(&store);
            wasm.call(&call, &mut host).map(|o| o.images.len())
        })
    });
    group.finish();
}

criterion_group!(benches, round_trips, render);
criterion_main!(benches);
