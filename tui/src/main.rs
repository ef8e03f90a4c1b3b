//! `maia`: an automated interpretability agent for vision models.
//!
//! This binary is a thin layer over `maia-core`: argument parsing, terminal output and
//! the plugin author tooling. Each subcommand lives in its own module under `commands/`.

mod agent_args;
mod agent_choice;
mod backends;
mod commands;
mod exemplar_pass;
mod feature_args;
mod plugin_args;
mod sample_images;
mod stop_signals;
mod table;
mod target_args;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// maia — an automated interpretability agent for vision models.
///
/// A vision-language model designs and runs experiments on a target network (dataset
/// exemplars, text-to-image, image edits, calling a unit on images), revises its
/// hypothesis, and writes a description of what the unit does. Tools come from plugins:
/// native libraries or sandboxed WebAssembly components built against maia-plugin-sdk.
#[derive(Parser, Debug)]
#[command(
    name = "maia",
    version,
    propagate_version = true,
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Watch the offline agent investigate a synthetic unit live: no API key, about 10 s.
    Demo(commands::demo::DemoArgs),
    /// Run the agent on one unit: live terminal UI, or one line per event with --headless.
    Run(Box<commands::run::RunArgs>),
    /// Continue a stopped or crashed run from its journal.
    Resume(commands::run::ResumeArgs),
    /// List runs with status, rounds, cost and answer.
    Runs(commands::runs::RunsArgs),
    /// Print the resolved configuration (maia.toml layers and flags), keys masked.
    Config(commands::config::ConfigArgs),
    /// Write a run's report.html: task, rounds, tool calls with images, answer and score.
    Report(commands::report::ReportArgs),
    /// Follow a run started elsewhere, read-only: the same view, or lines with --headless.
    Watch(commands::watch::WatchArgs),
    /// List every tool: its name, where it comes from, and a summary of its arguments.
    Tools(commands::tools::ToolsArgs),
    /// Call one tool with JSON arguments and save the images it returns.
    Call(commands::call::CallArgs),
    /// Build, check and scaffold plugins.
    #[command(subcommand)]
    Plugin(commands::plugin::PluginCommand),
    /// Top-k dataset images of every unit of a layer, in one cached pass.
    Exemplars(commands::exemplars::ExemplarsArgs),
    /// Data sets: what maia finds in one, and whether every image reads.
    #[command(subcommand)]
    Dataset(commands::dataset::DatasetCommand),
    /// Target models: list layers and units.
    #[command(subcommand)]
    Model(commands::model::ModelCommand),
    /// Sparse autoencoders: train one on a layer (`maia sae train`), for --sae DIR.
    #[command(subcommand)]
    Sae(commands::sae::SaeCommand),
    /// The shapes world: datasets, synthetic units with ground truth, renders.
    #[command(subcommand)]
    World(commands::world::WorldCommand),
    /// Serve a model to many runs (`maia host serve`), or inspect a running host.
    #[command(subcommand)]
    Host(commands::host::HostCommand),
    /// Check the environment: libtorch, CUDA, wasm runtime, plugin folders.
    Doctor(commands::doctor::DoctorArgs),
    /// Score descriptions of units: predictive evaluation (Pearson, AUPRC, F1) and ground truth.
    #[command(subcommand)]
    Eval(commands::eval::EvalCommand),
    /// Many units as headless runs: a Slurm job array, or --local N worker processes.
    #[command(subcommand)]
    Batch(commands::batch::BatchCommand),
    /// MAIA's spurious-feature removal experiment: sparse classifiers on chosen units,
    /// measured under distribution shift beside all units, ℓ1, random and an oracle.
    Spurious(commands::spurious::SpuriousArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => commands::demo::run(args),
        Command::Run(args) => commands::run::run(*args),
        Command::Resume(args) => commands::run::resume(args),
        Command::Runs(args) => commands::runs::run(args),
        Command::Config(args) => commands::config::run(args),
        Command::Report(args) => commands::report::run(args),
        Command::Watch(args) => commands::watch::run(args),
        Command::Tools(args) => commands::tools::run(args),
        Command::Call(args) => commands::call::run(args),
        Command::Plugin(cmd) => commands::plugin::run(cmd),
        Command::Exemplars(args) => commands::exemplars::run(args),
        Command::Dataset(cmd) => commands::dataset::run(cmd),
        Command::Model(cmd) => commands::model::run(cmd),
        Command::Sae(cmd) => commands::sae::run(cmd),
        Command::World(cmd) => commands::world::run(cmd),
        Command::Host(cmd) => commands::host::run(cmd),
        Command::Doctor(args) => commands::doctor::run(args),
        Command::Eval(cmd) => commands::eval::run(cmd),
        Command::Batch(cmd) => commands::batch::run(cmd),
        Command::Spurious(args) => commands::spurious::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", maia_tui::error_text::error_text(&err));
            ExitCode::FAILURE
        }
    }
}
