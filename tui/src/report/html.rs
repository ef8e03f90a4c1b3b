//! The page itself: one HTML document with its CSS inline and every image a `data:` URI,
//! so it opens offline from anywhere it is copied to. No script. Every string that came
//! from the model, a tool, the user or a file goes through [`escape`] — a tool's caption
//! is text, never markup.

use super::images::{ImageInliner, Inlined};
use super::model::{Item, Message, Round, RunReport, RunState, ToolCall};
use super::score::{RunScore, ScoreSection};
use maia_core::agent::ImageRecord;
use serde_json::Value;
use std::fmt::Write as _;

/// Bytes of a tool's structured data shown before the rest is cut.
const MAX_DATA_BYTES: usize = 16 * 1024;

/// What the page is made from besides the journal.
#[derive(Debug)]
pub struct PageInput<'a> {
    /// The folded journal.
    pub report: &'a RunReport,
    /// The answer's score, or why there is none.
    pub score: &'a ScoreSection,
    /// `result.json`, when the run wrote one (or why it could not be read).
    pub result: Option<Result<Value, String>>,
    /// When the page was made (UNIX ms).
    pub generated_ms: u64,
}

pub use maia_core::quote::html as escape;

/// Renders the page. Images come from `images`, each file read once.
pub fn render(input: &PageInput<'_>, images: &mut ImageInliner) -> String {
    let report = input.report;
    let mut page = Page {
        out: String::with_capacity(64 * 1024),
        max_activation: max_activation(report),
    };
    page.head(report);
    page.header(report);
    page.task(report);
    page.toc(report);
    if !report.preamble.is_empty() {
        page.out
            .push_str("<section class=\"round preamble\"><h2>Before the first round</h2>\n");
        for item in &report.preamble {
            page.item(item, images);
        }
        page.out.push_str("</section>\n");
    }
    let mut seen = std::collections::HashSet::new();
    for (index, round) in report.rounds.iter().enumerate() {
        let again = !seen.insert(round.number);
        page.round(report, index, round, again, images);
    }
    page.answer(report, input.score);
    page.footer(input);
    page.out
}

struct Page {
    out: String,
    /// The largest |activation| in the run: activation bars are relative to it.
    max_activation: f64,
}

fn max_activation(report: &RunReport) -> f64 {
    report
        .images()
        .filter_map(|i| i.activation)
        .filter(|a| a.is_finite())
        .fold(0.0, |m, a| m.max(a.abs()))
}

impl Page {
    fn head(&mut self, report: &RunReport) {
        let title = match &report.started {
            Some(s) => format!("maia run {} — {} {}", report.run_id, s.target, s.unit),
            None => format!("maia run {}", report.run_id),
        };
        let _ = write!(
            self.out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <meta name=\"generator\" content=\"maia report\">\n<title>{}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n<main>\n",
            escape(&title)
        );
    }

