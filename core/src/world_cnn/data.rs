//! Training data: shapes-world scenes, rendered in memory, with the labels of their
//! dominant object.
//!
//! A scene's *dominant object* is the one covering the most visible pixels (occlusion and
//! ring holes accounted for, ties going to the object drawn last, i.e. in front). Its
//! shape and color are the two labels. Visible area rather than the nominal `size` is used
//! because it is what the picture shows: a star fills far less of its bounding circle than
//! a square does.

use maia_shapes_world::dataset::scene_at_on;
use maia_shapes_world::scene::DEFAULT_SIDE;
use maia_shapes_world::{Canvas, Color, Object, Scene, Shape, object_masks, render_rgba};
use tch::{Kind, Tensor};

use super::WorldCnnError;
use super::planted::PlantedFlaw;

/// Side of the images scenes are rendered at before resizing: the world's default canvas,
/// so training sees exactly what inference on the world's 224×224 images sees.
pub const SOURCE_SIDE: u32 = DEFAULT_SIDE;

/// Side of the canvas object coverage is measured on. Layouts are scale-free (positions and
/// sizes are fractions of the side), so the ranking of visible areas does not depend on it.
const MASK_SIDE: u32 = 112;

/// Scenes rendered per chunk (bounds the memory of the full-size RGBA buffers).
const CHUNK: usize = 128;

/// The object of `scene` that covers the most visible pixels, or `None` for an empty scene.
pub fn dominant_object(scene: &Scene) -> Option<Object> {
    dominance(scene).map(|(object, _)| object)
}

/// The dominant object and its *dominance*: its visible area divided by the runner-up's
/// (infinite for a lone object). `None` for an empty scene.
pub fn dominance(scene: &Scene) -> Option<(Object, f32)> {
    let mut small = scene.clone();
    small.width = MASK_SIDE;
    small.height = MASK_SIDE;
    let masks = object_masks(&small).ok()?;
    let mut best: Option<(usize, f32)> = None;
    let mut second = 0.0f32;
    for (index, mask) in masks.objects.iter().enumerate() {
        let area = mask.iter().sum::<f32>();
        match best {
            Some((_, top)) if area < top => second = second.max(area),
            Some((_, top)) => {
                second = top;
                best = Some((index, area));
            }
            None => best = Some((index, area)),
        }
    }
    let (index, top) = best?;
    let ratio = if second > 0.0 {
        top / second
    } else {
        f32::INFINITY
    };
    scene.objects.get(index).map(|&object| (object, ratio))
}

/// Index of `shape` in [`Shape::ALL`] (the shape head's class order).
pub fn shape_class(shape: Shape) -> i64 {
    Shape::ALL.iter().position(|&s| s == shape).unwrap_or(0) as i64
}

/// Index of `color` in [`Color::ALL`] (the color head's class order).
pub fn color_class(color: Color) -> i64 {
    Color::ALL.iter().position(|&c| c == color).unwrap_or(0) as i64
}

/// A rendered set of scenes, kept as bytes to stay small.
pub(crate) struct WorldData {
    /// `[N, 3, S, S]` uint8 RGB, area-resized from the 224×224 render.
    pub images: Tensor,
    /// `[N]` int64 shape classes of the dominant objects.
    pub shapes: Tensor,
    /// `[N]` int64 color classes of the dominant objects.
    pub colors: Tensor,
    /// `[N]` int64 color classes of the backgrounds.
    pub backgrounds: Tensor,
    /// With [`Scenes::swap_background`]: every scene again on another background colour
    /// (`[N, 3, S, S]` uint8) and that colour's classes (`[N]`).
    pub swapped: Option<(Tensor, Tensor)>,
    /// The world indices of the scenes, in order.
    pub indices: Vec<usize>,
}

impl WorldData {
    pub(crate) fn len(&self) -> usize {
        self.indices.len()
    }
}

