//! Edits: English instructions that change a scene ("make the circle green").
//!
//! An instruction is one or more clauses separated by `;`, `.`, "then", or "and" followed
//! by a verb. Each clause starts with a verb — make/turn/change/paint, remove/delete,
//! add/draw, replace/swap, move, enlarge/shrink — followed by a reference to objects
//! ("the red square", "all circles", "it", "the background") and, for changes, the new
//! attributes. Edits are atomic: if any clause cannot be applied, nothing is and the error
//! says why, naming the objects that are in the image.

use thiserror::Error;

use crate::attributes::{Color, Shape, SizeClass, Texture};
use crate::layout::{self, Horizontal, Placement, Vertical};
use crate::prompt::{MAX_PROMPT_CHARS, PromptError, parse_description};
use crate::rng::mix;
use crate::scene::{MAX_OBJECTS, Object, Scene};
use crate::warning::Warning;
use crate::words::{Word, classify, tokenize};

/// How much "bigger" / "smaller" scale an object.
const GROW: f32 = 1.4;
/// Smallest and largest size an edit may produce.
const SIZE_LIMITS: (f32, f32) = (0.08, 0.5);

/// The verbs an edit clause may start with, for error messages.
pub const EDIT_VERBS: &[&str] = &[
    "make", "turn", "change", "paint", "color", "set", "remove", "delete", "erase", "add", "draw",
    "insert", "put", "replace", "swap", "move", "enlarge", "grow", "shrink",
];

/// The result of applying an instruction.
#[derive(Debug, Clone, PartialEq)]
pub struct EditOutcome {
    /// The edited scene.
    pub scene: Scene,
    /// One line per change made ("red circle → green circle").
    pub applied: Vec<String>,
    /// Words not understood, ambiguous references, clamped counts.
    pub warnings: Vec<Warning>,
}

/// Why an instruction could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EditError {
    /// The instruction was empty.
    #[error("the edit is empty; try 'make the circle green' or 'remove the star'")]
    Empty,
    /// The instruction was too long.
    #[error("the edit is {chars} characters long; at most {max} are accepted")]
    TooLong {
        /// Length in characters.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// A clause did not start with a known verb.
    #[error("don't know how to '{verb}' in '{clause}'; start an edit with one of: {known}")]
    UnknownVerb {
        /// The first word of the clause.
        verb: String,
        /// The clause.
        clause: String,
        /// Known verbs, comma-separated.
        known: String,
    },
    /// The reference matched no object.
    #[error("no {wanted} in this image; objects are: {present}")]
    NoMatch {
        /// What the edit referred to.
        wanted: String,
        /// The objects in the scene.
        present: String,
    },
    /// A clause named no object to change.
    #[error("'{clause}' does not say which object to change; name one, e.g. 'the circle' or 'it'")]
    NoTarget {
        /// The clause.
        clause: String,
    },
    /// A clause said what to change but not into what.
    #[error("'{clause}' does not say what to change; add a color, texture, size or shape")]
    NothingToChange {
        /// The clause.
        clause: String,
    },
    /// An add clause described no shape, or a replace clause named no new shape.
    #[error("'{clause}' names no shape to {action}; e.g. 'add a yellow square'")]
    NoShape {
        /// The clause.
        clause: String,
        /// "add" or "put in".
        action: String,
    },
    /// The scene is full.
    #[error("the scene already has {max} objects, the most it can hold; remove one first")]
    Full {
        /// The maximum.
        max: usize,
    },
}

impl From<PromptError> for EditError {
    fn from(error: PromptError) -> Self {
        match error {
            PromptError::Empty => EditError::Empty,
            PromptError::TooLong { chars, max } => EditError::TooLong { chars, max },
        }
    }
}

