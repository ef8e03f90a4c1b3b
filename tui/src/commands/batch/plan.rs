//! `maia batch plan`: the batch folder from a target, a unit spec and run options.

use crate::agent_args::{AgentArgs, absolute};
use crate::plugin_args::PluginArgs;
use anyhow::{Context, Result, bail};
use maia_core::agent::Prompts;
use maia_core::batch::plan::{PlanOptions, WorkerOptions, shard_count};
use maia_core::batch::{
    BatchManifest, FORMAT, HostMode, MAIA_VERSION, RUNS_DIR, SlurmOptions, parse_units, write_plan,
};
use maia_core::config::Config;
use maia_core::llm::BACKENDS;
use maia_core::target::{TorchOptions, absolute_spec, open_target_with};
use maia_tui::shell::quote_path;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Options of `maia batch plan`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
maia batch plan --target world-cnn --units 'conv3:*,conv4:0..32' --data shapes-data \\\n      \
--partition gpu --gpus 1 --time 04:00:00 --concurrency 16 --host per-task batch-conv\n  \
maia batch plan --target torch:resnet18.pt --units 'layer3:0..512,layer4:*' \\\n      \
--backend openai --model gpt-4o --host remote:gpu-box:7878 --shard-size 16 batch-r18\n  \
maia batch plan --target synthetic:all --units 'synthetic:0..8' --shard-size 2 demo-batch\n\n\
Then `maia batch submit OUT` (Slurm) or `maia batch run OUT --local N` (this machine);\n\
`maia batch status OUT`, `maia batch resume OUT`, `maia batch gather OUT`.\n\n\
--target, --data, --prompts and --plugin paths are recorded as absolute paths: keep them (and OUT)\n\
on storage every node of the cluster sees.")]
pub struct PlanArgs {
    /// The batch folder to write.
    #[arg(value_name = "OUT")]
    pub out: PathBuf,
    /// The model whose units are explained: `world-cnn`, `world-vit`, `torch:MODEL.pt`, `synthetic:…`,
    /// `remote:ADDR`.
    #[arg(long, value_name = "SPEC")]
    pub target: String,
    /// The units: comma-separated LAYER:N, LAYER:A..B (A to B-1) or LAYER:* (see
    /// `maia model info SPEC`).
    #[arg(long, value_name = "SPEC")]
    pub units: String,
    /// Task: a file under prompts/tasks/.
    #[arg(long, default_value = "describe-unit")]
    pub task: String,
    /// Keep SAE latents (LAYER:sae:N) that never fire on --data; by default the plan runs
    /// the layer's exemplar pass (cached, the runs reuse it) and leaves them out.
    #[arg(long)]
    pub keep_dead: bool,
    #[command(flatten)]
    pub agent: AgentArgs,
    /// Units per array task (default 8).
    #[arg(long, value_name = "N", conflicts_with = "shards", value_parser = clap::value_parser!(u64).range(1..))]
    pub shard_size: Option<u64>,
    /// Array tasks to split the units into (instead of --shard-size).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub shards: Option<u64>,
    /// Slurm partition.
    #[arg(long)]
    pub partition: Option<String>,
    /// GPUs per array task (--gres=gpu:N; 0 asks for none).
    #[arg(long, default_value_t = 0)]
    pub gpus: u32,
    /// Time limit per array task (Slurm's --time: MINUTES, HH:MM:SS, D-HH:MM).
    #[arg(long)]
    pub time: Option<String>,
    /// Array tasks running at once (the array's %N).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: Option<u32>,
    /// CPUs per array task.
    #[arg(long, value_name = "N")]
    pub cpus_per_task: Option<u32>,
    /// Memory per array task (Slurm's --mem, e.g. 16G).
    #[arg(long)]
    pub mem: Option<String>,
    /// A further #SBATCH option, e.g. --sbatch=--account=proj42. Repeatable.
    #[arg(long = "sbatch", value_name = "OPTION", allow_hyphen_values = true)]
    pub sbatch: Vec<String>,
    /// Where tasks reach the model: none (each worker opens it), per-task (each task
    /// starts its own `maia host serve`), remote:ADDR (all use one running host).
    #[arg(long, default_value = "none", value_parser = parse_host)]
    pub host: HostMode,
    /// The maia binary array tasks run (default: this one; $MAIA_BIN overrides at run time).
    #[arg(long, value_name = "PATH")]
    pub maia: Option<PathBuf>,
    /// Slurm job name (default: maia-OUT).
    #[arg(long)]
    pub name: Option<String>,
    /// Write into a folder that holds something else, or replace a plan of other units
    /// (run folders already there are kept).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub plugins: PluginArgs,
}

