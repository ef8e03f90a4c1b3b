//! `maia exemplars`: the top-k dataset images of every unit of a layer, in one pass.

use crate::exemplar_pass::run_pass;
use crate::table::Table;
use anyhow::{Context, Result, bail};
use maia_core::exemplars::DEFAULT_K;
use maia_core::target::{TorchOptions, format_activation, open_target_with};
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `maia exemplars`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Results are cached (~/.cache/maia/exemplars, or $MAIA_CACHE_DIR) by model, layer, \
dataset content and k: asking again is instant.\n\nExample:\n  maia world dataset --n 10000 data/\n  \
maia exemplars --model world-cnn.pt --layer conv3 --data data/ --unit 12 --out exemplars/"
)]
pub struct ExemplarsArgs {
    /// The model: MODEL.pt (with its sidecar), torch:FILE, or a synthetic:… spec.
    #[arg(long)]
    pub model: String,
    /// Layer to rank images for (every unit at once).
    #[arg(long)]
    pub layer: String,
    /// Data set: JPEG, PNG or WebP images in a folder (flat or class folders at any depth), a text file listing image paths, or WebDataset tar shards ('shards/{000000..000099}.tar' or a folder of .tar files). Listed, not read, to find a cached pass (names, sizes and times);
    /// --no-cache forces a recount.
    #[arg(long, value_name = "DATA")]
    pub data: PathBuf,
    /// Exemplars kept per unit.
    #[arg(long, default_value_t = DEFAULT_K)]
    pub k: usize,
    /// Show this unit's exemplars (and write them with masks to --out).
    #[arg(long)]
    pub unit: Option<usize>,
    /// Folder for the masked exemplar images of --unit.
    #[arg(long, value_name = "DIR", default_value = "maia-out/exemplars")]
    pub out: PathBuf,
    /// Where a torch model runs: cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Feature units: --sae and --directions.
    #[command(flatten)]
    pub features: crate::feature_args::FeatureArgs,
    /// Recompute even when cached (the result still refreshes the cache).
    #[arg(long)]
    pub no_cache: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `maia exemplars`.
pub fn run(args: ExemplarsArgs) -> Result<ExitCode> {
    if args.k == 0 || args.k > 1000 {
        bail!(
            "--k {} is out of range: keep 1 to 1000 exemplars per unit",
            args.k
        );
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
            half: false,
            sae: args.features.sae.clone(),
            directions: args.features.directions.clone(),
        },
    )?;
    if let (Some(unit), Some(layer)) = (args.unit, model.info().layer(&args.layer))
        && unit >= layer.units
    {
        bail!(
            "unit {unit} out of range for {} ({} units: 0..{}); run `maia model info {}` to list layers",
            args.layer,
            layer.units,
            layer.units,
            args.model
        );
    }
    let found = run_pass(
        model.as_ref(),
        &args.layer,
        &args.data,
        args.k,
        !args.no_cache,
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&found)?);
        return Ok(ExitCode::SUCCESS);
    }
    match args.unit {
        None => {
            let mut t = Table::new(&["UNIT", "TOP ACTIVATION", "TOP IMAGES"]);
            for (u, list) in found.units.iter().enumerate() {
                let files: Vec<&str> = list.iter().take(4).map(|e| e.file.as_str()).collect();
                t.row(vec![
                    format!("{}:{u}", args.layer),
                    list.first()
                        .map(|e| format_activation(e.activation))
                        .unwrap_or_default(),
                    files.join(" "),
                ]);
            }
            print!("{}", t.render());
        }
        Some(unit) => {
            let masked = found.masked_images(model.as_ref(), unit)?;
            std::fs::create_dir_all(&args.out)
                .with_context(|| format!("creating {}", args.out.display()))?;
            for (rank, (e, image)) in masked.iter().enumerate() {
                // `n01440764/x.JPEG` or `000001.tar:x.jpg` → `n01440764_x.png`: one flat
                // folder of PNGs, whatever the data set's layout and formats.
                let stem = e
                    .file
                    .rsplit_once('.')
                    .map_or(e.file.as_str(), |(stem, _)| stem)
                    .replace(['/', ':', '\\'], "_");
                let path =
                    args.out
                        .join(format!("{}_{unit}_{:02}_{stem}.png", args.layer, rank + 1));
                std::fs::write(&path, &image.png)
                    .with_context(|| format!("writing {}", path.display()))?;
                let class = maia_core::dataset::class_label(&image.meta)
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default();
                println!(
                    "{:2}. {}  {}{class}  → {}",
                    rank + 1,
                    format_activation(e.activation),
                    e.file,
                    path.display()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
