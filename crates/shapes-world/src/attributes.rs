//! The vocabulary of the world: shapes, colors, textures and size classes.
//!
//! Every attribute is a closed enum that serializes as a lowercase string, knows its
//! canonical English word, and recognises the synonyms the prompt parser accepts. Keeping
//! the words next to the values means the parser, `scene_to_prompt`, the edit language and
//! the concept language can never disagree about what "striped" or "grey" means.

use serde::{Deserialize, Serialize};

/// A shape an object can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    /// A filled disc.
    Circle,
    /// An axis-aligned square (before rotation).
    Square,
    /// An equilateral triangle, apex up.
    Triangle,
    /// A five-pointed star.
    Star,
    /// An annulus: a disc with a hole showing the background.
    Ring,
    /// A plus-shaped cross.
    Cross,
    /// A heart.
    Heart,
    /// A regular hexagon.
    Hexagon,
    /// A rhombus standing on a corner.
    Diamond,
}

impl Shape {
    /// Every shape, in a fixed order.
    pub const ALL: [Shape; 9] = [
        Shape::Circle,
        Shape::Square,
        Shape::Triangle,
        Shape::Star,
        Shape::Ring,
        Shape::Cross,
        Shape::Heart,
        Shape::Hexagon,
        Shape::Diamond,
    ];

    /// The canonical singular noun ("circle").
    pub fn name(self) -> &'static str {
        match self {
            Shape::Circle => "circle",
            Shape::Square => "square",
            Shape::Triangle => "triangle",
            Shape::Star => "star",
            Shape::Ring => "ring",
            Shape::Cross => "cross",
            Shape::Heart => "heart",
            Shape::Hexagon => "hexagon",
            Shape::Diamond => "diamond",
        }
    }

    /// The canonical plural noun ("crosses").
    pub fn plural(self) -> &'static str {
        match self {
            Shape::Circle => "circles",
            Shape::Square => "squares",
            Shape::Triangle => "triangles",
            Shape::Star => "stars",
            Shape::Ring => "rings",
            Shape::Cross => "crosses",
            Shape::Heart => "hearts",
            Shape::Hexagon => "hexagons",
            Shape::Diamond => "diamonds",
        }
    }

    /// Recognises a shape noun or synonym, singular or plural; the flag is true for plurals.
    ///
    /// Synonyms: disc/disk → circle, box/block → square, donut/doughnut → ring,
    /// plus → cross, rhombus/lozenge → diamond.
    pub fn from_word(word: &str) -> Option<(Shape, bool)> {
        if let Some(shape) = Self::from_singular(word) {
            return Some((shape, false));
        }
        for suffix in ["es", "s"] {
            if let Some(stem) = word.strip_suffix(suffix)
                && let Some(shape) = Self::from_singular(stem)
            {
                return Some((shape, true));
            }
        }
        None
    }

    fn from_singular(word: &str) -> Option<Shape> {
        Some(match word {
            "circle" | "disc" | "disk" => Shape::Circle,
            "square" | "box" | "block" => Shape::Square,
            "triangle" => Shape::Triangle,
            "star" => Shape::Star,
            "ring" | "donut" | "doughnut" | "annulus" => Shape::Ring,
            "cross" | "plus" => Shape::Cross,
            "heart" => Shape::Heart,
            "hexagon" => Shape::Hexagon,
            "diamond" | "rhombus" | "lozenge" => Shape::Diamond,
            _ => return None,
        })
    }
}

/// A named color with a fixed RGB value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Color {
    /// RGB (220, 40, 40).
    Red,
    /// RGB (40, 170, 60).
    Green,
    /// RGB (40, 80, 220).
    Blue,
    /// RGB (245, 210, 40).
    Yellow,
    /// RGB (245, 140, 30).
    Orange,
    /// RGB (140, 60, 190).
    Purple,
    /// RGB (245, 130, 190).
    Pink,
    /// RGB (130, 80, 40).
    Brown,
    /// RGB (20, 20, 20).
    Black,
    /// RGB (245, 245, 245).
    White,
    /// RGB (128, 128, 128).
    Gray,
    /// RGB (40, 200, 220).
    Cyan,
}

