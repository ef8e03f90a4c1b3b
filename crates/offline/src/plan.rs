//! Deciding the next step from the evidence, and writing it up.
//!
//! The order is a careful person's: exemplars first; measure whatever was made; if the
//! unit never fires, survey broadly before calling it dead; sweep one factor at a time
//! around a prototype taken from the top image and edit that image; separate the
//! leading hypothesis from rivals that still fit; test the leader against fresh positives
//! and controls; answer. Each step is skipped when its tool is missing, and a step that
//! failed is not retried endlessly: every stage has a budget and the whole run a round
//! cap, so the experimenter always ends with an answer.

use super::evidence::{Evidence, Factor, Observation, Stage};
use super::hypotheses::{Hyp, Judged, MARGIN, catalogue, judge};
use super::narrate::{
    act, batch_report, capitalize, exemplar_profile, hypothesis_list, quote, reasons,
};
use super::probes::{Probe, checks, edits, from_note, prototype, separate, survey, sweep};
use super::world::{self, Features};
use maia_core::llm::LlmRequest;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// From this round on the experimenter answers with what it has.
pub(crate) const ROUND_CAP: usize = 20;
/// Rounds of images made to separate rivals.
const MAX_PROBE_ROUNDS: usize = 3;
/// Rounds of positives and controls.
const MAX_VERIFY_ROUNDS: usize = 3;
/// Surveys before a silent unit is declared dead.
const MAX_SURVEYS: usize = 2;
/// Scenes per survey.
const SURVEY_SIZE: usize = 36;
/// Most images per `call_unit` call (the tool's limit).
const PER_CALL: usize = 64;
/// Most images per separating round.
const MAX_PROBES: usize = 10;
/// Most images per verification round.
const MAX_CHECKS: usize = 13;

/// One tool call to make.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Call {
    /// Why (encoded in the call id).
    pub(crate) stage: Stage,
    /// Tool name.
    pub(crate) tool: String,
    /// Arguments.
    pub(crate) args: Value,
}

/// The whole reply, before it is streamed.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Reply {
    /// A short line of reasoning (streamed as reasoning).
    pub(crate) thinking: String,
    /// The write-up (streamed as text).
    pub(crate) text: String,
    /// Tool calls, in order.
    pub(crate) calls: Vec<Call>,
}

/// Which tools the request offers.
#[derive(Clone, Copy, Debug, Default)]
struct Tools {
    exemplars: bool,
    text2image: bool,
    edit: bool,
    call_unit: bool,
    final_answer: bool,
    /// The run verifies answers (`--verify`): list alternatives with the answer.
    verify: bool,
}

impl Tools {
    fn of(request: &LlmRequest) -> Tools {
        let has = |name: &str| request.tools.iter().any(|t| t.name == name);
        Tools {
            exemplars: has("dataset_exemplars"),
            text2image: has("text2image"),
            edit: has("edit_images"),
            call_unit: has("call_unit"),
            final_answer: has("final_answer"),
            verify: request
                .system
                .contains(maia_core::agent::verify::VERIFY_MARKER),
        }
    }

    fn experiments(&self) -> bool {
        self.exemplars || self.text2image || self.edit || self.call_unit
    }
}

/// Why the experimenter answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Why {
    Done,
    Asked,
    ExemplarsOnly,
    Budget,
    Retry,
    NoUnit,
    UnitFails,
    NoImages,
    Dead,
}

/// Plans the reply to a request.
pub(crate) fn plan(request: &LlmRequest) -> Reply {
    let ev = Evidence::gather(&request.messages);
    Planner::new(&ev, Tools::of(request)).run()
}

struct Planner<'a> {
    ev: &'a Evidence,
    tools: Tools,
    round: usize,
    ranked: Vec<Judged>,
    from: Vec<usize>,
    observed: Vec<&'a Features>,
    reply: Reply,
}

