//! `--target` values: which model to open.
//!
//! - `synthetic:NAME` — a catalogued synthetic unit (`maia world units` lists them);
//! - `synthetic:EXPR` — any concept expression, e.g. `synthetic:(circle|star) & !red`;
//! - `synthetic:all` — the whole catalogue as one layer, unit i = catalogue entry i.

use super::{SyntheticTarget, TargetError, TargetModel};
use maia_shapes_world::{SyntheticUnit, catalogue, lookup};

/// Opens the target a `--target` value names.
pub fn open_target(spec: &str) -> Result<Box<dyn TargetModel>, TargetError> {
    let spec = spec.trim();
    if let Some(rest) = spec.strip_prefix("synthetic:") {
        let rest = rest.trim();
        if rest.is_empty() {
            return Err(TargetError::Spec(
                "`synthetic:` needs a unit name or a concept expression, e.g. synthetic:red_and_circle or 'synthetic:(circle|star) & !red'".into(),
            ));
        }
        if rest == "all" {
            return Ok(Box::new(SyntheticTarget::new("synthetic:all", catalogue())));
        }
        if let Some(unit) = lookup(rest) {
            return Ok(Box::new(SyntheticTarget::new(
                format!("synthetic:{rest}"),
                vec![unit],
            )));
        }
        return match SyntheticUnit::from_expr(rest) {
            Ok(unit) => Ok(Box::new(SyntheticTarget::new(
                format!("synthetic:{}", unit.name),
                vec![unit],
            ))),
            Err(e) => Err(TargetError::Spec(format!(
                "`{rest}` is neither a catalogued synthetic unit (`maia world units` lists them) nor a concept expression: {e}"
            ))),
        };
    }
    Err(TargetError::Spec(format!(
        "cannot open target `{spec}`: expected synthetic:NAME or synthetic:EXPR (e.g. synthetic:red, 'synthetic:circle & !red')"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_expressions_and_the_catalogue_open() {
        let named = open_target("synthetic:red").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(named.info().layers[0].units, 1);
        let expr = open_target("synthetic:(circle|star) & !red").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(expr.info().kind, "synthetic");
        let all = open_target("synthetic:all").unwrap_or_else(|e| panic!("{e}"));
        assert!(all.info().layers[0].units >= 60);
    }

    #[test]
    fn bad_specs_say_what_is_accepted() {
        for (spec, needle) in [
            ("synthetic:", "needs a unit name"),
            ("synthetic:circle &", "nor a concept expression"),
            ("resnet.pt", "expected synthetic:NAME"),
        ] {
            let msg = open_target(spec)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(msg.contains(needle), "{spec}: {msg}");
        }
    }
}
