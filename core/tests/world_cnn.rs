//! The world CNN at the boundary its users touch: `train_or_load` on a cache directory,
//! the TorchScript file `tch::CModule::load` reads, and the sidecar describing it.
//!
//! Every test trains `WorldCnnConfig::tiny` (a few hundred 32×32 scenes, one epoch), which
//! takes seconds on two CPU cores.

use std::path::Path;

use maia_core::world_cnn::{
    OUTPUT_NAMES, OutputKind, SIDECAR_VERSION, Sidecar, TrainProgress, TrainedWorldModel,
    WorldCnnConfig, WorldCnnError, cached, cached_model_path, train_or_load, train_or_load_with,
};
use maia_shapes_world::dataset::scene_at_on;
use maia_shapes_world::{Canvas, Shape, render_rgba};
use tch::Tensor;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Renders `n` world scenes (224×224) as a uint8 `[n, 3, 224, 224]` tensor.
fn world_batch(n: usize, seed: u64) -> Result<Tensor, Box<dyn std::error::Error>> {
    let mut bytes = Vec::new();
    for index in 0..n {
        let scene = scene_at_on(index, seed, Canvas::default());
        bytes.extend(render_rgba(&scene)?);
    }
    Ok(Tensor::from_slice(&bytes)
        .view([n as i64, 224, 224, 4])
        .narrow(3, 0, 3)
        .permute([0, 3, 1, 2]))
}

/// Runs the exported module on preprocessed world scenes, returning its unpacked outputs.
fn run_module(
    cnn: &TrainedWorldModel,
    n: usize,
) -> Result<Vec<Tensor>, Box<dyn std::error::Error>> {
    let module = cnn.load_module()?;
    let xs = cnn.sidecar.preprocess(&world_batch(n, 99)?)?;
    let packed = tch::no_grad(|| module.forward_ts(&[xs]))?;
    assert_eq!(packed.size(), vec![n as i64, cnn.sidecar.packed_width]);
    Ok(cnn.sidecar.unpack(&packed)?)
}

#[test]
fn trains_exports_and_loads_with_named_outputs() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = WorldCnnConfig::tiny(11);
    let mut events = Vec::new();
    let cnn = train_or_load_with(dir.path(), &config, &mut |e| events.push(e.clone()))?;
    assert!(cnn.trained);
    assert_eq!(cnn.replaced, None);
    assert!(cnn.model_path.exists());
    assert_eq!(cnn.sidecar_path, Sidecar::path_for(&cnn.model_path));

    // Progress: rendering, every step with its loss, evaluation, export.
    let steps: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            TrainProgress::Step {
                step,
                total_steps,
                loss,
                ..
            } => Some((*step, *total_steps, *loss)),
            _ => None,
        })
        .collect();
    assert_eq!(steps.len(), config.train_images / config.batch_size);
    assert!(
        steps
            .iter()
            .all(|&(_, total, loss)| total == steps.len() && loss.is_finite())
    );
    assert!(matches!(
        events.first(),
        Some(TrainProgress::Rendering { .. })
    ));
    assert_eq!(events.last(), Some(&TrainProgress::Exporting));

    // The sidecar on disk is the one returned, and says what the module returns.
    let sidecar = Sidecar::read(&cnn.sidecar_path)?;
    assert_eq!(sidecar, cnn.sidecar);
    assert_eq!(sidecar.format_version, SIDECAR_VERSION);
    let names: Vec<&str> = sidecar.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, OUTPUT_NAMES);
    assert_eq!(sidecar.layers().count(), 4);
    assert_eq!(sidecar.input.size, config.input_size);
    assert_eq!(
        sidecar.training.config,
        maia_core::world_cnn::WorldModelConfig::from(&config)
    );
    let shape_head = sidecar.output("shape_logits").ok_or("no shape_logits")?;
    assert_eq!(shape_head.kind, OutputKind::Logits);
    assert_eq!(
        shape_head.classes.as_ref().map(Vec::len),
        Some(Shape::ALL.len())
    );
    assert_eq!(shape_head.units, Shape::ALL.len());
    let acc = cnn.accuracies;
    assert_eq!(acc.images, config.heldout_images);
    for value in [acc.shape, acc.color, acc.both] {
        assert!((0.0..=1.0).contains(&value), "{acc:?}");
    }

    // The module loads with tch and answers any batch size with the sidecar's shapes.
    for n in [1, 5] {
        let outputs = run_module(&cnn, n)?;
        assert_eq!(outputs.len(), sidecar.outputs.len());
        for (tensor, spec) in outputs.iter().zip(&sidecar.outputs) {
            let mut expected = vec![n as i64];
            expected.extend(&spec.shape);
            assert_eq!(tensor.size(), expected, "{}", spec.name);
            if spec.kind == OutputKind::FeatureMap {
                assert_eq!(spec.shape.first().map(|&c| c as usize), Some(spec.units));
                let min = tensor.min().double_value(&[]);
                assert!(min >= 0.0, "{} is post-ReLU but has {min}", spec.name);
            }
        }
    }
    // Unpacking checks its input and the output name.
    let outputs = run_module(&cnn, 2)?;
    let packed = Tensor::cat(
        &outputs.iter().map(|t| t.flatten(1, -1)).collect::<Vec<_>>(),
        1,
    );
    let logits = sidecar.unpack_one(&packed, "color_logits")?;
    assert!(logits.equal(&outputs[5]));
    assert!(sidecar.unpack_one(&packed, "conv9").is_err());
    assert!(sidecar.unpack(&packed.narrow(1, 0, 10)).is_err());
    let floats = Tensor::zeros([1, 3, 224, 224], (tch::Kind::Float, tch::Device::Cpu));
    let err = sidecar
        .preprocess(&floats)
        .err()
        .ok_or("preprocessed floats")?;
    assert!(err.to_string().contains("uint8"), "{err}");
    Ok(())
}

