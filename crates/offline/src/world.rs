//! The shapes world as the offline experimenter sees it: attribute atoms as bits, scenes
//! as bit sets per region, and the scenes, prompts and edit references it writes.
//!
//! A region is an object or the background (the concept language's convention): object
//! atoms (`circle`, `red`, `striped`, `small`) hold for objects only, background atoms
//! (`bg:blue`, `bg:striped`) hold for every region of an image with that background.

use maia_core::rng::SplitMix;
use maia_shapes_world::{
    Atom, Background, Color, Object, Scene, Shape, SizeClass, Texture, scene_to_prompt,
};

/// Object atoms: 9 shapes, 12 colors, 4 textures, 3 sizes.
pub(crate) const OBJECT_ATOMS: u8 = 28;
/// All atoms: the object atoms, then 12 background colors and 4 background textures.
pub(crate) const ALL_ATOMS: u8 = 44;

const SHAPES: u8 = 0;
const COLORS: u8 = 9;
const TEXTURES: u8 = 21;
const SIZES: u8 = 25;
const BG_COLORS: u8 = 28;
const BG_TEXTURES: u8 = 40;

/// Which attribute an atom tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Kind {
    Shape,
    Color,
    Texture,
    Size,
    BgColor,
    BgTexture,
}

impl Kind {
    /// The English name of the attribute.
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Kind::Shape => "shape",
            Kind::Color => "color",
            Kind::Texture => "texture",
            Kind::Size => "size",
            Kind::BgColor => "background color",
            Kind::BgTexture => "background texture",
        }
    }

    /// Every atom of this kind, in a fixed order.
    pub(crate) fn atoms(self) -> std::ops::Range<u8> {
        match self {
            Kind::Shape => SHAPES..COLORS,
            Kind::Color => COLORS..TEXTURES,
            Kind::Texture => TEXTURES..SIZES,
            Kind::Size => SIZES..BG_COLORS,
            Kind::BgColor => BG_COLORS..BG_TEXTURES,
            Kind::BgTexture => BG_TEXTURES..ALL_ATOMS,
        }
    }

    /// Every kind, objects first.
    pub(crate) const ALL: [Kind; 6] = [
        Kind::Shape,
        Kind::Color,
        Kind::Texture,
        Kind::Size,
        Kind::BgColor,
        Kind::BgTexture,
    ];
}

/// One attribute test, as an index into a fixed table of [`ALL_ATOMS`] atoms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct AtomId(pub(crate) u8);

impl AtomId {
    /// Every atom, in table order.
    pub(crate) fn all() -> impl Iterator<Item = AtomId> {
        (0..ALL_ATOMS).map(AtomId)
    }

    /// The atom's bit in a region mask.
    pub(crate) fn bit(self) -> u64 {
        1u64 << self.0
    }

    /// What it tests.
    pub(crate) fn kind(self) -> Kind {
        match self.0 {
            x if x < COLORS => Kind::Shape,
            x if x < TEXTURES => Kind::Color,
            x if x < SIZES => Kind::Texture,
            x if x < BG_COLORS => Kind::Size,
            x if x < BG_TEXTURES => Kind::BgColor,
            _ => Kind::BgTexture,
        }
    }

    /// True for background atoms.
    pub(crate) fn is_background(self) -> bool {
        self.0 >= OBJECT_ATOMS
    }

    fn offset(self) -> usize {
        usize::from(self.0 - self.kind().atoms().start)
    }

    /// The shapes world's atom.
    pub(crate) fn atom(self) -> Atom {
        let i = self.offset();
        match self.kind() {
            Kind::Shape => Atom::Shape(Shape::ALL[i % Shape::ALL.len()]),
            Kind::Color => Atom::Color(Color::ALL[i % Color::ALL.len()]),
            Kind::Texture => Atom::Texture(Texture::ALL[i % Texture::ALL.len()]),
            Kind::Size => Atom::Size(SizeClass::ALL[i % SizeClass::ALL.len()]),
            Kind::BgColor => Atom::BackgroundColor(Color::ALL[i % Color::ALL.len()]),
            Kind::BgTexture => Atom::BackgroundTexture(Texture::ALL[i % Texture::ALL.len()]),
        }
    }

    /// The atom's word in the concept language (`red`, `striped`, `bg:blue`).
    pub(crate) fn word(self) -> String {
        self.atom().to_string()
    }

    /// The value's plain English word without the `bg:` prefix (`blue`, `striped`).
    pub(crate) fn value_word(self) -> String {
        match self.atom() {
            Atom::Shape(s) => s.name().into(),
            Atom::Color(c) | Atom::BackgroundColor(c) => c.name().into(),
            Atom::Texture(t) | Atom::BackgroundTexture(t) => t.adjective().into(),
            Atom::Size(s) => s.name().into(),
        }
    }

    pub(crate) fn shape(s: Shape) -> AtomId {
        AtomId(SHAPES + index_of(&Shape::ALL, s))
    }

    pub(crate) fn color(c: Color) -> AtomId {
        AtomId(COLORS + index_of(&Color::ALL, c))
    }

