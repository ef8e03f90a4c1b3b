//! `maia sae train`: a TopK sparse autoencoder on a layer's activations, in SAELens' layout.

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use maia_core::sae_train::{SaeProgress, SaeTrainConfig, train_sae};
use maia_core::target::{TorchOptions, open_target_with};
use std::path::PathBuf;
use std::process::ExitCode;

/// Subcommands of `maia sae`.
#[derive(clap::Subcommand, Debug)]
pub enum SaeCommand {
    /// Train a TopK SAE on a layer's activations over an image folder, written in SAELens'
    /// layout (cfg.json, sae_weights.safetensors) for --sae DIR.
    #[command(
        after_help = "Every spatial position (or token) of the layer on every image is a sample; the last 1/20 of the images are held out for the quality figures (fraction of variance unexplained, L0, dead latents). An interrupted training resumes from the checkpoint in --out when run again with the same settings.\n\nExamples:\n  maia sae train --model world-cnn --layer conv3 --data shapes-data --latents 4096 --k 32 --out sae-conv3\n  maia run --target world-cnn --sae sae-conv3 --unit conv3:sae:17 --data shapes-data"
    )]
    Train(TrainArgs),
}

/// Options of `maia sae train`.
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// The model: MODEL.pt, torch:FILE, world-cnn, world-vit, remote:ADDR, ….
    #[arg(long)]
    pub model: String,
    /// The layer whose activations the SAE encodes.
    #[arg(long)]
    pub layer: String,
    /// Images: a folder, a list file or tar shards.
    #[arg(long)]
    pub data: PathBuf,
    /// Number of latents.
    #[arg(long, default_value_t = 4096)]
    pub latents: i64,
    /// Active latents per sample (TopK).
    #[arg(long, default_value_t = 32)]
    pub k: i64,
    /// Passes over the samples.
    #[arg(long, default_value_t = 8)]
    pub epochs: usize,
    /// Samples per optimiser step.
    #[arg(long, default_value_t = 4096)]
    pub batch_size: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Seed of initialisation, sampling and batch order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder (created).
    #[arg(long)]
    pub out: PathBuf,
    /// Where the model runs and the SAE trains: cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    pub device: String,
}

/// Runs a `maia sae` subcommand.
pub fn run(cmd: SaeCommand) -> Result<ExitCode> {
    match cmd {
        SaeCommand::Train(args) => train(args),
    }
}

fn train(args: TrainArgs) -> Result<ExitCode> {
    if args.k < 1 || args.k > args.latents {
        bail!("--k {} must be in 1..={} (--latents)", args.k, args.latents);
    }
    let spec = if std::path::Path::new(&args.model).is_file() {
        format!("torch:{}", args.model)
    } else {
        args.model.clone()
    };
    let model = open_target_with(
        &spec,
        &TorchOptions {
            device: args.device.clone(),
            ..TorchOptions::default()
        },
    )
    .with_context(|| format!("opening {}", args.model))?;
    let device = maia_core::target::torch::parse_device(&args.device)?;
    let config = SaeTrainConfig {
        layer: args.layer.clone(),
        latents: args.latents,
        k: args.k,
        epochs: args.epochs,
        batch_size: args.batch_size,
        learning_rate: args.lr,
        seed: args.seed,
    };
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len}, ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let quality = train_sae(
        model.as_ref(),
        &args.data,
        &config,
        &args.out,
        &args.model,
        device,
        &mut |p| match p {
            SaeProgress::Collecting { done, total } => {
                bar.set_message("reading activations");
                bar.set_length(*total as u64);
                bar.set_position(*done as u64);
            }
            SaeProgress::Resumed { step } => {
                bar.println(format!("resuming from the checkpoint at step {step}"));
            }
            SaeProgress::Step { step, total, loss } => {
                bar.set_message(format!("training, FVU {loss:.3}"));
                bar.set_length(*total as u64);
                bar.set_position(*step as u64);
            }
        },
    )
    .context("training the SAE")?;
    bar.finish_and_clear();
    println!(
        "SAE trained in {:.1} s on {} samples of {} ({:.0} samples/s): held-out FVU {:.3}, L0 {:.1}, dead latents {} of {}",
        quality.seconds,
        quality.train_samples,
        args.layer,
        quality.samples_per_second,
        quality.fvu,
        quality.l0,
        quality.dead,
        args.latents
    );
    println!("wrote {} (SAELens layout)", args.out.display());
    println!(
        "use it: maia model info {} --sae {}; maia run --target {} --sae {} --unit {}:sae:0",
        args.model,
        args.out.display(),
        args.model,
        args.out.display(),
        args.layer
    );
    Ok(ExitCode::SUCCESS)
}
