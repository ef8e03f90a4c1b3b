//! `maia eval synthetic` and `maia eval wild`: the suites of [`maia_core::eval::suite`]
//! with a progress bar, the summary printed at the end.

use crate::backends::backends;
use crate::plugin_args::{PluginArgs, warn_problems};
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use maia_core::agent::Prompts;
use maia_core::agent::setup::{
    ExemplarPasses, Toolbox, ToolboxOptions, describer_for, world_dataset,
};
use maia_core::config::Config;
use maia_core::eval::simulation::{LlmSimulator, Simulator, WorldSimulator};
use maia_core::eval::suite::{
    Method, PLOT_FILE, RESULTS_FILE, SUMMARY_FILE, SYNTHETIC_TARGET, SuiteEvent, SuiteManifest,
    SuiteParts, SuiteSimulation, SuiteUnit, layer_units, run_suite, synthetic_named,
    synthetic_units, units::SYNTHETIC_KINDS,
};
use maia_core::eval::{DEFAULT_N, Evaluator, ScoreConfig, Scorer, ToolRenderer, WorldEvaluator};
use maia_core::exemplars::{DEFAULT_K, Dataset};
use maia_core::target::{TargetModel, TorchOptions, open_target_with};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

/// Options every suite takes.
#[derive(clap::Args, Debug, Clone)]
pub struct SuiteArgs {
    /// The agent's backend, also used by the exemplar-only baseline: offline (no key),
    /// openai or anthropic.
    #[arg(long, default_value = "offline", value_parser = ["offline", "openai", "anthropic"])]
    pub agent: String,
    /// Model id for openai/anthropic (e.g. gpt-4o, claude-sonnet-4-5, a vLLM model).
    #[arg(long)]
    pub model: Option<String>,
    /// API root for openai/anthropic (vLLM: http://HOST:8000/v1).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Units evaluated at once.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub concurrency: u64,
    /// Name of the eval: its folder under --eval-dir. Run the same command again to
    /// resume it (default: SUITE-AGENT, e.g. synthetic-offline).
    #[arg(long)]
    pub id: Option<String>,
    /// Folder evals are written to.
    #[arg(long, value_name = "DIR", default_value = "eval")]
    pub eval_dir: PathBuf,
    /// Data set for the exemplars: an image folder, class folders, a list file or tar
    /// shards (default: a shapes-world dataset of --dataset-size images, made once and
    /// cached).
    #[arg(long, value_name = "DATA")]
    pub data: Option<PathBuf>,
    /// Images in the default dataset.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(50..=1_000_000))]
    pub dataset_size: u64,
    /// Exemplars per unit (the baseline sees all of them).
    #[arg(long, default_value_t = DEFAULT_K as u64, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub k: u64,
    /// Positive and neutral prompts each that score a description.
    #[arg(long, default_value_t = DEFAULT_N as u64, value_parser = clap::value_parser!(u64).range(1..=512))]
    pub per_side: u64,
    /// Scoring seed (picks the evaluator's scenes and the held-out render seeds) and the
    /// random controls' seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Rounds before each agent run must answer (MAIA: 25).
    #[arg(long)]
    pub max_rounds: Option<u32>,
    /// Stop an agent run when it has cost this many dollars.
    #[arg(long, value_name = "USD")]
    pub max_cost: Option<f64>,
    /// Who writes the prompts each description is scored on: world (the shapes world's own
    /// evaluator, deterministic) or llm (MAIA's protocol: the model chosen by
    /// --evaluator-backend, --evaluator-model and --evaluator-base-url). The default eval
    /// id gains `-llm`.
    #[arg(long, value_enum, default_value_t = super::EvaluatorKind::World)]
    pub evaluator: super::EvaluatorKind,
    /// With --evaluator llm: its backend (openai for any OpenAI-compatible server, or
    /// anthropic).
    #[arg(long, value_name = "BACKEND", default_value = "openai")]
    pub evaluator_backend: String,
    /// With --evaluator llm: its model (default: the backend's).
    #[arg(long, value_name = "MODEL")]
    pub evaluator_model: Option<String>,
    /// With --evaluator llm: its API base URL (llama.cpp, vLLM, Ollama).
    #[arg(long, value_name = "URL")]
    pub evaluator_base_url: Option<String>,
    /// Also score every description by dataset simulation: a simulator rates each unit's
    /// held-out data set images (the --simulate-n most activating after the exemplars
    /// the agent saw, and as many random ones) and the ratings are correlated with the
    /// unit's activations. The simulator is the evaluator: the shapes world's, or with
    /// --evaluator llm the same model (it must take images).
    #[arg(long)]
    pub simulate: bool,
    /// With --simulate: held-out images per half.
    #[arg(long, default_value_t = 10, requires = "simulate", value_parser = clap::value_parser!(u64).range(2..=500))]
    pub simulate_n: u64,
    /// How the agent experiments: tools or program (`run_program`; config run.mode). The
    /// default eval id gains `-program` in program mode.
    #[arg(long, value_parser = ["tools", "program"])]
    pub mode: Option<String>,
    /// Project config file (default ./maia.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Prompt folder (default ./prompts, then the built-in copies).
    #[arg(long, value_name = "DIR")]
    pub prompts: Option<PathBuf>,
    /// Where a torch model runs: cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Run a torch model in float16 (CUDA only).
    #[arg(long)]
    pub half: bool,
    /// A sparse autoencoder in SAELens layout whose latents the suite evaluates (`maia eval
    /// wild --sae DIR --layer conv3:sae`; `maia sae train` makes one).
    #[arg(long, value_name = "DIR")]
    pub sae: Option<PathBuf>,
    #[command(flatten)]
    pub plugins: PluginArgs,
}

