//! `maia report RUN`: the whole experiment as one self-contained HTML page
//! (`runs/<id>/report.html`) — task, rounds, tool calls with their images and
//! activations, the final answer and its score. With `--score` the answer is scored first
//! (predictive evaluation, as `maia eval score` does) and the score is kept beside the run
//! in `score.json` for later reports.

use super::watch::resolve_run;
use crate::plugin_args::{PluginArgs, warn_problems};
use crate::target_args::TargetArgs;
use anyhow::{Context, Result, anyhow, bail};
use maia_core::ImageStore;
use maia_core::eval::{
    DEFAULT_N, ScoreConfig, Scorer, ToolRenderer, score_against_truth, synthetic_truth,
};
use maia_tui::report::model::RunReport;
use maia_tui::report::score::{RunScore, SCORE_FILE, scorable_by};
use maia_tui::report::{self, REPORT_FILE};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// Options of `maia report`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
maia report 20261125-062252-red-and-circle-unit\n  \
maia report runs/20261125-062252-red-and-circle-unit --score --open\n  \
maia report my-run --out /tmp/my-run.html\n  \
maia report my-resnet-run --score --evaluator llm --backend openai --model gpt-4o --images-from http")]
pub struct ReportArgs {
    /// The run: its id (a folder under --runs-dir) or a path to its folder.
    #[arg(value_name = "RUN")]
    pub run: String,
    /// Folder holding runs.
    #[arg(long, value_name = "DIR", default_value = "runs")]
    pub runs_dir: PathBuf,
    /// Where to write the page [default: report.html in the run folder].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Open the page in the desktop's browser (xdg-open / open) once written.
    #[arg(long)]
    pub open: bool,
    /// Score the final answer first (predictive evaluation: the shapes-world evaluator for
    /// shapes-world models, `--evaluator llm` for any model; and against the ground truth
    /// for synthetic units); the score is saved as score.json in the run folder, and later
    /// reports show it.
    #[arg(long)]
    pub score: bool,
    /// How --score scores.
    #[command(flatten)]
    pub scoring: ScoreFlags,
    #[command(flatten)]
    pub plugins: PluginArgs,
}

/// How a run's answer is scored (`report --score`, `batch gather --score`).
#[derive(clap::Args, Debug, Clone)]
pub struct ScoreFlags {
    /// With --score: positive and neutral prompts each.
    #[arg(long, default_value_t = DEFAULT_N as u64, requires = "score", value_parser = clap::value_parser!(u64).range(1..=512))]
    pub n: u64,
    /// With --score: the scoring seed.
    #[arg(long, default_value_t = 0, requires = "score")]
    pub seed: u64,
    /// With --score: where a torch model runs (cpu, cuda, cuda:N or auto).
    #[arg(long, default_value = "auto", requires = "score")]
    pub device: String,
    /// With --score: who writes the prompts (`llm` scores units of any model).
    #[arg(long, value_enum, default_value_t = crate::commands::eval::EvaluatorKind::World, requires = "score")]
    pub evaluator: crate::commands::eval::EvaluatorKind,
    /// With --score --evaluator llm: the model that writes the prompts.
    #[command(flatten)]
    pub agent: crate::agent_choice::AgentChoice,
    /// With --score: CoSy's control sample.
    #[command(flatten)]
    pub control: crate::commands::eval::ControlFlags,
    /// With --score: also simulate the answer on held-out images of this data set
    /// (dataset simulation; the simulator is the evaluator: the shapes world's, or the
    /// --evaluator llm model, which must take images).
    #[arg(long, value_name = "DIR", requires = "score")]
    pub simulate_data: Option<PathBuf>,
    /// With --simulate-data: held-out images per half (top-activating after the 15
    /// exemplars the agent saw, and random).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(2..=500))]
    pub simulate_n: u64,
}

