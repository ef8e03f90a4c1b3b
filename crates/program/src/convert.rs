//! Values across the sandbox wall: JSON on maia's side, monty objects on the program's.

use monty_types::MontyObject;
use serde_json::{Map, Number, Value};

/// A program value as JSON, for a tool's arguments or the program's result. Containers
/// become arrays and objects; dictionary keys must be strings or numbers.
pub fn to_json(object: &MontyObject) -> Result<Value, String> {
    Ok(match object {
        MontyObject::None => Value::Null,
        MontyObject::Bool(b) => Value::Bool(*b),
        MontyObject::Int(i) => Value::Number((*i).into()),
        MontyObject::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        MontyObject::String(s) => Value::String(s.clone()),
        MontyObject::List(items)
        | MontyObject::Tuple(items)
        | MontyObject::Set(items)
        | MontyObject::FrozenSet(items) => {
            Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?)
        }
        MontyObject::NamedTuple {
            field_names,
            values,
            ..
        } => {
            let mut map = Map::new();
            for (name, value) in field_names.iter().zip(values) {
                map.insert(name.clone(), to_json(value)?);
            }
            Value::Object(map)
        }
        MontyObject::Dict(pairs) => {
            let mut map = Map::new();
            for (key, value) in pairs.clone() {
                let key = match key {
                    MontyObject::String(s) => s,
                    MontyObject::Int(i) => i.to_string(),
                    other => {
                        return Err(format!(
                            "a dictionary key of type {} cannot leave the program; use strings",
                            type_name(&other)
                        ));
                    }
                };
                map.insert(key, to_json(&value)?);
            }
            Value::Object(map)
        }
        other => {
            return Err(format!(
                "a value of type {} cannot leave the program; use numbers, strings, lists and dicts",
                type_name(other)
            ));
        }
    })
}

/// A JSON value as a program value: objects become dicts, arrays lists.
pub fn from_json(value: &Value) -> MontyObject {
    match value {
        Value::Null => MontyObject::None,
        Value::Bool(b) => MontyObject::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => MontyObject::Int(i),
            None => MontyObject::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => MontyObject::String(s.clone()),
        Value::Array(items) => MontyObject::List(items.iter().map(from_json).collect()),
        Value::Object(map) => MontyObject::dict(
            map.iter()
                .map(|(k, v)| (MontyObject::String(k.clone()), from_json(v)))
                .collect::<Vec<_>>(),
        ),
    }
}

/// The Python type name of a value, for messages.
pub fn type_name(object: &MontyObject) -> &'static str {
    match object {
        MontyObject::None => "NoneType",
        MontyObject::Bool(_) => "bool",
        MontyObject::Int(_) | MontyObject::BigInt(_) => "int",
        MontyObject::Float(_) => "float",
        MontyObject::String(_) => "str",
        MontyObject::Bytes(_) => "bytes",
        MontyObject::List(_) => "list",
        MontyObject::Tuple(_) | MontyObject::NamedTuple { .. } => "tuple",
        MontyObject::Dict(_) => "dict",
        MontyObject::Set(_) => "set",
        MontyObject::FrozenSet(_) => "frozenset",
        _ => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_values_cross_both_ways() {
        let value = json!({"text": "hi", "ids": ["img_1", "img_2"], "n": 3, "x": 0.5, "none": null, "ok": true});
        assert_eq!(to_json(&from_json(&value)), Ok(value));
    }

    #[test]
    fn tuples_become_lists_and_odd_keys_are_refused() {
        let tuple = MontyObject::Tuple(vec![MontyObject::Int(1), MontyObject::Float(2.5)]);
        assert_eq!(to_json(&tuple), Ok(json!([1, 2.5])));
        let bad = MontyObject::dict(vec![(MontyObject::Float(1.0), MontyObject::None)]);
        let err = to_json(&bad).expect_err("float key");
        assert!(err.contains("float"), "{err}");
    }
}
