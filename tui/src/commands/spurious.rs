//! `maia spurious`: MAIA's spurious-feature removal experiment as a table. Sparse logistic
//! regressions on a classifier's penultimate-layer units, fitted on its unbalanced training
//! data, measured on balanced data: a selection of units beside all units, the ℓ1 top-k,
//! random k and an oracle fitted on balanced data.

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use maia_core::dataset::Dataset;
use maia_core::downstream::logreg::LogRegConfig;
use maia_core::downstream::spurious::{self, Row};
use maia_core::target::{TorchOptions, open_target_with};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Options of `maia spurious`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
maia spurious --out spurious-run/                       # the planted preset, trained once and cached\n  \
maia spurious --out run/ --units conv4:3,conv4:17,conv4:40\n  \
maia spurious --target torch:classifier.pt --layer layer4 --train waterbirds/train --test waterbirds/test --k 10 --out run/")]
pub struct SpuriousArgs {
    /// The classifier: a `torch:` model (or `remote:`); default: the shapes world's
    /// spurious preset (`maia world train-classifier --preset spurious`), trained once.
    #[arg(long, value_name = "SPEC")]
    pub target: Option<String>,
    /// Its penultimate layer, whose units the regressions read (default for the preset:
    /// conv4).
    #[arg(long)]
    pub layer: Option<String>,
    /// Training data with the spurious correlation: one subfolder per class (ImageFolder).
    /// Default for the preset: its own training scenes, written into OUT/data/train.
    #[arg(long, value_name = "DIR")]
    pub train: Option<PathBuf>,
    /// Balanced data, where the spurious attribute does not predict the class; one half
    /// fits the oracle, the other measures every row. Default for the preset: its
    /// held-out scenes, written into OUT/data/test.
    #[arg(long, value_name = "DIR")]
    pub test: Option<PathBuf>,
    /// A fixed selection to measure instead of the agent's, as LAYER:UNIT,….
    #[arg(long, value_name = "UNITS", conflicts_with_all = ["descriptions", "no_select"])]
    pub units: Option<String>,
    /// Descriptions of the layer's units from an earlier batch (its results.jsonl) instead
    /// of describing them again; the agent still chooses among them.
    #[arg(long, value_name = "FILE", conflicts_with = "no_select")]
    pub descriptions: Option<PathBuf>,
    /// Measure only the baselines: no descriptions, no selection.
    #[arg(long)]
    pub no_select: bool,
    /// The agent that describes every unit (a batch in OUT/batch) and then chooses, per
    /// class, the units that track the object (prompts/select-units.md).
    #[command(flatten)]
    pub agent: crate::agent_choice::AgentChoice,
    /// Units described at once (worker processes; default: the machine's cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub workers: Option<u32>,
    /// Prompt folder (default: ./prompts, then the compiled-in copy).
    #[arg(long, value_name = "DIR")]
    pub prompts: Option<PathBuf>,
    /// The classifier's output layer, whose units are named by the data's classes, for a
    /// row of the classifier's own balanced accuracy (default for the preset:
    /// shape_logits).
    #[arg(long, value_name = "LAYER")]
    pub head: Option<String>,
    /// Units of the ℓ1 and random baselines when no selection is given.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Random selections averaged for the random-k row.
    #[arg(long, default_value_t = 10)]
    pub seeds: u64,
    /// Images of each split written for the preset.
    #[arg(long, default_value_t = 2000)]
    pub n: usize,
    /// ℓ1 penalty of every fit (on standardised activations).
    #[arg(long, default_value_t = 1e-3)]
    pub l1: f64,
    /// Where results.jsonl, summary.md and summary.html (and the preset's data) go.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Where the classifier runs: cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    pub device: String,
}