/// Options of `maia eval synthetic`.
#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "Examples:\n  \
maia eval synthetic --agent offline --n 60\n  \
maia eval synthetic --units red_and_circle,circle_not_red,circle_or_star --id three\n  \
maia eval synthetic --agent openai --model gpt-4o --n 20 --concurrency 4\n\n\
Interrupted? Run the same command again: finished units are kept, the others resume.")]
pub struct SyntheticArgs {
    /// Units to evaluate, taken in turn from each kind (mono, OR, AND, AND-NOT); default:
    /// the whole catalogue (`maia world units`).
    #[arg(long)]
    pub n: Option<usize>,
    /// Evaluate these catalogue units instead (names or indices, comma-separated).
    #[arg(long, value_delimiter = ',', conflicts_with = "n")]
    pub units: Vec<String>,
    #[command(flatten)]
    pub suite: SuiteArgs,
}

/// Options of `maia eval wild`.
#[derive(clap::Args, Debug, Clone)]
#[command(
    after_help = "The first use trains the shapes-world CNN or ViT (minutes, once; cached).\n\nExamples:\n  \
maia eval wild --layer conv3 --n 12\n  \
maia eval wild --layer conv4 --units 3,17,42\n  \
maia eval wild --target world-vit --layer block3 --n 12\n  \
maia eval wild --target world-vit --layer block4:cls --n 8\n  \
maia sae train --model world-cnn --layer conv3 --data DATA --out sae && maia eval wild --sae sae --layer conv3:sae --n 16"
)]
pub struct WildArgs {
    /// The shapes-world network whose units are evaluated: the CNN or the ViT.
    #[arg(long, default_value = "world-cnn", value_parser = ["world-cnn", "world-vit"])]
    pub target: String,
    /// The layer whose units are evaluated (see `maia model info world-cnn`); default
    /// conv3 for the CNN, block3 (patch tokens) for the ViT.
    #[arg(long)]
    pub layer: Option<String>,
    /// Evaluate these units of the layer (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub units: Vec<usize>,
    /// Without --units: this many units spread evenly over the layer.
    #[arg(long, default_value_t = 12, conflicts_with = "units")]
    pub n: usize,
    #[command(flatten)]
    pub suite: SuiteArgs,
}