    fn header(&mut self, report: &RunReport) {
        let state = &report.state();
        let _ = write!(
            self.out,
            "<header class=\"run\">\n<h1>maia run <code>{}</code> <span class=\"status status-{}\">{}</span></h1>\n",
            escape(&report.run_id),
            state.label().replace(' ', "-"),
            escape(state.label())
        );
        if let RunState::InProgress = state {
            self.out.push_str(
                "<p class=\"banner progress\"><strong>In progress.</strong> The journal has no end after the last start: \
                 the run is still going, or its process was killed (<code>maia resume</code> continues it). \
                 This page shows what happened so far.</p>\n",
            );
        }
        if let Some(damage) = &report.damage {
            let _ = writeln!(
                self.out,
                "<p class=\"banner torn\"><strong>Damaged journal.</strong> It is {}: this page shows what precedes it. \
                 <code>maia resume --repair</code> keeps a copy and continues from there.</p>",
                escape(damage)
            );
        }
        if !report.unknown.is_empty() {
            let _ = writeln!(
                self.out,
                "<p class=\"banner torn\">Events of kinds this maia does not know are left out ({}): the journal was written by a newer maia.</p>",
                escape(&report.unknown.join(", "))
            );
        }
        if report.torn_bytes > 0 {
            let _ = writeln!(
                self.out,
                "<p class=\"banner torn\">The journal's last line was cut off mid-write ({} bytes) and is left out.</p>",
                report.torn_bytes
            );
        }
        self.out.push_str("<dl class=\"facts\">\n");
        let mut fact = |name: &str, value: String| {
            let _ = writeln!(self.out, "<dt>{name}</dt><dd>{value}</dd>");
        };
        match &report.started {
            Some(s) => {
                fact("target", format!("<code>{}</code>", escape(&s.target)));
                fact("unit", format!("<code>{}</code>", escape(&s.unit)));
                fact("task", escape(&s.task));
                fact(
                    "backend",
                    format!("{} / <code>{}</code>", escape(&s.backend), escape(&s.model)),
                );
            }
            None => fact(
                "run",
                "<em>the journal has no run_started record</em>".into(),
            ),
        }
        let status = match state {
            RunState::InProgress => "in progress".to_owned(),
            RunState::Ended(status, reason) => format!("{} — {}", status.as_str(), escape(reason)),
        };
        fact("status", status);
        let rounds = rounds_of(
            report.round_count(),
            report.started.as_ref().map(|s| s.max_rounds),
        );
        let resumes = match report.summary.resumes {
            0 => String::new(),
            1 => " (resumed once)".into(),
            n => format!(" (resumed {n} times)"),
        };
        fact("rounds", format!("{rounds}{resumes}"));
        fact(
            "tokens",
            format!(
                "{} ({} in, {} out)",
                report.summary.input_tokens + report.summary.output_tokens,
                report.summary.input_tokens,
                report.summary.output_tokens
            ),
        );
        fact("cost", format!("${:.4}", report.summary.cost_usd));
        if let Some(ms) = report.duration_ms() {
            fact("duration", duration(ms));
        }
        if let Some(ms) = report.summary.first_ms {
            fact("started", utc(ms));
        }
        if let Some(answer) = &report.answer {
            let short = if answer.label.is_empty() {
                &answer.description
            } else {
                &answer.label
            };
            fact(
                "answer",
                format!("<a href=\"#answer\">{}</a>", escape(short)),
            );
        }
        self.out.push_str("</dl>\n</header>\n");
    }

    fn task(&mut self, report: &RunReport) {
        let Some(s) = &report.started else { return };
        let _ = writeln!(
            self.out,
            "<section class=\"task\"><h2>Task</h2>\n<div class=\"prose\">{}</div></section>",
            escape(s.task_text.trim_end())
        );
    }

    fn toc(&mut self, report: &RunReport) {
        if report.rounds.is_empty() {
            return;
        }
        self.out.push_str("<nav class=\"toc\">Rounds:");
        for (i, round) in report.rounds.iter().enumerate() {
            let _ = write!(
                self.out,
                " <a href=\"#{}\">{}</a>",
                round_anchor(report, i),
                round.number
            );
        }
        self.out
            .push_str(" · <a href=\"#answer\">answer</a></nav>\n");
    }

    fn round(
        &mut self,
        report: &RunReport,
        index: usize,
        round: &Round,
        again: bool,
        images: &mut ImageInliner,
    ) {
        let offset = report
            .summary
            .first_ms
            .map(|t| format!("+{}", duration(round.started_ms.saturating_sub(t))))
            .unwrap_or_default();
        let again = if again {
            " <span class=\"muted\">(again, after a resume)</span>"
        } else {
            ""
        };
        let _ = writeln!(
            self.out,
            "<section class=\"round\" id=\"{}\">\n<h2>Round {}{again} <span class=\"when\">{offset}</span></h2>",
            round_anchor(report, index),
            round.number
        );
        if !round.partial_reasoning.is_empty() || !round.partial_text.is_empty() {
            self.out.push_str("<div class=\"partial\"><p class=\"muted\">Streamed so far; the reply is not complete:</p>\n");
            if !round.partial_reasoning.is_empty() {
                let _ = writeln!(
                    self.out,
                    "<div class=\"reasoning prose\">{}</div>",
                    escape(&round.partial_reasoning)
                );
            }
            if !round.partial_text.is_empty() {
                let _ = writeln!(
                    self.out,
                    "<div class=\"text prose\">{}</div>",
                    escape(&round.partial_text)
                );
            }
            self.out.push_str("</div>\n");
        }
        for item in &round.items {
            self.item(item, images);
        }
        self.out.push_str("</section>\n");
    }