/// Runs `maia spurious`.
pub fn run(args: SpuriousArgs) -> Result<ExitCode> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let head = args
        .head
        .clone()
        .or_else(|| args.target.is_none().then(|| "shape_logits".to_owned()));
    let Setting {
        target,
        layer,
        train,
        test,
        truth,
    } = match &args.target {
        None => preset(&args)?,
        Some(target) => {
            let (Some(layer), Some(train), Some(test)) = (&args.layer, &args.train, &args.test)
            else {
                bail!(
                    "with --target, give its penultimate layer and the data: --layer L --train DIR --test DIR (one subfolder per class in each)"
                );
            };
            Setting {
                target: target.clone(),
                layer: layer.clone(),
                train: train.clone(),
                test: test.clone(),
                truth: None,
            }
        }
    };
    let model = open_target_with(
        &target,
        &TorchOptions {
            device: args.device.clone(),
            ..TorchOptions::default()
        },
    )
    .with_context(|| format!("opening {target}"))?;
    let info = model.info();
    let Some(layer_info) = info.layer(&layer) else {
        bail!(
            "{} has no layer `{layer}`; its layers: {}",
            info.name,
            info.layers
                .iter()
                .map(|l| l.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    if layer_info.units <= 10 && layer.contains("logits") {
        eprintln!("note: `{layer}` looks like the classifier's output, not its penultimate layer");
    } else if let Some(head) = &head
        && let Some(at) = info.layers.iter().position(|l| &l.name == head)
        && let Some(before) = info.layers[..at]
            .iter()
            .rev()
            .find(|l| !l.name.contains("logits"))
        && before.name != layer
    {
        eprintln!(
            "note: `{layer}` is not the classifier's penultimate layer (`{}` comes just before its head `{head}`); the experiment runs on `{layer}` as asked",
            before.name
        );
    }
    for (flag, dir) in [("--train", &train), ("--test", &test)] {
        if let Some(class) = empty_class(dir) {
            bail!(
                "{flag} {}: class folder `{class}` has no images; every class needs images (or remove the folder)",
                dir.display()
            );
        }
    }
    let train_data =
        Dataset::open(&train).with_context(|| format!("--train {}", train.display()))?;
    let test_data = Dataset::open(&test).with_context(|| format!("--test {}", test.display()))?;
    let classes = spurious::classes(&train_data, &test_data)?;
    let selected = match (&args.units, &args.descriptions) {
        (Some(list), _) => Some(parse_units(list, &layer, info)?),
        _ if args.no_select => None,
        (None, given) => {
            let file = match given {
                Some(file) => file.clone(),
                None => super::spurious_agent::describe(
                    &args,
                    &target,
                    &layer,
                    args.target.as_ref().map(|_| train.as_path()),
                )?,
            };
            let described = read_descriptions(&file, &layer, info)?;
            let selection = super::spurious_agent::select(&args, &classes, &layer, &described)?;
            std::fs::write(
                args.out.join("selection.json"),
                serde_json::to_string_pretty(&selection)?,
            )?;
            println!(
                "{}",
                super::spurious_agent::selection_text(&selection, &layer)
            );
            Some(selection.units())
        }
    };
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} images, ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let measure = |layer: &str, data: &Dataset, what: &str| {
        bar.set_message(format!("{layer} on the {what} images"));
        bar.set_length(data.len() as u64);
        spurious::activations(model.as_ref(), layer, data, &classes, &mut |done, _| {
            bar.set_position(done as u64)
        })
    };
    let train_acts = measure(&layer, &train_data, "training")?;
    let test_acts = measure(&layer, &test_data, "balanced")?;
    let own = match &head {
        Some(head) => {
            let units = info
                .layer(head)
                .map(|l| l.units)
                .with_context(|| format!("--head: {} has no layer `{head}`", info.name))?;
            let names = maia_core::builtin::class_names(head, units);
            let columns = classes
                .iter()
                .map(|class| {
                    names.iter().position(|n| n == class).with_context(|| {
                        format!(
                            "--head {head}: no output named `{class}` (its classes: {})",
                            names.join(", ")
                        )
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let acts = measure(head, &test_data, "balanced")?;
            Some(spurious::head_row(&acts, &columns, head, layer_info.units))
        }
        None => None,
    };
    bar.finish_and_clear();
    let config = LogRegConfig {
        l1: args.l1,
        ..LogRegConfig::default()
    };
    let mut rows = spurious::table(
        &train_acts,
        &test_acts,
        classes.len(),
        selected.as_deref(),
        args.k,
        args.seeds,
        &config,
    )?;
    if let Some(truth) = &truth {
        let row = spurious::subset_row(
            &train_acts,
            &test_acts,
            classes.len(),
            "object units (the planted truth)",
            truth,
            &config,
        )?;
        rows.insert(usize::from(selected.is_some()), row);
        if let Some(selected) = &selected {
            let kept = selected.iter().filter(|u| truth.contains(u)).count();
            println!(
                "the selection keeps {kept} of the {} planted object units and {} of the {} background units",
                truth.len(),
                selected.len() - kept,
                layer_info.units.saturating_sub(truth.len())
            );
        }
    }
    rows.extend(own);
    write_outputs(
        &args.out,
        &rows,
        &target,
        &layer,
        &classes,
        selected.is_some(),
    )?;
    print!("{}", spurious::markdown(&rows));
    if selected.is_none() {
        println!("no selection measured (--no-select)");
    }
    println!(
        "results: {}\nsummary: {}",
        args.out.join("results.jsonl").display(),
        args.out.join("summary.html").display()
    );
    Ok(ExitCode::SUCCESS)
}

/// What the experiment runs on.
struct Setting {
    /// The classifier's target spec.
    target: String,
    /// The layer whose units the regressions read.
    layer: String,
    /// Training data, with the spurious correlation.
    train: PathBuf,
    /// Balanced data.
    test: PathBuf,
    /// The units a removal should keep, where they are known (the preset's object units).
    truth: Option<Vec<usize>>,
}

/// The spurious preset: its classifier trained once (cached), its training and held-out
/// scenes written into OUT/data, and (on conv4) its planted object units.
fn preset(args: &SpuriousArgs) -> Result<Setting> {
    use maia_core::world_cnn::WorldCnnConfig;
    use maia_core::world_cnn::planted::PlantedFlaw;
    use maia_core::world_cnn::planted_dataset::{Split, write_planted_dataset};
    if args.train.is_some() || args.test.is_some() {
        bail!("--train and --test go with --target; without it the preset writes its own data");
    }
    let config = WorldCnnConfig::planted(PlantedFlaw::Spurious, 1);
    eprintln!("the spurious preset: {}", PlantedFlaw::Spurious.truth());
    if let Some(units) = config.planted_units_text() {
        eprintln!("planted units: {units}");
    }
    let trained = super::world::train_with_progress(&config.clone().into())
        .context("training the spurious preset")?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut dirs = Vec::new();
    for (split, name) in [(Split::Train, "train"), (Split::Test, "test")] {
        let dir = args.out.join("data").join(name);
        if !dir.join("scenes.jsonl").is_file() {
            write_planted_dataset(
                &dir,
                PlantedFlaw::Spurious,
                split,
                args.n,
                1,
                threads,
                &|_, _| {},
            )
            .with_context(|| format!("writing {}", dir.display()))?;
        }
        dirs.push(dir);
    }
    let test = dirs.pop().unwrap_or_default();
    let train = dirs.pop().unwrap_or_default();
    let layer = args.layer.clone().unwrap_or_else(|| "conv4".into());
    let truth = (layer == "conv4")
        .then(|| config.planted_object_units())
        .flatten();
    Ok(Setting {
        target: format!("torch:{}", trained.model_path.display()),
        layer,
        train,
        test,
        truth,
    })
}

/// The finished units of `layer` and their descriptions, from a batch's results.jsonl.
fn read_descriptions(
    file: &Path,
    layer: &str,
    info: &maia_core::target::ModelInfo,
) -> Result<Vec<(usize, String)>> {
    use maia_core::batch::results::ResultRow;
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("--descriptions {}", file.display()))?;
    let mut described = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let row: ResultRow = serde_json::from_str(line).with_context(|| {
            format!(
                "--descriptions {} line {}: not a results.jsonl line of `maia batch gather`",
                file.display(),
                n + 1
            )
        })?;
        if row.state != "done" || row.description.trim().is_empty() {
            continue;
        }
        let unit = info.unit(&row.unit)?;
        if unit.layer == layer {
            described.push((unit.unit, row.description));
        }
    }
    if described.is_empty() {
        bail!(
            "--descriptions {}: no finished unit of {layer} in it",
            file.display()
        );
    }
    Ok(described)
}

/// The first class subfolder of an ImageFolder `dir` that holds no image file.
fn empty_class(dir: &Path) -> Option<String> {
    // The extensions the dataset reader takes as images.
    let is_image = |p: &Path| {
        p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
            maia_core::dataset::IMAGE_EXTENSIONS
                .iter()
                .any(|x| x.eq_ignore_ascii_case(e))
        })
    };
    let mut classes: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    classes.sort();
    classes
        .into_iter()
        .find(|class| {
            !std::fs::read_dir(class)
                .map(|entries| entries.filter_map(Result::ok).any(|e| is_image(&e.path())))
                .unwrap_or(false)
        })
        .and_then(|class| class.file_name().map(|n| n.to_string_lossy().into_owned()))
}

/// `LAYER:UNIT,…` as unit indices of `layer`.
fn parse_units(list: &str, layer: &str, info: &maia_core::target::ModelInfo) -> Result<Vec<usize>> {
    let mut units = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let unit = info.unit(item)?;
        if unit.layer != layer {
            bail!("--units: `{item}` is not a unit of {layer}, the layer the regressions read");
        }
        if !units.contains(&unit.unit) {
            units.push(unit.unit);
        }
    }
    if units.is_empty() {
        bail!("--units is empty: name units as {layer}:N,{layer}:M");
    }
    Ok(units)
}

