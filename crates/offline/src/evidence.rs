//! What the conversation so far has established, rebuilt from the messages alone: the
//! images made and what each shows, the unit's activation on each, the calls that failed,
//! the human's notes and whether the model was told to answer now.
//!
//! Nothing is remembered between requests, so a replayed or resumed conversation gives
//! the same evidence. Each call the experimenter makes carries its purpose in its id
//! (`ofl3_0_sweep-color-0`: round 3, first call, the color sweep of key object 0); calls
//! from anyone else are read for their images and activations all the same.

use super::ANSWER_NOW;
use super::hypotheses::Sample;
use super::world::Features;
use maia_core::llm::{Message, Part, ToolResult};
use maia_plugin_sdk::UnitActivation;
use maia_plugin_sdk::contracts::{
    DatasetExemplarsData, EditImagesData, Text2ImageArgs, Text2ImageData, ToolWarning,
};
use maia_shapes_world::{Scene, Warning, parse_prompt};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Below this peak activation the unit is treated as silent everywhere (the synthetic
/// units' noise stays under 0.05).
pub(crate) const DEAD_LEVEL: f32 = 0.1;

/// A factor a sweep varies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Factor {
    Shape,
    Color,
    Texture,
    Size,
    Count,
    Background,
}

impl Factor {
    /// Every factor, in sweep order.
    pub(crate) const ALL: [Factor; 6] = [
        Factor::Shape,
        Factor::Color,
        Factor::Texture,
        Factor::Size,
        Factor::Count,
        Factor::Background,
    ];

    fn slug(self) -> &'static str {
        match self {
            Factor::Shape => "shape",
            Factor::Color => "color",
            Factor::Texture => "texture",
            Factor::Size => "size",
            Factor::Count => "count",
            Factor::Background => "background",
        }
    }

    fn from_slug(slug: &str) -> Option<Factor> {
        Factor::ALL.into_iter().find(|f| f.slug() == slug)
    }

    /// The English noun.
    pub(crate) fn noun(self) -> &'static str {
        self.slug()
    }
}

/// Why a call was made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// `dataset_exemplars`.
    Exemplars,
    /// A broad look at varied scenes (when there are no exemplars).
    Survey,
    /// One factor varied on key object `.1`, everything else fixed.
    Sweep(Factor, usize),
    /// Edits of the top exemplar.
    Edit,
    /// Images that separate competing hypotheses.
    Probe,
    /// Positives and controls for the hypothesis with this catalogue index.
    Verify(usize),
    /// Images the human's note suggested.
    Note,
    /// `call_unit` on earlier images.
    Measure,
    /// `final_answer`.
    Answer,
    /// A call the experimenter did not make (or cannot read).
    Other,
}

impl Stage {
    fn slug(&self) -> String {
        match self {
            Stage::Exemplars => "exemplars".into(),
            Stage::Survey => "survey".into(),
            Stage::Sweep(f, key) => format!("sweep-{}-{key}", f.slug()),
            Stage::Edit => "edit".into(),
            Stage::Probe => "probe".into(),
            Stage::Verify(h) => format!("verify-{h}"),
            Stage::Note => "note".into(),
            Stage::Measure => "measure".into(),
            Stage::Answer => "answer".into(),
            Stage::Other => "other".into(),
        }
    }

    fn parse(slug: &str) -> Stage {
        match slug {
            "exemplars" => return Stage::Exemplars,
            "survey" => return Stage::Survey,
            "edit" => return Stage::Edit,
            "probe" => return Stage::Probe,
            "note" => return Stage::Note,
            "measure" => return Stage::Measure,
            "answer" => return Stage::Answer,
            _ => {}
        }
        if let Some(h) = slug.strip_prefix("verify-").and_then(|h| h.parse().ok()) {
            return Stage::Verify(h);
        }
        if let Some(rest) = slug.strip_prefix("sweep-")
            && let Some((factor, key)) = rest.rsplit_once('-')
            && let (Some(factor), Ok(key)) = (Factor::from_slug(factor), key.parse())
        {
            return Stage::Sweep(factor, key);
        }
        Stage::Other
    }
}

/// The id of the experimenter's `index`-th call in `round`.
pub(crate) fn call_id(round: usize, index: usize, stage: &Stage) -> String {
    format!("ofl{round}_{index}_{}", stage.slug())
}

