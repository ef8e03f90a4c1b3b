//! The catalogue: named synthetic units with ground truth, across all four kinds.

use crate::attributes::{Color, Shape, Texture};
use crate::concept::{Atom, Concept};
use crate::units::SyntheticUnit;

fn atom(atom: Atom) -> Concept {
    Concept::Atom(atom)
}

fn shape(s: Shape) -> Concept {
    atom(Atom::Shape(s))
}

fn color(c: Color) -> Concept {
    atom(Atom::Color(c))
}

fn texture(t: Texture) -> Concept {
    atom(Atom::Texture(t))
}

fn not(c: Concept) -> Concept {
    Concept::Not(Box::new(c))
}

/// Every catalogued unit. Names are unique and stable:
/// mono `red`, `star`, `striped`, `small`, `bg_blue`; or `circle_or_star`;
/// and `red_and_circle` (same object) or `circle_with_star` (co-occurring objects);
/// andnot `circle_not_red`.
pub fn catalogue() -> Vec<SyntheticUnit> {
    use crate::attributes::SizeClass;
    let mut units = Vec::new();

    // Mono: every shape, every color, the three non-solid textures, two sizes, two
    // backgrounds.
    for s in Shape::ALL {
        units.push(SyntheticUnit::new(s.name(), shape(s)));
    }
    for c in Color::ALL {
        units.push(SyntheticUnit::new(c.name(), color(c)));
    }
    for t in [Texture::Stripes, Texture::Dots, Texture::Checker] {
        units.push(SyntheticUnit::new(t.adjective(), texture(t)));
    }
    for size in [SizeClass::Small, SizeClass::Large] {
        units.push(SyntheticUnit::new(size.name(), atom(Atom::Size(size))));
    }
    for c in [Color::Blue, Color::Black] {
        units.push(SyntheticUnit::new(
            format!("bg_{}", c.name()),
            atom(Atom::BackgroundColor(c)),
        ));
    }

    // Or.
    let or_shapes = [
        (Shape::Circle, Shape::Star),
        (Shape::Square, Shape::Triangle),
        (Shape::Heart, Shape::Ring),
        (Shape::Cross, Shape::Diamond),
        (Shape::Hexagon, Shape::Circle),
        (Shape::Star, Shape::Heart),
    ];
    for (a, b) in or_shapes {
        units.push(SyntheticUnit::new(
            format!("{}_or_{}", a.name(), b.name()),
            Concept::Or(vec![shape(a), shape(b)]),
        ));
    }
    let or_colors = [
        (Color::Red, Color::Blue),
        (Color::Green, Color::Yellow),
        (Color::Orange, Color::Purple),
        (Color::Pink, Color::Cyan),
    ];
    for (a, b) in or_colors {
        units.push(SyntheticUnit::new(
            format!("{}_or_{}", a.name(), b.name()),
            Concept::Or(vec![color(a), color(b)]),
        ));
    }
    units.push(SyntheticUnit::new(
        "striped_or_dotted",
        Concept::Or(vec![texture(Texture::Stripes), texture(Texture::Dots)]),
    ));
    units.push(SyntheticUnit::new(
        "red_or_star",
        Concept::Or(vec![color(Color::Red), shape(Shape::Star)]),
    ));

    // And, same object.
    let and_pairs = [
        (Color::Red, Shape::Circle),
        (Color::Blue, Shape::Square),
        (Color::Green, Shape::Triangle),
        (Color::Yellow, Shape::Star),
        (Color::Purple, Shape::Heart),
        (Color::Orange, Shape::Ring),
        (Color::Black, Shape::Cross),
    ];
    for (c, s) in and_pairs {
        units.push(SyntheticUnit::new(
            format!("{}_and_{}", c.name(), s.name()),
            Concept::And(vec![color(c), shape(s)]),
        ));
    }
    units.push(SyntheticUnit::new(
        "striped_and_circle",
        Concept::And(vec![texture(Texture::Stripes), shape(Shape::Circle)]),
    ));
    units.push(SyntheticUnit::new(
        "dotted_and_square",
        Concept::And(vec![texture(Texture::Dots), shape(Shape::Square)]),
    ));
    units.push(SyntheticUnit::new(
        "small_and_star",
        Concept::And(vec![atom(Atom::Size(SizeClass::Small)), shape(Shape::Star)]),
    ));
    units.push(SyntheticUnit::new(
        "large_and_red",
        Concept::And(vec![atom(Atom::Size(SizeClass::Large)), color(Color::Red)]),
    ));
    units.push(SyntheticUnit::new(
        "circle_on_bg_blue",
        Concept::And(vec![
            shape(Shape::Circle),
            atom(Atom::BackgroundColor(Color::Blue)),
        ]),
    ));

    // And, co-occurring objects (MAIA's AND neurons: both parts in the image).
    let with_pairs = [
        (Shape::Circle, Shape::Star),
        (Shape::Square, Shape::Heart),
        (Shape::Triangle, Shape::Ring),
    ];
    for (a, b) in with_pairs {
        units.push(SyntheticUnit::new(
            format!("{}_with_{}", a.name(), b.name()),
            Concept::With(vec![shape(a), shape(b)]),
        ));
    }
    units.push(SyntheticUnit::new(
        "red_with_blue",
        Concept::With(vec![color(Color::Red), color(Color::Blue)]),
    ));

    // AndNot.
    let andnot_shape_color = [
        (Shape::Circle, Color::Red),
        (Shape::Star, Color::Yellow),
        (Shape::Square, Color::Blue),
        (Shape::Heart, Color::Pink),
        (Shape::Triangle, Color::Green),
        (Shape::Ring, Color::Black),
    ];
    for (s, c) in andnot_shape_color {
        units.push(SyntheticUnit::new(
            format!("{}_not_{}", s.name(), c.name()),
            Concept::And(vec![shape(s), not(color(c))]),
        ));
    }
    let andnot_color_shape = [
        (Color::Red, Shape::Circle),
        (Color::Blue, Shape::Square),
        (Color::Green, Shape::Star),
    ];
    for (c, s) in andnot_color_shape {
        units.push(SyntheticUnit::new(
            format!("{}_not_{}", c.name(), s.name()),
            Concept::And(vec![color(c), not(shape(s))]),
        ));
    }
    units.push(SyntheticUnit::new(
        "circle_not_striped",
        Concept::And(vec![shape(Shape::Circle), not(texture(Texture::Stripes))]),
    ));
    units.push(SyntheticUnit::new(
        "striped_not_square",
        Concept::And(vec![texture(Texture::Stripes), not(shape(Shape::Square))]),
    ));
    units.push(SyntheticUnit::new(
        "star_not_small",
        Concept::And(vec![
            shape(Shape::Star),
            not(atom(Atom::Size(SizeClass::Small))),
        ]),
    ));
    units
}

/// Finds a catalogued unit by name (case-insensitive).
pub fn lookup(name: &str) -> Option<SyntheticUnit> {
    catalogue()
        .into_iter()
        .find(|unit| unit.name.eq_ignore_ascii_case(name))
}

/// The names of all catalogued units, for error messages and listings.
pub fn unit_names() -> Vec<String> {
    catalogue().into_iter().map(|unit| unit.name).collect()
}
