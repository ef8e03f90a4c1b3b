//! Reading descriptions: English text about what a unit responds to → a [`Concept`].
//!
//! This is the inverse of [`Concept::describe`], and how the shapes world's evaluator
//! understands an agent's answer ("the unit fires on red circles, but not on red squares")
//! well enough to draw scenes that do and do not show it. It is a forgiving reader, not a
//! grammar: it looks for the world's words and a handful of connectives and ignores the
//! rest, reporting the words it did not know.
//!
//! - Noun phrases: adjectives (size, color, texture) up to a shape noun ("small red striped
//!   circles") or a generic noun ("red objects", "red ones"). Two values of one attribute
//!   in a phrase mean either ("red and blue circles" → `(red | blue) & circle`); different
//!   attributes mean all ("red striped circles" → `red & striped & circle`).
//! - Lists: phrases joined by "or", "and" or commas mean either (`|`), unless the text says
//!   they occur *together* ("both", "together", "same image", "co-occur", "alongside",
//!   "a circle with a star"), which is the co-occurrence operator `+`.
//! - Attributes after a noun ("circles that are striped", "circles with stripes", "circles
//!   in red") qualify the whole list before them.
//! - Backgrounds: "on a blue background", "on a black, brown or blue background",
//!   "blue backgrounds", "background is blue",
//!   "a red circle on white" → `bg:` atoms.
//! - Negation: "not", "no", "without", "except", "but not", "other than", "rather than"
//!   turn the phrases that follow (up to the end of the sentence or a "but") into
//!   exceptions, `& !(…)`; "non-red" negates one word.
//! - Hedges: "especially …", "including …", "e.g. …" up to the next comma are skipped.
//! - Counts ("two red circles") are understood and reported in [`Reading::count`] but the
//!   concept language has no counts, so they do not change the concept.
//!
//! A text that uses the concept language's operators (`& | ! + ( )` or `bg:`) and parses
//! as an expression is taken as that expression.
//!
//! ```
//! use maia_shapes_world::{Concept, read_description};
//!
//! let reading = read_description("The unit fires on circles that are not red.")?;
//! assert_eq!(reading.concept, Concept::parse("circle & !red")?);
//! let together = read_description("circles and stars appearing together")?;
//! assert_eq!(together.concept, Concept::parse("circle + star")?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use thiserror::Error;

use crate::attributes::{Color, Shape, SizeClass, Texture};
use crate::concept::{Atom, Concept};

/// Longest description read, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 4000;

/// What a description was understood to say.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The concept the description names.
    pub concept: Concept,
    /// Words that meant nothing to the reader, lowercased, in order of first appearance.
    pub ignored: Vec<String>,
    /// The largest count the description mentions for what the unit responds to ("two red
    /// circles" → 2); it does not change the concept.
    pub count: Option<u64>,
    /// True when the text was read as a concept expression (`circle & !red`).
    pub expression: bool,
}

/// Why a description names no concept.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReadingError {
    /// Nothing but whitespace.
    #[error(
        "the description is empty; say what makes the unit fire, e.g. 'red circles on a blue background'"
    )]
    Empty,
    /// Longer than [`MAX_DESCRIPTION_CHARS`].
    #[error("the description is {chars} characters long; at most {max} are read, shorten it")]
    TooLong {
        /// Length in characters.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// No word of the world's vocabulary (is it in another language?).
    #[error(
        "no shape, color, texture, size or background of the shapes world was recognised in the description{}; describe the unit with the world's words (is it in another language?), e.g. 'red circles', 'striped objects but not squares', 'circles and stars together'",
        ignored_list(.ignored)
    )]
    NoConcept {
        /// The words that were not understood.
        ignored: Vec<String>,
    },
}

fn ignored_list(ignored: &[String]) -> String {
    if ignored.is_empty() {
        String::new()
    } else {
        let shown: Vec<&str> = ignored.iter().take(12).map(String::as_str).collect();
        let more = if ignored.len() > shown.len() {
            format!(", … ({} in all)", ignored.len())
        } else {
            String::new()
        };
        format!(" (words not understood: {}{more})", shown.join(", "))
    }
}

/// Reads a description into a concept; see the module documentation for what is
/// understood.
pub fn read_description(text: &str) -> Result<Reading, ReadingError> {
    let chars = text.chars().count();
    if chars > MAX_DESCRIPTION_CHARS {
        return Err(ReadingError::TooLong {
            chars,
            max: MAX_DESCRIPTION_CHARS,
        });
    }
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(ReadingError::Empty);
    }
    if let Some(concept) = as_expression(trimmed) {
        return Ok(Reading {
            concept,
            ignored: Vec::new(),
            count: None,
            expression: true,
        });
    }
    let tokens = merge_phrases(tokenize(trimmed));
    // Parenthesised asides are read on their own: their exceptions count, their phrases
    // only when the main text names nothing more specific than "objects".
    let mut main = Vec::new();
    let mut asides: Vec<Vec<Tok>> = Vec::new();
    let mut depth = 0usize;
    for token in tokens {
        match token {
            Tok::Open => {
                if depth == 0 {
                    asides.push(Vec::new());
                    main.push(Tok::Comma);
                }
                depth += 1;
            }
            Tok::Close if depth > 0 => depth -= 1,
            Tok::Close => main.push(Tok::Comma),
            other if depth > 0 => {
                if let Some(aside) = asides.last_mut() {
                    aside.push(other);
                }
            }
            other => main.push(other),
        }
    }
    let mut reading = read_tokens(&main);
    for aside in &asides {
        let part = read_tokens(aside);
        reading.exceptions.extend(part.exceptions);
        if reading.positive.as_ref().is_none_or(|c| *c == any_object()) && part.positive.is_some() {
            reading.positive = part.positive;
        }
        for word in part.ignored {
            if !reading.ignored.contains(&word) {
                reading.ignored.push(word);
            }
        }
        reading.count = reading.count.max(part.count);
    }
    reading.into_reading()
}

