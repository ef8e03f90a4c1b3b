//! `maia batch work OUT --shard I`: one shard's units, one after another, headless —
//! what each Slurm array task and each `--local` worker process runs.

use crate::backends::backends;
use crate::plugin_args::{PluginArgs, warn_problems};
use anyhow::{Context, Result, bail};
use clap::Parser;
use maia_core::agent::Prompts;
use maia_core::agent::setup::{ExemplarPasses, Toolbox, ToolboxOptions, describer_for};
use maia_core::batch::worker::ShardOutcome;
use maia_core::batch::{WorkerEvent, WorkerParts, load_batch, run_shard};
use maia_core::exemplars::Dataset;
use maia_core::target::{TargetModel, TorchOptions, open_target_with};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Options of `maia batch work`.
#[derive(clap::Args, Debug)]
pub struct WorkArgs {
    /// The batch folder.
    pub out: PathBuf,
    /// The shard (array task index) to run.
    #[arg(long)]
    pub shard: usize,
    /// Reach the model here instead of the batch's target (the job script passes the
    /// task's own host: remote:unix:PATH).
    #[arg(long, value_name = "SPEC")]
    pub target: Option<String>,
}

/// The plugin flags recorded at plan time, parsed as `maia run` parses them.
#[derive(Parser, Debug)]
struct RecordedPlugins {
    #[command(flatten)]
    plugins: PluginArgs,
}

fn stamp() -> String {
    let secs = maia_core::agent::journal::now_ms() / 1000 % 86_400;
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

fn show(event: &WorkerEvent) {
    let line = match event {
        WorkerEvent::AlreadyDone { unit } => format!("{unit}: already done"),
        WorkerEvent::Busy { unit } => format!("{unit}: another worker has it; skipped"),
        WorkerEvent::Started { unit, resuming } => format!(
            "{unit}: {}",
            if *resuming {
                "resuming from its journal"
            } else {
                "started"
            }
        ),
        WorkerEvent::Round { unit, round } => format!("{unit}: round {round}"),
        WorkerEvent::Finished { unit, result } => format!(
            "{unit}: {} after {} rounds, ${:.4}, {:.1} s{}",
            result.status.as_str(),
            result.rounds,
            result.cost_usd,
            result.seconds,
            match &result.answer {
                Some((d, l)) => format!(": {}", if l.is_empty() { d } else { l }),
                None => format!(" ({})", result.reason),
            }
        ),
        WorkerEvent::Failed { unit, error } => format!("{unit}: could not run: {error}"),
    };
    println!("{} {line}", stamp());
}

/// Runs `maia batch work`.
pub fn work(args: WorkArgs) -> Result<ExitCode> {
    let (manifest, units) = load_batch(&args.out)?;
    if args.shard >= manifest.shards {
        bail!(
            "shard {} does not exist: {} has shards 0..{}",
            args.shard,
            args.out.display(),
            manifest.shards
        );
    }
    let shard_units = manifest.shard(&units, args.shard).to_vec();
    let config = manifest.config.clone();
    let recorded = RecordedPlugins::try_parse_from(
        std::iter::once("maia".to_owned()).chain(manifest.worker.plugin_args.iter().cloned()),
    )
    .map_err(|e| anyhow::anyhow!("the plugin options in the batch manifest: {e}"))?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let backend = backends()
        .build(&config.run.backend, &config.run.model, &config, None)
        .with_context(|| format!("the {} backend", config.run.backend))?;
    let prompts = Prompts::load(config.run.prompts.as_deref())?;
    let dataset = match &config.run.data {
        Some(data) => {
            Some(Arc::new(Dataset::open(data).with_context(|| {
                format!("opening the dataset {}", data.display())
            })?))
        }
        None => None,
    };
    let search = recorded.plugins.search();
    let (toolbox, problems) = Toolbox::load(
        &recorded.plugins.sandbox.loader(),
        &search,
        ToolboxOptions {
            describer: describer_for(&config, runtime.handle().clone())?,
            describe_prompt: prompts.render("describe-images.md", &[]),
            summarize_prompt: prompts.render("summarize-images.md", &[]),
            dataset,
        },
    )?;
    warn_problems(&problems);
    if let Some(warning) = crate::plugin_args::no_image_tools(&toolbox.registry(), &search) {
        eprintln!("{warning}");
    }
    let spec = args
        .target
        .clone()
        .unwrap_or_else(|| manifest.target.clone());
    let model: Arc<dyn TargetModel> = Arc::from(
        open_target_with(
            &spec,
            &TorchOptions {
                device: manifest.worker.device.clone(),
                half: manifest.worker.half,
                sae: config.run.sae.clone(),
                directions: config.run.directions.clone(),
            },
        )
        .with_context(|| format!("opening the target `{spec}`"))?,
    );
    let exemplars = config.run.data.as_ref().map(|data| {
        Arc::new(ExemplarPasses::new(
            data,
            manifest.worker.k,
            maia_core::exemplars::cache_dir(),
        ))
    });
    println!(
        "{} shard {} of {}: {} units ({}), pid {}",
        stamp(),
        args.shard,
        args.out.display(),
        shard_units.len(),
        shard_units
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        std::process::id()
    );
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let parts = WorkerParts {
        out: std::path::absolute(&args.out).unwrap_or_else(|_| args.out.clone()),
        manifest,
        shard: args.shard,
        model,
        backend,
        prompts,
        toolbox: Arc::new(toolbox),
        exemplars,
        stop,
    };
    let outcome: ShardOutcome = runtime.block_on(async {
        // Slurm's scancel or time limit, Ctrl-C, `maia batch run` stopping its workers:
        // the running unit stops at its next step and the shard starts no other.
        let (signals, _) = crate::stop_signals::stop_on_signals(
            move |name| {
                println!(
                    "{} {name}: stopping after the current step (a second signal stops at once)",
                    stamp()
                );
                let _ = stop_tx.send(true);
            },
            || println!("{} second signal: stopping now", stamp()),
            Some(STOPPED_EXIT),
        )?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let printer = tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                show(&event);
            }
        });
        let outcome = run_shard(&parts, &shard_units, tx).await;
        signals.abort();
        let _ = printer.await;
        outcome.map_err(anyhow::Error::from)
    })?;
    println!(
        "{} shard {}: {} done now, {} already done, {} left to other workers, {} failed",
        stamp(),
        args.shard,
        outcome.done,
        outcome.already_done,
        outcome.busy,
        outcome.failed.len()
    );
    for (unit, why) in &outcome.failed {
        println!("  {unit}: {why}");
    }
    if outcome.stopped.is_some() || outcome.not_started > 0 {
        println!(
            "{} shard {}: stopped{}; {} units not started. `maia batch resume` continues them",
            stamp(),
            args.shard,
            outcome
                .stopped
                .as_ref()
                .map(|u| format!(" {u} at its next step"))
                .unwrap_or_default(),
            outcome.not_started
        );
        return Ok(ExitCode::from(STOPPED_EXIT));
    }
    Ok(if outcome.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A worker's exit status when a signal stopped it (128 + SIGTERM, as a shell reports it).
const STOPPED_EXIT: u8 = 143;
