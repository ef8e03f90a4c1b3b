//! Predictive scoring: how well a description's prompts separate the unit's activations.
//!
//! [`Scorer`] renders an evaluator's positive and neutral prompts with held-out seeds, runs
//! the unit on them and on a fixed probe set, and computes [`Score`]: Pearson correlation
//! of labels (positive = 1, neutral = 0) with activations, average precision (AUPRC) and
//! cross-fitted F1 ([`super::metrics::cross_fitted_f1`]).
//!
//! When the evaluation images' activations vary by no more than the unit's noise floor
//! ([`UnitProbe::noise_floor`]; exactly constant for real units), the description's
//! images do not drive the unit and correlation would only fit noise: such a score is
//! Pearson 0, AUPRC the positive rate and F1 0.
//!
//! A unit whose activations over all of those images stay within its noise floor never
//! fires: its score is marked `dead` and carries no
//! metrics. The probe set is what makes deadness a property of the unit rather than of
//! the description: [`DEFAULT_PROBE_IMAGES`] diverse dataset scenes plus one scene showing
//! each catalogued synthetic concept, so a live unit fires on some probe even when a wrong
//! description's images all miss it. [`summarize`] leaves dead units and infrastructure failures out of means and
//! counts them; a failed *description* (empty, unreadable, impossible) counts at chance
//! level — Pearson 0, AUPRC the positive rate, F1 0 — so an agent gains nothing by saying
//! nothing.

use super::evaluator::{Evaluator, PromptSet, WorldEvaluator};
use super::metrics::{self, MeanCi};
use super::probe::UnitProbe;
use super::render::ImageRenderer;
use super::{Failure, FailureKind, MAX_RENDER_CALLS, held_out_seed};
use maia_plugin_sdk::Image;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Prompts per side when none is given.
pub const DEFAULT_N: usize = 20;

/// Most prompts per side.
pub const MAX_N: usize = 512;

/// Dataset scenes in the probe set every unit is also run on, to tell a dead unit from a
/// description whose images miss it.
pub const DEFAULT_PROBE_IMAGES: usize = 192;

/// The dataset seed the probe scenes come from ([`maia_shapes_world::scene_at`]).
pub const PROBE_DATASET_SEED: u64 = super::HELD_OUT_SEED_BASE + 17;

/// How a [`Scorer`] scores.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreConfig {
    /// Prompts per side (positive and neutral), 1..=[`MAX_N`].
    pub n: usize,
    /// Seed for the evaluator and, through [`held_out_seed`], for rendering.
    pub seed: u64,
    /// Dataset scenes in the probe set for the dead-unit check.
    pub probe_images: usize,
    /// Also probe with one scene per catalogued synthetic concept (on by default).
    #[serde(default = "yes")]
    pub probe_catalogue: bool,
}

fn yes() -> bool {
    true
}

impl Default for ScoreConfig {
    fn default() -> Self {
        ScoreConfig {
            n: DEFAULT_N,
            seed: 0,
            probe_images: DEFAULT_PROBE_IMAGES,
            probe_catalogue: true,
        }
    }
}

/// One image of a scoring, for results files and reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoredImage {
    /// Its prompt.
    pub prompt: String,
    /// Positive (true) or neutral.
    pub positive: bool,
    /// The unit's activation on it.
    pub activation: f32,
}

