//! # image-stats
//!
//! An example **WebAssembly** maia plugin: `image_stats` measures images (size, mean
//! colour, brightness, how much of the image is near-white background) and `flip`
//! mirrors them. It is built for `wasm32-wasip2` and exported with
//! [`maia_plugin_sdk::export_wasm!`] only, so maia always runs it sandboxed: a per-call
//! deadline, a memory cap, and no files, network or environment (its `plugin.toml` asks
//! for none).
//!
//! Statistics come back twice: as text the agent reads, and as `data` JSON (see
//! [`Stats`]) that programs — the run journal, evaluations — can use without parsing.
//!
//! Build with `cargo build --release --target wasm32-wasip2 -p maia-image-stats`
//! (→ `target/wasm32-wasip2/release/image_stats.wasm`), or run
//! `scripts/build-plugins.sh`, which installs it with its `plugin.toml` under
//! `target/plugins/image-stats/`. `cargo test -p maia-image-stats` runs the unit tests
//! natively.

use image::{DynamicImage, ImageFormat, RgbaImage};
use maia_plugin_sdk::{
    Host, Image, ImageId, Manifest, Plugin, ToolCall, ToolError, ToolOutput, ToolSpec,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::io::Cursor;

/// A pixel counts as near-white when each of R, G and B is at least this.
pub const NEAR_WHITE: u8 = 240;

/// Rec. 709 luma weights of R, G and B in ten-thousandths (as the `image` crate's
/// grayscale uses); they sum to exactly 10 000, so white has brightness exactly 1.
const LUMA: [u64; 3] = [2126, 7152, 722];

/// The plugin. maia creates it with `Default::default()`; it keeps no state.
#[derive(Debug, Default)]
pub struct ImageStats;

/// Statistics of one image, as returned in `data.images[]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// The image's store id.
    pub id: ImageId,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Mean of R, G and B over all pixels, each 0..255 (alpha is ignored).
    pub mean_rgb: [f64; 3],
    /// Mean Rec. 709 luma, 0 (black) ..1 (white).
    pub brightness: f64,
    /// Fraction of pixels whose R, G and B are all at least [`NEAR_WHITE`], 0..1.
    pub near_white_fraction: f64,
}

impl Stats {
    /// Measures a decoded image.
    pub fn of(id: ImageId, image: &RgbaImage) -> Stats {
        let mut sums = [0u64; 3];
        let mut white = 0u64;
        for pixel in image.pixels() {
            let [r, g, b, _] = pixel.0;
            sums[0] += u64::from(r);
            sums[1] += u64::from(g);
            sums[2] += u64::from(b);
            if r >= NEAR_WHITE && g >= NEAR_WHITE && b >= NEAR_WHITE {
                white += 1;
            }
        }
        let count = (u64::from(image.width()) * u64::from(image.height())).max(1) as f64;
        let mean_rgb = sums.map(|s| s as f64 / count);
        let luma: u64 = (0..3).map(|c| LUMA[c] * sums[c]).sum();
        let brightness = luma as f64 / (10_000.0 * 255.0 * count);
        Stats {
            id,
            width: image.width(),
            height: image.height(),
            mean_rgb,
            brightness,
            near_white_fraction: white as f64 / count,
        }
    }

    /// One line for the agent.
    pub fn line(&self) -> String {
        let [r, g, b] = self.mean_rgb;
        format!(
            "{}: {}×{} px, mean RGB ({r:.1}, {g:.1}, {b:.1}), brightness {:.3}, near-white {:.1}%",
            self.id,
            self.width,
            self.height,
            self.brightness,
            self.near_white_fraction * 100.0
        )
    }
}

/// Which way `flip` mirrors an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Axis {
    /// Left ↔ right (a mirror image).
    Horizontal,
    /// Top ↔ bottom (upside down).
    Vertical,
}