/// Runs `maia eval synthetic`.
pub fn synthetic(args: SyntheticArgs) -> Result<ExitCode> {
    let units = if args.units.is_empty() {
        synthetic_units(args.n)
    } else {
        synthetic_named(&args.units).map_err(anyhow::Error::msg)?
    };
    if units.is_empty() {
        bail!("no units to evaluate: --n must be at least 1");
    }
    let kinds = SYNTHETIC_KINDS
        .iter()
        .map(|k| k.name().to_owned())
        .collect();
    run(
        "synthetic",
        SYNTHETIC_TARGET,
        &args.suite,
        |_| Ok(units),
        kinds,
    )
}

/// Runs `maia eval wild`.
pub fn wild(args: WildArgs) -> Result<ExitCode> {
    let vit = args.target == "world-vit";
    let layer = args
        .layer
        .clone()
        .unwrap_or_else(|| if vit { "block3" } else { "conv3" }.to_owned());
    run(
        if vit { "wild-vit" } else { "wild" },
        &args.target,
        &args.suite,
        |model| layer_units(model, &layer, &args.units, args.n).map_err(anyhow::Error::msg),
        vec![layer.clone()],
    )
}

fn config_overrides(args: &SuiteArgs) -> toml::Table {
    let mut run = toml::Table::new();
    run.insert("backend".into(), args.agent.clone().into());
    if let Some(model) = &args.model {
        run.insert("model".into(), model.clone().into());
    }
    if let Some(rounds) = args.max_rounds {
        run.insert("max_rounds".into(), i64::from(rounds).into());
    }
    if let Some(mode) = &args.mode {
        run.insert("mode".into(), mode.clone().into());
    }
    if let Some(sae) = &args.sae {
        let sae = std::path::absolute(sae).unwrap_or_else(|_| sae.clone());
        run.insert("sae".into(), sae.display().to_string().into());
    }
    if let Some(cost) = args.max_cost {
        run.insert("max_cost_usd".into(), cost.into());
    }
    if let Some(dir) = &args.prompts {
        run.insert("prompts".into(), dir.display().to_string().into());
    }
    let mut table = toml::Table::new();
    table.insert("run".into(), toml::Value::Table(run));
    crate::agent_choice::insert_base_url(&mut table, args.base_url.as_deref());
    table
}

fn bar_style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// The dataset exemplars come from: `--data`, or the cached shapes-world dataset.
fn dataset(args: &SuiteArgs) -> Result<PathBuf> {
    if let Some(data) = &args.data {
        return Ok(data.clone());
    }
    let n = usize::try_from(args.dataset_size).unwrap_or(1000);
    let bar = ProgressBar::new(n as u64).with_style(bar_style(
        "{spinner} dataset [{bar:30}] {pos}/{len} images, ETA {eta}",
    ));
    let dir = world_dataset(n, 0, &mut |done, _| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    dir.context("no cache folder for the shapes-world dataset: set MAIA_CACHE_DIR or HOME, or pass --data DIR")
}

fn check_id(id: &str) -> Result<()> {
    if id.is_empty()
        || id.starts_with('.')
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        bail!("--id `{id}` is not a folder name: use letters, digits, '-', '_' and '.'");
    }
    Ok(())
}

