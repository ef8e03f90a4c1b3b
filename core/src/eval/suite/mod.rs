//! Evaluation suites: many units, three describers, one scorer.
//!
//! For every unit of a suite ([`units`]: the synthetic catalogue with ground truth, or
//! units of a real model's layer) three descriptions are written and scored identically
//! by one [`Scorer`] (same evaluator, same held-out seeds):
//!
//! - **agent**: a full, journaled [`Agent`] run (headless) in `<eval>/runs/<unit>/`; a
//!   run cut off by an interruption is resumed from its journal, a finished one reused;
//! - **baseline**: the same backend shown the unit's top exemplars once, answering in one
//!   reply with `final_answer` its only tool ([`baseline`]);
//! - **control**: a random description from the world's vocabulary
//!   ([`crate::eval::random_description`]).
//!
//! Units run concurrently (bounded); each finished unit's three lines are appended to
//! `results.jsonl` at once ([`results`]), so an interrupted eval resumes where it stopped
//! and finished units are never computed again. At the end `summary.md` (a table per unit
//! kind: means ± 95 % intervals, n, dead units; [`summary`]), `summary.json` and
//! `scores.png` ([`plot`]) are written. Progress is reported as [`SuiteEvent`]s.

pub mod baseline;
pub mod compare;
pub mod plot;
pub mod results;
pub mod summary;
pub mod units;

pub use results::{RESULTS_FILE, ResultLine, ResultsFile};
pub use summary::{KindSummary, MethodSummary};
pub use units::{SYNTHETIC_TARGET, SuiteUnit, layer_units, synthetic_named, synthetic_units};

use super::simulation::{HeldOut, Simulation, Simulator, simulate};
use super::{
    Evaluator, Failure, FailureKind, ModelUnit, Score, Scorer, TruthScore, UnitProbe,
    random_description, score_against_truth,
};
use crate::agent::event::RunStatus;
use crate::agent::setup::{ExemplarPasses, Toolbox};
use crate::agent::unit_run::{UnitRunParts, UnitRunResult, run_unit};
use crate::agent::{Prompts, RunInfo};
use crate::config::Config;
use crate::exemplars::LayerExemplars;
use crate::images::ImageStore;
use crate::llm::LlmBackend;
use crate::target::{TargetModel, TargetUnit, UnitRef};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc};

/// What the eval folder's `suite.json` records: resuming an eval needs the same.
pub const MANIFEST_FILE: &str = "suite.json";
/// The markdown summary.
pub const SUMMARY_FILE: &str = "summary.md";
/// The summary's numbers as JSON.
pub const SUMMARY_JSON: &str = "summary.json";
/// The plot.
pub const PLOT_FILE: &str = "scores.png";

/// Who wrote a description.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The interactive agent.
    Agent,
    /// The exemplar-only baseline.
    Baseline,
    /// The random-description control.
    Control,
}

impl Method {
    /// Every method, in report order.
    pub const ALL: [Method; 3] = [Method::Agent, Method::Baseline, Method::Control];

    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Agent => "agent",
            Method::Baseline => "baseline",
            Method::Control => "control",
        }
    }

    /// Name in tables.
    pub fn title(self) -> &'static str {
        match self {
            Method::Agent => "agent",
            Method::Baseline => "exemplar-only baseline",
            Method::Control => "random control",
        }
    }
}

/// How an eval was made. Written to `suite.json` by the first invocation; a later one on
/// the same folder must match, so that results of different settings never mix.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuiteManifest {
    /// `synthetic` or `wild`.
    pub suite: String,
    /// The target spec (`synthetic:all`, `world-cnn`).
    pub target: String,
    /// The agent's backend (`offline`, `openai`, `anthropic`).
    pub agent: String,
    /// The model id the backend reports.
    pub model: String,
    /// Who turns descriptions into prompts (`world`).
    pub evaluator: String,
    /// The scorer's settings.
    pub score: super::ScoreConfig,
    /// The data set exemplars come from (a folder, a list file or tar shards).
    pub data: PathBuf,
    /// Exemplars per unit.
    pub k: usize,
    /// The agent's round limit.
    pub max_rounds: u32,
    /// Dataset simulation's simulator, when every description is also simulated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulator: Option<String>,
}

