//! `maia demo`: the tour a newcomer sees after set-up — the offline experimenter (no API
//! key, no network) investigating a shapes-world synthetic unit whose truth is known,
//! live in the terminal UI (or one line per event when not on a terminal), ending with
//! its description next to the ground truth.

use super::run::{RunArgs, ViewArgs, start};
use crate::agent_args::AgentArgs;
use crate::plugin_args::PluginArgs;
use anyhow::{Context, Result};
use maia_core::agent::RunStatus;
use maia_core::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `maia demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// The synthetic unit to investigate: a catalogue name (see `maia world units`) or a
    /// concept expression such as 'synthetic:(circle|star) & !red'.
    #[arg(long, value_name = "SPEC", default_value = "synthetic:red_and_circle")]
    pub target: String,
    /// Folder runs are written to.
    #[arg(long, value_name = "DIR", default_value = "runs")]
    pub runs_dir: PathBuf,
    /// Images in the demo's dataset (made once and cached).
    #[arg(long, default_value_t = 1000)]
    pub dataset_size: usize,
    #[command(flatten)]
    pub view: ViewArgs,
    #[command(flatten)]
    pub plugins: PluginArgs,
}

/// The demo's dataset: made once under the cache folder, reused after.
fn demo_dataset(n: usize) -> Result<PathBuf> {
    let dir = maia_core::cache::cache_dir("datasets")
        .context("no cache folder: set MAIA_CACHE_DIR or HOME")?
        .join(format!("shapes-n{n}-seed0"));
    if dir.join(maia_shapes_world::SCENE_INDEX).is_file() {
        return Ok(dir);
    }
    let tmp = dir.with_extension("partial");
    let _ = std::fs::remove_dir_all(&tmp);
    eprintln!(
        "making the demo dataset ({n} shapes-world images, once) in {}",
        dir.display()
    );
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    maia_shapes_world::write_dataset_with(&tmp, n, 0, threads, &mut |_, _| {})?;
    std::fs::rename(&tmp, &dir)
        .with_context(|| format!("moving the dataset into {}", dir.display()))?;
    Ok(dir)
}

/// Runs `maia demo`.
pub fn run(args: DemoArgs) -> Result<ExitCode> {
    let data = demo_dataset(args.dataset_size.max(50))?;
    let truth = unit_truth(&args.target);
    let mut config = Config::default();
    config.run.backend = "offline".into();
    config.run.target = args.target.clone();
    config.run.data = Some(data.clone());
    config.run.runs_dir = args.runs_dir.clone();
    let run_args = RunArgs {
        task: None,
        target: Some(args.target.clone()),
        unit: None,
        replay: None,
        runs_dir: Some(args.runs_dir.clone()),
        id: None,
        agent: AgentArgs {
            backend: Some("offline".into()),
            data: Some(data),
            ..AgentArgs::default()
        },
        view: args.view.clone(),
        plugins: args.plugins.clone(),
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let (outcome, signal) = runtime.block_on(start(&run_args, config))?;
    println!("ground truth: {truth}");
    println!(
        "next: `maia runs`, `maia watch <run>`, `maia run --backend openai --model gpt-4o --target world-cnn --unit conv3:7 --data <dir>`, `maia world units`, `maia tools`"
    );
    if let Some(code) = signal {
        return Ok(code);
    }
    Ok(if outcome.status == RunStatus::Completed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn unit_truth(spec: &str) -> String {
    maia_core::target::open_target(spec)
        .ok()
        .and_then(|m| {
            m.ground_truth(&maia_core::target::UnitRef {
                layer: maia_core::target::SYNTHETIC_LAYER.into(),
                unit: 0,
            })
        })
        .unwrap_or_else(|| "unknown".into())
}
