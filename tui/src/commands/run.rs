//! `maia run` and `maia resume`: an agent run on one unit, shown in the terminal UI or,
//! headless, as one line per event.

use crate::agent_args::{AgentArgs, absolute};
use crate::backends::backends;
use crate::plugin_args::{PluginArgs, warn_problems};
use crate::target_args::TargetArgs;
use anyhow::{Context, Result, bail};
use maia_core::ImageStore;
use maia_core::agent::dir::RunDir;
use maia_core::agent::setup::{Toolbox, ToolboxOptions, describer_for};
use maia_core::agent::{
    Agent, AgentParts, Control, ModelRecord, Outcome, Prompts, Record, RunInfo, RunStatus,
    ToolContext,
};
use maia_core::builtin::{CallClassifier, SampleDataset};
use maia_core::call_context::UnitCaller;
use maia_core::config::Config;
use maia_core::exemplars::Dataset;
use maia_core::target::absolute_spec;
use maia_core::tools::InProcess;
use maia_tui::ui::ImageMode;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Options of `maia run`. Every option also has a `maia.toml` key; flags win.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Task: a file under prompts/tasks/ (`describe-unit`, `find-bias`).
    #[arg(long)]
    pub task: Option<String>,
    /// The model whose unit is studied: `world-cnn`, `world-vit`, `torch:MODEL.pt`, `synthetic:NAME`
    /// (see `maia world units`), `remote:ADDR`.
    #[arg(long, value_name = "SPEC")]
    pub target: Option<String>,
    /// The unit, as LAYER:UNIT (default: the target's only unit).
    #[arg(long, value_name = "LAYER:UNIT")]
    pub unit: Option<String>,
    /// A recorded run to replay (implies --backend replay).
    #[arg(long, value_name = "RUN")]
    pub replay: Option<PathBuf>,
    /// Folder runs are written to.
    #[arg(long, value_name = "DIR")]
    pub runs_dir: Option<PathBuf>,
    /// Run id: the run's folder name under the runs folder (default: date, time and unit).
    #[arg(long, value_parser = maia_core::agent::run_id::validate_run_id)]
    pub id: Option<String>,
    #[command(flatten)]
    pub agent: AgentArgs,
    #[command(flatten)]
    pub view: ViewArgs,
    #[command(flatten)]
    pub plugins: PluginArgs,
}

/// How a run is shown.
#[derive(clap::Args, Debug, Clone)]
pub struct ViewArgs {
    /// No terminal UI: one plain line per event (the default when stdout is not a terminal).
    #[arg(long)]
    pub headless: bool,
    /// With --headless: one JSON event per line instead.
    #[arg(long)]
    pub json: bool,
    /// Image display in the UI: auto, sixel, halfblocks, none.
    #[arg(long, value_name = "MODE", default_value = "auto")]
    pub images: ImageMode,
}

impl RunArgs {
    fn overrides(&self) -> Result<toml::Table> {
        let mut run = toml::Table::new();
        let mut table = toml::Table::new();
        // Paths are recorded absolute, so `maia resume` works from any folder.
        self.agent.override_into(&mut run, &mut table)?;
        if self.replay.is_some() {
            match self.agent.backend.as_deref() {
                None => {
                    run.insert("backend".into(), "replay".into());
                }
                Some("replay") => {}
                Some(other) => bail!(
                    "--replay plays a recorded run back, so it goes with --backend replay, not --backend {other}; drop one of the two"
                ),
            }
        }
        let mut put = |k: &str, v: Option<toml::Value>| {
            if let Some(v) = v {
                run.insert(k.into(), v);
            }
        };
        put("task", self.task.clone().map(Into::into));
        put(
            "target",
            self.target.as_deref().map(|t| absolute_spec(t).into()),
        );
        put("unit", self.unit.clone().map(Into::into));
        put(
            "replay",
            self.replay
                .as_deref()
                .map(absolute)
                .transpose()?
                .map(|p| p.display().to_string().into()),
        );
        put(
            "runs_dir",
            self.runs_dir
                .as_ref()
                .map(|p| p.display().to_string().into()),
        );
        put(
            "images_from",
            self.plugins.images_from.clone().map(Into::into),
        );
        table.insert("run".into(), toml::Value::Table(run));
        Ok(table)
    }
}