#[test]
fn same_seed_trains_identical_models_and_another_seed_does_not() -> TestResult {
    let (a, b, c) = (
        tempfile::tempdir()?,
        tempfile::tempdir()?,
        tempfile::tempdir()?,
    );
    let first = train_or_load(a.path(), WorldCnnConfig::tiny(5))?;
    let second = train_or_load(b.path(), WorldCnnConfig::tiny(5))?;
    let other = train_or_load(c.path(), WorldCnnConfig::tiny(6))?;
    let (x, y, z) = (
        run_module(&first, 4)?,
        run_module(&second, 4)?,
        run_module(&other, 4)?,
    );
    // libtorch's CPU kernels are deterministic for a fixed thread count: the two trainings
    // give bit-identical outputs, not merely close ones.
    for (p, q) in x.iter().zip(&y) {
        assert!(p.equal(q), "same seed, different outputs");
    }
    assert_eq!(first.sidecar.model_blake3, second.sidecar.model_blake3);
    assert_eq!(first.accuracies, second.accuracies);
    let logits = |v: &[Tensor]| v.get(4).map(Tensor::shallow_clone).ok_or("no logits");
    assert!(
        !logits(&x)?.equal(&logits(&z)?),
        "another seed gave the same model"
    );
    Ok(())
}

