//! `dataset_exemplars`: the images of the dataset that make the target unit fire most,
//! with masks (MAIA's `System.dataset_exemplars`), from a precomputed exemplar pass.

use crate::dataset::class_label;
use crate::exemplars::LayerExemplars;
use crate::target::{TargetModel, UnitRef, format_activation};
use maia_plugin_sdk::contracts::{DatasetExemplarsArgs, DatasetExemplarsData, Exemplar};
use maia_plugin_sdk::{Host, Manifest, Plugin, ToolCall, ToolError, ToolOutput, ToolSpec};
use maia_shapes_world::{Scene, scene_to_prompt};
use serde_json::json;
use std::sync::Arc;

/// The `dataset_exemplars` tool for one unit.
pub struct DatasetExemplars {
    model: Arc<dyn TargetModel>,
    unit: UnitRef,
    exemplars: Arc<LayerExemplars>,
}

impl DatasetExemplars {
    /// Serves the exemplars of `unit` from a layer's exemplar pass.
    pub fn new(model: Arc<dyn TargetModel>, unit: UnitRef, exemplars: Arc<LayerExemplars>) -> Self {
        DatasetExemplars {
            model,
            unit,
            exemplars,
        }
    }
}

impl Plugin for DatasetExemplars {
    fn manifest(&self) -> Manifest {
        Manifest::new(
            "builtin-exemplars",
            env!("CARGO_PKG_VERSION"),
            "Dataset exemplars of the target unit",
        )
    }

    fn tools(&self) -> Vec<ToolSpec> {
        vec![
            ToolSpec::new(
                "dataset_exemplars",
                "Returns the dataset images that activate the target unit most, highest first, each with a mask that dims everything except where the unit fired. Start here: they show what the unit responds to in natural data.",
                DatasetExemplarsArgs::schema(self.exemplars.k),
            )
            .returns("one line per exemplar: rank, activation, file; the masked images; data.exemplars[] holds rank, image (position), file, activation and, for shapes-world datasets, the scene graph and a summary of what it shows")
            .example(json!({})),
        ]
    }

    fn call(&mut self, call: &ToolCall, _host: &mut dyn Host) -> Result<ToolOutput, ToolError> {
        let args: DatasetExemplarsArgs = call.parse_args()?;
        let masked = self
            .exemplars
            .masked_images(self.model.as_ref(), self.unit.unit)
            .map_err(|e| ToolError::failed(e.to_string()))?;
        let k = args.k.unwrap_or(masked.len()).min(masked.len());
        let mut output = ToolOutput::default();
        let mut lines = vec![format!(
            "top {k} of {} dataset images for {}:",
            self.exemplars.images - self.exemplars.skipped,
            self.unit
        )];
        let mut entries = Vec::with_capacity(k);
        for (rank, (e, image)) in masked.into_iter().take(k).enumerate() {
            // The class (folder name or words from the data set's mapping) is a strong
            // hint for real data: "3. activation 4.1 (n01443537/x.JPEG, goldfish)".
            let class = class_label(&image.meta)
                .map(|c| format!(", class {c}"))
                .unwrap_or_default();
            lines.push(format!(
                "{}. activation {} ({}{class})",
                rank + 1,
                format_activation(e.activation),
                e.file
            ));
            // Scene graphs of shapes-world datasets (absent for other data): in `data` for
            // programs and the offline experimenter; the image's meta already carries it,
            // so edit_images can edit an exemplar and synthetic units can read it.
            let scene = image.meta.get("scene").cloned();
            let summary = scene
                .as_ref()
                .and_then(|s| serde_json::from_value::<Scene>(s.clone()).ok())
                .map(|s| scene_to_prompt(&s));
            let text = |key: &str| {
                image
                    .meta
                    .get(key)
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            };
            entries.push(Exemplar {
                rank: rank + 1,
                image: rank + 1,
                file: e.file.clone(),
                class: text("class"),
                class_name: text("class_name"),
                activation: e.activation,
                summary,
                scene,
            });
            output.images.push(image);
        }
        output.text = lines.join("\n");
        output.data = serde_json::to_value(DatasetExemplarsData {
            unit: self.unit.to_string(),
            dataset_images: self.exemplars.images,
            exemplars: entries,
            layer_top_median: self.exemplars.median_top_activation(),
        })
        .map_err(|e| ToolError::failed(format!("describing the exemplars as JSON failed: {e}")))?;
        Ok(output)
    }
}
