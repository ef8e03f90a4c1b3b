//! Predictive scoring end to end: real synthetic units, the real `shapes-tools` wasm
//! plugin drawing every image through the tool registry (as the agent's `text2image` calls
//! do), and the world evaluator. The ground-truth description of a unit scores high, a
//! wrong one low, random controls lower than the truth; bad descriptions fail cleanly and
//! dead units are flagged.
//!
//! The plugin is taken from `target/plugins/shapes-tools` (`./scripts/build-plugins.sh`);
//! when it is not there the test builds it with cargo. Run with `--nocapture` to see the
//! figures.

use maia_core::eval::{
    FailureKind, HELD_OUT_SEED_BASE, ImageRenderer, ModelUnit, Rendered, Score, ScoreConfig,
    Scorer, ToolRenderer, UnitProbe, WorldEvaluator, random_description, score_against_truth,
    summarize,
};
use maia_core::target::{SYNTHETIC_LAYER, UnitRef, open_target};
use maia_core::{Grants, PluginLoader, ToolRegistry, WasmLimits};
use maia_plugin_sdk::Image;
use maia_shapes_world::lookup;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// Ten catalogue units spread over the four kinds.
const UNITS: [&str; 10] = [
    "red",
    "star",
    "striped",
    "bg_blue",
    "circle_or_star",
    "red_or_blue",
    "red_and_circle",
    "small_and_star",
    "circle_with_star",
    "circle_not_red",
];

fn workspace() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

