//! The concept language: boolean expressions over object attributes.
//!
//! ```text
//! expr  := with ('+' with)*          co-occurrence: every part present in the image
//! with  := or                         (kept as a separate level for precedence)
//! or    := and (('|' | "or") and)*
//! and   := unary (('&' | "and") unary)*
//! unary := ('!' | "not") unary | '(' expr ')' | atom
//! atom  := shape | color | texture | size | bg:<color> | bg:<texture>
//! ```
//!
//! A concept picks *regions* of a scene: each object is a region and so is the background.
//! Object atoms (`circle`, `red`, `striped`, `small`) hold for objects only; `bg:` atoms hold
//! for every region of an image whose background matches. `&`, `|` and `!` act per region,
//! so `red & circle` means "red circles" and `circle & !red` "circles that are not red".
//! `A + B` picks the regions of A and of B, but only in images where both are present
//! (MAIA's AND-neuron convention); otherwise nothing.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::attributes::{Color, Shape, SizeClass, Texture};
use crate::scene::{Object, Scene};

/// Longest concept expression accepted, in characters.
pub const MAX_CONCEPT_CHARS: usize = 500;

/// One attribute test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Atom {
    /// The object has this shape.
    Shape(Shape),
    /// The object has this color.
    Color(Color),
    /// The object has this texture.
    Texture(Texture),
    /// The object is in this size class.
    Size(SizeClass),
    /// The image's background has this color.
    BackgroundColor(Color),
    /// The image's background has this texture.
    BackgroundTexture(Texture),
}

impl Atom {
    /// Parses one atom word ("circle", "red", "striped", "small", "bg:blue").
    pub fn parse(word: &str) -> Option<Atom> {
        let word = word.to_ascii_lowercase();
        if let Some(rest) = word.strip_prefix("bg:") {
            if let Some(color) = Color::from_word(rest) {
                return Some(Atom::BackgroundColor(color));
            }
            return Texture::from_word(rest).map(Atom::BackgroundTexture);
        }
        if let Some((shape, _)) = Shape::from_word(&word) {
            return Some(Atom::Shape(shape));
        }
        if let Some(color) = Color::from_word(&word) {
            return Some(Atom::Color(color));
        }
        if let Some(texture) = Texture::from_word(&word) {
            return Some(Atom::Texture(texture));
        }
        match word.as_str() {
            "small" => Some(Atom::Size(SizeClass::Small)),
            "medium" => Some(Atom::Size(SizeClass::Medium)),
            "large" | "big" => Some(Atom::Size(SizeClass::Large)),
            _ => None,
        }
    }

    /// True for `bg:` atoms.
    pub fn is_background(self) -> bool {
        matches!(self, Atom::BackgroundColor(_) | Atom::BackgroundTexture(_))
    }

    /// Whether the atom holds for a region: `Some(object)` or `None` for the background.
    pub fn holds(self, region: Option<&Object>, scene: &Scene) -> bool {
        match (self, region) {
            (Atom::BackgroundColor(c), _) => scene.background.color == c,
            (Atom::BackgroundTexture(t), _) => scene.background.texture == t,
            (_, None) => false,
            (Atom::Shape(s), Some(o)) => o.shape == s,
            (Atom::Color(c), Some(o)) => o.color == c,
            (Atom::Texture(t), Some(o)) => o.texture == t,
            (Atom::Size(s), Some(o)) => o.size_class() == s,
        }
    }
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Atom::Shape(s) => f.write_str(s.name()),
            Atom::Color(c) => f.write_str(c.name()),
            Atom::Texture(t) => f.write_str(t.adjective()),
            Atom::Size(s) => f.write_str(s.name()),
            Atom::BackgroundColor(c) => write!(f, "bg:{}", c.name()),
            Atom::BackgroundTexture(t) => write!(f, "bg:{}", t.adjective()),
        }
    }
}

/// A parsed concept expression. Serializes as its canonical expression string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Concept {
    /// An attribute test.
    Atom(Atom),
    /// Regions where the inner concept does not hold.
    Not(Box<Concept>),
    /// Regions where all parts hold.
    And(Vec<Concept>),
    /// Regions where any part holds.
    Or(Vec<Concept>),
    /// The regions of every part, in images where every part picks something.
    With(Vec<Concept>),
}