/// One kept scene: its index, RGBA pixels (`224 × 224 × 4`) and labels.
struct Rendered {
    index: usize,
    rgba: Vec<u8>,
    shape: i64,
    color: i64,
    background: i64,
    /// The scene on another background colour, and that colour's class.
    swapped: Option<(Vec<u8>, i64)>,
}

/// Where a set's scenes come from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scenes {
    /// The world seed.
    pub world_seed: u64,
    /// Keep only world scenes whose dominant object is at least this many times larger
    /// than the runner-up.
    pub min_dominance: f32,
    /// Planted-flaw scenes instead of the world's, and whether they are held out.
    pub planted: Option<(PlantedFlaw, bool)>,
    /// Render every scene a second time on another background colour (one no object of
    /// the scene has), for training units that the background does not move.
    pub swap_background: bool,
}

/// Scene `index`, rendered, if its dominant object is at least `min_dominance` times
/// larger than the runner-up (always, for planted-flaw scenes); `Ok(None)` if not.
fn render_one(index: usize, scenes: Scenes) -> Result<Option<Rendered>, WorldCnnError> {
    let world_seed = scenes.world_seed;
    let (scene, object, label) = match scenes.planted {
        Some((flaw, heldout)) => {
            let (scene, label) = flaw.scene(index, world_seed, heldout);
            let Some(&object) = scene.objects.first() else {
                return Ok(None);
            };
            (scene, object, label)
        }
        None => {
            let canvas = Canvas {
                width: SOURCE_SIDE,
                height: SOURCE_SIDE,
            };
            let scene = scene_at_on(index, world_seed, canvas);
            let Some((object, ratio)) = dominance(&scene) else {
                return Ok(None);
            };
            if ratio < scenes.min_dominance {
                return Ok(None);
            }
            (scene, object, object.shape)
        }
    };
    let render = |scene: &Scene| {
        render_rgba(scene).map_err(|source| WorldCnnError::Render {
            index,
            seed: world_seed,
            source,
        })
    };
    let swapped = if scenes.swap_background {
        let mut other = scene.clone();
        other.background.color = swapped_background(&scene, index, world_seed);
        Some((render(&other)?, color_class(other.background.color)))
    } else {
        None
    };
    Ok(Some(Rendered {
        index,
        rgba: render(&scene)?,
        shape: shape_class(label),
        color: color_class(object.color),
        background: color_class(scene.background.color),
        swapped,
    }))
}

/// The background colour scene `index` is rendered on a second time: drawn from the
/// scene's index and world seed among the colours that are neither its background nor
/// any of its objects' colours.
fn swapped_background(scene: &Scene, index: usize, world_seed: u64) -> Color {
    let free: Vec<Color> = Color::ALL
        .into_iter()
        .filter(|&c| c != scene.background.color && scene.objects.iter().all(|o| o.color != c))
        .collect();
    let draw = super::config::derive_seed(world_seed ^ 0xB6C0_10E5, index as u64);
    free.get((draw % free.len().max(1) as u64) as usize)
        .copied()
        .unwrap_or(scene.background.color)
}

