//! The prompt parser: English text → [`Scene`] plus [`Warning`]s.
//!
//! The grammar is a forgiving left-to-right scan. Adjectives (count, size, color, texture)
//! collect until a shape noun closes a group ("two small red striped circles"); position
//! phrases and "with stripes" after a noun attach to that noun's group; colors and
//! textures before or after the word "background" describe the background. Every word is
//! either understood, a known filler ("the", "of", "photo"), or reported as unknown.

use thiserror::Error;

use crate::attributes::{Color, Shape, SizeClass, Texture};
use crate::layout::{self, GroupSpec, Horizontal, Placement, Vertical};
use crate::scene::{Background, Canvas, MAX_OBJECTS, Scene};
use crate::warning::Warning;
use crate::words::{Word, classify, tokenize};

/// Longest prompt accepted, in characters. Longer prompts are refused with
/// [`PromptError::TooLong`] rather than truncated, so nothing is silently dropped.
pub const MAX_PROMPT_CHARS: usize = 1000;

/// Why a prompt could not be turned into a scene at all.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PromptError {
    /// The prompt was empty or only whitespace.
    #[error("the prompt is empty; describe a scene, e.g. 'two red circles on a blue background'")]
    Empty,
    /// The prompt was longer than [`MAX_PROMPT_CHARS`].
    #[error("the prompt is {chars} characters long; at most {max} are accepted, shorten it")]
    TooLong {
        /// Length in characters.
        chars: usize,
        /// The limit.
        max: usize,
    },
}

/// A parsed prompt: the scene and everything that was not fully understood.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedPrompt {
    /// The scene to render.
    pub scene: Scene,
    /// Unknown words, contradictions, clamped counts, …
    pub warnings: Vec<Warning>,
}

/// Parses a prompt into a 224×224 scene; layout details come from `seed`.
pub fn parse_prompt(prompt: &str, seed: u64) -> Result<ParsedPrompt, PromptError> {
    parse_prompt_on(prompt, seed, Canvas::default())
}

/// Parses a prompt into a scene of the given canvas size.
pub fn parse_prompt_on(
    prompt: &str,
    seed: u64,
    canvas: Canvas,
) -> Result<ParsedPrompt, PromptError> {
    let description = parse_description(prompt, MAX_OBJECTS)?;
    let mut warnings = description.warnings;
    let background = Background {
        color: description.background.color.unwrap_or(Color::White),
        texture: description.background.texture.unwrap_or(Texture::Solid),
    };
    if description.groups.is_empty() && !description.background.mentioned {
        warnings.push(Warning::NoObjects);
    }
    let objects = layout::place(&description.groups, background, canvas, &[], seed);
    Ok(ParsedPrompt {
        scene: Scene {
            width: canvas.width,
            height: canvas.height,
            background,
            objects,
        },
        warnings,
    })
}

/// What the background words said.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct BackgroundSpec {
    pub(crate) color: Option<Color>,
    pub(crate) texture: Option<Texture>,
    pub(crate) mentioned: bool,
}

/// A prompt's meaning before layout.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Description {
    pub(crate) groups: Vec<GroupSpec>,
    pub(crate) background: BackgroundSpec,
    pub(crate) warnings: Vec<Warning>,
}

/// Parses text into object groups and background words, with at most `room` objects in
/// total (extra objects are dropped with a [`Warning::CountClamped`]).
pub(crate) fn parse_description(text: &str, room: usize) -> Result<Description, PromptError> {
    let chars = text.chars().count();
    if chars > MAX_PROMPT_CHARS {
        return Err(PromptError::TooLong {
            chars,
            max: MAX_PROMPT_CHARS,
        });
    }
    if text.trim().is_empty() {
        return Err(PromptError::Empty);
    }
    let mut parser = Parser::default();
    for token in tokenize(text) {
        parser.feed(&token);
    }
    parser.finish();
    Ok(parser.into_description(room))
}

/// A word-tagged attribute value, so warnings can quote what the user wrote.
type Tagged<T> = Option<(T, String)>;

#[derive(Debug, Clone, Default)]
struct PlaceWords {
    horizontal: Tagged<Horizontal>,
    vertical: Tagged<Vertical>,
    center: bool,
}

impl PlaceWords {
    fn is_set(&self) -> bool {
        self.horizontal.is_some() || self.vertical.is_some() || self.center
    }

    fn resolve(&self) -> Placement {
        let center_h = self.center.then_some(Horizontal::Center);
        let center_v = self.center.then_some(Vertical::Center);
        Placement {
            horizontal: self.horizontal.as_ref().map(|(h, _)| *h).or(center_h),
            vertical: self.vertical.as_ref().map(|(v, _)| *v).or(center_v),
        }
    }
}

