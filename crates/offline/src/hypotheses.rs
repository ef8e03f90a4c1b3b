//! The hypotheses the experimenter weighs: every concept of one or two attribute atoms
//! (a single attribute, a conjunction on one object, an exclusion, a disjunction, a
//! co-occurrence of two objects), each scored against the evidence.
//!
//! Scoring is a log posterior with three terms:
//! - a prior that charges for structure (one atom is cheaper than two; MAIA's experts
//!   prefer the simplest description that fits);
//! - for each dataset exemplar, how surprising it would be to see it among the top images
//!   if the hypothesis were true: `ln(1/base rate)` when the concept is present (a rare
//!   concept present in every exemplar is strong evidence), a fixed penalty when absent;
//! - for each image the experimenter made, a fixed penalty when the hypothesis predicts
//!   the unit's response wrongly.
//!
//! Base rates come from a fixed sample of the shapes world's dataset generator, so they
//! are the same on every run.

use super::world::{AtomId, Features, Kind, OBJECT_ATOMS};
use maia_shapes_world::{Atom, Concept};
use std::collections::HashMap;
use std::sync::OnceLock;

/// Cost of one wrong prediction (and of an exemplar the hypothesis does not cover), in
/// nats: large enough that one clear counter-example outweighs the prior's preference
/// for a simpler description.
pub(crate) const ERROR_COST: f64 = 4.0;

/// Hypotheses this close to the best (in nats) are still in the running.
pub(crate) const MARGIN: f64 = 4.0;

/// Scenes in the base-rate sample.
const REFERENCE_SCENES: usize = 400;
/// Seed of the base-rate sample.
const REFERENCE_SEED: u64 = 0x0ff1_1e5e;

/// A concept of one or two atoms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Hyp {
    /// One attribute.
    Atom(AtomId),
    /// Both attributes in one region (one object, or an object on a background).
    And(AtomId, AtomId),
    /// The first attribute in a region without the second.
    AndNot(AtomId, AtomId),
    /// Either attribute.
    Or(AtomId, AtomId),
    /// Both present in the image, on any objects.
    With(AtomId, AtomId),
}

impl Hyp {
    /// Whether the concept picks anything in a scene (its unit would fire).
    pub(crate) fn holds(&self, f: &Features) -> bool {
        match *self {
            Hyp::Atom(a) => f.regions().any(|r| r & a.bit() != 0),
            Hyp::And(a, b) => {
                let both = a.bit() | b.bit();
                f.regions().any(|r| r & both == both)
            }
            Hyp::AndNot(a, b) => f.regions().any(|r| r & a.bit() != 0 && r & b.bit() == 0),
            Hyp::Or(a, b) => {
                let either = a.bit() | b.bit();
                f.regions().any(|r| r & either != 0)
            }
            Hyp::With(a, b) => {
                f.regions().any(|r| r & a.bit() != 0) && f.regions().any(|r| r & b.bit() != 0)
            }
        }
    }

    /// The shapes world's concept.
    pub(crate) fn concept(&self) -> Concept {
        let atom = |a: AtomId| Concept::Atom(a.atom());
        match *self {
            Hyp::Atom(a) => atom(a),
            Hyp::And(a, b) => Concept::And(vec![atom(a), atom(b)]),
            Hyp::AndNot(a, b) => Concept::And(vec![atom(a), Concept::Not(Box::new(atom(b)))]),
            Hyp::Or(a, b) => Concept::Or(vec![atom(a), atom(b)]),
            Hyp::With(a, b) => Concept::With(vec![atom(a), atom(b)]),
        }
    }

    /// The concept in words ("red circles", "circles that are not red").
    pub(crate) fn phrase(&self) -> String {
        self.concept().describe()
    }

    /// The concept as an expression of the concept language (`red & circle`).
    pub(crate) fn expr(&self) -> String {
        self.concept().to_string()
    }

    /// A label of at most five words.
    pub(crate) fn label(&self) -> String {
        let phrase = match *self {
            Hyp::With(a, b) => format!("{} with {}", plural(a), plural(b)),
            _ => self.phrase(),
        };
        if phrase.split_whitespace().count() <= 5 {
            phrase
        } else {
            self.expr()
        }
    }