    fn item(&mut self, item: &Item, images: &mut ImageInliner) {
        match item {
            Item::Message(m) => self.message(m),
            Item::Call(call) => self.call(call, images),
            Item::Note(text) => self.event("note", "Note from the user", text),
            Item::Nudge(text) => self.event("nudge", "maia to the model", text),
            Item::Verification(text) => self.event("nudge", "Answer verified", text),
            Item::Warning(text) => self.event("warning", "Warning", text),
            Item::Retry {
                attempt,
                reason,
                wait_ms,
            } => self.event(
                "retry",
                &format!(
                    "Request failed (attempt {attempt}), retrying in {}",
                    duration(*wait_ms)
                ),
                reason,
            ),
            Item::Paused(true) => self.event("paused", "Paused by the user", ""),
            Item::Paused(false) => self.event("paused", "Running again", ""),
            Item::Resumed(done) => self.event(
                "resumed",
                &format!("Resumed with {done} rounds complete"),
                "",
            ),
            Item::Ended(status, reason) => {
                self.event("ended", &format!("Run ended: {}", status.as_str()), reason)
            }
        }
    }

    fn message(&mut self, m: &Message) {
        self.out.push_str("<div class=\"message\">\n");
        if !m.reasoning.trim().is_empty() {
            let _ = writeln!(
                self.out,
                "<div class=\"reasoning\"><span class=\"tag\">reasoning</span><div class=\"prose\">{}</div></div>",
                escape(m.reasoning.trim_end())
            );
        }
        if !m.text.trim().is_empty() {
            let _ = writeln!(
                self.out,
                "<div class=\"text prose\">{}</div>",
                escape(m.text.trim_end())
            );
        }
        let _ = writeln!(
            self.out,
            "<p class=\"usage\">{} in / {} out tokens · ${:.4}</p>\n</div>",
            m.input_tokens, m.output_tokens, m.cost_usd
        );
    }

    fn call(&mut self, call: &ToolCall, images: &mut ImageInliner) {
        let failed = call.result.as_ref().is_some_and(|r| r.error.is_some());
        let _ = write!(
            self.out,
            "<article class=\"call{}\">\n<header><span class=\"tool\">{}</span> <code class=\"muted\">{}</code>",
            if failed { " failed" } else { "" },
            escape(&call.name),
            escape(&call.call_id)
        );
        match &call.result {
            Some(r) => {
                let _ = write!(
                    self.out,
                    " <span class=\"when\">{}</span>",
                    duration(r.elapsed_ms)
                );
                if let Some(kind) = &r.error {
                    let _ = write!(
                        self.out,
                        " <span class=\"err-kind\">error: {}</span>",
                        escape(kind)
                    );
                }
            }
            None => self.out.push_str(" <span class=\"when\">no result</span>"),
        }
        self.out.push_str("</header>\n");
        let code = (call.name == maia_core::program::RUN_PROGRAM)
            .then(|| call.args.get("code").and_then(Value::as_str))
            .flatten();
        let args = match &call.args {
            _ if code.is_some() => format!(
                "<pre class=\"args program\">{}</pre>",
                escape(code.unwrap_or_default())
            ),
            Value::Null => "<pre class=\"args muted\">(arguments not recorded)</pre>".to_owned(),
            Value::String(raw) => format!(
                "<pre class=\"args\">{}</pre><p class=\"muted\">(arguments were not JSON)</p>",
                escape(raw)
            ),
            v => format!("<pre class=\"args\">{}</pre>", escape(&pretty(v))),
        };
        self.out.push_str(&args);
        self.out.push('\n');
        if !call.inner.is_empty() {
            let _ = writeln!(
                self.out,
                "<details class=\"inner\" open><summary>{} tool call{} made by the program</summary>",
                call.inner.len(),
                if call.inner.len() == 1 { "" } else { "s" }
            );
            for inner in &call.inner {
                self.call(inner, images);
            }
            self.out.push_str("</details>\n");
        }
        let Some(r) = &call.result else {
            self.out.push_str("<p class=\"muted\">The call has no result in the journal (still running, or the run stopped during it).</p>\n</article>\n");
            return;
        };
        if !r.text.is_empty() {
            let _ = writeln!(
                self.out,
                "<pre class=\"result{}\">{}</pre>",
                if r.error.is_some() { " error" } else { "" },
                escape(r.text.trim_end())
            );
        }
        if !r.images.is_empty() {
            self.out.push_str("<div class=\"gallery\">\n");
            for image in &r.images {
                self.figure(image, images);
            }
            self.out.push_str("</div>\n");
        }
        if !r.data.is_null() {
            let mut data = pretty(&r.data);
            if data.len() > MAX_DATA_BYTES {
                let cut = (0..=MAX_DATA_BYTES)
                    .rev()
                    .find(|&i| data.is_char_boundary(i))
                    .unwrap_or(0);
                let more = data.len() - cut;
                data.truncate(cut);
                data.push_str(&format!("\n… ({more} bytes more)"));
            }
            let _ = writeln!(
                self.out,
                "<details class=\"data\"><summary>data</summary><pre>{}</pre></details>",
                escape(&data)
            );
        }
        self.out.push_str("</article>\n");
    }