/// Renders the first `n` scenes of `world_seed` whose dominance is at least
/// `min_dominance` (see [`dominance`]), on up to `threads` threads, and area-resizes them
/// to `side`; `progress(done, n)` after each chunk. The result does not depend on
/// `threads`.
#[cfg(test)]
pub(crate) fn render_set(
    n: usize,
    world_seed: u64,
    side: u32,
    min_dominance: f32,
    threads: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<WorldData, WorldCnnError> {
    let scenes = Scenes {
        world_seed,
        min_dominance,
        planted: None,
        swap_background: false,
    };
    render_scenes(n, scenes, side, threads, progress)
}

/// [`render_set`] from any [`Scenes`].
pub(crate) fn render_scenes(
    n: usize,
    scenes: Scenes,
    side: u32,
    threads: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<WorldData, WorldCnnError> {
    let min_dominance = scenes.min_dominance;
    let side = i64::from(side);
    let full = i64::from(SOURCE_SIDE);
    let images = Tensor::zeros([n as i64, 3, side, side], (Kind::Uint8, tch::Device::Cpu));
    let swapped_images = scenes.swap_background.then(|| images.zeros_like());
    let mut shapes = Vec::with_capacity(n);
    let mut colors = Vec::with_capacity(n);
    let mut backgrounds = Vec::with_capacity(n);
    let mut swapped_backgrounds = Vec::with_capacity(n);
    let mut indices = Vec::with_capacity(n);
    let threads = threads.clamp(1, 16);
    let mut next = 0;
    while indices.len() < n {
        if next > n.saturating_mul(100) + 10_000 {
            return Err(WorldCnnError::Config {
                field: "min_dominance",
                value: min_dominance.to_string(),
                hint: "almost no scene passes it; use a value nearer 1.0 (1.0 keeps every scene)",
            });
        }
        let mut chunk = render_chunk(next, next + CHUNK, scenes, threads)?;
        next += CHUNK;
        chunk.truncate(n - indices.len());
        if chunk.is_empty() {
            continue;
        }
        let start = indices.len() as i64;
        let resized = |pixels: &mut dyn Iterator<Item = &Vec<u8>>| {
            let mut bytes = Vec::with_capacity(chunk.len() * 4 * (full * full) as usize);
            for rgba in pixels {
                bytes.extend_from_slice(rgba);
            }
            let rgb = Tensor::from_slice(&bytes)
                .view([chunk.len() as i64, full, full, 4])
                .narrow(3, 0, 3)
                .permute([0, 3, 1, 2]);
            area_resize(&rgb, side)
        };
        images
            .narrow(0, start, chunk.len() as i64)
            .copy_(&resized(&mut chunk.iter().map(|r| &r.rgba)));
        if let Some(swapped_images) = &swapped_images {
            swapped_images
                .narrow(0, start, chunk.len() as i64)
                .copy_(&resized(
                    &mut chunk
                        .iter()
                        .filter_map(|r| r.swapped.as_ref().map(|(p, _)| p)),
                ));
        }
        for r in chunk {
            indices.push(r.index);
            shapes.push(r.shape);
            colors.push(r.color);
            backgrounds.push(r.background);
            if let Some((_, background)) = r.swapped {
                swapped_backgrounds.push(background);
            }
        }
        progress(indices.len(), n);
    }
    Ok(WorldData {
        images,
        shapes: Tensor::from_slice(&shapes),
        colors: Tensor::from_slice(&colors),
        backgrounds: Tensor::from_slice(&backgrounds),
        swapped: swapped_images.map(|swapped| (swapped, Tensor::from_slice(&swapped_backgrounds))),
        indices,
    })
}

/// Area (box-average) resize of a uint8 `[N, 3, H, W]` batch to `[N, 3, side, side]`,
/// rounded back to uint8: `adaptive_avg_pool2d`, i.e. `interpolate(mode="area")`.
pub(crate) fn area_resize(rgb: &Tensor, side: i64) -> Tensor {
    rgb.contiguous()
        .to_kind(Kind::Float)
        .adaptive_avg_pool2d([side, side])
        .round()
        .clamp(0.0, 255.0)
        .to_kind(Kind::Uint8)
}

fn render_chunk(
    start: usize,
    end: usize,
    scenes: Scenes,
    threads: usize,
) -> Result<Vec<Rendered>, WorldCnnError> {
    let indices: Vec<usize> = (start..end).collect();
    let per_worker = indices.len().div_ceil(threads).max(1);
    let parts: Vec<Result<Vec<Option<Rendered>>, WorldCnnError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = indices
            .chunks(per_worker)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|&index| render_one(index, scenes))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle.join().unwrap_or_else(|_| {
                    Err(WorldCnnError::Io {
                        doing: "render training scenes on",
                        path: std::path::PathBuf::from("a worker thread"),
                        source: std::io::Error::other("a rendering thread panicked"),
                    })
                })
            })
            .collect()
    });
    let mut out = Vec::with_capacity(indices.len());
    for part in parts {
        out.extend(part?.into_iter().flatten());
    }
    Ok(out)
}

