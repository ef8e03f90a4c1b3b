//! `maia eval synthetic` as users run it: four synthetic units (a mono, an OR, an AND and
//! an AND-NOT) through the offline agent, the exemplar-only baseline and the random
//! control, end to end with the real shapes-tools wasm plugin. Checks the files an eval
//! leaves (results.jsonl, summary.md, summary.json, scores.png decoded, score.json in each
//! run folder as `maia report` reads it), that the agent beats the control, and that a
//! second invocation after losing the last result line — with that unit's agent run cut
//! off mid-journal — computes only that unit, resuming its run from the journal.

use crate::support::{maia, run, with_bundled};
use maia_core::eval::suite::{KindSummary, Method, ResultLine};
use maia_tui::report::score::RunScore;
use std::path::Path;

/// A mono, an OR, an AND and an AND-NOT unit of the catalogue.
const UNITS: &str = "circle,circle_or_star,red_and_circle,circle_not_red";

/// Runs the suite; returns (exit code, stdout, stderr).
fn eval(root: &Path) -> (i32, String, String) {
    let mut cmd = maia();
    cmd.args([
        "eval",
        "synthetic",
        "--units",
        UNITS,
        "--id",
        "four",
        "--dataset-size",
        "80",
    ])
    .arg("--eval-dir")
    .arg(root.join("eval"))
    .env("MAIA_CACHE_DIR", root.join("cache"))
    .current_dir(root);
    run(with_bundled(&mut cmd))
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(str::to_owned)
        .collect()
}