/// A pretrained backbone whose heads alone are then fitted (the spurious preset's
/// training): the planted phase changes the heads and nothing under them.
#[test]
fn a_head_only_phase_leaves_the_pretrained_backbone_as_it_was() -> TestResult {
    use maia_core::world_cnn::planted::PlantedFlaw;
    use maia_core::world_cnn::{Disentangle, Pretrain};
    let config = |epochs| WorldCnnConfig {
        train_images: 64,
        epochs,
        learning_rate: 1e-2,
        planted: Some(PlantedFlaw::Spurious),
        pretrain: Some(Pretrain {
            images: 128,
            epochs: 1,
            learning_rate: 1e-2,
            head_only: true,
            disentangle: Some(Disentangle {
                background_units: 2,
                invariance: 2.0,
            }),
        }),
        ..WorldCnnConfig::tiny(8)
    };
    let (a, b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let one = train_or_load(a.path(), config(1))?;
    let three = train_or_load(b.path(), config(3))?;
    let (x, y) = (run_module(&one, 4)?, run_module(&three, 4)?);
    for (layer, (p, q)) in ["conv1", "conv2", "conv3", "conv4"]
        .iter()
        .zip(x.iter().zip(&y))
    {
        assert!(p.equal(q), "{layer} changed while only the heads trained");
    }
    let logits = |v: &[Tensor]| v.get(4).map(Tensor::shallow_clone).ok_or("no logits");
    assert!(!logits(&x)?.equal(&logits(&y)?), "the heads did not train");
    let recorded = serde_json::to_value(&one.sidecar.training)?;
    assert_eq!(
        recorded["config"]["pretrain"]["head_only"], true,
        "{recorded}"
    );
    Ok(())
}

#[test]
fn second_call_is_a_cache_hit_that_does_not_retrain() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = WorldCnnConfig::tiny(21);
    let first = train_or_load(dir.path(), &config)?;
    let modified = std::fs::metadata(&first.model_path)?.modified()?;
    let mut events = 0;
    let second = train_or_load_with(dir.path(), &config, &mut |_| events += 1)?;
    assert!(!second.trained);
    assert_eq!(events, 0, "a cache hit reports no training progress");
    assert_eq!(second.model_path, first.model_path);
    assert_eq!(second.sidecar, first.sidecar);
    assert_eq!(std::fs::metadata(&second.model_path)?.modified()?, modified);
    assert_eq!(cached(dir.path(), &config).map(|c| c.trained), Some(false));
    // Another config is another entry.
    let other = WorldCnnConfig {
        epochs: 2,
        ..config
    };
    assert!(cached(dir.path(), &other).is_none());
    assert_ne!(cached_model_path(dir.path(), &other), first.model_path);
    // No temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    Ok(())
}

fn damage_and_reload(damage: impl Fn(&TrainedWorldModel) -> std::io::Result<()>) -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = WorldCnnConfig::tiny(31);
    let first = train_or_load(dir.path(), &config)?;
    damage(&first)?;
    assert!(cached(dir.path(), &config).is_none());
    let again = train_or_load(dir.path(), &config)?;
    assert!(again.trained, "a damaged entry must be retrained");
    assert!(again.replaced.is_some());
    // Retraining is deterministic, so the repaired entry equals the original.
    assert_eq!(again.sidecar.model_blake3, first.sidecar.model_blake3);
    assert!(again.load_module().is_ok());
    assert!(!train_or_load(dir.path(), &config)?.trained);
    Ok(())
}

#[test]
fn truncated_model_file_is_retrained() -> TestResult {
    damage_and_reload(|cnn| {
        let bytes = std::fs::read(&cnn.model_path)?;
        std::fs::write(&cnn.model_path, &bytes[..bytes.len() / 2])
    })
}

#[test]
fn garbage_sidecar_is_retrained() -> TestResult {
    damage_and_reload(|cnn| std::fs::write(&cnn.sidecar_path, b"{\"format\": \"maia-world"))
}

#[test]
fn missing_model_file_is_retrained() -> TestResult {
    damage_and_reload(|cnn| std::fs::remove_file(&cnn.model_path))
}

#[test]
fn unreadable_files_give_clear_errors() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("nothing.pt.json");
    let err = Sidecar::read(&path).err().ok_or("read a missing file")?;
    assert!(matches!(err, WorldCnnError::Io { .. }), "{err}");
    std::fs::write(
        &path,
        r#"{"format": "maia-world-cnn", "format_version": 99}"#,
    )?;
    let err = Sidecar::read(&path).err().ok_or("read a future version")?;
    let message = err.to_string();
    assert!(
        message.contains("format_version") && message.contains("delete it"),
        "{message}"
    );
    // A cache "directory" that is a file cannot be written: an error, not a panic.
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x")?;
    let err = train_or_load(&file, WorldCnnConfig::tiny(1))
        .err()
        .ok_or("trained into a file")?;
    assert!(matches!(err, WorldCnnError::Io { .. }), "{err}");
    // An invalid config is refused before any work.
    let bad = WorldCnnConfig {
        batch_size: 1,
        ..WorldCnnConfig::tiny(1)
    };
    let err = train_or_load(dir.path(), &bad)
        .err()
        .ok_or("accepted batch_size 1")?;
    assert!(err.to_string().contains("batch_size"), "{err}");
    Ok(())
}