/// The purpose encoded in a call id; [`Stage::Other`] for ids the experimenter did not
/// make.
pub(crate) fn stage_of(id: &str) -> Stage {
    let Some(rest) = id.strip_prefix("ofl") else {
        return Stage::Other;
    };
    let mut parts = rest.splitn(3, '_');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(r), Some(i), Some(slug))
            if r.parse::<usize>().is_ok() && i.parse::<usize>().is_ok() =>
        {
            Stage::parse(slug)
        }
        _ => Stage::Other,
    }
}

/// Where an image came from.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Origin {
    /// A dataset exemplar, ranked from 1.
    Exemplar { rank: usize },
    /// `text2image`.
    Generated { prompt: String },
    /// `edit_images`.
    Edited { source: String, edit: String },
    /// Measured, but made by something the experimenter cannot read.
    Unknown,
}

/// One image and what is known about it.
#[derive(Clone, Debug)]
pub(crate) struct Observation {
    /// Store id (`img_7`); empty when the conversation never named it.
    pub(crate) id: String,
    /// What it shows, when known.
    pub(crate) scene: Option<Scene>,
    /// The scene's atoms.
    pub(crate) features: Option<Features>,
    /// The unit's activation, once measured.
    pub(crate) activation: Option<f32>,
    /// Where it came from.
    pub(crate) origin: Origin,
}

impl Observation {
    /// A short description of the image for the write-up.
    pub(crate) fn what(&self) -> String {
        match (&self.origin, &self.scene) {
            (Origin::Edited { source, edit }, _) => format!("'{edit}' on {source}"),
            (Origin::Generated { prompt }, _) => format!("'{prompt}'"),
            (_, Some(scene)) => format!("'{}'", super::world::prompt(scene)),
            _ => self.id.clone(),
        }
    }
}

/// One tool call and its outcome.
#[derive(Clone, Debug)]
pub(crate) struct Batch {
    /// The reply (round) that made the call, from 1.
    pub(crate) round: usize,
    /// Tool name.
    pub(crate) tool: String,
    /// Why it was made.
    pub(crate) stage: Stage,
    /// The error text, if it failed.
    pub(crate) error: Option<String>,
    /// The images it made (or measured), as indices into the observations.
    pub(crate) observations: Vec<usize>,
    /// What the tool reported it did not fully honour.
    pub(crate) warnings: Vec<String>,
    /// Edits that could not be applied.
    pub(crate) failed_edits: Vec<String>,
}

/// A text message from the human (or the loop) after the run started.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Note {
    /// Replies made before it arrived.
    pub(crate) after_round: usize,
    /// The text.
    pub(crate) text: String,
}

/// Everything the conversation established.
#[derive(Clone, Debug, Default)]
pub(crate) struct Evidence {
    /// The task text (the first user message).
    pub(crate) task: String,
    /// Images, each once, in order of appearance.
    pub(crate) observations: Vec<Observation>,
    /// Tool calls with results, in order.
    pub(crate) batches: Vec<Batch>,
    /// Human notes.
    pub(crate) notes: Vec<Note>,
    /// The model was told to answer now.
    pub(crate) answer_now: bool,
    /// Replies so far.
    pub(crate) rounds: usize,
    /// `dataset_exemplars` was called (whatever came back).
    pub(crate) exemplars_requested: bool,
    /// Why earlier `final_answer` calls failed.
    pub(crate) final_answer_errors: Vec<String>,
    /// `call_unit` calls that worked / failed.
    pub(crate) measures_ok: usize,
    /// See `measures_ok`.
    pub(crate) measures_failed: usize,
    /// The median top activation of the unit's layer (from `dataset_exemplars`), when
    /// known: "dead" is then judged against the layer.
    pub(crate) layer_top_median: Option<f32>,
    /// Ids already passed to `call_unit`, whatever the outcome.
    attempted: BTreeSet<String>,
    by_id: BTreeMap<String, usize>,
}

/// A call as the assistant made it.
struct CallInfo {
    round: usize,
    args: Value,
}

/// Whether a user text tells the model to answer now.
pub(crate) fn says_answer_now(text: &str) -> bool {
    let lower = text.to_lowercase();
    lower.contains(&ANSWER_NOW.to_lowercase())
        || lower.contains("final answer now")
        || lower.contains("answer now")
}