/// Why a concept expression did not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConceptError {
    /// Nothing to parse.
    #[error("the concept is empty; write e.g. '(circle|star) & !red'")]
    Empty,
    /// Longer than [`MAX_CONCEPT_CHARS`].
    #[error("the concept is {chars} characters long; at most {max} are accepted")]
    TooLong {
        /// Length in characters.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// A word that is not an atom.
    #[error("unknown atom '{atom}' at character {position}; valid atoms are: {valid}")]
    UnknownAtom {
        /// The word.
        atom: String,
        /// Character offset.
        position: usize,
        /// Valid atoms, comma-separated.
        valid: String,
    },
    /// A character that is neither part of a word nor an operator.
    #[error("unexpected character '{ch}' at {position}; use atoms with & | ! + ( )")]
    BadChar {
        /// The character.
        ch: char,
        /// Character offset.
        position: usize,
    },
    /// A token in the wrong place.
    #[error("unexpected '{token}' at character {position}; expected {expected}")]
    Unexpected {
        /// The token.
        token: String,
        /// Character offset.
        position: usize,
        /// What would have fit.
        expected: String,
    },
    /// The expression stopped early.
    #[error("the concept ends too early; expected {expected}")]
    UnexpectedEnd {
        /// What would have fit.
        expected: String,
    },
    /// The expression is nested too deeply.
    #[error("the concept is nested more than {max} levels deep")]
    TooDeep {
        /// The limit.
        max: usize,
    },
}

/// Every valid atom word, for error messages.
pub fn valid_atoms() -> String {
    let mut atoms: Vec<String> = Vec::new();
    atoms.extend(Shape::ALL.iter().map(|s| s.name().to_string()));
    atoms.extend(Color::ALL.iter().map(|c| c.name().to_string()));
    atoms.extend(Texture::ALL.iter().map(|t| t.adjective().to_string()));
    atoms.extend(SizeClass::ALL.iter().map(|s| s.name().to_string()));
    atoms.push(String::from("bg:<color>"));
    atoms.push(String::from("bg:<texture>"));
    atoms.join(", ")
}

const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    And,
    Or,
    Not,
    With,
    Open,
    Close,
}

impl Token {
    fn text(&self) -> String {
        match self {
            Token::Word(w) => w.clone(),
            Token::And => "&".into(),
            Token::Or => "|".into(),
            Token::Not => "!".into(),
            Token::With => "+".into(),
            Token::Open => "(".into(),
            Token::Close => ")".into(),
        }
    }
}

fn lex(text: &str) -> Result<Vec<(Token, usize)>, ConceptError> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    let mut word_start = 0;
    let flush = |word: &mut String, start: usize, tokens: &mut Vec<(Token, usize)>| {
        if word.is_empty() {
            return;
        }
        let w = std::mem::take(word).to_ascii_lowercase();
        let token = match w.as_str() {
            "and" => Token::And,
            "or" => Token::Or,
            "not" => Token::Not,
            "with" => Token::With,
            _ => Token::Word(w),
        };
        tokens.push((token, start));
    };
    for (position, ch) in text.chars().enumerate() {
        let symbol = match ch {
            '&' => Some(Token::And),
            '|' => Some(Token::Or),
            '!' | '~' => Some(Token::Not),
            '+' => Some(Token::With),
            '(' => Some(Token::Open),
            ')' => Some(Token::Close),
            _ => None,
        };
        if let Some(symbol) = symbol {
            flush(&mut word, word_start, &mut tokens);
            tokens.push((symbol, position));
        } else if ch.is_whitespace() {
            flush(&mut word, word_start, &mut tokens);
        } else if ch.is_ascii_alphanumeric() || ch == ':' || ch == '_' || ch == '-' {
            if word.is_empty() {
                word_start = position;
            }
            word.push(ch);
        } else {
            return Err(ConceptError::BadChar { ch, position });
        }
    }
    flush(&mut word, word_start, &mut tokens);
    Ok(tokens)
}

struct ConceptParser {
    tokens: Vec<(Token, usize)>,
    at: usize,
    depth: usize,
}