#[test]
fn cache_layout_is_key_named() {
    let config = WorldCnnConfig::default();
    let path = cached_model_path(Path::new("/cache"), &config);
    assert_eq!(
        path,
        Path::new("/cache").join(format!("world-cnn-{}.pt", config.cache_key()))
    );
    assert_eq!(
        Sidecar::path_for(&path),
        Path::new("/cache").join(format!("world-cnn-{}.pt.json", config.cache_key()))
    );
}

/// The CI-sized gate on what the CNN learns: the default network on a sixth of its data
/// for a third of its epochs (3 000 scenes, four epochs; under a minute on two cores) must
/// beat chance (1 in 9 shapes, 1 in 12 colours) clearly on held-out scenes. The full
/// model's gate is `default_config_trains_accurately`.
#[test]
fn a_small_config_learns_shape_and_color() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = WorldCnnConfig {
        train_images: 3_000,
        heldout_images: 500,
        epochs: 4,
        ..WorldCnnConfig::default()
    };
    let cnn = train_or_load(dir.path(), &config)?;
    let acc = cnn.accuracies;
    println!(
        "small config, held-out ({} scenes): shape {:.1}%, color {:.1}%",
        acc.images,
        100.0 * acc.shape,
        100.0 * acc.color
    );
    assert!(
        acc.shape > SMALL_SHAPE_FLOOR && acc.color > SMALL_COLOR_FLOOR,
        "held-out accuracy below the floors (shape {SMALL_SHAPE_FLOOR}, color {SMALL_COLOR_FLOOR}): {acc:?}"
    );
    Ok(())
}

/// Held-out accuracy floors of the small config. Measured here (seed 1, 500 held-out
/// scenes): shape 0.222, color 0.656; the floors leave room for another machine's float
/// rounding while staying far above chance (0.111 and 0.083).
const SMALL_SHAPE_FLOOR: f64 = 0.17;
const SMALL_COLOR_FLOOR: f64 = 0.5;

/// Trains the default config (about three minutes on two cores):
/// `cargo test -p maia-core --release --test all -- world_cnn:: --ignored --nocapture`.
/// Prints held-out accuracy and wall time.
#[test]
#[ignore = "trains the full default model (minutes)"]
fn default_config_trains_accurately() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = WorldCnnConfig::default();
    let started = std::time::Instant::now();
    let mut phase = String::new();
    let cnn = train_or_load_with(dir.path(), &config, &mut |event| {
        let name = match event {
            TrainProgress::Rendering { .. } => "rendering".to_string(),
            TrainProgress::Step { epoch, .. } => format!("epoch {epoch}"),
            TrainProgress::Evaluating => "evaluating".to_string(),
            TrainProgress::Exporting => "exporting".to_string(),
        };
        if name != phase {
            println!("{:>7.1}s {name}", started.elapsed().as_secs_f64());
            phase = name;
        }
    })?;
    let acc = cnn.accuracies;
    println!(
        "held-out ({} scenes): shape {:.1}%, color {:.1}%, both {:.1}%; {:.1}s; final loss {:.3}",
        acc.images,
        100.0 * acc.shape,
        100.0 * acc.color,
        100.0 * acc.both,
        started.elapsed().as_secs_f64(),
        cnn.sidecar.training.final_loss,
    );
    assert!(acc.shape > 0.8 && acc.color > 0.9, "{acc:?}");
    let hit = std::time::Instant::now();
    assert!(!train_or_load(dir.path(), &config)?.trained);
    println!(
        "cache hit in {:.2} ms",
        hit.elapsed().as_secs_f64() * 1000.0
    );
    Ok(())
}