    pub(crate) fn texture(t: Texture) -> AtomId {
        AtomId(TEXTURES + index_of(&Texture::ALL, t))
    }

    pub(crate) fn size(s: SizeClass) -> AtomId {
        AtomId(SIZES + index_of(&SizeClass::ALL, s))
    }

    pub(crate) fn bg_color(c: Color) -> AtomId {
        AtomId(BG_COLORS + index_of(&Color::ALL, c))
    }

    pub(crate) fn bg_texture(t: Texture) -> AtomId {
        AtomId(BG_TEXTURES + index_of(&Texture::ALL, t))
    }

    /// The atom of an object or background attribute value of `kind` that `object`
    /// (or the scene's background) has.
    pub(crate) fn of(kind: Kind, object: Option<&Object>, background: Background) -> Option<Self> {
        Some(match (kind, object) {
            (Kind::Shape, Some(o)) => AtomId::shape(o.shape),
            (Kind::Color, Some(o)) => AtomId::color(o.color),
            (Kind::Texture, Some(o)) => AtomId::texture(o.texture),
            (Kind::Size, Some(o)) => AtomId::size(o.size_class()),
            (Kind::BgColor, _) => AtomId::bg_color(background.color),
            (Kind::BgTexture, _) => AtomId::bg_texture(background.texture),
            _ => return None,
        })
    }
}

fn index_of<T: PartialEq>(all: &[T], value: T) -> u8 {
    all.iter()
        .position(|v| *v == value)
        .and_then(|p| u8::try_from(p).ok())
        .unwrap_or(0)
}

/// A scene reduced to what concepts can test: one atom mask per object, one for the
/// background.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Features {
    /// Object atom bits, per object.
    pub(crate) objects: Vec<u64>,
    /// Background atom bits.
    pub(crate) background: u64,
}

impl Features {
    /// The features of a scene.
    pub(crate) fn of(scene: &Scene) -> Features {
        let objects = scene.objects.iter().map(object_mask).collect();
        let bg = scene.background;
        Features {
            objects,
            background: AtomId::bg_color(bg.color).bit() | AtomId::bg_texture(bg.texture).bit(),
        }
    }

    /// Every region's mask: the objects' (with the background's atoms, which hold for
    /// every region), then the background's own.
    pub(crate) fn regions(&self) -> impl Iterator<Item = u64> + '_ {
        self.objects
            .iter()
            .map(|o| o | self.background)
            .chain(std::iter::once(self.background))
    }
}

/// The atom bits of one object.
pub(crate) fn object_mask(o: &Object) -> u64 {
    AtomId::shape(o.shape).bit()
        | AtomId::color(o.color).bit()
        | AtomId::texture(o.texture).bit()
        | AtomId::size(o.size_class()).bit()
}

/// An object with the given attributes at the middle of its size class (positions are
/// left to the generator: prompts do not name them).
pub(crate) fn object(shape: Shape, color: Color, texture: Texture, size: SizeClass) -> Object {
    Object {
        shape,
        color,
        texture,
        size: size.midpoint(),
        x: 0.5,
        y: 0.5,
        rotation: 0.0,
    }
}

/// A 224×224 scene.
pub(crate) fn scene(objects: Vec<Object>, background: Background) -> Scene {
    let canvas = maia_shapes_world::Canvas::default();
    Scene {
        width: canvas.width,
        height: canvas.height,
        background,
        objects,
    }
}

/// Sets one attribute of an object to an object atom's value; background atoms and
/// atoms of other kinds leave it unchanged.
pub(crate) fn set_object_atom(o: &mut Object, atom: AtomId) {
    match atom.atom() {
        Atom::Shape(s) => o.shape = s,
        Atom::Color(c) => o.color = c,
        Atom::Texture(t) => o.texture = t,
        Atom::Size(s) => o.size = s.midpoint(),
        Atom::BackgroundColor(_) | Atom::BackgroundTexture(_) => {}
    }
}

/// Sets a background atom's value on a background.
pub(crate) fn set_background_atom(bg: &mut Background, atom: AtomId) {
    match atom.atom() {
        Atom::BackgroundColor(c) => bg.color = c,
        Atom::BackgroundTexture(t) => bg.texture = t,
        _ => {}
    }
}

/// Sets any atom on a scene: object atoms on object `index`, background atoms on the
/// background.
pub(crate) fn set_atom(scene: &mut Scene, index: usize, atom: AtomId) {
    if atom.is_background() {
        set_background_atom(&mut scene.background, atom);
    } else if let Some(o) = scene.objects.get_mut(index) {
        set_object_atom(o, atom);
    }
}

/// The prompt that draws a scene ("a medium red striped circle on a white background").
pub(crate) fn prompt(scene: &Scene) -> String {
    let text = scene_to_prompt(scene);
    // "a orange background" → "an orange background".
    let words: Vec<&str> = text.split(' ').collect();
    let mut out: Vec<&str> = Vec::with_capacity(words.len());
    for (i, w) in words.iter().enumerate() {
        let vowel = words
            .get(i + 1)
            .and_then(|n| n.chars().next())
            .is_some_and(|c| "aeiou".contains(c));
        out.push(if *w == "a" && vowel { "an" } else { w });
    }
    out.join(" ")
}