impl ConceptParser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(t, _)| t)
    }

    fn descend(&mut self) -> Result<(), ConceptError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ConceptError::TooDeep { max: MAX_DEPTH });
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Concept, ConceptError> {
        self.descend()?;
        let mut parts = vec![self.or()?];
        while self.peek() == Some(&Token::With) {
            self.at += 1;
            parts.push(self.or()?);
        }
        self.depth -= 1;
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Concept::With(parts)
        })
    }

    fn or(&mut self) -> Result<Concept, ConceptError> {
        let mut parts = vec![self.and()?];
        while self.peek() == Some(&Token::Or) {
            self.at += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Concept::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Concept, ConceptError> {
        let mut parts = vec![self.unary()?];
        while self.peek() == Some(&Token::And) {
            self.at += 1;
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Concept::And(parts)
        })
    }

    fn unary(&mut self) -> Result<Concept, ConceptError> {
        let expected = "an atom, '!' or '('";
        let Some((token, position)) = self.tokens.get(self.at).cloned() else {
            return Err(ConceptError::UnexpectedEnd {
                expected: expected.into(),
            });
        };
        self.at += 1;
        match token {
            Token::Not => {
                self.descend()?;
                let inner = self.unary()?;
                self.depth -= 1;
                Ok(Concept::Not(Box::new(inner)))
            }
            Token::Open => {
                let inner = self.expr()?;
                match self.tokens.get(self.at) {
                    Some((Token::Close, _)) => {
                        self.at += 1;
                        Ok(inner)
                    }
                    Some((other, position)) => Err(ConceptError::Unexpected {
                        token: other.text(),
                        position: *position,
                        expected: "')'".into(),
                    }),
                    None => Err(ConceptError::UnexpectedEnd {
                        expected: "')'".into(),
                    }),
                }
            }
            Token::Word(word) => match Atom::parse(&word) {
                Some(atom) => Ok(Concept::Atom(atom)),
                None => Err(ConceptError::UnknownAtom {
                    atom: word,
                    position,
                    valid: valid_atoms(),
                }),
            },
            other => Err(ConceptError::Unexpected {
                token: other.text(),
                position,
                expected: expected.into(),
            }),
        }
    }
}

impl Concept {
    /// Parses a concept expression such as `(circle|star) & !red`.
    pub fn parse(text: &str) -> Result<Concept, ConceptError> {
        let chars = text.chars().count();
        if chars > MAX_CONCEPT_CHARS {
            return Err(ConceptError::TooLong {
                chars,
                max: MAX_CONCEPT_CHARS,
            });
        }
        let tokens = lex(text)?;
        if tokens.is_empty() {
            return Err(ConceptError::Empty);
        }
        let mut parser = ConceptParser {
            tokens,
            at: 0,
            depth: 0,
        };
        let concept = parser.expr()?;
        if let Some((token, position)) = parser.tokens.get(parser.at) {
            return Err(ConceptError::Unexpected {
                token: token.text(),
                position: *position,
                expected: "'&', '|', '+' or the end".into(),
            });
        }
        Ok(concept)
    }

    /// For each region (every object in order, then the background), whether the concept
    /// picks it.
    pub fn regions(&self, scene: &Scene) -> Vec<bool> {
        let regions: Vec<Option<&Object>> = scene
            .objects
            .iter()
            .map(Some)
            .chain(std::iter::once(None))
            .collect();
        self.eval(&regions, scene)
    }

    fn eval(&self, regions: &[Option<&Object>], scene: &Scene) -> Vec<bool> {
        match self {
            Concept::Atom(atom) => regions.iter().map(|r| atom.holds(*r, scene)).collect(),
            Concept::Not(inner) => inner.eval(regions, scene).into_iter().map(|b| !b).collect(),
            Concept::And(parts) => combine(parts, regions, scene, true),
            Concept::Or(parts) => combine(parts, regions, scene, false),
            Concept::With(parts) => {
                let sets: Vec<Vec<bool>> = parts.iter().map(|p| p.eval(regions, scene)).collect();
                let all_present = sets.iter().all(|s| s.iter().any(|&b| b));
                (0..regions.len())
                    .map(|i| all_present && sets.iter().any(|s| s.get(i).copied().unwrap_or(false)))
                    .collect()
            }
        }
    }

    /// Whether the concept picks anything in the scene (its unit would fire).
    pub fn present_in(&self, scene: &Scene) -> bool {
        self.regions(scene).into_iter().any(|b| b)
    }