/// Options of `maia resume`.
#[derive(clap::Args, Debug, Clone)]
pub struct ResumeArgs {
    /// The run: its id under the runs folder, or its path.
    pub run: String,
    /// Folder runs are in.
    #[arg(long, value_name = "DIR", default_value = "runs")]
    pub runs_dir: PathBuf,
    /// Resume even if the target model is no longer the one the run started on (its
    /// file replaced or edited); the journal will then mix two models.
    #[arg(long)]
    pub force_model: bool,
    /// Resume a run whose journal is damaged in the middle: keep a copy of it
    /// (events.jsonl.damaged-<ms>) and continue from its last valid record.
    #[arg(long)]
    pub repair: bool,
    #[command(flatten)]
    pub view: ViewArgs,
    #[command(flatten)]
    pub plugins: PluginArgs,
}

/// Runs `maia run`.
pub fn run(args: RunArgs) -> Result<ExitCode> {
    let (config, _) = Config::resolve(args.agent.config.as_deref(), args.overrides()?)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let (outcome, signal) = runtime.block_on(start(&args, config))?;
    Ok(signal.unwrap_or_else(|| exit_code(&outcome)))
}

/// Starts a new run with an already resolved config; also used by `maia demo`.
/// Returns the outcome and, when a signal ended the UI, the exit code it calls for.
pub async fn start(args: &RunArgs, config: Config) -> Result<(Outcome, Option<ExitCode>)> {
    let prompts = Prompts::load(config.run.prompts.as_deref())?;
    // Before the slow part (plugins, exemplar pass): a mistyped --task fails at once.
    prompts.check_task(&config.run.task)?;
    // Likewise `--images-from http` with no server configured.
    args.plugins.loader_for(&config)?;
    let id = args
        .id
        .clone()
        .unwrap_or_else(|| new_run_id(&config.run.target, &config.run.unit));
    let run_dir = config.run.runs_dir.join(&id);
    if RunDir::new(&run_dir).has_journal() {
        bail!(
            "run {} already exists in {}; pick another --id or `maia resume {id}`",
            id,
            config.run.runs_dir.display()
        );
    }
    let created = !run_dir.exists();
    let store = Arc::new(
        ImageStore::with_dir(RunDir::new(&run_dir).images())
            .with_context(|| format!("creating {}", run_dir.display()))?,
    );
    let assembled = assemble(
        &config,
        prompts,
        store,
        &args.plugins,
        &args.agent.device,
        args.agent.half,
        args.agent.k,
    )
    .await;
    let (parts, unit, model_hash) = match assembled {
        Ok(parts) => parts,
        Err(e) => {
            // Nothing was recorded: leave no empty run folder behind.
            if created && !RunDir::new(&run_dir).has_journal() {
                let _ = std::fs::remove_dir_all(&run_dir);
            }
            return Err(e);
        }
    };
    let vars = [
        ("unit", unit.as_str()),
        ("target", config.run.target.as_str()),
        ("max_rounds", &config.run.max_rounds.to_string()),
    ];
    let task_text = parts.prompts.task(&config.run.task, &vars)?;
    let info = RunInfo {
        run_id: id.clone(),
        task: config.run.task.clone(),
        target: config.run.target.clone(),
        unit,
        model: Some(ModelRecord {
            hash: model_hash,
            device: args.agent.device.clone(),
            half: args.agent.half,
            k: args.agent.k,
        }),
    };
    let agent = Agent::start(parts, &run_dir, info, task_text)?;
    drive(agent, &run_dir, &args.view, Vec::new()).await
}

