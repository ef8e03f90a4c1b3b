//! `maia eval`: how well descriptions predict what units do (MAIA's predictive
//! evaluation). `maia eval score` scores one description by hand; `maia eval synthetic`
//! and `maia eval wild` run the suites over many units ([`maia_core::eval::suite`]);
//! `maia eval bias` scores bias discovery against a planted subgroup.

mod bias;
pub(crate) mod simulate;
mod suite;

pub use bias::BiasArgs;
pub use suite::{SyntheticArgs, WildArgs};

use crate::plugin_args::{PluginArgs, warn_problems};
use crate::target_args::TargetArgs;
use anyhow::{Context, Result};
use maia_core::ImageStore;
use maia_core::eval::{
    DEFAULT_N, HELD_OUT_SEED_BASE, Score, ScoreConfig, Scorer, ToolRenderer, TruthScore, UnitProbe,
    score_against_truth, synthetic_truth,
};
use maia_core::target::TargetUnit;
use std::process::ExitCode;
use std::sync::Arc;

/// `maia eval` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum EvalCommand {
    /// Score one description of a unit: the evaluator writes positive and neutral prompts,
    /// text2image draws them on held-out seeds, the unit runs on them, and the labels are
    /// compared with the activations (Pearson, AUPRC, F1). Synthetic units are also scored
    /// against their ground truth.
    Score(Box<ScoreArgs>),
    /// Evaluate the agent on synthetic units with known ground truth (mono, OR, AND,
    /// AND-NOT): per unit a full agent run, the exemplar-only baseline and a random
    /// control, all scored alike; writes eval/<id>/results.jsonl, summary.md and scores.png.
    Synthetic(Box<SyntheticArgs>),
    /// Evaluate the agent on units of the shapes CNN (`world-cnn`) or ViT (`--target
    /// world-vit`), trained on first use and cached (`maia world train-cnn`/`train-vit` do it
    /// ahead): "neurons in the wild", scored like the synthetic suite.
    Wild(Box<WildArgs>),
    /// MAIA's bias discovery against planted truth: the agent hunts (`--task find-bias`) on
    /// the bias preset's class `square` for each seed, and its reported failure condition
    /// is scored against the planted subgroup (IoU over held-out probe scenes) with the
    /// classifier's accuracy inside and outside it.
    Bias(BiasArgs),
    /// Dataset simulation (OpenAI's neuron-explainer): a simulator rates held-out dataset
    /// images — the next most activating after the agent's exemplars, and as many random —
    /// for how well the description applies; the score is the correlation of the ratings
    /// with the unit's activations, per half and together. Needs no image generator.
    Simulate(Box<simulate::SimulateArgs>),
    /// How far two evaluations of the same descriptions agree — e.g. `eval synthetic`
    /// scored by the world evaluator and again with `--evaluator llm`: per method, the
    /// correlation of the descriptions' scores, their mean absolute difference, and how
    /// often both rank the agent against the random control the same way.
    Compare(CompareArgs),
}

/// Which evaluator writes the prompts.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvaluatorKind {
    /// The shapes world's deterministic evaluator: reads the description's concept and
    /// draws scenes that show it and scenes that lack it.
    World,
    /// MAIA's protocol: a language model (`--backend`, `--model`, `--base-url`) writes the
    /// positive and neutral prompts, told what the image generator can draw.
    Llm,
}