/// Reads one stretch of tokens (the main text or one aside).
fn read_tokens(tokens: &[Tok]) -> Partial {
    let mut reader = Reader::default();
    let mut i = 0;
    while let Some(token) = tokens.get(i) {
        match token {
            Tok::Hedge => {
                // Skip an aside ("especially circles") up to the next comma or sentence end.
                while tokens
                    .get(i + 1)
                    .is_some_and(|t| !matches!(t, Tok::Comma | Tok::Stop | Tok::Except))
                {
                    i += 1;
                }
            }
            Tok::Free => {
                // "of any shape, color or size, on any background": says what does not
                // matter; skip the kinds it lists.
                while tokens.get(i + 1).is_some_and(|t| {
                    matches!(
                        t,
                        Tok::Generic
                            | Tok::Filler
                            | Tok::Article
                            | Tok::Comma
                            | Tok::Or
                            | Tok::And
                            | Tok::On
                            | Tok::Background
                            | Tok::Free
                    )
                }) {
                    i += 1;
                }
            }
            Tok::With => reader.with(&tokens[i + 1..]),
            Tok::Or | Tok::Comma if reader.background_list_continues(&tokens[i + 1..]) => {}
            other => reader.feed(other),
        }
        i += 1;
    }
    reader.finish()
}

/// The text as a concept expression, when it looks like one and parses.
fn as_expression(text: &str) -> Option<Concept> {
    let looks_like = text
        .chars()
        .any(|c| matches!(c, '&' | '|' | '!' | '+' | '(' | ')'))
        || text.to_ascii_lowercase().contains("bg:");
    if !looks_like {
        return None;
    }
    let inner = text
        .trim_matches(|c: char| c == '`' || c == '"' || c == '\'')
        .trim_end_matches('.')
        .trim();
    Concept::parse(inner).ok()
}

/// One token of a description.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Attr(Atom),
    /// "objects", "shapes", "things", "ones", "anything".
    Generic,
    /// "background", "backdrop".
    Background,
    Or,
    And,
    Comma,
    /// Sentence end or contrast ("but", "however"): negation stops here.
    Stop,
    /// "except", "excluding", "other than", "rather than", "unless".
    Except,
    /// "not", "no", "never", "without", "isn't", …
    Not,
    /// "non": negates the next attribute word only.
    Non,
    /// "with": a co-occurrence link or a filler, decided by what follows.
    With,
    /// "on", "over", "against": a background may follow.
    On,
    /// A word saying that things occur together.
    Cue,
    Count(u64),
    /// "especially", "including", "e.g.": an aside to skip.
    Hedge,
    /// "any", "whatever", "regardless": what follows does not matter ("of any shape").
    Free,
    /// "a", "an", "the": after "and" it starts a new phrase ("red and a blue background").
    Article,
    /// An opening bracket: an aside begins.
    Open,
    /// A closing bracket.
    Close,
    Filler,
    Unknown(String),
}

fn tokenize(text: &str) -> Vec<Tok> {
    // Abbreviations whose dots are not sentence ends.
    let text = text
        .to_lowercase()
        .replace("e.g.", " eg ")
        .replace("i.e.", " ie ")
        .replace("etc.", " ")
        .replace("no matter", " regardless ")
        .replace("as well as", " and ");
    let mut tokens = Vec::new();
    let mut word = String::new();
    let flush = |word: &mut String, tokens: &mut Vec<Tok>| {
        if !word.is_empty() {
            let w = std::mem::take(word);
            let w = w.trim_matches('\'');
            if !w.is_empty() {
                tokens.push(classify(w.strip_suffix("'s").unwrap_or(w)));
            }
        }
    };
    for ch in text.chars() {
        let punct = match ch {
            ',' | '"' => Some(Tok::Comma),
            '(' | '[' | '{' => Some(Tok::Open),
            ')' | ']' | '}' => Some(Tok::Close),
            '.' | ';' | ':' | '!' | '?' | '\n' => Some(Tok::Stop),
            '/' | '|' => Some(Tok::Or),
            '&' | '+' => Some(Tok::And),
            _ => None,
        };
        if let Some(p) = punct {
            flush(&mut word, &mut tokens);
            tokens.push(p);
        } else if ch.is_whitespace() || ch == '-' || ch == '_' || ch == '*' || ch == '`' {
            flush(&mut word, &mut tokens);
        } else {
            word.extend(ch.to_lowercase());
        }
    }
    flush(&mut word, &mut tokens);
    tokens
}

/// Two-word phrases whose meaning differs from their words': "other than", "rather than",
/// "apart from", "instead of", "as opposed to", "not only".
fn merge_phrases(tokens: Vec<Tok>) -> Vec<Tok> {
    let mut out: Vec<Tok> = Vec::with_capacity(tokens.len());
    let mut previous_word: Option<String> = None;
    for token in tokens {
        let word = match &token {
            Tok::Unknown(w) => Some(w.clone()),
            _ => None,
        };
        let merged = match (previous_word.as_deref(), &token) {
            (Some("other" | "rather"), Tok::Unknown(w)) if w == "than" => Some(Tok::Except),
            (Some("apart"), Tok::Unknown(w)) if w == "from" => Some(Tok::Except),
            (Some("instead" | "opposed"), Tok::Unknown(w)) if w == "of" || w == "to" => {
                Some(Tok::Except)
            }
            _ => None,
        };
        if let Some(m) = merged {
            out.pop();
            out.push(m);
            previous_word = None;
            continue;
        }
        // A pending marker word that was not completed is a filler after all.
        if let Some(w) = previous_word.take()
            && is_marker(&w)
            && let Some(last) = out.last_mut()
        {
            *last = Tok::Filler;
        }
        out.push(token);
        previous_word = word;
    }
    if let Some(w) = previous_word
        && is_marker(&w)
        && let Some(last) = out.last_mut()
    {
        *last = Tok::Filler;
    }
    // "not only X but also Y": the "not" is emphasis.
    let mut cleaned = Vec::with_capacity(out.len());
    let mut skip_next_only = false;
    for (i, token) in out.iter().enumerate() {
        if skip_next_only {
            skip_next_only = false;
            continue;
        }
        if matches!(token, Tok::Not)
            && matches!(out.get(i + 1), Some(Tok::Unknown(w)) if w == "only")
        {
            skip_next_only = true;
            continue;
        }
        cleaned.push(match token {
            Tok::Unknown(w) if w == "only" => Tok::Filler,
            other => other.clone(),
        });
    }
    cleaned
}