/// A description's score against one unit. Metrics are `None` when the unit is dead or
/// scoring failed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// The description scored.
    pub description: String,
    /// The evaluator that wrote the prompts.
    pub evaluator: String,
    /// The unit.
    pub unit: String,
    /// The concept the evaluator read, if it reads one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub understood: Option<String>,
    /// Prompts per side asked for.
    pub n: usize,
    /// Positive images scored.
    pub n_positive: usize,
    /// Neutral images scored.
    pub n_neutral: usize,
    /// The scoring seed.
    pub seed: u64,
    /// Pearson correlation of labels with activations.
    pub pearson: Option<f64>,
    /// Average precision of the activations for the positive label.
    pub auprc: Option<f64>,
    /// F1 at a threshold chosen on the other half of the images.
    pub f1: Option<f64>,
    /// Mean activation on positive images.
    pub mean_pos: Option<f64>,
    /// Mean activation on neutral images.
    pub mean_neutral: Option<f64>,
    /// CoSy's AUC: the chance a positive image activates the unit more than a control
    /// image (the scorer's probe scenes of the dataset), ties half.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cosy_auc: Option<f64>,
    /// CoSy's MAD: the positive images' mean activation above the control's mean, in
    /// control standard deviations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cosy_mad: Option<f64>,
    /// What CoSy's control sample was (`192 shapes-world dataset scenes`, `200 images of
    /// DIR`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cosy_control: Option<String>,
    /// Tokens the evaluator's model used to write the prompts (none for the world
    /// evaluator).
    #[serde(default, skip_serializing_if = "crate::llm::Usage::is_zero")]
    pub evaluator_usage: crate::llm::Usage,
    /// What those tokens cost, by the config's `[prices]`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub evaluator_cost_usd: f64,
    /// What drawing the evaluation images cost (a paid image source,
    /// `run.image_price_usd`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub images_cost_usd: f64,
    /// The unit never fired on the evaluation or probe images.
    pub dead: bool,
    /// Why it could not be scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// Remarks: words not understood, prompts drawn in part, retries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The images, with prompts and activations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ScoredImage>,
}

fn is_zero(value: &f64) -> bool {
    *value == 0.0
}

impl Score {
    fn empty(description: &str, evaluator: &str, unit: String, config: &ScoreConfig) -> Self {
        Score {
            description: description.to_owned(),
            evaluator: evaluator.to_owned(),
            unit,
            understood: None,
            n: config.n,
            n_positive: 0,
            n_neutral: 0,
            seed: config.seed,
            pearson: None,
            auprc: None,
            f1: None,
            mean_pos: None,
            mean_neutral: None,
            cosy_auc: None,
            cosy_mad: None,
            cosy_control: None,
            evaluator_usage: crate::llm::Usage::default(),
            evaluator_cost_usd: 0.0,
            images_cost_usd: 0.0,
            dead: false,
            failure: None,
            notes: Vec::new(),
            images: Vec::new(),
        }
    }

    /// A score that failed before any image was drawn.
    pub fn failed(
        description: &str,
        evaluator: &str,
        unit: String,
        config: &ScoreConfig,
        failure: Failure,
    ) -> Self {
        Score {
            failure: Some(failure),
            ..Score::empty(description, evaluator, unit, config)
        }
    }

    /// Scored: not dead and not failed.
    pub fn is_scored(&self) -> bool {
        self.failure.is_none() && !self.dead
    }

    /// The values [`summarize`] averages for this score — (Pearson, AUPRC, F1) — or `None`
    /// when the score is left out (dead unit, infrastructure failure).
    pub fn counted(&self) -> Option<(f64, f64, f64)> {
        match &self.failure {
            Some(f) if f.kind == FailureKind::Description => {
                let total = self.n_positive + self.n_neutral;
                let base_rate = if total == 0 {
                    0.5
                } else {
                    self.n_positive as f64 / total as f64
                };
                Some((0.0, base_rate, 0.0))
            }
            Some(_) => None,
            None if self.dead => None,
            None => Some((
                self.pearson.unwrap_or(0.0),
                self.auprc.unwrap_or(0.0),
                self.f1.unwrap_or(0.0),
            )),
        }
    }
}

/// Scores descriptions against units. Shared between concurrent scorings (behind an
/// `Arc`): it holds its renderer, its configuration, the probe images (rendered once on
/// first use) and each unit's activations on them (keyed by [`UnitProbe::cache_key`]).
pub struct Scorer {
    renderer: Arc<dyn ImageRenderer>,
    config: ScoreConfig,
    probes: OnceLock<Result<Arc<Vec<Image>>, Failure>>,
    probe_activations: Mutex<HashMap<String, Arc<Vec<f32>>>>,
    control: Option<ControlSample>,
    image_price_usd: f64,
}

/// CoSy's control sample from the model's own data set, in place of the shapes world's
/// dataset scenes. Its images join the probe set (a unit that fires on its data is not
/// dead).
#[derive(Clone)]
pub struct ControlSample {
    /// What it is, for the score (`200 images of /data/val`).
    pub label: String,
    /// The images.
    pub images: Arc<Vec<Image>>,
}