fn parse(line: &str) -> ResultLine {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

#[test]
fn a_small_synthetic_suite_runs_end_to_end_and_resumes_one_unit() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("eval/four");
    let (code, out, err) = eval(root.path());
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");

    // results.jsonl: one line per unit and method.
    let results = lines(&dir.join("results.jsonl"));
    assert_eq!(results.len(), 12, "{results:#?}");
    let parsed: Vec<ResultLine> = results.iter().map(|l| parse(l)).collect();
    for method in Method::ALL {
        assert_eq!(parsed.iter().filter(|l| l.method == method).count(), 4);
    }
    let kinds: Vec<&str> = parsed.iter().map(|l| l.kind.as_str()).collect();
    for kind in ["mono", "or", "and", "andnot"] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
    assert!(
        parsed
            .iter()
            .all(|l| l.truth.is_some() || l.truth_failure.is_some())
    );

    // summary.md, printed too: a row per kind and the pooled row.
    let summary = std::fs::read_to_string(dir.join("summary.md")).expect("summary.md");
    for row in [
        "| mono | 1 |",
        "| or | 1 |",
        "| and | 1 |",
        "| andnot | 1 |",
        "| **all** | 4 |",
    ] {
        assert!(summary.contains(row), "{row} missing:\n{summary}");
    }
    assert!(out.contains("| **all** | 4 |"), "{out}");

    // The agent beats the random control on mean correlation.
    let kinds: Vec<KindSummary> =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).expect("summary.json"))
            .expect("summary.json parses");
    let all = kinds
        .iter()
        .find(|k| k.kind == "all")
        .expect("an `all` row");
    let pearson = |m: Method| {
        all.method(m)
            .and_then(|s| s.summary.pearson.as_ref())
            .map(|p| p.mean)
            .unwrap_or(f64::NAN)
    };
    assert!(
        pearson(Method::Agent) > pearson(Method::Control) + 0.5,
        "agent {} vs control {}",
        pearson(Method::Agent),
        pearson(Method::Control)
    );

    // scores.png: the right size, and drawn on (bars in the agent's blue).
    let png = image::open(dir.join("scores.png"))
        .expect("scores.png decodes")
        .to_rgb8();
    assert_eq!(png.dimensions(), (960, 540));
    let pixels = png.pixels().count();
    let inked = png.pixels().filter(|p| p.0 != [255, 255, 255]).count();
    let blue = png.pixels().filter(|p| p.0 == [31, 119, 180]).count();
    assert!(inked * 20 > pixels, "{inked} of {pixels} pixels drawn");
    assert!(blue > 1000, "{blue} agent-blue pixels");

    // Each agent run folder holds its score as `maia report` reads it.
    for line in parsed.iter().filter(|l| l.method == Method::Agent) {
        let run = dir.join(line.run.as_deref().expect("agent lines name their run"));
        let score: RunScore =
            serde_json::from_slice(&std::fs::read(run.join("score.json")).expect("score.json"))
                .expect("score.json is a RunScore");
        assert_eq!(score.score.description, line.description);
        assert!(score.truth_said.is_some() && score.truth.is_some());
        assert!(!score.score.images.is_empty());
    }

    // Lose the last unit's lines' tail and cut its agent run off mid-journal.
    let last = parse(results.last().expect("a last line"));
    std::fs::write(dir.join("results.jsonl"), results[..11].join("\n") + "\n")
        .expect("rewrite results");
    let run = dir.join(format!("runs/{}", last.unit.replace(':', "-")));
    let journal = lines(&run.join("events.jsonl"));
    let cut = journal.len() / 2;
    std::fs::write(run.join("events.jsonl"), journal[..cut].join("\n") + "\n")
        .expect("cut journal");
    std::fs::remove_file(run.join("result.json")).expect("remove result.json");

    let (code, out, err) = eval(root.path());
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        err.contains("3 of 4 units already done; 1 to go"),
        "stderr:\n{err}"
    );
    let again = lines(&dir.join("results.jsonl"));
    assert_eq!(again.len(), 12);
    // The other units' lines are untouched, in place.
    let others = |ls: &[String]| -> Vec<String> {
        ls.iter()
            .filter(|l| parse(l).unit != last.unit)
            .cloned()
            .collect()
    };
    assert_eq!(others(&again), others(&results));
    let redone: Vec<ResultLine> = again
        .iter()
        .map(|l| parse(l))
        .filter(|l| l.unit == last.unit)
        .collect();
    assert_eq!(redone.len(), 3);
    // The agent run continued from its journal (deterministic: same answer).
    let resumed = lines(&run.join("events.jsonl"));
    assert!(resumed.len() > cut);
    assert!(
        resumed[cut..]
            .iter()
            .any(|l| l.contains("\"type\":\"resumed\"")),
        "no resumed event after line {cut}"
    );
    let before = parsed
        .iter()
        .find(|l| l.unit == last.unit && l.method == Method::Agent)
        .map(|l| l.description.clone());
    let after = redone
        .iter()
        .find(|l| l.method == Method::Agent)
        .map(|l| l.description.clone());
    assert_eq!(after, before);
}

