//! Tokenizing and classifying English words, shared by the prompt and edit parsers.

use crate::attributes::{Color, Shape, SizeClass, Texture};

/// What one lowercase token means to the parsers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Word {
    /// Filler with no meaning here ("the", "of", "photo").
    Stop,
    /// "a" / "an": one, unless a number word follows.
    Article,
    /// A number ("two", "3", "a dozen" → 12, "no" → 0).
    Count(u64),
    /// A size word.
    Size(SizeClass),
    /// A texture word.
    Texture(Texture),
    /// A color word.
    Color(Color),
    /// A shape noun; the flag marks plurals.
    Shape(Shape, bool),
    /// left / right.
    Horizontal(crate::layout::Horizontal),
    /// top / bottom.
    Vertical(crate::layout::Vertical),
    /// center / centre / middle.
    Center,
    /// "background" / "backdrop".
    Background,
    /// "is" / "are": "the background is black".
    Copula,
    /// "and" or a comma: between groups.
    Separator,
    /// "with": "a circle with stripes".
    With,
    /// "on": "a circle on white".
    On,
    /// Anything else.
    Unknown,
}

/// Splits text into lowercase tokens on whitespace, hyphens and ASCII punctuation. Commas
/// and semicolons become their own tokens; every other character (including non-ASCII
/// letters and emoji) stays in a token, so nothing is silently dropped.
pub(crate) fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    for ch in text.chars() {
        let splits = ch.is_whitespace() || (ch.is_ascii_punctuation() && ch != '\'');
        if splits {
            if !current.is_empty() {
                tokens.push(std::mem::take(&mut current));
            }
            if ch == ',' || ch == ';' {
                tokens.push(ch.to_string());
            }
        } else {
            current.extend(ch.to_lowercase());
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

/// Classifies one token.
pub(crate) fn classify(token: &str) -> Word {
    use crate::layout::{Horizontal, Vertical};
    match token {
        "a" | "an" => return Word::Article,
        "and" | "," | ";" => return Word::Separator,
        "with" | "having" | "has" => return Word::With,
        "on" | "over" | "against" => return Word::On,
        "is" | "are" | "be" => return Word::Copula,
        "background" | "backdrop" | "backgrounds" | "bg" => return Word::Background,
        "left" | "leftmost" => return Word::Horizontal(Horizontal::Left),
        "right" | "rightmost" => return Word::Horizontal(Horizontal::Right),
        "top" | "upper" | "topmost" => return Word::Vertical(Vertical::Top),
        "bottom" | "lower" | "bottommost" => return Word::Vertical(Vertical::Bottom),
        "center" | "centre" | "middle" | "central" | "centered" | "centred" => {
            return Word::Center;
        }
        _ => {}
    }
    if STOP_WORDS.contains(&token) {
        return Word::Stop;
    }
    if let Some(n) = count_word(token) {
        return Word::Count(n);
    }
    if let Some(size) = SizeClass::from_word(token) {
        return Word::Size(size);
    }
    if let Some(texture) = Texture::from_word(token) {
        return Word::Texture(texture);
    }
    if let Some(color) = Color::from_word(token) {
        return Word::Color(color);
    }
    if let Some((shape, plural)) = Shape::from_word(token) {
        return Word::Shape(shape, plural);
    }
    Word::Unknown
}

/// Words that carry no meaning for the world and are skipped without a warning.
const STOP_WORDS: &[&str] = &[
    "the",
    "of",
    "in",
    "at",
    "to",
    "there",
    "some",
    "photo",
    "picture",
    "image",
    "drawing",
    "painting",
    "illustration",
    "render",
    "rendering",
    "scene",
    "showing",
    "shows",
    "containing",
    "contains",
    "colored",
    "coloured",
    "color",
    "colour",
    "shaped",
    "shape",
    "shapes",
    "side",
    "corner",
    "placed",
    "located",
    "positioned",
    "sitting",
    "its",
    "this",
    "that",
    "which",
    "by",
    "part",
    "region",
    "area",
    "half",
    "patterned",
    "pattern",
    "textured",
    "texture",
    "sized",
    "size",
    "very",
    "quite",
    "just",
    "both",
    "each",
    "together",
    "hand",
];

fn count_word(token: &str) -> Option<u64> {
    let n = match token {
        "zero" | "no" | "none" => 0,
        "one" | "single" | "lone" => 1,
        "two" | "pair" | "couple" => 2,
        "three" | "several" | "few" => 3,
        "four" => 4,
        "five" | "many" => 5,
        "six" => 6,
        "seven" => 7,
        "eight" => 8,
        "nine" => 9,
        "ten" => 10,
        "eleven" => 11,
        "twelve" | "dozen" => 12,
        digits if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            digits.parse::<u64>().unwrap_or(u64::MAX)
        }
        _ => return None,
    };
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_keeps_odd_characters() {
        assert_eq!(
            tokenize("Two RED, polka-dot circles!"),
            vec!["two", "red", ",", "polka", "dot", "circles"]
        );
        assert_eq!(tokenize("a café 🙂"), vec!["a", "café", "🙂"]);
    }

    #[test]
    fn numbers() {
        assert_eq!(classify("3"), Word::Count(3));
        assert_eq!(classify("99999999999999999999999"), Word::Count(u64::MAX));
        assert_eq!(classify("dozen"), Word::Count(12));
        assert_eq!(classify("3rd"), Word::Unknown);
    }
}