/// Attributes collected for a group whose shape noun has not arrived yet.
#[derive(Debug, Clone, Default)]
struct Pending {
    article: bool,
    count: Tagged<u64>,
    size: Tagged<SizeClass>,
    color: Tagged<Color>,
    texture: Tagged<Texture>,
    place: PlaceWords,
    words: Vec<String>,
    after_on: bool,
}

impl Pending {
    fn is_empty(&self) -> bool {
        !self.article
            && self.count.is_none()
            && self.size.is_none()
            && self.color.is_none()
            && self.texture.is_none()
            && !self.place.is_set()
    }

    fn has_attributes(&self) -> bool {
        self.count.is_some()
            || self.size.is_some()
            || self.color.is_some()
            || self.texture.is_some()
            || self.place.is_set()
    }
}

/// A group whose shape noun has arrived; position words may still follow.
#[derive(Debug, Clone)]
struct RawGroup {
    shape: Shape,
    plural: bool,
    count: Tagged<u64>,
    size: Option<SizeClass>,
    color: Option<Color>,
    texture: Option<Texture>,
    place: PlaceWords,
}

#[derive(Debug, Default)]
struct Parser {
    groups: Vec<RawGroup>,
    pending: Pending,
    background: BackgroundSpec,
    background_words: (Option<String>, Option<String>),
    warnings: Vec<Warning>,
    /// Just after "and"/",": position words belong to what comes next.
    fresh: bool,
    /// Just after "background" with nothing before it: "background is black".
    background_predicate: bool,
    /// Just after "with" following a noun: "a circle with stripes".
    with_trailing: bool,
    /// The previous meaningful word was "on".
    saw_on: bool,
}

fn set_tagged<T: Copy + PartialEq>(
    slot: &mut Tagged<T>,
    value: T,
    word: &str,
    attribute: &str,
    warnings: &mut Vec<Warning>,
) {
    match slot {
        Some((existing, kept)) if *existing != value => warnings.push(Warning::Contradiction {
            attribute: attribute.to_string(),
            kept: kept.clone(),
            dropped: word.to_string(),
        }),
        Some(_) => {}
        None => *slot = Some((value, word.to_string())),
    }
}

impl Parser {
    fn feed(&mut self, token: &str) {
        let word = classify(token);
        if self.background_predicate {
            match word {
                Word::Color(color) => {
                    self.set_background_color(color, token);
                    return;
                }
                Word::Texture(texture) => {
                    self.set_background_texture(texture, token);
                    return;
                }
                Word::Stop | Word::Copula => return,
                _ => self.background_predicate = false,
            }
        }
        if self.with_trailing {
            match word {
                Word::Texture(texture) => {
                    if let Some(group) = self.groups.last_mut() {
                        let mut slot = group.texture.map(|t| (t, t.adjective().to_string()));
                        set_tagged(&mut slot, texture, token, "texture", &mut self.warnings);
                        group.texture = slot.map(|(t, _)| t);
                    }
                    return;
                }
                Word::Stop => return,
                _ => self.with_trailing = false,
            }
        }
        let starting = self.pending.is_empty();
        match word {
            Word::Stop | Word::Copula => {}
            Word::Unknown => {
                let unknown = Warning::UnknownWord {
                    word: token.to_string(),
                };
                if !self.warnings.contains(&unknown) {
                    self.warnings.push(unknown);
                }
            }
            Word::Article => self.pending.article = true,
            Word::Count(n) => {
                set_tagged(
                    &mut self.pending.count,
                    n,
                    token,
                    "count",
                    &mut self.warnings,
                );
            }
            Word::Size(size) => {
                set_tagged(
                    &mut self.pending.size,
                    size,
                    token,
                    "size",
                    &mut self.warnings,
                );
            }
            Word::Color(color) => {
                set_tagged(
                    &mut self.pending.color,
                    color,
                    token,
                    "color",
                    &mut self.warnings,
                );
            }
            Word::Texture(texture) => {
                set_tagged(
                    &mut self.pending.texture,
                    texture,
                    token,
                    "texture",
                    &mut self.warnings,
                );
            }
            Word::Shape(shape, plural) => self.close_group(shape, plural),
            Word::Horizontal(h) => {
                let mut warnings = std::mem::take(&mut self.warnings);
                let place = self.position_target();
                set_tagged(&mut place.horizontal, h, token, "position", &mut warnings);
                self.warnings = warnings;
            }
            Word::Vertical(v) => {
                let mut warnings = std::mem::take(&mut self.warnings);
                let place = self.position_target();
                set_tagged(&mut place.vertical, v, token, "position", &mut warnings);
                self.warnings = warnings;
            }
            Word::Center => self.position_target().center = true,
            Word::Background => self.background_noun(token),
            Word::Separator => {
                self.fresh = true;
                self.saw_on = false;
                return;
            }
            Word::With => {
                if self.pending.is_empty() && !self.groups.is_empty() {
                    self.with_trailing = true;
                }
            }
            Word::On => {
                self.saw_on = true;
                return;
            }
        }
        if starting && !self.pending.is_empty() {
            self.pending.after_on = self.saw_on;
        }
        if !matches!(word, Word::Stop | Word::Copula | Word::Unknown) {
            if !matches!(word, Word::Shape(..)) && !self.pending.is_empty() {
                self.pending.words.push(token.to_string());
            }
            self.saw_on = false;
        }
    }

