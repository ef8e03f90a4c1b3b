//! # image-ops
//!
//! An example **native** maia plugin: three image edits on PNGs from the run's image
//! store — `grayscale`, `crop` (a box given as fractions of the image, so the agent
//! need not know pixel sizes) and `tile` (several images side by side in one grid, for
//! comparing them in a single look).
//!
//! Every tool fetches its inputs with [`Host::image`], decodes them with the `image`
//! crate, and returns new PNGs whose captions say what was done and to which id, so the
//! agent can tell results apart without re-reading its own calls. Argument problems the
//! JSON Schema cannot express (a crop box reaching past the image's edge) come back as
//! `invalid_args` errors that say what to send instead.
//!
//! Build with `cargo build -p maia-image-ops` (→ `target/debug/libimage_ops.so`), or run
//! `scripts/build-plugins.sh`, which installs it with its `plugin.toml` under
//! `target/plugins/image-ops/`.

use image::{DynamicImage, GenericImageView, ImageFormat, Rgba, RgbaImage, imageops};
use maia_plugin_sdk::{
    Host, Image, ImageId, Manifest, Plugin, ToolCall, ToolError, ToolOutput, ToolSpec,
};
use serde::Deserialize;
use serde_json::{Value, json};
use std::io::Cursor;

/// Largest side, in pixels, of an image `tile` will make; bigger grids are refused
/// with a hint to tile fewer images, so one call cannot exhaust the host's memory.
pub const MAX_TILE_SIDE: u32 = 8192;

/// Most columns `tile` accepts.
pub const MAX_COLUMNS: u32 = 16;

/// Background of `tile` cells not covered by an image (cells are as large as the
/// largest input, smaller images are centred).
pub const TILE_BACKGROUND: Rgba<u8> = Rgba([255, 255, 255, 255]);

/// The plugin. maia creates it with `Default::default()`; it keeps no state.
#[derive(Debug, Default)]
pub struct ImageOps;

/// A region of an image as fractions of its width and height: `x`/`y` locate the
/// top-left corner, `width`/`height` the extent (`{0, 0, 1, 1}` is the whole image).
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CropBox {
    /// Left edge, 0 (left) .. 1 (right).
    pub x: f64,
    /// Top edge, 0 (top) .. 1 (bottom).
    pub y: f64,
    /// Width as a fraction of the image width, > 0.
    pub width: f64,
    /// Height as a fraction of the image height, > 0.
    pub height: f64,
}

/// Slack for `x + width` and `y + height` exceeding 1 by floating-point rounding.
const EDGE_SLACK: f64 = 1e-9;

impl CropBox {
    /// Checks that the box is inside the image and not empty; the error says which
    /// value is wrong and what a valid box looks like.
    pub fn validate(&self) -> Result<(), ToolError> {
        let hint = "box values are fractions of the image size, e.g. {\"x\": 0.25, \"y\": 0.25, \"width\": 0.5, \"height\": 0.5} for the centre quarter";
        let fields = [
            ("x", self.x),
            ("y", self.y),
            ("width", self.width),
            ("height", self.height),
        ];
        for (name, value) in fields {
            if !value.is_finite() || !(0.0..=1.0).contains(&value) {
                return Err(ToolError::invalid_args(format!(
                    "box.{name} is {value}, outside 0..1; {hint}"
                )));
            }
        }
        if self.width <= 0.0 || self.height <= 0.0 {
            return Err(ToolError::invalid_args(format!(
                "box is empty (width {}, height {}); width and height must be greater than 0; {hint}",
                self.width, self.height
            )));
        }
        if self.x + self.width > 1.0 + EDGE_SLACK {
            return Err(ToolError::invalid_args(format!(
                "box reaches past the right edge: x + width = {} + {} = {} > 1; {hint}",
                self.x,
                self.width,
                self.x + self.width
            )));
        }
        if self.y + self.height > 1.0 + EDGE_SLACK {
            return Err(ToolError::invalid_args(format!(
                "box reaches past the bottom edge: y + height = {} + {} = {} > 1; {hint}",
                self.y,
                self.height,
                self.y + self.height
            )));
        }
        Ok(())
    }

