//! The example plugins as maia runs them: image-ops (native) and image-stats (wasm),
//! built, installed with their plugin.toml, loaded through `PluginLoader`, registered in
//! one `ToolRegistry` and called with real PNGs from an `ImageStore` — every tool, every
//! example, and outputs checked pixel by pixel. Plus: images cross both plugin
//! boundaries byte for byte.

use maia_core::{CallContext, Grants, ImageStore, PluginLoader, ToolRegistry, WasmLimits};
use maia_plugin_sdk::{ErrorKind, Image, ImageId, ToolCall, ToolError, ToolOutput};
use maia_tests::{
    Error, IMAGE_OPS, IMAGE_STATS, Installed, NATIVE_FIXTURE, Package, WASM_FIXTURE, decode,
    pattern, png, solid_png,
};
use serde_json::{Value, json};

type TestResult = Result<(), Error>;

const RED: [u8; 4] = [255, 0, 0, 255];
const BLUE: [u8; 4] = [0, 0, 255, 255];
const WHITE: [u8; 4] = [255, 255, 255, 255];

/// Installs `packages` and registers them all in one registry; the installs must live as
/// long as the registry.
fn registry_of(packages: &[Package]) -> Result<(ToolRegistry, Vec<Installed>), Error> {
    let loader = PluginLoader::new(Grants::none(), WasmLimits::default());
    let mut registry = ToolRegistry::new();
    let mut installs = Vec::new();
    for package in packages {
        let installed = package.install()?;
        let provider = loader
            .load(installed.dir())
            .map_err(|e| format!("loading {}: {e}", package.name))?;
        registry.register(provider)?;
        installs.push(installed);
    }
    Ok((registry, installs))
}

/// Stores a PNG and returns its id.
fn put(store: &ImageStore, png: Vec<u8>, caption: &str) -> Result<ImageId, Error> {
    Ok(store.insert(Image::new(png, caption))?)
}

/// Calls a tool and stores the images it returned (as maia does), so their ids are set.
fn run(
    registry: &ToolRegistry,
    store: &ImageStore,
    tool: &str,
    args: Value,
) -> Result<ToolOutput, ToolError> {
    let mut out = registry.call(
        &ToolCall::new("t", tool, args),
        &mut CallContext::new(store),
    )?;
    store
        .adopt_output(&mut out)
        .map_err(|e| ToolError::failed(format!("storing outputs: {e}")))?;
    Ok(out)
}

fn only_image(out: &ToolOutput) -> Result<&Image, Error> {
    match out.images.as_slice() {
        [image] => Ok(image),
        other => Err(format!("expected one image, got {}", other.len()).into()),
    }
}

/// The sample store `maia plugin check` would have: ids img_1, img_2, img_3.
fn sample_store() -> Result<ImageStore, Error> {
    let store = ImageStore::new();
    put(&store, solid_png(64, 64, RED)?, "red square")?;
    put(&store, png(&pattern(64, 32))?, "pattern")?;
    put(&store, solid_png(32, 48, BLUE)?, "blue bar")?;
    Ok(store)
}

#[test]
fn every_example_of_the_example_plugins_runs() -> TestResult {
    let (registry, _installs) = registry_of(&[IMAGE_OPS, IMAGE_STATS])?;
    let names: Vec<&str> = registry.tools().map(|t| t.spec.name.as_str()).collect();
    assert_eq!(names, ["crop", "flip", "grayscale", "image_stats", "tile"]);
    let store = sample_store()?;
    for tool in registry.tools() {
        assert!(
            !tool.spec.examples.is_empty(),
            "{} has no example",
            tool.spec.name
        );
        assert!(
            !tool.spec.description.is_empty(),
            "{} has no description",
            tool.spec.name
        );
        for example in &tool.spec.examples {
            run(&registry, &store, &tool.spec.name, example.clone())
                .map_err(|e| format!("{} {example}: {e}", tool.spec.name))?;
        }
    }
    Ok(())
}

