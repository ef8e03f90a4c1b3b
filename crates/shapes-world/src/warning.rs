//! Warnings: things the parsers understood only partly, reported rather than ignored.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Something in a prompt or edit that was not (fully) honoured. Warnings travel with the
/// result so the agent learns that, say, "florp" meant nothing to the world.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Warning {
    /// A word the world does not know; it had no effect.
    UnknownWord {
        /// The word, lowercased.
        word: String,
    },
    /// Two words set the same attribute of one thing to different values.
    Contradiction {
        /// Which attribute ("color", "size", "texture", "count", "position").
        attribute: String,
        /// The word that was kept.
        kept: String,
        /// The word that was dropped.
        dropped: String,
    },
    /// More objects were asked for than a scene may hold.
    CountClamped {
        /// What was asked for (total or per group).
        requested: u64,
        /// What was drawn.
        used: usize,
    },
    /// A group asked for zero objects ("no circles"); nothing was drawn for it.
    ZeroCount {
        /// The shape that was not drawn.
        shape: String,
    },
    /// Descriptive words that did not attach to any shape or background.
    NoShape {
        /// The words.
        words: Vec<String>,
    },
    /// A word that made sense but not where it was used ("large background").
    NotApplicable {
        /// The word.
        word: String,
        /// Why it was not applied.
        reason: String,
    },
    /// The prompt named no shape and no background, so the image is an empty background.
    NoObjects,
    /// An edit referred to several objects with a singular word, or similar.
    Ambiguous {
        /// What was done about it.
        message: String,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::UnknownWord { word } => {
                write!(f, "unknown word '{word}' was ignored")
            }
            Warning::Contradiction {
                attribute,
                kept,
                dropped,
            } => write!(
                f,
                "contradictory {attribute}: '{kept}' and '{dropped}'; kept '{kept}'"
            ),
            Warning::CountClamped { requested, used } => write!(
                f,
                "asked for {requested} objects; a scene holds at most {} so {used} were drawn",
                crate::scene::MAX_OBJECTS
            ),
            Warning::ZeroCount { shape } => write!(f, "zero {shape} requested; none drawn"),
            Warning::NoShape { words } => write!(
                f,
                "'{}' describes no shape; name one (circle, square, triangle, star, ring, cross, heart, hexagon, diamond)",
                words.join(" ")
            ),
            Warning::NotApplicable { word, reason } => write!(f, "'{word}' ignored: {reason}"),
            Warning::NoObjects => write!(
                f,
                "no shape named; the image is an empty background (try 'a red circle')"
            ),
            Warning::Ambiguous { message } => f.write_str(message),
        }
    }
}