/// `--simulate`: every description is also scored by dataset simulation on the unit's
/// held-out data set images; results, summary and the agent's score.json carry it, and
/// `report --score --simulate-data` computes it for any run.
#[test]
fn dataset_simulation_reaches_the_suite_and_the_report() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut cmd = maia();
    cmd.args(["eval", "synthetic", "--units", "circle"])
        .args(["--id", "sim", "--dataset-size", "300", "--simulate"])
        .args(["--simulate-n", "12"])
        .arg("--eval-dir")
        .arg(root.path().join("eval"))
        .env("MAIA_CACHE_DIR", root.path().join("cache"))
        .current_dir(root.path());
    let (code, out, err) = run(with_bundled(&mut cmd));
    assert_eq!(code, 0, "{out}{err}");
    let dir = root.path().join("eval/sim");
    let parsed: Vec<ResultLine> = lines(&dir.join("results.jsonl"))
        .iter()
        .map(|l| parse(l))
        .collect();
    assert_eq!(parsed.len(), 3);
    for line in &parsed {
        let sim = line
            .simulation
            .as_ref()
            .unwrap_or_else(|| panic!("no simulation: {line:?}"));
        assert_eq!(sim.simulator, "world");
        assert!(sim.failure.is_none(), "{sim:?}");
        if line.method == Method::Agent {
            assert!(
                sim.all > Some(0.9),
                "the agent's right description predicts its data: {sim:?}"
            );
        }
    }
    let summary = std::fs::read_to_string(dir.join("summary.md")).expect("summary");
    assert!(summary.contains("## Dataset simulation"), "{summary}");
    let agent_run = parsed
        .iter()
        .find(|l| l.method == Method::Agent && l.name == "circle")
        .and_then(|l| l.run.clone())
        .expect("the circle unit's run");
    let run_dir = dir.join(&agent_run);
    let run_id = agent_run.trim_start_matches("runs/").to_owned();
    let saved: RunScore = serde_json::from_str(
        &std::fs::read_to_string(run_dir.join("score.json")).expect("score.json"),
    )
    .expect("a RunScore");
    assert!(saved.simulation.is_some(), "{saved:?}");

    // Any run: report --score --simulate-data computes it again and shows it.
    let mut cmd = maia();
    cmd.args(["report", &run_id, "--score", "--simulate-data"])
        .arg(root.path().join("cache/datasets/shapes-n300-seed0"))
        .arg("--runs-dir")
        .arg(dir.join("runs"))
        .env("MAIA_CACHE_DIR", root.path().join("cache"));
    let (code, out, err) = run(with_bundled(&mut cmd));
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("simulation r 1.000"), "{err}");
    let page = std::fs::read_to_string(run_dir.join("report.html")).expect("report");
    assert!(page.contains("Dataset simulation by the world simulator"));
}

/// `eval compare`: two evaluations of the same descriptions, joined on unit and method;
/// a folder without results is refused with what to give.
#[test]
fn two_evaluations_of_the_same_descriptions_are_compared() {
    let root = tempfile::tempdir().expect("tempdir");
    let line = |unit: &str, method: &str, description: &str, pearson: f64| {
        serde_json::json!({
            "unit": unit, "name": unit, "kind": "mono", "method": method,
            "description": description,
            "score": {"description": description, "evaluator": "x", "unit": unit, "n": 4,
                      "n_positive": 4, "n_neutral": 4, "seed": 0, "pearson": pearson,
                      "auprc": 0.5, "f1": 0.5, "mean_pos": 1.0, "mean_neutral": 0.0,
                      "dead": false}
        })
        .to_string()
    };
    for (id, scores, evaluator) in [
        ("a", [0.9, 0.1, 0.8], "world"),
        ("b", [0.6, 0.2, 0.7], "llm:openai/m"),
    ] {
        let dir = root.path().join(id);
        std::fs::create_dir_all(&dir).expect("dir");
        let text = [
            line("synthetic:0", "agent", "circles", scores[0]),
            line("synthetic:0", "control", "blue dots", scores[1]),
            line("synthetic:1", "agent", "stars", scores[2]),
        ]
        .join("\n");
        std::fs::write(dir.join("results.jsonl"), text + "\n").expect("write");
        std::fs::write(
            dir.join("suite.json"),
            serde_json::json!({"evaluator": evaluator}).to_string(),
        )
        .expect("write");
    }
    let (code, out, err) = run(maia()
        .args(["eval", "compare"])
        .arg(root.path().join("a"))
        .arg(root.path().join("b")));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("(llm:openai/m)") && out.contains("(world)"),
        "{out}"
    );
    assert!(out.contains("| all | 3 |"), "{out}");
    assert!(out.contains("the same way in both: 1 of 1 units"), "{out}");
    let (code, _, err) = run(maia()
        .args(["eval", "compare"])
        .arg(root.path().join("a"))
        .arg(root.path().join("missing")));
    assert_ne!(code, 0);
    assert!(err.contains("no results.jsonl there"), "{err}");
}