impl ControlSample {
    /// `n` random images of `dataset` (fewer if it is smaller), drawn with `seed`;
    /// `name` is how the label calls the data set (its path).
    pub fn from_dataset(
        dataset: &crate::dataset::Dataset,
        name: &str,
        n: usize,
        seed: u64,
    ) -> Result<Self, crate::dataset::DatasetError> {
        let images: Vec<Image> = dataset
            .sample(n, seed)?
            .into_iter()
            .map(|(_, image)| image)
            .collect();
        Ok(ControlSample {
            label: format!("{} images of {name}", images.len()),
            images: Arc::new(images),
        })
    }
}

impl Scorer {
    /// A scorer; `config.n` is clamped to 1..=[`MAX_N`].
    pub fn new(renderer: Arc<dyn ImageRenderer>, mut config: ScoreConfig) -> Self {
        config.n = config.n.clamp(1, MAX_N);
        Scorer {
            renderer,
            config,
            probes: OnceLock::new(),
            probe_activations: Mutex::new(HashMap::new()),
            control: None,
            image_price_usd: 0.0,
        }
    }

    /// Prices each evaluation image drawn (a paid image source); the score's
    /// `images_cost_usd` says what its images cost.
    pub fn with_image_price(mut self, usd_per_image: f64) -> Self {
        self.image_price_usd = usd_per_image.max(0.0);
        self
    }

    /// Everything a score cost: its evaluator's tokens and its images.
    pub fn cost_of(score: &Score) -> f64 {
        score.evaluator_cost_usd + score.images_cost_usd
    }

    /// Uses `control` as CoSy's control sample (empty: keep the dataset scenes).
    pub fn with_control(mut self, control: ControlSample) -> Self {
        if !control.images.is_empty() {
            self.control = Some(control);
        }
        self
    }

