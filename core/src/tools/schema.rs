//! Argument validation against a tool's JSON Schema, with messages an agent can act on.

use serde_json::Value;

/// Longest a single schema violation is shown, in characters.
const MAX_PROBLEM_CHARS: usize = 200;

fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// A compiled JSON Schema for one tool's arguments.
pub struct ArgsValidator {
    validator: jsonschema::Validator,
    summary: String,
}

impl ArgsValidator {
    /// Compiles a schema; the error says what is wrong with it.
    pub fn new(schema: &Value) -> Result<Self, String> {
        let validator = jsonschema::validator_for(schema).map_err(|e| e.to_string())?;
        Ok(ArgsValidator {
            validator,
            summary: summarize_schema(schema),
        })
    }

    /// Checks `args`; on failure lists every violation with its path, then the expected
    /// shape, e.g. `at /width: -3 is less than the minimum of 1; expected {x: integer, ...}`.
    pub fn validate(&self, args: &Value) -> Result<(), String> {
        let problems: Vec<String> = self
            .validator
            .iter_errors(args)
            .take(8)
            .map(|e| {
                let path = e.instance_path().to_string();
                // The validator quotes the offending value; a long one would flood the
                // agent's context, so each problem is cut to a readable length.
                let text = truncate_chars(&e.to_string(), MAX_PROBLEM_CHARS);
                if path.is_empty() {
                    text
                } else {
                    format!("at {path}: {text}")
                }
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{}; expected {}",
                problems.join("; "),
                self.summary
            ))
        }
    }
}

/// A one-line summary of an object schema: `{image_ids: [string], size?: integer}`
/// (`?` marks optional properties).
pub fn summarize_schema(schema: &Value) -> String {
    fn type_of(s: &Value) -> String {
        if let Some(values) = s.get("enum").and_then(Value::as_array) {
            let names: Vec<String> = values.iter().map(|v| v.to_string()).collect();
            return names.join("|");
        }
        match s.get("type").and_then(Value::as_str) {
            Some("array") => format!(
                "[{}]",
                s.get("items").map(type_of).unwrap_or_else(|| "any".into())
            ),
            Some("object") if s.get("properties").is_some() => summarize_schema(s),
            Some(t) => t.to_owned(),
            None => "any".to_owned(),
        }
    }
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return type_of(schema);
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let fields: Vec<String> = props
        .iter()
        .map(|(name, s)| {
            let opt = if required.contains(&name.as_str()) {
                ""
            } else {
                "?"
            };
            format!("{name}{opt}: {}", type_of(s))
        })
        .collect();
    format!("{{{}}}", fields.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "image_ids": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "width": {"type": "integer", "minimum": 1},
                "mode": {"enum": ["a", "b"]}
            },
            "required": ["image_ids"],
            "additionalProperties": false
        })
    }

    #[test]
    fn summary_marks_optional_fields() {
        assert_eq!(
            summarize_schema(&schema()),
            r#"{image_ids: [string], mode?: "a"|"b", width?: integer}"#
        );
    }

    #[test]
    fn violations_name_the_path_and_the_expected_shape() {
        let v = match ArgsValidator::new(&schema()) {
            Ok(v) => v,
            Err(e) => panic!("schema should compile: {e}"),
        };
        assert!(
            v.validate(&json!({"image_ids": ["img_1"], "width": 3}))
                .is_ok()
        );
        let err = v
            .validate(&json!({"image_ids": [], "width": -3}))
            .err()
            .unwrap_or_default();
        assert!(err.contains("/width"), "{err}");
        assert!(err.contains("/image_ids"), "{err}");
        assert!(err.contains("expected {image_ids: [string]"), "{err}");
        let err = v
            .validate(&json!({"image_ids": ["x"], "colour": 1}))
            .err()
            .unwrap_or_default();
        assert!(err.contains("colour"), "{err}");
    }

    #[test]
    fn a_broken_schema_is_reported() {
        assert!(ArgsValidator::new(&json!({"type": "no-such-type"})).is_err());
    }
}
