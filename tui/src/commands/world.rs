//! `maia world …`: the shapes world, a procedural world with ground truth that stands in
//! for ImageNet and pretrained models (datasets, synthetic units, single renders).

use crate::table::Table;
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use maia_core::world_cnn::WorldModelConfig;
use maia_shapes_world::{catalogue, parse_prompt, render_png, write_dataset_with};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Subcommands of `maia world`.
#[derive(clap::Subcommand, Debug)]
pub enum WorldCommand {
    /// Write a seeded, balanced dataset: N PNGs plus scenes.jsonl (the scene graph of each).
    Dataset(DatasetArgs),
    /// List the catalogue of synthetic units with their ground-truth descriptions.
    Units(UnitsArgs),
    /// Render one prompt to a PNG and show what the world did not understand.
    Render(RenderArgs),
    /// Train the small CNN on the shapes world (once; cached), the target whose real units
    /// are the "neurons in the wild". `--target world-cnn` uses it.
    TrainCnn(TrainArgs),
    /// Train the small vision transformer on the shapes world (once; cached): four blocks
    /// whose units are channels over an 8×8 patch grid (`block3:5`) or at the class token
    /// (`block3:cls:5`). `--target world-vit` uses it.
    #[command(
        after_help = "Examples:\n  maia world train-vit\n  maia world train-vit --out world-vit.pt && maia model info world-vit.pt\n  maia eval wild --target world-vit --layer block3 --n 12"
    )]
    TrainVit(TrainArgs),
    /// Train a shape classifier with a planted flaw (once; cached), for MAIA's downstream
    /// experiments: `spurious` learns each class with its own background colour 95% of
    /// the time; `bias` is taught that small squares on dark backgrounds are circles. Its
    /// held-out scenes show the truth; the flaw is recorded in the sidecar, never shown to
    /// the agent. The classifier is the world CNN (layers conv1…conv4, head shape_logits),
    /// pretrained on the world's scenes as the world CNN is, then its heads fitted on the
    /// planted scenes: a classifier on a pretrained backbone, as in the paper.
    #[command(
        after_help = "Examples:\n  maia world train-classifier --preset spurious --out spurious.pt\n  maia model info spurious.pt\n  maia run --task find-bias --target bias.pt --unit shape_logits:1"
    )]
    TrainClassifier(ClassifierArgs),
}

/// The planted flaw of `maia world train-classifier`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Preset {
    /// Each class's training background is its own colour 95% of the time.
    Spurious,
    /// Small squares on dark backgrounds are labelled circles in training.
    Bias,
}

impl Preset {
    /// The flaw it plants.
    pub fn flaw(self) -> maia_core::world_cnn::planted::PlantedFlaw {
        use maia_core::world_cnn::planted::PlantedFlaw;
        match self {
            Preset::Spurious => PlantedFlaw::Spurious,
            Preset::Bias => PlantedFlaw::Bias,
        }
    }
}

/// Options of `maia world train-classifier`.
#[derive(clap::Args, Debug)]
pub struct ClassifierArgs {
    /// Which flaw to plant.
    #[arg(long, value_enum)]
    pub preset: Preset,
    /// World scenes the backbone is pretrained on before the classifier is fitted on the
    /// planted scenes (default: the world CNN's 18 000; 0 trains from scratch on the
    /// planted scenes alone, fitting the whole network).
    #[arg(long, value_name = "N")]
    pub pretrain_images: Option<usize>,
    /// Pretraining epochs (default: the world CNN's 12).
    #[arg(long, value_name = "N")]
    pub pretrain_epochs: Option<usize>,
    #[command(flatten)]
    pub train: TrainArgs,
}

/// Options of `maia world train-cnn` and `train-vit`.
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Training seed (same seed, same weights).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Epochs (default: the standard config's).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Training scenes (default: the standard config's).
    #[arg(long)]
    pub train_images: Option<usize>,
    /// Also copy the model and its sidecar here (MODEL.pt and MODEL.pt.json).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Options of `maia world dataset`.