/// Runs `maia resume`.
pub fn resume(args: ResumeArgs) -> Result<ExitCode> {
    let run_dir = resolve_run_dir(&args.run, &args.runs_dir)?;
    check_journal(&run_dir, &args)?;
    let run_toml = RunDir::new(&run_dir).run_toml();
    let text = std::fs::read_to_string(&run_toml)
        .with_context(|| format!("reading {}", run_toml.display()))?;
    let mut table: toml::Table = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", run_toml.display()))?;
    for key in ["run_id", "task_name", "target_spec", "unit_address"] {
        table.remove(key);
    }
    let recorded = ModelRecord::take_from(&mut table);
    let config: Config = toml::Value::Table(table)
        .try_into()
        .with_context(|| format!("{}: not a maia run config", run_toml.display()))?;
    config
        .validate()
        .map_err(|e| anyhow::anyhow!("{}: {e}", run_toml.display()))?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let (outcome, signal) = runtime.block_on(async {
        let (store, skipped) = ImageStore::reopen(RunDir::new(&run_dir).images())?;
        if skipped > 0 {
            eprintln!(
                "warning: {skipped} unreadable image files in {} were skipped",
                run_dir.display()
            );
        }
        let prompts = Prompts::load(config.run.prompts.as_deref())?;
        let (device, half, k) = recorded.as_ref().map_or(
            ("auto", false, maia_core::exemplars::DEFAULT_K),
            |r| (r.device.as_str(), r.half, r.k),
        );
        let (parts, _, model_hash) =
            assemble(&config, prompts, Arc::new(store), &args.plugins, device, half, k).await?;
        if let Some(recorded) = &recorded
            && recorded.hash != model_hash
        {
            if args.force_model {
                eprintln!(
                    "warning: {} is not the model this run started on (hash {} then, {} now); going on (--force-model)",
                    config.run.target, recorded.hash, model_hash
                );
            } else {
                bail!(
                    "{} is not the model run {} started on: its hash was {} and is now {}; resuming would mix two models in one journal. Restore the original file, or pass --force-model to go on anyway",
                    config.run.target,
                    run_dir.display(),
                    recorded.hash,
                    model_hash
                );
            }
        }
        let (agent, history) = Agent::resume(parts, &run_dir)?;
        drive(agent, &run_dir, &args.view, history).await
    })?;
    Ok(signal.unwrap_or_else(|| exit_code(&outcome)))
}

/// The exit status of a finished run: 0 answered, 3 stopped or limited (resumable), 1 failed.
pub fn exit_code(outcome: &Outcome) -> ExitCode {
    match outcome.status {
        RunStatus::Completed => ExitCode::SUCCESS,
        RunStatus::Stopped | RunStatus::Limit => ExitCode::from(3),
        RunStatus::Failed => ExitCode::FAILURE,
    }
}

/// Before anything is loaded: a damaged journal is refused with the way out, or repaired
/// (`--repair`: a copy kept, the journal cut back to its last valid record).
fn check_journal(run_dir: &Path, args: &ResumeArgs) -> Result<()> {
    let events = RunDir::new(run_dir).events();
    if args.repair {
        match maia_core::agent::journal::repair(&events)
            .with_context(|| format!("repairing {}", events.display()))?
        {
            Some((backup, kept)) => eprintln!(
                "kept the damaged journal as {}; continuing from its {kept} valid records",
                backup.display()
            ),
            None => eprintln!("{} is not damaged; nothing to repair", events.display()),
        }
        return Ok(());
    }
    let contents = maia_core::agent::journal::read_journal(&events)
        .with_context(|| format!("reading {}", events.display()))?;
    if let Some(damage) = contents.damage {
        bail!(
            "{} is {damage}; `maia resume --repair {}` keeps a copy of it and continues from its last valid record (line {})",
            events.display(),
            args.run,
            damage.line - 1
        );
    }
    Ok(())
}

/// A run folder from an id or a path.
pub fn resolve_run_dir(run: &str, runs_dir: &Path) -> Result<PathBuf> {
    let as_path = PathBuf::from(run);
    let dir = if RunDir::new(&as_path).has_journal() {
        as_path
    } else {
        runs_dir.join(run)
    };
    if !RunDir::new(&dir).has_journal() {
        bail!(
            "no run `{run}`: {} has no events.jsonl (see `maia runs`)",
            dir.display()
        );
    }
    Ok(dir)
}

fn new_run_id(target: &str, unit: &str) -> String {
    let secs = maia_core::agent::journal::now_ms() / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = maia_tui::calendar::civil_from_days(days as i64);
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
            .trim_matches('-')
            .to_owned()
    };
    let name = clean(target.rsplit(['/', ':']).next().unwrap_or(target));
    let unit = clean(unit);
    let stamp = format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
    if unit.is_empty() {
        format!("{stamp}-{name}")
    } else {
        format!("{stamp}-{name}-{unit}")
    }
}

