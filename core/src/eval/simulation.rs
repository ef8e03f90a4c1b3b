//! Dataset simulation (OpenAI's neuron-explainer; "Linear Explanations"): a simulator rates,
//! for held-out dataset images, how well the description applies to each, and the score
//! is the correlation of those ratings with the unit's activations — over the top-activating
//! half, the random half, and both together. It needs no image generator, so it works
//! wherever a real data set does.

use super::evaluator::{WorldEvaluator, check_description};
use super::{Failure, FailureKind, metrics};
use crate::llm::{ImagePart, LlmBackend, LlmRequest, Message, Part};
use maia_plugin_sdk::Image;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A simulator's ratings, one per image, in order.
pub type SimFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<f64>, Failure>> + Send + 'a>>;

/// Rates how well a description applies to images.
pub trait Simulator: Send + Sync {
    /// Short name for results (`world`, `llm:openai/gpt-4o`).
    fn name(&self) -> &str;

    /// One rating per image (higher: the description applies more).
    fn rate<'a>(&'a self, description: &'a str, images: &'a [Image]) -> SimFuture<'a>;
}

/// The shapes world's simulator: 1 when the description's concept is in the image's scene,
/// else 0 (images must carry their scene, as shapes-world images do).
pub struct WorldSimulator;

impl Simulator for WorldSimulator {
    fn name(&self) -> &str {
        "world"
    }

    fn rate<'a>(&'a self, description: &'a str, images: &'a [Image]) -> SimFuture<'a> {
        Box::pin(async move {
            check_description(description)?;
            let reading = WorldEvaluator.read(description)?;
            images
                .iter()
                .map(|image| {
                    let scene = crate::target::scene_of(image).map_err(|e| {
                        Failure::new(
                            FailureKind::Evaluator,
                            format!("the world simulator reads shapes-world images only: {e}"),
                        )
                    })?;
                    Ok(f64::from(u8::from(reading.concept.present_in(&scene))))
                })
                .collect()
        })
    }
}

/// Images per request to a language-model simulator.
pub const IMAGES_PER_REQUEST: usize = 8;

const INSTRUCTIONS: &str = "You simulate a unit of a vision model from a description of what \
makes it fire. For each image you are shown, rate from 0 (the description does not apply at \
all) to 10 (it applies fully) how strongly the unit would fire. Reply with only a JSON object \
{\"ratings\": [...]} holding one number per image, in the order shown.";

/// A vision-language model as simulator: shown the images (a few per request) and the
/// description, it rates each from 0 to 10. A reply that is not the JSON asked for is asked
/// again once; a second is a failure keeping both replies.
pub struct LlmSimulator {
    backend: Arc<dyn LlmBackend>,
    name: String,
}

impl LlmSimulator {
    /// A simulator on `backend`.
    pub fn new(backend: Arc<dyn LlmBackend>) -> Self {
        let name = format!("llm:{}/{}", backend.name(), backend.model());
        LlmSimulator { backend, name }
    }

    async fn rate_batch(&self, description: &str, images: &[Image]) -> Result<Vec<f64>, Failure> {
        let mut parts = vec![Part::Text(format!(
            "Description of the unit: {}\n\n{} images follow; rate each.",
            description.trim(),
            images.len()
        ))];
        for (i, image) in images.iter().enumerate() {
            parts.push(Part::Text(format!("Image {}:", i + 1)));
            parts.push(Part::Image(ImagePart {
                id: format!("image_{}", i + 1),
                png: Arc::new(image.png.clone()),
            }));
        }
        let mut messages = vec![Message::User(parts)];
        let mut log = Vec::new();
        let mut last = String::new();
        for attempt in 1..=2 {
            let request = LlmRequest {
                system: INSTRUCTIONS.to_owned(),
                messages: messages.clone(),
                tools: Vec::new(),
                max_output_tokens: 512,
                temperature: Some(0.0),
                reply_schema: None,
            };
            let text = crate::llm::complete(self.backend.as_ref(), request)
                .await
                .map_err(|e| {
                    Failure::new(
                        FailureKind::Evaluator,
                        format!("the simulator backend {} failed: {e}", self.name),
                    )
                })?
                .text;
            log.push(format!("reply {attempt}: {text}"));
            match parse_ratings(&text, images.len()) {
                Ok(ratings) => return Ok(ratings),
                Err(e) => {
                    messages.push(Message::Assistant {
                        text,
                        tool_calls: Vec::new(),
                    });
                    messages.push(Message::User(vec![Part::Text(format!(
                        "That reply could not be used: {e}. Reply with only {{\"ratings\": [...]}} \
                         holding exactly {} numbers from 0 to 10.",
                        images.len()
                    ))]));
                    last = e;
                }
            }
        }
        Err(Failure::new(
            FailureKind::Evaluator,
            format!(
                "the simulator {} replied twice without the ratings asked for; last problem: {last}",
                self.name
            ),
        )
        .with_log(log))
    }
}