impl Evidence {
    /// Rebuilds the evidence from a conversation.
    pub(crate) fn gather(messages: &[Message]) -> Evidence {
        let mut ev = Evidence::default();
        let mut calls: BTreeMap<String, CallInfo> = BTreeMap::new();
        for message in messages {
            match message {
                Message::User(parts) => ev.read_user(parts),
                Message::Assistant { tool_calls, .. } => {
                    ev.rounds += 1;
                    for call in tool_calls {
                        let args = serde_json::from_str(&call.arguments).unwrap_or(Value::Null);
                        calls.insert(
                            call.id.clone(),
                            CallInfo {
                                round: ev.rounds,
                                args,
                            },
                        );
                    }
                }
                Message::ToolResults(results) => {
                    for result in results {
                        ev.read_result(result, calls.get(&result.call_id));
                    }
                }
            }
        }
        ev
    }

    fn read_user(&mut self, parts: &[Part]) {
        let carries_images = parts.iter().any(|p| matches!(p, Part::Image(_)));
        let text: Vec<&str> = parts
            .iter()
            .filter_map(|p| match p {
                Part::Text(t) => Some(t.as_str()),
                Part::Image(_) => None,
            })
            .collect();
        let text = text.join("\n");
        if self.rounds == 0 && self.task.is_empty() {
            self.task = text.clone();
        }
        self.read_exemplar_text(&text);
        let mut note = Vec::new();
        for paragraph in text.split("\n\n") {
            if says_answer_now(paragraph) {
                self.answer_now = true;
            } else if !paragraph.trim().is_empty() {
                note.push(paragraph.trim());
            }
        }
        // Messages before the first reply are the task; messages carrying images are the
        // loop forwarding tool images, not a human speaking.
        if self.rounds > 0 && !carries_images && !note.is_empty() {
            self.notes.push(Note {
                after_round: self.rounds,
                text: note.join(" "),
            });
        }
    }

    /// Exemplars described in a user message (an exemplar-only prompt that lists them as
    /// "3. activation 0.912 (00017.png): a large red circle on a white background"),
    /// read only when no `dataset_exemplars` result gave them.
    fn read_exemplar_text(&mut self, text: &str) {
        if self.exemplars_requested {
            return;
        }
        let mut batch = Batch {
            round: self.rounds,
            tool: "dataset_exemplars".into(),
            stage: Stage::Exemplars,
            error: None,
            observations: Vec::new(),
            warnings: Vec::new(),
            failed_edits: Vec::new(),
        };
        for line in text.lines() {
            let Some((rank, activation)) = exemplar_lines(line).into_iter().next() else {
                continue;
            };
            let summary = line
                .split_once(')')
                .map(|(_, rest)| rest.trim_start_matches([' ', ':', '-', '—']).trim())
                .unwrap_or_default();
            let Ok(parsed) = parse_prompt(summary, 0) else {
                continue;
            };
            if parsed
                .warnings
                .iter()
                .any(|w| matches!(w, Warning::UnknownWord { .. } | Warning::NoObjects))
            {
                continue;
            }
            // No store id: these images cannot be edited or measured again.
            let i = self.observation("", Origin::Exemplar { rank });
            self.observations[i].activation = Some(activation);
            self.set_scene(i, parsed.scene);
            batch.observations.push(i);
        }
        if !batch.observations.is_empty() {
            self.exemplars_requested = true;
            self.batches.push(batch);
        }
    }

    fn read_result(&mut self, result: &ToolResult, call: Option<&CallInfo>) {
        let mut batch = Batch {
            round: call.map_or(self.rounds, |c| c.round),
            tool: result.name.clone(),
            stage: stage_of(&result.call_id),
            error: result.is_error.then(|| result.text.clone()),
            observations: Vec::new(),
            warnings: Vec::new(),
            failed_edits: Vec::new(),
        };
        let args = call.map(|c| &c.args).unwrap_or(&Value::Null);
        match result.name.as_str() {
            "dataset_exemplars" => {
                self.exemplars_requested = true;
                if batch.stage == Stage::Other {
                    batch.stage = Stage::Exemplars;
                }
                if !result.is_error {
                    self.read_exemplars(result, &mut batch);
                }
            }
            "text2image" if !result.is_error => self.read_generated(result, args, &mut batch),
            "edit_images" if !result.is_error => self.read_edited(result, &mut batch),
            "call_unit" => {
                if batch.stage == Stage::Other {
                    batch.stage = Stage::Measure;
                }
                for id in string_list(args.get("image_ids")) {
                    self.attempted.insert(id);
                }
                if result.is_error {
                    self.measures_failed += 1;
                } else {
                    self.measures_ok += 1;
                    self.read_activations(result, &mut batch);
                }
            }
            "final_answer" if result.is_error => {
                self.final_answer_errors.push(result.text.clone());
            }
            _ => {}
        }
        self.batches.push(batch);
    }

