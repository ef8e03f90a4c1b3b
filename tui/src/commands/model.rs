//! `maia model info`: what a target model exposes — layers, unit counts, map sizes.

use crate::table::Table;
use anyhow::Result;
use maia_core::target::{TorchOptions, open_target_with};
use std::process::ExitCode;

/// Subcommands of `maia model`.
#[derive(clap::Subcommand, Debug)]
pub enum ModelCommand {
    /// List a model's layers with their unit counts and map sizes.
    Info(InfoArgs),
}

/// Options of `maia model info`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "A TorchScript model needs its sidecar MODEL.json beside it; \
scripts/export_model.py writes both (see the README, \"Exporting a model\")."
)]
pub struct InfoArgs {
    /// The model: a TorchScript file (MODEL.pt with MODEL.pt.json), torch:FILE, or any
    /// --target spec (synthetic:NAME, …).
    pub model: String,
    /// Where to run it: cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// With --sae: also measure how often each latent fires on these images (a folder, a
    /// list file or tar shards).
    #[arg(long, value_name = "DATA", requires = "sae")]
    pub data: Option<std::path::PathBuf>,
    /// Feature units: --sae and --directions.
    #[command(flatten)]
    pub features: crate::feature_args::FeatureArgs,
}

/// Runs a `maia model` subcommand.
pub fn run(cmd: ModelCommand) -> Result<ExitCode> {
    match cmd {
        ModelCommand::Info(args) => info(args),
    }
}

fn info(args: InfoArgs) -> Result<ExitCode> {
    let spec = if std::path::Path::new(&args.model).is_file() && !args.model.starts_with("torch:") {
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
    let info = model.info();
    let rates = match &args.data {
        Some(data) => latent_rates(model.as_ref(), data)?,
        None => Vec::new(),
    };
    if args.json {
        let mut value = serde_json::to_value(info)?;
        if !rates.is_empty() {
            value["firing_rates"] = serde_json::to_value(
                rates
                    .iter()
                    .map(|(layer, r)| (layer.clone(), r.clone()))
                    .collect::<std::collections::BTreeMap<_, _>>(),
            )?;
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} ({}, input {}×{}, on {})",
        info.name, info.kind, info.input_size, info.input_size, info.device
    );
    let mut t = Table::new(&["LAYER", "UNITS", "MAP", "ADDRESS"]);
    for l in &info.layers {
        t.row(vec![
            l.name.clone(),
            l.units.to_string(),
            map_text(l),
            address_text(l),
        ]);
    }
    print!("{}", t.render());
    for (layer, rates) in &rates {
        print_rates(layer, rates);
    }
    if info
        .layers
        .iter()
        .any(|l| l.tokens.is_some_and(|g| g.inferred))
    {
        println!(
            "token layouts marked (inferred) were guessed from the token count; export with scripts/export_model.py to record them"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// How its units are addressed: `conv3:0 … conv3:63`, or the names of named units.
fn address_text(layer: &maia_core::target::LayerInfo) -> String {
    const SHOWN: usize = 6;
    if layer.unit_names.is_empty() {
        return format!(
            "{}:0 … {}:{}",
            layer.name,
            layer.name,
            layer.units.saturating_sub(1)
        );
    }
    let mut names: Vec<String> = layer
        .unit_names
        .iter()
        .take(SHOWN)
        .map(|n| format!("{}:{n}", layer.name))
        .collect();
    if layer.unit_names.len() > SHOWN {
        names.push(format!(
            "… ({} more; --json lists all)",
            layer.unit_names.len() - SHOWN
        ));
    }
    names.join(", ")
}

/// "7×7"; for a transformer layer "14×14 patch tokens (+1 prefix)"; "class token" for
/// its class-token layer.
fn map_text(layer: &maia_core::target::LayerInfo) -> String {
    let grid = format!("{}×{}", layer.map_height, layer.map_width);
    if layer.name.ends_with(":cls") && layer.tokens.is_none() && layer.map_height == 1 {
        return "class token".into();
    }
    match layer.tokens {
        None => grid,
        Some(tokens) => format!(
            "{grid} patch tokens (+{} prefix){}",
            tokens.prefix,
            if tokens.inferred { " (inferred)" } else { "" }
        ),
    }
}

/// The firing rate of every latent of every SAE layer of `model` on `data`.
fn latent_rates(
    model: &dyn maia_core::target::TargetModel,
    data: &std::path::Path,
) -> Result<Vec<(String, Vec<f32>)>> {
    use anyhow::Context;
    let dataset = maia_core::dataset::Dataset::open(data)
        .with_context(|| format!("--data {}", data.display()))?;
    let bar = indicatif::ProgressBar::new(dataset.len() as u64);
    let mut out = Vec::new();
    for layer in &model.info().layers {
        if !layer.name.ends_with(maia_core::target::sae::SAE_SUFFIX) {
            continue;
        }
        bar.set_message(format!("firing rates of {}", layer.name));
        let rates =
            maia_core::target::sae::firing_rates(model, &layer.name, &dataset, &mut |done, _| {
                bar.set_position(done as u64)
            })?;
        out.push((layer.name.clone(), rates));
    }
    bar.finish_and_clear();
    Ok(out)
}

/// A summary of one SAE layer's firing rates: dead latents, the spread, the most frequent.
fn print_rates(layer: &str, rates: &[f32]) {
    let dead = rates.iter().filter(|&&r| r == 0.0).count();
    let mut sorted: Vec<f32> = rates.to_vec();
    sorted.sort_by(f32::total_cmp);
    let at = |q: f32| sorted[((sorted.len() - 1) as f32 * q).round() as usize] * 100.0;
    println!(
        "{layer}: {} latents, {dead} never fire on the data; firing rate median {:.1}%, 90th percentile {:.1}%, max {:.1}% (--json lists every latent)",
        rates.len(),
        at(0.5),
        at(0.9),
        at(1.0)
    );
    let mut order: Vec<usize> = (0..rates.len()).collect();
    order.sort_by(|&a, &b| rates[b].total_cmp(&rates[a]));
    let top: Vec<String> = order
        .iter()
        .take(5)
        .map(|&u| format!("{layer}:{u} {:.0}%", rates[u] * 100.0))
        .collect();
    println!("  most frequent: {}", top.join(", "));
}