/// Dataset simulation in a suite: every description is also rated on each unit's held-out
/// dataset images (the `n` most activating after the `shown` exemplars, and `n` random).
/// The suite's exemplar passes must keep `shown + n` per unit; the agent and the baseline
/// see the first `shown`.
pub struct SuiteSimulation {
    /// Who rates.
    pub simulator: Arc<dyn Simulator>,
    /// The suite's data set.
    pub dataset: Arc<crate::dataset::Dataset>,
    /// Exemplars the agent saw (skipped).
    pub shown: usize,
    /// Images per half.
    pub n: usize,
}

/// Everything a suite run needs, built by the caller (`maia eval synthetic|wild`).
pub struct SuiteParts {
    /// The eval folder (`eval/<id>`).
    pub dir: PathBuf,
    /// How it is made.
    pub manifest: SuiteManifest,
    /// The units, in report order.
    pub units: Vec<SuiteUnit>,
    /// Kinds in report order (others follow as met).
    pub kinds: Vec<String>,
    /// The target model.
    pub model: Arc<dyn TargetModel>,
    /// The agent's (and the baseline's) backend.
    pub backend: Arc<dyn LlmBackend>,
    /// The base configuration of every agent run (limits, images, prices, describer).
    pub config: Config,
    /// Prompt files.
    pub prompts: Prompts,
    /// The tools, loaded once.
    pub toolbox: Arc<Toolbox>,
    /// Exemplar passes over `manifest.data` (with `manifest.k` per unit, or more with
    /// [`SuiteSimulation`]).
    pub exemplars: Arc<ExemplarPasses>,
    /// The scorer every description goes through.
    pub scorer: Arc<Scorer>,
    /// Who writes every description's prompts: the shapes world's evaluator, or a
    /// language model (MAIA's protocol); its name is the manifest's `evaluator`.
    pub evaluator: Arc<dyn Evaluator>,
    /// Units evaluated at once (at least 1).
    pub concurrency: usize,
    /// Dataset simulation, when asked for.
    pub simulation: Option<SuiteSimulation>,
}

/// Progress of a suite.
#[derive(Clone, Debug, PartialEq)]
pub enum SuiteEvent {
    /// What is to be done: `done` units are already in the results and are skipped.
    Planned {
        /// Units in the suite.
        units: usize,
        /// Already complete.
        done: usize,
        /// To compute now.
        todo: usize,
    },
    /// A unit begins.
    UnitStarted {
        /// Address.
        unit: String,
        /// Name.
        name: String,
    },
    /// A unit's agent run began a round.
    Round {
        /// Address.
        unit: String,
        /// The round.
        round: u32,
    },
    /// A unit's lines were written.
    UnitFinished {
        /// Address.
        unit: String,
        /// Name.
        name: String,
        /// Kind.
        kind: String,
        /// Pearson correlation per method, in [`Method::ALL`] order.
        pearson: [Option<f64>; 3],
        /// The agent's description.
        description: String,
        /// The unit never fired.
        dead: bool,
    },
    /// A unit could not be evaluated (nothing written; the next invocation tries again).
    UnitFailed {
        /// Address.
        unit: String,
        /// Name.
        name: String,
        /// Why.
        error: String,
    },
}

/// What a suite run did.
#[derive(Clone, Debug)]
pub struct SuiteOutcome {
    /// The eval folder.
    pub dir: PathBuf,
    /// Units computed by this invocation.
    pub computed: usize,
    /// Units found complete in the results and skipped.
    pub reused: usize,
    /// Units that failed: address and why.
    pub failed: Vec<(String, String)>,
    /// The summary per kind (and `all`).
    pub kinds: Vec<KindSummary>,
    /// `summary.md`'s text.
    pub markdown: String,
    /// How long this invocation took.
    pub elapsed: Duration,
}