    fn figure(&mut self, image: &ImageRecord, images: &mut ImageInliner) {
        let activation = image.activation.map(|a| {
            let share = if self.max_activation > 0.0 { (a.abs() / self.max_activation * 100.0).clamp(0.0, 100.0) } else { 0.0 };
            format!(
                "<span class=\"act\">activation <b>{}</b></span><span class=\"bar{}\"><span style=\"width:{share:.0}%\"></span></span>",
                number(a),
                if a < 0.0 { " neg" } else { "" }
            )
        });
        let alt = format!("{} — {}", image.id, image.caption);
        match images.get(&image.hash) {
            Inlined::Data { uri, width, height } => {
                let _ = write!(
                    self.out,
                    "<figure data-hash=\"{}\"><img src=\"{uri}\" width=\"{width}\" height=\"{height}\" alt=\"{}\">",
                    escape(&image.hash),
                    escape(&alt)
                );
            }
            Inlined::Missing { reason } => {
                let _ = write!(
                    self.out,
                    "<figure class=\"missing\" data-hash=\"{}\"><div class=\"placeholder\" role=\"img\" aria-label=\"{}\">image missing<br><small>{}</small></div>",
                    escape(&image.hash),
                    escape(&alt),
                    escape(reason)
                );
            }
        }
        let _ = writeln!(
            self.out,
            "<figcaption><code>{}</code>{}<span class=\"caption\">{}</span></figcaption></figure>",
            escape(&image.id),
            activation.unwrap_or_default(),
            escape(&image.caption)
        );
    }

    fn event(&mut self, class: &str, title: &str, text: &str) {
        let _ = write!(
            self.out,
            "<div class=\"event {class}\"><span class=\"tag\">{}</span>",
            escape(title)
        );
        if !text.is_empty() {
            let _ = write!(
                self.out,
                "<div class=\"prose\">{}</div>",
                escape(text.trim_end())
            );
        }
        self.out.push_str("</div>\n");
    }

    fn answer(&mut self, report: &RunReport, score: &ScoreSection) {
        self.out
            .push_str("<section class=\"answer\" id=\"answer\">\n<h2>Final answer</h2>\n");
        match &report.answer {
            Some(a) => {
                if !a.label.is_empty() {
                    let _ = writeln!(self.out, "<p class=\"label\">{}</p>", escape(&a.label));
                }
                let _ = writeln!(
                    self.out,
                    "<div class=\"description prose\">{}</div>\n<p class=\"muted\">given in round {}</p>",
                    escape(a.description.trim_end()),
                    a.round
                );
            }
            None => {
                let why = match &report.state() {
                    RunState::InProgress => "none yet: the run is in progress".to_owned(),
                    RunState::Ended(status, reason) => {
                        format!("none: the run ended ({}) — {}", status.as_str(), reason)
                    }
                };
                let _ = writeln!(self.out, "<p class=\"no-answer\">{}</p>", escape(&why));
            }
        }
        self.score(score);
        self.out.push_str("</section>\n");
    }