/// Words that only mean something together with the next word ("other than"); alone
/// they are fillers.
fn is_marker(word: &str) -> bool {
    matches!(
        word,
        "other" | "rather" | "apart" | "instead" | "opposed" | "than" | "from"
    )
}

fn classify(word: &str) -> Tok {
    if is_marker(word) || word == "only" {
        return Tok::Unknown(word.to_string());
    }
    match word {
        "or" | "either" | "and/or" => return Tok::Or,
        "and" => return Tok::And,
        "but" | "however" | "whereas" | "while" | "yet" | "although" | "though" => {
            return Tok::Stop;
        }
        "except" | "excluding" | "excludes" | "exclude" | "unless" => {
            return Tok::Except;
        }
        "not" | "no" | "never" | "without" | "neither" | "nor" | "isn't" | "aren't" | "doesn't"
        | "don't" | "didn't" | "won't" | "cannot" | "can't" | "lacking" | "lacks" | "absent"
        | "ignores" | "ignoring" | "silent" | "unresponsive" => {
            return Tok::Not;
        }
        "a" | "an" | "the" => return Tok::Article,
        "non" | "un" => return Tok::Non,
        "any" | "whatever" | "whichever" | "regardless" | "irrespective" => return Tok::Free,
        "with" | "having" | "has" | "have" => return Tok::With,
        "on" | "over" | "against" | "upon" => return Tok::On,
        "together" | "both" | "co" | "occur" | "occurs" | "occurring" | "cooccur" | "cooccurs"
        | "cooccurring" | "cooccurrence" | "occurrence" | "simultaneously" | "simultaneous"
        | "same" | "alongside" | "along" | "combination" | "combined" | "combinations"
        | "accompanied" | "jointly" | "conjunction" | "beside" | "next" | "near" | "nearby" => {
            return Tok::Cue;
        }
        "especially" | "particularly" | "notably" | "including" | "includes" | "eg" => {
            return Tok::Hedge;
        }
        "background" | "backgrounds" | "backdrop" | "backdrops" | "bg" => {
            return Tok::Background;
        }
        "object" | "objects" | "shape" | "shapes" | "thing" | "things" | "item" | "items"
        | "figure" | "figures" | "ones" | "anything" | "everything" | "something" | "form"
        | "forms" | "element" | "elements" => return Tok::Generic,
        _ => {}
    }
    if FILLERS.contains(&word) {
        return Tok::Filler;
    }
    if let Some(n) = count(word) {
        return Tok::Count(n);
    }
    if let Some(atom) = attribute(word) {
        return Tok::Attr(atom);
    }
    Tok::Unknown(word.to_string())
}

/// An attribute word: the world's words and synonyms, plus shape adjectives ("circular"),
/// "-ish" colors ("reddish") and plural colors ("reds").
fn attribute(word: &str) -> Option<Atom> {
    if let Some((shape, _)) = Shape::from_word(word) {
        return Some(Atom::Shape(shape));
    }
    if let Some(color) = color(word) {
        return Some(Atom::Color(color));
    }
    if let Some(texture) = Texture::from_word(word) {
        return Some(Atom::Texture(texture));
    }
    let shape = match word {
        "circular" | "round" | "rounded" => Some(Shape::Circle),
        "triangular" => Some(Shape::Triangle),
        "hexagonal" => Some(Shape::Hexagon),
        "starry" | "starlike" => Some(Shape::Star),
        "annular" => Some(Shape::Ring),
        _ => None,
    };
    if let Some(shape) = shape {
        return Some(Atom::Shape(shape));
    }
    let size = match word {
        "small" | "smaller" | "smallest" | "little" | "tiny" | "smallish" | "mini" => {
            Some(SizeClass::Small)
        }
        "medium" | "mid" | "midsize" | "midsized" => Some(SizeClass::Medium),
        "large" | "larger" | "largest" | "big" | "bigger" | "biggest" | "huge" | "giant"
        | "enormous" => Some(SizeClass::Large),
        _ => None,
    };
    size.map(Atom::Size)
}

fn color(word: &str) -> Option<Color> {
    Color::from_word(word)
        .or_else(|| word.strip_suffix("ish").and_then(Color::from_word))
        .or_else(|| word.strip_suffix("dish").and_then(Color::from_word)) // reddish
        .or_else(|| {
            word.strip_suffix("ish")
                .and_then(|w| Color::from_word(&format!("{w}e")))
        }) // bluish
        .or_else(|| word.strip_suffix('s').and_then(Color::from_word))
}

fn count(word: &str) -> Option<u64> {
    Some(match word {
        "one" | "single" | "lone" => 1,
        "two" | "pair" | "couple" => 2,
        "three" | "several" | "few" | "multiple" => 3,
        "four" => 4,
        "five" | "many" => 5,
        "six" => 6,
        digits
            if !digits.is_empty()
                && digits.len() < 6
                && digits.bytes().all(|b| b.is_ascii_digit()) =>
        {
            digits.parse::<u64>().ok()?
        }
        _ => return None,
    })
}