    /// The observation for an id, created if new.
    fn observation(&mut self, id: &str, origin: Origin) -> usize {
        if !id.is_empty()
            && let Some(&i) = self.by_id.get(id)
        {
            return i;
        }
        self.observations.push(Observation {
            id: id.to_owned(),
            scene: None,
            features: None,
            activation: None,
            origin,
        });
        let i = self.observations.len() - 1;
        if !id.is_empty() {
            self.by_id.insert(id.to_owned(), i);
        }
        i
    }

    fn set_scene(&mut self, index: usize, scene: Scene) {
        if let Some(o) = self.observations.get_mut(index)
            && o.scene.is_none()
        {
            o.features = Some(Features::of(&scene));
            o.scene = Some(scene);
        }
    }

    fn read_exemplars(&mut self, result: &ToolResult, batch: &mut Batch) {
        let data = contract::<DatasetExemplarsData>(result);
        if let Some(m) = data.as_ref().and_then(|d| d.layer_top_median) {
            self.layer_top_median = Some(m);
        }
        let ids = image_ids(result);
        let entries = data.map(|d| d.exemplars).unwrap_or_default();
        if entries.is_empty() {
            // No data: ranks and activations from the text ("3. activation 0.912 (…)").
            for (n, activation) in exemplar_lines(&result.text) {
                let id = ids.get(n - 1).cloned().unwrap_or_default();
                let i = self.observation(&id, Origin::Exemplar { rank: n });
                self.observations[i].activation = Some(activation);
                batch.observations.push(i);
            }
            return;
        }
        for (k, entry) in entries.into_iter().enumerate() {
            let rank = from_one(entry.rank).unwrap_or(k + 1);
            let position = from_one(entry.image).unwrap_or(rank);
            let id = ids.get(position - 1).cloned().unwrap_or_default();
            let i = self.observation(&id, Origin::Exemplar { rank });
            self.observations[i].activation = Some(entry.activation);
            if let Some(scene) = entry
                .scene
                .and_then(|s| serde_json::from_value::<Scene>(s).ok())
                .filter(|s| s.validate().is_ok())
            {
                self.set_scene(i, scene);
            }
            batch.observations.push(i);
        }
    }

    fn read_generated(&mut self, result: &ToolResult, args: &Value, batch: &mut Batch) {
        let ids = image_ids(result);
        let entries = contract::<Text2ImageData>(result)
            .map(|d| d.images)
            .unwrap_or_default();
        if entries.is_empty() {
            // No data: assume the prompts were drawn as asked, in order.
            let asked = Text2ImageArgs::deserialize(args).ok();
            let seed = asked.as_ref().and_then(|a| a.seed).unwrap_or(0);
            for (id, prompt) in ids.iter().zip(asked.map(|a| a.prompts).unwrap_or_default()) {
                let i = self.observation(
                    id,
                    Origin::Generated {
                        prompt: prompt.clone(),
                    },
                );
                if let Ok(parsed) = parse_prompt(&prompt, seed) {
                    self.set_scene(i, parsed.scene);
                }
                batch.observations.push(i);
            }
            return;
        }
        for (k, entry) in entries.into_iter().enumerate() {
            let position = from_one(entry.image).unwrap_or(k + 1);
            let Some(id) = ids.get(position - 1).cloned() else {
                continue;
            };
            let i = self.observation(
                &id,
                Origin::Generated {
                    prompt: entry.prompt.clone(),
                },
            );
            let described = entry
                .drew
                .as_deref()
                .filter(|d| !d.is_empty())
                .unwrap_or(&entry.prompt);
            if let Ok(parsed) = parse_prompt(described, 0) {
                self.set_scene(i, parsed.scene);
            }
            batch.warnings.extend(warnings(&entry.warnings, position));
            batch.observations.push(i);
        }
    }

    fn read_edited(&mut self, result: &ToolResult, batch: &mut Batch) {
        let ids = image_ids(result);
        let Some(data) = contract::<EditImagesData>(result) else {
            return;
        };
        for (k, entry) in data.images.into_iter().enumerate() {
            let position = from_one(entry.image).unwrap_or(k + 1);
            let Some(id) = ids.get(position - 1).cloned() else {
                continue;
            };
            let i = self.observation(
                &id,
                Origin::Edited {
                    source: entry.source.to_string(),
                    edit: entry.edit.clone(),
                },
            );
            if let Some(drew) = &entry.drew
                && let Ok(parsed) = parse_prompt(drew, 0)
            {
                self.set_scene(i, parsed.scene);
            }
            batch.warnings.extend(warnings(&entry.warnings, position));
            batch.observations.push(i);
        }
        for failed in data.failed {
            batch.failed_edits.push(format!(
                "'{}' on {}: {}",
                failed.edit, failed.source, failed.error
            ));
        }
    }