    /// What kind of structure it is, in words.
    pub(crate) fn structure(&self) -> &'static str {
        match self {
            Hyp::Atom(_) => "a single attribute",
            Hyp::And(..) => "a conjunction",
            Hyp::AndNot(..) => "an exclusion",
            Hyp::Or(..) => "a disjunction",
            Hyp::With(..) => "a co-occurrence",
        }
    }

    /// One sentence for `final_answer`: the concept, then what its structure means.
    pub(crate) fn sentence(&self) -> String {
        let phrase = self.phrase();
        match *self {
            Hyp::Atom(a) => {
                let rest = match a.kind() {
                    Kind::Shape => "whatever their color, texture or size, on any background",
                    Kind::Color => "of any shape, texture or size, on any background",
                    Kind::Texture => "of any shape, color or size, on any background",
                    Kind::Size => "of any shape, color or texture, on any background",
                    Kind::BgColor | Kind::BgTexture => "whatever objects they show",
                };
                format!("{phrase}, {rest}")
            }
            Hyp::And(a, b) => format!(
                "{phrase}: the unit needs both {} and {} together (a conjunction; either alone is not enough)",
                singular(a),
                singular(b)
            ),
            Hyp::AndNot(a, b) => format!(
                "{phrase}: {} make it fire unless they are {} (an exclusion)",
                plural(a),
                predicate(b)
            ),
            Hyp::Or(..) => format!("{phrase}: either one alone is enough (a disjunction)"),
            Hyp::With(..) => format!("{phrase} (a co-occurrence: neither alone is enough)"),
        }
    }

    /// Its cost in the prior, in nats.
    pub(crate) fn prior_cost(&self) -> f64 {
        match self {
            Hyp::Atom(_) => 0.0,
            Hyp::And(..) => 3.0,
            Hyp::AndNot(..) | Hyp::Or(..) => 3.5,
            Hyp::With(..) => 4.0,
        }
    }

    /// The alternatives a careful experimenter checks against this one: its parts alone
    /// and the other ways of combining them.
    pub(crate) fn alternatives(&self) -> Vec<Hyp> {
        let mut out = Vec::new();
        let mut push = |h: Option<Hyp>| {
            if let Some(h) = h
                && catalogue().index(&h).is_some()
                && !out.contains(&h)
            {
                out.push(h);
            }
        };
        match *self {
            Hyp::Atom(_) => {}
            Hyp::And(a, b) => {
                push(Some(Hyp::Atom(a)));
                push(Some(Hyp::Atom(b)));
                push(ordered(a, b, Hyp::With));
                push(ordered(a, b, Hyp::Or));
            }
            Hyp::AndNot(a, b) => {
                push(Some(Hyp::Atom(a)));
                push(ordered(a, b, Hyp::And));
            }
            Hyp::Or(a, b) => {
                push(Some(Hyp::Atom(a)));
                push(Some(Hyp::Atom(b)));
                push(ordered(a, b, Hyp::With));
            }
            Hyp::With(a, b) => {
                push(Some(Hyp::Atom(a)));
                push(Some(Hyp::Atom(b)));
                push(ordered(a, b, Hyp::And));
                push(ordered(a, b, Hyp::Or));
            }
        }
        out
    }
}

/// `make(a, b)` with the pair in the catalogue's order (lower atom first).
fn ordered(a: AtomId, b: AtomId, make: fn(AtomId, AtomId) -> Hyp) -> Option<Hyp> {
    let h = if a <= b { make(a, b) } else { make(b, a) };
    catalogue().index(&h).map(|_| h)
}

/// "circles", "red objects", "images with a blue background".
pub(crate) fn plural(a: AtomId) -> String {
    Concept::Atom(a.atom()).describe()
}

/// "a circle", "red", "striped", "small", "a blue background".
pub(crate) fn singular(a: AtomId) -> String {
    match a.atom() {
        Atom::Shape(s) => format!("a {}", s.name()),
        Atom::BackgroundColor(_) | Atom::BackgroundTexture(_) => {
            format!("a {} background", a.value_word())
        }
        _ => a.value_word(),
    }
}

/// What follows "unless they are": "circles", "red", "on a blue background".
fn predicate(a: AtomId) -> String {
    match a.atom() {
        Atom::Shape(s) => s.plural().to_string(),
        Atom::BackgroundColor(_) | Atom::BackgroundTexture(_) => {
            format!("on a {} background", a.value_word())
        }
        _ => a.value_word(),
    }
}

/// Every hypothesis, with base rates and predictions on the reference sample.
pub(crate) struct Catalogue {
    hyps: Vec<Hyp>,
    index: HashMap<Hyp, usize>,
    base_rate: Vec<f64>,
    reference: Vec<Vec<u64>>,
}

/// The catalogue, built once per process.
pub(crate) fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(Catalogue::build)
}