    /// The probe images that are CoSy's control, and what they are.
    fn control_part<'a>(&self, probe_acts: &'a [f32]) -> (&'a [f32], String) {
        match &self.control {
            Some(control) => {
                let start = probe_acts.len().saturating_sub(control.images.len());
                (&probe_acts[start..], control.label.clone())
            }
            None => {
                let end = self.config.probe_images.min(probe_acts.len());
                (
                    &probe_acts[..end],
                    format!("{end} shapes-world dataset scenes"),
                )
            }
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &ScoreConfig {
        &self.config
    }

    /// The renderer.
    pub fn renderer(&self) -> &Arc<dyn ImageRenderer> {
        &self.renderer
    }

    /// Scores `description` against `unit`: asks `evaluator` for prompts (awaiting it),
    /// then renders and runs the unit on a blocking thread. Never panics on bad input:
    /// every problem ends up in [`Score::failure`].
    pub async fn score(
        self: &Arc<Self>,
        description: &str,
        evaluator: &dyn Evaluator,
        unit: Arc<dyn UnitProbe>,
    ) -> Score {
        let prompts = evaluator
            .prompts(description, self.config.n, self.config.seed)
            .await;
        // What the evaluator spent, whether or not its prompts could be used.
        let usage = match &prompts {
            Ok(p) => p.usage,
            Err(f) => f.usage,
        };
        let mut score = match prompts {
            Err(failure) => Score::failed(
                description,
                evaluator.name(),
                unit.label(),
                &self.config,
                failure,
            ),
            Ok(prompts) => {
                let this = Arc::clone(self);
                let (text, name) = (description.to_owned(), evaluator.name().to_owned());
                let label = unit.label();
                let work = tokio::task::spawn_blocking(move || {
                    this.score_prompts(&text, &name, &prompts, unit.as_ref())
                });
                work.await.unwrap_or_else(|e| {
                    Score::failed(
                        description,
                        evaluator.name(),
                        label,
                        &self.config,
                        Failure::new(FailureKind::Unit, format!("scoring stopped: {e}")),
                    )
                })
            }
        };
        score.evaluator_usage = usage;
        score.evaluator_cost_usd = evaluator.cost(usage);
        score
    }

    /// Scores with the [`WorldEvaluator`], synchronously (no runtime needed).
    pub fn score_world(&self, description: &str, unit: &dyn UnitProbe) -> Score {
        let evaluator = WorldEvaluator;
        match evaluator.prompt_set(description, self.config.n, self.config.seed) {
            Ok(prompts) => self.score_prompts(description, "world", &prompts, unit),
            Err(failure) => {
                Score::failed(description, "world", unit.label(), &self.config, failure)
            }
        }
    }

    /// Scores prompts an evaluator already wrote (CPU work: call it from a blocking
    /// thread inside async code).
    pub fn score_prompts(
        &self,
        description: &str,
        evaluator: &str,
        prompts: &PromptSet,
        unit: &dyn UnitProbe,
    ) -> Score {
        let mut score = Score::empty(description, evaluator, unit.label(), &self.config);
        score.understood = prompts.understood.clone();
        score.notes = prompts.notes.clone();
        score.evaluator_usage = prompts.usage;
        score.images_cost_usd =
            (prompts.positive.len() + prompts.neutral.len()) as f64 * self.image_price_usd;
        if let Err(failure) = self.fill(&mut score, prompts, unit) {
            score.failure = Some(failure);
        }
        score
    }

    fn fill(
        &self,
        score: &mut Score,
        prompts: &PromptSet,
        unit: &dyn UnitProbe,
    ) -> Result<(), Failure> {
        if prompts.positive.is_empty() || prompts.neutral.is_empty() {
            return Err(Failure::new(
                FailureKind::Evaluator,
                format!(
                    "the evaluator wrote {} positive and {} neutral prompts; both are needed",
                    prompts.positive.len(),
                    prompts.neutral.len()
                ),
            ));
        }
        let all: Vec<String> = prompts
            .positive
            .iter()
            .chain(&prompts.neutral)
            .cloned()
            .collect();
        let labels: Vec<bool> = (0..all.len()).map(|i| i < prompts.positive.len()).collect();
        let (images, warnings) = self.render_held_out(&all)?;
        if !warnings.is_empty() {
            score.notes.push(format!(
                "{} of {} prompts were drawn only in part; first: {}",
                warnings.len(),
                all.len(),
                warnings[0]
            ));
        }
        let acts = unit.activations(&images)?;
        if acts.len() != images.len() {
            return Err(Failure::new(
                FailureKind::Unit,
                format!(
                    "{} gave {} activations for {} images",
                    unit.label(),
                    acts.len(),
                    images.len()
                ),
            ));
        }
        let probe_acts = self.probe_activations(unit)?;
        let scores: Vec<f64> = acts.iter().map(|&a| f64::from(a)).collect();
        score.n_positive = prompts.positive.len();
        score.n_neutral = prompts.neutral.len();
        let (pos, neu): (Vec<f64>, Vec<f64>) = {
            let pos = scores[..score.n_positive].to_vec();
            let neu = scores[score.n_positive..].to_vec();
            (pos, neu)
        };
        score.mean_pos = metrics::mean(&pos);
        score.mean_neutral = metrics::mean(&neu);
        score.images = all
            .iter()
            .zip(&labels)
            .zip(&acts)
            .map(|((prompt, &positive), &activation)| ScoredImage {
                prompt: prompt.clone(),
                positive,
                activation,
            })
            .collect();
        if acts.iter().chain(probe_acts.iter()).any(|a| !a.is_finite()) {
            return Err(Failure::new(
                FailureKind::Unit,
                format!("{} gave a non-finite activation", unit.label()),
            ));
        }
        let (lo, hi) = acts
            .iter()
            .chain(probe_acts.iter())
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &a| {
                (lo.min(a), hi.max(a))
            });
        if hi - lo <= unit.noise_floor() + 1e-6 * hi.abs().max(1.0) {
            score.dead = true;
            score.notes.push(format!(
                "the unit never fired: activations stayed within {lo:.4}..{hi:.4} on {} evaluation and {} probe images",
                acts.len(),
                probe_acts.len()
            ));
            return Ok(());
        }
        // CoSy's control: the model's own data when given, else the probe's dataset
        // scenes (not its one-per-concept scenes).
        let (control, label) = self.control_part(&probe_acts);
        let control: Vec<f64> = control.iter().map(|&a| f64::from(a)).collect();
        score.cosy_auc = metrics::cosy_auc(&pos, &control);
        score.cosy_mad = metrics::cosy_mad(&pos, &control);
        score.cosy_control = Some(label);
        let (elo, ehi) = acts
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &a| {
                (lo.min(a), hi.max(a))
            });
        if ehi - elo <= unit.noise_floor() + 1e-6 * ehi.abs().max(1.0) {
            // The unit fires somewhere (the probes), but not differently on any of these
            // images: correlation would only fit noise. No separation earns chance.
            score.notes.push(format!(
                "the unit did not tell the evaluation images apart (activations {elo:.4}..{ehi:.4}, within its noise floor): Pearson 0, AUPRC the positive rate, F1 0"
            ));
            score.pearson = Some(0.0);
            score.auprc = Some(score.n_positive as f64 / labels.len() as f64);
            score.f1 = Some(0.0);
            return Ok(());
        }
        score.pearson = metrics::pearson_labels(&labels, &scores);
        score.auprc = metrics::average_precision(&labels, &scores);
        score.f1 = metrics::cross_fitted_f1(&labels, &scores);
        Ok(())
    }

    /// Renders prompts with held-out seeds. Repeated prompts go to different calls (call
    /// `k` draws the `k`-th repeat), so each repeat is a different image.
    fn render_held_out(&self, prompts: &[String]) -> Result<(Vec<Image>, Vec<String>), Failure> {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let occurrence: Vec<usize> = prompts
            .iter()
            .map(|p| {
                let k = seen.entry(p.as_str()).or_insert(0);
                *k += 1;
                *k - 1
            })
            .collect();
        let calls = occurrence.iter().copied().max().map_or(0, |m| m + 1);
        if calls as u64 >= MAX_RENDER_CALLS - 1 {
            return Err(Failure::new(
                FailureKind::Evaluator,
                format!("one prompt repeats {calls} times; write different prompts"),
            ));
        }
        let mut images: Vec<Option<Image>> = vec![None; prompts.len()];
        let mut warnings = Vec::new();
        for call in 0..calls {
            let indices: Vec<usize> = (0..prompts.len())
                .filter(|&i| occurrence[i] == call)
                .collect();
            let batch: Vec<String> = indices.iter().map(|&i| prompts[i].clone()).collect();
            let seed = held_out_seed(self.config.seed, call as u64);
            let rendered = self.renderer.render(&batch, seed)?;
            if rendered.images.len() != batch.len() {
                return Err(Failure::new(
                    FailureKind::Render,
                    format!(
                        "{} drew {} images for {} prompts",
                        self.renderer.name(),
                        rendered.images.len(),
                        batch.len()
                    ),
                ));
            }
            warnings.extend(rendered.warnings);
            for (i, image) in indices.into_iter().zip(rendered.images) {
                images[i] = Some(image);
            }
        }
        let images = images.into_iter().flatten().collect::<Vec<_>>();
        Ok((images, warnings))
    }

    /// The unit's activations on the probe images, computed once per unit.
    fn probe_activations(&self, unit: &dyn UnitProbe) -> Result<Arc<Vec<f32>>, Failure> {
        let key = unit.cache_key();
        if let Some(key) = &key
            && let Some(known) = self.lock_probe_activations().get(key)
        {
            return Ok(known.clone());
        }
        let probes = self.probe_images()?;
        let acts = if probes.is_empty() {
            Arc::new(Vec::new())
        } else {
            Arc::new(unit.activations(&probes)?)
        };
        if let Some(key) = key {
            self.lock_probe_activations().insert(key, acts.clone());
        }
        Ok(acts)
    }

    fn lock_probe_activations(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Vec<f32>>>> {
        // Inserts are single map operations: a panic elsewhere cannot leave it half-done.
        self.probe_activations
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The probe images: the first `probe_images` scenes of the held-out dataset seed and,
    /// with `probe_catalogue`, one scene showing each catalogued concept, drawn through
    /// the renderer once per scorer.
    fn probe_images(&self) -> Result<Arc<Vec<Image>>, Failure> {
        self.probes
            .get_or_init(|| {
                let mut prompts: Vec<String> =
                    maia_shapes_world::generate(self.config.probe_images, PROBE_DATASET_SEED)
                        .map(|(_, scene)| maia_shapes_world::scene_to_prompt(&scene))
                        .collect();
                if self.config.probe_catalogue {
                    for unit in maia_shapes_world::catalogue() {
                        if let Ok(scenes) =
                            maia_shapes_world::scenes_with(&unit.concept, 1, PROBE_DATASET_SEED)
                        {
                            prompts.extend(scenes.iter().map(maia_shapes_world::scene_to_prompt));
                        }
                    }
                }
                let mut images = if prompts.is_empty() {
                    Vec::new()
                } else {
                    let seed = held_out_seed(0, MAX_RENDER_CALLS - 1);
                    self.renderer.render(&prompts, seed)?.images
                };
                if let Some(control) = &self.control {
                    images.extend(control.images.iter().cloned());
                }
                Ok(Arc::new(images))
            })
            .clone()
    }
}

/// Scores one description with a fresh [`Scorer`] (which renders its probe images anew:
/// keep one `Scorer` for many scorings).
pub async fn score_description(
    description: &str,
    unit: Arc<dyn UnitProbe>,
    renderer: Arc<dyn ImageRenderer>,
    evaluator: &dyn Evaluator,
    config: ScoreConfig,
) -> Score {
    Arc::new(Scorer::new(renderer, config))
        .score(description, evaluator, unit)
        .await
}

/// Many scores in a few numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Scores summarised.
    pub total: usize,
    /// Scored normally.
    pub scored: usize,
    /// Dead units (left out of means).
    pub dead: usize,
    /// Descriptions that failed (counted at chance level).
    pub failed_description: usize,
    /// Evaluator, render or unit failures (left out of means; worth retrying).
    pub failed_other: usize,
    /// Mean Pearson correlation.
    pub pearson: Option<MeanCi>,
    /// Mean AUPRC.
    pub auprc: Option<MeanCi>,
    /// Mean F1.
    pub f1: Option<MeanCi>,
    /// Mean activation on positive images (scored units only).
    pub mean_pos: Option<MeanCi>,
    /// Mean activation on neutral images (scored units only).
    pub mean_neutral: Option<MeanCi>,
}