    /// The box in pixels of a `width` × `height` image: `(x, y, w, h)`, rounded to the
    /// nearest pixel edge and at least one pixel in each direction.
    pub fn to_pixels(&self, width: u32, height: u32) -> (u32, u32, u32, u32) {
        fn span(start: f64, extent: f64, size: u32) -> (u32, u32) {
            let size_f = f64::from(size);
            // Values are validated to 0..1, so these casts stay within 0..=size.
            let from = ((start * size_f).round() as u32).min(size.saturating_sub(1));
            let to = (((start + extent) * size_f).round() as u32).clamp(from + 1, size.max(1));
            (from, to - from)
        }
        let (x, w) = span(self.x, self.width, width);
        let (y, h) = span(self.y, self.height, height);
        (x, y, w, h)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImagesArgs {
    image_ids: Vec<ImageId>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CropArgs {
    image_ids: Vec<ImageId>,
    #[serde(rename = "box")]
    region: CropBox,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TileArgs {
    image_ids: Vec<ImageId>,
    #[serde(default)]
    columns: Option<u32>,
}

fn image_ids_schema(what: &str) -> Value {
    json!({
        "type": "array",
        "items": {"type": "string"},
        "minItems": 1,
        "description": what
    })
}

impl Plugin for ImageOps {
    fn manifest(&self) -> Manifest {
        Manifest::new(
            "image-ops",
            env!("CARGO_PKG_VERSION"),
            "Grayscale, crop and tile PNG images from the run's image store",
        )
    }

    fn tools(&self) -> Vec<ToolSpec> {
        vec![
            ToolSpec::new(
                "grayscale",
                "Converts images to grayscale (Rec. 709 luma), keeping transparency. Use it to test whether a unit responds to colour or only to shape and brightness.",
                json!({
                    "type": "object",
                    "properties": {
                        "image_ids": image_ids_schema("Images to convert, by id (img_1, ...); one grayscale image is returned per id")
                    },
                    "required": ["image_ids"],
                    "additionalProperties": false
                }),
            )
            .returns("one grayscale image per input, captioned with its source id")
            .example(json!({"image_ids": ["img_1"]})),
            ToolSpec::new(
                "crop",
                "Crops the same region out of each image. The box is given as fractions of the image size (0..1), so {x: 0.5, y: 0, width: 0.5, height: 0.5} is the top-right quarter of any image.",
                json!({
                    "type": "object",
                    "properties": {
                        "image_ids": image_ids_schema("Images to crop, by id (img_1, ...); one crop is returned per id"),
                        "box": {
                            "type": "object",
                            "description": "Region to keep, as fractions of the image width and height; x + width and y + height must not exceed 1",
                            "properties": {
                                "x": {"type": "number", "minimum": 0, "maximum": 1, "description": "Left edge: 0 = left, 1 = right"},
                                "y": {"type": "number", "minimum": 0, "maximum": 1, "description": "Top edge: 0 = top, 1 = bottom"},
                                "width": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "description": "Width as a fraction of the image width"},
                                "height": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "description": "Height as a fraction of the image height"}
                            },
                            "required": ["x", "y", "width", "height"],
                            "additionalProperties": false
                        }
                    },
                    "required": ["image_ids", "box"],
                    "additionalProperties": false
                }),
            )
            .returns("one cropped image per input, captioned with its source id and the box in fractions and pixels")
            .example(json!({"image_ids": ["img_1"], "box": {"x": 0.25, "y": 0.25, "width": 0.5, "height": 0.5}})),
            ToolSpec::new(
                "tile",
                "Arranges several images in a grid, in the order given, as one image, so they can be compared at a glance. Cells are as large as the largest image; smaller images are centred on white.",
                json!({
                    "type": "object",
                    "properties": {
                        "image_ids": image_ids_schema("Images to tile, by id (img_1, ...), in reading order (left to right, top to bottom)"),
                        "columns": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_COLUMNS,
                            "description": "Images per row (default: about the square root of the number of images)"
                        }
                    },
                    "required": ["image_ids"],
                    "additionalProperties": false
                }),
            )
            .returns("one image holding the grid; `data` gives columns, rows, cell and total size")
            .example(json!({"image_ids": ["img_1", "img_2"]}))
            .example(json!({"image_ids": ["img_1", "img_2"], "columns": 1})),
        ]
    }

    fn call(&mut self, call: &ToolCall, host: &mut dyn Host) -> Result<ToolOutput, ToolError> {
        match call.name.as_str() {
            "grayscale" => grayscale(call.parse_args()?, host),
            "crop" => crop(call.parse_args()?, host),
            "tile" => tile(call.parse_args()?, host),
            other => Err(ToolError::invalid_args(format!(
                "image-ops has no tool `{other}`; its tools are grayscale, crop and tile"
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

/// Fetches and decodes one image.
fn fetch(host: &mut dyn Host, id: &ImageId) -> Result<DynamicImage, ToolError> {
    let image = host.image(id)?;
    image::load_from_memory_with_format(&image.png, ImageFormat::Png)
        .map_err(|e| ToolError::failed(format!("{id} is not a readable PNG: {e}")))
}

/// Encodes an image as PNG.
fn encode(image: &DynamicImage) -> Result<Vec<u8>, ToolError> {
    let mut png = Cursor::new(Vec::new());
    image
        .write_to(&mut png, ImageFormat::Png)
        .map_err(|e| ToolError::failed(format!("encoding the result as PNG: {e}")))?;
    Ok(png.into_inner())
}

fn grayscale(args: ImagesArgs, host: &mut dyn Host) -> Result<ToolOutput, ToolError> {
    non_empty(&args.image_ids)?;
    let mut lines = Vec::new();
    let mut images = Vec::new();
    for id in &args.image_ids {
        let gray = fetch(host, id)?.grayscale();
        let (w, h) = gray.dimensions();
        lines.push(format!("{id}: grayscale {w}×{h}"));
        images.push(
            Image::new(encode(&gray)?, format!("grayscale of {id}"))
                .with_meta(json!({"tool": "grayscale", "source": id})),
        );
    }
    Ok(ToolOutput {
        text: lines.join("\n"),
        images,
        data: Value::Null,
    })
}

fn crop(args: CropArgs, host: &mut dyn Host) -> Result<ToolOutput, ToolError> {
    non_empty(&args.image_ids)?;
    let b = args.region;
    b.validate()?;
    let mut lines = Vec::new();
    let mut images = Vec::new();
    for id in &args.image_ids {
        let source = fetch(host, id)?;
        let (x, y, w, h) = b.to_pixels(source.width(), source.height());
        let cropped = source.crop_imm(x, y, w, h);
        let caption = format!(
            "crop of {id}: x {}..{}, y {}..{} of the image ({w}×{h} px at {x},{y})",
            b.x,
            b.x + b.width,
            b.y,
            b.y + b.height
        );
        lines.push(format!(
            "{id}: cropped to {w}×{h} px at ({x}, {y}) of {}×{}",
            source.width(),
            source.height()
        ));
        images.push(Image::new(encode(&cropped)?, caption).with_meta(json!({
            "tool": "crop",
            "source": id,
            "box": {"x": b.x, "y": b.y, "width": b.width, "height": b.height},
            "pixels": {"x": x, "y": y, "width": w, "height": h}
        })));
    }
    Ok(ToolOutput {
        text: lines.join("\n"),
        images,
        data: Value::Null,
    })
}

/// Columns and rows of the grid for `count` images.
fn grid(count: u32, columns: Option<u32>) -> (u32, u32) {
    let auto = (f64::from(count).sqrt().ceil() as u32).max(1);
    let columns = columns.unwrap_or(auto).clamp(1, count.max(1));
    (columns, count.div_ceil(columns))
}

fn tile(args: TileArgs, host: &mut dyn Host) -> Result<ToolOutput, ToolError> {
    non_empty(&args.image_ids)?;
    if let Some(c) = args.columns
        && !(1..=MAX_COLUMNS).contains(&c)
    {
        return Err(ToolError::invalid_args(format!(
            "columns is {c}; give 1..={MAX_COLUMNS}"
        )));
    }
    let sources: Vec<RgbaImage> = args
        .image_ids
        .iter()
        .map(|id| fetch(host, id).map(|i| i.to_rgba8()))
        .collect::<Result<_, _>>()?;
    let count = u32::try_from(sources.len()).map_err(|_| {
        ToolError::invalid_args("too many images to tile; give at most a few dozen")
    })?;
    let (columns, rows) = grid(count, args.columns);
    let cell_w = sources.iter().map(RgbaImage::width).max().unwrap_or(1);
    let cell_h = sources.iter().map(RgbaImage::height).max().unwrap_or(1);
    let (width, height) = (
        u64::from(columns) * u64::from(cell_w),
        u64::from(rows) * u64::from(cell_h),
    );
    if width > u64::from(MAX_TILE_SIDE) || height > u64::from(MAX_TILE_SIDE) {
        return Err(ToolError::invalid_args(format!(
            "the grid would be {width}×{height} px ({columns} columns × {rows} rows of {cell_w}×{cell_h}), larger than {MAX_TILE_SIDE} px on a side; tile fewer or smaller images (crop them first)"
        )));
    }
    // Both sides are at most MAX_TILE_SIDE, checked above.
    let (width, height) = (width as u32, height as u32);
    let mut canvas = RgbaImage::from_pixel(width, height, TILE_BACKGROUND);
    for (i, source) in (0u32..).zip(&sources) {
        let (col, row) = (i % columns, i / columns);
        let x = col * cell_w + (cell_w - source.width()) / 2;
        let y = row * cell_h + (cell_h - source.height()) / 2;
        imageops::overlay(&mut canvas, source, i64::from(x), i64::from(y));
    }
    let ids: Vec<&str> = args.image_ids.iter().map(ImageId::as_str).collect();
    let plural = |n: u32, word: &str| {
        if n == 1 {
            format!("1 {word}")
        } else {
            format!("{n} {word}s")
        }
    };
    let caption = format!(
        "tile of {} in {} × {} (cells {cell_w}×{cell_h} px)",
        ids.join(", "),
        plural(columns, "column"),
        plural(rows, "row")
    );
    let data = json!({
        "sources": ids,
        "columns": columns,
        "rows": rows,
        "cell_width": cell_w,
        "cell_height": cell_h,
        "width": width,
        "height": height
    });
    let png = encode(&DynamicImage::ImageRgba8(canvas))?;
    Ok(ToolOutput::text(format!("{caption}; {width}×{height} px"))
        .with_image(
            Image::new(png, caption)
                .with_meta(json!({"tool": "tile", "sources": ids, "columns": columns})),
        )
        .with_data(data))
}

maia_plugin_sdk::export_native!(ImageOps);

#[cfg(test)]
mod tests {
    use super::*;
    use maia_plugin_sdk::{ErrorKind, LogLevel, UnitActivation};
    use std::collections::HashMap;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// A host holding a few images by id, as maia's image store would.
    #[derive(Default)]
    struct TestHost {
        images: HashMap<ImageId, Image>,
    }

    impl TestHost {
        fn with(mut self, id: &str, image: &DynamicImage) -> Result<Self, ToolError> {
            let mut stored = Image::new(encode(image)?, id);
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

    fn solid(w: u32, h: u32, rgba: [u8; 4]) -> DynamicImage {
        DynamicImage::ImageRgba8(RgbaImage::from_pixel(w, h, Rgba(rgba)))
    }

    /// Every pixel different: r = x, g = y.
    fn ramp(w: u32, h: u32) -> DynamicImage {
        DynamicImage::ImageRgba8(RgbaImage::from_fn(w, h, |x, y| {
            Rgba([x as u8, y as u8, 7, 255])
        }))
    }

    fn run(host: &mut TestHost, tool: &str, args: Value) -> Result<ToolOutput, ToolError> {
        ImageOps.call(&ToolCall::new("t1", tool, args), host)
    }

    fn decode(image: &Image) -> Result<RgbaImage, image::ImageError> {
        Ok(image::load_from_memory_with_format(&image.png, ImageFormat::Png)?.to_rgba8())
    }

    #[test]
    fn grayscale_of_pure_red_is_its_luma() -> TestResult {
        let mut host = TestHost::default().with("img_1", &solid(8, 6, [255, 0, 0, 255]))?;
        let out = run(&mut host, "grayscale", json!({"image_ids": ["img_1"]}))?;
        assert_eq!(out.images.len(), 1);
        assert_eq!(out.images[0].caption, "grayscale of img_1");
        let gray = decode(&out.images[0])?;
        assert_eq!(gray.dimensions(), (8, 6));
        // Rec. 709: 0.2126 × 255 = 54.2.
        assert!(
            gray.pixels().all(|p| p.0 == [54, 54, 54, 255]),
            "{:?}",
            gray.get_pixel(0, 0)
        );
        Ok(())
    }

    #[test]
    fn grayscale_returns_one_image_per_id_and_keeps_alpha() -> TestResult {
        let mut host = TestHost::default()
            .with("img_1", &solid(4, 4, [0, 255, 0, 128]))?
            .with("img_2", &solid(2, 3, [255, 255, 255, 255]))?;
        let out = run(
            &mut host,
            "grayscale",
            json!({"image_ids": ["img_1", "img_2"]}),
        )?;
        assert_eq!(out.images.len(), 2);
        assert_eq!(
            decode(&out.images[0])?.get_pixel(0, 0).0,
            [182, 182, 182, 128]
        );
        assert_eq!(decode(&out.images[1])?.dimensions(), (2, 3));
        assert!(out.text.contains("img_2: grayscale 2×3"), "{}", out.text);
        Ok(())
    }

    #[test]
    fn crop_takes_the_box_in_fractions() -> TestResult {
        let mut host = TestHost::default().with("img_1", &ramp(64, 32))?;
        let args = json!({"image_ids": ["img_1"], "box": {"x": 0.25, "y": 0.5, "width": 0.5, "height": 0.25}});
        let out = run(&mut host, "crop", args)?;
        let cropped = decode(&out.images[0])?;
        assert_eq!(cropped.dimensions(), (32, 8));
        // The crop's top-left pixel is the source's pixel (16, 16).
        assert_eq!(cropped.get_pixel(0, 0).0, [16, 16, 7, 255]);
        assert_eq!(cropped.get_pixel(31, 7).0, [47, 23, 7, 255]);
        assert!(
            out.images[0].caption.starts_with("crop of img_1"),
            "{}",
            out.images[0].caption
        );
        assert_eq!(
            out.images[0].meta["pixels"],
            json!({"x": 16, "y": 16, "width": 32, "height": 8})
        );
        Ok(())
    }

    #[test]
    fn crops_are_at_least_one_pixel_and_never_past_the_edge() -> TestResult {
        let mut host = TestHost::default().with("img_1", &ramp(10, 10))?;
        let args = json!({"image_ids": ["img_1"], "box": {"x": 1.0, "y": 0.999, "width": 0.0001, "height": 0.0001}});
        let result = run(&mut host, "crop", args);
        // x = 1 with a positive width reaches past the edge: refused, not clamped silently.
        assert_eq!(result.err().map(|e| e.kind), Some(ErrorKind::InvalidArgs));
        let args = json!({"image_ids": ["img_1"], "box": {"x": 0.95, "y": 0.95, "width": 0.001, "height": 0.001}});
        let out = run(&mut host, "crop", args)?;
        assert_eq!(decode(&out.images[0])?.dimensions(), (1, 1));
        Ok(())
    }

    #[test]
    fn an_invalid_box_is_refused_with_what_to_send() -> TestResult {
        let mut host = TestHost::default().with("img_1", &ramp(10, 10))?;
        let cases = [
            (
                json!({"x": 0.6, "y": 0.0, "width": 0.6, "height": 0.5}),
                "right edge",
            ),
            (
                json!({"x": 0.0, "y": 0.7, "width": 0.5, "height": 0.5}),
                "bottom edge",
            ),
            (
                json!({"x": -0.1, "y": 0.0, "width": 0.5, "height": 0.5}),
                "box.x is -0.1",
            ),
            (
                json!({"x": 0.0, "y": 0.0, "width": 0.0, "height": 0.5}),
                "box is empty",
            ),
            (
                json!({"x": 0.0, "y": 0.0, "width": 2.0, "height": 0.5}),
                "box.width is 2",
            ),
        ];
        for (region, expected) in cases {
            let err = run(
                &mut host,
                "crop",
                json!({"image_ids": ["img_1"], "box": region}),
            )
            .err()
            .ok_or("an invalid box was accepted")?;
            assert_eq!(err.kind, ErrorKind::InvalidArgs, "{region}");
            assert!(err.message.contains(expected), "{region}: {}", err.message);
            assert!(
                err.message.contains("fractions of the image size"),
                "{}",
                err.message
            );
        }
        Ok(())
    }

    #[test]
    fn tile_lays_images_out_in_a_grid() -> TestResult {
        let mut host = TestHost::default()
            .with("img_1", &solid(20, 10, [255, 0, 0, 255]))?
            .with("img_2", &solid(10, 10, [0, 0, 255, 255]))?
            .with("img_3", &solid(20, 10, [0, 255, 0, 255]))?;
        let out = run(
            &mut host,
            "tile",
            json!({"image_ids": ["img_1", "img_2", "img_3"]}),
        )?;
        let grid = decode(&out.images[0])?;
        // Three images: 2 columns × 2 rows of 20×10 cells.
        assert_eq!(grid.dimensions(), (40, 20));
        assert_eq!(out.data["columns"], 2);
        assert_eq!(out.data["rows"], 2);
        assert_eq!(grid.get_pixel(0, 0).0, [255, 0, 0, 255]);
        // img_2 is centred in its 20-wide cell: white margin, then blue.
        assert_eq!(grid.get_pixel(22, 5).0, TILE_BACKGROUND.0);
        assert_eq!(grid.get_pixel(30, 5).0, [0, 0, 255, 255]);
        assert_eq!(grid.get_pixel(5, 15).0, [0, 255, 0, 255]);
        // The empty fourth cell is background.
        assert_eq!(grid.get_pixel(30, 15).0, TILE_BACKGROUND.0);
        assert!(
            out.images[0].caption.contains("img_1, img_2, img_3"),
            "{}",
            out.images[0].caption
        );
        Ok(())
    }

    #[test]
    fn tile_honours_columns() -> TestResult {
        let mut host = TestHost::default()
            .with("img_1", &solid(8, 8, [255, 0, 0, 255]))?
            .with("img_2", &solid(8, 8, [0, 0, 255, 255]))?;
        let out = run(
            &mut host,
            "tile",
            json!({"image_ids": ["img_1", "img_2"], "columns": 1}),
        )?;
        assert_eq!(decode(&out.images[0])?.dimensions(), (8, 16));
        // More columns than images: no empty columns.
        let out = run(
            &mut host,
            "tile",
            json!({"image_ids": ["img_1", "img_2"], "columns": 5}),
        )?;
        assert_eq!(decode(&out.images[0])?.dimensions(), (16, 8));
        let err = run(
            &mut host,
            "tile",
            json!({"image_ids": ["img_1"], "columns": 0}),
        )
        .err();
        assert_eq!(err.map(|e| e.kind), Some(ErrorKind::InvalidArgs));
        Ok(())
    }

    #[test]
    fn tile_refuses_a_grid_too_large() -> TestResult {
        let mut host =
            TestHost::default().with("img_1", &solid(MAX_TILE_SIDE, 1, [0, 0, 0, 255]))?;
        let err = run(
            &mut host,
            "tile",
            json!({"image_ids": ["img_1", "img_1"], "columns": 2}),
        )
        .err()
        .ok_or("a huge grid was accepted")?;
        assert_eq!(err.kind, ErrorKind::InvalidArgs);
        assert!(err.message.contains("larger than 8192"), "{}", err.message);
        Ok(())
    }

    #[test]
    fn unknown_ids_and_tools_are_invalid_args() -> TestResult {
        let mut host = TestHost::default();
        let err = run(&mut host, "grayscale", json!({"image_ids": ["img_9"]}))
            .err()
            .ok_or("no error")?;
        assert_eq!(err.kind, ErrorKind::InvalidArgs);
        assert!(err.message.contains("img_9"));
        let err = run(&mut host, "blur", json!({})).err().ok_or("no error")?;
        assert!(
            err.message.contains("grayscale, crop and tile"),
            "{}",
            err.message
        );
        let err = run(&mut host, "grayscale", json!({"image_ids": []}))
            .err()
            .ok_or("no error")?;
        assert!(err.message.contains("at least one"), "{}", err.message);
        Ok(())
    }

    #[test]
    fn every_example_runs() -> TestResult {
        let mut host = TestHost::default()
            .with("img_1", &solid(16, 16, [255, 0, 0, 255]))?
            .with("img_2", &solid(8, 8, [0, 0, 255, 255]))?;
        for spec in ImageOps.tools() {
            assert!(!spec.examples.is_empty(), "{} has no example", spec.name);
            for example in &spec.examples {
                let out = run(&mut host, &spec.name, example.clone())?;
                assert!(!out.images.is_empty(), "{} {example}", spec.name);
            }
        }
        Ok(())
    }

    #[test]
    fn plugin_toml_matches_the_manifest() -> TestResult {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/plugin.toml"))?;
        let file: Manifest = toml::from_str(&text)?;
        let reported = ImageOps.manifest();
        assert_eq!(
            (file.name.as_str(), file.version.as_str()),
            (reported.name.as_str(), reported.version.as_str())
        );
        assert_eq!(file.sdk_version, maia_plugin_sdk::SDK_VERSION);
        assert_eq!(file.kind, maia_plugin_sdk::PluginKind::Native);
        assert_eq!(file.artifact.as_deref(), Some("libimage_ops.so"));
        Ok(())
    }
}