#[test]
fn image_ops_grayscale_crop_and_tile() -> TestResult {
    let (registry, _installs) = registry_of(&[IMAGE_OPS])?;
    let store = sample_store()?;

    let out = run(
        &registry,
        &store,
        "grayscale",
        json!({"image_ids": ["img_1"]}),
    )?;
    let gray = only_image(&out)?;
    assert_eq!(gray.caption, "grayscale of img_1");
    let pixels = decode(&gray.png)?;
    assert_eq!(pixels.dimensions(), (64, 64));
    assert!(
        pixels.pixels().all(|p| p.0 == [54, 54, 54, 255]),
        "red's luma is 54: {:?}",
        pixels.get_pixel(0, 0)
    );

    let args =
        json!({"image_ids": ["img_2"], "box": {"x": 0.25, "y": 0.5, "width": 0.5, "height": 0.5}});
    let out = run(&registry, &store, "crop", args)?;
    let crop = only_image(&out)?;
    assert!(
        crop.caption.starts_with("crop of img_2"),
        "{}",
        crop.caption
    );
    let cropped = decode(&crop.png)?;
    let source = pattern(64, 32);
    assert_eq!(cropped.dimensions(), (32, 16));
    assert_eq!(cropped.get_pixel(0, 0), source.get_pixel(16, 16));
    assert_eq!(cropped.get_pixel(31, 15), source.get_pixel(47, 31));

    let out = run(
        &registry,
        &store,
        "tile",
        json!({"image_ids": ["img_1", "img_3"], "columns": 2}),
    )?;
    let tile = only_image(&out)?;
    assert!(tile.caption.contains("img_1, img_3"), "{}", tile.caption);
    let grid = decode(&tile.png)?;
    // Cells are 64×64 (the largest image); the 32×48 bar is centred in the second one.
    assert_eq!(grid.dimensions(), (128, 64));
    assert_eq!(
        (out.data["width"].as_u64(), out.data["height"].as_u64()),
        (Some(128), Some(64))
    );
    assert_eq!(grid.get_pixel(10, 10).0, RED);
    assert_eq!(grid.get_pixel(64 + 16 + 5, 8 + 5).0, BLUE);
    assert_eq!(grid.get_pixel(64 + 2, 2).0, WHITE);
    Ok(())
}

#[test]
fn image_ops_refuses_bad_boxes_with_what_to_send() -> TestResult {
    let (registry, _installs) = registry_of(&[IMAGE_OPS])?;
    let store = sample_store()?;
    // Beyond what the schema can say: the plugin's own check.
    let args =
        json!({"image_ids": ["img_1"], "box": {"x": 0.8, "y": 0.0, "width": 0.5, "height": 0.5}});
    let err = run(&registry, &store, "crop", args)
        .err()
        .ok_or("a box past the edge was accepted")?;
    assert_eq!(err.kind, ErrorKind::InvalidArgs);
    assert!(
        err.message.contains("right edge") && err.message.contains("fractions"),
        "{}",
        err.message
    );
    // Within the schema: the registry's check, naming the field.
    let args =
        json!({"image_ids": ["img_1"], "box": {"x": 1.5, "y": 0.0, "width": 0.5, "height": 0.5}});
    let err = run(&registry, &store, "crop", args)
        .err()
        .ok_or("x = 1.5 was accepted")?;
    assert_eq!(err.kind, ErrorKind::InvalidArgs);
    assert!(err.message.contains("/box/x"), "{}", err.message);
    Ok(())
}

fn stats(out: &ToolOutput, index: usize) -> Result<&Value, Error> {
    out.data["images"]
        .get(index)
        .ok_or_else(|| format!("no stats #{index} in {}", out.data).into())
}