/// Means with Student-t intervals at `level` (e.g. 0.95) over `scores`, by the rules in
/// the module documentation.
pub fn summarize(scores: &[Score], level: f64) -> Summary {
    let counted: Vec<(f64, f64, f64)> = scores.iter().filter_map(Score::counted).collect();
    let column = |f: fn(&(f64, f64, f64)) -> f64| counted.iter().map(f).collect::<Vec<f64>>();
    let scored: Vec<&Score> = scores.iter().filter(|s| s.is_scored()).collect();
    let of_scored = |f: fn(&Score) -> Option<f64>| -> Option<MeanCi> {
        metrics::mean_ci(
            &scored.iter().filter_map(|s| f(s)).collect::<Vec<f64>>(),
            level,
        )
    };
    Summary {
        total: scores.len(),
        scored: scored.len(),
        dead: scores
            .iter()
            .filter(|s| s.dead && s.failure.is_none())
            .count(),
        failed_description: scores
            .iter()
            .filter(|s| {
                s.failure
                    .as_ref()
                    .is_some_and(|f| f.kind == FailureKind::Description)
            })
            .count(),
        failed_other: scores
            .iter()
            .filter(|s| {
                s.failure
                    .as_ref()
                    .is_some_and(|f| f.kind != FailureKind::Description)
            })
            .count(),
        pearson: metrics::mean_ci(&column(|c| c.0), level),
        auprc: metrics::mean_ci(&column(|c| c.1), level),
        f1: metrics::mean_ci(&column(|c| c.2), level),
        mean_pos: of_scored(|s| s.mean_pos),
        mean_neutral: of_scored(|s| s.mean_neutral),
    }
}