/// A short English label of an object ("medium red striped circle").
pub(crate) fn label(o: &Object) -> String {
    let texture = match o.texture {
        Texture::Solid => String::new(),
        t => format!("{} ", t.adjective()),
    };
    format!(
        "{} {} {texture}{}",
        o.size_class().name(),
        o.color.name(),
        o.shape.name()
    )
}

/// An edit reference naming every attribute of an object ("the medium red striped
/// circle"), so it picks that object and not its neighbours.
pub(crate) fn reference(o: &Object) -> String {
    format!("the {}", label(o))
}

/// A value of `kind` that is not in `avoid`, preferring the order of `preferred` and then
/// table order.
pub(crate) fn other_value(kind: Kind, avoid: &[AtomId], preferred: &[AtomId]) -> Option<AtomId> {
    preferred
        .iter()
        .copied()
        .filter(|a| a.kind() == kind)
        .chain(kind.atoms().map(AtomId))
        .find(|a| !avoid.contains(a))
}

/// Colors used for contrast swaps, in order of preference.
pub(crate) fn contrast_colors() -> [AtomId; 6] {
    [
        AtomId::color(Color::Blue),
        AtomId::color(Color::Green),
        AtomId::color(Color::Yellow),
        AtomId::color(Color::Red),
        AtomId::color(Color::Purple),
        AtomId::color(Color::Gray),
    ]
}

/// A small deterministic generator (SplitMix64): the experimenter's only source of
/// variety, so the same conversation always gives the same experiments.
#[derive(Clone, Debug)]
pub(crate) struct Rng(SplitMix);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(SplitMix::from_state(seed ^ 0x9E37_79B9_7F4A_7C15))
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        self.0.below(n)
    }

    /// A uniformly chosen element.
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        self.0.pick(items)
    }

    /// A random object whose color differs from the background's.
    pub(crate) fn object(&mut self, background: Background) -> Object {
        let shape = self.pick(&Shape::ALL).unwrap_or(Shape::Circle);
        let colors: Vec<Color> = Color::ALL
            .iter()
            .copied()
            .filter(|c| *c != background.color)
            .collect();
        let color = self.pick(&colors).unwrap_or(Color::Red);
        // Mostly plain, like the dataset's extra objects.
        let texture = if self.below(2) == 0 {
            Texture::Solid
        } else {
            self.pick(&Texture::ALL).unwrap_or(Texture::Solid)
        };
        let size = self.pick(&SizeClass::ALL).unwrap_or(SizeClass::Medium);
        object(shape, color, texture, size)
    }

    /// A random background, plain two times in three.
    pub(crate) fn background(&mut self) -> Background {
        let color = self.pick(&Color::ALL).unwrap_or(Color::White);
        let texture = if self.below(3) < 2 {
            Texture::Solid
        } else {
            self.pick(&Texture::ALL).unwrap_or(Texture::Solid)
        };
        Background { color, texture }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atom_table_round_trips() {
        for a in AtomId::all() {
            let back = match a.atom() {
                Atom::Shape(s) => AtomId::shape(s),
                Atom::Color(c) => AtomId::color(c),
                Atom::Texture(t) => AtomId::texture(t),
                Atom::Size(s) => AtomId::size(s),
                Atom::BackgroundColor(c) => AtomId::bg_color(c),
                Atom::BackgroundTexture(t) => AtomId::bg_texture(t),
            };
            assert_eq!(back, a, "{}", a.word());
            assert_eq!(a.is_background(), a.atom().is_background());
        }
        assert_eq!(AtomId::bg_texture(Texture::Checker).0, ALL_ATOMS - 1);
    }

    #[test]
    fn prompts_parse_back_to_the_same_attributes() {
        let s = scene(
            vec![
                object(Shape::Star, Color::Red, Texture::Stripes, SizeClass::Small),
                object(Shape::Ring, Color::Blue, Texture::Solid, SizeClass::Large),
            ],
            Background {
                color: Color::Orange,
                texture: Texture::Dots,
            },
        );
        let text = prompt(&s);
        assert!(text.ends_with("on a dotted orange background"), "{text}");
        let empty = scene(Vec::new(), s.background);
        assert_eq!(prompt(&empty), "a dotted orange background");
        let plain = scene(
            Vec::new(),
            Background {
                color: Color::Orange,
                texture: Texture::Solid,
            },
        );
        assert_eq!(prompt(&plain), "an orange background");
        let parsed = maia_shapes_world::parse_prompt(&text, 3).unwrap_or_else(|e| panic!("{e}"));
        assert!(parsed.warnings.is_empty(), "{text}: {:?}", parsed.warnings);
        assert_eq!(Features::of(&parsed.scene), Features::of(&s), "{text}");
    }
}