#[test]
fn a_world_vit_exports_token_layers_that_load_as_patch_grid_units() -> TestResult {
    use maia_core::target::TargetModel;
    use maia_core::target::torch::{LayerLayout, TorchModel};
    use maia_core::world_cnn::{WorldModelConfig, WorldVitConfig};

    let dir = tempfile::tempdir()?;
    let config = WorldVitConfig::tiny(7);
    let vit = train_or_load(dir.path(), &config)?;
    assert!(vit.trained);
    assert!(
        vit.model_path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("world-vit-")),
        "{}",
        vit.model_path.display()
    );
    let sidecar = &vit.sidecar;
    assert_eq!(sidecar.training.config, WorldModelConfig::from(&config));
    let names: Vec<&str> = sidecar.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["block1", "block2", "shape_logits", "color_logits"]);
    let grid = config.grid();
    let tokens = 1 + i64::from(grid * grid);
    for block in sidecar.layers() {
        assert_eq!(block.kind, OutputKind::Tokens);
        assert_eq!(block.shape, vec![tokens, config.width]);
        assert_eq!(block.units, config.width as usize);
        assert_eq!(
            block.layout,
            Some(LayerLayout::Tokens {
                prefix: 1,
                grid: [grid, grid]
            })
        );
    }
    // The traced module answers any batch size (no batch size was baked in).
    for n in [1, 3] {
        let outputs = run_module(&vit, n)?;
        assert_eq!(outputs[1].size(), vec![n as i64, tokens, config.width]);
    }
    // A cache hit the second time, under its own key.
    assert!(!train_or_load(dir.path(), &config)?.trained);
    assert!(cached(dir.path(), WorldCnnConfig::tiny(7)).is_none());

    // As a target: declared (not inferred) token layers, and a class-token layer each.
    let model = TorchModel::load(&vit.model_path, tch::Device::Cpu, false)?;
    let info = model.info();
    let block2 = info.layer("block2").ok_or("no block2")?;
    let layout = block2.tokens.ok_or("block2 is not a token layer")?;
    assert_eq!(
        (layout.prefix, layout.height, layout.width),
        (1, grid, grid)
    );
    assert!(!layout.inferred, "the sidecar declares the layout");
    assert_eq!((block2.map_width, block2.map_height), (grid, grid));
    assert!(info.layer("block2:cls").is_some());

    // Unit block2:3's map is channel 3 of block2's patch tokens, in grid order; the class
    // token unit is token 0 — computed here from the raw module, as any user would.
    let batch = world_batch(2, 99)?;
    let pngs: Vec<Vec<u8>> = (0..2)
        .map(|index| {
            let scene = scene_at_on(index, 99, Canvas::default());
            maia_shapes_world::render_png(&scene)
        })
        .collect::<Result<_, _>>()?;
    let images: Vec<maia_plugin_sdk::Image> = pngs
        .iter()
        .enumerate()
        .map(|(k, png)| maia_plugin_sdk::Image::new(png.clone(), format!("img_{k}")))
        .collect();
    let refs: Vec<&maia_plugin_sdk::Image> = images.iter().collect();
    let maps = model.activations(&refs, "block2", &[3])?;
    let cls = model.activations(&refs, "block2:cls", &[3])?;
    let module = vit.load_module()?;
    let xs = sidecar.preprocess(&batch)?;
    let packed = tch::no_grad(|| module.forward_ts(&[xs]))?;
    let raw = sidecar.unpack_one(&packed, "block2")?;
    for image in 0..2 {
        let patches: Vec<f32> = Vec::<f32>::try_from(
            raw.get(image)
                .narrow(0, 1, tokens - 1)
                .select(1, 3)
                .contiguous(),
        )?;
        let map = &maps[image as usize][0];
        assert_eq!((map.width, map.height), (grid, grid));
        assert_eq!(map.values.len(), patches.len());
        for (got, want) in map.values.iter().zip(&patches) {
            assert!((got - want).abs() < 1e-4, "{got} vs {want}");
        }
        let token0 = raw.get(image).get(0).get(3).double_value(&[]) as f32;
        assert!((cls[image as usize][0].max() - token0).abs() < 1e-4);
    }
    Ok(())
}