#[cfg(test)]
mod tests {
    use super::super::render::Rendered;
    use super::*;
    use maia_shapes_world::{Concept, parse_prompt, render_png};
    use std::sync::Mutex;

    /// Draws prompts with the world library directly (the integration tests use the real
    /// wasm tool); records the seeds it was given and the scenes each call drew.
    #[derive(Default)]
    struct LibraryRenderer {
        seeds: Mutex<Vec<u64>>,
        /// `(seed, prompt, scene)` of every image drawn, in order.
        drawn: Mutex<Vec<(u64, String, serde_json::Value)>>,
    }

    impl ImageRenderer for LibraryRenderer {
        fn name(&self) -> String {
            "library".into()
        }
        fn render(&self, prompts: &[String], seed: u64) -> Result<Rendered, Failure> {
            self.seeds
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(seed);
            let images = prompts
                .iter()
                .map(|p| {
                    let scene = parse_prompt(p, seed)
                        .map_err(|e| Failure::new(FailureKind::Render, e.to_string()))?
                        .scene;
                    let png = render_png(&scene)
                        .map_err(|e| Failure::new(FailureKind::Render, e.to_string()))?;
                    let meta = serde_json::json!({"scene": scene});
                    self.drawn.lock().unwrap_or_else(|p| p.into_inner()).push((
                        seed,
                        p.clone(),
                        meta["scene"].clone(),
                    ));
                    Ok(Image::new(png, p.as_str()).with_meta(meta))
                })
                .collect::<Result<Vec<_>, Failure>>()?;
            Ok(Rendered {
                images,
                warnings: Vec::new(),
            })
        }
    }