    fn read_activations(&mut self, result: &ToolResult, batch: &mut Batch) {
        let mut pairs: Vec<(String, f32)> = contract::<Vec<UnitActivation>>(result)
            .unwrap_or_default()
            .into_iter()
            .map(|a| (a.image.to_string(), a.activation))
            .collect();
        if pairs.is_empty() {
            pairs = activation_lines(&result.text);
        }
        for (id, activation) in pairs {
            let i = self.observation(&id, Origin::Unknown);
            self.observations[i].activation = Some(activation);
            batch.observations.push(i);
        }
    }

    /// Images made but not yet measured (nor tried), grouped by the call that made them.
    pub(crate) fn pending(&self) -> Vec<(&Batch, Vec<&Observation>)> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for batch in &self.batches {
            if !matches!(batch.tool.as_str(), "text2image" | "edit_images") {
                continue;
            }
            let waiting: Vec<&Observation> = batch
                .observations
                .iter()
                .filter_map(|&i| self.observations.get(i))
                .filter(|o| {
                    o.activation.is_none()
                        && !o.id.is_empty()
                        && !self.attempted.contains(&o.id)
                        && seen.insert(o.id.clone())
                })
                .collect();
            if !waiting.is_empty() {
                out.push((batch, waiting));
            }
        }
        out
    }

    /// The highest activation seen.
    pub(crate) fn peak(&self) -> Option<f32> {
        self.observations
            .iter()
            .filter_map(|o| o.activation)
            .fold(None, |m: Option<f32>, a| Some(m.map_or(a, |m| m.max(a))))
    }

    /// Whether the unit has been measured at all.
    pub(crate) fn measured(&self) -> usize {
        self.observations
            .iter()
            .filter(|o| o.activation.is_some())
            .count()
    }

    /// The activation above which the unit counts as firing: half its peak.
    pub(crate) fn threshold(&self) -> f32 {
        self.peak().unwrap_or(0.0) * 0.5
    }

    /// True when the unit never rose above its dead level (and something was measured):
    /// a tenth of its layer's median top activation when the exemplars said what that is
    /// (a real network's layers differ in scale), else [`DEAD_LEVEL`].
    pub(crate) fn silent(&self) -> bool {
        let level = self
            .layer_top_median
            .filter(|m| *m > 0.0)
            .map_or(DEAD_LEVEL, |m| 0.1 * m);
        self.peak().is_none_or(|p| p < level)
    }

    /// Whether an observation counts as firing.
    pub(crate) fn fired(&self, o: &Observation) -> Option<bool> {
        let activation = o.activation?;
        Some(!self.silent() && activation >= self.threshold())
    }

    /// The measured observations with known scenes, as scoring samples, with the index of
    /// the observation each came from.
    pub(crate) fn samples(&self) -> (Vec<Sample<'_>>, Vec<usize>) {
        let mut samples = Vec::new();
        let mut from = Vec::new();
        for (i, o) in self.observations.iter().enumerate() {
            if let (Some(features), Some(fired)) = (&o.features, self.fired(o)) {
                samples.push(Sample {
                    features,
                    fired,
                    exemplar: matches!(o.origin, Origin::Exemplar { .. }),
                });
                from.push(i);
            }
        }
        (samples, from)
    }

    /// The exemplars, best first.
    pub(crate) fn exemplars(&self) -> Vec<&Observation> {
        let mut out: Vec<&Observation> = self
            .observations
            .iter()
            .filter(|o| matches!(o.origin, Origin::Exemplar { .. }))
            .collect();
        out.sort_by_key(|o| match o.origin {
            Origin::Exemplar { rank } => rank,
            _ => usize::MAX,
        });
        out
    }

    /// Batches of a stage.
    pub(crate) fn batches_of<'a>(
        &'a self,
        pred: impl Fn(&Stage) -> bool + 'a,
    ) -> impl Iterator<Item = &'a Batch> + 'a {
        self.batches.iter().filter(move |b| pred(&b.stage))
    }

    /// The batches of the latest reply.
    pub(crate) fn last_round(&self) -> Vec<&Batch> {
        self.batches
            .iter()
            .filter(|b| b.round == self.rounds)
            .collect()
    }
}