/// Words that carry no meaning for the concept and are skipped without a report.
const FILLERS: &[&str] = &[
    "alone",
    "enough",
    "need",
    "needs",
    "needed",
    "require",
    "requires",
    "required",
    "make",
    "makes",
    "making",
    "this",
    "that",
    "these",
    "those",
    "it",
    "its",
    "it's",
    "they",
    "them",
    "their",
    "there",
    "which",
    "who",
    "whose",
    "what",
    "when",
    "whenever",
    "where",
    "if",
    "of",
    "in",
    "at",
    "to",
    "for",
    "by",
    "from",
    "into",
    "onto",
    "within",
    "inside",
    "among",
    "about",
    "around",
    "than",
    "is",
    "are",
    "be",
    "being",
    "been",
    "was",
    "were",
    "am",
    "do",
    "does",
    "did",
    "can",
    "could",
    "will",
    "would",
    "should",
    "may",
    "might",
    "must",
    "seems",
    "seem",
    "appears",
    "appear",
    "appearing",
    "present",
    "presence",
    "visible",
    "shown",
    "showing",
    "shows",
    "show",
    "depicting",
    "depicts",
    "featuring",
    "features",
    "containing",
    "contains",
    "contain",
    "contained",
    "include",
    "unit",
    "units",
    "neuron",
    "neurons",
    "feature",
    "channel",
    "filter",
    "detector",
    "detectors",
    "detects",
    "detect",
    "detecting",
    "detection",
    "responds",
    "respond",
    "responding",
    "response",
    "responses",
    "responsive",
    "fires",
    "fire",
    "firing",
    "fired",
    "activates",
    "activate",
    "activated",
    "activating",
    "activation",
    "activations",
    "strongly",
    "strong",
    "strongest",
    "weakly",
    "weak",
    "highly",
    "high",
    "highest",
    "low",
    "mostly",
    "mainly",
    "primarily",
    "predominantly",
    "largely",
    "selective",
    "selectively",
    "selectivity",
    "sensitive",
    "sensitivity",
    "tuned",
    "encodes",
    "encode",
    "encoding",
    "represents",
    "represent",
    "recognizes",
    "recognises",
    "prefers",
    "preference",
    "preferring",
    "likes",
    "looks",
    "looking",
    "cares",
    "care",
    "reacts",
    "react",
    "reaction",
    "triggered",
    "trigger",
    "triggers",
    "driven",
    "drives",
    "drive",
    "image",
    "images",
    "picture",
    "pictures",
    "photo",
    "photos",
    "scene",
    "scenes",
    "input",
    "inputs",
    "region",
    "regions",
    "area",
    "areas",
    "part",
    "parts",
    "portion",
    "pixels",
    "whole",
    "entire",
    "all",
    "every",
    "each",
    "some",
    "such",
    "like",
    "kind",
    "kinds",
    "type",
    "types",
    "sort",
    "sorts",
    "colored",
    "coloured",
    "color",
    "colors",
    "colour",
    "colours",
    "hue",
    "hues",
    "pattern",
    "patterns",
    "patterned",
    "textured",
    "texture",
    "textures",
    "shaped",
    "sized",
    "size",
    "sizes",
    "also",
    "just",
    "very",
    "quite",
    "really",
    "specifically",
    "exclusively",
    "independent",
    "independently",
    "whether",
    "so",
    "then",
    "more",
    "most",
    "less",
    "least",
    "even",
    "still",
    "well",
    "as",
    "i",
    "ie",
    "we",
    "you",
    "our",
    "my",
    "one's",
    "here",
    "overall",
    "generally",
    "general",
    "typically",
    "usually",
    "often",
    "always",
    "clearly",
    "likely",
    "probably",
    "possibly",
    "seemingly",
    "apparently",
    "suggests",
    "suggest",
    "evidence",
    "based",
    "description",
    "describe",
    "concept",
    "concepts",
    "category",
    "categories",
    "matter",
    "matters",
    "per",
    "fill",
    "outline",
    "instances",
    "instance",
    "examples",
    "example",
    "cases",
    "case",
    "contents",
    "content",
    "mixed",
    "mix",
    "label",
    "answer",
    "final",
    "hypothesis",
    "via",
    "using",
    "used",
    "located",
    "placed",
    "positioned",
    "sitting",
    "lying",
    "drawn",
    "depicted",
    "rendered",
    "painted",
    "set",
    "sets",
];

#[derive(Debug, Default, Clone)]
struct Np {
    /// Attribute atoms with a negation flag, in the order read.
    atoms: Vec<(Atom, bool)>,
    /// A generic noun ("objects") was read.
    generic: bool,
    /// A noun closed the phrase; later attribute words are a tail.
    headed: bool,
}

impl Np {
    fn is_empty(&self) -> bool {
        self.atoms.is_empty() && !self.generic
    }

    fn push(&mut self, atom: Atom, negated: bool) {
        if !self.atoms.contains(&(atom, negated)) {
            self.atoms.push((atom, negated));
        }
    }

    /// Turns color and texture atoms into background atoms (sizes and shapes cannot
    /// describe a background and are dropped).
    fn move_to_background(atoms: Vec<(Atom, bool)>, into: &mut Np) {
        for (atom, negated) in atoms {
            match atom {
                Atom::Color(c) => into.push(Atom::BackgroundColor(c), negated),
                Atom::Texture(t) => into.push(Atom::BackgroundTexture(t), negated),
                Atom::BackgroundColor(_) | Atom::BackgroundTexture(_) => {
                    into.push(atom, negated);
                }
                Atom::Shape(_) | Atom::Size(_) => {}
            }
        }
    }