impl Axis {
    fn as_str(self) -> &'static str {
        match self {
            Axis::Horizontal => "horizontal",
            Axis::Vertical => "vertical",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatsArgs {
    image_ids: Vec<ImageId>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlipArgs {
    image_ids: Vec<ImageId>,
    axis: Axis,
}

fn image_ids_schema(what: &str) -> Value {
    json!({"type": "array", "items": {"type": "string"}, "minItems": 1, "description": what})
}

impl Plugin for ImageStats {
    fn manifest(&self) -> Manifest {
        Manifest::new(
            "image-stats",
            env!("CARGO_PKG_VERSION"),
            "Pixel statistics (size, mean colour, brightness, near-white area) and flips of PNG images, sandboxed",
        )
    }

    fn tools(&self) -> Vec<ToolSpec> {
        vec![
            ToolSpec::new(
                "image_stats",
                "Measures images: size, mean RGB, brightness (mean luma, 0..1) and the fraction of near-white pixels (background). Use it to check what changed between images, or whether a unit tracks brightness.",
                json!({
                    "type": "object",
                    "properties": {
                        "image_ids": image_ids_schema("Images to measure, by id (img_1, ...)")
                    },
                    "required": ["image_ids"],
                    "additionalProperties": false
                }),
            )
            .returns("one line per image; `data.images[]` holds id, width, height, mean_rgb, brightness and near_white_fraction")
            .example(json!({"image_ids": ["img_1", "img_2"]})),
            ToolSpec::new(
                "flip",
                "Mirrors images: `horizontal` swaps left and right, `vertical` turns the image upside down. Use it to test whether a unit cares about orientation.",
                json!({
                    "type": "object",
                    "properties": {
                        "image_ids": image_ids_schema("Images to flip, by id (img_1, ...); one flipped image is returned per id"),
                        "axis": {
                            "enum": ["horizontal", "vertical"],
                            "description": "horizontal: mirror left↔right; vertical: flip top↔bottom"
                        }
                    },
                    "required": ["image_ids", "axis"],
                    "additionalProperties": false
                }),
            )
            .returns("one flipped image per input, captioned with its source id and axis")
            .example(json!({"image_ids": ["img_1"], "axis": "horizontal"})),
        ]
    }

    fn call(&mut self, call: &ToolCall, host: &mut dyn Host) -> Result<ToolOutput, ToolError> {
        match call.name.as_str() {
            "image_stats" => image_stats(call.parse_args()?, host),
            "flip" => flip(call.parse_args()?, host),
            other => Err(ToolError::invalid_args(format!(
                "image-stats has no tool `{other}`; its tools are image_stats and flip"
            ))),
        }
    }
}

fn non_empty(ids: &[ImageId]) -> Result<(), ToolError> {
    if ids.is_empty() {
        return Err(ToolError::invalid_args(
            "image_ids is empty; give at least one image id (img_1, ...)",
        ));
    }
    Ok(())
}

fn fetch(host: &mut dyn Host, id: &ImageId) -> Result<DynamicImage, ToolError> {
    let image = host.image(id)?;
    image::load_from_memory_with_format(&image.png, ImageFormat::Png)
        .map_err(|e| ToolError::failed(format!("{id} is not a readable PNG: {e}")))
}

fn image_stats(args: StatsArgs, host: &mut dyn Host) -> Result<ToolOutput, ToolError> {
    non_empty(&args.image_ids)?;
    let mut stats = Vec::with_capacity(args.image_ids.len());
    for id in &args.image_ids {
        stats.push(Stats::of(id.clone(), &fetch(host, id)?.to_rgba8()));
    }
    let text = stats.iter().map(Stats::line).collect::<Vec<_>>().join("\n");
    let data = json!({"images": stats, "near_white_threshold": NEAR_WHITE});
    Ok(ToolOutput::text(text).with_data(data))
}

fn flip(args: FlipArgs, host: &mut dyn Host) -> Result<ToolOutput, ToolError> {
    non_empty(&args.image_ids)?;
    let axis = args.axis.as_str();
    let mut output = ToolOutput::text(format!(
        "flipped {} image(s) {axis}ly",
        args.image_ids.len()
    ));
    for id in &args.image_ids {
        let source = fetch(host, id)?;
        let flipped = match args.axis {
            Axis::Horizontal => source.fliph(),
            Axis::Vertical => source.flipv(),
        };
        let mut png = Cursor::new(Vec::new());
        flipped
            .write_to(&mut png, ImageFormat::Png)
            .map_err(|e| ToolError::failed(format!("encoding the flip of {id} as PNG: {e}")))?;
        output = output.with_image(
            Image::new(png.into_inner(), format!("{id} flipped {axis}ly"))
                .with_meta(json!({"tool": "flip", "source": id, "axis": axis})),
        );
    }
    Ok(output)
}

maia_plugin_sdk::export_wasm!(ImageStats);

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgba;
    use maia_plugin_sdk::{ErrorKind, LogLevel, UnitActivation};
    use std::collections::HashMap;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// A host holding a few images by id, as maia's image store would.
    #[derive(Default)]
    struct TestHost {
        images: HashMap<ImageId, Image>,
    }

    impl TestHost {
        fn with(mut self, id: &str, image: RgbaImage) -> Result<Self, image::ImageError> {
            let mut png = Cursor::new(Vec::new());
            DynamicImage::ImageRgba8(image).write_to(&mut png, ImageFormat::Png)?;
            let mut stored = Image::new(png.into_inner(), id);
            stored.id = ImageId::from(id);
            self.images.insert(stored.id.clone(), stored);
            Ok(self)
        }
    }

    impl Host for TestHost {
        fn image(&mut self, id: &ImageId) -> Result<Image, ToolError> {
            self.images
                .get(id)
                .cloned()
                .ok_or_else(|| ToolError::invalid_args(format!("no image `{id}`")))
        }
        fn call_unit(&mut self, _: &[ImageId]) -> Result<Vec<UnitActivation>, ToolError> {
            Err(ToolError::failed("no unit in tests"))
        }
        fn progress(&mut self, _: u64, _: u64) {}
        fn log(&mut self, _: LogLevel, _: &str) {}
    }

    fn run(host: &mut TestHost, tool: &str, args: Value) -> Result<ToolOutput, ToolError> {
        ImageStats.call(&ToolCall::new("t1", tool, args), host)
    }

    fn stats_of(out: &ToolOutput) -> Result<Vec<Stats>, serde_json::Error> {
        serde_json::from_value(out.data["images"].clone())
    }

    /// Left half white, right half black.
    fn half_white(w: u32, h: u32) -> RgbaImage {
        RgbaImage::from_fn(w, h, |x, _| {
            if x < w / 2 {
                Rgba([255; 4])
            } else {
                Rgba([0, 0, 0, 255])
            }
        })
    }

    #[test]
    fn stats_of_solid_and_split_images() -> TestResult {
        let mut host = TestHost::default()
            .with(
                "img_1",
                RgbaImage::from_pixel(10, 4, Rgba([255, 0, 0, 255])),
            )?
            .with("img_2", half_white(8, 8))?;
        let out = run(
            &mut host,
            "image_stats",
            json!({"image_ids": ["img_1", "img_2"]}),
        )?;
        let stats = stats_of(&out)?;
        assert_eq!(stats.len(), 2);
        let red = &stats[0];
        assert_eq!((red.width, red.height), (10, 4));
        assert_eq!(red.mean_rgb, [255.0, 0.0, 0.0]);
        assert!((red.brightness - 0.2126).abs() < 1e-9, "{}", red.brightness);
        assert_eq!(red.near_white_fraction, 0.0);
        let split = &stats[1];
        assert_eq!(split.mean_rgb, [127.5; 3]);
        assert!((split.brightness - 0.5).abs() < 1e-9);
        assert_eq!(split.near_white_fraction, 0.5);
        assert!(
            out.text
                .contains("img_1: 10×4 px, mean RGB (255.0, 0.0, 0.0), brightness 0.213"),
            "{}",
            out.text
        );
        assert!(out.text.contains("near-white 50.0%"), "{}", out.text);
        assert_eq!(out.data["near_white_threshold"], 240);
        Ok(())
    }

    #[test]
    fn white_and_black_are_exactly_one_and_zero() {
        let white = Stats::of(
            ImageId::from("w"),
            &RgbaImage::from_pixel(3, 3, Rgba([255; 4])),
        );
        assert_eq!((white.brightness, white.near_white_fraction), (1.0, 1.0));
        let black = Stats::of(
            ImageId::from("b"),
            &RgbaImage::from_pixel(3, 3, Rgba([0, 0, 0, 255])),
        );
        assert_eq!((black.brightness, black.near_white_fraction), (0.0, 0.0));
    }

    #[test]
    fn near_white_uses_the_threshold() {
        let img = RgbaImage::from_fn(4, 1, |x, _| match x {
            0 => Rgba([240, 240, 240, 255]),
            1 => Rgba([255, 255, 239, 255]),
            2 => Rgba([250, 250, 250, 0]),
            _ => Rgba([10, 10, 10, 255]),
        });
        let s = Stats::of(ImageId::from("img_1"), &img);
        assert_eq!(s.near_white_fraction, 0.5);
    }

    #[test]
    fn flip_mirrors_along_the_axis() -> TestResult {
        let ramp = RgbaImage::from_fn(5, 3, |x, y| Rgba([x as u8 * 10, y as u8 * 10, 0, 255]));
        let mut host = TestHost::default().with("img_1", ramp.clone())?;
        for (axis, expected) in [
            ("horizontal", [40u8, 0, 0, 255]),
            ("vertical", [0, 20, 0, 255]),
        ] {
            let out = run(
                &mut host,
                "flip",
                json!({"image_ids": ["img_1"], "axis": axis}),
            )?;
            assert_eq!(out.images.len(), 1);
            assert_eq!(out.images[0].caption, format!("img_1 flipped {axis}ly"));
            let flipped = image::load_from_memory(&out.images[0].png)?.to_rgba8();
            assert_eq!(flipped.dimensions(), (5, 3));
            assert_eq!(flipped.get_pixel(0, 0).0, expected, "{axis}");
        }
        Ok(())
    }

    #[test]
    fn bad_arguments_are_invalid_args() -> TestResult {
        let mut host = TestHost::default().with("img_1", half_white(2, 2))?;
        let err = run(
            &mut host,
            "flip",
            json!({"image_ids": ["img_1"], "axis": "diagonal"}),
        )
        .err()
        .ok_or("accepted")?;
        assert_eq!(err.kind, ErrorKind::InvalidArgs);
        assert!(err.message.contains("diagonal"), "{}", err.message);
        let err = run(&mut host, "image_stats", json!({"image_ids": ["img_7"]}))
            .err()
            .ok_or("accepted")?;
        assert_eq!(err.kind, ErrorKind::InvalidArgs);
        let err = run(&mut host, "image_stats", json!({"image_ids": []}))
            .err()
            .ok_or("accepted")?;
        assert!(err.message.contains("at least one"), "{}", err.message);
        let err = run(&mut host, "histogram", json!({}))
            .err()
            .ok_or("accepted")?;
        assert!(
            err.message.contains("image_stats and flip"),
            "{}",
            err.message
        );
        Ok(())
    }

    #[test]
    fn every_example_runs() -> TestResult {
        let mut host = TestHost::default()
            .with("img_1", half_white(4, 4))?
            .with("img_2", half_white(6, 2))?;
        for spec in ImageStats.tools() {
            assert!(!spec.examples.is_empty(), "{} has no example", spec.name);
            for example in &spec.examples {
                run(&mut host, &spec.name, example.clone())?;
            }
        }
        Ok(())
    }

    #[test]
    fn plugin_toml_matches_the_manifest() -> TestResult {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/plugin.toml"))?;
        let file: Manifest = toml::from_str(&text)?;
        let reported = ImageStats.manifest();
        assert_eq!(
            (file.name.as_str(), file.version.as_str()),
            (reported.name.as_str(), reported.version.as_str())
        );
        assert_eq!(file.sdk_version, maia_plugin_sdk::SDK_VERSION);
        assert_eq!(file.kind, maia_plugin_sdk::PluginKind::Wasm);
        assert_eq!(file.artifact.as_deref(), Some("image_stats.wasm"));
        assert!(
            file.permissions.is_empty(),
            "image-stats needs no permissions"
        );
        Ok(())
    }
}