/// Builds the backend, the tools (plugins, built-ins, the target unit) and the describer
/// for a run. Returns the parts (holding `prompts`) and the unit's address.
async fn assemble(
    config: &Config,
    prompts: Prompts,
    store: Arc<ImageStore>,
    plugins: &PluginArgs,
    device: &str,
    half: bool,
    k: usize,
) -> Result<(AgentParts, String, String)> {
    let backend = backends().build(
        &config.run.backend,
        &config.run.model,
        config,
        config.run.replay.as_deref(),
    )?;
    let images_from = plugins.images_from(config)?;
    let search = plugins.search_with(&images_from);
    let (toolbox, problems) = Toolbox::load(
        &plugins.loader_for(config)?,
        &search,
        ToolboxOptions {
            describer: describer_for(config, tokio::runtime::Handle::current())?,
            describe_prompt: prompts.render("describe-images.md", &[]),
            summarize_prompt: prompts.render("summarize-images.md", &[]),
            dataset: None,
        },
    )?;
    warn_problems(&problems);
    if let Some(warning) = crate::plugin_args::no_image_tools(&toolbox.registry(), &search) {
        eprintln!("{warning}");
    }
    let target = TargetArgs {
        target: Some(config.run.target.clone()),
        unit: (!config.run.unit.is_empty()).then(|| config.run.unit.clone()),
        device: device.to_owned(),
        half,
        data: config.run.data.clone(),
        k,
        features: crate::feature_args::FeatureArgs {
            sae: config.run.sae.clone(),
            directions: config.run.directions.clone(),
        },
    };
    let unit_store = store.clone();
    let (unit, exemplars, target) = tokio::task::spawn_blocking(move || -> Result<_> {
        let unit = target.open(unit_store)?.context("no target")?;
        let exemplars = match &target.data {
            Some(data) => Some(Arc::new(crate::exemplar_pass::run_pass(
                unit.model().as_ref(),
                &unit.unit().layer,
                data,
                target.k,
                true,
            )?)),
            None => None,
        };
        Ok((unit, exemplars, target))
    })
    .await??;
    let model_hash = maia_core::target::fingerprint_hash(unit.model().as_ref());
    let mut registry = toolbox.run_registry(&unit, exemplars)?;
    let mut address = unit.unit().to_string();
    if config.run.task == "find-bias" {
        // The unit is a class of a logits layer (e.g. shape_logits:2); the classifier
        // tool reports that class's probability and the top prediction.
        let classifier =
            CallClassifier::new(unit.model().clone(), &unit.unit().layer, unit.unit().unit)
                .map_err(|e| {
                    anyhow::anyhow!(
                        "--task find-bias needs --unit LOGITS_LAYER:CLASS: {}",
                        e.message
                    )
                })?;
        address = format!("{address} ({})", classifier.class_name());
        registry.register(Box::new(InProcess::new(classifier)))?;
    }
    if let Some(data) = &target.data {
        let dataset = Dataset::open(data)?;
        registry.register(Box::new(InProcess::new(SampleDataset::new(Arc::new(
            dataset,
        )))))?;
    }
    let registry = Arc::new(registry);
    let verifier = (config.run.verify > 0)
        .then(|| verifier_for(&registry, &unit, &backend, config))
        .transpose()?;
    let tools = ToolContext {
        registry,
        store,
        unit: Some(Arc::new(unit) as Arc<dyn UnitCaller>),
        image_price_usd: 0.0,
    }
    .with_image_price(config);
    Ok((
        AgentParts {
            backend,
            tools,
            prompts,
            config: config.clone(),
            verifier,
        },
        address,
        model_hash,
    ))
}

