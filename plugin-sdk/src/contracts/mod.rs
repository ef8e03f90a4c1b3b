//! The standard tools' contracts: the arguments and the `data` of `text2image`,
//! `edit_images`, `call_unit` and `dataset_exemplars` as Rust types.
//!
//! Every plugin that offers one of these tools (the shapes world, the HTTP diffusion
//! plugin, maia's built-ins) parses its arguments into these types, advertises the JSON
//! Schema generated from them ([`Text2ImageArgs::schema`], ...), and builds its `data`
//! from them; every reader (the evaluation renderer, the offline experimenter, experiment
//! programs) deserializes the same types. A renamed field is then a compile error on both
//! sides instead of a reader that quietly finds nothing.
//!
//! Results are read leniently: fields a producer may not know (what a diffusion model
//! "drew", whether an edit changed anything) are optional, and unknown fields are ignored,
//! so a newer plugin's extra data does not break an older reader. Arguments are strict:
//! an unknown argument is refused, as the schema's `additionalProperties: false` says.

mod images;
mod schema;
mod unit;

pub use images::{
    EditFailure, EditImagesArgs, EditImagesData, EditedImage, FailedPrompt, GeneratedImage,
    Text2ImageArgs, Text2ImageData,
};
pub use schema::schema_of;
pub use unit::{CallUnitArgs, DatasetExemplarsArgs, DatasetExemplarsData, Exemplar};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The most prompts one `text2image` call takes, and the most images or edits one
/// `edit_images` or `call_unit` call takes.
pub const MAX_IMAGES_PER_CALL: usize = 64;

/// The most characters of one prompt or edit instruction.
pub const MAX_TEXT_CHARS: usize = 1000;

/// Smallest image side `text2image` accepts.
pub const MIN_SIDE: u32 = 32;

/// Largest image side `text2image` accepts.
pub const MAX_SIDE: u32 = 512;

/// Image side when `text2image` is given no `size` (MAIA's 224×224).
pub const DEFAULT_SIDE: u32 = 224;

/// Seed `text2image` uses when given none, so that a call without one is reproducible.
pub const DEFAULT_SEED: u64 = 0;

/// Something in a prompt or edit that was not (fully) honoured, as a tool reports it:
/// a machine-readable `kind`, the sentence the agent reads, and the kind's own fields
/// (`{"kind": "unknown_word", "message": "unknown word 'florp' was ignored", "word":
/// "florp"}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolWarning {
    /// What went wrong, in snake_case (`unknown_word`, `count_clamped`, ...).
    pub kind: String,
    /// The warning as one sentence for the agent.
    #[serde(default)]
    pub message: String,
    /// The kind's own fields (the word, the count asked for, ...).
    #[serde(flatten)]
    pub details: Map<String, Value>,
}

impl ToolWarning {
    /// A warning from a value that serializes as an object tagged by `kind` (such as the
    /// shapes world's warnings), with its `Display` text as the message.
    pub fn from_tagged<W: Serialize + std::fmt::Display>(warning: &W) -> Self {
        let mut details = match serde_json::to_value(warning) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        let kind = match details.remove("kind") {
            Some(Value::String(kind)) => kind,
            _ => "warning".to_owned(),
        };
        details.remove("message");
        ToolWarning {
            kind,
            message: warning.to_string(),
            details,
        }
    }
}