/// Options of `maia eval score`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
maia eval score --target synthetic:red_and_circle --description 'red circles'\n  \
maia eval score --target synthetic:all --unit synthetic:5 --description 'stars that are not small' --n 40\n  \
maia eval score --target synthetic:circle_with_star -d 'circles and stars together' --json\n  \
maia eval score --target torch:resnet50.pt --unit layer4:5 -d 'dogs' --evaluator llm --backend openai --model gpt-4o --images-from http")]
pub struct ScoreArgs {
    /// The model whose unit is scored: `synthetic:NAME`, 'synthetic:EXPR', `synthetic:all`,
    /// `world-cnn`, `world-vit`, `torch:MODEL.pt` or `remote:ADDR`.
    #[arg(long, value_name = "SPEC")]
    pub target: String,
    /// The unit, as LAYER:UNIT; default: the target's only unit.
    #[arg(long, value_name = "LAYER:UNIT")]
    pub unit: Option<String>,
    /// The description to score, e.g. 'red circles, but not on a blue background'.
    #[arg(long, short = 'd')]
    pub description: String,
    /// Positive and neutral prompts each.
    #[arg(long, default_value_t = DEFAULT_N as u64, value_parser = clap::value_parser!(u64).range(1..=512))]
    pub n: u64,
    /// Scoring seed: picks the evaluator's scenes and (above 1000000) the render seeds.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Who writes the prompts.
    #[arg(long, value_enum, default_value_t = EvaluatorKind::World)]
    pub evaluator: EvaluatorKind,
    /// With --evaluator llm: the model that writes the prompts.
    #[command(flatten)]
    pub agent: crate::agent_choice::AgentChoice,
    /// Where a torch model runs: cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Run a torch model in float16 (CUDA only).
    #[arg(long)]
    pub half: bool,
    /// Feature units: --sae and --directions.
    #[command(flatten)]
    pub features: crate::feature_args::FeatureArgs,
    /// CoSy's control sample: --control-data and --control-n.
    #[command(flatten)]
    pub control: ControlFlags,
    /// Print the score (and the ground-truth score) as JSON.
    #[arg(long)]
    pub json: bool,
    /// List every prompt with the unit's activation.
    #[arg(long)]
    pub show_prompts: bool,
    #[command(flatten)]
    pub plugins: PluginArgs,
}

/// `maia eval compare`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  maia eval synthetic --n 20 --id world\n  maia eval synthetic --n 20 --id llm --evaluator llm --evaluator-model M --evaluator-base-url URL\n  maia eval compare eval/world eval/llm"
)]
pub struct CompareArgs {
    /// One eval folder (or its results.jsonl).
    pub a: std::path::PathBuf,
    /// The other.
    pub b: std::path::PathBuf,
    /// Print the comparison as JSON.
    #[arg(long)]
    pub json: bool,
}

fn compare(args: CompareArgs) -> Result<ExitCode> {
    use maia_core::eval::suite::{RESULTS_FILE, compare, results};
    let read = |path: &std::path::Path| -> Result<(Vec<_>, String)> {
        let (dir, file) = if path.is_dir() {
            (path.to_path_buf(), path.join(RESULTS_FILE))
        } else {
            (
                path.parent()
                    .map(std::path::Path::to_path_buf)
                    .unwrap_or_default(),
                path.to_path_buf(),
            )
        };
        if !file.is_file() {
            anyhow::bail!(
                "{}: no {RESULTS_FILE} there; give an eval folder (eval/<id>) or its results file",
                path.display()
            );
        }
        let (lines, _) =
            results::read_lines(&file).with_context(|| format!("reading {}", file.display()))?;
        let evaluator = std::fs::read_to_string(dir.join("suite.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["evaluator"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "?".to_owned());
        Ok((lines, format!("{} ({evaluator})", path.display())))
    };
    let (a, a_name) = read(&args.a)?;
    let (b, b_name) = read(&args.b)?;
    let comparison = compare::compare(&a, &b);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&comparison)?);
    } else {
        print!("{}", compare::markdown(&comparison, &a_name, &b_name));
    }
    Ok(ExitCode::SUCCESS)
}

/// Where CoSy's control sample comes from (`eval score`, `report --score`, `batch gather
/// --score`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ControlFlags {
    /// CoSy's control sample from the model's own data (a folder, class folders, a list
    /// file or tar shards): AUC and MAD compare the description's images with random
    /// images of it. Default: the shapes world's dataset scenes, right for shapes-world
    /// models only.
    #[arg(long, value_name = "DIR")]
    pub control_data: Option<std::path::PathBuf>,
    /// Images in the control sample.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(2..=100_000))]
    pub control_n: u64,
}

impl ControlFlags {
    /// The control sample, drawn with `seed`, when --control-data was given.
    pub fn sample(&self, seed: u64) -> Result<Option<maia_core::eval::ControlSample>> {
        let Some(data) = &self.control_data else {
            return Ok(None);
        };
        let dataset = maia_core::dataset::Dataset::open(data)
            .with_context(|| format!("--control-data {}", data.display()))?;
        let n = usize::try_from(self.control_n).unwrap_or(usize::MAX);
        let control = maia_core::eval::ControlSample::from_dataset(
            &dataset,
            &data.display().to_string(),
            n,
            seed,
        )
        .with_context(|| format!("--control-data {}", data.display()))?;
        if control.images.len() < 2 {
            anyhow::bail!(
                "--control-data {} holds {} image(s); CoSy's control needs at least 2",
                data.display(),
                control.images.len()
            );
        }
        Ok(Some(control))
    }

