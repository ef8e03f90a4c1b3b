//! Wording of what the agent reads: quoted prompts, warning summaries, argument errors.

use maia_plugin_sdk::{ToolCall, ToolError};
use maia_shapes_world::Warning;
use serde::de::DeserializeOwned;

/// Longest prompt or edit quoted in a line of output, in characters; longer ones are cut
/// with "…" (the full text is in the caption and `data`).
const QUOTE_CHARS: usize = 60;

/// Most unknown words listed in one line; the rest are counted.
const LISTED_WORDS: usize = 10;

/// Most per-item problems listed in one error message; the rest are counted.
pub(crate) const LISTED_PROBLEMS: usize = 8;

/// Parses a call's arguments; on failure says what shape was expected, since the host's
/// schema check normally catches this first and a caller that got here bypassed it.
pub(crate) fn parse_args<T: DeserializeOwned>(
    call: &ToolCall,
    expected: &str,
) -> Result<T, ToolError> {
    call.parse_args()
        .map_err(|e| ToolError::invalid_args(format!("{}; expected {expected}", e.message)))
}

/// A prompt or edit as a double-quoted string for one line of output: control characters
/// and quotes escaped, cut after [`QUOTE_CHARS`] characters.
pub(crate) fn quote(text: &str) -> String {
    let mut cut: String = text.chars().take(QUOTE_CHARS).collect();
    if text.chars().nth(QUOTE_CHARS).is_some() {
        cut.push('…');
    }
    format!("{cut:?}")
}

/// A word from the user's text, with control characters escaped so it stays on one line.
fn word(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

/// One clause summarizing warnings: unknown words grouped ("did not understand 'ish',
/// 'foo'"), then every other warning in the world's own words, joined by "; ".
/// Empty when there are none.
pub(crate) fn summarize(warnings: &[Warning]) -> String {
    let unknown: Vec<&str> = warnings
        .iter()
        .filter_map(|w| match w {
            Warning::UnknownWord { word } => Some(word.as_str()),
            _ => None,
        })
        .collect();
    let mut parts = Vec::new();
    if !unknown.is_empty() {
        let mut listed: Vec<String> = unknown
            .iter()
            .take(LISTED_WORDS)
            .map(|w| format!("'{}'", word(w)))
            .collect();
        if unknown.len() > LISTED_WORDS {
            listed.push(format!("and {} more", unknown.len() - LISTED_WORDS));
        }
        parts.push(format!("did not understand {}", listed.join(", ")));
    }
    parts.extend(
        warnings
            .iter()
            .filter(|w| !matches!(w, Warning::UnknownWord { .. }))
            .map(|w| word(&w.to_string())),
    );
    parts.join("; ")
}

/// Joins per-item problems into one message, listing at most [`LISTED_PROBLEMS`].
pub(crate) fn problems(items: &[String]) -> String {
    let mut lines: Vec<String> = items.iter().take(LISTED_PROBLEMS).cloned().collect();
    if items.len() > LISTED_PROBLEMS {
        lines.push(format!(
            "… and {} more like these",
            items.len() - LISTED_PROBLEMS
        ));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_short_and_single_line() {
        assert_eq!(quote("a red circle"), "\"a red circle\"");
        assert_eq!(quote("say \"hi\"\n"), "\"say \\\"hi\\\"\\n\"");
        let long = "x".repeat(100);
        let quoted = quote(&long);
        assert_eq!(quoted.chars().count(), QUOTE_CHARS + 3, "{quoted}");
        assert!(quoted.ends_with("…\""));
        assert_eq!(quote("un cœur rouge 🙂"), "\"un cœur rouge 🙂\"");
    }

    #[test]
    fn unknown_words_are_grouped_and_capped() {
        let mut warnings: Vec<Warning> = ["ish", "foo"]
            .iter()
            .map(|w| Warning::UnknownWord { word: (*w).into() })
            .collect();
        warnings.push(Warning::Contradiction {
            attribute: "color".into(),
            kept: "red".into(),
            dropped: "blue".into(),
        });
        assert_eq!(
            summarize(&warnings),
            "did not understand 'ish', 'foo'; contradictory color: 'red' and 'blue'; kept 'red'"
        );
        let many: Vec<Warning> = (0..25)
            .map(|i| Warning::UnknownWord {
                word: format!("w{i}"),
            })
            .collect();
        let text = summarize(&many);
        assert!(text.ends_with("'w9', and 15 more"), "{text}");
        assert_eq!(summarize(&[]), "");
        let control = [Warning::UnknownWord {
            word: "a\u{7}b".into(),
        }];
        assert_eq!(summarize(&control), "did not understand 'a\\u{7}b'");
    }

    #[test]
    fn problem_lists_are_capped() {
        let items: Vec<String> = (1..=20).map(|i| format!("prompt {i}: bad")).collect();
        let text = problems(&items);
        assert_eq!(text.lines().count(), LISTED_PROBLEMS + 1);
        assert!(text.ends_with("… and 12 more like these"), "{text}");
    }
}