    fn score(&mut self, score: &ScoreSection) {
        self.out.push_str("<div class=\"score\">\n<h3>Score</h3>\n");
        match score {
            ScoreSection::Scored(s) => self.scored(s),
            ScoreSection::NotComputed { hint } => {
                let _ = writeln!(
                    self.out,
                    "<p class=\"not-scored\"><b>score: not computed</b> ({})</p>",
                    code_spans(hint)
                );
            }
            ScoreSection::Unscorable { why } => {
                let _ = writeln!(
                    self.out,
                    "<p class=\"not-scored\"><b>score: not computed</b> — {}</p>",
                    code_spans(why)
                );
            }
            ScoreSection::Unreadable { reason } => {
                let _ = writeln!(
                    self.out,
                    "<p class=\"not-scored error\"><b>score: not shown</b> — {}</p>",
                    code_spans(reason)
                );
            }
        }
        self.out.push_str("</div>\n");
    }

    fn scored(&mut self, s: &RunScore) {
        let sc = &s.score;
        let understood = sc
            .understood
            .as_deref()
            .map(|u| format!(", read as <code>{}</code>", escape(u)))
            .unwrap_or_default();
        let _ = writeln!(
            self.out,
            "<p>Predictive evaluation by the {} evaluator{understood}: {} positive and {} neutral images drawn on held-out seeds (seed {}), run through the unit.</p>",
            escape(&sc.evaluator),
            sc.n_positive,
            sc.n_neutral,
            sc.seed
        );
        if let Some(f) = &sc.failure {
            let _ = writeln!(
                self.out,
                "<p class=\"not-scored error\"><b>could not score</b> [{}]: {}</p>",
                escape(f.kind.name()),
                escape(&f.reason)
            );
        } else if sc.dead {
            self.out.push_str("<p class=\"not-scored\">The unit never fired on the evaluation images: dead, no metrics.</p>\n");
        } else {
            let _ = writeln!(
                self.out,
                "<table class=\"metrics\"><tr><th>Pearson</th><th>AUPRC</th><th>F1</th><th>mean act. positive</th><th>mean act. neutral</th></tr>\n\
                 <tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr></table>",
                opt(sc.pearson),
                opt(sc.auprc),
                opt(sc.f1),
                opt(sc.mean_pos),
                opt(sc.mean_neutral)
            );
        }
        if let (Some(auc), Some(mad)) = (sc.cosy_auc, sc.cosy_mad) {
            let _ = writeln!(
                self.out,
                "<p>CoSy: AUC {auc:.3}, MAD {mad:.3} (positive images against {}).</p>",
                escape(sc.cosy_control.as_deref().unwrap_or("the control sample"))
            );
        }
        if !sc.evaluator_usage.is_zero() {
            let _ = writeln!(
                self.out,
                "<p class=\"muted\">The evaluator used {} input and {} output tokens (${:.4}).</p>",
                sc.evaluator_usage.input_tokens,
                sc.evaluator_usage.output_tokens,
                sc.evaluator_cost_usd
            );
        }
        if let Some(sim) = &s.simulation {
            self.simulation(sim);
        }
        if let Some(said) = &s.truth_said {
            let _ = writeln!(self.out, "<p>Ground truth: <b>{}</b></p>", escape(said));
        }
        if let Some(t) = &s.truth {
            let _ = writeln!(
                self.out,
                "<table class=\"metrics\"><tr><th>against truth</th><th>IoU</th><th>F1</th><th>phi</th><th>precision</th><th>recall</th></tr>\n\
                 <tr><td><code>{}</code> vs <code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr></table>",
                escape(&t.understood),
                escape(&t.truth),
                opt(t.iou),
                opt(t.f1),
                opt(t.pearson),
                opt(t.precision),
                opt(t.recall)
            );
        }
        if let Some(f) = &s.truth_failure {
            let _ = writeln!(
                self.out,
                "<p class=\"muted\">Against the ground truth: not scored — {}</p>",
                escape(&f.reason)
            );
        }
        if !sc.notes.is_empty() {
            self.out.push_str("<ul class=\"notes\">");
            for note in &sc.notes {
                let _ = write!(self.out, "<li>{}</li>", escape(note));
            }
            self.out.push_str("</ul>\n");
        }
    }

    fn simulation(&mut self, sim: &maia_core::eval::simulation::Simulation) {
        if let Some(f) = &sim.failure {
            let _ = writeln!(
                self.out,
                "<p class=\"not-scored error\"><b>dataset simulation failed</b> [{}]: {}</p>",
                escape(f.kind.name()),
                escape(&f.reason)
            );
            return;
        }
        let _ = writeln!(
            self.out,
            "<p>Dataset simulation by the {} simulator: its ratings of held-out dataset images against the unit's activations (Pearson r).</p>\n\
             <table class=\"metrics\"><tr><th>top-activating</th><th>random</th><th>all</th></tr>\n\
             <tr><td>{}</td><td>{}</td><td>{}</td></tr></table>",
            escape(&sim.simulator),
            opt(sim.top),
            opt(sim.random),
            opt(sim.all)
        );
    }

