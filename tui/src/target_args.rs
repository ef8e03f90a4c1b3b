//! `--target` / `--unit`: the model and unit that `call_unit` probes.

use anyhow::{Result, bail};
use maia_core::ImageStore;
use maia_core::ToolRegistry;
use maia_core::builtin::DatasetExemplars;
use maia_core::exemplars::DEFAULT_K;
use maia_core::target::{TargetUnit, TorchOptions, UnitRef, open_target_with};
use maia_core::tools::InProcess;
use std::path::PathBuf;
use std::sync::Arc;

/// Which target unit tools reach through `call_unit`.
#[derive(clap::Args, Debug, Clone)]
pub struct TargetArgs {
    /// The model whose unit is probed: `torch:MODEL.pt` (with its sidecar), `synthetic:NAME`
    /// (see `maia world units`), a concept expression such as 'synthetic:(circle|star) & !red',
    /// or `synthetic:all`.
    #[arg(long, value_name = "SPEC")]
    pub target: Option<String>,
    /// The unit, as LAYER:UNIT (e.g. `synthetic:0`); default: the target's only unit.
    #[arg(long, value_name = "LAYER:UNIT", requires = "target")]
    pub unit: Option<String>,
    /// Where a torch model runs: cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Run a torch model in float16 (CUDA only).
    #[arg(long)]
    pub half: bool,
    /// Data set for the dataset_exemplars tool: JPEG, PNG or WebP images in a folder (flat or class folders at any depth), a text file listing image paths, or WebDataset tar shards ('shards/{000000..000099}.tar' or a folder of .tar files); e.g. made by `maia world dataset`.
    #[arg(long, value_name = "DATA", requires = "target")]
    pub data: Option<PathBuf>,
    /// Exemplars kept per unit (1 to 1000).
    #[arg(long, default_value_t = DEFAULT_K, value_parser = crate::agent_args::parse_k)]
    pub k: usize,
    /// Feature units: --sae and --directions.
    #[command(flatten)]
    pub features: crate::feature_args::FeatureArgs,
}

impl TargetArgs {
    /// Opens the target and picks the unit, or `None` without `--target`.
    pub fn open(&self, store: Arc<ImageStore>) -> Result<Option<TargetUnit>> {
        let Some(spec) = &self.target else {
            return Ok(None);
        };
        let model: Arc<dyn maia_core::target::TargetModel> = Arc::from(open_target_with(
            spec,
            &TorchOptions {
                device: self.device.clone(),
                half: self.half,
                sae: self.features.sae.clone(),
                directions: self.features.directions.clone(),
            },
        )?);
        let unit = match &self.unit {
            Some(text) => model.info().unit(text)?,
            None => {
                let info = model.info();
                match info.layers.as_slice() {
                    [layer] if layer.units == 1 => UnitRef {
                        layer: layer.name.clone(),
                        unit: 0,
                    },
                    layers => {
                        let names: Vec<String> = layers
                            .iter()
                            .map(|l| format!("{} (0..{})", l.name, l.units))
                            .collect();
                        bail!(
                            "{} has several units; pick one with --unit LAYER:UNIT from: {}",
                            info.name,
                            names.join(", ")
                        );
                    }
                }
            }
        };
        Ok(Some(TargetUnit::new(model, unit, store)?))
    }

    /// With `--data`, runs the exemplar pass for the unit's layer and registers the
    /// `dataset_exemplars` tool.
    pub fn register_exemplars(&self, unit: &TargetUnit, registry: &mut ToolRegistry) -> Result<()> {
        let Some(data) = &self.data else {
            return Ok(());
        };
        let found = crate::exemplar_pass::run_pass(
            unit.model().as_ref(),
            &unit.unit().layer,
            data,
            self.k,
            true,
        )?;
        registry.register(Box::new(InProcess::new(DatasetExemplars::new(
            unit.model().clone(),
            unit.unit().clone(),
            Arc::new(found),
        ))))?;
        Ok(())
    }
}