    /// `scorer` with the control sample, if any.
    pub fn apply(&self, scorer: Scorer, seed: u64) -> Result<Scorer> {
        Ok(match self.sample(seed)? {
            Some(control) => scorer.with_control(control),
            None => scorer,
        })
    }
}

/// Runs `maia eval`.
pub fn run(command: EvalCommand) -> Result<ExitCode> {
    match command {
        EvalCommand::Score(args) => score(*args),
        EvalCommand::Synthetic(args) => suite::synthetic(*args),
        EvalCommand::Wild(args) => suite::wild(*args),
        EvalCommand::Bias(args) => bias::run(args),
        EvalCommand::Simulate(args) => simulate::run(*args),
        EvalCommand::Compare(args) => compare(args),
    }
}

fn score(args: ScoreArgs) -> Result<ExitCode> {
    let (registry, problems) = args.plugins.load_registry();
    warn_problems(&problems);
    let image_context = registry
        .get("text2image")
        .map(|t| t.spec.description.clone());
    let renderer = ToolRenderer::new(Arc::new(registry)).map_err(|f| anyhow::anyhow!(f))?;
    let target = TargetArgs {
        target: Some(args.target.clone()),
        unit: args.unit.clone(),
        device: args.device.clone(),
        half: args.half,
        data: None,
        k: 15,
        features: args.features.clone(),
    };
    let unit: Arc<TargetUnit> = Arc::new(
        target
            .open(Arc::new(ImageStore::new()))?
            .context("no target")?,
    );
    let n = usize::try_from(args.n).unwrap_or(DEFAULT_N);
    let scorer = Arc::new(
        args.control.apply(
            Scorer::new(
                Arc::new(renderer),
                ScoreConfig {
                    n,
                    seed: args.seed,
                    ..ScoreConfig::default()
                },
            )
            .with_image_price(args.plugins.image_price()?),
            args.seed,
        )?,
    );
    let score = match args.evaluator {
        EvaluatorKind::World => scorer.score_world(&args.description, unit.as_ref()),
        EvaluatorKind::Llm => llm_score(&args, &scorer, unit.clone(), image_context)?,
    };
    let truth = synthetic_truth(&args.target, unit.unit()).map(|concept| {
        (
            concept.clone(),
            score_against_truth(&args.description, &concept, args.seed),
        )
    });
    if args.json {
        let truth_json = match &truth {
            Some((_, Ok(t))) => serde_json::to_value(t)?,
            Some((_, Err(f))) => serde_json::json!({ "failure": f }),
            None => serde_json::Value::Null,
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "score": score,
                "truth": truth_json,
            }))?
        );
    } else {
        print!(
            "{}",
            report(
                &score,
                unit.as_ref(),
                scorer.renderer().name(),
                args.show_prompts
            )
        );
        if let Some((concept, result)) = &truth {
            let said = unit
                .model()
                .ground_truth(unit.unit())
                .unwrap_or_else(|| concept.describe());
            print!("{}", truth_report(&said, &concept.to_string(), result));
        }
    }
    Ok(if score.failure.is_some() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// The language-model evaluator of `agent`, told what the image generator draws
/// (`image_context`, the text2image tool's description).
pub(crate) fn llm_evaluator(
    agent: &crate::agent_choice::AgentChoice,
    image_context: Option<String>,
) -> Result<maia_core::eval::LlmEvaluator> {
    let (backend, price) = evaluator_backend(agent)?;
    let evaluator = maia_core::eval::LlmEvaluator::new(backend).with_price(price);
    Ok(match image_context {
        Some(context) => evaluator.with_image_context(context),
        None => evaluator,
    })
}

/// The backend of `--evaluator llm` (or `--simulator llm`) and its model's price.
pub(crate) fn evaluator_backend(
    agent: &crate::agent_choice::AgentChoice,
) -> Result<(
    Arc<dyn maia_core::llm::LlmBackend>,
    Option<maia_core::config::Price>,
)> {
    use maia_core::config::Config;
    if agent.backend == "offline" {
        anyhow::bail!(
            "--evaluator llm needs a language model: give --backend openai or anthropic (with --model, and --base-url for a local server such as llama.cpp or vLLM); the offline experimenter does not write evaluator prompts"
        );
    }
    let (config, _) = Config::resolve(None, agent.overrides())?;
    let backend = crate::backends::backends()
        .build(&config.run.backend, &config.run.model, &config, None)
        .with_context(|| format!("the {} evaluator", config.run.backend))?;
    let price = config.prices.get(backend.model()).copied();
    Ok((backend, price))
}

/// Scores with MAIA's protocol: the chosen model writes the prompts.
fn llm_score(
    args: &ScoreArgs,
    scorer: &Arc<Scorer>,
    unit: Arc<TargetUnit>,
    image_context: Option<String>,
) -> Result<maia_core::eval::Score> {
    let evaluator = llm_evaluator(&args.agent, image_context)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    Ok(runtime.block_on(scorer.score(&args.description, &evaluator, unit)))
}

fn number(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |v| format!("{v:.3}"))
}