#[test]
fn image_stats_measures_and_flips_in_the_sandbox() -> TestResult {
    let (registry, _installs) = registry_of(&[IMAGE_STATS])?;
    let store = ImageStore::new();
    let red = put(&store, solid_png(10, 4, RED)?, "red")?;
    let white = put(&store, solid_png(6, 6, WHITE)?, "white")?;
    let half = image::RgbaImage::from_fn(8, 8, |x, _| {
        image::Rgba(if x < 4 { WHITE } else { [0, 0, 0, 255] })
    });
    let half = put(&store, png(&half)?, "half white")?;

    let out = run(
        &registry,
        &store,
        "image_stats",
        json!({"image_ids": [red, white, half]}),
    )?;
    let red = stats(&out, 0)?;
    assert_eq!(
        (red["width"].as_u64(), red["height"].as_u64()),
        (Some(10), Some(4))
    );
    assert_eq!(red["mean_rgb"], json!([255.0, 0.0, 0.0]));
    assert!(
        (red["brightness"].as_f64().unwrap_or(-1.0) - 0.2126).abs() < 1e-9,
        "{red}"
    );
    assert_eq!(red["near_white_fraction"], json!(0.0));
    let white = stats(&out, 1)?;
    assert_eq!(white["brightness"], json!(1.0));
    assert_eq!(white["near_white_fraction"], json!(1.0));
    let half = stats(&out, 2)?;
    assert_eq!(half["mean_rgb"], json!([127.5, 127.5, 127.5]));
    assert_eq!(half["near_white_fraction"], json!(0.5));
    assert!(
        out.text.contains(
            "img_1: 10×4 px, mean RGB (255.0, 0.0, 0.0), brightness 0.213, near-white 0.0%"
        ),
        "{}",
        out.text
    );
    assert_eq!(out.text.lines().count(), 3);

    let source = pattern(64, 32);
    let id = put(&store, png(&source)?, "pattern")?;
    let out = run(
        &registry,
        &store,
        "flip",
        json!({"image_ids": [id], "axis": "horizontal"}),
    )?;
    let flipped = only_image(&out)?;
    assert_eq!(flipped.caption, format!("{id} flipped horizontally"));
    let mirrored = decode(&flipped.png)?;
    assert_eq!(mirrored.dimensions(), (64, 32));
    assert!((0..32).all(|y| mirrored.get_pixel(0, y) == source.get_pixel(63, y)));
    let out = run(
        &registry,
        &store,
        "flip",
        json!({"image_ids": [id], "axis": "vertical"}),
    )?;
    let upside_down = decode(&only_image(&out)?.png)?;
    assert!((0..64).all(|x| upside_down.get_pixel(x, 0) == source.get_pixel(x, 31)));

    let err = run(
        &registry,
        &store,
        "flip",
        json!({"image_ids": [id], "axis": "diagonal"}),
    )
    .err()
    .ok_or("accepted")?;
    assert_eq!(err.kind, ErrorKind::InvalidArgs);
    assert!(err.message.contains("/axis"), "{}", err.message);
    Ok(())
}

#[test]
fn tools_of_both_kinds_chain_through_the_store() -> TestResult {
    let (registry, _installs) = registry_of(&[IMAGE_OPS, IMAGE_STATS])?;
    let store = sample_store()?;
    // Native crop of the red square, then wasm stats of the crop, by the id it was stored under.
    let args =
        json!({"image_ids": ["img_1"], "box": {"x": 0.0, "y": 0.0, "width": 0.5, "height": 0.25}});
    let crop = run(&registry, &store, "crop", args)?;
    let crop_id = only_image(&crop)?.id.clone();
    assert!(!crop_id.is_unassigned());
    let out = run(
        &registry,
        &store,
        "image_stats",
        json!({"image_ids": [crop_id]}),
    )?;
    let s = stats(&out, 0)?;
    assert_eq!(
        (s["width"].as_u64(), s["height"].as_u64()),
        (Some(32), Some(16))
    );
    assert_eq!(s["mean_rgb"], json!([255.0, 0.0, 0.0]));
    // And back: wasm flip, then native grayscale of the flip.
    let flip = run(
        &registry,
        &store,
        "flip",
        json!({"image_ids": ["img_2"], "axis": "vertical"}),
    )?;
    let flip_id = only_image(&flip)?.id.clone();
    let gray = run(
        &registry,
        &store,
        "grayscale",
        json!({"image_ids": [flip_id]}),
    )?;
    assert_eq!(decode(&only_image(&gray)?.png)?.dimensions(), (64, 32));
    Ok(())
}

#[test]
fn images_round_trip_byte_identical_through_both_boundaries() -> TestResult {
    let original = png(&pattern(256, 256))?;
    for package in [NATIVE_FIXTURE, WASM_FIXTURE] {
        let (registry, _installs) = registry_of(&[package])?;
        let store = ImageStore::new();
        let id = put(&store, original.clone(), "pattern 256×256")?;
        let out = registry
            .call(
                &ToolCall::new("t", "echo_image", json!({"image_id": id})),
                &mut CallContext::new(&store),
            )
            .map_err(|e| format!("{}: {e}", package.name))?;
        let image = only_image(&out)?;
        assert!(
            image.png == original,
            "{}: {} bytes came back for {}",
            package.name,
            image.png.len(),
            original.len()
        );
        assert_eq!(image.id, id, "{}", package.name);
        // An unknown id is the agent's mistake, reported as such across the boundary.
        let err = registry
            .call(
                &ToolCall::new("t", "echo_image", json!({"image_id": "img_99"})),
                &mut CallContext::new(&store),
            )
            .err()
            .ok_or("an unknown id was accepted")?;
        assert_eq!(err.kind, ErrorKind::InvalidArgs, "{}: {err}", package.name);
        assert!(
            err.message.contains("img_99") && err.message.contains(id.as_str()),
            "{}: {}",
            package.name,
            err.message
        );
    }
    Ok(())
}