    /// A unit that reads the scene graph: 1 when the concept is present, else 0 (or a
    /// constant, for a dead unit).
    struct ConceptUnit(Option<Concept>);

    impl UnitProbe for ConceptUnit {
        fn label(&self) -> String {
            "concept".into()
        }
        fn activations(&self, images: &[Image]) -> Result<Vec<f32>, Failure> {
            images
                .iter()
                .map(|image| {
                    let scene = crate::target::scene_of(image)
                        .map_err(|e| Failure::new(FailureKind::Unit, e.to_string()))?;
                    Ok(match &self.0 {
                        Some(c) => f32::from(u8::from(c.present_in(&scene))),
                        None => 0.25,
                    })
                })
                .collect()
        }
    }

    fn scorer(n: usize) -> (Arc<LibraryRenderer>, Scorer) {
        let renderer = Arc::new(LibraryRenderer::default());
        let config = ScoreConfig {
            n,
            seed: 3,
            probe_images: 8,
            probe_catalogue: false,
        };
        (renderer.clone(), Scorer::new(renderer, config))
    }

    fn unit(expr: &str) -> ConceptUnit {
        ConceptUnit(Some(Concept::parse(expr).unwrap_or_else(|e| panic!("{e}"))))
    }

    #[test]
    fn the_right_description_separates_perfectly_with_held_out_seeds() {
        let (renderer, scorer) = scorer(6);
        let score = scorer.score_world("red circles", &unit("red & circle"));
        assert!(score.is_scored(), "{score:?}");
        assert_eq!(score.pearson, Some(1.0));
        assert_eq!(score.auprc, Some(1.0));
        assert_eq!(score.f1, Some(1.0));
        assert_eq!((score.mean_pos, score.mean_neutral), (Some(1.0), Some(0.0)));
        assert_eq!(score.images.len(), 12);
        assert_eq!(score.understood.as_deref(), Some("red & circle"));
        let seeds = renderer.seeds.lock().unwrap_or_else(|p| p.into_inner());
        assert!(
            seeds.iter().all(|&s| super::super::is_held_out(s)),
            "{seeds:?}"
        );
    }

    #[test]
    fn cosy_compares_the_positive_images_with_the_dataset_control() {
        let scorer = Scorer::new(
            Arc::new(LibraryRenderer::default()),
            ScoreConfig {
                n: 6,
                seed: 3,
                probe_images: 64,
                probe_catalogue: false,
            },
        );
        let right = scorer.score_world("circles", &unit("circle"));
        let (auc, mad) = (right.cosy_auc, right.cosy_mad);
        assert!(auc.is_some_and(|a| a > 0.6), "{right:?}");
        assert!(mad.is_some_and(|m| m > 0.5), "{right:?}");
        let wrong = scorer.score_world("squares", &unit("circle"));
        assert!(
            wrong.cosy_auc < auc && wrong.cosy_mad < mad,
            "squares do not beat the control as circles do: {wrong:?}"
        );
    }