/// Runs `maia report`.
pub fn run(args: ReportArgs) -> Result<ExitCode> {
    let run_dir = resolve_run(&args.run, &args.runs_dir)?;
    let report = report::load(&run_dir)?;
    if args.score {
        let score = score_answer(&args, &report, recorded_features(&run_dir))?;
        let path = run_dir.join(SCORE_FILE);
        let text = serde_json::to_string_pretty(&score).context("serializing the score")?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("scored: {}", summary(&score));
    }
    let score = report::score::load(&run_dir, &report);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| run_dir.join(REPORT_FILE));
    let written = report::write(&run_dir, &out, &report, &score)?;
    let mut line = format!(
        "wrote {} ({}, {} rounds, {} images, {})",
        written.path.display(),
        size(written.bytes),
        written.rounds,
        written.images,
        written.state
    );
    if written.missing_images > 0 {
        line.push_str(&format!(
            "; {} image files missing, shown as placeholders",
            written.missing_images
        ));
    }
    if written.torn_bytes > 0 {
        line.push_str(&format!(
            "; a torn last journal line ({} bytes) left out",
            written.torn_bytes
        ));
    }
    if !written.unknown.is_empty() {
        eprintln!(
            "warning: events of kinds this maia does not know are left out ({}); the journal was written by a newer maia",
            written.unknown.join(", ")
        );
    }
    if let Some(damage) = &written.damage {
        eprintln!(
            "warning: the journal is {damage}; the page shows what precedes it (`maia resume --repair` keeps a copy and continues from there)"
        );
    }
    println!("{line}");
    if args.open {
        open_in_browser(&written.path)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Scores the run's final answer against its unit.
fn score_answer(
    args: &ReportArgs,
    report: &RunReport,
    features: crate::feature_args::FeatureArgs,
) -> Result<RunScore> {
    let llm = args.scoring.evaluator == crate::commands::eval::EvaluatorKind::Llm;
    scorable_by(report, llm).map_err(|why| anyhow!("cannot score run {}: {why}", report.run_id))?;
    let (Some(start), Some(answer)) = (&report.started, &report.answer) else {
        bail!("cannot score run {}: no final answer", report.run_id);
    };
    let (registry, problems) = args.plugins.load_registry();
    warn_problems(&problems);
    let image_context = registry
        .get("text2image")
        .map(|t| t.spec.description.clone());
    let renderer = ToolRenderer::new(Arc::new(registry))
        .map_err(|f| anyhow!("cannot score: {f}; the shapes-tools plugin provides text2image (`maia tools` lists tools)"))?;
    let target = TargetArgs {
        target: Some(start.target.clone()),
        unit: Some(start.unit.clone()),
        device: args.scoring.device.clone(),
        half: false,
        data: None,
        k: maia_core::exemplars::DEFAULT_K,
        features,
    };
    let unit = Arc::new(
        target
            .open(Arc::new(ImageStore::new()))?
            .with_context(|| format!("opening target {} for scoring", start.target))?,
    );
    let config = ScoreConfig {
        n: usize::try_from(args.scoring.n).unwrap_or(DEFAULT_N),
        seed: args.scoring.seed,
        ..ScoreConfig::default()
    };
    let scorer = Arc::new(args.scoring.control.apply(
        Scorer::new(Arc::new(renderer), config).with_image_price(args.plugins.image_price()?),
        args.scoring.seed,
    )?);
    let score = if llm {
        let evaluator = crate::commands::eval::llm_evaluator(&args.scoring.agent, image_context)?;
        let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
        runtime.block_on(scorer.score(&answer.description, &evaluator, unit.clone()))
    } else {
        scorer.score_world(&answer.description, unit.as_ref())
    };
    let simulation = match &args.scoring.simulate_data {
        Some(data) => {
            use crate::commands::eval::simulate::{Held, simulate_description, simulator};
            let simulator = simulator(args.scoring.evaluator, &args.scoring.agent)?;
            let held = Held {
                shown: maia_core::exemplars::DEFAULT_K,
                n: usize::try_from(args.scoring.simulate_n).unwrap_or(10),
                seed: args.scoring.seed,
            };
            Some(
                simulate_description(&unit, data, &answer.description, held, simulator.as_ref())
                    .with_context(|| format!("--simulate-data {}", data.display()))?,
            )
        }
        None => None,
    };
    let mut run_score = RunScore {
        score,
        truth_said: None,
        truth: None,
        truth_failure: None,
        simulation,
    };
    if let Some(concept) = synthetic_truth(&start.target, unit.unit()) {
        run_score.truth_said = Some(
            unit.model()
                .ground_truth(unit.unit())
                .unwrap_or_else(|| concept.describe()),
        );
        match score_against_truth(&answer.description, &concept, args.scoring.seed) {
            Ok(t) => run_score.truth = Some(t),
            Err(f) => run_score.truth_failure = Some(f),
        }
    }
    Ok(run_score)
}

/// One line for the terminal.
fn summary(s: &RunScore) -> String {
    let n = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), |v| format!("{v:.3}"));
    let sc = &s.score;
    let mut line = match &sc.failure {
        Some(f) => format!("could not score [{}]: {}", f.kind.name(), f.reason),
        None if sc.dead => "the unit never fired (dead)".to_owned(),
        None => format!(
            "pearson {}  auprc {}  f1 {}",
            n(sc.pearson),
            n(sc.auprc),
            n(sc.f1)
        ),
    };
    if let Some(t) = &s.truth {
        line.push_str(&format!("; against truth iou {}  f1 {}", n(t.iou), n(t.f1)));
    }
    if let Some(sim) = &s.simulation {
        match &sim.failure {
            Some(f) => line.push_str(&format!("; simulation failed: {}", f.reason)),
            None => line.push_str(&format!(
                "; simulation r {} (top {}, random {})",
                n(sim.all),
                n(sim.top),
                n(sim.random)
            )),
        }
    }
    line
}

fn size(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / f64::from(1u32 << 20))
    } else {
        format!("{} KiB", bytes.div_ceil(1024))
    }
}

fn open_in_browser(path: &Path) -> Result<()> {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let status = std::process::Command::new(opener)
        .arg(path)
        .status()
        .with_context(|| {
            format!(
                "starting {opener} to open {}; open the file by hand",
                path.display()
            )
        })?;
    if !status.success() {
        bail!(
            "{opener} {} failed ({status}); open the file by hand",
            path.display()
        );
    }
    Ok(())
}

/// The SAE and directions a run was started with (`[run] sae` and `directions` in its
/// run.toml), so that scoring opens the unit the run studied.
fn recorded_features(run_dir: &Path) -> crate::feature_args::FeatureArgs {
    let table: Option<toml::Table> =
        std::fs::read_to_string(maia_core::agent::dir::RunDir::new(run_dir).run_toml())
            .ok()
            .and_then(|text| text.parse().ok());
    let path = |key: &str| {
        table
            .as_ref()?
            .get("run")?
            .get(key)?
            .as_str()
            .map(PathBuf::from)
    };
    crate::feature_args::FeatureArgs {
        sae: path("sae"),
        directions: path("directions"),
    }
}