impl Color {
    /// Every color, in a fixed order.
    pub const ALL: [Color; 12] = [
        Color::Red,
        Color::Green,
        Color::Blue,
        Color::Yellow,
        Color::Orange,
        Color::Purple,
        Color::Pink,
        Color::Brown,
        Color::Black,
        Color::White,
        Color::Gray,
        Color::Cyan,
    ];

    /// The canonical English word ("gray").
    pub fn name(self) -> &'static str {
        match self {
            Color::Red => "red",
            Color::Green => "green",
            Color::Blue => "blue",
            Color::Yellow => "yellow",
            Color::Orange => "orange",
            Color::Purple => "purple",
            Color::Pink => "pink",
            Color::Brown => "brown",
            Color::Black => "black",
            Color::White => "white",
            Color::Gray => "gray",
            Color::Cyan => "cyan",
        }
    }

    /// The fixed sRGB value the renderer paints.
    pub fn rgb(self) -> [u8; 3] {
        match self {
            Color::Red => [220, 40, 40],
            Color::Green => [40, 170, 60],
            Color::Blue => [40, 80, 220],
            Color::Yellow => [245, 210, 40],
            Color::Orange => [245, 140, 30],
            Color::Purple => [140, 60, 190],
            Color::Pink => [245, 130, 190],
            Color::Brown => [130, 80, 40],
            Color::Black => [20, 20, 20],
            Color::White => [245, 245, 245],
            Color::Gray => [128, 128, 128],
            Color::Cyan => [40, 200, 220],
        }
    }

    /// The color textures are drawn in on top of this one: near-black for light colors,
    /// near-white for dark ones, so stripes and dots stay visible on every color.
    pub fn contrast(self) -> [u8; 3] {
        let [r, g, b] = self.rgb();
        let luma = 0.299 * f32::from(r) + 0.587 * f32::from(g) + 0.114 * f32::from(b);
        if luma > 150.0 {
            [30, 30, 30]
        } else {
            [250, 250, 250]
        }
    }

    /// Recognises a color word or synonym (grey → gray, violet → purple, magenta → pink,
    /// aqua/turquoise → cyan).
    pub fn from_word(word: &str) -> Option<Color> {
        Some(match word {
            "red" => Color::Red,
            "green" => Color::Green,
            "blue" => Color::Blue,
            "yellow" => Color::Yellow,
            "orange" => Color::Orange,
            "purple" | "violet" => Color::Purple,
            "pink" | "magenta" => Color::Pink,
            "brown" => Color::Brown,
            "black" => Color::Black,
            "white" => Color::White,
            "gray" | "grey" => Color::Gray,
            "cyan" | "aqua" | "turquoise" => Color::Cyan,
            _ => return None,
        })
    }
}

/// The pattern painted inside a shape or over the background.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Texture {
    /// Plain fill.
    Solid,
    /// Parallel stripes in the contrast color.
    Stripes,
    /// A grid of dots in the contrast color.
    Dots,
    /// A checkerboard in the contrast color.
    Checker,
}

impl Texture {
    /// Every texture, in a fixed order.
    pub const ALL: [Texture; 4] = [
        Texture::Solid,
        Texture::Stripes,
        Texture::Dots,
        Texture::Checker,
    ];

    /// The serialized name ("stripes").
    pub fn name(self) -> &'static str {
        match self {
            Texture::Solid => "solid",
            Texture::Stripes => "stripes",
            Texture::Dots => "dots",
            Texture::Checker => "checker",
        }
    }

    /// The adjective used in prompts and descriptions ("striped").
    pub fn adjective(self) -> &'static str {
        match self {
            Texture::Solid => "solid",
            Texture::Stripes => "striped",
            Texture::Dots => "dotted",
            Texture::Checker => "checkered",
        }
    }

    /// Recognises a texture adjective or noun (striped, stripes, dotted, dots, spotted,
    /// polka, checkered, chequered, checker, checkerboard, solid, plain, …).
    pub fn from_word(word: &str) -> Option<Texture> {
        Some(match word {
            "solid" | "plain" | "filled" | "flat" | "uniform" => Texture::Solid,
            "striped" | "stripes" | "stripe" | "stripy" | "stripey" | "lined" => Texture::Stripes,
            "dotted" | "dots" | "dot" | "polka" | "spotted" | "spots" | "spotty" => Texture::Dots,
            "checkered" | "checkerboard" | "checker" | "checkers" | "checked" | "chequered"
            | "checkerd" | "plaid" => Texture::Checker,
            _ => return None,
        })
    }
}

