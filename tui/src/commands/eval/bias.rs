//! `maia eval bias`: MAIA's bias discovery scored against planted truth. For each seed the
//! bias preset is trained (once; cached), the agent runs `--task find-bias` on its class
//! `square` headless (a run in OUT/runs, reused when it finished before), and the failure
//! condition it reports is read into a concept over the shapes world and compared with
//! the planted subgroup over held-out probe scenes: IoU, and the classifier's accuracy
//! inside and outside the reported subgroup.

use anyhow::{Context, Result, bail};
use maia_core::downstream::bias::{
    BIAS_CLASS, BiasScore, planted_subgroup, predict, probe_scenes, score,
};
use maia_core::target::{TorchOptions, open_target_with};
use maia_core::world_cnn::WorldCnnConfig;
use maia_core::world_cnn::planted::PlantedFlaw;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// IoU at which the planted subgroup counts as found.
const FOUND_IOU: f64 = 0.7;

/// Options of `maia eval bias`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
maia eval bias --out bias-eval/                       # seed 1, the offline agent\n  \
maia eval bias --seeds 1,2,3,4,5 --out bias-eval/\n  \
maia eval bias --backend openai --model gpt-4o --seeds 1,2 --out bias-gpt4o/")]
pub struct BiasArgs {
    /// Seeds of the bias preset: each trains its own classifier (cached), on which the
    /// agent hunts once.
    #[arg(long, default_value = "1", value_delimiter = ',')]
    pub seeds: Vec<u64>,
    #[command(flatten)]
    pub agent: crate::agent_choice::AgentChoice,
    /// Held-out probe scenes the subgroups are compared on.
    #[arg(long, default_value_t = 4000)]
    pub probes: usize,
    /// Where runs/, results.jsonl and summary.md go.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Where the classifier runs: cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Train each seed's classifier on this many scenes instead of the preset's 8 000 (a
    /// quicker, weaker classifier, cached apart).
    #[arg(long, value_name = "N")]
    pub train_images: Option<usize>,
    /// Epochs instead of the preset's 8.
    #[arg(long, value_name = "N")]
    pub epochs: Option<usize>,
}

/// One seed's line of results.jsonl.
#[derive(Debug, Serialize)]
struct SeedResult {
    seed: u64,
    target: String,
    run: String,
    /// The agent's reported failure condition, as it wrote it.
    report: String,
    found: bool,
    #[serde(flatten)]
    score: BiasScore,
}