    fn footer(&mut self, input: &PageInput<'_>) {
        self.out.push_str("<footer>\n");
        match &input.result {
            Some(Ok(Value::Object(fields))) => {
                self.out
                    .push_str("<details open><summary>result.json</summary><dl class=\"facts\">\n");
                for (key, value) in fields {
                    let shown = match value {
                        Value::String(s) => s.clone(),
                        Value::Null => "—".into(),
                        v => v.to_string(),
                    };
                    let _ = writeln!(
                        self.out,
                        "<dt>{}</dt><dd>{}</dd>",
                        escape(key),
                        escape(&shown)
                    );
                }
                self.out.push_str("</dl></details>\n");
            }
            Some(Ok(other)) => {
                let _ = writeln!(
                    self.out,
                    "<details><summary>result.json</summary><pre>{}</pre></details>",
                    escape(&pretty(other))
                );
            }
            Some(Err(why)) => {
                let _ = writeln!(
                    self.out,
                    "<p class=\"muted\">result.json: {}</p>",
                    escape(why)
                );
            }
            None => self
                .out
                .push_str("<p class=\"muted\">No result.json yet (the run has not ended).</p>\n"),
        }
        let _ = writeln!(
            self.out,
            "<p class=\"muted\">Made by <code>maia report</code> at {}.</p>",
            utc(input.generated_ms)
        );
        self.out.push_str("</footer>\n</main>\n</body>\n</html>\n");
    }
}

/// The id of a round's section: `round-N`, or `round-N-K` for the K-th repeat of N.
fn round_anchor(report: &RunReport, index: usize) -> String {
    let number = report.rounds.get(index).map(|r| r.number).unwrap_or(0);
    let repeat = report.rounds[..index.min(report.rounds.len())]
        .iter()
        .filter(|r| r.number == number)
        .count();
    if repeat == 0 {
        format!("round-{number}")
    } else {
        format!("round-{number}-{}", repeat + 1)
    }
}

/// Escapes `s` and shows its `backquoted` spans as code.
fn code_spans(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in s.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{}</code>", escape(part));
        } else {
            out.push_str(&escape(part));
        }
    }
    out
}

/// JSON indented two spaces a level, except that an array or object of scalars that fits
/// on a line stays on one (a list of prompts or image ids reads as a list, not a column).
fn pretty(v: &Value) -> String {
    let mut out = String::new();
    pretty_into(v, 0, &mut out);
    out
}

fn pretty_into(v: &Value, depth: usize, out: &mut String) {
    const LINE: usize = 88;
    let scalar = |v: &Value| !matches!(v, Value::Array(_) | Value::Object(_));
    let inline = v.to_string();
    let flat = match v {
        Value::Array(items) => items.iter().all(scalar),
        Value::Object(fields) => fields.values().all(scalar),
        _ => true,
    };
    if flat && depth * 2 + inline.len() <= LINE {
        // serde_json's compact form, with a space after each `,` and `:` outside strings.
        out.push_str(&spaced(&inline));
        return;
    }
    let pad = "  ".repeat(depth + 1);
    match v {
        Value::Array(items) => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                out.push_str(&pad);
                pretty_into(item, depth + 1, out);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            out.push_str(&"  ".repeat(depth));
            out.push(']');
        }
        Value::Object(fields) => {
            out.push_str("{\n");
            for (i, (key, item)) in fields.iter().enumerate() {
                out.push_str(&pad);
                out.push_str(&Value::String(key.clone()).to_string());
                out.push_str(": ");
                pretty_into(item, depth + 1, out);
                out.push_str(if i + 1 < fields.len() { ",\n" } else { "\n" });
            }
            out.push_str(&"  ".repeat(depth));
            out.push('}');
        }
        _ => out.push_str(&inline),
    }
}