impl std::fmt::Display for ToolWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.message.is_empty() {
            f.write_str(&self.kind.replace('_', " "))
        } else {
            f.write_str(&self.message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ImageId;
    use serde_json::json;

    #[test]
    fn text2image_schema_states_the_limits_of_the_contract() {
        let schema = Text2ImageArgs::schema();
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["required"], json!(["prompts"]));
        assert_eq!(schema["additionalProperties"], false);
        let p = &schema["properties"];
        assert_eq!(p["prompts"]["minItems"], 1);
        assert_eq!(p["prompts"]["maxItems"], MAX_IMAGES_PER_CALL);
        assert_eq!(p["prompts"]["items"], json!({"type": "string"}));
        assert_eq!(
            p["seed"]["type"], "integer",
            "an optional field is not nullable"
        );
        assert_eq!(p["seed"]["minimum"], 0);
        assert_eq!(
            (&p["size"]["minimum"], &p["size"]["maximum"]),
            (&json!(MIN_SIDE), &json!(MAX_SIDE))
        );
        assert!(schema.get("$schema").is_none() && schema.get("title").is_none());
        assert!(p["seed"].get("format").is_none());
    }

    #[test]
    fn edit_and_unit_schemas_take_image_ids() {
        for schema in [EditImagesArgs::schema(), CallUnitArgs::schema()] {
            let ids = &schema["properties"]["image_ids"];
            assert_eq!(ids["items"]["type"], "string");
            assert_eq!(ids["items"]["description"], "An image id such as img_3");
            assert_eq!(ids["maxItems"], MAX_IMAGES_PER_CALL);
            assert_eq!(schema["additionalProperties"], false);
        }
        assert_eq!(
            EditImagesArgs::schema()["required"],
            json!(["image_ids", "edits"])
        );
        let k = DatasetExemplarsArgs::schema(25);
        assert_eq!(
            (
                &k["properties"]["k"]["minimum"],
                &k["properties"]["k"]["maximum"]
            ),
            (&json!(1), &json!(25))
        );
        assert!(k.get("required").is_none());
    }

    #[test]
    fn arguments_are_strict_and_round_trip() {
        let args = Text2ImageArgs::new(vec!["a red circle".into()], 3);
        assert_eq!(
            args.to_value(),
            json!({"prompts": ["a red circle"], "seed": 3})
        );
        let back: Text2ImageArgs = serde_json::from_value(args.to_value()).expect("round trip");
        assert_eq!(back, args);
        let unknown = serde_json::from_value::<Text2ImageArgs>(json!({"prompts": [], "seeds": 1}));
        assert!(unknown.is_err_and(|e| e.to_string().contains("seeds")));
    }

    #[test]
    fn edits_pair_one_for_all_or_one_each() {
        let args = |ids: &[&str], edits: &[&str]| EditImagesArgs {
            image_ids: ids.iter().map(|&i| ImageId::from(i)).collect(),
            edits: edits.iter().map(|&e| e.to_owned()).collect(),
        };
        let one = args(&["img_1", "img_2"], &["remove it"]);
        assert_eq!(one.pairs().map(|p| p.len()), Some(2));
        let each = args(&["img_1", "img_2"], &["a", "b"]);
        let pairs = each.pairs().expect("pairs");
        assert_eq!((pairs[1].0.as_str(), pairs[1].1.as_str()), ("img_2", "b"));
        assert!(
            args(&["img_1", "img_2"], &["a", "b", "c"])
                .pairs()
                .is_none()
        );
        assert!(args(&[], &["a"]).pairs().is_none());
        assert!(args(&["img_1"], &[]).pairs().is_none());
    }

    #[derive(Serialize)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    enum WorldWarning {
        UnknownWord { word: String },
    }

    impl std::fmt::Display for WorldWarning {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            let WorldWarning::UnknownWord { word } = self;
            write!(f, "unknown word '{word}' was ignored")
        }
    }

    #[test]
    fn a_tagged_warning_keeps_its_kind_fields_and_sentence() {
        let w = ToolWarning::from_tagged(&WorldWarning::UnknownWord {
            word: "florp".into(),
        });
        assert_eq!(
            serde_json::to_value(&w).expect("json"),
            json!({"kind": "unknown_word", "message": "unknown word 'florp' was ignored", "word": "florp"})
        );
        assert_eq!(w.to_string(), "unknown word 'florp' was ignored");
        let bare: ToolWarning =
            serde_json::from_value(json!({"kind": "no_objects"})).expect("bare");
        assert_eq!(bare.to_string(), "no objects");
    }

    #[test]
    fn results_are_read_leniently() {
        let data: Text2ImageData = serde_json::from_value(json!({
            "seed": 1, "size": 224, "images": [{"image": 1, "prompt": "a car", "backend": "sd"}], "new_field": true
        }))
        .expect("extra fields are ignored, missing optional ones default");
        assert_eq!(data.images[0].drew, None);
        assert!(data.images[0].warnings.is_empty() && data.failed.is_empty());
        let edited: EditImagesData = serde_json::from_value(json!({
            "images": [{"image": 1, "source": "img_2", "edit": "make it blue"}]
        }))
        .expect("an editor that knows little");
        assert!(!edited.images[0].unchanged && edited.images[0].applied.is_empty());
        assert!(
            serde_json::from_value::<EditImagesData>(json!({"images": [{"image": 1}]})).is_err()
        );
    }
}