    /// Where a position word goes: the group just closed, unless something new has begun.
    fn position_target(&mut self) -> &mut PlaceWords {
        let trailing = !self.fresh && self.pending.is_empty();
        match self.groups.last_mut() {
            Some(group) if trailing => &mut group.place,
            _ => &mut self.pending.place,
        }
    }

    fn close_group(&mut self, shape: Shape, plural: bool) {
        let pending = std::mem::take(&mut self.pending);
        self.groups.push(RawGroup {
            shape,
            plural,
            count: pending.count,
            size: pending.size.map(|(s, _)| s),
            color: pending.color.map(|(c, _)| c),
            texture: pending.texture.map(|(t, _)| t),
            place: pending.place,
        });
        self.fresh = false;
    }

    fn set_background_color(&mut self, color: Color, word: &str) {
        let mut slot = self.background.color.zip(self.background_words.0.clone());
        set_tagged(
            &mut slot,
            color,
            word,
            "background color",
            &mut self.warnings,
        );
        self.background.color = slot.as_ref().map(|(c, _)| *c);
        self.background_words.0 = slot.map(|(_, w)| w);
    }

    fn set_background_texture(&mut self, texture: Texture, word: &str) {
        let mut slot = self.background.texture.zip(self.background_words.1.clone());
        set_tagged(
            &mut slot,
            texture,
            word,
            "background texture",
            &mut self.warnings,
        );
        self.background.texture = slot.as_ref().map(|(t, _)| *t);
        self.background_words.1 = slot.map(|(_, w)| w);
    }

    /// "background": the pending adjectives describe it; with none, the following ones do.
    fn background_noun(&mut self, token: &str) {
        self.background.mentioned = true;
        let pending = std::mem::take(&mut self.pending);
        let described = pending.color.is_some() || pending.texture.is_some();
        self.move_to_background(pending, token);
        self.background_predicate = !described;
    }

    fn move_to_background(&mut self, pending: Pending, noun: &str) {
        if let Some((color, word)) = pending.color {
            self.set_background_color(color, &word);
        }
        if let Some((texture, word)) = pending.texture {
            self.set_background_texture(texture, &word);
        }
        let reason = format!("it does not apply to the {noun}");
        if let Some((_, word)) = pending.size {
            self.warnings.push(Warning::NotApplicable {
                word,
                reason: reason.clone(),
            });
        }
        if let Some((_, word)) = pending.count {
            self.warnings.push(Warning::NotApplicable {
                word,
                reason: reason.clone(),
            });
        }
        if pending.place.is_set() {
            self.warnings.push(Warning::NotApplicable {
                word: String::from("position"),
                reason,
            });
        }
    }

    /// Resolves words left without a shape at the end of the prompt.
    fn finish(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        if !pending.has_attributes() {
            return;
        }
        let only_looks = pending.count.is_none()
            && pending.size.is_none()
            && !pending.place.is_set()
            && (pending.color.is_some() || pending.texture.is_some());
        if pending.after_on && only_looks {
            // "a red circle on white": the background.
            self.background.mentioned = true;
            self.move_to_background(pending, "background");
        } else {
            self.warnings.push(Warning::NoShape {
                words: pending.words,
            });
        }
    }

    fn into_description(self, room: usize) -> Description {
        let mut warnings = self.warnings;
        let mut groups = Vec::new();
        let mut total: usize = 0;
        let mut requested_total: u64 = 0;
        for raw in self.groups {
            let requested = match &raw.count {
                Some((n, _)) => *n,
                None if raw.plural => 2,
                None => 1,
            };
            if requested == 0 {
                warnings.push(Warning::ZeroCount {
                    shape: raw.shape.plural().to_string(),
                });
                continue;
            }
            requested_total = requested_total.saturating_add(requested);
            let left = room.saturating_sub(total);
            let count = usize::try_from(requested).unwrap_or(usize::MAX).min(left);
            total += count;
            if count > 0 {
                groups.push(GroupSpec {
                    shape: raw.shape,
                    count,
                    color: raw.color,
                    texture: raw.texture,
                    size: raw.size,
                    placement: raw.place.resolve(),
                });
            }
        }
        if requested_total > total as u64 {
            warnings.push(Warning::CountClamped {
                requested: requested_total,
                used: total,
            });
        }
        Description {
            groups,
            background: self.background,
            warnings,
        }
    }
}