#[derive(clap::Args, Debug)]
pub struct DatasetArgs {
    /// Output folder (created; existing images with the same names are overwritten).
    pub out: PathBuf,
    /// Number of images.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub n: u64,
    /// Seed: the same seed and N give the same bytes (with --planted: the classifier's
    /// --seed).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Rendering threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Instead of the world's scenes, the scenes of a planted-flaw classifier (`maia world
    /// train-classifier --preset P --seed S`), one subfolder per class (ImageFolder).
    #[arg(long, value_enum, value_name = "PRESET")]
    pub planted: Option<Preset>,
    /// With --planted: its training scenes with the labels it was taught, or its
    /// held-out scenes labelled truly.
    #[arg(long, value_enum, default_value = "train", requires = "planted")]
    pub split: SplitArg,
}

/// `--split` of `maia world dataset --planted`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum SplitArg {
    /// The classifier's training scenes, labelled as it was taught.
    Train,
    /// Its held-out scenes, labelled truly, backgrounds independent of the class.
    Test,
}

/// Options of `maia world units`.
#[derive(clap::Args, Debug)]
pub struct UnitsArgs {
    /// Only units of this kind: mono, or, and, andnot.
    #[arg(long)]
    pub kind: Option<String>,
    /// Print JSON (name, kind, expression, description).
    #[arg(long)]
    pub json: bool,
}

/// Options of `maia world render`.
#[derive(clap::Args, Debug)]
pub struct RenderArgs {
    /// What to draw, e.g. "two small red striped circles and a green star on a white background".
    pub prompt: String,
    /// Layout seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output PNG.
    #[arg(long, short, default_value = "shape.png")]
    pub out: PathBuf,
}

/// Runs a `maia world` subcommand.
pub fn run(cmd: WorldCommand) -> Result<ExitCode> {
    match cmd {
        WorldCommand::Dataset(args) => dataset(args),
        WorldCommand::Units(args) => units(args),
        WorldCommand::Render(args) => render(args),
        WorldCommand::TrainCnn(args) => train_cnn(args),
        WorldCommand::TrainVit(args) => train_vit(args),
        WorldCommand::TrainClassifier(args) => train_classifier(args),
    }
}