    /// A ground-truth English description ("red circles", "circles that are not red").
    pub fn describe(&self) -> String {
        match self {
            Concept::Or(parts) => parts
                .iter()
                .map(Concept::describe)
                .collect::<Vec<_>>()
                .join(" or "),
            Concept::With(parts) => format!(
                "{}, only in images containing all of them together",
                parts
                    .iter()
                    .map(Concept::describe)
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
            Concept::Not(inner) => match inner.as_ref() {
                Concept::Atom(atom) if !atom.is_background() => {
                    format!("everything except {}", Concept::Atom(*atom).describe())
                }
                other => format!("everything except {}", other.describe()),
            },
            Concept::Atom(_) | Concept::And(_) => self.noun_phrase(),
        }
    }

    /// Describes an atom or a conjunction as a noun phrase with qualifiers.
    fn noun_phrase(&self) -> String {
        let parts: Vec<&Concept> = match self {
            Concept::And(parts) => parts.iter().collect(),
            other => vec![other],
        };
        let mut size = None;
        let mut color = None;
        let mut texture = None;
        let mut shape = None;
        let mut background = Vec::new();
        let mut negated = Vec::new();
        let mut other = Vec::new();
        for part in parts {
            match part {
                Concept::Atom(Atom::Size(s)) if size.is_none() => size = Some(s.name()),
                Concept::Atom(Atom::Color(c)) if color.is_none() => color = Some(c.name()),
                Concept::Atom(Atom::Texture(t)) if texture.is_none() => {
                    texture = Some(t.adjective())
                }
                Concept::Atom(Atom::Shape(s)) if shape.is_none() => shape = Some(s.plural()),
                Concept::Atom(a @ (Atom::BackgroundColor(_) | Atom::BackgroundTexture(_))) => {
                    background.push(bg_words(*a));
                }
                Concept::Not(inner) => negated.push(adjective_or_phrase(inner)),
                p => other.push(p.describe()),
            }
        }
        let adjectives: Vec<&str> = [size, color, texture].into_iter().flatten().collect();
        let has_object_part = !adjectives.is_empty() || shape.is_some() || !negated.is_empty();
        let mut phrase = if has_object_part {
            let noun = shape.unwrap_or("objects");
            if adjectives.is_empty() {
                noun.to_string()
            } else {
                format!("{} {noun}", adjectives.join(" "))
            }
        } else if background.is_empty() {
            String::from("objects")
        } else {
            String::from("images")
        };
        if !negated.is_empty() {
            phrase = format!("{phrase} that are not {}", negated.join(" and not "));
        }
        if !other.is_empty() {
            phrase = format!("{phrase} that are also ({})", other.join("; "));
        }
        if !background.is_empty() {
            let connective = if has_object_part { "on" } else { "with" };
            phrase = format!(
                "{phrase} {connective} a {} background",
                background.join(" ")
            );
        }
        phrase
    }
}

fn bg_words(atom: Atom) -> &'static str {
    match atom {
        Atom::BackgroundColor(c) => c.name(),
        Atom::BackgroundTexture(t) => t.adjective(),
        _ => "",
    }
}

fn adjective_or_phrase(concept: &Concept) -> String {
    match concept {
        Concept::Atom(Atom::Shape(s)) => s.plural().to_string(),
        Concept::Atom(Atom::BackgroundColor(c)) => format!("on a {} background", c.name()),
        Concept::Atom(Atom::BackgroundTexture(t)) => {
            format!("on a {} background", t.adjective())
        }
        Concept::Atom(atom) => atom.to_string(),
        other => format!("({})", other.describe()),
    }
}

fn combine(parts: &[Concept], regions: &[Option<&Object>], scene: &Scene, all: bool) -> Vec<bool> {
    let mut result = vec![all; regions.len()];
    for part in parts {
        for (r, b) in result.iter_mut().zip(part.eval(regions, scene)) {
            *r = if all { *r && b } else { *r || b };
        }
    }
    result
}

impl fmt::Display for Concept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn join(
            f: &mut fmt::Formatter<'_>,
            parts: &[Concept],
            op: &str,
            parent: u8,
        ) -> fmt::Result {
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    f.write_str(op)?;
                }
                if precedence(part) <= parent {
                    write!(f, "({part})")?;
                } else {
                    write!(f, "{part}")?;
                }
            }
            Ok(())
        }
        match self {
            Concept::Atom(atom) => write!(f, "{atom}"),
            Concept::Not(inner) => {
                if matches!(inner.as_ref(), Concept::Atom(_) | Concept::Not(_)) {
                    write!(f, "!{inner}")
                } else {
                    write!(f, "!({inner})")
                }
            }
            Concept::And(parts) => join(f, parts, " & ", 2),
            Concept::Or(parts) => join(f, parts, " | ", 1),
            Concept::With(parts) => join(f, parts, " + ", 0),
        }
    }
}

fn precedence(concept: &Concept) -> u8 {
    match concept {
        Concept::With(_) => 0,
        Concept::Or(_) => 1,
        Concept::And(_) => 2,
        Concept::Not(_) | Concept::Atom(_) => 3,
    }
}

impl From<Concept> for String {
    fn from(concept: Concept) -> String {
        concept.to_string()
    }
}

impl TryFrom<String> for Concept {
    type Error = ConceptError;

    fn try_from(text: String) -> Result<Concept, ConceptError> {
        Concept::parse(&text)
    }
}