/// Compact JSON with a space after each separator that is not inside a string.
fn spaced(compact: &str) -> String {
    let mut out = String::with_capacity(compact.len() + compact.len() / 8);
    let (mut in_string, mut escaped) = (false, false);
    for c in compact.chars() {
        out.push(c);
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if c == ',' || c == ':' {
            out.push(' ');
        }
    }
    out
}

fn number(v: f64) -> String {
    if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v:.3}"))
}

/// `850 ms`, `12.3 s`, `4 min 05 s`, `2 h 03 min`.
fn duration(ms: u64) -> String {
    match ms {
        0..1000 => format!("{ms} ms"),
        1000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{} min {:02} s", ms / 60_000, ms / 1000 % 60),
        _ => format!("{} h {:02} min", ms / 3_600_000, ms / 60_000 % 60),
    }
}

/// UNIX milliseconds as `2026-11-25 05:03:12 UTC`.
fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let (y, m, d) = crate::calendar::civil_from_days(days);
    let s = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

const CSS: &str = r#":root {
  --fg: #1d2430; --muted: #5d6675; --line: #d8dde5; --bg: #f5f6f8; --card: #ffffff;
  --accent: #2457c5; --accent-bg: #eef3ff; --code-bg: #f0f2f5;
  --err: #8b1a1a; --err-bg: #fbefef; --warn-bg: #fff5dc; --note-bg: #e8f5ec; --nudge-bg: #eef1fa;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 20px 64px; }
h1 { font-size: 22px; margin: 0 0 10px; }
h2 { font-size: 18px; margin: 0 0 10px; }
h3 { font-size: 15px; margin: 14px 0 6px; }
code, pre { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 13px; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: var(--code-bg); padding: 8px 10px;
  border-radius: 6px; margin: 6px 0; line-height: 1.45; }
a { color: var(--accent); }
.prose { white-space: pre-wrap; overflow-wrap: anywhere; }
.muted { color: var(--muted); }
.when { color: var(--muted); font-size: 13px; font-weight: normal; }
header.run, section.task, section.round, section.answer { background: var(--card); border: 1px solid var(--line);
  border-radius: 10px; padding: 16px 20px; margin: 16px 0; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 18px; margin: 0; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; overflow-wrap: anywhere; }