    /// The phrase's parts in a fixed order: sizes, colors, textures, shapes, background
    /// colors, background textures, then negations in the order read. Several values of
    /// one attribute are either-or. A phrase with no positive object attribute but a
    /// generic noun or a negation ("objects", "non-red ones") stands for any object.
    fn parts(&self) -> Vec<Concept> {
        let kinds: [fn(&Atom) -> bool; 6] = [
            |a| matches!(a, Atom::Size(_)),
            |a| matches!(a, Atom::Color(_)),
            |a| matches!(a, Atom::Texture(_)),
            |a| matches!(a, Atom::Shape(_)),
            |a| matches!(a, Atom::BackgroundColor(_)),
            |a| matches!(a, Atom::BackgroundTexture(_)),
        ];
        let positive_object = self.atoms.iter().any(|(a, n)| !n && !a.is_background());
        let negated_object = self.atoms.iter().any(|(a, n)| *n && !a.is_background());
        let background = self.atoms.iter().any(|(a, _)| a.is_background());
        let mut parts = Vec::new();
        for (k, kind) in kinds.iter().enumerate() {
            let mut atoms: Vec<Concept> = Vec::new();
            for (a, _) in self.atoms.iter().filter(|(a, n)| !n && kind(a)) {
                if !atoms.contains(&Concept::Atom(*a)) {
                    atoms.push(Concept::Atom(*a));
                }
            }
            let is_shape = k == 3;
            if is_shape
                && atoms.is_empty()
                && !positive_object
                && (negated_object || (self.generic && !background))
            {
                parts.push(any_object());
                continue;
            }
            match atoms.len() {
                0 => {}
                1 => parts.extend(atoms),
                _ => parts.push(Concept::Or(atoms)),
            }
        }
        for background in [false, true] {
            parts.extend(
                self.atoms
                    .iter()
                    .filter(|(a, n)| *n && a.is_background() == background)
                    .map(|(a, _)| Concept::Not(Box::new(Concept::Atom(*a)))),
            );
        }
        parts
    }

    fn concept(&self) -> Option<Concept> {
        let mut parts = self.parts();
        match parts.len() {
            0 => None,
            1 => parts.pop(),
            _ => Some(Concept::And(parts)),
        }
    }

    /// "both red and blue objects": one phrase with two values of one attribute and a
    /// co-occurrence cue means one phrase per value.
    fn split_values(&self) -> Option<Vec<Np>> {
        let positives: Vec<&(Atom, bool)> = self.atoms.iter().filter(|(_, n)| !n).collect();
        let kind = |a: &Atom| std::mem::discriminant(a);
        let first = positives.first()?;
        let of_kind: Vec<Atom> = positives
            .iter()
            .filter(|(a, _)| kind(a) == kind(&first.0))
            .map(|(a, _)| *a)
            .collect();
        let varied_kinds: Vec<std::mem::Discriminant<Atom>> = positives
            .iter()
            .map(|(a, _)| kind(a))
            .filter(|k| positives.iter().filter(|(a, _)| kind(a) == *k).count() > 1)
            .collect();
        if of_kind.len() < 2 || varied_kinds.iter().any(|k| *k != kind(&first.0)) {
            return None;
        }
        Some(
            of_kind
                .iter()
                .map(|value| Np {
                    atoms: self
                        .atoms
                        .iter()
                        .filter(|(a, n)| *n || kind(a) != kind(value) || a == value)
                        .copied()
                        .collect(),
                    generic: self.generic,
                    headed: true,
                })
                .collect(),
        )
    }
}

/// Any object: every shape.
fn any_object() -> Concept {
    Concept::Or(
        Shape::ALL
            .iter()
            .map(|s| Concept::Atom(Atom::Shape(*s)))
            .collect(),
    )
}

/// One sentence's positive phrases: "or", "and" and co-occurrence cues join the phrases
/// of their own sentence only.
#[derive(Debug, Default)]
struct Sentence {
    phrases: Vec<Np>,
    /// Attributes after a noun: they qualify the whole list.
    modifier: Np,
    cue: bool,
    explicit_or: bool,
}

impl Sentence {
    fn concept(mut self) -> Option<Concept> {
        let together = self.cue && !self.explicit_or;
        if together {
            // "both a circle and red together": a bare adjective after a noun phrase
            // describes the same thing.
            let mut merged: Vec<Np> = Vec::with_capacity(self.phrases.len());
            for np in std::mem::take(&mut self.phrases) {
                match merged.last_mut() {
                    Some(previous) if !np.headed && !np.generic => {
                        for (atom, negated) in np.atoms {
                            previous.push(atom, negated);
                        }
                    }
                    _ => merged.push(np),
                }
            }
            self.phrases = merged;
        }
        if together
            && self.phrases.len() == 1
            && let Some(split) = self.phrases.first().and_then(Np::split_values)
        {
            self.phrases = split;
        }
        if self.phrases.len() == 1
            && let Some(only) = self.phrases.first_mut()
        {
            // One phrase: its trailing attributes are simply more of its attributes.
            for (atom, negated) in std::mem::take(&mut self.modifier.atoms) {
                only.push(atom, negated);
            }
        }
        let phrases = specific(self.phrases.iter().filter_map(Np::concept).collect());
        let concept = match phrases.len() {
            0 => None,
            1 => phrases.into_iter().next(),
            _ if together => Some(Concept::With(phrases)),
            _ => Some(Concept::Or(phrases)),
        };
        match (concept, self.modifier.concept()) {
            (c, None) => c,
            (None, m) => m,
            (Some(c), Some(m)) => Some(and_all(c, split_and(m))),
        }
    }
}

/// Concepts without repeats, and without "any object" when something more specific is
/// named beside it ("objects, red ones").
fn specific(concepts: Vec<Concept>) -> Vec<Concept> {
    let mut out: Vec<Concept> = Vec::new();
    for c in concepts {
        if !out.contains(&c) {
            out.push(c);
        }
    }
    if out.len() > 1 {
        out.retain(|c| *c != any_object());
    }
    out
}

