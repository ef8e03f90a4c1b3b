//! The exemplar pass: the top-k of every unit equals a brute-force ranking, a synthetic
//! unit's exemplars satisfy its concept, the cache answers a second request and notices a
//! changed dataset, bad folders and layers get clear errors, and files that cannot be read
//! or decoded are skipped and counted while images of any mode are taken.

use maia_core::exemplars::{Dataset, ExemplarError, exemplars};
use maia_core::target::torch::TorchModel;
use maia_core::target::{TargetModel, open_target};
use maia_plugin_sdk::Image;
use maia_shapes_world::{Concept, Scene};

fn dataset(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    maia_shapes_world::write_dataset(dir.path(), n, 11).unwrap_or_else(|e| panic!("{e}"));
    dir
}

fn scene(dir: &std::path::Path, file: &str) -> Scene {
    let index = std::fs::read_to_string(dir.join("scenes.jsonl")).unwrap_or_else(|e| panic!("{e}"));
    let line = index
        .lines()
        .find(|l| l.contains(&format!("\"{file}\"")))
        .unwrap_or_else(|| panic!("{file} not indexed"));
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}"));
    serde_json::from_value(v["scene"].clone()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn synthetic_exemplars_show_the_concept_and_match_brute_force() {
    let data = dataset(48);
    let model = open_target("synthetic:(circle|star) & !red").unwrap_or_else(|e| panic!("{e}"));
    let (found, cached) = exemplars(
        model.as_ref(),
        "synthetic",
        data.path(),
        5,
        None,
        &mut |_, _| {},
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(!cached);
    assert_eq!(found.images, 48);
    let concept = Concept::parse("(circle|star) & !red").unwrap_or_else(|e| panic!("{e}"));
    for e in &found.units[0] {
        assert!(
            concept.present_in(&scene(data.path(), &e.file)),
            "{} does not show the concept",
            e.file
        );
    }
    // Brute force: every image alone, ranked.
    let set = Dataset::open(data.path()).unwrap_or_else(|e| panic!("{e}"));
    let mut all: Vec<(f32, usize)> = (0..set.len())
        .map(|i| {
            let img = set.image(i).unwrap_or_else(|e| panic!("{e}"));
            (
                model
                    .activations(&[&img], "synthetic", &[0])
                    .unwrap_or_else(|e| panic!("{e}"))[0][0]
                    .max(),
                i,
            )
        })
        .collect();
    all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let expected: Vec<usize> = all.iter().take(5).map(|(_, i)| *i).collect();
    let got: Vec<usize> = found.units[0].iter().map(|e| e.index).collect();
    assert_eq!(got, expected);
    let masked = found
        .masked_images(model.as_ref(), 0)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(masked.len(), 5);
    assert!(
        masked
            .iter()
            .all(|(_, img)| img.png.starts_with(b"\x89PNG"))
    );
}

#[test]
fn the_cache_answers_again_and_notices_changed_data() {
    let data = dataset(12);
    let cache = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let model = open_target("synthetic:red").unwrap_or_else(|e| panic!("{e}"));
    let run = |m: &dyn TargetModel| {
        exemplars(
            m,
            "synthetic",
            data.path(),
            3,
            Some(cache.path()),
            &mut |_, _| {},
        )
        .unwrap_or_else(|e| panic!("{e}"))
    };
    let (first, cached) = run(model.as_ref());
    assert!(!cached);
    let (second, cached) = run(model.as_ref());
    assert!(cached, "the second request is served from the cache");
    assert_eq!(first, second);
    // Another unit definition is another key.
    let other = open_target("synthetic:blue").unwrap_or_else(|e| panic!("{e}"));
    assert!(!run(other.as_ref()).1);
    // Changed content is another key, even under the same file name.
    let replacement =
        std::fs::read(data.path().join("00001.png")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(data.path().join("00000.png"), replacement).unwrap_or_else(|e| panic!("{e}"));
    assert!(!run(model.as_ref()).1, "a changed dataset is recomputed");
    // A corrupt cache file is recomputed, not fatal.
    for entry in std::fs::read_dir(cache.path())
        .unwrap_or_else(|e| panic!("{e}"))
        .flatten()
    {
        std::fs::write(entry.path(), b"{torn").unwrap_or_else(|e| panic!("{e}"));
    }
    assert!(!run(model.as_ref()).1);
}

#[test]
fn bad_folders_and_layers_are_named() {
    let empty = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let model = open_target("synthetic:red").unwrap_or_else(|e| panic!("{e}"));
    let msg = exemplars(
        model.as_ref(),
        "synthetic",
        empty.path(),
        3,
        None,
        &mut |_, _| {},
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(
        msg.contains("no images found") && msg.contains("maia world dataset"),
        "{msg}"
    );
    let data = dataset(3);
    let msg = exemplars(
        model.as_ref(),
        "conv9",
        data.path(),
        3,
        None,
        &mut |_, _| {},
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(
        msg.contains("no layer `conv9`") && msg.contains("synthetic"),
        "{msg}"
    );
    let msg = exemplars(
        model.as_ref(),
        "synthetic",
        &data.path().join("missing"),
        3,
        None,
        &mut |_, _| {},
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(msg.contains("missing"), "{msg}");
}

/// A tiny world CNN (trained in seconds, once per test process) as a TorchModel.
fn world_cnn(cache: &std::path::Path) -> TorchModel {
    let cnn =
        maia_core::world_cnn::train_or_load(cache, maia_core::world_cnn::WorldCnnConfig::tiny(5))
            .unwrap_or_else(|e| panic!("{e}"));
    TorchModel::load(&cnn.model_path, tch::Device::Cpu, false).unwrap_or_else(|e| panic!("{e}"))
}

fn encode(image: image::DynamicImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap_or_else(|e| panic!("{e}"));
    out.into_inner()
}

#[test]
fn broken_files_are_skipped_and_counted_and_odd_images_are_taken() {
    let cache = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let model = world_cnn(cache.path());
    let data = dataset(40);
    let dir = data.path();
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{e}"));
    let original = read("00004.png");
    // Broken: not a PNG at all, a truncated PNG, a link to nothing. (A folder named like
    // an image is not a file of the dataset at all.)
    std::fs::write(dir.join("00003.png"), b"this is not an image")
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("00005.png"), &read("00005.png")[..500])
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::remove_file(dir.join("00007.png")).unwrap_or_else(|e| panic!("{e}"));
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.join("gone.png"), dir.join("00007.png"))
        .unwrap_or_else(|e| panic!("{e}"));
    #[cfg(not(unix))]
    std::fs::write(dir.join("00007.png"), b"").unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir(dir.join("folder.png")).unwrap_or_else(|e| panic!("{e}"));
    // Odd but fine: gray, gray+alpha, 16-bit, and odd sizes.
    let rgb = image::load_from_memory(&original).unwrap_or_else(|e| panic!("{e}"));
    let odd = [
        (
            "00010.png",
            encode(image::DynamicImage::ImageLuma8(rgb.to_luma8())),
        ),
        (
            "00011.png",
            encode(image::DynamicImage::ImageLumaA8(rgb.to_luma_alpha8())),
        ),
        (
            "00012.png",
            encode(image::DynamicImage::ImageRgb16(rgb.to_rgb16())),
        ),
        (
            "00013.png",
            encode(rgb.resize_exact(333, 97, image::imageops::FilterType::Triangle)),
        ),
        (
            "00014.png",
            encode(rgb.resize_exact(20, 30, image::imageops::FilterType::Triangle)),
        ),
    ];
    for (name, png) in &odd {
        std::fs::write(dir.join(name), png).unwrap_or_else(|e| panic!("{e}"));
    }
    let mut reports = Vec::new();
    let (found, cached) = exemplars(&model, "conv2", dir, 40, None, &mut |done, total| {
        reports.push((done, total))
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(!cached);
    assert_eq!((found.images, found.skipped), (40, 3));
    let skipped: Vec<&str> = found
        .skipped_files
        .iter()
        .map(|s| s.file.as_str())
        .collect();
    assert_eq!(skipped, ["00003.png", "00005.png", "00007.png"]);
    assert!(
        found.skipped_files[0].reason.contains("not an image"),
        "{:?}",
        found.skipped_files
    );
    assert_eq!(
        reports.last(),
        Some(&(40, 40)),
        "progress counts skipped files too"
    );
    // With k = 40, every usable image is ranked for every unit, and no broken one.
    for list in &found.units {
        assert_eq!(list.len(), 37);
        assert!(list.iter().all(|e| !skipped.contains(&e.file.as_str())));
    }
    // The ranking equals each image's activation computed alone.
    let set = Dataset::open(dir).unwrap_or_else(|e| panic!("{e}"));
    for e in found.units[3]
        .iter()
        .take(8)
        .chain(found.units[3].iter().rev().take(3))
    {
        let image = set.image(e.index).unwrap_or_else(|err| panic!("{err}"));
        let maps = model
            .activations(&[&image], "conv2", &[3])
            .unwrap_or_else(|err| panic!("{err}"));
        assert!(
            (maps[0][0].max() - e.activation).abs() < 1e-5,
            "{}: {} vs {}",
            e.file,
            maps[0][0].max(),
            e.activation
        );
    }
    // The 16-bit copy of 00004 has the same activations as 00004 itself.
    let rank = |file: &str| -> Vec<f32> {
        found
            .units
            .iter()
            .map(|list| {
                list.iter()
                    .find(|e| e.file == file)
                    .map_or(f32::NAN, |e| e.activation)
            })
            .collect()
    };
    assert_eq!(rank("00012.png"), rank("00004.png"));

    // A model that can take none of the images says so, with the first reason.
    let no_scenes = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for (name, png) in &odd {
        std::fs::write(no_scenes.path().join(name), png).unwrap_or_else(|e| panic!("{e}"));
    }
    let synthetic = open_target("synthetic:red").unwrap_or_else(|e| panic!("{e}"));
    match exemplars(
        synthetic.as_ref(),
        "synthetic",
        no_scenes.path(),
        3,
        None,
        &mut |_, _| {},
    ) {
        Err(e @ ExemplarError::NothingUsable { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("none of the 5 images")
                    && msg.contains("00010.png")
                    && msg.contains("no scene graph"),
                "{msg}"
            );
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok((found, _)) => panic!("expected an error, got {} exemplars", found.units.len()),
    }
}

#[test]
fn the_pass_uses_the_bulk_api_and_matches_maps_for_every_layer() {
    let cache = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let model = world_cnn(cache.path());
    let data = dataset(70);
    for layer in ["conv1", "conv4", "shape_logits"] {
        let (found, _) = exemplars(&model, layer, data.path(), 4, None, &mut |_, _| {})
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(found.skipped, 0);
        let set = Dataset::open(data.path()).unwrap_or_else(|e| panic!("{e}"));
        let images: Vec<Image> = (0..set.len())
            .map(|i| set.image(i).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        let refs: Vec<&Image> = images.iter().collect();
        let units: Vec<usize> = (0..found.units.len()).collect();
        let maps = model
            .activations(&refs, layer, &units)
            .unwrap_or_else(|e| panic!("{e}"));
        for (u, list) in found.units.iter().enumerate() {
            let mut all: Vec<(f32, usize)> = maps
                .iter()
                .enumerate()
                .map(|(i, m)| (m[u].max(), i))
                .collect();
            all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let want: Vec<usize> = all.iter().take(4).map(|(_, i)| *i).collect();
            let got: Vec<usize> = list.iter().map(|e| e.index).collect();
            assert_eq!(got, want, "{layer}:{u}");
        }
    }
}
