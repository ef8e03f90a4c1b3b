//! `layer:unit` addresses, checked against a model.

use super::{ModelInfo, TargetError};
use std::fmt;
use std::str::FromStr;

/// A unit of a target model: its layer and index (`layer3:42`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct UnitRef {
    /// Layer name.
    pub layer: String,
    /// Unit (channel) index within the layer.
    pub unit: usize,
}

impl fmt::Display for UnitRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.layer, self.unit)
    }
}

impl FromStr for UnitRef {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            TargetError::Unit(format!(
                "`{s}` is not a unit address; write LAYER:UNIT, e.g. `layer3:42`"
            ))
        };
        let (layer, unit) = s.trim().rsplit_once(':').ok_or_else(bad)?;
        let unit = unit.parse::<usize>().map_err(|_| bad())?;
        if layer.is_empty() {
            return Err(bad());
        }
        Ok(UnitRef {
            layer: layer.to_owned(),
            unit,
        })
    }
}

impl UnitRef {
    /// Checks the address against a model, naming the layers or the unit range on a miss.
    pub fn validate(&self, info: &ModelInfo) -> Result<(), TargetError> {
        let Some(layer) = info.layer(&self.layer) else {
            if let Some(base) = self.layer.strip_suffix(":sae")
                && info.layer(base).is_some()
            {
                return Err(TargetError::Unit(format!(
                    "`{}:{}` is a latent of a sparse autoencoder over {base}: give the SAE with --sae DIR (SAELens layout: cfg.json and sae_weights.safetensors)",
                    self.layer, self.unit
                )));
            }
            if let Some(base) = self.layer.strip_suffix(":dir")
                && info.layer(base).is_some()
            {
                return Err(TargetError::Unit(format!(
                    "`{}:{}` is a direction over {base}: give the directions with --directions FILE (a safetensors file of named vectors, or a .npy vector)",
                    self.layer, self.unit
                )));
            }
            if let Some(base) = self.layer.strip_suffix(":cls")
                && info.layer(base).is_some()
            {
                return Err(TargetError::Unit(format!(
                    "{base} has no class token (`{base}:cls`): its output is not transformer tokens with a class token before the patches; address its units as {base}:UNIT"
                )));
            }
            let names: Vec<String> = info
                .layers
                .iter()
                .map(|l| format!("{} ({} units)", l.name, l.units))
                .collect();
            return Err(TargetError::Unit(format!(
                "{} has no layer `{}`; its layers: {}",
                info.name,
                self.layer,
                names.join(", ")
            )));
        };
        if self.unit >= layer.units {
            return Err(TargetError::Unit(format!(
                "unit {} out of range for {} (0..{}); run 'maia model info {}' to list layers",
                self.unit, self.layer, layer.units, info.name
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::LayerInfo;
    use super::*;

    fn info() -> ModelInfo {
        ModelInfo {
            name: "m.pt".into(),
            kind: "torch".into(),
            input_size: 64,
            device: "cpu".into(),
            layers: vec![LayerInfo {
                name: "layer3".into(),
                units: 256,
                map_height: 8,
                map_width: 8,
                tokens: None,
                unit_names: Vec::new(),
            }],
        }
    }

    #[test]
    fn parses_and_validates() {
        let unit: UnitRef = "layer3:42".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            unit,
            UnitRef {
                layer: "layer3".into(),
                unit: 42
            }
        );
        assert!(unit.validate(&info()).is_ok());
        assert_eq!(unit.to_string(), "layer3:42");
    }

    #[test]
    fn misses_list_layers_or_the_range() {
        let far: UnitRef = "layer3:900".parse().unwrap_or_else(|e| panic!("{e}"));
        let msg = far
            .validate(&info())
            .map_err(|e| e.to_string())
            .err()
            .unwrap_or_default();
        assert!(
            msg.contains("unit 900 out of range for layer3 (0..256)"),
            "{msg}"
        );
        let wrong: UnitRef = "layer9:1".parse().unwrap_or_else(|e| panic!("{e}"));
        let msg = wrong
            .validate(&info())
            .map_err(|e| e.to_string())
            .err()
            .unwrap_or_default();
        assert!(
            msg.contains("no layer `layer9`") && msg.contains("layer3 (256 units)"),
            "{msg}"
        );
        let cls: UnitRef = "layer3:cls:2".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cls.layer, "layer3:cls");
        let msg = cls
            .validate(&info())
            .map_err(|e| e.to_string())
            .err()
            .unwrap_or_default();
        assert!(msg.contains("layer3 has no class token"), "{msg}");
        for bad in ["layer3", "layer3:x", ":4", "layer3:-1"] {
            assert!(bad.parse::<UnitRef>().is_err(), "{bad}");
        }
    }
}