/// Image ids of a result in order: from the `[img_N] caption` lines the agent appends
/// (complete even when the images themselves were capped), else from the images.
pub(crate) fn image_ids(result: &ToolResult) -> Vec<String> {
    let from_text: Vec<String> = result
        .text
        .lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix('[')?;
            let (id, _) = rest.split_once(']')?;
            (!id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                .then(|| id.to_owned())
        })
        .collect();
    if !from_text.is_empty() && from_text.len() >= result.images.len() {
        from_text
    } else {
        result.images.iter().map(|p| p.id.clone()).collect()
    }
}

fn string_list(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// A result's `data` read as the tool's contract; `None` when it does not follow it (a
/// tool that reports no data, or another tool under the same name).
fn contract<T: DeserializeOwned>(result: &ToolResult) -> Option<T> {
    T::deserialize(&result.data).ok()
}

/// A position counted from 1, or `None` for 0.
fn from_one(n: usize) -> Option<usize> {
    (n > 0).then_some(n)
}

fn warnings(warnings: &[ToolWarning], position: usize) -> Vec<String> {
    warnings
        .iter()
        .map(|w| format!("image {position}: {w}"))
        .collect()
}

/// `(rank, activation)` from lines like "3. activation 0.912 (00017.png)".
fn exemplar_lines(text: &str) -> Vec<(usize, f32)> {
    text.lines()
        .filter_map(|line| {
            let (rank, rest) = line.trim().split_once(". activation ")?;
            let rank: usize = rank.parse().ok().filter(|&r| r > 0)?;
            let value = rest.split_whitespace().next()?.parse().ok()?;
            Some((rank, value))
        })
        .collect()
}

/// `(id, activation)` from lines like "img_3: activation 0.912 (mask img_9)".
fn activation_lines(text: &str) -> Vec<(String, f32)> {
    text.lines()
        .filter_map(|line| {
            let (id, rest) = line.trim().split_once(": activation ")?;
            let value = rest.split_whitespace().next()?.parse().ok()?;
            Some((id.to_owned(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_is_judged_against_the_layer_when_the_exemplars_say_its_scale() {
        let mut ev = Evidence::default();
        ev.observations.push(Observation {
            id: "img_1".into(),
            scene: None,
            features: None,
            activation: Some(0.05),
            origin: Origin::Exemplar { rank: 1 },
        });
        // No layer figures: the absolute level of the synthetic world.
        assert!(ev.silent());
        // A layer whose units peak around 0.3: 0.05 is weak, not dead.
        ev.layer_top_median = Some(0.3);
        assert!(!ev.silent());
        // A layer of large activations: 0.05 is dead there.
        ev.layer_top_median = Some(4.0);
        assert!(ev.silent());
    }

    #[test]
    fn call_ids_carry_their_stage() {
        for stage in [
            Stage::Exemplars,
            Stage::Sweep(Factor::Background, 1),
            Stage::Verify(1234),
            Stage::Measure,
            Stage::Note,
        ] {
            assert_eq!(stage_of(&call_id(7, 2, &stage)), stage);
        }
        assert_eq!(stage_of("call_abc"), Stage::Other);
        assert_eq!(stage_of("ofl1_x_probe"), Stage::Other);
        assert_eq!(stage_of("ofl1_0_sweep-hue-0"), Stage::Other);
    }

    #[test]
    fn text_fallbacks_read_activations() {
        assert_eq!(
            activation_lines("img_3: activation 0.912 (mask img_9)\nimg_4: activation 0.010"),
            vec![("img_3".to_owned(), 0.912), ("img_4".to_owned(), 0.01)]
        );
        assert_eq!(
            exemplar_lines(
                "top 2 of 10 dataset images for synthetic:0:\n1. activation 1.020 (a.png)\n2. activation 0.500 (b.png)"
            ),
            vec![(1, 1.02), (2, 0.5)]
        );
    }

    #[test]
    fn ids_come_from_the_text_when_images_were_capped() {
        let result = ToolResult {
            call_id: "c".into(),
            name: "text2image".into(),
            text: "2 images:\nimage 1 …\n[img_4] a red circle\n[img_5] a blue circle".into(),
            images: Vec::new(),
            data: Value::Null,
            is_error: false,
        };
        assert_eq!(image_ids(&result), vec!["img_4", "img_5"]);
    }
}