/// The installed plugin folder, building and installing it into a temporary folder when
/// `scripts/build-plugins.sh` has not been run.
fn plugin_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    let installed = target.join("plugins/shapes-tools");
    if installed.join("shapes_tools.wasm").is_file() {
        return installed;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(cargo)
        .current_dir(workspace())
        .args([
            "build",
            "--quiet",
            "--release",
            "--target",
            "wasm32-wasip2",
            "-p",
            "maia-shapes-tools",
        ])
        .status()
        .unwrap_or_else(|e| panic!("running cargo: {e}"));
    assert!(status.success(), "building shapes-tools failed");
    let dir = std::env::temp_dir().join(format!("maia-eval-shapes-tools-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    for (from, to) in [
        (
            target.join("wasm32-wasip2/release/shapes_tools.wasm"),
            dir.join("shapes_tools.wasm"),
        ),
        (
            workspace().join("plugins/shapes-tools/plugin.toml"),
            dir.join("plugin.toml"),
        ),
    ] {
        std::fs::copy(&from, &to).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    }
    dir
}

/// One registry for the whole test binary: compiling the component takes a while.
fn registry() -> Arc<ToolRegistry> {
    static REGISTRY: OnceLock<Arc<ToolRegistry>> = OnceLock::new();
    REGISTRY
        .get_or_init(|| {
            let provider = PluginLoader::new(Grants::none(), WasmLimits::default())
                .load(&plugin_dir())
                .unwrap_or_else(|e| panic!("{e}"));
            let mut registry = ToolRegistry::new();
            registry
                .register(provider)
                .unwrap_or_else(|e| panic!("{e}"));
            Arc::new(registry)
        })
        .clone()
}

fn renderer() -> Arc<dyn ImageRenderer> {
    Arc::new(ToolRenderer::new(registry()).unwrap_or_else(|e| panic!("{e}")))
}

fn scorer(n: usize, seed: u64) -> Arc<Scorer> {
    Arc::new(Scorer::new(
        renderer(),
        ScoreConfig {
            n,
            seed,
            ..ScoreConfig::default()
        },
    ))
}

fn unit(spec: &str) -> Arc<dyn UnitProbe> {
    let model = open_target(spec).unwrap_or_else(|e| panic!("{e}"));
    let unit = UnitRef {
        layer: SYNTHETIC_LAYER.into(),
        unit: 0,
    };
    Arc::new(ModelUnit::new(Arc::from(model), unit).unwrap_or_else(|e| panic!("{e}")))
}

fn truth_of(name: &str) -> maia_shapes_world::SyntheticUnit {
    lookup(name).unwrap_or_else(|| panic!("no unit {name}"))
}

fn pearson(score: &Score) -> f64 {
    assert!(score.is_scored(), "{score:#?}");
    score.pearson.unwrap_or(f64::NAN)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truth_descriptions_score_high_and_beat_random_controls() {
    let scorer = scorer(20, 1);
    // All units concurrently through one scorer: it must be safe to share.
    let mut tasks = tokio::task::JoinSet::new();
    for (i, name) in UNITS.iter().enumerate() {
        let scorer = scorer.clone();
        let truth = truth_of(name).description;
        let control = random_description(1000 + i as u64);
        let name = name.to_string();
        tasks.spawn(async move {
            let unit = unit(&format!("synthetic:{name}"));
            let right = scorer.score(&truth, &WorldEvaluator, unit.clone()).await;
            let random = scorer.score(&control, &WorldEvaluator, unit).await;
            (i, name, right, random)
        });
    }
    let mut rows = tasks.join_all().await;
    rows.sort_by_key(|r| r.0);
    eprintln!(
        "{:<18} {:>7} {:>7} {:>7}   {:>7} {:>7}  control description",
        "unit", "pearson", "auprc", "f1", "control", "c.auprc"
    );
    for (_, name, right, random) in &rows {
        eprintln!(
            "{name:<18} {:>7.3} {:>7.3} {:>7.3}   {:>7.3} {:>7.3}  {}",
            right.pearson.unwrap_or(f64::NAN),
            right.auprc.unwrap_or(f64::NAN),
            right.f1.unwrap_or(f64::NAN),
            random.pearson.unwrap_or(f64::NAN),
            random.auprc.unwrap_or(f64::NAN),
            random.description
        );
    }
    let truths: Vec<Score> = rows.iter().map(|r| r.2.clone()).collect();
    let controls: Vec<Score> = rows.iter().map(|r| r.3.clone()).collect();
    let (t, c) = (summarize(&truths, 0.95), summarize(&controls, 0.95));
    let (tp, cp) = (
        t.pearson.unwrap_or_else(|| panic!("no truth mean")),
        c.pearson.unwrap_or_else(|| panic!("no control mean")),
    );
    eprintln!(
        "mean pearson: truth {:.3} ± {:.3}, random control {:.3} ± {:.3} (95% t, n = {})",
        tp.mean,
        tp.half_width(),
        cp.mean,
        cp.half_width(),
        tp.n
    );
    for score in &truths {
        assert!(pearson(score) > 0.7, "{}: {}", score.unit, pearson(score));
        assert!(score.auprc.is_some_and(|a| a > 0.9), "{score:?}");
    }
    assert_eq!(t.scored, 10);
    assert!(tp.mean > cp.mean + 0.3, "truth {tp:?} vs control {cp:?}");
}

#[test]
fn a_wrong_description_scores_low_and_a_partial_one_in_between() {
    let scorer = scorer(20, 2);
    let unit = unit("synthetic:red_and_circle");
    let right = pearson(&scorer.score_world("red circles", unit.as_ref()));
    let partial = pearson(&scorer.score_world("red objects", unit.as_ref()));
    let wrong = pearson(&scorer.score_world("blue squares", unit.as_ref()));
    eprintln!("red_and_circle: right {right:.3}, partial {partial:.3}, wrong {wrong:.3}");
    assert!(right > 0.9, "{right}");
    assert!(wrong < 0.3, "{wrong}");
    assert!(
        wrong < partial && partial < right,
        "{wrong} < {partial} < {right}"
    );
}

#[test]
fn empty_one_word_and_foreign_descriptions() {
    let scorer = scorer(8, 3);
    let unit = unit("synthetic:red");
    for text in ["", "   ", "círculos rojos con rayas", "florp"] {
        let score = scorer.score_world(text, unit.as_ref());
        let failure = score
            .failure
            .as_ref()
            .unwrap_or_else(|| panic!("{text:?} should fail: {score:?}"));
        assert_eq!(failure.kind, FailureKind::Description, "{text:?}");
        assert!(!failure.reason.is_empty());
        assert_eq!(score.pearson, None);
    }
    let one_word = scorer.score_world("red", unit.as_ref());
    assert!(pearson(&one_word) > 0.9, "{one_word:?}");
    assert!(one_word.notes.iter().any(|n| n.contains("one-word")));
}

#[test]
fn a_unit_that_never_fires_is_flagged_dead() {
    let scorer = scorer(8, 4);
    // No object is both red and blue.
    let score = scorer.score_world("red objects", unit("synthetic:red & blue").as_ref());
    assert!(score.dead, "{score:?}");
    assert!(score.failure.is_none() && score.pearson.is_none());
    let summary = summarize(&[score], 0.95);
    assert_eq!(
        (summary.dead, summary.scored, summary.pearson),
        (1, 0, None)
    );
}

#[test]
fn truth_descriptions_agree_with_their_concepts() {
    let mut control_iou = Vec::new();
    for (i, name) in UNITS.iter().enumerate() {
        let unit = truth_of(name);
        let right = score_against_truth(&unit.description, &unit.concept, 0)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(right.iou, Some(1.0), "{name}: {right:?}");
        let control = score_against_truth(&random_description(1000 + i as u64), &unit.concept, 0)
            .unwrap_or_else(|e| panic!("{e}"));
        eprintln!(
            "{name:<18} truth iou 1.000   control iou {:.3} ('{}')",
            control.iou.unwrap_or(0.0),
            control.description
        );
        control_iou.push(control.iou.unwrap_or(0.0));
    }
    let mean = control_iou.iter().sum::<f64>() / control_iou.len() as f64;
    assert!(mean < 0.3, "mean control iou {mean}");
}

/// Wraps a renderer and records every seed it is asked to draw with.
struct Recording {
    inner: Arc<dyn ImageRenderer>,
    seeds: Mutex<Vec<u64>>,
}

impl ImageRenderer for Recording {
    fn name(&self) -> String {
        self.inner.name()
    }
    fn render(&self, prompts: &[String], seed: u64) -> Result<Rendered, maia_core::eval::Failure> {
        self.seeds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(seed);
        self.inner.render(prompts, seed)
    }
}

#[test]
fn images_use_held_out_seeds_and_scores_are_reproducible() {
    let recording = Arc::new(Recording {
        inner: renderer(),
        seeds: Mutex::new(Vec::new()),
    });
    let config = ScoreConfig {
        n: 10,
        seed: 9,
        ..ScoreConfig::default()
    };
    let scorer = Scorer::new(recording.clone(), config.clone());
    let unit = unit("synthetic:circle_or_star");
    let first = scorer.score_world("circles or stars", unit.as_ref());
    let again = Scorer::new(renderer(), config).score_world("circles or stars", unit.as_ref());
    assert_eq!(first, again, "same seed, same score");
    let seeds = recording.seeds.lock().unwrap_or_else(|p| p.into_inner());
    assert!(!seeds.is_empty());
    assert!(seeds.iter().all(|&s| s >= HELD_OUT_SEED_BASE), "{seeds:?}");
    // The images are the tool's: they carry the seed they were drawn with.
    let image: Image = recording
        .inner
        .render(&["a red circle".into()], seeds[0])
        .map(|r| r.images.into_iter().next())
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("no image"));
    assert_eq!(image.meta["seed"], seeds[0]);
}

#[test]
fn a_registry_without_the_image_tool_is_a_clean_failure() {
    let err = ToolRenderer::new(Arc::new(ToolRegistry::new()))
        .err()
        .unwrap_or_else(|| panic!("should fail"));
    assert_eq!(err.kind, FailureKind::Render);
    assert!(err.reason.contains("build-plugins.sh"), "{}", err.reason);
}
