//! Rendering determinism, pixels where they should be, and coverage masks.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use maia_shapes_world::{
    Background, Color, Object, Scene, Shape, Texture, object_masks, parse_prompt, render_pixmap,
    render_png,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn hash(bytes: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    hasher.finish()
}

fn one(shape: Shape, color: Color, texture: Texture) -> Scene {
    Scene {
        width: 224,
        height: 224,
        background: Background {
            color: Color::White,
            texture: Texture::Solid,
        },
        objects: vec![Object {
            shape,
            color,
            texture,
            size: 0.4,
            x: 0.5,
            y: 0.5,
            rotation: 0.0,
        }],
    }
}

fn pixel(pixmap: &tiny_skia::Pixmap, x: u32, y: u32) -> Option<[u8; 3]> {
    pixmap.pixel(x, y).map(|p| [p.red(), p.green(), p.blue()])
}

#[test]
fn png_bytes_are_deterministic_and_seed_dependent() -> TestResult {
    let prompt = "two small red striped circles and a green star on a dotted blue background";
    let a = render_png(&parse_prompt(prompt, 1)?.scene)?;
    let b = render_png(&parse_prompt(prompt, 1)?.scene)?;
    let c = render_png(&parse_prompt(prompt, 2)?.scene)?;
    assert!(a.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert_eq!(hash(&a), hash(&b));
    assert_ne!(hash(&a), hash(&c));
    Ok(())
}

#[test]
fn colors_land_where_the_object_is() -> TestResult {
    let pixmap = render_pixmap(&one(Shape::Circle, Color::Red, Texture::Solid))?;
    assert_eq!(pixmap.width(), 224);
    assert_eq!(pixel(&pixmap, 112, 112), Some(Color::Red.rgb()));
    assert_eq!(pixel(&pixmap, 2, 2), Some(Color::White.rgb()));
    // The ring has a hole showing the background.
    let ring = render_pixmap(&one(Shape::Ring, Color::Blue, Texture::Solid))?;
    assert_eq!(pixel(&ring, 112, 112), Some(Color::White.rgb()));
    assert_eq!(pixel(&ring, 112, 112 - 35), Some(Color::Blue.rgb()));
    Ok(())
}

#[test]
fn every_shape_and_texture_draws_something_distinct() -> TestResult {
    let mut seen = std::collections::HashSet::new();
    for shape in Shape::ALL {
        for texture in Texture::ALL {
            let pixmap = render_pixmap(&one(shape, Color::Green, texture))?;
            let data = pixmap.data();
            let green = data
                .chunks_exact(4)
                .filter(|p| p[..3] == Color::Green.rgb())
                .count();
            assert!(green > 500, "{shape:?} {texture:?}: {green} green pixels");
            let contrast = data
                .chunks_exact(4)
                .filter(|p| p[..3] == Color::Green.contrast())
                .count();
            assert_eq!(
                contrast > 50,
                texture != Texture::Solid,
                "{shape:?} {texture:?}"
            );
            assert!(
                seen.insert(hash(data)),
                "{shape:?} {texture:?} duplicates another image"
            );
        }
    }
    Ok(())
}

#[test]
fn textured_background_is_drawn() -> TestResult {
    let mut scene = one(Shape::Circle, Color::Red, Texture::Solid);
    let plain = render_png(&scene)?;
    scene.background.texture = Texture::Stripes;
    let striped = render_png(&scene)?;
    assert_ne!(hash(&plain), hash(&striped));
    Ok(())
}

#[test]
fn masks_account_for_occlusion_and_sum_to_one() -> TestResult {
    let mut scene = one(Shape::Square, Color::Red, Texture::Solid);
    let mut front = scene.objects[0];
    front.shape = Shape::Circle;
    front.size = 0.2;
    scene.objects.push(front);
    let masks = object_masks(&scene)?;
    assert_eq!(masks.objects.len(), 2);
    let centre = 112 * 224 + 112;
    assert!(
        masks.objects[0][centre] < 1e-6,
        "square hidden under circle"
    );
    assert!((masks.objects[1][centre] - 1.0).abs() < 1e-6);
    let corner = 10 * 224 + 10;
    assert!((masks.background[corner] - 1.0).abs() < 1e-6);
    for i in 0..224 * 224 {
        let total = masks.objects[0][i] + masks.objects[1][i] + masks.background[i];
        assert!((total - 1.0).abs() < 1e-4, "pixel {i}: {total}");
    }
    // Anti-aliasing: some edge pixels are partial.
    assert!(masks.objects[1].iter().any(|&c| c > 0.05 && c < 0.95));
    Ok(())
}

#[test]
fn invalid_scenes_are_errors_not_panics() {
    let mut scene = one(Shape::Star, Color::Red, Texture::Solid);
    scene.objects[0].x = f32::INFINITY;
    assert!(render_png(&scene).is_err());
    assert!(object_masks(&scene).is_err());
    scene.objects[0].x = 0.5;
    scene.width = 100_000;
    assert!(render_png(&scene).is_err());
}

#[test]
fn non_square_canvas() -> TestResult {
    let parsed = maia_shapes_world::parse_prompt_on(
        "a large star on the right",
        0,
        maia_shapes_world::Canvas {
            width: 320,
            height: 96,
        },
    )?;
    let pixmap = render_pixmap(&parsed.scene)?;
    assert_eq!((pixmap.width(), pixmap.height()), (320, 96));
    Ok(())
}
