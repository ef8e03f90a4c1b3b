//! Gathering a batch: `OUT/results.jsonl` (one line per unit, in `units.txt` order, with
//! its state, so a line per unit whether it finished or not) and a summary per layer,
//! `OUT/summary/<layer>.md` and `.html`, listing every unit's answer, rounds, cost and
//! state. Written whole each time (beside, then renamed), so gathering again after a
//! resume replaces them.

use super::plan::write_atomic;
use super::status::{BatchStatus, UnitStatus};
use super::{BatchError, RESULTS_FILE, SUMMARY_DIR, io_err};
use crate::quote;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One line of `results.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    /// Address (`layer3:42`).
    pub unit: String,
    /// Layer.
    pub layer: String,
    /// `done`, `failed`, `interrupted`, `running`, `pending`.
    pub state: String,
    /// The agent's description (done units).
    pub description: String,
    /// Its short label.
    pub label: String,
    /// Rounds.
    pub rounds: u32,
    /// Tokens.
    pub tokens: u64,
    /// Dollars.
    pub cost_usd: f64,
    /// Seconds of the run.
    pub seconds: f64,
    /// Run folder relative to the batch.
    pub run: String,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The answer's predictive score, when the run folder holds one (`score.json`, written
    /// by `maia report --score` or `maia batch gather --score`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<RowScore>,
}

/// The parts of a run's `score.json` a batch lists.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowScore {
    /// Who wrote the prompts (`world`, `llm:openai/gpt-4o`).
    pub evaluator: String,
    /// Pearson r.
    pub pearson: Option<f64>,
    /// AUPRC.
    pub auprc: Option<f64>,
    /// Why it could not be scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Tokens the evaluator's model used (MAIA's protocol; none with the world evaluator).
    #[serde(default)]
    pub tokens: u64,
    /// What scoring cost: the evaluator's tokens and the images drawn.
    #[serde(default)]
    pub cost_usd: f64,
}

impl RowScore {
    /// Reads `score.json` in `run_dir`, if there is a readable one.
    pub fn read(run_dir: &std::path::Path) -> Option<RowScore> {
        /// The part of `score.json` read here.
        #[derive(Deserialize)]
        struct ScoreFile {
            score: crate::eval::Score,
        }
        let text = std::fs::read_to_string(maia_run::RunDir::new(run_dir).score()).ok()?;
        let score = serde_json::from_str::<ScoreFile>(&text).ok()?.score;
        Some(RowScore {
            tokens: score.evaluator_usage.total(),
            cost_usd: crate::eval::Scorer::cost_of(&score),
            failure: score.failure.map(|f| f.reason),
            evaluator: score.evaluator,
            pearson: score.pearson,
            auprc: score.auprc,
        })
    }
}

impl From<&UnitStatus> for ResultRow {
    fn from(u: &UnitStatus) -> Self {
        ResultRow {
            unit: u.unit.clone(),
            layer: u.layer.clone(),
            state: u.state.name().to_owned(),
            description: u.description.clone().unwrap_or_default(),
            label: u.label.clone().unwrap_or_default(),
            rounds: u.rounds,
            tokens: u.tokens,
            cost_usd: u.cost_usd,
            seconds: u.seconds,
            run: u.run.clone(),
            reason: match &u.state {
                super::UnitState::Failed { reason } => Some(reason.clone()),
                _ => None,
            },
            score: None,
        }
    }
}

/// What [`gather`] wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct Gathered {
    /// `results.jsonl`.
    pub results: PathBuf,
    /// The per-layer summaries (`.md` and `.html`).
    pub summaries: Vec<PathBuf>,
}

/// Writes `results.jsonl` and the per-layer summaries of `status`'s batch.
pub fn gather(status: &BatchStatus) -> Result<Gathered, BatchError> {
    let out = &status.dir;
    let rows: Vec<ResultRow> = status
        .units
        .iter()
        .map(|u| ResultRow {
            score: (!u.run.is_empty())
                .then(|| RowScore::read(&out.join(&u.run)))
                .flatten(),
            ..ResultRow::from(u)
        })
        .collect();
    let mut text = String::new();
    for row in &rows {
        text.push_str(&serde_json::to_string(row).unwrap_or_default());
        text.push('\n');
    }
    let results = out.join(RESULTS_FILE);
    write_atomic(&results, text.as_bytes())?;
    let dir = out.join(SUMMARY_DIR);
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let mut layers: Vec<&str> = Vec::new();
    for row in &rows {
        if !layers.contains(&row.layer.as_str()) {
            layers.push(&row.layer);
        }
    }
    let mut summaries = Vec::new();
    for layer in layers {
        let of_layer: Vec<&ResultRow> = rows.iter().filter(|r| r.layer == layer).collect();
        let name = file_name(layer);
        let md = dir.join(format!("{name}.md"));
        write_atomic(&md, markdown(status, layer, &of_layer).as_bytes())?;
        let html_path = dir.join(format!("{name}.html"));
        write_atomic(&html_path, html(status, layer, &of_layer).as_bytes())?;
        summaries.push(md);
        summaries.push(html_path);
    }
    Ok(Gathered { results, summaries })
}

fn file_name(layer: &str) -> String {
    layer
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn counts(rows: &[&ResultRow]) -> String {
    let n = |state: &str| rows.iter().filter(|r| r.state == state).count();
    let cost: f64 = rows.iter().map(|r| r.cost_usd).sum();
    let scores = || rows.iter().filter_map(|r| r.score.as_ref());
    let scoring_tokens: u64 = scores().map(|s| s.tokens).sum();
    let scoring = if scoring_tokens > 0 {
        let scoring_cost: f64 = scores().map(|s| s.cost_usd).sum();
        format!(", ${scoring_cost:.4} ({scoring_tokens} tokens) scoring")
    } else {
        String::new()
    };
    format!(
        "{} units: {} done, {} failed, {} interrupted, {} running, {} pending; ${cost:.4} spent{scoring}",
        rows.len(),
        n("done"),
        n("failed"),
        n("interrupted"),
        n("running"),
        n("pending")
    )
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn markdown(status: &BatchStatus, layer: &str, rows: &[&ResultRow]) -> String {
    let m = &status.manifest;
    let mut out = format!(
        "# maia batch `{}`: {layer}\n\nTarget `{}`, task `{}`, backend `{}`{}; {}.\n\n",
        m.name,
        m.target,
        m.task,
        m.config.run.backend,
        if m.config.run.model.is_empty() {
            String::new()
        } else {
            format!(" (`{}`)", m.config.run.model)
        },
        counts(rows)
    );
    let scored = rows.iter().any(|r| r.score.is_some());
    out.push_str("| unit | label | description | rounds | cost | status |");
    out.push_str(if scored { " score r |\n" } else { "\n" });
    out.push_str("|---|---|---|---:|---:|---|");
    out.push_str(if scored { "---:|\n" } else { "\n" });
    for r in rows {
        let status = match &r.reason {
            Some(reason) => format!("{}: {}", r.state, cell(reason)),
            None => r.state.clone(),
        };
        out.push_str(&format!(
            "| [{}]({}) | {} | {} | {} | ${:.4} | {} |",
            r.unit,
            format_args!("../{}", r.run),
            cell(&r.label),
            cell(&r.description),
            r.rounds,
            r.cost_usd,
            status
        ));
        if scored {
            let score = match &r.score {
                Some(RowScore {
                    pearson: Some(p),
                    evaluator,
                    ..
                }) => format!("{p:.3} ({})", cell(evaluator)),
                Some(RowScore {
                    failure: Some(why), ..
                }) => format!("not scored: {}", cell(why)),
                _ => "—".to_owned(),
            };
            out.push_str(&format!(" {score} |"));
        }
        out.push('\n');
    }
    out
}

fn html(status: &BatchStatus, layer: &str, rows: &[&ResultRow]) -> String {
    let m = &status.manifest;
    let title = format!("maia batch {}: {layer}", m.name);
    let mut out = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\n<style>body{{font:14px system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}}td.n{{text-align:right}}.done{{color:#060}}.failed,.interrupted{{color:#a00}}.pending,.running{{color:#666}}</style></head>\n<body><h1>{t}</h1>\n<p>Target <code>{}</code>, task <code>{}</code>, backend <code>{}</code>; {}.</p>\n<table><tr><th>unit</th><th>label</th><th>description</th><th>rounds</th><th>cost</th><th>status</th></tr>\n",
        quote::html(&m.target),
        quote::html(&m.task),
        quote::html(&m.config.run.backend),
        quote::html(&counts(rows)),
        t = quote::html(&title)
    );
    for r in rows {
        let report = format!("../{}/report.html", r.run);
        out.push_str(&format!(
            "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">${:.4}</td><td class=\"{}\">{}{}</td></tr>\n",
            quote::html(&report),
            quote::html(&r.unit),
            quote::html(&r.label),
            quote::html(&r.description),
            r.rounds,
            r.cost_usd,
            quote::html(&r.state),
            quote::html(&r.state),
            r.reason
                .as_ref()
                .map(|why| format!(": {}", quote::html(why)))
                .unwrap_or_default()
        ));
    }
    out.push_str("</table>\n</body></html>\n");
    out
}