fn run(
    suite: &str,
    target: &str,
    args: &SuiteArgs,
    pick_units: impl FnOnce(&dyn TargetModel) -> Result<Vec<SuiteUnit>>,
    kinds: Vec<String>,
) -> Result<ExitCode> {
    let id = args.id.clone().unwrap_or_else(|| {
        let mut id = format!("{suite}-{}", args.agent);
        if args.mode.as_deref() == Some("program") {
            id.push_str("-program");
        }
        if args.evaluator == super::EvaluatorKind::Llm {
            id.push_str("-llm");
        }
        if args.simulate {
            id.push_str("-sim");
        }
        id
    });
    check_id(&id)?;
    let dir = args.eval_dir.join(&id);
    let (config, _) = Config::resolve(args.config.as_deref(), config_overrides(args))?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let backend = backends()
        .build(&config.run.backend, &config.run.model, &config, None)
        .with_context(|| format!("the {} agent", config.run.backend))?;
    let model: Arc<dyn TargetModel> = Arc::from(
        open_target_with(
            target,
            &TorchOptions {
                device: args.device.clone(),
                half: args.half,
                sae: args.sae.clone(),
                directions: None,
            },
        )
        .with_context(|| format!("opening the target `{target}`"))?,
    );
    let units = pick_units(model.as_ref())?;
    let data = dataset(args)?;
    let prompts = Prompts::load(config.run.prompts.as_deref())?;
    let dataset = Arc::new(
        Dataset::open(&data).with_context(|| format!("opening the dataset {}", data.display()))?,
    );
    // CoSy's control: random images of the suite's own data set.
    let control = maia_core::eval::ControlSample::from_dataset(
        &dataset,
        &data.display().to_string(),
        maia_core::eval::DEFAULT_PROBE_IMAGES,
        args.seed,
    )
    .with_context(|| format!("sampling CoSy's control from {}", data.display()))?;
    let describer = describer_for(&config, runtime.handle().clone())?;
    let (toolbox, problems) = Toolbox::load(
        &args.plugins.sandbox.loader(),
        &args.plugins.search(),
        ToolboxOptions {
            describer,
            describe_prompt: prompts.render("describe-images.md", &[]),
            summarize_prompt: prompts.render("summarize-images.md", &[]),
            dataset: Some(dataset.clone()),
        },
    )?;
    warn_problems(&problems);
    let toolbox = Arc::new(toolbox);
    let registry = toolbox.registry();
    let evaluator_choice = crate::agent_choice::AgentChoice {
        backend: args.evaluator_backend.clone(),
        model: args.evaluator_model.clone(),
        base_url: args.evaluator_base_url.clone(),
        max_rounds: None,
    };
    let simulation = if args.simulate {
        let simulator: Arc<dyn Simulator> = match args.evaluator {
            super::EvaluatorKind::World => Arc::new(WorldSimulator),
            super::EvaluatorKind::Llm => Arc::new(LlmSimulator::new(
                super::evaluator_backend(&evaluator_choice)?.0,
            )),
        };
        let n = usize::try_from(args.simulate_n).unwrap_or(10);
        let shown = usize::try_from(args.k).unwrap_or(DEFAULT_K);
        if dataset.len() < shown + 2 * n {
            bail!(
                "--simulate: the data set {} has {} images, too few for {shown} exemplars and {n} held-out images per half (lower --simulate-n)",
                data.display(),
                dataset.len()
            );
        }
        Some(SuiteSimulation {
            simulator,
            dataset: dataset.clone(),
            shown,
            n,
        })
    } else {
        None
    };
    let evaluator: Arc<dyn Evaluator> = match args.evaluator {
        super::EvaluatorKind::World => Arc::new(WorldEvaluator),
        super::EvaluatorKind::Llm => Arc::new(super::llm_evaluator(
            &evaluator_choice,
            registry
                .get("text2image")
                .map(|t| t.spec.description.clone()),
        )?),
    };
    let renderer = ToolRenderer::new(registry).map_err(|f| anyhow::anyhow!(f))?;
    let k = usize::try_from(args.k).unwrap_or(DEFAULT_K);
    // With --simulate one pass keeps the held-out top half too; runs see the first k.
    let kept = k + simulation.as_ref().map_or(0, |s| s.n);
    let passes = Arc::new(ExemplarPasses::new(
        &data,
        kept,
        maia_core::exemplars::cache_dir(),
    ));
    let mut layers: Vec<&str> = units.iter().map(|u| u.unit.layer.as_str()).collect();
    layers.dedup();
    for layer in layers {
        let bar = ProgressBar::new(0).with_style(bar_style(
            "{spinner} exemplars [{bar:30}] {pos}/{len} images, {per_sec}, ETA {eta}",
        ));
        let started = Instant::now();
        passes.layer(model.as_ref(), layer, &mut |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        })?;

        bar.finish_and_clear();
        eprintln!(
            "exemplars of {layer} over {}: ready in {:.1} s",
            data.display(),
            started.elapsed().as_secs_f64()
        );
    }
    let score = ScoreConfig {
        n: usize::try_from(args.per_side).unwrap_or(DEFAULT_N),
        seed: args.seed,
        ..ScoreConfig::default()
    };
    let image_price = config.image_price();
    let manifest = SuiteManifest {
        suite: suite.to_owned(),
        target: target.to_owned(),
        agent: backend.name().to_owned(),
        model: backend.model().to_owned(),
        evaluator: evaluator.name().to_owned(),
        score: score.clone(),
        data: data.clone(),
        k,
        max_rounds: config.run.max_rounds,
        simulator: simulation.as_ref().map(|s| s.simulator.name().to_owned()),
    };
    let parts = SuiteParts {
        dir: dir.clone(),
        manifest,
        units,
        kinds,
        model,
        backend,
        config,
        prompts,
        toolbox,
        evaluator,
        exemplars: passes,
        scorer: Arc::new(
            Scorer::new(Arc::new(renderer), score)
                .with_control(control)
                .with_image_price(image_price),
        ),
        concurrency: usize::try_from(args.concurrency).unwrap_or(2),
        simulation,
    };
    eprintln!(
        "eval {id}: {} units of {target}, agent {}, {} at a time, in {}",
        parts.units.len(),
        args.agent,
        parts.concurrency,
        dir.display()
    );
    let outcome = runtime.block_on(async move {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let show = tokio::spawn(async move {
            let bar = ProgressBar::new(0).with_style(bar_style(
                "{spinner} eval [{bar:30}] {pos}/{len} units, {elapsed} elapsed, ETA {eta} {wide_msg}",
            ));
            while let Some(event) = rx.recv().await {
                show_event(&bar, event);
            }
            bar.finish_and_clear();
        });
        let outcome = run_suite(parts, tx).await;
        let _ = show.await;
        outcome
    })?;
    println!("{}", outcome.markdown);
    println!(
        "results: {}\nsummary: {}\nplot:    {}\nruns:    {}",
        outcome.dir.join(RESULTS_FILE).display(),
        outcome.dir.join(SUMMARY_FILE).display(),
        outcome.dir.join(PLOT_FILE).display(),
        outcome.dir.join("runs").display()
    );
    if !outcome.failed.is_empty() {
        eprintln!(
            "{} units failed; run the same command again to retry them",
            outcome.failed.len()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn number(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |v| format!("{v:.2}"))
}

/// A line above the bar, or on stderr when the bar is hidden (not a terminal: logs).
fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}