/// A coarse size class; an object's exact size is a fraction within the class's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SizeClass {
    /// Diameter 0.14–0.20 of the image side.
    Small,
    /// Diameter 0.22–0.30 of the image side.
    Medium,
    /// Diameter 0.34–0.44 of the image side.
    Large,
}

impl SizeClass {
    /// Every size class, small to large.
    pub const ALL: [SizeClass; 3] = [SizeClass::Small, SizeClass::Medium, SizeClass::Large];

    /// The canonical English word ("small").
    pub fn name(self) -> &'static str {
        match self {
            SizeClass::Small => "small",
            SizeClass::Medium => "medium",
            SizeClass::Large => "large",
        }
    }

    /// The range of size fractions (diameter / image side) objects of this class get.
    /// The ranges leave gaps so that an object's class is never in doubt.
    pub fn range(self) -> (f32, f32) {
        match self {
            SizeClass::Small => (0.14, 0.20),
            SizeClass::Medium => (0.22, 0.30),
            SizeClass::Large => (0.34, 0.44),
        }
    }

    /// The middle of [`SizeClass::range`].
    pub fn midpoint(self) -> f32 {
        let (lo, hi) = self.range();
        (lo + hi) / 2.0
    }

    /// The class of a size fraction: below 0.21 small, below 0.32 medium, else large.
    pub fn of(size: f32) -> SizeClass {
        if size < 0.21 {
            SizeClass::Small
        } else if size < 0.32 {
            SizeClass::Medium
        } else {
            SizeClass::Large
        }
    }

    /// Recognises a size word (small/little/tiny, medium/mid/average/normal,
    /// large/big/huge/giant).
    pub fn from_word(word: &str) -> Option<SizeClass> {
        Some(match word {
            "small" | "little" | "tiny" | "smallish" | "mini" => SizeClass::Small,
            "medium" | "mid" | "average" | "normal" | "moderate" | "regular" => SizeClass::Medium,
            "large" | "big" | "huge" | "giant" | "enormous" | "bigger" | "larger" => {
                SizeClass::Large
            }
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_and_synonyms() {
        assert_eq!(Shape::from_word("crosses"), Some((Shape::Cross, true)));
        assert_eq!(Shape::from_word("boxes"), Some((Shape::Square, true)));
        assert_eq!(Shape::from_word("disc"), Some((Shape::Circle, false)));
        assert_eq!(Shape::from_word("circless"), None);
        for shape in Shape::ALL {
            assert_eq!(Shape::from_word(shape.plural()), Some((shape, true)));
            assert_eq!(Shape::from_word(shape.name()), Some((shape, false)));
        }
    }

    #[test]
    fn size_classes_are_disjoint() {
        for class in SizeClass::ALL {
            let (lo, hi) = class.range();
            assert_eq!(SizeClass::of(lo), class);
            assert_eq!(SizeClass::of(hi), class);
            assert_eq!(SizeClass::of(class.midpoint()), class);
        }
    }

    #[test]
    fn enums_serialize_lowercase() -> Result<(), serde_json::Error> {
        assert_eq!(serde_json::to_string(&Texture::Stripes)?, "\"stripes\"");
        assert_eq!(serde_json::to_string(&Color::Gray)?, "\"gray\"");
        assert_eq!(serde_json::to_string(&Shape::Heart)?, "\"heart\"");
        assert_eq!(serde_json::to_string(&SizeClass::Large)?, "\"large\"");
        Ok(())
    }
}
