//! Every edit kind, including references that match nothing.

use maia_shapes_world::{
    Color, EditError, Scene, Shape, SizeClass, Texture, Warning, apply_edit, parse_prompt,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn scene(prompt: &str) -> Result<Scene, Box<dyn std::error::Error>> {
    Ok(parse_prompt(prompt, 21)?.scene)
}

#[test]
fn recolor_by_shape() -> TestResult {
    let before = scene("a red circle and a blue square")?;
    let out = apply_edit(&before, "make the circle green", 0)?;
    assert_eq!(out.scene.objects[0].color, Color::Green);
    assert_eq!(out.scene.objects[1].color, Color::Blue);
    assert_eq!(out.scene.objects[0].x, before.objects[0].x, "position kept");
    assert_eq!(out.applied, vec!["red circle → green circle"]);
    Ok(())
}

#[test]
fn recolor_by_color_and_shape() -> TestResult {
    let before = scene("a red square and a green square")?;
    let out = apply_edit(&before, "make the red square blue", 0)?;
    assert_eq!(out.scene.objects[0].color, Color::Blue);
    assert_eq!(out.scene.objects[1].color, Color::Green);
    Ok(())
}

#[test]
fn remove() -> TestResult {
    let before = scene("a red circle and a yellow star")?;
    let out = apply_edit(&before, "remove the star", 0)?;
    assert_eq!(out.scene.objects.len(), 1);
    assert_eq!(out.scene.objects[0].shape, Shape::Circle);
    assert_eq!(out.applied, vec!["removed yellow star"]);
    let out = apply_edit(&before, "delete everything", 0)?;
    assert!(out.scene.objects.is_empty());
    Ok(())
}

#[test]
fn add() -> TestResult {
    let before = scene("a red circle")?;
    let out = apply_edit(&before, "add a yellow square", 4)?;
    assert_eq!(out.scene.objects.len(), 2);
    assert_eq!(out.scene.objects[0], before.objects[0]);
    assert_eq!(out.scene.objects[1].shape, Shape::Square);
    assert_eq!(out.scene.objects[1].color, Color::Yellow);
    let again = apply_edit(&before, "add a yellow square", 4)?;
    assert_eq!(again, out, "edits are deterministic");
    let out = apply_edit(&before, "add two stars in the top left", 4)?;
    assert_eq!(out.scene.objects.len(), 3);
    assert!(
        out.scene.objects[1..]
            .iter()
            .all(|o| o.x < 0.5 && o.y < 0.5)
    );
    Ok(())
}

#[test]
fn add_beyond_capacity() -> TestResult {
    let full = scene("six circles")?;
    assert!(matches!(
        apply_edit(&full, "add a star", 0),
        Err(EditError::Full { max: 6 })
    ));
    let five = scene("five circles")?;
    let out = apply_edit(&five, "add three stars", 0)?;
    assert_eq!(out.scene.objects.len(), 6);
    assert!(
        out.warnings
            .iter()
            .any(|w| matches!(w, Warning::CountClamped { .. }))
    );
    Ok(())
}

#[test]
fn sizes() -> TestResult {
    let before = scene("a medium red circle")?;
    let bigger = apply_edit(&before, "make it bigger", 0)?;
    assert!(bigger.scene.objects[0].size > before.objects[0].size * 1.3);
    let smaller = apply_edit(&before, "make the circle smaller", 0)?;
    assert!(smaller.scene.objects[0].size < before.objects[0].size * 0.8);
    let large = apply_edit(&before, "make the circle large", 0)?;
    assert_eq!(large.scene.objects[0].size_class(), SizeClass::Large);
    let shrunk = apply_edit(&before, "shrink the circle", 0)?;
    assert!(shrunk.scene.objects[0].size < before.objects[0].size);
    // A grown object stays inside the image.
    let corner = scene("a large circle in the top left")?;
    let grown = apply_edit(&corner, "make it bigger", 0)?.scene.objects[0];
    let r = grown.size / 2.0;
    assert!(grown.x >= r - 1e-6 && grown.y >= r - 1e-6, "{grown:?}");
    Ok(())
}

#[test]
fn background() -> TestResult {
    let before = scene("a red circle")?;
    let out = apply_edit(&before, "change the background to black", 0)?;
    assert_eq!(out.scene.background.color, Color::Black);
    assert_eq!(out.scene.objects, before.objects);
    let out = apply_edit(&before, "make the background striped", 0)?;
    assert_eq!(out.scene.background.texture, Texture::Stripes);
    Ok(())
}

#[test]
fn replace() -> TestResult {
    let before = scene("a green triangle and a red circle")?;
    let out = apply_edit(&before, "replace the triangle with a heart", 0)?;
    let heart = out.scene.objects[0];
    assert_eq!(heart.shape, Shape::Heart);
    assert_eq!(heart.color, Color::Green, "unmentioned attributes kept");
    assert_eq!(
        (heart.x, heart.y),
        (before.objects[0].x, before.objects[0].y)
    );
    let out = apply_edit(&before, "replace the triangle with a blue star", 0)?;
    assert_eq!(out.scene.objects[0].shape, Shape::Star);
    assert_eq!(out.scene.objects[0].color, Color::Blue);
    let out = apply_edit(&before, "turn the triangle into a square", 0)?;
    assert_eq!(out.scene.objects[0].shape, Shape::Square);
    Ok(())
}

#[test]
fn texture() -> TestResult {
    let before = scene("a yellow star")?;
    let out = apply_edit(&before, "make the star striped", 0)?;
    assert_eq!(out.scene.objects[0].texture, Texture::Stripes);
    assert_eq!(out.scene.objects[0].color, Color::Yellow);
    Ok(())
}

#[test]
fn move_object() -> TestResult {
    let before = scene("a red circle in the top left")?;
    let out = apply_edit(&before, "move the circle to the bottom right", 0)?;
    let o = out.scene.objects[0];
    assert!(o.x > 0.5 && o.y > 0.5, "{o:?}");
    Ok(())
}

#[test]
fn several_clauses_apply_in_order() -> TestResult {
    let before = scene("a red circle and a blue square")?;
    let out = apply_edit(
        &before,
        "make the circle green and remove the square; change the background to pink",
        0,
    )?;
    assert_eq!(out.scene.objects.len(), 1);
    assert_eq!(out.scene.objects[0].color, Color::Green);
    assert_eq!(out.scene.background.color, Color::Pink);
    assert_eq!(out.applied.len(), 3);
    Ok(())
}

#[test]
fn no_match_names_what_is_there() -> TestResult {
    let before = scene("a red circle and a blue square")?;
    let error = apply_edit(&before, "remove the star", 0)
        .err()
        .ok_or("expected error")?;
    assert_eq!(
        error.to_string(),
        "no star in this image; objects are: red circle, blue square"
    );
    assert!(matches!(
        apply_edit(&before, "make the green circle red", 0),
        Err(EditError::NoMatch { .. })
    ));
    // Atomic: a failing later clause leaves nothing applied.
    assert!(apply_edit(&before, "make the circle green; remove the heart", 0).is_err());
    Ok(())
}

#[test]
fn ambiguity_and_unknown_words_warn() -> TestResult {
    let before = scene("two red circles and a square")?;
    let out = apply_edit(&before, "make the circle sparkly blue", 0)?;
    assert!(
        out.scene.objects[..2]
            .iter()
            .all(|o| o.color == Color::Blue)
    );
    assert!(
        out.warnings
            .iter()
            .any(|w| matches!(w, Warning::Ambiguous { .. }))
    );
    assert!(out.warnings.contains(&Warning::UnknownWord {
        word: "sparkly".into()
    }));
    Ok(())
}

#[test]
fn malformed_edits() -> TestResult {
    let before = scene("a red circle")?;
    assert_eq!(apply_edit(&before, "", 0), Err(EditError::Empty));
    assert!(matches!(
        apply_edit(&before, "frobnicate the circle", 0),
        Err(EditError::UnknownVerb { .. })
    ));
    assert!(matches!(
        apply_edit(&before, "make the circle", 0),
        Err(EditError::NothingToChange { .. })
    ));
    assert!(matches!(
        apply_edit(&before, "add a florp", 0),
        Err(EditError::NoShape { .. })
    ));
    assert!(matches!(
        apply_edit(&before, &"make it red ".repeat(200), 0),
        Err(EditError::TooLong { .. })
    ));
    Ok(())
}