fn write_outputs(
    out: &Path,
    rows: &[Row],
    target: &str,
    layer: &str,
    classes: &[String],
    selected: bool,
) -> Result<()> {
    let mut lines = String::new();
    for row in rows {
        lines.push_str(&serde_json::to_string(row)?);
        lines.push('\n');
    }
    std::fs::write(out.join("results.jsonl"), lines)?;
    let table = spurious::markdown(rows);
    let header = format!(
        "# Spurious-feature removal\n\nClassifier `{target}`, layer `{layer}`, classes {}. Sparse logistic regressions on the layer's unit activations, fitted on the training data (with its spurious correlation) and measured on held-out balanced data.\n\n",
        classes.join(", ")
    );
    let note = if selected {
        ""
    } else {
        "\nNo selection was measured (`--no-select`).\n"
    };
    std::fs::write(out.join("summary.md"), format!("{header}{table}{note}"))?;
    let rows_html: String = rows
        .iter()
        .map(|r| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                html_escape(&r.method),
                r.units,
                r.accuracy_text()
            )
        })
        .collect();
    let html = format!(
        "<!doctype html><meta charset=utf-8><title>maia spurious</title><style>body{{font-family:sans-serif;max-width:50em;margin:2em auto}}td,th{{padding:.3em 1em;text-align:right}}td:first-child,th:first-child{{text-align:left}}</style><h1>Spurious-feature removal</h1><p>Classifier <code>{}</code>, layer <code>{}</code>, classes {}.</p><table><tr><th>method</th><th>units</th><th>balanced accuracy</th></tr>{rows_html}</table>",
        html_escape(target),
        html_escape(layer),
        html_escape(&classes.join(", "))
    );
    std::fs::write(out.join("summary.html"), html)?;
    Ok(())
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
