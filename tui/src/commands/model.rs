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
    /// A sparse autoencoder in SAELens layout (cfg.json, sae_weights.safetensors): its
    /// latents are units LAYER:sae:N.
    #[arg(long, value_name = "DIR")]
    pub sae: Option<std::path::PathBuf>,
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
            sae: args.sae.clone(),
        },
    )?;
    let info = model.info();
    if args.json {
        println!("{}", serde_json::to_string_pretty(info)?);
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
            format!("{}:0 … {}:{}", l.name, l.name, l.units.saturating_sub(1)),
        ]);
    }
    print!("{}", t.render());
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