fn show_event(bar: &ProgressBar, event: SuiteEvent) {
    match event {
        SuiteEvent::Planned { units, done, todo } => {
            bar.set_length(todo as u64);
            if done > 0 {
                say(
                    bar,
                    format!("{done} of {units} units already done; {todo} to go"),
                );
            }
        }
        SuiteEvent::UnitStarted { unit, name } => bar.set_message(format!("{unit} ({name})")),
        SuiteEvent::Round { unit, round } => bar.set_message(format!("{unit} round {round}")),
        SuiteEvent::UnitFinished {
            unit,
            name,
            kind,
            pearson,
            description,
            dead,
        } => {
            let scores: Vec<String> = Method::ALL
                .iter()
                .zip(pearson)
                .map(|(m, p)| format!("{} {}", m.name(), number(p)))
                .collect();
            say(
                bar,
                format!(
                    "{} {unit} {name} ({kind}): {}{} — \"{description}\"",
                    if dead { "·" } else { "✓" },
                    scores.join(", "),
                    if dead { " [dead]" } else { "" },
                ),
            );
            bar.inc(1);
        }
        SuiteEvent::UnitFailed { unit, name, error } => {
            say(bar, format!("✗ {unit} {name}: {error}"));
            bar.inc(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_must_be_plain_folder_names() {
        assert!(check_id("synthetic-offline").is_ok());
        assert!(check_id("../x").is_err());
        assert!(check_id("").is_err());
        assert!(check_id("a/b").is_err());
    }
}
