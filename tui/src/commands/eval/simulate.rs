//! `maia eval simulate`: dataset simulation. A simulator rates held-out dataset images —
//! the next most activating after the exemplars the agent sees, and as many random ones —
//! for how well the description applies; the score is the correlation with the unit's
//! activations, per half and together.

use super::EvaluatorKind;
use crate::target_args::TargetArgs;
use anyhow::{Context, Result, bail};
use maia_core::ImageStore;
use maia_core::eval::UnitProbe;
use maia_core::eval::simulation::{
    HeldOut, LlmSimulator, Simulation, Simulator, WorldSimulator, simulate,
};
use maia_core::exemplars::{Dataset, cache_dir, exemplars};
use maia_core::target::TargetUnit;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// Options of `maia eval simulate`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
maia world dataset shapes --n 1000\n  \
maia eval simulate --target synthetic:red_and_circle --data shapes -d 'red circles'\n  \
maia eval simulate --target torch:resnet50.pt --unit layer4:5 --data imagenet-val -d dogs --simulator llm --backend openai --model gpt-4o")]
pub struct SimulateArgs {
    /// The model whose unit is simulated (as for `eval score`).
    #[arg(long, value_name = "SPEC")]
    pub target: String,
    /// The unit, as LAYER:UNIT; default: the target's only unit.
    #[arg(long, value_name = "LAYER:UNIT")]
    pub unit: Option<String>,
    /// The description.
    #[arg(long, short = 'd')]
    pub description: String,
    /// The data set the held-out images come from (any layout `--data` takes).
    #[arg(long, value_name = "DATA")]
    pub data: PathBuf,
    /// Images per half: top-activating and random.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=500))]
    pub n: u64,
    /// Top-activating images the agent was shown (its exemplars), skipped: the top half
    /// starts after them.
    #[arg(long, default_value_t = 15)]
    pub shown: usize,
    /// Seed of the random half.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Who rates: world (the shapes world's reader, for shapes-world data) or llm (a vision
    /// model chosen by --backend/--model/--base-url).
    #[arg(long, value_enum, default_value_t = EvaluatorKind::World)]
    pub simulator: EvaluatorKind,
    /// With --simulator llm: the model that rates.
    #[command(flatten)]
    pub agent: crate::agent_choice::AgentChoice,
    /// Where a torch model runs: cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Feature units: --sae and --directions.
    #[command(flatten)]
    pub features: crate::feature_args::FeatureArgs,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `maia eval simulate`.
pub fn run(args: SimulateArgs) -> Result<ExitCode> {
    let n = usize::try_from(args.n).unwrap_or(10);
    let target = TargetArgs {
        target: Some(args.target.clone()),
        unit: args.unit.clone(),
        device: args.device.clone(),
        half: false,
        data: None,
        k: maia_core::exemplars::DEFAULT_K,
        features: args.features.clone(),
    };
    let unit = target
        .open(Arc::new(ImageStore::new()))?
        .context("no target")?;
    let simulator = simulator(args.simulator, &args.agent)?;
    let result = simulate_description(
        &unit,
        &args.data,
        &args.description,
        Held {
            shown: args.shown,
            n,
            seed: args.seed,
        },
        simulator.as_ref(),
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        print!("{}", report(&result, &unit.label()));
    }
    Ok(if result.failure.is_some() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// Which held-out images: `n` per half after `shown` exemplars, the random half drawn
/// with `seed`.
pub(crate) struct Held {
    pub shown: usize,
    pub n: usize,
    pub seed: u64,
}

/// The simulator `kind` names: the shapes world's, or a vision model chosen by `agent`.
pub(crate) fn simulator(
    kind: EvaluatorKind,
    agent: &crate::agent_choice::AgentChoice,
) -> Result<Box<dyn Simulator>> {
    Ok(match kind {
        EvaluatorKind::World => Box::new(WorldSimulator),
        EvaluatorKind::Llm => {
            if agent.backend == "offline" {
                bail!(
                    "--simulator llm needs a vision model: give --backend openai or anthropic (with --model, and --base-url for a local server)"
                );
            }
            Box::new(LlmSimulator::new(super::evaluator_backend(agent)?.0))
        }
    })
}

/// Simulates `description` of `unit` on held-out images of the data set at `data`.
pub(crate) fn simulate_description(
    unit: &TargetUnit,
    data: &Path,
    description: &str,
    held: Held,
    simulator: &dyn Simulator,
) -> Result<Simulation> {
    let dataset =
        Dataset::open(data).with_context(|| format!("opening the data set {}", data.display()))?;
    let Held { shown, n, seed } = held;
    if dataset.len() < shown + 2 * n {
        bail!(
            "the data set {} has {} images: too few for {shown} shown exemplars and {n} held-out images per half (lower --n or --shown)",
            data.display(),
            dataset.len(),
        );
    }
    let (layer, _) = exemplars(
        unit.model().as_ref(),
        &unit.unit().layer,
        data,
        shown + n,
        cache_dir().as_deref(),
        &mut |_, _| {},
    )?;
    let ranked = layer
        .units
        .get(unit.unit().unit)
        .with_context(|| format!("no exemplars for unit {}", unit.unit().unit))?;
    let held_out = HeldOut::read(&dataset, ranked, shown, n, seed, unit)
        .map_err(|f| anyhow::anyhow!(f.reason))?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    Ok(runtime.block_on(simulate(description, simulator, &held_out)))
}

fn report(s: &Simulation, unit: &str) -> String {
    let n = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), |v| format!("{v:.3}"));
    let mut out = format!(
        "unit         {unit}\ndescription  \"{}\"\nsimulator    {}\n\n",
        s.description, s.simulator
    );
    if let Some(f) = &s.failure {
        out.push_str(&format!(
            "could not simulate [{}]: {}\n",
            f.kind.name(),
            f.reason
        ));
        for line in &f.log {
            out.push_str(&format!("  log: {line}\n"));
        }
        return out;
    }
    let tops = s.images.iter().filter(|i| i.top).count();
    out.push_str(&format!(
        "  correlation of ratings with activations\n    top-activating ({tops})   {}\n    random ({})           {}\n    all                  {}\n",
        n(s.top),
        s.images.len() - tops,
        n(s.random),
        n(s.all)
    ));
    out
}