fn parse_host(s: &str) -> Result<HostMode, String> {
    s.parse()
}

impl PlanArgs {
    fn overrides(&self, out: &Path) -> Result<toml::Table> {
        let mut run = toml::Table::new();
        let mut table = toml::Table::new();
        self.agent.override_into(&mut run, &mut table)?;
        run.insert("task".into(), self.task.clone().into());
        run.insert("target".into(), absolute_spec(&self.target).into());
        run.insert(
            "runs_dir".into(),
            out.join(RUNS_DIR).display().to_string().into(),
        );
        if let Some(choice) = &self.plugins.images_from {
            run.insert("images_from".into(), choice.clone().into());
        }
        table.insert("run".into(), toml::Value::Table(run));
        Ok(table)
    }

    /// The plugin flags again, with absolute paths, for the workers.
    fn plugin_args(&self) -> Result<Vec<String>> {
        let p = &self.plugins;
        let mut args = Vec::new();
        for path in &p.plugins {
            args.push("--plugin".to_owned());
            args.push(absolute(path)?.display().to_string());
        }
        if p.no_default_plugins {
            args.push("--no-default-plugins".to_owned());
        }
        if let Some(choice) = &p.images_from {
            args.push(format!("--images-from={choice}"));
        }
        if p.no_cache {
            args.push("--no-cache".to_owned());
        }
        for (flag, names) in [
            ("--allow-net", &p.sandbox.allow_net),
            ("--allow-fs", &p.sandbox.allow_fs),
            ("--allow-env", &p.sandbox.allow_env),
        ] {
            for name in names {
                args.push(flag.to_owned());
                args.push(name.clone());
            }
        }
        args.push(format!("--wasm-timeout={}", p.sandbox.wasm_timeout));
        args.push(format!("--wasm-memory-mb={}", p.sandbox.wasm_memory_mb));
        Ok(args)
    }
}