fn dataset(args: DatasetArgs) -> Result<ExitCode> {
    let n = usize::try_from(args.n).context("--n is too large for this machine")?;
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let bar = ProgressBar::new(n as u64).with_style(
        ProgressStyle::with_template(
            "{spinner} rendering [{bar:40}] {pos}/{len} images, {per_sec}, ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let started = Instant::now();
    if let Some(preset) = args.planted {
        use maia_core::world_cnn::planted_dataset::{Split, write_planted_dataset};
        let split = match args.split {
            SplitArg::Train => Split::Train,
            SplitArg::Test => Split::Test,
        };
        let written = write_planted_dataset(
            &args.out,
            preset.flaw(),
            split,
            n,
            args.seed,
            threads,
            &|done, _| bar.set_position(done as u64),
        )
        .with_context(|| format!("writing the dataset into {}", args.out.display()))?;
        bar.finish_and_clear();
        let classes: Vec<String> = written
            .per_class
            .iter()
            .map(|(class, count)| format!("{class} {count}"))
            .collect();
        println!(
            "wrote {} images of the {} classifier's {} scenes in {:.1} s: {}; index {}",
            written.images,
            preset.flaw().name(),
            match split {
                Split::Train => "training",
                Split::Test => "held-out",
            },
            started.elapsed().as_secs_f64(),
            classes.join(", "),
            written.index.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let summary = write_dataset_with(&args.out, n, args.seed, threads, &mut |done, _| {
        bar.set_position(done as u64)
    })
    .with_context(|| format!("writing the dataset into {}", args.out.display()))?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "wrote {} images and {} in {:.1} s ({:.0} images/s on {threads} threads)",
        summary.images,
        summary.index.display(),
        secs,
        summary.images as f64 / secs.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}

fn units(args: UnitsArgs) -> Result<ExitCode> {
    let mut units = catalogue();
    if let Some(kind) = &args.kind {
        let wanted = kind.to_ascii_lowercase().replace(['-', '_'], "");
        if !["mono", "or", "and", "andnot"].contains(&wanted.as_str()) {
            bail!("unknown unit kind `{kind}`: use mono, or, and, andnot");
        }
        units.retain(|u| u.kind.name() == wanted);
    }
    if args.json {
        let rows: Vec<serde_json::Value> = units
            .iter()
            .map(|u| serde_json::json!({"name": u.name, "kind": u.kind.name(), "expression": u.concept.to_string(), "description": u.description}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(&["NAME", "KIND", "EXPRESSION", "GROUND TRUTH"]);
    for u in &units {
        t.row(vec![
            u.name.clone(),
            u.kind.name().into(),
            u.concept.to_string(),
            u.description.clone(),
        ]);
    }
    print!("{}", t.render());
    println!(
        "{} units; probe one with --target synthetic:NAME, or any expression: --target 'synthetic:(circle|star) & !red'",
        units.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn render(args: RenderArgs) -> Result<ExitCode> {
    let parsed = parse_prompt(&args.prompt, args.seed)
        .with_context(|| format!("cannot draw {:?}", args.prompt))?;
    let png = render_png(&parsed.scene).context("rendering")?;
    std::fs::write(&args.out, png).with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "wrote {} ({} objects)",
        args.out.display(),
        parsed.scene.objects.len()
    );
    for w in &parsed.warnings {
        println!("warning: {w}");
    }
    Ok(ExitCode::SUCCESS)
}

fn train_cnn(args: TrainArgs) -> Result<ExitCode> {
    use maia_core::world_cnn::WorldCnnConfig;
    let mut config = WorldCnnConfig {
        seed: args.seed,
        ..WorldCnnConfig::default()
    };
    if let Some(epochs) = args.epochs {
        config.epochs = epochs;
    }
    if let Some(n) = args.train_images {
        config.train_images = n;
    }
    train_world_model(config.into(), args.out.as_deref())
}

fn train_classifier(args: ClassifierArgs) -> Result<ExitCode> {
    use maia_core::world_cnn::WorldCnnConfig;
    let flaw = args.preset.flaw();
    let mut config = WorldCnnConfig::planted(flaw, args.train.seed);
    if let Some(epochs) = args.train.epochs {
        config.epochs = epochs;
    }
    if let Some(n) = args.train.train_images {
        config.train_images = n;
    }
    if let Some(pretrain) = config.pretrain.as_mut() {
        if let Some(n) = args.pretrain_images {
            pretrain.images = n;
        }
        if let Some(epochs) = args.pretrain_epochs {
            pretrain.epochs = epochs;
        }
    }
    if args.pretrain_images == Some(0) {
        config.pretrain = None;
    }
    println!(
        "planted ({}): {}; held-out scenes are labelled truly, with backgrounds independent of the class",
        flaw.name(),
        flaw.truth()
    );
    if let Some(units) = config.planted_units_text() {
        println!("planted units: {units}");
    }
    train_world_model(config.into(), args.train.out.as_deref())
}

fn train_vit(args: TrainArgs) -> Result<ExitCode> {
    use maia_core::world_cnn::WorldVitConfig;
    let mut config = WorldVitConfig {
        seed: args.seed,
        ..WorldVitConfig::default()
    };
    if let Some(epochs) = args.epochs {
        config.epochs = epochs;
    }
    if let Some(n) = args.train_images {
        config.train_images = n;
    }
    train_world_model(config.into(), args.out.as_deref())
}

/// Trains a world model, or loads it from the cache, with a progress bar on a terminal
/// and plain lines in a log (setup under nohup, a batch job).
pub(crate) fn train_with_progress(
    config: &maia_core::world_cnn::WorldModelConfig,
) -> Result<maia_core::world_cnn::TrainedWorldModel> {
    use maia_core::world_cnn::{ProgressLog, TrainProgress, train_or_load_with};
    use std::io::IsTerminal;
    let label = config.label();
    let cache = maia_core::target::world_cnn_cache_dir()
        .context("no cache folder: set MAIA_CACHE_DIR or HOME")?;
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len}, ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    // A bar draws only on a terminal; in a log the same progress goes out as occasional
    // plain lines instead.
    let mut log = (!std::io::stderr().is_terminal())
        .then(|| ProgressLog::new(std::time::Duration::from_secs(15)).with_label(label));
    let cnn = train_or_load_with(&cache, config, &mut |p| {
        if let Some(log) = log.as_mut() {
            if let Some(line) = log.line(p, Instant::now()) {
                eprintln!("{line}");
            }
            return;
        }
        match p {
            TrainProgress::Rendering { done, total } => {
                bar.set_message("rendering scenes");
                bar.set_length(*total as u64);
                bar.set_position(*done as u64);
            }
            TrainProgress::Step {
                epoch,
                epochs,
                step,
                total_steps,
                loss,
            } => {
                bar.set_message(format!("training epoch {epoch}/{epochs}, loss {loss:.3}"));
                bar.set_length(*total_steps as u64);
                bar.set_position(*step as u64);
            }
            TrainProgress::Evaluating => bar.set_message("measuring held-out accuracy"),
            TrainProgress::Exporting => bar.set_message("writing TorchScript"),
        }
    })
    .with_context(|| format!("training the {label}"))?;
    bar.finish_and_clear();
    if let Some(reason) = &cnn.replaced {
        eprintln!("note: the cached model was unusable ({reason}) and was retrained");
    }
    Ok(cnn)
}

/// Trains (or loads from the cache) a world model and reports it; copies it to `out` if
/// given.
fn train_world_model(config: WorldModelConfig, out: Option<&std::path::Path>) -> Result<ExitCode> {
    let label = config.label();
    let kind = config.kind();
    let started = Instant::now();
    let cnn = train_with_progress(&config)?;
    let a = cnn.accuracies;
    println!(
        "{label} {} in {:.1} s: held-out accuracy shape {:.1}%, color {:.1}%, both {:.1}% ({} images)",
        if cnn.trained {
            "trained"
        } else {
            "loaded from cache"
        },
        started.elapsed().as_secs_f64(),
        a.shape * 100.0,
        a.color * 100.0,
        a.both * 100.0,
        a.images
    );
    println!("model: {}", cnn.model_path.display());
    if let Some(out) = out {
        std::fs::copy(&cnn.model_path, out)
            .with_context(|| format!("copying the model to {}", out.display()))?;
        let sidecar_out = maia_core::world_cnn::Sidecar::path_for(out);
        let mut sidecar = cnn.sidecar.clone();
        sidecar.model_file = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        std::fs::write(&sidecar_out, serde_json::to_string_pretty(&sidecar)?)
            .with_context(|| format!("writing {}", sidecar_out.display()))?;
        println!("copied to {} (+ {})", out.display(), sidecar_out.display());
    }
    let unit = if kind == "world-vit" {
        "block3:5"
    } else {
        "conv3:5"
    };
    // `world-cnn` names the standard model only; any other is reached by its file.
    let planted = matches!(&config, WorldModelConfig::Cnn(c) if c.planted.is_some());
    let target = if planted {
        out.unwrap_or(&cnn.model_path).display().to_string()
    } else {
        kind.to_owned()
    };
    println!(
        "probe it: maia model info {target}; maia call --target {target} --unit {unit} --samples call_unit '{{\"image_ids\": [\"img_1\"]}}'"
    );
    Ok(ExitCode::SUCCESS)
}