/// Why a suite could not run (a unit's own failure is reported, not an error).
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// Reading or writing the eval folder.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The folder holds an eval made differently.
    #[error(
        "{} was made with {field} = {was}, not {now}; resume it with the same options or pick another --id",
        .path.display()
    )]
    Mismatch {
        /// `suite.json`.
        path: PathBuf,
        /// The setting.
        field: String,
        /// What it was.
        was: String,
        /// What was asked now.
        now: String,
    },
    /// The plot could not be written.
    #[error(transparent)]
    Plot(#[from] plot::PlotError),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SuiteError + '_ {
    move |source| SuiteError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `suite.json`, or checks that the one there matches.
fn check_manifest(dir: &Path, manifest: &SuiteManifest) -> Result<(), SuiteError> {
    let path = dir.join(MANIFEST_FILE);
    let now = serde_json::to_value(manifest).unwrap_or_default();
    match std::fs::read(&path) {
        Ok(bytes) => {
            let was: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|e| SuiteError::Io {
                    path: path.clone(),
                    source: std::io::Error::other(format!("not a suite manifest: {e}")),
                })?;
            if let (Some(was), Some(now)) = (was.as_object(), now.as_object()) {
                for (field, value) in now {
                    let old = was.get(field).cloned().unwrap_or_default();
                    if &old != value {
                        return Err(SuiteError::Mismatch {
                            path,
                            field: field.clone(),
                            was: old.to_string(),
                            now: value.to_string(),
                        });
                    }
                }
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let text = serde_json::to_string_pretty(manifest).unwrap_or_default();
            std::fs::write(&path, text + "\n").map_err(io_err(&path))
        }
        Err(e) => Err(io_err(&path)(e)),
    }
}

/// Runs the suite: skips units already complete in `results.jsonl`, evaluates the others
/// `concurrency` at a time, then writes `summary.md`, `summary.json` and `scores.png` for
/// the suite's units. Progress goes to `events` (dropped events are fine).
pub async fn run_suite(
    parts: SuiteParts,
    events: mpsc::UnboundedSender<SuiteEvent>,
) -> Result<SuiteOutcome, SuiteError> {
    let started = Instant::now();
    let dir = parts.dir.clone();
    std::fs::create_dir_all(dir.join("runs")).map_err(io_err(&dir))?;
    check_manifest(&dir, &parts.manifest)?;
    let (file, mut complete) = ResultsFile::open(&dir, &Method::ALL).map_err(io_err(&dir))?;
    let todo: Vec<SuiteUnit> = parts
        .units
        .iter()
        .filter(|u| !complete.contains_key(&u.unit.to_string()))
        .cloned()
        .collect();
    let reused = parts.units.len() - todo.len();
    let _ = events.send(SuiteEvent::Planned {
        units: parts.units.len(),
        done: reused,
        todo: todo.len(),
    });
    let parts = Arc::new(parts);
    let file = Arc::new(file);
    let permits = Arc::new(Semaphore::new(parts.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for unit in todo {
        let (parts, file, permits, events) =
            (parts.clone(), file.clone(), permits.clone(), events.clone());
        tasks.spawn(async move {
            let Ok(_permit) = permits.acquire_owned().await else {
                return (
                    unit.unit.to_string(),
                    Err("the eval was shut down".to_owned()),
                );
            };
            let _ = events.send(SuiteEvent::UnitStarted {
                unit: unit.unit.to_string(),
                name: unit.name.clone(),
            });
            let result = evaluate_unit(&parts, &unit, &events).await;
            let result = match result {
                Ok(lines) => match file.append(&lines) {
                    Ok(()) => {
                        let pearson = [0, 1, 2].map(|i| lines.get(i).and_then(|l| l.score.pearson));
                        let _ = events.send(SuiteEvent::UnitFinished {
                            unit: unit.unit.to_string(),
                            name: unit.name.clone(),
                            kind: unit.kind.clone(),
                            pearson,
                            description: lines
                                .first()
                                .map(|l| l.description.clone())
                                .unwrap_or_default(),
                            dead: summary::unit_dead(&lines),
                        });
                        Ok(lines)
                    }
                    Err(e) => Err(format!("writing {}: {e}", file.path().display())),
                },
                Err(e) => Err(e),
            };
            if let Err(error) = &result {
                let _ = events.send(SuiteEvent::UnitFailed {
                    unit: unit.unit.to_string(),
                    name: unit.name.clone(),
                    error: error.clone(),
                });
            }
            (unit.unit.to_string(), result)
        });
    }
    let mut computed = 0;
    let mut failed = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((unit, Ok(lines))) => {
                computed += 1;
                complete.insert(unit, lines);
            }
            Ok((unit, Err(error))) => failed.push((unit, error)),
            Err(e) => failed.push(("?".into(), format!("a unit's task crashed: {e}"))),
        }
    }
    let wanted: BTreeMap<String, Vec<ResultLine>> = parts
        .units
        .iter()
        .filter_map(|u| {
            let key = u.unit.to_string();
            complete.get(&key).map(|lines| (key, lines.clone()))
        })
        .collect();
    let kinds = summary::summarize_kinds(&wanted, &parts.kinds);
    let elapsed = started.elapsed();
    let markdown = summary_markdown(&parts, &kinds, computed, reused, &failed, elapsed);
    let write = |name: &str, text: String| -> Result<(), SuiteError> {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(io_err(&path))
    };
    write(SUMMARY_FILE, markdown.clone())?;
    write(
        SUMMARY_JSON,
        serde_json::to_string_pretty(&kinds).unwrap_or_default() + "\n",
    )?;
    let id = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    plot::write(
        &dir.join(PLOT_FILE),
        &kinds,
        &format!(
            "maia eval {id}: {} suite, agent {} ({})",
            parts.manifest.suite, parts.manifest.agent, parts.manifest.model
        ),
    )?;
    Ok(SuiteOutcome {
        dir,
        computed,
        reused,
        failed,
        kinds,
        markdown,
        elapsed,
    })
}

/// `summary.md`.
fn summary_markdown(
    parts: &SuiteParts,
    kinds: &[KindSummary],
    computed: usize,
    reused: usize,
    failed: &[(String, String)],
    elapsed: Duration,
) -> String {
    let m = &parts.manifest;
    let id = parts
        .dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let with_truth = parts.units.iter().any(|u| u.truth.is_some());
    let mut out = format!("# maia eval `{id}`: {} suite\n\n", m.suite);
    out.push_str(&format!(
        "Agent `{}` (model `{}`) on `{}`, {} units. Exemplars: top {} over the images of `{}`. \
Every description — the agent's, the exemplar-only baseline's (the same backend, shown the top exemplars once) \
and a random control's — is scored the same way: the {} evaluator writes {} positive and {} neutral prompts, \
they are drawn on held-out seeds (scoring seed {}), and the unit's activations are compared with the labels. \
Means ± 95 % CI (Student t) over live units; dead units are left out and counted; a description that cannot be \
read counts at chance level (Pearson 0).\n\n",
        m.agent,
        m.model,
        m.target,
        parts.units.len(),
        m.k,
        m.data.display(),
        m.evaluator,
        m.score.n,
        m.score.n,
        m.score.seed
    ));
    out.push_str("## Mean predictive correlation (Pearson r)\n\n");
    out.push_str(&summary::pearson_table(kinds));
    out.push_str(
        "\n## CoSy (Kopf et al., NeurIPS 2024)\n\nAUC: the chance that an image drawn from the description's positive prompts activates the unit more than a control image (random images of the suite's data set), ties half; MAD: their mean activation above the control's, in control standard deviations.\n\n",
    );
    out.push_str(&summary::cosy_table(kinds));
    if let Some(table) = summary::simulation_table(kinds) {
        out.push_str(&format!(
            "\n## Dataset simulation\n\nThe simulator ({}) rated each unit's held-out dataset images — the most activating after the exemplars the agent saw, and as many random ones — by how well the description applies; mean Pearson r of the ratings with the unit's activations over both.\n\n",
            m.simulator.as_deref().unwrap_or("?")
        ));
        out.push_str(&table);
    }
    out.push_str("\n## By unit kind\n\n");
    for k in kinds {
        out.push_str(&summary::kind_table(k, with_truth));
        out.push('\n');
    }
    out.push_str(&format!(
        "This invocation computed {computed} units ({reused} already done) in {:.1} s with {} at a time.\n",
        elapsed.as_secs_f64(),
        parts.concurrency.max(1)
    ));
    if !failed.is_empty() {
        out.push_str(&format!(
            "\n{} units failed and are not in the tables (run the same command again to retry):\n\n",
            failed.len()
        ));
        for (unit, why) in failed {
            out.push_str(&format!("- `{unit}`: {why}\n"));
        }
    }
    out
}

/// What an agent run gave.
type AgentAnswer = UnitRunResult;

/// The configuration of one unit's runs.
fn unit_config(parts: &SuiteParts, unit: &SuiteUnit) -> Config {
    let mut config = parts.config.clone();
    config.run.backend = parts.manifest.agent.clone();
    config.run.target = parts.manifest.target.clone();
    config.run.unit = unit.unit.to_string();
    config.run.data = Some(parts.manifest.data.clone());
    config.run.runs_dir = parts.dir.join("runs");
    config.run.max_rounds = parts.manifest.max_rounds;
    config.run.task = "describe-unit".into();
    config
}

/// Runs (or resumes, or reads back) the unit's agent run.
async fn run_agent(
    parts: &SuiteParts,
    unit: &SuiteUnit,
    run_dir: &Path,
    exemplars: Arc<LayerExemplars>,
    events: &mpsc::UnboundedSender<SuiteEvent>,
) -> Result<AgentAnswer, String> {
    let config = unit_config(parts, unit);
    let run_parts = UnitRunParts {
        backend: &parts.backend,
        toolbox: &parts.toolbox,
        prompts: &parts.prompts,
        model: &parts.model,
        config: &config,
        stop: None,
    };
    let (events, address) = (events.clone(), unit.unit.to_string());
    let on_round = move |round| {
        let _ = events.send(SuiteEvent::Round {
            unit: address.clone(),
            round,
        });
    };
    let outcome = run_unit(
        &run_parts,
        &unit.unit,
        &unit.slug(),
        run_dir,
        Some(exemplars),
        on_round,
    )
    .await?;
    if outcome.status == RunStatus::Failed {
        return Err(format!(
            "the agent run failed: {}; run the eval again to resume it from {}",
            outcome.reason,
            run_dir.display()
        ));
    }
    Ok(outcome)
}

/// Asks the baseline (or reads back its earlier reply from `baselines/<unit>.json`).
async fn run_baseline(
    parts: &SuiteParts,
    unit: &SuiteUnit,
    exemplars: Arc<LayerExemplars>,
) -> Result<(baseline::BaselineReply, f64), String> {
    let dir = parts.dir.join("baselines");
    let path = dir.join(format!("{}.json", unit.slug()));
    if let Ok(bytes) = std::fs::read(&path)
        && let Ok(saved) = serde_json::from_slice::<SavedBaseline>(&bytes)
    {
        return Ok((saved.reply, saved.seconds));
    }
    let started = Instant::now();
    let store = Arc::new(ImageStore::new());
    let target_unit = TargetUnit::new(parts.model.clone(), unit.unit.clone(), store.clone())
        .map_err(|e| e.to_string())?;
    let tools = parts
        .toolbox
        .context(target_unit, store, Some(exemplars))
        .map_err(|e| e.to_string())?;
    let config = unit_config(parts, unit);
    let info = RunInfo {
        run_id: format!("{}-baseline", unit.slug()),
        task: "exemplar-only".into(),
        target: config.run.target.clone(),
        unit: unit.unit.to_string(),
        model: None,
    };
    let reply = baseline::exemplar_only(&parts.backend, &tools, &parts.prompts, &config, &info)
        .await
        .map_err(|e| e.to_string())?;
    let seconds = started.elapsed().as_secs_f64();
    let saved = SavedBaseline {
        unit: unit.unit.to_string(),
        backend: parts.backend.name().to_owned(),
        model: parts.backend.model().to_owned(),
        reply: reply.clone(),
        seconds,
    };
    std::fs::create_dir_all(&dir)
        .and_then(|()| {
            std::fs::write(
                &path,
                serde_json::to_string_pretty(&saved).unwrap_or_default(),
            )
        })
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok((reply, seconds))
}

/// `baselines/<unit>.json`: the baseline's reply, kept so a recomputed unit does not ask
/// (and pay) again.
#[derive(Serialize, Deserialize)]
struct SavedBaseline {
    unit: String,
    backend: String,
    model: String,
    reply: baseline::BaselineReply,
    seconds: f64,
}

/// The seed of a unit's random control: the same for a unit in every invocation.
fn control_seed(seed: u64, unit: &UnitRef) -> u64 {
    let hash = blake3::hash(format!("control/{seed}/{unit}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&hash.as_bytes()[..8]);
    u64::from_le_bytes(bytes)
}

/// A description's predictive score and, for units with ground truth, its agreement with
/// the truth.
type Scored = (Score, Option<TruthScore>, Option<Failure>);

async fn score_one(
    parts: &SuiteParts,
    unit: &SuiteUnit,
    probe: Arc<dyn UnitProbe>,
    description: Result<String, String>,
) -> Scored {
    let description = match description {
        Ok(d) => d,
        Err(why) => {
            let failure = Failure::new(FailureKind::Description, why);
            let score = Score::failed(
                "",
                parts.evaluator.name(),
                probe.label(),
                parts.scorer.config(),
                failure.clone(),
            );
            let truth_failure = unit.truth.as_ref().map(|_| failure);
            return (score, None, truth_failure);
        }
    };
    let score = parts
        .scorer
        .score(&description, parts.evaluator.as_ref(), probe)
        .await;
    let (truth, truth_failure) = match &unit.truth {
        Some(concept) => {
            let (concept, seed, text) = (
                concept.clone(),
                parts.scorer.config().seed,
                description.clone(),
            );
            let judged =
                tokio::task::spawn_blocking(move || score_against_truth(&text, &concept, seed))
                    .await
                    .unwrap_or_else(|e| {
                        Err(Failure::new(
                            FailureKind::Evaluator,
                            format!("scoring against the truth stopped: {e}"),
                        ))
                    });
            match judged {
                Ok(t) => (Some(t), None),
                Err(f) => (None, Some(f)),
            }
        }
        None => (None, None),
    };
    (score, truth, truth_failure)
}

/// `score.json` in the agent's run folder, in the form `maia report` reads.
#[derive(Serialize)]
struct RunScoreFile<'a> {
    score: &'a Score,
    #[serde(skip_serializing_if = "Option::is_none")]
    truth_said: Option<&'a String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    truth: Option<&'a TruthScore>,
    #[serde(skip_serializing_if = "Option::is_none")]
    truth_failure: Option<&'a Failure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    simulation: Option<&'a Simulation>,
}

/// One unit: the three descriptions, their scores, its result lines.
async fn evaluate_unit(
    parts: &SuiteParts,
    unit: &SuiteUnit,
    events: &mpsc::UnboundedSender<SuiteEvent>,
) -> Result<Vec<ResultLine>, String> {
    let all_exemplars = {
        let (passes, model, layer) = (
            parts.exemplars.clone(),
            parts.model.clone(),
            unit.unit.layer.clone(),
        );
        tokio::task::spawn_blocking(move || passes.layer(model.as_ref(), &layer, &mut |_, _| {}))
            .await
            .map_err(|e| format!("the exemplar pass stopped: {e}"))?
            .map_err(|e| e.to_string())?
    };
    let exemplars = if all_exemplars.k > parts.manifest.k {
        Arc::new(all_exemplars.truncated(parts.manifest.k))
    } else {
        all_exemplars.clone()
    };
    let run_rel = format!("runs/{}", unit.slug());
    let run_dir = parts.dir.join(&run_rel);
    let agent = run_agent(parts, unit, &run_dir, exemplars.clone(), events).await?;
    let (baseline, baseline_seconds) = run_baseline(parts, unit, exemplars).await?;
    let control = random_description(control_seed(parts.scorer.config().seed, &unit.unit));
    let probe: Arc<dyn UnitProbe> = Arc::new(
        ModelUnit::new(parts.model.clone(), unit.unit.clone()).map_err(|e| e.to_string())?,
    );
    let agent_description = agent
        .answer
        .as_ref()
        .map(|(d, _)| d.clone())
        .ok_or_else(|| format!("the agent gave no answer ({})", agent.reason));
    let baseline_description = baseline
        .answer
        .as_ref()
        .map(|(d, _)| d.clone())
        .ok_or_else(|| "the exemplar-only baseline gave no answer".to_owned());
    let (a, b, c) = tokio::join!(
        score_one(parts, unit, probe.clone(), agent_description),
        score_one(parts, unit, probe.clone(), baseline_description),
        score_one(parts, unit, probe.clone(), Ok(control.clone())),
    );
    let simulations = match &parts.simulation {
        Some(simulation) => {
            simulate_unit(
                simulation,
                parts,
                unit,
                &all_exemplars,
                probe,
                [&a.0.description, &b.0.description, &control],
            )
            .await
        }
        None => [None, None, None],
    };
    let [sim_a, sim_b, sim_c] = simulations;
    if agent.answer.is_some() {
        let file = RunScoreFile {
            score: &a.0,
            truth_said: unit.truth_said.as_ref(),
            truth: a.1.as_ref(),
            truth_failure: a.2.as_ref(),
            simulation: sim_a.as_ref(),
        };
        let path = maia_run::RunDir::new(&run_dir).score();
        let tmp = run_dir.join("score.json.tmp");
        std::fs::write(
            &tmp,
            serde_json::to_string_pretty(&file).unwrap_or_default(),
        )
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    let line = |method: Method, (mut score, truth, truth_failure): Scored| {
        score.images.clear();
        ResultLine {
            unit: unit.unit.to_string(),
            name: unit.name.clone(),
            kind: unit.kind.clone(),
            method,
            description: score.description.clone(),
            label: String::new(),
            score,
            truth,
            truth_failure,
            run: None,
            status: None,
            rounds: 0,
            tokens: 0,
            cost_usd: 0.0,
            seconds: 0.0,
            simulation: None,
        }
    };
    let agent_line = ResultLine {
        label: agent.answer.map(|(_, l)| l).unwrap_or_default(),
        run: Some(run_rel),
        status: Some(agent.status.as_str().to_owned()),
        rounds: agent.rounds,
        tokens: agent.tokens,
        cost_usd: agent.cost_usd,
        seconds: agent.seconds,
        simulation: sim_a,
        ..line(Method::Agent, a)
    };
    let baseline_line = ResultLine {
        label: baseline.answer.map(|(_, l)| l).unwrap_or_default(),
        rounds: 1,
        tokens: baseline.usage.input_tokens + baseline.usage.output_tokens,
        cost_usd: baseline.cost_usd,
        seconds: baseline_seconds,
        simulation: sim_b,
        ..line(Method::Baseline, b)
    };
    let control_line = ResultLine {
        simulation: sim_c,
        ..line(Method::Control, c)
    };
    Ok(vec![agent_line, baseline_line, control_line])
}

/// Dataset simulation of a unit's three descriptions on its held-out images (read once).
/// An empty description gets none; a unit whose images cannot be read gets a failure on
/// each.
async fn simulate_unit(
    simulation: &SuiteSimulation,
    parts: &SuiteParts,
    unit: &SuiteUnit,
    exemplars: &Arc<LayerExemplars>,
    probe: Arc<dyn UnitProbe>,
    descriptions: [&String; 3],
) -> [Option<Simulation>; 3] {
    let (layer, dataset) = (exemplars.clone(), simulation.dataset.clone());
    let (target, shown, n, seed) = (
        unit.unit.clone(),
        simulation.shown,
        simulation.n,
        parts.scorer.config().seed,
    );
    let held_out = tokio::task::spawn_blocking(move || {
        let ranked = layer.units.get(target.unit).ok_or_else(|| {
            Failure::new(
                FailureKind::Unit,
                format!("no exemplars for unit {}", target.unit),
            )
        })?;
        HeldOut::read(&dataset, ranked, shown, n, seed, probe.as_ref())
    })
    .await
    .unwrap_or_else(|e| {
        Err(Failure::new(
            FailureKind::Unit,
            format!("reading the held-out images stopped: {e}"),
        ))
    });
    let mut out = [None, None, None];
    for (slot, description) in out.iter_mut().zip(descriptions) {
        if description.trim().is_empty() {
            continue;
        }
        let mut simulated = match &held_out {
            Ok(held) => simulate(description, simulation.simulator.as_ref(), held).await,
            Err(failure) => {
                Simulation::failed(description, simulation.simulator.name(), failure.clone())
            }
        };
        simulated.images.clear();
        *slot = Some(simulated);
    }
    out
}
