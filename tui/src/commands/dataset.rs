//! `maia dataset`: what maia finds in a data set (`info`), and whether every image reads
//! (`check`: decode and prepare each one on every core, as the exemplar pass would, and
//! name what cannot be used).

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use maia_core::dataset::Dataset;
use maia_core::target::torch::{Preprocess, TorchModel, parse_device};
use std::path::PathBuf;
use std::process::ExitCode;

const DATA_HELP: &str = "DATA: JPEG, PNG or WebP images in a folder (flat, or class folders at any depth, \
with LOC_synset_mapping.txt or classes.txt for class names), a text file listing image paths, \
or WebDataset tar shards ('shards/{000000..000099}.tar', one .tar, or a folder of them).";

/// Subcommands of `maia dataset`.
#[derive(clap::Subcommand, Debug)]
pub enum DatasetCommand {
    /// Say what maia finds: layout, images, classes, damaged shards.
    Info(InfoArgs),
    /// Read and prepare every image (on every core) and list those that cannot be used.
    Check(CheckArgs),
}

/// Options of `maia dataset info`.
#[derive(clap::Args, Debug)]
#[command(after_help = DATA_HELP)]
pub struct InfoArgs {
    /// The data set.
    pub data: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Options of `maia dataset check`.
#[derive(clap::Args, Debug)]
#[command(after_help = DATA_HELP)]
pub struct CheckArgs {
    /// The data set.
    pub data: PathBuf,
    /// Prepare images as this TorchScript model's sidecar says (default: torchvision's
    /// ImageNet eval transform: shorter side 256, center crop 224, bilinear).
    #[arg(long, value_name = "MODEL.pt")]
    pub model: Option<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs a `maia dataset` subcommand.
pub fn run(cmd: DatasetCommand) -> Result<ExitCode> {
    match cmd {
        DatasetCommand::Info(args) => info(args),
        DatasetCommand::Check(args) => check(args),
    }
}

fn open(data: &std::path::Path) -> Result<Dataset> {
    Dataset::open(data).with_context(|| format!("opening the data set {}", data.display()))
}

fn info(args: InfoArgs) -> Result<ExitCode> {
    let dataset = open(&args.data)?;
    if args.json {
        let first: Vec<serde_json::Value> = (0..dataset.len().min(5))
            .map(|i| {
                let class = dataset.class(i);
                serde_json::json!({
                    "file": dataset.file_name(i),
                    "class": class.as_ref().map(|c| c.0.clone()),
                    "class_name": class.and_then(|c| c.1),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "images": dataset.len(),
                "layout": format!("{:?}", dataset.layout()),
                "summary": dataset.summary(),
                "damaged": dataset.damaged(),
                "first": first,
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}: {}", args.data.display(), dataset.summary());
    for i in 0..dataset.len().min(3) {
        match dataset.class(i) {
            Some((id, Some(words))) => println!("  {} ({id}: {words})", dataset.file_name(i)),
            Some((id, None)) => println!("  {} ({id})", dataset.file_name(i)),
            None => println!("  {}", dataset.file_name(i)),
        }
    }
    if dataset.len() > 3 {
        println!("  …");
    }
    for damaged in dataset.damaged() {
        println!("damaged: {damaged}");
    }
    Ok(ExitCode::SUCCESS)
}

fn check(args: CheckArgs) -> Result<ExitCode> {
    let dataset = open(&args.data)?;
    let preprocess = match &args.model {
        Some(path) => TorchModel::load(path, parse_device("cpu")?, false)
            .with_context(|| format!("loading {}", path.display()))?
            .preprocess()
            .clone(),
        None => Preprocess::imagenet_eval(),
    };
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    if !args.json {
        eprintln!("{}: {}", args.data.display(), dataset.summary());
    }
    let bar = ProgressBar::new(dataset.len() as u64).with_style(
        ProgressStyle::with_template(
            "{spinner} check [{bar:40}] {pos}/{len} images, {per_sec}, ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let prepare = |bytes: &[u8]| {
        let mut out = Vec::with_capacity(preprocess.input_len());
        preprocess.append(bytes, &mut out)
    };
    let report = dataset.check(threads, &prepare, &mut |done, _| {
        bar.set_position(done as u64)
    });
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} of {} images read and prepared in {:.2} s ({:.0} images/s on {} threads)",
            report.images - report.skipped,
            report.images,
            report.seconds,
            report.images_per_s,
            report.threads
        );
        if report.skipped > 0 {
            println!("skipped {} that could not be used:", report.skipped);
            for (file, why) in &report.skipped_files {
                println!("  {file}: {why}");
            }
            if report.skipped > report.skipped_files.len() {
                println!(
                    "  … and {} more",
                    report.skipped - report.skipped_files.len()
                );
            }
        }
        for damaged in dataset.damaged() {
            println!("damaged: {damaged}");
        }
    }
    // Some images unusable is not a failure of the check; none usable is.
    Ok(if report.skipped == report.images {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
