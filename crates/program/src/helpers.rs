//! Statistics helpers programs get without a tool call: `mean`, `median`, `stdev`,
//! `correlation`, `argsort`. They run inside the worker and cost no round trip.

use crate::convert::type_name;
use monty_types::MontyObject;

/// The helpers' names and one-line signatures, for the prompt.
pub const HELPERS: &[(&str, &str)] = &[
    ("mean", "mean(xs) -> float"),
    ("median", "median(xs) -> float"),
    (
        "stdev",
        "stdev(xs) -> float (population standard deviation)",
    ),
    (
        "correlation",
        "correlation(xs, ys) -> float (Pearson's r; 0 when either is constant)",
    ),
    (
        "argsort",
        "argsort(xs, descending=False) -> list of indices that sort xs",
    ),
];

/// True when `name` is a helper.
pub fn is_helper(name: &str) -> bool {
    HELPERS.iter().any(|(n, _)| *n == name)
}

/// Runs a helper. `Err` is raised in the program as a `ValueError`.
pub fn call(
    name: &str,
    args: &[MontyObject],
    kwargs: &[(MontyObject, MontyObject)],
) -> Result<MontyObject, String> {
    let descending = kwargs.iter().any(|(k, v)| {
        matches!(k, MontyObject::String(s) if s == "descending")
            && matches!(v, MontyObject::Bool(true))
    });
    if let Some((key, _)) = kwargs.iter().find(|(k, _)| {
        !(name == "argsort" && matches!(k, MontyObject::String(s) if s == "descending"))
    }) {
        return Err(format!(
            "{name}() got an unexpected keyword argument {key:?}"
        ));
    }
    let wanted = if name == "correlation" { 2 } else { 1 };
    if args.len() != wanted {
        return Err(format!(
            "{name}() takes {wanted} list argument{}, got {}",
            if wanted == 1 { "" } else { "s" },
            args.len()
        ));
    }
    let xs = numbers(name, &args[0])?;
    Ok(match name {
        "mean" => MontyObject::Float(mean(nonempty(name, &xs)?)),
        "median" => MontyObject::Float(median(nonempty(name, &xs)?)),
        "stdev" => MontyObject::Float(stdev(nonempty(name, &xs)?)),
        "correlation" => {
            let ys = numbers(name, &args[1])?;
            if xs.len() != ys.len() || xs.len() < 2 {
                return Err(format!(
                    "correlation() needs two lists of the same length, at least 2 (got {} and {})",
                    xs.len(),
                    ys.len()
                ));
            }
            MontyObject::Float(correlation(&xs, &ys))
        }
        "argsort" => {
            let mut order: Vec<usize> = (0..xs.len()).collect();
            order.sort_by(|&a, &b| xs[a].total_cmp(&xs[b]));
            if descending {
                order.reverse();
            }
            MontyObject::List(
                order
                    .into_iter()
                    .map(|i| MontyObject::Int(i as i64))
                    .collect(),
            )
        }
        other => return Err(format!("{other} is not a helper")),
    })
}

fn numbers(name: &str, value: &MontyObject) -> Result<Vec<f64>, String> {
    let items = match value {
        MontyObject::List(items) | MontyObject::Tuple(items) => items,
        other => {
            return Err(format!(
                "{name}() takes a list of numbers, not {}",
                type_name(other)
            ));
        }
    };
    items
        .iter()
        .map(|item| match item {
            MontyObject::Int(i) => Ok(*i as f64),
            MontyObject::Float(f) => Ok(*f),
            MontyObject::Bool(b) => Ok(f64::from(u8::from(*b))),
            other => Err(format!(
                "{name}() takes a list of numbers; it holds a {}",
                type_name(other)
            )),
        })
        .collect()
}

fn nonempty<'a>(name: &str, xs: &'a [f64]) -> Result<&'a [f64], String> {
    if xs.is_empty() {
        Err(format!("{name}() of an empty list"))
    } else {
        Ok(xs)
    }
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

fn median(xs: &[f64]) -> f64 {
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

fn stdev(xs: &[f64]) -> f64 {
    let m = mean(xs);
    (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len() as f64).sqrt()
}

fn correlation(xs: &[f64], ys: &[f64]) -> f64 {
    let (mx, my) = (mean(xs), mean(ys));
    let cov: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let vx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    let vy: f64 = ys.iter().map(|y| (y - my).powi(2)).sum();
    if vx == 0.0 || vy == 0.0 {
        0.0
    } else {
        cov / (vx * vy).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(xs: &[f64]) -> MontyObject {
        MontyObject::List(xs.iter().map(|x| MontyObject::Float(*x)).collect())
    }

    fn float(v: MontyObject) -> f64 {
        match v {
            MontyObject::Float(f) => f,
            other => panic!("not a float: {other:?}"),
        }
    }

    #[test]
    fn statistics_match_their_definitions() {
        let xs = list(&[3.0, 1.0, 2.0, 10.0]);
        assert_eq!(
            float(call("mean", std::slice::from_ref(&xs), &[]).unwrap_or(MontyObject::None)),
            4.0
        );
        assert_eq!(
            float(call("median", std::slice::from_ref(&xs), &[]).unwrap_or(MontyObject::None)),
            2.5
        );
        let r = float(
            call(
                "correlation",
                &[xs.clone(), list(&[6.0, 2.0, 4.0, 20.0])],
                &[],
            )
            .unwrap_or(MontyObject::None),
        );
        assert!((r - 1.0).abs() < 1e-12);
        let desc = [(
            MontyObject::String("descending".into()),
            MontyObject::Bool(true),
        )];
        assert_eq!(
            call("argsort", &[xs], &desc).ok(),
            Some(MontyObject::List(vec![
                MontyObject::Int(3),
                MontyObject::Int(0),
                MontyObject::Int(2),
                MontyObject::Int(1)
            ]))
        );
    }

    #[test]
    fn bad_arguments_say_what_was_expected() {
        let err = call("mean", &[MontyObject::List(vec![])], &[]).expect_err("empty");
        assert!(err.contains("empty"), "{err}");
        let err = call("mean", &[MontyObject::String("x".into())], &[]).expect_err("str");
        assert!(err.contains("list of numbers"), "{err}");
        let err = call("correlation", &[list(&[1.0, 2.0]), list(&[1.0])], &[]).expect_err("len");
        assert!(err.contains("same length"), "{err}");
    }
}