/// What one stretch of text said, before asides are merged in.
#[derive(Debug)]
struct Partial {
    positive: Option<Concept>,
    exceptions: Vec<Concept>,
    count: Option<u64>,
    ignored: Vec<String>,
}

impl Partial {
    fn into_reading(self) -> Result<Reading, ReadingError> {
        let exceptions = specific(self.exceptions);
        if self.positive.is_none() && exceptions.is_empty() {
            return Err(ReadingError::NoConcept {
                ignored: self.ignored,
            });
        }
        let base = self.positive.unwrap_or_else(any_object);
        let concept = if exceptions.is_empty() {
            base
        } else {
            and_all(
                base,
                exceptions
                    .into_iter()
                    .map(|e| Concept::Not(Box::new(e)))
                    .collect(),
            )
        };
        Ok(Reading {
            concept,
            ignored: self.ignored,
            count: self.count,
            expression: false,
        })
    }
}

#[derive(Debug, Default)]
struct Reader {
    sentences: Vec<Sentence>,
    sentence: Sentence,
    exceptions: Vec<Np>,
    current: Np,
    excepting: bool,
    /// Attribute words after the current phrase's noun.
    tail: Vec<(Atom, bool)>,
    /// "on" was read since the noun: a tail of colors/textures is a background.
    after_on: bool,
    /// "background" with no adjectives before it: following colors/textures are its.
    background_predicate: bool,
    /// "non": the next attribute word is negated.
    negate_next: bool,
    /// A connective was just read inside an unfinished phrase.
    after_connective: bool,
    /// Where "and a …" began a new phrase inside the unfinished one.
    split_at: Option<usize>,
    count: Option<u64>,
    ignored: Vec<String>,
}

impl Reader {
    fn feed(&mut self, token: &Tok) {
        let connective = matches!(token, Tok::Or | Tok::And | Tok::Comma);
        if !matches!(token, Tok::Article | Tok::Filler) {
            self.after_connective =
                connective && !self.current.headed && !self.current.atoms.is_empty();
        }
        match token {
            Tok::Attr(atom) => {
                let negated = std::mem::take(&mut self.negate_next);
                self.attribute(*atom, negated);
            }
            Tok::Generic => {
                if !self.current.headed {
                    self.after_on = false;
                }
                self.current.generic = true;
                self.current.headed = true;
            }
            Tok::Background => self.background(),
            Tok::Or | Tok::And | Tok::Comma => {
                if matches!(token, Tok::Or) && !self.excepting {
                    self.sentence.explicit_or = true;
                }
                if self.current.headed || !self.tail.is_empty() {
                    self.close();
                }
                self.after_on = false;
            }
            Tok::Stop => {
                self.close();
                self.excepting = false;
                let sentence = std::mem::take(&mut self.sentence);
                self.sentences.push(sentence);
            }
            Tok::Except | Tok::Not => {
                self.close();
                self.excepting = true;
            }
            Tok::Non => self.negate_next = true,
            Tok::On => self.after_on = true,
            Tok::Cue => self.sentence.cue = true,
            Tok::Count(n) => {
                if !self.excepting && *n > 0 {
                    self.count = Some(self.count.map_or(*n, |c| c.max(*n)));
                }
            }
            Tok::Article => {
                if self.after_connective {
                    self.split_at = Some(self.current.atoms.len());
                }
            }
            Tok::With | Tok::Hedge | Tok::Free | Tok::Open | Tok::Close | Tok::Filler => {}
            Tok::Unknown(word) => {
                if !self.ignored.contains(word) {
                    self.ignored.push(word.clone());
                }
            }
        }
    }

    /// Whether a comma or "or" here continues a list of background colours or textures
    /// ("on a black, brown or blue background"): after "on", with only colours and
    /// textures read since, and more of them up to a "background" noun.
    fn background_list_continues(&self, rest: &[Tok]) -> bool {
        if !self.after_on
            || self.tail.is_empty()
            || !self
                .tail
                .iter()
                .all(|(a, _)| matches!(a, Atom::Color(_) | Atom::Texture(_)))
        {
            return false;
        }
        for token in rest {
            match token {
                Tok::Attr(Atom::Color(_) | Atom::Texture(_))
                | Tok::Or
                | Tok::Comma
                | Tok::Article
                | Tok::Filler => {}
                Tok::Background => return true,
                _ => return false,
            }
        }
        false
    }

    /// "with": after a noun and before another noun it links two things that occur
    /// together ("a circle with a star"); otherwise it introduces attributes ("circles with
    /// stripes", "images with a blue background") and means nothing itself.
    fn with(&mut self, rest: &[Tok]) {
        if !self.current.headed {
            return;
        }
        let ahead = rest
            .iter()
            .take_while(|t| {
                !matches!(
                    t,
                    Tok::Or | Tok::And | Tok::Comma | Tok::Stop | Tok::Except | Tok::Not
                )
            })
            .collect::<Vec<_>>();
        let names_object = ahead
            .iter()
            .any(|t| matches!(t, Tok::Attr(Atom::Shape(_)) | Tok::Generic));
        let names_background = ahead.iter().any(|t| matches!(t, Tok::Background));
        if names_object && !names_background {
            self.close();
            if !self.excepting {
                self.sentence.cue = true;
            }
        }
    }

    fn attribute(&mut self, atom: Atom, negated: bool) {
        if self.background_predicate && matches!(atom, Atom::Color(_) | Atom::Texture(_)) {
            let mut target = std::mem::take(self.tail_target());
            Np::move_to_background(vec![(atom, negated)], &mut target);
            *self.tail_target() = target;
            return;
        }
        if let Atom::Shape(_) = atom {
            self.background_predicate = false;
            if self.current.headed {
                if self.current.atoms.is_empty() && self.tail.is_empty() {
                    // "shapes such as circles": the generic noun gives way.
                    self.current.generic = false;
                } else {
                    self.close();
                }
            } else if !self.tail.is_empty() {
                self.close();
            }
            self.current.push(atom, negated);
            self.current.headed = true;
            self.after_on = false;
            return;
        }
        if self.current.headed {
            self.tail.push((atom, negated));
        } else if self.split_at.is_some() {
            // After "and a": keep repeats, they may belong to the new phrase.
            self.current.atoms.push((atom, negated));
        } else {
            self.current.push(atom, negated);
        }
    }

