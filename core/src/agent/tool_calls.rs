//! Running one reply's tool calls: argument parsing, concurrent execution through the
//! registry, and turning each outcome into a journal event and a model-facing result.

use super::event::{Event, ImageRecord};
use crate::call_context::{CallContext, UnitCaller};
use crate::images::ImageStore;
use crate::llm::RequestedToolCall;
use crate::program::{InnerRecord, Limits, ProgramRun, RUN_PROGRAM};
use crate::tools::ToolRegistry;
use maia_plugin_sdk::{ImageId, ToolCall, ToolError, ToolOutput};
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;

/// The tool that ends a run.
pub const FINAL_ANSWER: &str = "final_answer";

/// The outcome of one call, as journaled.
#[derive(Clone, Debug)]
pub struct Finished {
    /// The [`Event::ToolFinished`] to journal.
    pub event: Event,
    /// `(description, label)` when this was a valid `final_answer`.
    pub answer: Option<(String, String)>,
    /// The alternatives a valid `final_answer` listed.
    pub alternatives: Vec<String>,
}

/// Everything a tool call needs, shareable with blocking worker threads.
#[derive(Clone)]
pub struct ToolContext {
    /// The tools.
    pub registry: Arc<ToolRegistry>,
    /// The run's images.
    pub store: Arc<ImageStore>,
    /// The target unit, if any.
    pub unit: Option<Arc<dyn UnitCaller>>,
    /// Dollars per image an image tool draws ([`IMAGE_TOOLS`]; 0: free).
    pub image_price_usd: f64,
}

/// The tools that draw images from the run's image source.
pub const IMAGE_TOOLS: [&str; 2] = ["text2image", "edit_images"];

impl ToolContext {
    /// Prices images by the configuration: `run.image_price_usd` when the image source is
    /// the `http` plugin (a paid API may be behind it), else free.
    pub fn with_image_price(mut self, config: &crate::config::Config) -> Self {
        self.image_price_usd = config.image_price();
        self
    }
}

/// Whether drawing `image` was paid for: not served from the image plugin's cache.
fn paid(image: &maia_plugin_sdk::Image) -> bool {
    image.meta.get("cached").and_then(Value::as_bool) != Some(true)
}

/// Parses a call's argument text: an empty string is `{}`; anything else must be JSON.
pub fn parse_args(call: &RequestedToolCall) -> Result<Value, String> {
    if call.arguments.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_str(&call.arguments).map_err(|e| {
        let shown: String = call.arguments.chars().take(200).collect();
        format!(
            "the arguments of `{}` are not valid JSON ({e}): {shown}",
            call.name
        )
    })
}

/// Runs one call to completion (blocking: call from a worker thread).
pub fn run_call(ctx: &ToolContext, round: u32, call: &RequestedToolCall) -> Finished {
    run_call_observed(ctx, round, call, &[], &mut |_| {})
}

/// [`run_call`], for a `run_program` call also replaying `replay` (the calls an earlier
/// attempt at it recorded) and showing `observer` each inner call it makes.
pub fn run_call_observed(
    ctx: &ToolContext,
    round: u32,
    call: &RequestedToolCall,
    replay: &[InnerRecord],
    observer: &mut dyn FnMut(&InnerRecord),
) -> Finished {
    let started = Instant::now();
    let mut drawn = 0usize;
    let mut counting = |record: &InnerRecord| {
        if IMAGE_TOOLS.contains(&record.name.as_str()) && record.error.is_none() {
            drawn += record
                .images
                .iter()
                .filter_map(|i| ctx.store.get(&ImageId::from(i.id.as_str())))
                .filter(|stored| paid(&stored.image))
                .count();
        }
        observer(record);
    };
    let result = parse_args(call)
        .map_err(ToolError::invalid_args)
        .and_then(reserve_evaluation_seeds)
        .and_then(|args| execute(ctx, call, args, replay, &mut counting));
    let elapsed_ms = started.elapsed().as_millis() as u64;
    match result {
        Ok(output) => {
            if IMAGE_TOOLS.contains(&call.name.as_str()) {
                drawn += output.images.iter().filter(|image| paid(image)).count();
            }
            let cost_usd = drawn as f64 * ctx.image_price_usd;
            let answer = (call.name == FINAL_ANSWER)
                .then(|| answer_of(&output.data))
                .flatten();
            let alternatives = match (&answer, output.data.get("alternatives")) {
                (Some(_), Some(Value::Array(items))) => items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            };
            let images = output
                .images
                .iter()
                .map(|img| ImageRecord {
                    id: img.id.to_string(),
                    hash: ctx.store.get(&img.id).map(|s| s.hash).unwrap_or_default(),
                    caption: img.caption.clone(),
                    activation: activation_of(&output.data, img.id.as_str()),
                })
                .collect::<Vec<_>>();
            let mut text = output.text.clone();
            for img in &images {
                text.push_str(&format!("\n[{}] {}", img.id, img.caption));
            }
            Finished {
                event: Event::ToolFinished {
                    round,
                    call_id: call.id.clone(),
                    name: call.name.clone(),
                    error: None,
                    text: text.trim_start().to_owned(),
                    images,
                    data: output.data,
                    elapsed_ms,
                    cost_usd,
                },
                answer,
                alternatives,
            }
        }
        Err(e) => {
            let unknown = ctx.registry.get(&call.name).is_none() && call.name != FINAL_ANSWER;
            Finished {
                event: Event::ToolFinished {
                    round,
                    call_id: call.id.clone(),
                    name: call.name.clone(),
                    error: Some(if unknown {
                        "unknown_tool".into()
                    } else {
                        e.kind.as_str().to_owned()
                    }),
                    text: format!("error ({}): {}", e.kind.as_str(), e.message),
                    images: Vec::new(),
                    data: Value::Null,
                    elapsed_ms,
                    cost_usd: 0.0,
                },
                answer: None,
                alternatives: Vec::new(),
            }
        }
    }
}