/// The score as the terminal shows it.
fn report(score: &Score, unit: &dyn UnitProbe, renderer: String, show_prompts: bool) -> String {
    let mut out = String::new();
    out.push_str(&format!("unit         {}\n", unit.label()));
    out.push_str(&format!("description  \"{}\"\n", score.description));
    if let Some(understood) = &score.understood {
        out.push_str(&format!(
            "understood   {understood}   ({} evaluator)\n",
            score.evaluator
        ));
    }
    if let Some(failure) = &score.failure {
        out.push_str(&format!(
            "\ncould not score [{}]: {}\n",
            failure.kind.name(),
            failure.reason
        ));
        for line in &failure.log {
            out.push_str(&format!("  log: {line}\n"));
        }
    } else {
        out.push_str(&format!(
            "images       {} positive + {} neutral, drawn by {renderer} on held-out seeds ≥ {HELD_OUT_SEED_BASE} (seed {})\n\n",
            score.n_positive, score.n_neutral, score.seed
        ));
        if score.dead {
            out.push_str("  the unit never fired: dead (left out of means)\n");
        } else {
            out.push_str(&format!("  pearson    {}\n", number(score.pearson)));
            out.push_str(&format!("  auprc      {}\n", number(score.auprc)));
            out.push_str(&format!(
                "  f1         {}   (threshold chosen on the other half of the images)\n",
                number(score.f1)
            ));
        }
        out.push_str(&format!(
            "  mean activation   positive {}   neutral {}\n",
            number(score.mean_pos),
            number(score.mean_neutral)
        ));
        if score.cosy_auc.is_some() {
            out.push_str(&format!(
                "  CoSy       auc {}   mad {}   (positive images against {})\n",
                number(score.cosy_auc),
                number(score.cosy_mad),
                score
                    .cosy_control
                    .as_deref()
                    .unwrap_or("the control sample")
            ));
        }
    }
    if score.images_cost_usd > 0.0 {
        out.push_str(&format!(
            "  images     ${:.4} to draw\n",
            score.images_cost_usd
        ));
    }
    if !score.evaluator_usage.is_zero() {
        out.push_str(&format!(
            "  evaluator  {} tokens in, {} out{}\n",
            score.evaluator_usage.input_tokens,
            score.evaluator_usage.output_tokens,
            if score.evaluator_cost_usd > 0.0 {
                format!(", ${:.4}", score.evaluator_cost_usd)
            } else {
                String::new()
            }
        ));
    }
    if show_prompts && !score.images.is_empty() {
        out.push('\n');
        for image in &score.images {
            out.push_str(&format!(
                "  {} {:>8.3}  {}\n",
                if image.positive { "+" } else { "·" },
                image.activation,
                image.prompt
            ));
        }
    }
    if !score.notes.is_empty() {
        out.push_str("\nnotes:\n");
        for note in &score.notes {
            out.push_str(&format!("  - {note}\n"));
        }
    }
    out
}

/// The ground-truth comparison as the terminal shows it.
fn truth_report(
    said: &str,
    expression: &str,
    result: &Result<TruthScore, maia_core::eval::Failure>,
) -> String {
    let mut out = format!("\nground truth {said}   ({expression})\n");
    match result {
        Ok(t) => out.push_str(&format!(
            "  against truth: iou {}   f1 {}   phi {}   precision {}   recall {}   ({} probe scenes)\n",
            number(t.iou),
            number(t.f1),
            number(t.pearson),
            number(t.precision),
            number(t.recall),
            t.probe
        )),
        Err(f) => out.push_str(&format!("  against truth: not scored: {}\n", f.reason)),
    }
    out
}
