//! `--target` / `--unit`: the model and unit that `call_unit` probes.

use anyhow::{Result, bail};
use maia_core::ImageStore;
use maia_core::target::{TargetUnit, UnitRef, open_target};
use std::sync::Arc;

/// Which target unit tools reach through `call_unit`.
#[derive(clap::Args, Debug, Clone)]
pub struct TargetArgs {
    /// The model whose unit is probed: `synthetic:NAME` (see `maia world units`), a concept
    /// expression such as 'synthetic:(circle|star) & !red', or `synthetic:all`.
    #[arg(long, value_name = "SPEC")]
    pub target: Option<String>,
    /// The unit, as LAYER:UNIT (e.g. `synthetic:0`); default: the target's only unit.
    #[arg(long, value_name = "LAYER:UNIT", requires = "target")]
    pub unit: Option<String>,
}

impl TargetArgs {
    /// Opens the target and picks the unit, or `None` without `--target`.
    pub fn open(&self, store: Arc<ImageStore>) -> Result<Option<TargetUnit>> {
        let Some(spec) = &self.target else {
            return Ok(None);
        };
        let model: Arc<dyn maia_core::target::TargetModel> = Arc::from(open_target(spec)?);
        let unit = match &self.unit {
            Some(text) => text.parse::<UnitRef>()?,
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
}