impl<'a> Planner<'a> {
    fn new(ev: &'a Evidence, tools: Tools) -> Planner<'a> {
        let (samples, from) = ev.samples();
        let ranked = if samples.is_empty() {
            Vec::new()
        } else {
            judge(&samples)
        };
        let observed = ev
            .observations
            .iter()
            .filter_map(|o| o.features.as_ref())
            .collect();
        Planner {
            ev,
            tools,
            round: ev.rounds + 1,
            ranked,
            from,
            observed,
            reply: Reply::default(),
        }
    }

    fn say(&mut self, text: impl AsRef<str>) {
        let text = text.as_ref().trim_end();
        if text.is_empty() {
            return;
        }
        if !self.reply.text.is_empty() {
            self.reply.text.push_str("\n\n");
        }
        self.reply.text.push_str(text);
    }

    fn call(&mut self, stage: Stage, tool: &str, args: Value) {
        self.reply.calls.push(Call {
            stage,
            tool: tool.into(),
            args,
        });
    }

    fn best(&self) -> Option<&Judged> {
        self.ranked.first()
    }

    fn run(mut self) -> Reply {
        self.think();
        self.acknowledge_notes();
        self.report_last_round();
        self.decide();
        self.reply
    }

    fn think(&mut self) {
        let ev = self.ev;
        let mut line = format!("Round {}.", self.round);
        let measured = ev.measured();
        if measured > 0 {
            line.push_str(&format!(
                " {measured} images measured so far ({} exemplars), peak activation {}.",
                ev.exemplars().len(),
                act(ev.peak().unwrap_or(0.0))
            ));
        } else {
            line.push_str(" Nothing measured yet.");
        }
        if ev.notes.iter().any(|n| n.after_round == ev.rounds) {
            line.push_str(" A note from the user arrived; I take it into account.");
        }
        if let Some(best) = self.best()
            && !ev.silent()
        {
            line.push_str(&format!(
                " Leading hypothesis: {} (log-score {:.1}).",
                best.hyp.expr(),
                best.score
            ));
        }
        self.reply.thinking = line;
    }

    fn acknowledge_notes(&mut self) {
        let fresh: Vec<String> = self
            .ev
            .notes
            .iter()
            .filter(|n| n.after_round == self.ev.rounds)
            .map(|n| n.text.clone())
            .collect();
        for note in fresh {
            let follow = if from_note(&note, None).is_some() {
                "I will include an image with the attributes it names in my next batch of images."
            } else {
                "I will keep it in mind."
            };
            self.say(format!("Noted: {} — {follow}", quote(&note)));
        }
    }

    fn report_last_round(&mut self) {
        let ev = self.ev;
        let last = ev.last_round();
        let mut lines = Vec::new();
        for batch in &last {
            if let Some(error) = &batch.error {
                let first = error.lines().next().unwrap_or_default();
                let adapt = match batch.tool.as_str() {
                    "dataset_exemplars" => "I will work without exemplars.",
                    "call_unit" => "Those images stay unmeasured.",
                    "final_answer" => "I will state the answer again.",
                    _ => "I will continue without those images.",
                };
                lines.push(format!("`{}` failed: {first} {adapt}", batch.tool));
            }
        }
        self.say(lines.join("\n"));
        if last
            .iter()
            .any(|b| b.stage == Stage::Exemplars && b.error.is_none())
        {
            let profile = exemplar_profile(ev);
            self.say(profile);
        }
        // Results of the images measured in the last round, by the call that made them.
        let measured: BTreeSet<usize> = last
            .iter()
            .filter(|b| b.tool == "call_unit" && b.error.is_none())
            .flat_map(|b| b.observations.iter().copied())
            .collect();
        if measured.is_empty() {
            return;
        }
        let best = self.best().filter(|_| !ev.silent()).map(|j| j.hyp);
        let reports: Vec<String> = ev
            .batches
            .iter()
            .filter(|b| {
                matches!(b.tool.as_str(), "text2image" | "edit_images")
                    && b.observations.iter().any(|i| measured.contains(i))
            })
            .map(|b| batch_report(ev, b, best.as_ref()))
            .collect();
        if !reports.is_empty() {
            self.say(format!("Results:\n{}", reports.join("\n")));
        }
    }

    fn decide(&mut self) {
        let ev = self.ev;
        let tools = self.tools;
        if ev.answer_now {
            return self.answer(Why::Asked);
        }
        if !tools.experiments() {
            return self.answer(Why::ExemplarsOnly);
        }
        if self.round >= ROUND_CAP {
            return self.answer(Why::Budget);
        }
        if !ev.final_answer_errors.is_empty() {
            return self.answer(Why::Retry);
        }
        if tools.exemplars && !ev.exemplars_requested {
            return self.exemplars();
        }
        if !tools.call_unit {
            return self.answer(Why::NoUnit);
        }
        let pending = ev.pending();
        if !pending.is_empty() {
            return self.measure();
        }
        if ev.measures_failed >= 2 && ev.measures_ok == 0 {
            return self.answer(Why::UnitFails);
        }
        if !tools.text2image && !tools.edit {
            return self.answer(Why::NoImages);
        }
        // Without an image that fired and whose content is known there is nothing to
        // build on: survey (the unit may be dead, or the exemplars unreadable).
        let readable = ev
            .observations
            .iter()
            .any(|o| o.scene.is_some() && ev.fired(o) == Some(true));
        if ev.silent() || !readable {
            let surveys = ev.batches_of(|s| *s == Stage::Survey).count();
            if tools.text2image && surveys < MAX_SURVEYS {
                return self.survey(surveys);
            }
            return self.answer(if ev.silent() { Why::Dead } else { Why::Done });
        }
        let swept = ev
            .batches_of(|s| matches!(s, Stage::Sweep(..) | Stage::Edit))
            .count();
        if swept == 0 && self.sweeps() {
            return;
        }
        if !tools.text2image {
            return self.answer(Why::NoImages);
        }
        let probes = ev.batches_of(|s| *s == Stage::Probe).count();
        if probes < MAX_PROBE_ROUNDS && self.separate() {
            return;
        }
        let verifies = ev.batches_of(|s| matches!(s, Stage::Verify(_))).count();
        if !self.verified() && verifies < MAX_VERIFY_ROUNDS && self.verify() {
            return;
        }
        self.answer(Why::Done)
    }

    fn exemplars(&mut self) {
        self.say(
            "I start the way MAIA does: before guessing anything, I look at the dataset images that drive the unit hardest, and read what they have in common.",
        );
        self.call(Stage::Exemplars, "dataset_exemplars", json!({}));
    }

    fn measure(&mut self) {
        let ev = self.ev;
        let pending = ev.pending();
        let total: usize = pending.iter().map(|(_, o)| o.len()).sum();
        let warnings: Vec<String> = pending
            .iter()
            .flat_map(|(b, _)| b.warnings.iter().cloned())
            .take(4)
            .collect();
        let mut text = format!(
            "{total} new image{} ready. ",
            if total == 1 { " is" } else { "s are" }
        );
        if warnings.is_empty() {
            text.push_str("The generator drew every prompt as asked.");
        } else {
            text.push_str(&format!(
                "The generator reported: {}; I will judge those images by what was actually drawn.",
                warnings.join("; ")
            ));
        }
        text.push_str(" Now I run the unit on them, one call per batch so each experiment's result stays separate.");
        self.say(text);
        let groups: Vec<Vec<String>> = pending
            .iter()
            .flat_map(|(_, obs)| {
                obs.chunks(PER_CALL)
                    .map(|c| c.iter().map(|o| o.id.clone()).collect::<Vec<_>>())
                    .collect::<Vec<_>>()
            })
            .collect();
        for ids in groups {
            self.call(Stage::Measure, "call_unit", json!({ "image_ids": ids }));
        }
    }

    fn survey(&mut self, index: usize) {
        let why = if self.ev.silent() && self.ev.measured() > 0 {
            "the unit stayed near zero on everything so far"
        } else if self.ev.exemplars().is_empty() {
            "I have no dataset exemplars to look at"
        } else {
            "I cannot read what the exemplars show"
        };
        let probes = survey(index, SURVEY_SIZE);
        self.say(format!(
            "{}, so before concluding anything I survey broadly: {} varied scenes that cover every shape, color, texture, size, count and background.",
            capitalize(why),
            probes.len()
        ));
        self.images(Stage::Survey, &probes);
        self.note_images(None);
    }

    fn images(&mut self, stage: Stage, probes: &[Probe]) {
        if probes.is_empty() {
            return;
        }
        let prompts: Vec<String> = probes.iter().map(Probe::prompt).collect();
        self.call(
            stage,
            "text2image",
            json!({ "prompts": prompts, "seed": self.round }),
        );
    }

    /// Images for notes not yet acted on, added to a round that makes images.
    fn note_images(&mut self, proto: Option<&maia_shapes_world::Scene>) {
        if !self.tools.text2image {
            return;
        }
        let ev = self.ev;
        let probes: Vec<Probe> = ev
            .notes
            .iter()
            .filter(|n| {
                !ev.batches
                    .iter()
                    .any(|b| b.stage == Stage::Note && b.round > n.after_round)
            })
            .filter_map(|n| from_note(&n.text, proto))
            .collect();
        if !probes.is_empty() {
            let whys: Vec<String> = probes.iter().map(|p| p.why.clone()).collect();
            self.say(format!("Following the note: {}.", reasons(&whys)));
            self.images(Stage::Note, &probes);
        }
    }

    /// The image to build the prototype from: the exemplar showing the leading
    /// hypothesis most plainly (the most objects that carry it alone, then the fewest
    /// objects, then the best rank), else the strongest measured image showing it, else
    /// the strongest.
    fn top_image(&self, h: &Hyp) -> Option<&'a Observation> {
        let ev = self.ev;
        let fired = |o: &&Observation| ev.fired(o) == Some(true) && o.scene.is_some();
        let shows = |o: &&Observation| o.features.as_ref().is_some_and(|f| h.holds(f));
        let plain = |o: &Observation| {
            let Some(scene) = &o.scene else {
                return (0, usize::MAX);
            };
            let carriers = (0..scene.objects.len())
                .filter(|&i| {
                    let mut without = scene.clone();
                    without.objects.remove(i);
                    !h.holds(&Features::of(&without))
                })
                .count();
            (carriers, scene.objects.len())
        };
        let mut shown: Vec<(usize, &Observation)> = ev
            .exemplars()
            .into_iter()
            .filter(fired)
            .filter(shows)
            .enumerate()
            .collect();
        shown.sort_by_key(|(rank, o)| {
            let (carriers, objects) = plain(o);
            (std::cmp::Reverse(carriers), objects, *rank)
        });
        if let Some((_, o)) = shown.first() {
            return Some(o);
        }
        let mut measured: Vec<&Observation> = ev.observations.iter().filter(fired).collect();
        measured.sort_by(|a, b| {
            b.activation
                .unwrap_or(0.0)
                .total_cmp(&a.activation.unwrap_or(0.0))
        });
        measured
            .iter()
            .copied()
            .find(|o| shows(o))
            .or_else(|| measured.first().copied())
    }