impl Catalogue {
    fn build() -> Catalogue {
        let hyps = enumerate();
        let index = hyps.iter().enumerate().map(|(i, h)| (*h, i)).collect();
        let scenes: Vec<Features> = maia_shapes_world::generate(REFERENCE_SCENES, REFERENCE_SEED)
            .map(|(_, scene)| Features::of(&scene))
            .collect();
        let words = scenes.len().div_ceil(64);
        let mut base_rate = Vec::with_capacity(hyps.len());
        let mut reference = Vec::with_capacity(hyps.len());
        for h in &hyps {
            let mut bits = vec![0u64; words];
            let mut count = 0usize;
            for (i, f) in scenes.iter().enumerate() {
                if h.holds(f) {
                    count += 1;
                    if let Some(w) = bits.get_mut(i / 64) {
                        *w |= 1 << (i % 64);
                    }
                }
            }
            // Smoothed, so that no concept is deemed impossible.
            base_rate.push((count as f64 + 0.5) / (scenes.len() as f64 + 1.0));
            reference.push(bits);
        }
        Catalogue {
            hyps,
            index,
            base_rate,
            reference,
        }
    }

    /// All hypotheses, in a fixed order (their indices are stable for one build).
    pub(crate) fn hyps(&self) -> &[Hyp] {
        &self.hyps
    }

    /// A hypothesis by index.
    pub(crate) fn get(&self, index: usize) -> Option<Hyp> {
        self.hyps.get(index).copied()
    }

    /// The index of a hypothesis.
    pub(crate) fn index(&self, h: &Hyp) -> Option<usize> {
        self.index.get(h).copied()
    }

    /// The fraction of dataset images in which the concept is present.
    pub(crate) fn base_rate(&self, index: usize) -> f64 {
        self.base_rate.get(index).copied().unwrap_or(1.0)
    }

    /// Whether two hypotheses predict the same on the reference sample and on `extra`.
    pub(crate) fn equivalent(&self, a: usize, b: usize, extra: &[&Features]) -> bool {
        let (Some(ha), Some(hb)) = (self.get(a), self.get(b)) else {
            return false;
        };
        self.reference.get(a) == self.reference.get(b)
            && extra.iter().all(|f| ha.holds(f) == hb.holds(f))
    }
}

fn enumerate() -> Vec<Hyp> {
    let objects: Vec<AtomId> = (0..OBJECT_ATOMS).map(AtomId).collect();
    let backgrounds: Vec<AtomId> = AtomId::all().filter(|a| a.is_background()).collect();
    let mut hyps: Vec<Hyp> = AtomId::all().map(Hyp::Atom).collect();
    // Conjunctions: two attributes of one object, an object on a background, a
    // background's color with its texture.
    for (i, &a) in objects.iter().enumerate() {
        for &b in &objects[i + 1..] {
            if a.kind() != b.kind() {
                hyps.push(Hyp::And(a, b));
            }
        }
    }
    for &a in &objects {
        for &b in &backgrounds {
            hyps.push(Hyp::And(a, b));
        }
    }
    for &a in backgrounds.iter().filter(|a| a.kind() == Kind::BgColor) {
        for &b in backgrounds.iter().filter(|b| b.kind() == Kind::BgTexture) {
            hyps.push(Hyp::And(a, b));
        }
    }
    // Exclusions: an object attribute without another object attribute or background.
    for &a in &objects {
        for &b in objects.iter().chain(&backgrounds) {
            if a.kind() != b.kind() {
                hyps.push(Hyp::AndNot(a, b));
            }
        }
    }
    // Disjunctions: two object attributes, or two background attributes.
    for group in [&objects, &backgrounds] {
        for (i, &a) in group.iter().enumerate() {
            for &b in &group[i + 1..] {
                hyps.push(Hyp::Or(a, b));
            }
        }
    }
    // Co-occurrences: two object attributes anywhere in the image.
    for (i, &a) in objects.iter().enumerate() {
        for &b in &objects[i + 1..] {
            hyps.push(Hyp::With(a, b));
        }
    }
    hyps
}

/// One measured image as scoring sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample<'a> {
    /// What the image shows.
    pub(crate) features: &'a Features,
    /// Whether the unit fired on it.
    pub(crate) fired: bool,
    /// True for a dataset exemplar (chosen by the unit, not by the experimenter).
    pub(crate) exemplar: bool,
}

/// A hypothesis with its score against the evidence.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Judged {
    /// Index into the catalogue.
    pub(crate) index: usize,
    /// The hypothesis.
    pub(crate) hyp: Hyp,
    /// Log posterior (up to a constant), in nats.
    pub(crate) score: f64,
    /// Experiment images it predicts wrongly.
    pub(crate) errors: usize,
    /// Experiment images scored.
    pub(crate) checked: usize,
    /// Exemplars in which the concept is present.
    pub(crate) exemplar_hits: usize,
    /// Exemplars scored.
    pub(crate) exemplars: usize,
    /// Index (into the samples) of its first wrong prediction, if any.
    pub(crate) first_error: Option<usize>,
}