/// Runs `maia eval bias`.
pub fn run(args: BiasArgs) -> Result<ExitCode> {
    if args.seeds.is_empty() {
        bail!("--seeds is empty: give one or more, e.g. --seeds 1,2,3");
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    eprintln!("the bias preset: {}", PlantedFlaw::Bias.truth());
    let truth = planted_subgroup();
    let mut results = Vec::new();
    for &seed in &args.seeds {
        let mut config = WorldCnnConfig::planted(PlantedFlaw::Bias, seed);
        if let Some(n) = args.train_images {
            config.train_images = n;
        }
        if let Some(epochs) = args.epochs {
            config.epochs = epochs;
        }
        let trained = crate::commands::world::train_with_progress(&config.into())
            .with_context(|| format!("training the bias preset of seed {seed}"))?;
        let target = format!("torch:{}", trained.model_path.display());
        let (run, reported) = hunt(&args, &target, seed)?;
        let model = open_target_with(
            &target,
            &TorchOptions {
                device: args.device.clone(),
                ..TorchOptions::default()
            },
        )
        .with_context(|| format!("opening {target}"))?;
        let classes = maia_core::builtin::class_names(
            "shape_logits",
            model
                .info()
                .layer("shape_logits")
                .map(|l| l.units)
                .context("the bias preset has no shape_logits layer")?,
        );
        let probes = probe_scenes(args.probes, seed);
        let predictions = predict(model.as_ref(), "shape_logits", &classes, &probes)?;
        let scored = score(&reported, &truth, &probes, Some(&predictions)).unwrap_or_else(|e| {
            eprintln!("seed {seed}: {e}; scored as not found");
            BiasScore::unread(&truth, &probes)
        });
        println!(
            "seed {seed}: reported \"{reported}\" → {}; IoU {:.2} with the planted subgroup",
            if scored.concept.is_empty() {
                "unreadable"
            } else {
                scored.concept.as_str()
            },
            scored.iou
        );
        results.push(SeedResult {
            seed,
            target,
            run: run.display().to_string(),
            report: reported,
            found: scored.iou >= FOUND_IOU,
            score: scored,
        });
    }
    write_outputs(&args.out, &results, &truth.to_string())?;
    let found = results.iter().filter(|r| r.found).count();
    println!(
        "planted subgroup ({}) found (IoU ≥ {FOUND_IOU}) on {found} of {} seeds\nresults: {}\nsummary: {}",
        truth,
        results.len(),
        args.out.join("results.jsonl").display(),
        args.out.join("summary.md").display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The agent's hunt on `target` for seed `seed`: a headless `maia run --task find-bias`
/// in OUT/runs/seed-S (reused when it already finished). Returns the run folder and the
/// reported failure condition.
fn hunt(args: &BiasArgs, target: &str, seed: u64) -> Result<(PathBuf, String)> {
    let runs = args.out.join("runs");
    let id = format!("seed-{seed}");
    let dir = runs.join(&id);
    if let Some(description) = finished(&dir) {
        eprintln!(
            "seed {seed}: the hunt in {} finished before; reusing it",
            dir.display()
        );
        return Ok((dir, description));
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("clearing the unfinished run {}", dir.display()))?;
    }
    let maia = std::env::current_exe().context("finding this maia binary")?;
    let unit = format!(
        "shape_logits:{}",
        maia_shapes_world::Shape::ALL
            .iter()
            .position(|&s| s == BIAS_CLASS)
            .unwrap_or(1)
    );
    let mut command = Command::new(&maia);
    command
        .args([
            "run",
            "--task",
            "find-bias",
            "--headless",
            "--target",
            target,
        ])
        .args(["--unit", &unit, "--id", &id, "--device", &args.device])
        .args(args.agent.args())
        .arg("--runs-dir")
        .arg(&runs);
    eprintln!(
        "seed {seed}: the {} agent hunts on {unit} ({target})",
        args.agent.backend
    );
    let output = command
        .output()
        .context("running maia run --task find-bias")?;
    std::fs::write(dir.with_extension("log"), &output.stdout).ok();
    match finished(&dir) {
        Some(description) => Ok((dir, description)),
        None => bail!(
            "seed {seed}: the hunt gave no final answer ({}); see {} and `maia report {}`",
            String::from_utf8_lossy(&output.stderr).trim(),
            dir.with_extension("log").display(),
            dir.display()
        ),
    }
}

/// The description of a run that ended with a final answer.
fn finished(dir: &Path) -> Option<String> {
    maia_core::agent::unit_run::finished_run(dir)
        .and_then(|r| r.answer)
        .map(|(description, _)| description)
        .filter(|d| !d.trim().is_empty())
}

fn write_outputs(out: &Path, results: &[SeedResult], truth: &str) -> Result<()> {
    let mut lines = String::new();
    for r in results {
        lines.push_str(&serde_json::to_string(r)?);
        lines.push('\n');
    }
    std::fs::write(out.join("results.jsonl"), lines)?;
    let pct = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{:.1} %", v * 100.0));
    let mut md = format!(
        "# Bias discovery\n\nPlanted subgroup: `{truth}`. Each seed's report is read into a concept and compared with it over held-out probe scenes; found means IoU ≥ {FOUND_IOU}.\n\n| seed | reported | read as | IoU | accuracy inside | accuracy outside | found |\n|---:|---|---|---:|---:|---:|---|\n"
    );
    for r in results {
        md.push_str(&format!(
            "| {} | {} | `{}` | {:.2} | {} | {} | {} |\n",
            r.seed,
            r.report.replace('|', "/"),
            r.score.concept.replace('|', "∨"),
            r.score.iou,
            pct(r.score.accuracy_inside),
            pct(r.score.accuracy_outside),
            if r.found { "yes" } else { "no" }
        ));
    }
    let found = results.iter().filter(|r| r.found).count();
    md.push_str(&format!("\nFound on {found} of {} seeds.\n", results.len()));
    std::fs::write(out.join("summary.md"), md)?;
    Ok(())
}