    fn shown<'s>(&'s self, rivals: &[&'s Judged]) -> Vec<&'s Judged> {
        let Some(best) = self.best() else {
            return Vec::new();
        };
        let mut shown: Vec<&Judged> = vec![best];
        for r in rivals.iter().take(3) {
            shown.push(r);
        }
        for alt in best.hyp.alternatives() {
            if shown.len() >= 6 {
                break;
            }
            if let Some(j) = self.ranked.iter().find(|j| j.hyp == alt)
                && !shown.iter().any(|s| s.index == j.index)
            {
                shown.push(j);
            }
        }
        shown
    }

    fn sweeps(&mut self) -> bool {
        let Some(best) = self.best().cloned() else {
            return false;
        };
        let Some(top) = self.top_image(&best.hyp) else {
            return false;
        };
        let Some(scene) = top.scene.clone() else {
            return false;
        };
        let rivals: Vec<&Judged> = self.ranked.iter().skip(1).take(3).collect();
        let list = hypothesis_list(self.ev, &self.shown(&rivals), &self.from);
        self.say(list);
        let proto = prototype(&best.hyp, &scene);
        let keys: Vec<String> = proto.objects.iter().map(world::label).collect();
        let source = if top.id.is_empty() {
            top.what()
        } else {
            format!("{} ({})", top.id, top.what())
        };
        let mut plan = format!(
            "Statistics of a few images cannot separate these, so I test one factor at a time. Prototype: the {} on a {} {} background, taken from {source}, activation {}.",
            keys.join(" and the "),
            proto.background.texture.adjective(),
            proto.background.color.name(),
            top.activation.map(act).unwrap_or_default()
        );
        let mut any = false;
        if self.tools.text2image {
            plan.push_str(" With text2image I vary ");
            let mut parts = Vec::new();
            for key in 0..proto.objects.len() {
                let which = if proto.objects.len() > 1 {
                    format!(" of the {}", keys.get(key).cloned().unwrap_or_default())
                } else {
                    String::new()
                };
                parts.push(format!("the shape{which} (color, texture and size fixed), its color (shape fixed), its texture and its size"));
            }
            if proto.objects.len() == 1 {
                parts.push("the number of copies".into());
            }
            parts.push("the background".into());
            plan.push_str(&parts.join("; "));
            plan.push_str(" — one call per factor.");
            for key in 0..proto.objects.len() {
                for factor in [Factor::Shape, Factor::Color, Factor::Texture, Factor::Size] {
                    let probes = sweep(&proto, factor, key);
                    self.images(Stage::Sweep(factor, key), &probes);
                    any = true;
                }
            }
            if proto.objects.len() == 1 {
                let probes = sweep(&proto, Factor::Count, 0);
                self.images(Stage::Sweep(Factor::Count, 0), &probes);
            }
            let probes = sweep(&proto, Factor::Background, 0);
            self.images(Stage::Sweep(Factor::Background, 0), &probes);
        }
        if self.tools.edit && !top.id.is_empty() {
            let plans = edits(&best.hyp, &scene);
            if !plans.is_empty() {
                let whys: Vec<String> = plans.iter().map(|p| p.why.clone()).collect();
                plan.push_str(&format!(
                    " And I edit {} itself to see which change silences the unit: {}.",
                    top.id,
                    reasons(&whys)
                ));
                let ids: Vec<&str> = plans.iter().map(|_| top.id.as_str()).collect();
                let instructions: Vec<&str> = plans.iter().map(|p| p.edit.as_str()).collect();
                self.call(
                    Stage::Edit,
                    "edit_images",
                    json!({ "image_ids": ids, "edits": instructions }),
                );
                any = true;
            }
        }
        if !any {
            self.reply.text.clear();
            return false;
        }
        self.say(plan);
        self.note_images(Some(&proto));
        true
    }

    /// The hypotheses ranked after the leader that are not equivalent to it on what was
    /// observed, best first (none without a leader).
    fn others(&self) -> impl Iterator<Item = &Judged> {
        let best = self.best();
        let cat = catalogue();
        self.ranked.iter().skip(1).filter(move |j| {
            best.is_some_and(|b| !cat.equivalent(b.index, j.index, &self.observed))
        })
    }

    /// The next two hypotheses after the leader, as alternatives a verified answer is
    /// scored beside.
    fn alternatives(&self) -> Vec<String> {
        self.others().take(2).map(|j| j.hyp.sentence()).collect()
    }

    /// Rivals of the leader still in the running, not equivalent to it.
    fn rivals(&self) -> Vec<&Judged> {
        let Some(best) = self.best() else {
            return Vec::new();
        };
        // Ranked by score, so stopping at the margin after the filter keeps the same set.
        let floor = best.score - MARGIN;
        self.others()
            .take_while(|j| j.score >= floor)
            .take(5)
            .collect()
    }

    fn separate(&mut self) -> bool {
        let Some(best) = self.best().cloned() else {
            return false;
        };
        let rivals: Vec<Judged> = self.rivals().into_iter().cloned().collect();
        if rivals.is_empty() {
            return false;
        }
        let hyps: Vec<Hyp> = rivals.iter().map(|j| j.hyp).collect();
        let probes = separate(&best.hyp, &hyps, self.round as u64 * 7919, MAX_PROBES);
        if probes.is_empty() {
            return false;
        }
        let refs: Vec<&Judged> = rivals.iter().collect();
        let list = hypothesis_list(self.ev, &self.shown(&refs), &self.from);
        let names: Vec<String> = rivals.iter().take(3).map(|j| j.hyp.expr()).collect();
        let whys: Vec<String> = probes.iter().map(|p| p.why.clone()).collect();
        self.say(list);
        self.say(format!(
            "H1 leads, but {} rival{} still fit{} the evidence ({}). I draw images on which they disagree: {}.",
            rivals.len(),
            if rivals.len() == 1 { "" } else { "s" },
            if rivals.len() == 1 { "s" } else { "" },
            names.join(", "),
            reasons(&whys)
        ));
        self.images(Stage::Probe, &probes);
        let proto = self
            .top_image(&best.hyp)
            .and_then(|o| o.scene.as_ref())
            .map(|s| prototype(&best.hyp, s));
        self.note_images(proto.as_ref());
        true
    }

    /// Whether the leader passed positives and controls made for it.
    fn verified(&self) -> bool {
        let Some(best) = self.best() else {
            return false;
        };
        let ev = self.ev;
        ev.batches_of(|s| *s == Stage::Verify(best.index)).any(|b| {
            let obs: Vec<&Observation> = b
                .observations
                .iter()
                .filter_map(|&i| ev.observations.get(i))
                .collect();
            let mut positives = 0;
            let mut controls = 0;
            let all_right = obs.iter().all(|o| {
                let (Some(f), Some(fired)) = (&o.features, ev.fired(o)) else {
                    return false;
                };
                let predicted = best.hyp.holds(f);
                if predicted {
                    positives += 1;
                } else {
                    controls += 1;
                }
                predicted == fired
            });
            all_right && positives > 0 && controls > 0
        })
    }

    fn verify(&mut self) -> bool {
        let Some(best) = self.best().cloned() else {
            return false;
        };
        let probes: Vec<Probe> = checks(&best.hyp, self.round as u64 * 104_729)
            .into_iter()
            .map(|(p, _)| p)
            .take(MAX_CHECKS)
            .collect();
        if probes.is_empty() {
            return false;
        }
        let rivals = self.rivals();
        let list = hypothesis_list(self.ev, &self.shown(&rivals), &self.from);
        self.say(list);
        let whys: Vec<String> = probes.iter().map(|p| p.why.clone()).collect();
        self.say(format!(
            "H1 ({}) fits everything so far. Before answering I test it against fresh images with the other attributes drawn at random: positives that contain it, and controls that lack it in one way each — a guard against confirmation bias. They are: {}.",
            best.hyp.expr(),
            reasons(&whys)
        ));
        self.images(Stage::Verify(best.index), &probes);
        let proto = self
            .top_image(&best.hyp)
            .and_then(|o| o.scene.as_ref())
            .map(|s| prototype(&best.hyp, s));
        self.note_images(proto.as_ref());
        true
    }

    fn answer(&mut self, why: Why) {
        let ev = self.ev;
        let reason = match why {
            Why::Done => "",
            Why::Asked => "I was asked to give my final answer now, so I stop experimenting.",
            Why::ExemplarsOnly => {
                "No experiment tools are available here, so I describe the unit from the exemplars alone."
            }
            Why::Budget => "I have used my rounds, so I answer with the evidence I have.",
            Why::Retry => "My final answer was not accepted; I state it again.",
            Why::NoUnit => {
                "I cannot run the unit on new images here (no call_unit), so I answer from the exemplars."
            }
            Why::UnitFails => {
                "The unit could not be run on my images, so I answer from the exemplars."
            }
            Why::NoImages => "I cannot make images here, so I answer from what I have.",
            Why::Dead => "",
        };
        self.say(reason);
        if why == Why::ExemplarsOnly && !ev.exemplars().is_empty() && ev.last_round().is_empty() {
            let profile = exemplar_profile(ev);
            self.say(profile);
        }
        let measured = ev.measured();
        let readable = ev
            .observations
            .iter()
            .any(|o| o.scene.is_some() && ev.fired(o) == Some(true));
        let (description, label) = if measured > 0 && ev.silent() {
            let peak = ev.peak().unwrap_or(0.0);
            self.say(format!(
                "The unit never rose above {} on any of the {measured} images measured, including broad surveys of every shape, color, texture, size and background. I find no response.",
                act(peak)
            ));
            (
                format!(
                    "no response found: the unit stayed near zero (at most {}) on all {measured} images tried, which covered every shape, color, texture, size and background",
                    act(peak)
                ),
                "no response (dead unit)".to_owned(),
            )
        } else if let Some(best) = self.best().cloned().filter(|_| readable) {
            let rivals = self.rivals();
            let list = hypothesis_list(ev, &self.shown(&rivals), &self.from);
            self.say(list);
            let verified = self.verified();
            let mut conclusion = format!(
                "Conclusion: H1, {} — {}",
                best.hyp.phrase(),
                best.hyp.structure()
            );
            if best.checked > 0 {
                conclusion.push_str(&format!(
                    "; it predicts {} of {} experiment images",
                    best.checked - best.errors,
                    best.checked
                ));
            }
            if best.exemplars > 0 {
                conclusion.push_str(&format!(
                    " and is present in {}/{} exemplars",
                    best.exemplar_hits, best.exemplars
                ));
            }
            conclusion.push('.');
            if verified {
                conclusion
                    .push_str(" Fresh positives fired and the controls without it stayed silent.");
            } else if best.checked > 0 {
                conclusion.push_str(
                    " It was not verified against fresh controls, so treat it with some caution.",
                );
            }
            self.say(conclusion);
            (best.hyp.sentence(), best.hyp.label())
        } else {
            self.say("The unit fired only on images whose content I cannot read (or on none I made), so I cannot say what drives it.");
            (
                "undetermined: no evidence about what the unit responds to was available"
                    .to_owned(),
                "unknown".to_owned(),
            )
        };
        if self.tools.final_answer && ev.final_answer_errors.len() < 2 {
            self.say(format!("Final answer: {description}."));
            let mut args = json!({ "description": description, "label": label });
            if self.tools.verify {
                args["alternatives"] = json!(self.alternatives());
            }
            self.call(Stage::Answer, "final_answer", args);
        } else {
            self.say(format!("[DESCRIPTION]: {description}\n[LABEL]: {label}"));
        }
    }
}