/// Per-channel mean and standard deviation of uint8 `[N, 3, S, S]` images scaled to
/// [0, 1], from exact integer sums (so the result is bit-identical on every run), rounded
/// to 4 decimals for the sidecar.
pub(crate) fn channel_stats(images: &Tensor) -> ([f64; 3], [f64; 3]) {
    let n = images.size().first().copied().unwrap_or(0);
    let mut sum = [0i64; 3];
    let mut sum_sq = [0i64; 3];
    let mut start = 0;
    while start < n {
        let len = (n - start).min(256);
        let chunk = images.narrow(0, start, len).to_kind(Kind::Int64);
        let s = chunk.sum_dim_intlist([0i64, 2, 3].as_slice(), false, Kind::Int64);
        let q = (&chunk * &chunk).sum_dim_intlist([0i64, 2, 3].as_slice(), false, Kind::Int64);
        for c in 0..3 {
            sum[c] += s.int64_value(&[c as i64]);
            sum_sq[c] += q.int64_value(&[c as i64]);
        }
        start += len;
    }
    let count = (n.max(1) * images.size().iter().skip(2).product::<i64>()) as f64;
    let round4 = |x: f64| (x * 10_000.0).round() / 10_000.0;
    let mut mean = [0.0; 3];
    let mut std = [0.0; 3];
    for c in 0..3 {
        let m = sum[c] as f64 / count / 255.0;
        let var = (sum_sq[c] as f64 / count / (255.0 * 255.0) - m * m).max(1e-6);
        mean[c] = round4(m);
        std[c] = round4(var.sqrt()).max(1e-3);
    }
    (mean, std)
}

#[cfg(test)]
mod tests {
    use super::*;
    use maia_shapes_world::{Background, Texture};

    fn object(shape: Shape, color: Color, size: f32, x: f32) -> Object {
        Object {
            shape,
            color,
            texture: Texture::Solid,
            size,
            x,
            y: 0.5,
            rotation: 0.0,
        }
    }

    #[test]
    fn dominant_is_largest_visible_object() {
        let mut scene = Scene::empty(Canvas::default());
        scene.background = Background {
            color: Color::White,
            texture: Texture::Solid,
        };
        scene.objects = vec![
            object(Shape::Square, Color::Red, 0.40, 0.3),
            object(Shape::Circle, Color::Blue, 0.20, 0.75),
        ];
        let top = dominant_object(&scene).map(|o| (o.shape, o.color));
        assert_eq!(top, Some((Shape::Square, Color::Red)));
        // A large star covers less than a slightly smaller square.
        scene.objects = vec![
            object(Shape::Star, Color::Green, 0.40, 0.3),
            object(Shape::Square, Color::Blue, 0.34, 0.75),
        ];
        let top = dominant_object(&scene).map(|o| o.shape);
        assert_eq!(top, Some(Shape::Square));
        assert_eq!(dominant_object(&Scene::empty(Canvas::default())), None);
        let ratio = dominance(&scene).map(|(_, r)| r).unwrap_or_default();
        assert!(ratio > 1.0 && ratio < 2.0, "{ratio}");
        scene.objects.truncate(1);
        assert_eq!(dominance(&scene).map(|(_, r)| r), Some(f32::INFINITY));
    }