impl Simulator for LlmSimulator {
    fn name(&self) -> &str {
        &self.name
    }

    fn rate<'a>(&'a self, description: &'a str, images: &'a [Image]) -> SimFuture<'a> {
        Box::pin(async move {
            check_description(description)?;
            let mut ratings = Vec::with_capacity(images.len());
            for batch in images.chunks(IMAGES_PER_REQUEST) {
                ratings.extend(self.rate_batch(description, batch).await?);
            }
            Ok(ratings)
        })
    }
}

/// Reads `{"ratings": [numbers]}` (the first `{` to the last `}`) with exactly `n` numbers
/// from 0 to 10.
pub fn parse_ratings(text: &str, n: usize) -> Result<Vec<f64>, String> {
    let (Some(start), Some(end)) = (text.find('{'), text.rfind('}')) else {
        return Err("no JSON object in the reply".into());
    };
    if end < start {
        return Err("no JSON object in the reply".into());
    }
    let value: serde_json::Value =
        serde_json::from_str(&text[start..=end]).map_err(|e| format!("not JSON: {e}"))?;
    let ratings: Vec<f64> = value
        .get("ratings")
        .and_then(serde_json::Value::as_array)
        .ok_or("no `ratings` list")?
        .iter()
        .map(|v| v.as_f64().ok_or("a rating is not a number"))
        .collect::<Result<_, _>>()?;
    if ratings.len() != n {
        return Err(format!("{} ratings for {n} images", ratings.len()));
    }
    if let Some(r) = ratings.iter().find(|r| !(0.0..=10.0).contains(*r)) {
        return Err(format!("rating {r} is outside 0..10"));
    }
    Ok(ratings)
}

/// One held-out image of a simulation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimulatedImage {
    /// Its dataset file.
    pub file: String,
    /// From the top-activating half (else the random half).
    pub top: bool,
    /// The unit's activation.
    pub activation: f64,
    /// The simulator's rating.
    pub rating: f64,
}

/// A description's simulation score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Simulation {
    /// The description.
    pub description: String,
    /// Who rated.
    pub simulator: String,
    /// Correlation of ratings with activations on the top-activating images.
    pub top: Option<f64>,
    /// On the random images.
    pub random: Option<f64>,
    /// On both together (the headline number).
    pub all: Option<f64>,
    /// Why it could not be scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// The images (left out of suite results).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<SimulatedImage>,
}

/// The images a simulation rates: the `n` most activating after the `shown` exemplars
/// the agent saw, then `n` random others — read once, rated for every description.
#[derive(Clone, Default)]
pub struct HeldOut {
    /// Each image's dataset file.
    pub files: Vec<String>,
    /// The images, the top-activating half first.
    pub images: Vec<Image>,
    /// The unit's activation on each.
    pub activations: Vec<f32>,
    /// How many lead from the top-activating half.
    pub tops: usize,
}

