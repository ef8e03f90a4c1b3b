//! `call_classifier`: a classifier's verdict on images — the probability of the class
//! under study and the top prediction — for bias-finding tasks (MAIA's classifier
//! `System`). The classifier is a layer of class logits (e.g. the world CNN's
//! `shape_logits`); its softmax is taken here.

use crate::target::TargetModel;
use maia_plugin_sdk::{Host, ImageId, Manifest, Plugin, ToolCall, ToolError, ToolOutput, ToolSpec};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// Most images one call may take.
pub const MAX_IMAGES: usize = 64;

/// The `call_classifier` tool over one logits layer and one class.
pub struct CallClassifier {
    model: Arc<dyn TargetModel>,
    layer: String,
    class: usize,
    names: Vec<String>,
}

impl CallClassifier {
    /// Class `class` of the logits layer `layer`. Fails if the layer does not exist or
    /// the class is out of range.
    pub fn new(model: Arc<dyn TargetModel>, layer: &str, class: usize) -> Result<Self, ToolError> {
        let info = model
            .info()
            .layer(layer)
            .ok_or_else(|| ToolError::invalid_args(format!("the model has no layer `{layer}`")))?;
        if class >= info.units {
            return Err(ToolError::invalid_args(format!(
                "class {class} is out of range: `{layer}` has {} classes",
                info.units
            )));
        }
        let units = info.units;
        Ok(CallClassifier {
            model,
            layer: layer.to_owned(),
            class,
            names: class_names(layer, units),
        })
    }

    /// The name of the class under study.
    pub fn class_name(&self) -> &str {
        &self.names[self.class]
    }
}

/// Names of a logits layer's classes: the shapes world's shapes or colours for the world
/// CNN's heads, `class N` otherwise.
pub fn class_names(layer: &str, units: usize) -> Vec<String> {
    let known: Vec<String> = match layer {
        "shape_logits" => maia_shapes_world::Shape::ALL
            .iter()
            .map(|s| s.name().to_owned())
            .collect(),
        "color_logits" => maia_shapes_world::Color::ALL
            .iter()
            .map(|c| c.name().to_owned())
            .collect(),
        _ => Vec::new(),
    };
    if known.len() == units {
        known
    } else {
        (0..units).map(|i| format!("class {i}")).collect()
    }
}

#[derive(Deserialize)]
struct Args {
    image_ids: Vec<ImageId>,
}

impl Plugin for CallClassifier {
    fn manifest(&self) -> Manifest {
        Manifest::new(
            "builtin-classifier",
            env!("CARGO_PKG_VERSION"),
            "The target classifier",
        )
    }

    fn tools(&self) -> Vec<ToolSpec> {
        vec![
            ToolSpec::new(
                "call_classifier",
                format!(
                    "Runs the classifier on images and returns, for each, the probability it gives class `{}` and its top prediction. Use it to find the inputs of that class it gets wrong.",
                    self.class_name()
                ),
                json!({
                    "type": "object",
                    "properties": {
                        "image_ids": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": MAX_IMAGES, "description": "Images to classify, by id"}
                    },
                    "required": ["image_ids"],
                    "additionalProperties": false
                }),
            )
            .returns("one line per image: id, P(class), top prediction")
            .example(json!({"image_ids": ["img_1"]})),
        ]
    }

    fn call(&mut self, call: &ToolCall, host: &mut dyn Host) -> Result<ToolOutput, ToolError> {
        let args: Args = call.parse_args()?;
        let images = args
            .image_ids
            .iter()
            .map(|id| host.image(id))
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&maia_plugin_sdk::Image> = images.iter().collect();
        let units: Vec<usize> = (0..self.names.len()).collect();
        let maps = self
            .model
            .activations(&refs, &self.layer, &units)
            .map_err(|e| ToolError::failed(e.to_string()))?;
        let mut lines = Vec::with_capacity(images.len());
        let mut rows = Vec::with_capacity(images.len());
        for (id, per_unit) in args.image_ids.iter().zip(maps) {
            let logits: Vec<f64> = per_unit.iter().map(|m| f64::from(m.max())).collect();
            let probs = softmax(&logits);
            let (top, top_p) =
                probs
                    .iter()
                    .copied()
                    .enumerate()
                    .fold(
                        (0, f64::MIN),
                        |best, (i, p)| if p > best.1 { (i, p) } else { best },
                    );
            let p = probs.get(self.class).copied().unwrap_or(0.0);
            lines.push(format!(
                "{id}: P({}) = {p:.3}; predicted {} ({top_p:.3})",
                self.class_name(),
                self.names[top]
            ));
            rows.push(json!({"image": id, "class_probability": p, "predicted": self.names[top], "predicted_probability": top_p, "correct": top == self.class}));
        }
        Ok(ToolOutput::text(lines.join("\n")).with_data(json!(rows)))
    }
}

fn softmax(logits: &[f64]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f64::MIN, f64::max);
    let exps: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.iter()
        .map(|e| e / sum.max(f64::MIN_POSITIVE))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let p = softmax(&[2.0, 1.0, -1.0]);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(p[0] > p[1] && p[1] > p[2]);
        assert_eq!(
            class_names("shape_logits", 9)[0],
            maia_shapes_world::Shape::ALL[0].name()
        );
        assert_eq!(class_names("logits", 3), ["class 0", "class 1", "class 2"]);
    }
}