/// Applies an instruction to a scene. `seed` drives the layout of added or moved objects.
pub fn apply_edit(scene: &Scene, instruction: &str, seed: u64) -> Result<EditOutcome, EditError> {
    let chars = instruction.chars().count();
    if chars > MAX_PROMPT_CHARS {
        return Err(EditError::TooLong {
            chars,
            max: MAX_PROMPT_CHARS,
        });
    }
    let clauses = split_clauses(instruction);
    if clauses.is_empty() {
        return Err(EditError::Empty);
    }
    let mut editor = Editor {
        scene: scene.clone(),
        applied: Vec::new(),
        warnings: Vec::new(),
        seed,
    };
    for (i, clause) in clauses.iter().enumerate() {
        editor.seed = mix(seed, i as u64);
        editor.clause(clause)?;
    }
    Ok(EditOutcome {
        scene: editor.scene,
        applied: editor.applied,
        warnings: editor.warnings,
    })
}

fn is_verb(token: &str) -> bool {
    verb_of(token).is_some()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Verb {
    Make,
    Remove,
    Add,
    Replace,
    Move,
    Grow,
    Shrink,
}

fn verb_of(token: &str) -> Option<Verb> {
    Some(match token {
        "make" | "turn" | "change" | "paint" | "color" | "colour" | "recolor" | "recolour"
        | "set" | "convert" | "render" => Verb::Make,
        "remove" | "delete" | "erase" | "drop" | "eliminate" | "take" | "hide" => Verb::Remove,
        "add" | "draw" | "insert" | "put" | "include" | "create" | "place" => Verb::Add,
        "replace" | "swap" | "substitute" | "exchange" => Verb::Replace,
        "move" | "shift" | "relocate" => Verb::Move,
        "enlarge" | "grow" | "expand" | "magnify" => Verb::Grow,
        "shrink" | "reduce" | "minimize" => Verb::Shrink,
        _ => return None,
    })
}

/// Splits an instruction into clauses of tokens.
fn split_clauses(instruction: &str) -> Vec<Vec<String>> {
    let mut clauses = Vec::new();
    for sentence in instruction.split(['.', ';', '\n']) {
        let tokens: Vec<String> = tokenize(sentence)
            .into_iter()
            .filter(|t| t != "please")
            .collect();
        let mut current: Vec<String> = Vec::new();
        let mut iter = tokens.iter().peekable();
        while let Some(token) = iter.next() {
            let next_is_verb = iter.peek().is_some_and(|t| is_verb(t));
            let boundary = token == "then" || ((token == "and" || token == ",") && next_is_verb);
            if boundary {
                if !current.is_empty() {
                    clauses.push(std::mem::take(&mut current));
                }
            } else {
                current.push(token.clone());
            }
        }
        if !current.is_empty() {
            clauses.push(current);
        }
    }
    clauses
}

/// Which objects a clause talks about.
#[derive(Debug, Clone, Default)]
struct Reference {
    shape: Option<Shape>,
    color: Option<Color>,
    texture: Option<Texture>,
    size: Option<SizeClass>,
    placement: Placement,
    everything: bool,
    pronoun: bool,
    background: bool,
    noun: bool,
    plural: bool,
    words: Vec<String>,
}

impl Reference {
    fn matches(&self, object: &Object) -> bool {
        self.shape.is_none_or(|s| s == object.shape)
            && self.color.is_none_or(|c| c == object.color)
            && self.texture.is_none_or(|t| t == object.texture)
            && self.size.is_none_or(|s| s == object.size_class())
            && self.placement.contains(object.x, object.y)
    }

    fn describe(&self) -> String {
        if self.words.is_empty() {
            String::from("object")
        } else {
            self.words.join(" ")
        }
    }
}

/// Parses a reference at the start of `tokens`; returns it and how many tokens it used.
fn parse_reference(tokens: &[String]) -> (Reference, usize) {
    let mut reference = Reference::default();
    for (i, token) in tokens.iter().enumerate() {
        match token.as_str() {
            "it" | "them" | "this" | "that" => {
                reference.pronoun = true;
                reference.noun = true;
                return (reference, i + 1);
            }
            "everything" | "all" | "every" | "each" | "both" => {
                reference.everything = true;
                if token == "everything" {
                    reference.noun = true;
                    return (reference, i + 1);
                }
                continue;
            }
            "one" | "ones" | "object" | "objects" | "shape" | "shapes" | "thing" | "things" => {
                reference.noun = true;
                reference.plural = token.ends_with('s');
                reference.words.push(String::from("object"));
                return (reference, i + 1);
            }
            "the" | "of" | "a" | "an" | "in" | "on" | "at" | "color" | "colour" | "texture"
            | "size" | "pattern" | "away" | "out" | "side" | "corner" => continue,
            _ => {}
        }
        match classify(token) {
            Word::Shape(shape, plural) => {
                reference.shape = Some(shape);
                reference.plural = plural;
                reference.noun = true;
                reference.words.push(shape.name().to_string());
                return (reference, i + 1);
            }
            Word::Background => {
                reference.background = true;
                reference.noun = true;
                return (reference, i + 1);
            }
            Word::Color(color) => {
                reference.color = Some(color);
                reference.words.push(color.name().to_string());
            }
            Word::Texture(texture) => {
                reference.texture = Some(texture);
                reference.words.push(texture.adjective().to_string());
            }
            Word::Size(size) => {
                reference.size = Some(size);
                reference.words.push(size.name().to_string());
            }
            Word::Horizontal(h) => {
                reference.placement.horizontal = Some(h);
                reference.words.push(token.clone());
            }
            Word::Vertical(v) => {
                reference.placement.vertical = Some(v);
                reference.words.push(token.clone());
            }
            Word::Center => {
                reference.placement.horizontal = Some(Horizontal::Center);
                reference.placement.vertical = Some(Vertical::Center);
                reference.words.push(token.clone());
            }
            Word::Stop => {}
            _ => return (reference, i),
        }
    }
    (reference, tokens.len())
}

/// The changes a make/turn clause asks for.
#[derive(Debug, Clone, Default)]
struct Change {
    color: Option<Color>,
    texture: Option<Texture>,
    size: Option<SizeClass>,
    scale: Option<f32>,
    shape: Option<Shape>,
    placement: Placement,
}

impl Change {
    fn is_empty(&self) -> bool {
        self.color.is_none()
            && self.texture.is_none()
            && self.size.is_none()
            && self.scale.is_none()
            && self.shape.is_none()
            && !self.placement.is_set()
    }
}

struct Editor {
    scene: Scene,
    applied: Vec<String>,
    warnings: Vec<Warning>,
    seed: u64,
}

impl Editor {
    fn clause(&mut self, tokens: &[String]) -> Result<(), EditError> {
        let text = tokens.join(" ");
        let Some((first, rest)) = tokens.split_first() else {
            return Err(EditError::Empty);
        };
        let Some(verb) = verb_of(first) else {
            return Err(EditError::UnknownVerb {
                verb: first.clone(),
                clause: text,
                known: EDIT_VERBS.join(", "),
            });
        };
        match verb {
            Verb::Add => self.add(rest, &text),
            Verb::Remove => self.remove(rest, &text),
            Verb::Replace => self.replace(rest, &text),
            Verb::Make | Verb::Move | Verb::Grow | Verb::Shrink => {
                let (reference, used) = parse_reference(rest);
                let mut change = self.parse_change(rest.get(used..).unwrap_or_default());
                match verb {
                    Verb::Grow => change.scale = Some(GROW),
                    Verb::Shrink => change.scale = Some(1.0 / GROW),
                    _ => {}
                }
                self.change(&reference, &change, &text)
            }
        }
    }

    fn unknown(&mut self, token: &str) {
        let warning = Warning::UnknownWord {
            word: token.to_string(),
        };
        if !self.warnings.contains(&warning) {
            self.warnings.push(warning);
        }
    }

    fn parse_change(&mut self, tokens: &[String]) -> Change {
        let mut change = Change::default();
        for token in tokens {
            match token.as_str() {
                "bigger" | "larger" | "greater" | "enlarged" => {
                    change.scale = Some(GROW);
                    continue;
                }
                "smaller" | "tinier" | "shrunk" => {
                    change.scale = Some(1.0 / GROW);
                    continue;
                }
                "into" | "look" | "appear" | "instead" | "become" | "bit" | "little" | "much"
                | "slightly" | "somewhat" => continue,
                _ => {}
            }
            match classify(token) {
                Word::Color(color) => change.color = Some(color),
                Word::Texture(texture) => change.texture = Some(texture),
                Word::Size(size) => change.size = Some(size),
                Word::Shape(shape, _) => change.shape = Some(shape),
                Word::Horizontal(h) => change.placement.horizontal = Some(h),
                Word::Vertical(v) => change.placement.vertical = Some(v),
                Word::Center => {
                    change
                        .placement
                        .horizontal
                        .get_or_insert(Horizontal::Center);
                    change.placement.vertical.get_or_insert(Vertical::Center);
                }
                Word::Unknown => self.unknown(token),
                _ => {}
            }
        }
        change
    }

    /// Indices of the objects a reference picks, or an error naming what is there.
    fn select(&mut self, reference: &Reference, clause: &str) -> Result<Vec<usize>, EditError> {
        if !reference.noun && reference.words.is_empty() && !reference.everything {
            return Err(EditError::NoTarget {
                clause: clause.to_string(),
            });
        }
        let chosen: Vec<usize> = self
            .scene
            .objects
            .iter()
            .enumerate()
            .filter(|(_, o)| reference.pronoun || reference.matches(o))
            .map(|(i, _)| i)
            .collect();
        if chosen.is_empty() {
            return Err(EditError::NoMatch {
                wanted: reference.describe(),
                present: self.scene.inventory(),
            });
        }
        let singular = !reference.plural && !reference.everything;
        if singular && chosen.len() > 1 {
            self.warnings.push(Warning::Ambiguous {
                message: format!(
                    "'{clause}': {} objects match '{}'; changed all of them",
                    chosen.len(),
                    if reference.pronoun {
                        String::from("it")
                    } else {
                        reference.describe()
                    }
                ),
            });
        }
        Ok(chosen)
    }

    fn change(
        &mut self,
        reference: &Reference,
        change: &Change,
        clause: &str,
    ) -> Result<(), EditError> {
        if change.is_empty() {
            return Err(EditError::NothingToChange {
                clause: clause.to_string(),
            });
        }
        if reference.background {
            return self.change_background(change, clause);
        }
        let canvas = self.scene.canvas();
        for index in self.select(reference, clause)? {
            let others: Vec<Object> = self
                .scene
                .objects
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != index)
                .map(|(_, o)| *o)
                .collect();
            let Some(object) = self.scene.objects.get_mut(index) else {
                continue;
            };
            let before = object.label();
            let before_size = object.size_class();
            if let Some(color) = change.color {
                object.color = color;
            }
            if let Some(texture) = change.texture {
                object.texture = texture;
            }
            if let Some(shape) = change.shape {
                object.shape = shape;
            }
            if let Some(size) = change.size {
                object.size = size.midpoint();
            }
            if let Some(scale) = change.scale {
                object.size = (object.size * scale).clamp(SIZE_LIMITS.0, SIZE_LIMITS.1);
            }
            if change.placement.is_set() {
                let (x, y) = layout::spot_for(object, change.placement, canvas, &others, self.seed);
                object.x = x;
                object.y = y;
            }
            layout::keep_inside(object, canvas);
            let mut after = object.label();
            if object.size_class() != before_size || change.scale.is_some() {
                after = format!("{} {after}", object.size_class().name());
            }
            if change.placement.is_set() {
                after = format!("{after} at ({:.2}, {:.2})", object.x, object.y);
            }
            self.applied.push(format!("{before} → {after}"));
        }
        Ok(())
    }

    fn change_background(&mut self, change: &Change, clause: &str) -> Result<(), EditError> {
        if change.color.is_none() && change.texture.is_none() {
            return Err(EditError::NothingToChange {
                clause: clause.to_string(),
            });
        }
        if change.shape.is_some() || change.size.is_some() || change.scale.is_some() {
            self.warnings.push(Warning::NotApplicable {
                word: String::from("shape/size"),
                reason: String::from("a background has only a color and a texture"),
            });
        }
        let bg = &mut self.scene.background;
        let before = format!("{} {} background", bg.color.name(), bg.texture.adjective());
        if let Some(color) = change.color {
            bg.color = color;
        }
        if let Some(texture) = change.texture {
            bg.texture = texture;
        }
        self.applied.push(format!(
            "{before} → {} {} background",
            bg.color.name(),
            bg.texture.adjective()
        ));
        Ok(())
    }

    fn remove(&mut self, tokens: &[String], clause: &str) -> Result<(), EditError> {
        let (reference, used) = parse_reference(tokens);
        for token in tokens.get(used..).unwrap_or_default() {
            if !matches!(
                token.as_str(),
                "from" | "image" | "picture" | "scene" | "the"
            ) {
                self.unknown(token);
            }
        }
        if reference.background {
            let before = self.scene.background;
            self.scene.background = crate::scene::Background::default();
            self.applied.push(format!(
                "{} {} background → plain white background",
                before.color.name(),
                before.texture.adjective()
            ));
            return Ok(());
        }
        let chosen = self.select(&reference, clause)?;
        let mut index = 0;
        self.scene.objects.retain(|object| {
            let keep = !chosen.contains(&index);
            if !keep {
                self.applied.push(format!("removed {}", object.label()));
            }
            index += 1;
            keep
        });
        Ok(())
    }

    fn add(&mut self, tokens: &[String], clause: &str) -> Result<(), EditError> {
        let room = MAX_OBJECTS.saturating_sub(self.scene.objects.len());
        let description = parse_description(&tokens.join(" "), room)?;
        self.warnings.extend(description.warnings);
        if description.background.mentioned {
            let bg = &mut self.scene.background;
            if let Some(color) = description.background.color {
                bg.color = color;
            }
            if let Some(texture) = description.background.texture {
                bg.texture = texture;
            }
            self.applied.push(format!(
                "background → {} {} background",
                bg.color.name(),
                bg.texture.adjective()
            ));
        }
        if description.groups.is_empty() {
            if room == 0 {
                return Err(EditError::Full { max: MAX_OBJECTS });
            }
            if description.background.mentioned {
                return Ok(());
            }
            return Err(EditError::NoShape {
                clause: clause.to_string(),
                action: String::from("add"),
            });
        }
        let added = layout::place(
            &description.groups,
            self.scene.background,
            self.scene.canvas(),
            &self.scene.objects,
            self.seed,
        );
        for object in added {
            self.applied.push(format!("added {}", object.label()));
            self.scene.objects.push(object);
        }
        Ok(())
    }

    fn replace(&mut self, tokens: &[String], clause: &str) -> Result<(), EditError> {
        let (reference, used) = parse_reference(tokens);
        let rest = tokens.get(used..).unwrap_or_default();
        let start = rest
            .iter()
            .position(|t| matches!(t.as_str(), "with" | "by" | "for" | "to" | "into"))
            .map_or(0, |p| p + 1);
        for token in rest.get(..start.saturating_sub(1)).unwrap_or_default() {
            self.unknown(token);
        }
        let replacement = rest.get(start..).unwrap_or_default().join(" ");
        let no_shape = || EditError::NoShape {
            clause: clause.to_string(),
            action: String::from("put in"),
        };
        if replacement.trim().is_empty() {
            return Err(no_shape());
        }
        let description = parse_description(&replacement, 1)?;
        self.warnings.extend(
            description
                .warnings
                .into_iter()
                .filter(|w| !matches!(w, Warning::CountClamped { .. })),
        );
        let Some(group) = description.groups.first() else {
            if reference.background && description.background.mentioned {
                let change = Change {
                    color: description.background.color,
                    texture: description.background.texture,
                    ..Change::default()
                };
                return self.change_background(&change, clause);
            }
            return Err(no_shape());
        };
        let change = Change {
            color: group.color,
            texture: group.texture,
            size: group.size,
            scale: None,
            shape: Some(group.shape),
            placement: Placement::default(),
        };
        self.change(&reference, &change, clause)
    }
}