    /// Where attributes read after a noun go: the list-wide modifier in the positive
    /// part, the phrase itself in an exception.
    fn tail_target(&mut self) -> &mut Np {
        if self.excepting || !self.current.headed {
            &mut self.current
        } else {
            &mut self.sentence.modifier
        }
    }

    fn background(&mut self) {
        if !self.tail.is_empty() {
            let tail = std::mem::take(&mut self.tail);
            let mut target = std::mem::take(self.tail_target());
            Np::move_to_background(tail, &mut target);
            *self.tail_target() = target;
        } else if !self.current.headed
            && self
                .current
                .atoms
                .iter()
                .any(|(a, _)| matches!(a, Atom::Color(_) | Atom::Texture(_)))
        {
            // "blue background", "a striped blue backdrop"; "red and a striped background"
            // is an object phrase and a background.
            let mut atoms = std::mem::take(&mut self.current.atoms);
            let split = self.split_at.filter(|&k| k > 0 && k < atoms.len());
            if let Some(k) = split {
                let background = atoms.split_off(k);
                let object = Np {
                    atoms,
                    generic: self.current.generic,
                    headed: false,
                };
                self.current.generic = false;
                if self.excepting {
                    self.exceptions.push(object);
                } else {
                    self.sentence.phrases.push(object);
                }
                atoms = background;
            }
            Np::move_to_background(atoms, &mut self.current);
            self.current.headed = true;
        } else {
            // "background is blue", "backgrounds that are striped".
            self.background_predicate = true;
            if self.current.is_empty() {
                self.current.headed = true;
            }
        }
        self.after_on = false;
    }

    /// Ends the current phrase: its tail goes where it belongs and the phrase joins the
    /// positive list or the exceptions.
    fn close(&mut self) {
        let tail = std::mem::take(&mut self.tail);
        if !tail.is_empty() {
            let background = self.after_on
                && tail
                    .iter()
                    .all(|(a, _)| matches!(a, Atom::Color(_) | Atom::Texture(_)));
            let mut target = std::mem::take(self.tail_target());
            if background {
                Np::move_to_background(tail, &mut target);
            } else {
                for (atom, negated) in tail {
                    target.push(atom, negated);
                }
            }
            *self.tail_target() = target;
        }
        let np = std::mem::take(&mut self.current);
        if !np.is_empty() {
            if self.excepting {
                self.exceptions.push(np);
            } else {
                self.sentence.phrases.push(np);
            }
        }
        self.after_on = false;
        self.background_predicate = false;
        self.negate_next = false;
        self.after_connective = false;
        self.split_at = None;
    }

    fn finish(mut self) -> Partial {
        self.close();
        let last = std::mem::take(&mut self.sentence);
        self.sentences.push(last);
        let sentences = specific(
            self.sentences
                .into_iter()
                .filter_map(Sentence::concept)
                .collect(),
        );
        let positive = match sentences.len() {
            0 => None,
            1 => sentences.into_iter().next(),
            _ => Some(Concept::Or(sentences)),
        };
        let exceptions = self
            .exceptions
            .iter()
            .filter_map(|np| {
                let mut np = np.clone();
                // "not objects that are red": the noun adds nothing to the exception.
                if np.atoms.iter().any(|(a, _)| !a.is_background()) {
                    np.generic = false;
                }
                np.concept()
            })
            .collect();
        Partial {
            positive,
            exceptions,
            count: self.count,
            ignored: self.ignored,
        }
    }
}

fn split_and(concept: Concept) -> Vec<Concept> {
    match concept {
        Concept::And(parts) => parts,
        other => vec![other],
    }
}