.status { font-size: 13px; vertical-align: middle; padding: 2px 10px; border-radius: 999px; background: #e4e8ee; }
.status-completed { background: #dcefe2; color: #185c32; }
.status-in-progress { background: var(--warn-bg); color: #6b4b00; }
.status-failed, .status-limit, .status-stopped { background: var(--err-bg); color: var(--err); }
.banner { padding: 8px 12px; border-radius: 6px; margin: 8px 0 12px; }
.banner.progress, .banner.torn { background: var(--warn-bg); border: 1px solid #ecd48f; }
nav.toc { font-size: 14px; color: var(--muted); margin: 8px 4px; }
nav.toc a { margin: 0 2px; }
.message { margin: 4px 0 10px; }
.reasoning { border-left: 3px solid #b8c2d2; padding: 2px 0 2px 12px; margin: 6px 0; color: #3f4856; font-style: italic; }
.text { margin: 6px 0; }
.usage { color: var(--muted); font-size: 12px; margin: 4px 0; }
.tag { display: block; font-size: 12px; font-style: normal; font-weight: 600; color: var(--muted);
  text-transform: uppercase; letter-spacing: 0.04em; }
article.call { border: 1px solid var(--line); border-radius: 8px; margin: 12px 0; padding: 10px 12px; background: #fcfcfd; }
article.call > header { margin-bottom: 4px; }
article.call.failed { border-color: #e0b4b4; background: var(--err-bg); }
.tool { font-weight: 700; font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
.err-kind { color: var(--err); font-weight: 600; font-size: 13px; }
pre.result { background: #f4f6f9; border-left: 3px solid #9fb0c8; max-height: 16em; overflow: auto; }
pre.result.error { background: #f9e3e3; border-left-color: var(--err); color: var(--err); }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; margin: 10px 0 4px; }
figure { margin: 0; padding: 6px; background: var(--card); border: 1px solid var(--line); border-radius: 6px; }
figure img { display: block; width: 100%; height: auto; border-radius: 3px; }
figure .placeholder { aspect-ratio: 1 / 1; display: flex; flex-direction: column; align-items: center; justify-content: center;
  text-align: center; padding: 8px; border-radius: 3px; color: var(--muted); font-size: 13px;
  background: repeating-linear-gradient(45deg, #eceff3, #eceff3 8px, #f7f8fa 8px, #f7f8fa 16px); }
figcaption { font-size: 12px; margin-top: 4px; line-height: 1.35; }
figcaption code { font-size: 11px; color: var(--muted); margin-right: 6px; }
figcaption .caption { display: block; overflow-wrap: anywhere; }
.act { font-size: 12px; white-space: nowrap; }
.bar { display: block; height: 4px; background: #e3e7ed; border-radius: 2px; margin: 2px 0 3px; }
.bar > span { display: block; height: 100%; background: var(--accent); border-radius: 2px; }
.bar.neg > span { background: #8c96a5; }
details.data summary, footer summary { cursor: pointer; color: var(--muted); font-size: 13px; }
.event { margin: 8px 0; padding: 6px 12px; border-radius: 6px; font-size: 14px; }
.event.note { background: var(--note-bg); }
.event.nudge { background: var(--nudge-bg); }
.event.warning, .event.retry { background: var(--warn-bg); }
.event.paused, .event.resumed, .event.ended { background: #eceff3; }
section.answer { border: 2px solid var(--accent); background: var(--accent-bg); }
section.answer .label { font-size: 24px; font-weight: 700; margin: 0 0 6px; }
section.answer .description { font-size: 16px; }
.no-answer { font-size: 16px; color: var(--muted); }
.score { border-top: 1px solid #c9d5ee; margin-top: 12px; }
.not-scored { background: var(--card); border: 1px dashed #9aa7bd; padding: 6px 10px; border-radius: 6px; }
.not-scored.error { border-color: var(--err); color: var(--err); }
table.metrics { border-collapse: collapse; margin: 6px 0; background: var(--card); }
table.metrics th, table.metrics td { border: 1px solid var(--line); padding: 4px 10px; text-align: left; font-size: 14px; }
table.metrics th { background: #f0f3f8; font-weight: 600; }
footer { margin-top: 20px; font-size: 13px; }
@media print { body { background: #fff; } pre.result { max-height: none; } figure { break-inside: avoid; } }
"#;

/// Rounds used against the limit: "6 of 25", or past it (the agent may take a few more
/// rounds to give its forced answer) "6 (limit 5; 1 more to answer)".
fn rounds_of(used: u32, limit: Option<u32>) -> String {
    match limit {
        Some(limit) if used > limit => {
            format!("{used} (limit {limit}; {} more to answer)", used - limit)
        }
        Some(limit) => format!("{used} of {limit}"),
        None => used.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_past_the_limit_read_as_such() {
        assert_eq!(rounds_of(6, Some(25)), "6 of 25");
        assert_eq!(rounds_of(6, Some(5)), "6 (limit 5; 1 more to answer)");
        assert_eq!(rounds_of(3, None), "3");
    }

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape(r#"<img src="x" onerror='y'> & co"#),
            "&lt;img src=&quot;x&quot; onerror=&#39;y&#39;&gt; &amp; co"
        );
    }

    #[test]
    fn durations_and_dates_read_naturally() {
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(12_345), "12.3 s");
        assert_eq!(duration(245_000), "4 min 05 s");
        assert_eq!(duration(7_380_000), "2 h 03 min");
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_764_047_000_000), "2025-11-25 05:03:20 UTC");
    }

    #[test]
    fn json_lists_of_scalars_stay_on_one_line() {
        let v = serde_json::json!({"prompts": ["a red circle", "a, b: c \\\" d"]});
        assert_eq!(
            pretty(&v),
            "{\n  \"prompts\": [\"a red circle\", \"a, b: c \\\\\\\" d\"]\n}"
        );
        let v = serde_json::json!({"k": [1, {"x": 1}]});
        assert_eq!(pretty(&v), "{\n  \"k\": [\n    1,\n    {\"x\": 1}\n  ]\n}");
        let long: Vec<String> = (0..40).map(|i| format!("img_{i}")).collect();
        assert_eq!(pretty(&serde_json::json!(long)).lines().count(), 42);
    }

    #[test]
    fn backquoted_spans_become_code_and_the_rest_is_escaped() {
        assert_eq!(
            code_spans("run `maia <x>` now & then"),
            "run <code>maia &lt;x&gt;</code> now &amp; then"
        );
    }
}