/// Runs `maia batch plan`.
pub fn plan(args: PlanArgs) -> Result<ExitCode> {
    let out = absolute(&args.out)?;
    let (config, _) = Config::resolve(args.agent.config.as_deref(), args.overrides(&out)?)?;
    let backend = config.run.backend.as_str();
    if !BACKENDS.contains(&backend) || backend == "replay" {
        bail!("backend `{backend}` cannot run a batch; backends: offline, openai, anthropic");
    }
    if config.run.task == "find-bias" {
        bail!(
            "--task find-bias needs a classifier per unit, which batches do not set up yet; run it with `maia run --task find-bias`"
        );
    }
    Prompts::load(config.run.prompts.as_deref())?.check_task(&config.run.task)?;
    // `--images-from http` with no server configured fails here, not in every task.
    args.plugins.loader_for(&config)?;
    if let Some(data) = &config.run.data {
        maia_core::dataset::Dataset::open(data)
            .with_context(|| format!("--data {}", data.display()))?;
    }
    let model = open_target_with(
        &args.target,
        &TorchOptions {
            device: args.agent.device.clone(),
            half: args.agent.half,
            sae: config.run.sae.clone(),
            directions: config.run.directions.clone(),
        },
    )
    .with_context(|| format!("opening the target `{}` to list its units", args.target))?;
    let mut units = parse_units(&args.units, model.info())?;
    if !args.keep_dead {
        units = skip_dead_latents(model.as_ref(), units, &config, args.agent.k)?;
    }
    if units.is_empty() {
        bail!(
            "no units left to plan: every latent of --units is dead on --data (--keep-dead plans them anyway)"
        );
    }
    let shard_size = match (args.shard_size, args.shards) {
        (Some(size), _) => usize::try_from(size).unwrap_or(usize::MAX),
        (None, Some(shards)) => units
            .len()
            .div_ceil(usize::try_from(shards).unwrap_or(1).min(units.len())),
        (None, None) => 8,
    };
    let maia = match &args.maia {
        Some(p) => absolute(p)?,
        None => std::env::current_exe().context("finding this maia binary")?,
    };
    let name = args.name.clone().unwrap_or_else(|| {
        format!(
            "maia-{}",
            out.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "batch".into())
        )
    });
    let manifest = BatchManifest {
        format: FORMAT,
        maia_version: MAIA_VERSION.to_owned(),
        created_ms: maia_core::agent::journal::now_ms(),
        name,
        target: absolute_spec(&args.target),
        units_spec: args.units.clone(),
        units: units.len(),
        task: config.run.task.clone(),
        shard_size,
        shards: shard_count(units.len(), shard_size),
        maia,
        host: args.host.clone(),
        slurm: SlurmOptions {
            partition: args.partition.clone(),
            gpus: args.gpus,
            time: args.time.clone(),
            concurrency: args.concurrency,
            cpus_per_task: args.cpus_per_task,
            mem: args.mem.clone(),
            extra: args.sbatch.clone(),
        },
        worker: WorkerOptions {
            device: args.agent.device.clone(),
            half: args.agent.half,
            k: args.agent.k,
            plugin_args: args.plugin_args()?,
        },
        config,
    };
    let plan = PlanOptions {
        manifest,
        units,
        force: args.force,
    };
    write_plan(&out, &plan)?;
    let m = &plan.manifest;
    println!(
        "planned {} units of {} in {} shards of up to {} ({} backend, task {}) in {}",
        m.units,
        m.target,
        m.shards,
        m.shard_size,
        m.config.run.backend,
        m.task,
        out.display()
    );
    if let Some(warning) = maia_core::batch::plan::array_size_warning(m.units, m.shards) {
        eprintln!("warning: {warning}");
    }
    println!(
        "next: `maia batch submit {o}` (Slurm), or `maia batch run {o} --local N` on this machine",
        o = quote_path(&out)
    );
    Ok(ExitCode::SUCCESS)
}

/// `units` without the SAE latents that never fire on the run's data set, found by the
/// exemplar pass of their layer (cached where the runs look for it). Says how many were left
/// out, or why none could be.
fn skip_dead_latents(
    model: &dyn maia_core::target::TargetModel,
    units: Vec<maia_core::target::UnitRef>,
    config: &maia_core::config::Config,
    k: usize,
) -> Result<Vec<maia_core::target::UnitRef>> {
    use std::collections::{BTreeMap, BTreeSet};
    let sae_layers: BTreeSet<String> = units
        .iter()
        .filter(|u| u.layer.ends_with(maia_core::target::sae::SAE_SUFFIX))
        .map(|u| u.layer.clone())
        .collect();
    if sae_layers.is_empty() {
        return Ok(units);
    }
    let Some(data) = &config.run.data else {
        eprintln!(
            "note: without --data the plan cannot tell dead SAE latents from live ones; all are planned"
        );
        return Ok(units);
    };
    let cache = maia_core::exemplars::cache_dir();
    let mut dead: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    for layer in &sae_layers {
        eprintln!(
            "finding dead latents of {layer} on {} (an exemplar pass, cached)…",
            data.display()
        );
        let (found, _) = maia_core::exemplars::exemplars(
            model,
            layer,
            data,
            k,
            cache.as_deref(),
            &mut |_, _| {},
        )
        .with_context(|| format!("the exemplar pass of {layer}"))?;
        let never: BTreeSet<usize> = found
            .units
            .iter()
            .enumerate()
            .filter(|(_, top)| top.first().is_none_or(|e| e.activation <= 0.0))
            .map(|(u, _)| u)
            .collect();
        dead.insert(layer.clone(), never);
    }
    let before = units.len();
    let live: Vec<_> = units
        .into_iter()
        .filter(|u| !dead.get(&u.layer).is_some_and(|d| d.contains(&u.unit)))
        .collect();
    if live.len() < before {
        eprintln!(
            "left out {} dead SAE latents (never active on {}); --keep-dead plans them",
            before - live.len(),
            data.display()
        );
    }
    Ok(live)
}