/// Runs the agent with the chosen view until it ends.
async fn drive(
    agent: Agent,
    run_dir: &Path,
    view: &ViewArgs,
    history: Vec<Record>,
) -> Result<(Outcome, Option<ExitCode>)> {
    let (events_tx, mut events_rx) = mpsc::unbounded_channel::<Record>();
    let (controls_tx, controls_rx) = mpsc::unbounded_channel::<Control>();
    let agent = agent.with_events(events_tx).with_controls(controls_rx);
    let headless = view.headless || view.json || !std::io::stdout().is_terminal();
    let handle = tokio::spawn(agent.run());
    let mut signal = None;
    if headless {
        let json = view.json;
        // SIGTERM or Ctrl-C: the run stops at its next step and journals why, so it ends
        // `stopped` and resumable, as a batch worker does (exit 128 + signal).
        let controls = controls_tx.clone();
        let (signals, first_signal) = crate::stop_signals::stop_on_signals(
            move |name| {
                eprintln!(
                    "{name}: stopping after the current step (a second signal stops at once)"
                );
                let _ = controls.send(Control::Stop(format!(
                    "stopped by {name} (resumable: maia resume)"
                )));
            },
            || eprintln!("second signal: stopping now"),
            None,
        )?;
        for record in &history {
            print_record(record, json);
        }
        while let Some(record) = events_rx.recv().await {
            print_record(&record, json);
        }
        drop(controls_tx);
        signals.abort();
        match first_signal.load(std::sync::atomic::Ordering::SeqCst) {
            0 => {}
            signo => signal = Some(ExitCode::from(128 + signo)),
        }
    } else {
        let (ui_tx, ui_rx) = mpsc::channel::<Record>(4096);
        let forward = tokio::spawn(async move {
            for record in history {
                if ui_tx.send(record).await.is_err() {
                    return;
                }
            }
            while let Some(record) = events_rx.recv().await {
                if ui_tx.send(record).await.is_err() {
                    return;
                }
            }
        });
        let (bounded_controls_tx, mut bounded_controls_rx) = mpsc::channel::<Control>(64);
        let relay = tokio::spawn(async move {
            while let Some(c) = bounded_controls_rx.recv().await {
                if controls_tx.send(c).is_err() {
                    return;
                }
            }
        });
        let opts = maia_tui::ui::UiOptions {
            images: view.images,
            ..Default::default()
        };
        if let maia_tui::ui::UiExit::Signal(sig) =
            maia_tui::ui::run_live(ui_rx, bounded_controls_tx, run_dir.to_path_buf(), opts).await?
        {
            signal = Some(ExitCode::from(sig.exit_code()));
        }
        forward.abort();
        relay.abort();
    }
    let outcome = handle.await.context("the agent task panicked")??;
    if !(headless && view.json) {
        print_summary(&outcome, run_dir);
    }
    Ok((outcome, signal))
}

fn print_record(record: &Record, json: bool) {
    if json {
        if let Ok(line) = serde_json::to_string(record) {
            println!("{line}");
        }
    } else if let Some(line) = maia_tui::headless::format_line(record) {
        println!("{line}");
    }
}

fn print_summary(outcome: &Outcome, run_dir: &Path) {
    println!();
    match &outcome.answer {
        Some((description, label)) => println!("answer: {description}\nlabel:  {label}"),
        None => println!("no answer: {}", outcome.reason),
    }
    println!(
        "{} after {} rounds, {} tokens, ${:.4} — journal in {}",
        outcome.status.as_str(),
        outcome.rounds,
        outcome.tokens,
        outcome.cost_usd,
        run_dir.display()
    );
    if outcome.status != RunStatus::Completed {
        let id = run_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        println!("continue it with `maia resume {id}`");
    }
}

/// The `--verify K` scorer of a run: the run's own image tool draws, the unit runs, and the
/// shapes world's evaluator writes the prompts for shapes-world targets (synthetic units,
/// the world CNN and ViT), the run's own model otherwise.
fn verifier_for(
    registry: &Arc<maia_core::ToolRegistry>,
    unit: &maia_core::target::TargetUnit,
    backend: &Arc<dyn maia_core::llm::LlmBackend>,
    config: &maia_core::config::Config,
) -> Result<Arc<dyn maia_core::agent::verify::Verifier>> {
    let target = config.run.target.as_str();
    use maia_core::eval::{Evaluator, LlmEvaluator, ModelUnit, ToolRenderer, WorldEvaluator};
    let renderer = ToolRenderer::new(registry.clone())
        .map_err(|f| anyhow::anyhow!("--verify needs a text2image tool to draw its images: {f}"))?;
    let world = target.starts_with("synthetic:") || target.starts_with("world-");
    let evaluator: Arc<dyn Evaluator> = if world || backend.name() == "offline" {
        Arc::new(WorldEvaluator)
    } else {
        Arc::new(
            LlmEvaluator::new(backend.clone())
                .with_price(config.prices.get(backend.model()).copied()),
        )
    };
    let probe = ModelUnit::new(unit.model().clone(), unit.unit().clone())
        .map_err(|e| anyhow::anyhow!("--verify: {e}"))?;
    let image_price = config.image_price();
    Ok(Arc::new(
        maia_core::agent::verify::ScoreVerifier::new(
            Arc::new(renderer),
            evaluator,
            Arc::new(probe),
        )
        .with_image_price(image_price),
    ))
}