    #[test]
    fn render_set_skips_scenes_without_a_clear_dominant_object() -> Result<(), WorldCnnError> {
        let strict = render_set(20, 8, 16, 2.0, 2, &mut |_, _| {})?;
        assert_eq!(strict.len(), 20);
        assert!(strict.indices.windows(2).all(|w| w[0] < w[1]));
        assert!(
            *strict.indices.last().unwrap_or(&0) > 20,
            "nothing was skipped"
        );
        for &index in &strict.indices {
            let scene = scene_at_on(index, 8, Canvas::default());
            let ratio = dominance(&scene).map(|(_, r)| r).unwrap_or_default();
            assert!(ratio >= 2.0, "scene {index}: {ratio}");
        }
        Ok(())
    }

    #[test]
    fn render_set_is_thread_count_independent() -> Result<(), WorldCnnError> {
        let one = render_set(12, 5, 32, 1.0, 1, &mut |_, _| {})?;
        let three = render_set(12, 5, 32, 1.0, 3, &mut |_, _| {})?;
        assert_eq!(one.indices, (0..12).collect::<Vec<_>>());
        assert_eq!(one.images.size(), vec![12, 3, 32, 32]);
        assert!(one.images.equal(&three.images));
        assert!(one.shapes.equal(&three.shapes));
        assert!(one.colors.equal(&three.colors));
        assert_eq!(one.len(), 12);
        let (mean, std) = channel_stats(&one.images);
        for c in 0..3 {
            assert!((0.0..=1.0).contains(&mean[c]), "{mean:?}");
            assert!(std[c] > 0.0 && std[c] < 1.0, "{std:?}");
        }
        Ok(())
    }

    #[test]
    fn swapped_scenes_differ_only_in_a_free_background_colour() -> Result<(), WorldCnnError> {
        let scenes = Scenes {
            world_seed: 4,
            min_dominance: 1.0,
            planted: None,
            swap_background: true,
        };
        let data = render_scenes(16, scenes, 32, 2, &mut |_, _| {})?;
        let Some((swapped, backgrounds)) = &data.swapped else {
            panic!("no swapped scenes");
        };
        assert_eq!(swapped.size(), data.images.size());
        assert!(!swapped.equal(&data.images), "nothing was re-rendered");
        for (k, &index) in data.indices.iter().enumerate() {
            let scene = scene_at_on(index, 4, Canvas::default());
            let other = backgrounds.int64_value(&[k as i64]);
            assert_eq!(
                data.backgrounds.int64_value(&[k as i64]),
                color_class(scene.background.color)
            );
            assert_ne!(other, color_class(scene.background.color), "scene {index}");
            assert!(
                scene.objects.iter().all(|o| color_class(o.color) != other),
                "scene {index}: an object has the new background's colour"
            );
            assert_eq!(
                other,
                color_class(swapped_background(&scene, index, 4)),
                "drawn from the scene alone"
            );
        }
        assert!(
            render_set(4, 4, 32, 1.0, 1, &mut |_, _| {})?
                .swapped
                .is_none()
        );
        Ok(())
    }

    #[test]
    fn inference_resize_reproduces_training_pixels() -> Result<(), Box<dyn std::error::Error>> {
        // What `Sidecar::preprocess` does to a world image (RGBA → RGB planes → area
        // resize) must give exactly the bytes the network was trained on.
        let data = render_set(3, 9, 48, 1.0, 2, &mut |_, _| {})?;
        let mut bytes = Vec::new();
        for &index in &data.indices {
            bytes.extend(render_rgba(&scene_at_on(index, 9, Canvas::default()))?);
        }
        let side = i64::from(SOURCE_SIDE);
        let rgb = Tensor::from_slice(&bytes)
            .view([3, side, side, 4])
            .narrow(3, 0, 3)
            .permute([0, 3, 1, 2]);
        assert!(area_resize(&rgb, 48).equal(&data.images));
        Ok(())
    }

    #[test]
    fn class_orders_match_the_world() {
        assert_eq!(shape_class(Shape::Circle), 0);
        assert_eq!(shape_class(Shape::Diamond), 8);
        assert_eq!(color_class(Color::Cyan), 11);
    }
}
