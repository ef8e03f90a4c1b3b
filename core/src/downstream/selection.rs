//! The agent's choice of units for the spurious experiment. A model is shown the
//! descriptions of a layer's units and the classifier's classes and asked, through the
//! [`SELECT_TOOL`] tool, for the units that track each class's object and not the spurious
//! attribute (`prompts/select-units.md`); its reply is checked against the units it was
//! shown. [`by_rules`] is the same choice made by reading shapes-world descriptions, which
//! the offline experimenter answers with.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use maia_plugin_sdk::ToolSpec;

use crate::llm::{LlmRequest, Message, Part};

/// The tool the selection request offers (and the offline experimenter recognises).
pub const SELECT_TOOL: &str = "select_units";

/// The line of the request that lists the classes.
const CLASSES_LINE: &str = "Classifier classes: ";

/// A selection of units: per class, and shared by every class.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    /// Per class, the units that track its object.
    pub per_class: BTreeMap<String, Vec<usize>>,
    /// Units that track the object whatever its class (its outline, size, texture…) and
    /// not the spurious attribute.
    #[serde(default)]
    pub shared: Vec<usize>,
    /// Why, in the model's words.
    #[serde(default)]
    pub reasoning: String,
}

impl Selection {
    /// Every selected unit once, in ascending order.
    pub fn units(&self) -> Vec<usize> {
        let mut units: Vec<usize> = self
            .per_class
            .values()
            .flatten()
            .chain(&self.shared)
            .copied()
            .collect();
        units.sort_unstable();
        units.dedup();
        units
    }
}

/// The `select_units` tool, with the classes as the keys of `per_class`.
pub fn tool_spec(classes: &[String]) -> ToolSpec {
    let per_class: serde_json::Map<String, serde_json::Value> = classes
        .iter()
        .map(|c| {
            (
                c.clone(),
                serde_json::json!({"type": "array", "items": {"type": "integer", "minimum": 0}}),
            )
        })
        .collect();
    ToolSpec::new(
        SELECT_TOOL,
        "Report the units to keep: per class, the units that track that class's object; in shared, units that track the object whatever its class; none that respond to the background or other context.",
        serde_json::json!({
            "type": "object",
            "properties": {
                "reasoning": {"type": "string"},
                "per_class": {"type": "object", "properties": per_class},
                "shared": {"type": "array", "items": {"type": "integer", "minimum": 0}}
            },
            "required": ["per_class"]
        }),
    )
}

/// The request: `instructions` (the `select-units.md` prompt) as the system prompt, and a
/// user message naming the classes and listing every described unit as `unit N: text`.
pub fn request(
    instructions: &str,
    classes: &[String],
    layer: &str,
    described: &[(usize, String)],
) -> LlmRequest {
    let mut text = format!(
        "{CLASSES_LINE}{}\nLayer: {layer} ({} units described)\n\n",
        classes.join(", "),
        described.len()
    );
    for (unit, description) in described {
        text.push_str(&format!(
            "unit {unit}: {}\n",
            description.replace('\n', " ")
        ));
    }
    LlmRequest {
        system: instructions.to_owned(),
        messages: vec![Message::User(vec![Part::Text(text)])],
        tools: vec![tool_spec(classes)],
        max_output_tokens: 4096,
        temperature: Some(0.0),
        reply_schema: None,
    }
}

/// The classes and described units of a [`request`], read back from its user message (how
/// the offline experimenter sees it).
pub fn read_request(request: &LlmRequest) -> (Vec<String>, Vec<(usize, String)>) {
    let mut classes = Vec::new();
    let mut described = Vec::new();
    for message in &request.messages {
        let Message::User(parts) = message else {
            continue;
        };
        for part in parts {
            let Part::Text(text) = part else { continue };
            for line in text.lines() {
                if let Some(list) = line.strip_prefix(CLASSES_LINE) {
                    classes = list
                        .split(',')
                        .map(|c| c.trim().to_owned())
                        .filter(|c| !c.is_empty())
                        .collect();
                } else if let Some(rest) = line.strip_prefix("unit ")
                    && let Some((number, description)) = rest.split_once(": ")
                    && let Ok(unit) = number.trim().parse::<usize>()
                {
                    described.push((unit, description.to_owned()));
                }
            }
        }
    }
    (classes, described)
}

/// Reads a selection from a `select_units` call's arguments, or from the first `{` to the
/// last `}` of a reply's text. Units that were not shown and classes that do not exist are
/// errors, in words that can be sent back to the model.
pub fn parse(
    arguments: &str,
    classes: &[String],
    described: &[(usize, String)],
) -> Result<Selection, String> {
    let (Some(start), Some(end)) = (arguments.find('{'), arguments.rfind('}')) else {
        return Err(format!(
            "no JSON object in the reply; call {SELECT_TOOL} with per_class and shared"
        ));
    };
    if end < start {
        return Err("no JSON object in the reply".into());
    }
    let selection: Selection = serde_json::from_str(&arguments[start..=end]).map_err(|e| {
        format!("the selection does not parse ({e}); give per_class as {{class: [unit numbers]}}")
    })?;
    for class in selection.per_class.keys() {
        if !classes.contains(class) {
            return Err(format!(
                "`{class}` is not one of the classes ({})",
                classes.join(", ")
            ));
        }
    }
    let shown = |u: &usize| described.iter().any(|(d, _)| d == u);
    if let Some(unit) = selection.units().into_iter().find(|u| !shown(u)) {
        return Err(format!(
            "unit {unit} was not among the described units; choose from those listed"
        ));
    }
    if selection.units().is_empty() {
        return Err("the selection is empty; keep at least one unit".into());
    }
    Ok(selection)
}