fn execute(
    ctx: &ToolContext,
    call: &RequestedToolCall,
    args: Value,
    replay: &[InnerRecord],
    observer: &mut dyn FnMut(&InnerRecord),
) -> Result<ToolOutput, ToolError> {
    let call = ToolCall::new(call.id.clone(), call.name.clone(), args);
    call_tool(
        &ctx.registry,
        &ctx.store,
        ctx.unit.as_deref(),
        &call,
        replay,
        observer,
    )
}

/// Runs one call through `registry` and stores the images it returns — the one way a
/// tool is called, whether the agent, a program or `maia call` asks. `run_program` (when
/// registered) runs as a program, replaying `replay` and showing `observer` each call it
/// makes; other tools ignore both.
pub fn call_tool(
    registry: &ToolRegistry,
    store: &ImageStore,
    unit: Option<&dyn UnitCaller>,
    call: &ToolCall,
    replay: &[InnerRecord],
    observer: &mut dyn FnMut(&InnerRecord),
) -> Result<ToolOutput, ToolError> {
    let mut output = if call.name == RUN_PROGRAM && registry.get(RUN_PROGRAM).is_some() {
        let program = ProgramRun {
            registry,
            store,
            unit,
            call_id: &call.id,
            replay,
            limits: Limits::default(),
        };
        program.run(&call.args, observer)?
    } else {
        let mut host = CallContext::new(store);
        if let Some(unit) = unit {
            host = host.with_unit(unit);
        }
        registry.call(call, &mut host)?
    };
    store.adopt_output(&mut output).map_err(|e| {
        ToolError::failed(format!("storing the images `{}` returned: {e}", call.name))
    })?;
    Ok(output)
}

/// Seeds from [`crate::eval::HELD_OUT_SEED_BASE`] up belong to evaluation, so that no
/// image a description is scored on is one the agent saw while writing it.
fn reserve_evaluation_seeds(args: Value) -> Result<Value, ToolError> {
    match args.get("seed").and_then(Value::as_u64) {
        Some(seed) if seed >= crate::eval::HELD_OUT_SEED_BASE => {
            Err(ToolError::invalid_args(format!(
                "seed {seed} is reserved: seeds from {} up are kept for evaluation; use a smaller seed",
                crate::eval::HELD_OUT_SEED_BASE
            )))
        }
        _ => Ok(args),
    }
}

fn answer_of(data: &Value) -> Option<(String, String)> {
    let description = data.get("description")?.as_str()?.trim().to_owned();
    let label = data
        .get("label")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_owned();
    (!description.is_empty()).then_some((description, label))
}

/// The unit's activation for an image, when a tool's data reports one: any object in the
/// data (at any depth) whose `image`, `mask` or `id` is this id and which has an
/// `activation` number.
pub fn activation_of(data: &Value, id: &str) -> Option<f64> {
    match data {
        Value::Array(items) => items.iter().find_map(|v| activation_of(v, id)),
        Value::Object(map) => {
            let names_it = ["image", "mask", "id", "image_id", "mask_id"]
                .iter()
                .any(|k| map.get(*k).and_then(Value::as_str) == Some(id));
            if names_it && let Some(a) = map.get("activation").and_then(Value::as_f64) {
                return Some(a);
            }
            map.values().find_map(|v| activation_of(v, id))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn activations_are_found_for_images_and_their_masks() {
        let data = json!([{"image": "img_1", "activation": 0.5, "mask": "img_3"}, {"image": "img_2", "activation": 0.1}]);
        assert_eq!(activation_of(&data, "img_3"), Some(0.5));
        assert_eq!(activation_of(&data, "img_2"), Some(0.1));
        assert_eq!(activation_of(&data, "img_9"), None);
    }

    #[test]
    fn evaluation_seeds_are_refused() {
        assert!(reserve_evaluation_seeds(json!({"seed": 7})).is_ok());
        let err = reserve_evaluation_seeds(json!({"seed": 1_000_000})).expect_err("reserved");
        assert!(err.message.contains("reserved"), "{}", err.message);
    }

    #[test]
    fn arguments_that_are_not_json_are_an_error_quoting_them() {
        let call = RequestedToolCall {
            id: "c".into(),
            name: "call_unit".into(),
            arguments: "{image_ids: [img_1]".into(),
        };
        let err = parse_args(&call).expect_err("not json");
        assert!(
            err.contains("call_unit") && err.contains("{image_ids"),
            "{err}"
        );
        let empty = RequestedToolCall {
            arguments: " ".into(),
            ..call
        };
        assert_eq!(parse_args(&empty), Ok(json!({})));
    }
}