impl HeldOut {
    /// Reads the held-out images of a unit from `dataset`: `ranked` is its exemplar list
    /// (highest first, at least `shown + n` long for a full top half); the random half is
    /// drawn with `seed` from the images not in `ranked` and run through `unit`.
    pub fn read(
        dataset: &crate::dataset::Dataset,
        ranked: &[crate::exemplars::Exemplar],
        shown: usize,
        n: usize,
        seed: u64,
        unit: &dyn super::UnitProbe,
    ) -> Result<HeldOut, Failure> {
        let load = |index: usize| {
            dataset.image(index).map_err(|e| {
                Failure::new(
                    FailureKind::Unit,
                    format!("reading {}: {e}", dataset.file_name(index)),
                )
            })
        };
        let mut held = HeldOut::default();
        for e in ranked.iter().skip(shown).take(n) {
            held.files.push(e.file.clone());
            held.images.push(load(e.index)?);
            held.activations.push(e.activation);
        }
        held.tops = held.images.len();
        let taken: std::collections::BTreeSet<usize> = ranked.iter().map(|e| e.index).collect();
        let picked = crate::dataset::sample::sample_indices(dataset.len(), n, seed, &taken);
        let random: Vec<Image> = picked.iter().map(|&i| load(i)).collect::<Result<_, _>>()?;
        held.activations.extend(unit.activations(&random)?);
        held.files
            .extend(picked.iter().map(|&i| dataset.file_name(i)));
        held.images.extend(random);
        Ok(held)
    }
}

impl Simulation {
    /// A simulation of `description` that could not be made.
    pub fn failed(description: &str, simulator: &str, failure: Failure) -> Self {
        Simulation {
            description: description.to_owned(),
            simulator: simulator.to_owned(),
            top: None,
            random: None,
            all: None,
            failure: Some(failure),
            images: Vec::new(),
        }
    }
}

/// Rates the `held` images with `simulator` and correlates the ratings with the unit's
/// activations, per half and together.
pub async fn simulate(description: &str, simulator: &dyn Simulator, held: &HeldOut) -> Simulation {
    let ratings = match simulator.rate(description, &held.images).await {
        Ok(r) => r,
        Err(failure) => return Simulation::failed(description, simulator.name(), failure),
    };
    let tops = held.tops;
    let acts: Vec<f64> = held.activations.iter().map(|&a| f64::from(a)).collect();
    Simulation {
        description: description.to_owned(),
        simulator: simulator.name().to_owned(),
        top: correlation(&ratings[..tops], &acts[..tops]),
        random: correlation(&ratings[tops..], &acts[tops..]),
        all: correlation(&ratings, &acts),
        failure: None,
        images: held
            .files
            .iter()
            .zip(&acts)
            .zip(&ratings)
            .enumerate()
            .map(|(i, ((file, &activation), &rating))| SimulatedImage {
                file: file.clone(),
                top: i < tops,
                activation,
                rating,
            })
            .collect(),
    }
}

/// Pearson's r; 0 when the ratings are constant but the activations vary (the description
/// predicts none of the variation), `None` when the activations are constant.
fn correlation(ratings: &[f64], acts: &[f64]) -> Option<f64> {
    let varies = |xs: &[f64]| xs.iter().any(|x| (x - xs[0]).abs() > 1e-9);
    match metrics::pearson(ratings, acts) {
        Some(r) => Some(r),
        None if acts.len() >= 2 && varies(acts) && !varies(ratings) => Some(0.0),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_ratings_predict_nothing() {
        assert_eq!(correlation(&[0.0, 0.0, 0.0], &[0.1, 0.9, 0.5]), Some(0.0));
        assert_eq!(correlation(&[0.0, 1.0], &[0.5, 0.5]), None);
        let r = correlation(&[0.0, 1.0, 1.0], &[0.1, 0.8, 0.9]).unwrap_or_default();
        assert!(r > 0.9, "{r}");
    }

    #[test]
    fn ratings_are_read_strictly() {
        assert_eq!(
            parse_ratings("ok {\"ratings\": [0, 7.5, 10]}", 3),
            Ok(vec![0.0, 7.5, 10.0])
        );
        assert!(parse_ratings("{\"ratings\": [1, 2]}", 3).is_err());
        assert!(parse_ratings("{\"ratings\": [11]}", 1).is_err());
        assert!(parse_ratings("seven", 1).is_err());
    }
}