/// The selection a careful reader of shapes-world descriptions makes when the classes are
/// shapes: a unit whose description names one of the classes' shapes (not negated) goes to
/// that class; one that names only other attributes of the object (another shape, its
/// size, texture or colour) is shared. Left out: a unit whose description names a
/// background, even beside the object (negated attributes do not count); dead units and
/// descriptions the reader cannot read. The object's colour is kept: the descriptions tell
/// an object's colour from the background's, and the sparse fit gives little weight to a
/// unit that does not tell the classes apart.
pub fn by_rules(described: &[(usize, String)], classes: &[String]) -> Selection {
    use maia_shapes_world::{Atom, Concept, read_description};
    fn positive(concept: &Concept, out: &mut Vec<Atom>) {
        match concept {
            Concept::Atom(atom) => out.push(*atom),
            Concept::Not(_) => {}
            Concept::And(parts) | Concept::Or(parts) | Concept::With(parts) => {
                for part in parts {
                    positive(part, out);
                }
            }
        }
    }
    let mut selection = Selection {
        per_class: classes.iter().map(|c| (c.clone(), Vec::new())).collect(),
        ..Selection::default()
    };
    let (mut background, mut dead) = (0, 0);
    for (unit, description) in described {
        // A unit that never fired (the offline agent's "no response found: … covered every
        // shape, …") names shapes only in passing.
        if description
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("no response")
        {
            dead += 1;
            continue;
        }
        let Ok(reading) = read_description(description) else {
            continue;
        };
        let mut atoms = Vec::new();
        positive(&reading.concept, &mut atoms);
        if atoms
            .iter()
            .any(|a| matches!(a, Atom::BackgroundColor(_) | Atom::BackgroundTexture(_)))
        {
            background += 1;
            continue;
        }
        let mut named = false;
        for atom in &atoms {
            if let Atom::Shape(shape) = atom
                && let Some(units) = selection.per_class.get_mut(shape.name())
            {
                if !units.contains(unit) {
                    units.push(*unit);
                }
                named = true;
            }
        }
        if !named && !atoms.is_empty() && !selection.shared.contains(unit) {
            selection.shared.push(*unit);
        }
    }
    selection.reasoning = format!(
        "Kept units whose descriptions name the object (its shape, size, texture or colour); left out {background} that respond to a background and {dead} that never fired."
    );
    selection
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes() -> Vec<String> {
        ["circle", "square", "star", "triangle"]
            .map(String::from)
            .to_vec()
    }

    fn described() -> Vec<(usize, String)> {
        [
            (0, "circles"),
            (
                1,
                "images with a blue background, whatever objects they show",
            ),
            (2, "striped objects"),
            (3, "stars on a purple background: the unit needs both"),
            (4, "striped objects that are not on a black background"),
            (7, "red circles"),
            (
                5,
                "no response found: the unit stayed near zero; tried circles",
            ),
            (6, "large squares or triangles: either one alone is enough"),
        ]
        .map(|(u, d)| (u, d.to_owned()))
        .to_vec()
    }

    #[test]
    fn rules_keep_object_units_per_class_and_leave_backgrounds_out() {
        let selection = by_rules(&described(), &classes());
        // An object's own colour is the object's: "red circles" tracks circles.
        assert_eq!(selection.per_class["circle"], vec![0, 7]);
        assert_eq!(selection.per_class["square"], vec![6]);
        assert_eq!(selection.per_class["triangle"], vec![6]);
        assert!(
            selection.per_class["star"].is_empty(),
            "unit 3 names a background"
        );
        // A negated background is not a background the unit needs.
        assert_eq!(selection.shared, vec![2, 4]);
        assert_eq!(selection.units(), vec![0, 2, 4, 6, 7]);
        assert!(
            selection
                .reasoning
                .contains("left out 2 that respond to a background and 1 that never fired"),
            "{}",
            selection.reasoning
        );
    }

    #[test]
    fn a_request_reads_back_as_its_classes_and_units() {
        let request = request("pick", &classes(), "conv4", &described());
        assert_eq!(request.tools[0].name, SELECT_TOOL);
        let (classes_back, described_back) = read_request(&request);
        assert_eq!(classes_back, classes());
        assert_eq!(described_back, described());
    }

    #[test]
    fn replies_are_checked_against_what_was_shown() {
        let ok = parse(
            r#"{"per_class": {"circle": [0]}, "shared": [2], "reasoning": "r"}"#,
            &classes(),
            &described(),
        );
        assert_eq!(ok.map(|s| s.units()), Ok(vec![0, 2]));
        let text = parse(
            "Here: {\"per_class\": {\"star\": [6]}} done",
            &classes(),
            &described(),
        );
        assert_eq!(text.map(|s| s.units()), Ok(vec![6]));
        for (reply, says) in [
            ("I keep units 0 and 2", "no JSON object"),
            (
                r#"{"per_class": {"dog": [0]}}"#,
                "`dog` is not one of the classes",
            ),
            (
                r#"{"per_class": {"circle": [99]}}"#,
                "unit 99 was not among",
            ),
            (r#"{"per_class": {"circle": []}}"#, "empty"),
            (r#"{"per_class": {"circle": "0"}}"#, "does not parse"),
        ] {
            let error = parse(reply, &classes(), &described())
                .err()
                .unwrap_or_default();
            assert!(error.contains(says), "{reply}: {error}");
        }
    }
}