    #[test]
    fn a_control_sample_of_the_models_data_replaces_the_dataset_scenes() {
        let renderer = Arc::new(LibraryRenderer::default());
        let prompts: Vec<String> = ["a red circle", "a blue circle", "a green circle"]
            .iter()
            .map(|p| (*p).to_owned())
            .collect();
        let images = renderer
            .render(&prompts, 5)
            .unwrap_or_else(|e| panic!("{e}"))
            .images;
        let controlled = Scorer::new(
            renderer,
            ScoreConfig {
                n: 6,
                seed: 3,
                probe_images: 64,
                probe_catalogue: false,
            },
        )
        .with_control(ControlSample {
            label: "3 images of circles/".into(),
            images: Arc::new(images),
        });
        let score = controlled.score_world("circles", &unit("circle"));
        assert_eq!(score.cosy_control.as_deref(), Some("3 images of circles/"));
        // Every control image shows a circle: the positives do not beat it.
        assert_eq!(score.cosy_auc, Some(0.5), "{score:?}");
        // Without one, the dataset scenes are the control, and said so.
        let (_, plain) = scorer(6);
        let score = plain.score_world("circles", &unit("circle"));
        assert_eq!(
            score.cosy_control.as_deref(),
            Some("8 shapes-world dataset scenes")
        );
    }

    #[test]
    fn dead_units_and_failures_are_counted_apart() {
        let (_, scorer) = scorer(4);
        let dead = scorer.score_world("red circles", &ConceptUnit(None));
        assert!(dead.dead && dead.pearson.is_none(), "{dead:?}");
        let empty = scorer.score_world("", &unit("red"));
        assert_eq!(
            empty.failure.as_ref().map(|f| f.kind),
            Some(FailureKind::Description)
        );
        let good = scorer.score_world("red", &unit("red"));
        let wrong = scorer.score_world("blue squares", &unit("red"));
        let summary = summarize(&[dead, empty, good.clone(), wrong.clone()], 0.95);
        assert_eq!(
            (
                summary.total,
                summary.scored,
                summary.dead,
                summary.failed_description
            ),
            (4, 2, 1, 1)
        );
        // Means over good, wrong and the failed description at chance (0).
        let want = (good.pearson.unwrap_or(0.0) + wrong.pearson.unwrap_or(0.0)) / 3.0;
        assert!(
            summary
                .pearson
                .is_some_and(|p| (p.mean - want).abs() < 1e-12 && p.n == 3)
        );
        assert_eq!(summary.mean_pos.map(|m| m.n), Some(2));
    }

    #[test]
    fn repeated_prompts_are_drawn_with_different_seeds() {
        let (renderer, scorer) = scorer(2);
        let prompts = PromptSet {
            positive: vec!["a red circle".into(), "a red circle".into()],
            neutral: vec!["a blue square".into(), "a green star".into()],
            ..PromptSet::default()
        };
        let score = scorer.score_prompts("red circles", "test", &prompts, &unit("red & circle"));
        assert!(score.is_scored(), "{score:?}");
        let seeds = renderer.seeds.lock().unwrap_or_else(|p| p.into_inner());
        // Two evaluation calls (first and second occurrence) and the probe call.
        assert_eq!(seeds.len(), 3, "{seeds:?}");
        let drawn = renderer.drawn.lock().unwrap_or_else(|p| p.into_inner());
        let repeats: Vec<_> = drawn
            .iter()
            .filter(|(_, prompt, _)| prompt == "a red circle")
            .collect();
        assert_eq!(repeats.len(), 2, "{drawn:?}");
        assert_ne!(
            repeats[0].0, repeats[1].0,
            "the two draws of one prompt used one seed"
        );
        assert_ne!(
            repeats[0].2, repeats[1].2,
            "the two draws of one prompt are the same scene"
        );
    }

    #[test]
    fn failed_scores_serialize_and_read_back() {
        let (_, scorer) = scorer(2);
        let score = scorer.score_world("círculos rojos", &unit("red"));
        let json = serde_json::to_string(&score).unwrap_or_default();
        assert!(json.contains("\"kind\":\"description\""), "{json}");
        let back: Score = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, score);
    }
}