/// `base & extra…`, flattening `base` when it is already a conjunction.
fn and_all(base: Concept, extra: Vec<Concept>) -> Concept {
    let mut parts = split_and(base);
    for e in extra {
        if !parts.contains(&e) {
            parts.push(e);
        }
    }
    if parts.len() == 1 {
        parts.pop().unwrap_or_else(any_object)
    } else {
        Concept::And(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::catalogue;

    fn read(text: &str) -> Concept {
        read_description(text)
            .map(|r| r.concept)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn expr(text: &str) -> Concept {
        Concept::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn every_catalogue_description_reads_back_to_its_concept() {
        for unit in catalogue() {
            assert_eq!(
                read(&unit.description),
                unit.concept,
                "{}: '{}'",
                unit.name,
                unit.description
            );
        }
    }

    #[test]
    fn a_list_of_background_colours_stays_one_background() {
        for (text, want) in [
            (
                "small squares on a black, brown, blue or purple background",
                "small & square & (bg:black | bg:brown | bg:blue | bg:purple)",
            ),
            (
                "red circles on blue or green backgrounds",
                "red & circle & (bg:blue | bg:green)",
            ),
            // Without a background noun the commas still separate phrases.
            (
                "circles on blue, squares on red",
                "(circle | square) & (bg:blue | bg:red)",
            ),
        ] {
            assert_eq!(read(text), expr(want), "{text}");
        }
    }

    #[test]
    fn free_text_descriptions() {
        for (text, want) in [
            ("The unit fires on red circles.", "red & circle"),
            ("red", "red"),
            (
                "Selective for striped shapes, except squares",
                "striped & !square",
            ),
            (
                "circles or stars but not red ones",
                "(circle | star) & !red",
            ),
            ("red and blue circles", "(red | blue) & circle"),
            ("circles with stripes", "striped & circle"),
            ("a circle with a star", "circle + star"),
            ("both red and blue objects in the same image", "red + blue"),
            ("images with a blue background", "bg:blue"),
            ("The background is black", "bg:black"),
            ("a red circle on white", "red & circle & bg:white"),
            ("non-red circles", "circle & !red"),
            ("large stars that are not yellow", "large & star & !yellow"),
            ("red objects, especially circles", "red"),
            ("reddish round shapes", "red & circle"),
            (
                "Responds to circles. It does not respond to blue ones.",
                "circle & !blue",
            ),
            ("triangles rather than squares", "triangle & !square"),
            (
                "two small red striped circles",
                "small & red & striped & circle",
            ),
        ] {
            assert_eq!(read(text), expr(want), "{text}");
        }
    }

    /// Whether two concepts are present in the same scenes: random dataset scenes plus
    /// scenes sampled to show each.
    fn same_presence(a: &Concept, b: &Concept) -> bool {
        let mut scenes: Vec<crate::Scene> = crate::generate(300, 5).map(|(_, s)| s).collect();
        for c in [a, b] {
            scenes.extend(crate::scenes_with(c, 40, 6).unwrap_or_default());
        }
        scenes.iter().all(|s| a.present_in(s) == b.present_in(s))
    }

    #[test]
    fn asides_colons_and_free_phrases() {
        for (text, want) in [
            ("objects with a specific color (red)", "red"),
            ("red (bright) circles", "red & circle"),
            ("circles (but not red ones)", "circle & !red"),
            ("circles, no matter their color", "circle"),
            ("any red object", "red"),
            ("Circles: not red ones.", "circle & !red"),
        ] {
            assert_eq!(read(text), expr(want), "{text}");
        }
    }

    /// Answers in the style of the offline experimenter: the concept's phrase, then an
    /// explanation of its structure.
    #[test]
    fn answers_with_explanations_read_as_their_concept() {
        let atoms = [
            "circle",
            "star",
            "red",
            "blue",
            "striped",
            "small",
            "large",
            "bg:blue",
            "bg:striped",
        ];
        let singular = |a: &str| match a {
            "circle" | "star" => format!("a {a}"),
            bg if bg.starts_with("bg:") => format!("a {} background", &bg[3..]),
            other => other.to_owned(),
        };
        let plural = |a: &str| expr(a).describe();
        let predicate = |a: &str| match a {
            "circle" => "circles".to_owned(),
            "star" => "stars".to_owned(),
            bg if bg.starts_with("bg:") => format!("on a {} background", &bg[3..]),
            other => other.to_owned(),
        };
        let rest = |a: &str| match a {
            "circle" | "star" => "whatever their color, texture or size, on any background",
            "red" | "blue" => "of any shape, texture or size, on any background",
            "striped" => "of any shape, color or size, on any background",
            "small" | "large" => "of any shape, color or texture, on any background",
            _ => "whatever objects they show",
        };
        let mut checked = 0;
        for a in atoms {
            let c = expr(a);
            let text = format!("{}, {}", c.describe(), rest(a));
            assert_eq!(read(&text), c, "{text}");
            for b in atoms {
                if a == b {
                    continue;
                }
                let kind = |x: &str| match x {
                    "circle" | "star" => 0,
                    "red" | "blue" => 1,
                    "small" | "large" => 2,
                    _ => 3,
                };
                let mut cases = Vec::new();
                // Two values of one object attribute never hold together.
                if kind(a) != kind(b) || a.starts_with("bg:") {
                    cases.push((
                        format!("{a} & {b}"),
                        "{phrase}: the unit needs both {sa} and {sb} together (a conjunction; either alone is not enough)",
                    ));
                }
                cases.extend([
                    (
                        format!("{a} | {b}"),
                        "{phrase}: either one alone is enough (a disjunction)",
                    ),
                    (
                        format!("{a} + {b}"),
                        "{phrase} (a co-occurrence: neither alone is enough)",
                    ),
                ]);
                if !a.starts_with("bg:") {
                    cases.push((
                        format!("{a} & !{b}"),
                        "{phrase}: {pa} make it fire unless they are {pb} (an exclusion)",
                    ));
                }
                for (concept, template) in cases {
                    let want = expr(&concept);
                    let text = template
                        .replace("{phrase}", &want.describe())
                        .replace("{sa}", &singular(a))
                        .replace("{sb}", &singular(b))
                        .replace("{pa}", &plural(a))
                        .replace("{pb}", &predicate(b));
                    let got = read(&text);
                    assert!(
                        same_presence(&got, &want),
                        "{text}\n  read {got}\n  want {want}"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 200, "{checked}");
    }

    #[test]
    fn expressions_are_taken_as_they_are() {
        let r = read_description("(circle|star) & !red").unwrap_or_else(|e| panic!("{e}"));
        assert!(r.expression);
        assert_eq!(r.concept, expr("(circle | star) & !red"));
    }

    #[test]
    fn counts_and_unknown_words_are_reported() {
        let r = read_description("two shiny red circles").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.count, Some(2));
        assert_eq!(r.ignored, vec!["shiny".to_string()]);
    }

    #[test]
    fn nothing_to_read_is_an_error_that_names_the_words() {
        assert_eq!(read_description("   "), Err(ReadingError::Empty));
        let err = read_description("círculos rojos con rayas")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("círculos"), "{err}");
        assert!(err.contains("another language"), "{err}");
        assert!(matches!(
            read_description("the unit"),
            Err(ReadingError::NoConcept { .. })
        ));
        let long = "red ".repeat(MAX_DESCRIPTION_CHARS);
        assert!(matches!(
            read_description(&long),
            Err(ReadingError::TooLong { .. })
        ));
    }
}
