//! `--units`: which units of the target a batch covers.
//!
//! A comma-separated list of `LAYER:N` (one unit), `LAYER:NAME` (a named unit, such as a
//! direction), `LAYER:A..B` (units A to B-1) and `LAYER:*` (every unit of the layer), checked against the target's layers: a missing
//! layer is named with the list of real ones, a range past the layer's end names its size,
//! and an empty range is an error rather than a batch of nothing. Repeated units are kept
//! once, in first-mention order.

use super::BatchError;
use crate::target::{ModelInfo, UnitRef};
use std::collections::HashSet;

/// The units `spec` names in the model `info` describes, in order, each once.
pub fn parse_units(spec: &str, info: &ModelInfo) -> Result<Vec<UnitRef>, BatchError> {
    let bad = |msg: String| BatchError::Units(msg);
    let layers = || {
        info.layers
            .iter()
            .map(|l| format!("{} (0..{})", l.name, l.units))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let items: Vec<&str> = spec
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if items.is_empty() {
        return Err(bad(format!(
            "--units is empty; name units as LAYER:N, LAYER:A..B or LAYER:*, e.g. `{}`",
            info.layers
                .first()
                .map(|l| format!("{}:0..{}", l.name, l.units.min(8)))
                .unwrap_or_else(|| "layer3:0..8".into())
        )));
    }
    for item in items {
        let (layer, which) = item.rsplit_once(':').ok_or_else(|| {
            bad(format!(
                "`{item}` is not a unit spec: write LAYER:N, LAYER:A..B or LAYER:* (layers of {}: {})",
                info.name,
                layers()
            ))
        })?;
        let Some(found) = info.layer(layer) else {
            return Err(bad(format!(
                "{} has no layer `{layer}` (in `{item}`); its layers: {}; see `maia model info {}`",
                info.name,
                layers(),
                info.name
            )));
        };
        let n = found.units;
        let number = |s: &str| -> Result<usize, BatchError> {
            s.trim().parse::<usize>().map_err(|_| {
                bad(format!(
                    "`{item}`: `{s}` is not a unit number; write LAYER:N, LAYER:A..B or LAYER:*"
                ))
            })
        };
        let range = if which.trim() == "*" {
            0..n
        } else if let Some((a, b)) = which.split_once("..") {
            let (a, b) = (number(a)?, number(b)?);
            if a >= b {
                return Err(bad(format!(
                    "`{item}` is an empty range ({a}..{b} holds no unit: ranges are half-open, A..B is A to B-1)"
                )));
            }
            if b > n {
                return Err(bad(format!(
                    "`{item}` runs past the end of {layer}, which has {n} units (0..{n})"
                )));
            }
            a..b
        } else {
            let u = match found
                .unit_names
                .iter()
                .position(|name| name == which.trim())
            {
                Some(named) => named,
                None if !found.unit_names.is_empty() && which.trim().parse::<usize>().is_err() => {
                    return Err(bad(format!(
                        "`{item}`: {layer} has no unit named `{which}`; its units: {}",
                        found.unit_names.join(", ")
                    )));
                }
                None => number(which)?,
            };
            if u >= n {
                return Err(bad(format!(
                    "unit {u} out of range for {layer} (0..{n}); run 'maia model info {}' to list layers",
                    info.name
                )));
            }
            u..u + 1
        };
        if range.is_empty() {
            return Err(bad(format!("`{item}`: layer {layer} has no units")));
        }
        for unit in range {
            let r = UnitRef {
                layer: layer.to_owned(),
                unit,
            };
            if seen.insert(r.clone()) {
                out.push(r);
            }
        }
    }
    Ok(out)
}

/// The run folder name of a unit: its address with every character but letters, digits,
/// `_` and `.` turned into `-` (`layer3:42` → `layer3-42`); the eval suite names its runs
/// the same way.
pub fn unit_slug(unit: &UnitRef) -> String {
    unit.to_string()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::LayerInfo;

    fn info() -> ModelInfo {
        let layer = |name: &str, units| LayerInfo {
            name: name.into(),
            units,
            map_height: 4,
            map_width: 4,
            tokens: None,
            unit_names: Vec::new(),
        };
        ModelInfo {
            name: "m.pt".into(),
            kind: "torch".into(),
            input_size: 64,
            device: "cpu".into(),
            layers: vec![layer("layer3", 512), layer("layer4", 4), layer("a:b", 2)],
        }
    }

    fn names(spec: &str) -> Vec<String> {
        parse_units(spec, &info())
            .unwrap_or_else(|e| panic!("{spec}: {e}"))
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn error(spec: &str) -> String {
        match parse_units(spec, &info()) {
            Ok(u) => panic!("{spec} parsed to {u:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn singles_ranges_and_stars() {
        assert_eq!(
            names("layer4:*"),
            ["layer4:0", "layer4:1", "layer4:2", "layer4:3"]
        );
        assert_eq!(
            names("layer3:5..7, layer4:1"),
            ["layer3:5", "layer3:6", "layer4:1"]
        );
        assert_eq!(names("layer3:0..512").len(), 512);
        assert_eq!(names("layer3:0..512,layer4:*").len(), 516);
        // Repeats are kept once, in first-mention order; layer names may hold colons.
        assert_eq!(names("layer4:2,layer4:1..3"), ["layer4:2", "layer4:1"]);
        assert_eq!(names("a:b:1"), ["a:b:1"]);
    }

    #[test]
    fn bad_specs_say_what_to_write() {
        assert!(error("layer3:5..5").contains("empty range"));
        assert!(error("layer3:7..5").contains("empty range"));
        assert!(error("").contains("--units is empty"));
        assert!(error(" , ").contains("--units is empty"));
        let missing = error("layer9:*");
        assert!(missing.contains("no layer `layer9`"), "{missing}");
        assert!(missing.contains("layer3 (0..512)") && missing.contains("layer4 (0..4)"));
        assert!(error("layer4:0..5").contains("has 4 units"));
        assert!(error("layer4:4").contains("unit 4 out of range for layer4 (0..4)"));
        assert!(error("layer4:x").contains("not a unit number"));
        assert!(error("layer4").contains("not a unit spec"));
    }

    #[test]
    fn slugs_are_folder_names() {
        let u = UnitRef {
            layer: "layer3.0/conv".into(),
            unit: 42,
        };
        assert_eq!(unit_slug(&u), "layer3.0-conv-42");
    }
}
