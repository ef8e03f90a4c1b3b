//! Scene → English: the inverse of the prompt parser.

use crate::attributes::{SizeClass, Texture};
use crate::scene::{Object, Scene};

/// Writes a prompt that parses back to an equivalent scene: the same objects in the same
/// order with the same shape, color, texture and size class, and the same background
/// (positions, exact sizes and rotations are left to the seed).
///
/// Consecutive identical objects are counted: "two small red striped circles and a large
/// blue star on a white background".
pub fn scene_to_prompt(scene: &Scene) -> String {
    let mut phrases: Vec<String> = Vec::new();
    let mut index = 0;
    while let Some(first) = scene.objects.get(index) {
        let run = scene.objects[index..]
            .iter()
            .take_while(|o| same_kind(o, first))
            .count()
            .max(1);
        phrases.push(group_phrase(first, run));
        index += run;
    }
    let bg = scene.background;
    let bg_texture = match bg.texture {
        Texture::Solid => String::new(),
        texture => format!("{} ", texture.adjective()),
    };
    let background = format!("a {bg_texture}{} background", bg.color.name());
    if phrases.is_empty() {
        background
    } else {
        format!("{} on {background}", phrases.join(" and "))
    }
}

fn same_kind(a: &Object, b: &Object) -> bool {
    a.shape == b.shape
        && a.color == b.color
        && a.texture == b.texture
        && a.size_class() == b.size_class()
}

fn group_phrase(object: &Object, count: usize) -> String {
    let number = match count {
        1 => "a",
        2 => "two",
        3 => "three",
        4 => "four",
        5 => "five",
        _ => "six",
    };
    let size = match object.size_class() {
        SizeClass::Small => "small ",
        SizeClass::Medium => "medium ",
        SizeClass::Large => "large ",
    };
    let texture = match object.texture {
        Texture::Solid => String::new(),
        texture => format!("{} ", texture.adjective()),
    };
    let noun = if count == 1 {
        object.shape.name()
    } else {
        object.shape.plural()
    };
    format!("{number} {size}{} {texture}{noun}", object.color.name())
}