/// Scores every hypothesis; best first (ties broken by catalogue order).
pub(crate) fn judge(samples: &[Sample<'_>]) -> Vec<Judged> {
    let cat = catalogue();
    let mut out: Vec<Judged> = cat
        .hyps()
        .iter()
        .enumerate()
        .map(|(index, &hyp)| {
            let surprise = (1.0 / cat.base_rate(index)).ln();
            let mut judged = Judged {
                index,
                hyp,
                score: -hyp.prior_cost(),
                errors: 0,
                checked: 0,
                exemplar_hits: 0,
                exemplars: 0,
                first_error: None,
            };
            for (i, s) in samples.iter().enumerate() {
                let present = hyp.holds(s.features);
                if s.exemplar {
                    judged.exemplars += 1;
                    if present {
                        judged.exemplar_hits += 1;
                        judged.score += surprise;
                    } else {
                        judged.score -= ERROR_COST;
                    }
                } else {
                    judged.checked += 1;
                    if present != s.fired {
                        judged.errors += 1;
                        judged.score -= ERROR_COST;
                        judged.first_error.get_or_insert(i);
                    }
                }
            }
            judged
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::{object, scene};
    use maia_shapes_world::{Background, Color, Shape, SizeClass, Texture, lookup};

    fn white() -> Background {
        Background {
            color: Color::White,
            texture: Texture::Solid,
        }
    }

    #[test]
    fn hypotheses_agree_with_the_concept_language() {
        let scenes: Vec<_> = maia_shapes_world::generate(60, 5).map(|(_, s)| s).collect();
        for (i, h) in catalogue().hyps().iter().enumerate().step_by(7) {
            let concept = h.concept();
            for s in &scenes {
                assert_eq!(
                    h.holds(&Features::of(s)),
                    concept.present_in(s),
                    "hypothesis {i} ({}) on {}",
                    h.expr(),
                    s.inventory()
                );
            }
        }
    }

    /// A concept's expression with the parts of every `&`, `|` and `+` sorted.
    fn canonical(c: &Concept) -> String {
        let join = |parts: &[Concept], op: &str| {
            let mut parts: Vec<String> = parts.iter().map(canonical).collect();
            parts.sort();
            format!("({})", parts.join(op))
        };
        match c {
            Concept::Atom(a) => a.to_string(),
            Concept::Not(inner) => format!("!{}", canonical(inner)),
            Concept::And(parts) => join(parts, "&"),
            Concept::Or(parts) => join(parts, "|"),
            Concept::With(parts) => join(parts, "+"),
        }
    }

    #[test]
    fn every_catalogue_unit_is_a_hypothesis() {
        for unit in maia_shapes_world::catalogue() {
            let found = catalogue()
                .hyps()
                .iter()
                .any(|h| canonical(&h.concept()) == canonical(&unit.concept));
            assert!(found, "{} ({}) is not enumerated", unit.name, unit.concept);
        }
        assert!(lookup("red_and_circle").is_some());
    }

    #[test]
    fn one_counter_example_beats_the_simpler_hypothesis() {
        let red_circle = Features::of(&scene(
            vec![object(
                Shape::Circle,
                Color::Red,
                Texture::Solid,
                SizeClass::Medium,
            )],
            white(),
        ));
        let blue_circle = Features::of(&scene(
            vec![object(
                Shape::Circle,
                Color::Blue,
                Texture::Solid,
                SizeClass::Medium,
            )],
            white(),
        ));
        let samples = [
            Sample {
                features: &blue_circle,
                fired: true,
                exemplar: false,
            },
            Sample {
                features: &red_circle,
                fired: false,
                exemplar: false,
            },
        ];
        let ranked = judge(&samples);
        let best = &ranked[0];
        assert_eq!(best.errors, 0);
        assert!(best.hyp.holds(&blue_circle) && !best.hyp.holds(&red_circle));
        let circle = ranked
            .iter()
            .find(|j| j.hyp == Hyp::Atom(AtomId::shape(Shape::Circle)))
            .unwrap_or_else(|| panic!("circle is a hypothesis"));
        assert_eq!(circle.errors, 1);
        let not_red = ranked
            .iter()
            .find(|j| j.hyp == Hyp::AndNot(AtomId::shape(Shape::Circle), AtomId::color(Color::Red)))
            .unwrap_or_else(|| panic!("circle & !red is a hypothesis"));
        assert!(not_red.score > circle.score);
    }

    #[test]
    fn labels_are_short() {
        for h in catalogue().hyps() {
            assert!(h.label().split_whitespace().count() <= 5, "{}", h.label());
        }
    }
}
