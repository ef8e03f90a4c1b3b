//! The scene graph: what an image of the shapes world contains.
//!
//! A [`Scene`] is the ground truth behind every rendered image. It travels as JSON in an
//! image's `meta`, so everything here is serde-serializable and enums are lowercase words.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::attributes::{Color, Shape, SizeClass, Texture};

/// The default image side in pixels (MAIA's 224×224).
pub const DEFAULT_SIDE: u32 = 224;
/// The most objects a scene may hold.
pub const MAX_OBJECTS: usize = 6;
/// The largest image side accepted, to keep a bad scene from allocating gigabytes.
pub const MAX_SIDE: u32 = 4096;

/// The size of the image a scene is drawn into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Canvas {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl Default for Canvas {
    fn default() -> Self {
        Canvas {
            width: DEFAULT_SIDE,
            height: DEFAULT_SIDE,
        }
    }
}

/// The background behind all objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Background {
    /// Base color.
    pub color: Color,
    /// Pattern over the base color (drawn with softened contrast so objects stay salient).
    pub texture: Texture,
}

impl Default for Background {
    /// Plain white, the background of a prompt that names none.
    fn default() -> Self {
        Background {
            color: Color::White,
            texture: Texture::Solid,
        }
    }
}

/// One shape in a scene.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Object {
    /// Which shape.
    pub shape: Shape,
    /// Fill color.
    pub color: Color,
    /// Pattern inside the shape.
    pub texture: Texture,
    /// Diameter of the shape's bounding circle as a fraction of the shorter image side.
    pub size: f32,
    /// Centre x as a fraction of the width, in [0, 1].
    pub x: f32,
    /// Centre y as a fraction of the height, in [0, 1] (0 is the top).
    pub y: f32,
    /// Clockwise rotation in degrees.
    pub rotation: f32,
}

impl Object {
    /// The size class this object's size falls in.
    pub fn size_class(&self) -> SizeClass {
        SizeClass::of(self.size)
    }

    /// A short English label ("red striped circle"), used in messages and descriptions.
    pub fn label(&self) -> String {
        match self.texture {
            Texture::Solid => format!("{} {}", self.color.name(), self.shape.name()),
            texture => format!(
                "{} {} {}",
                self.color.name(),
                texture.adjective(),
                self.shape.name()
            ),
        }
    }
}

/// A whole image's ground truth: canvas size, background and objects in drawing order
/// (later objects are drawn over earlier ones).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scene {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// The background.
    pub background: Background,
    /// The objects, back to front.
    pub objects: Vec<Object>,
}

/// Why a scene cannot be drawn.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SceneError {
    /// Width or height is zero or above [`MAX_SIDE`].
    #[error("image size {width}x{height} is out of range; both sides must be 1..={max}")]
    BadCanvas {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
        /// The largest accepted side.
        max: u32,
    },
    /// More than [`MAX_OBJECTS`] objects.
    #[error("scene has {count} objects; at most {max} are allowed")]
    TooManyObjects {
        /// Objects in the scene.
        count: usize,
        /// The maximum.
        max: usize,
    },
    /// An object's size or position is not a finite number in range.
    #[error(
        "object {index} ({label}) has an invalid {field} = {value}; size must be in (0, 1], x and y in [0, 1], rotation finite"
    )]
    BadObject {
        /// Index in `objects`.
        index: usize,
        /// The object's label.
        label: String,
        /// Which field is wrong.
        field: &'static str,
        /// The offending value.
        value: f32,
    },
    /// The JSON did not describe a scene.
    #[error("scene JSON is invalid: {0}")]
    Json(String),
}

impl Scene {
    /// An empty scene on the default white background.
    pub fn empty(canvas: Canvas) -> Scene {
        Scene {
            width: canvas.width,
            height: canvas.height,
            background: Background::default(),
            objects: Vec::new(),
        }
    }

    /// The canvas this scene is drawn into.
    pub fn canvas(&self) -> Canvas {
        Canvas {
            width: self.width,
            height: self.height,
        }
    }

    /// Checks that the scene can be drawn: sane canvas, at most [`MAX_OBJECTS`] objects,
    /// finite sizes and positions. Scenes from JSON should pass through this first.
    pub fn validate(&self) -> Result<(), SceneError> {
        if self.width == 0 || self.height == 0 || self.width > MAX_SIDE || self.height > MAX_SIDE {
            return Err(SceneError::BadCanvas {
                width: self.width,
                height: self.height,
                max: MAX_SIDE,
            });
        }
        if self.objects.len() > MAX_OBJECTS {
            return Err(SceneError::TooManyObjects {
                count: self.objects.len(),
                max: MAX_OBJECTS,
            });
        }
        for (index, object) in self.objects.iter().enumerate() {
            let bad = |field: &'static str, value: f32| SceneError::BadObject {
                index,
                label: object.label(),
                field,
                value,
            };
            if !(object.size.is_finite() && object.size > 0.0 && object.size <= 1.0) {
                return Err(bad("size", object.size));
            }
            if !(object.x.is_finite() && (0.0..=1.0).contains(&object.x)) {
                return Err(bad("x", object.x));
            }
            if !(object.y.is_finite() && (0.0..=1.0).contains(&object.y)) {
                return Err(bad("y", object.y));
            }
            if !object.rotation.is_finite() {
                return Err(bad("rotation", object.rotation));
            }
        }
        Ok(())
    }

    /// Parses and validates a scene from JSON (for example an image's `meta.scene`).
    pub fn from_json(json: &str) -> Result<Scene, SceneError> {
        let scene: Scene =
            serde_json::from_str(json).map_err(|e| SceneError::Json(e.to_string()))?;
        scene.validate()?;
        Ok(scene)
    }

    /// Serializes the scene as compact JSON.
    pub fn to_json(&self) -> String {
        // Serializing plain structs of numbers and unit enums cannot fail; fall back to an
        // empty object rather than panicking if serde ever changes that.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }

    /// A comma-separated list of object labels ("red circle, blue square"), or "no
    /// objects".
    pub fn inventory(&self) -> String {
        if self.objects.is_empty() {
            return String::from("no objects");
        }
        self.objects
            .iter()
            .map(Object::label)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn circle() -> Object {
        Object {
            shape: Shape::Circle,
            color: Color::Red,
            texture: Texture::Stripes,
            size: 0.25,
            x: 0.5,
            y: 0.5,
            rotation: 0.0,
        }
    }

    #[test]
    fn json_round_trip_uses_lowercase_words() -> Result<(), SceneError> {
        let mut scene = Scene::empty(Canvas::default());
        scene.objects.push(circle());
        let json = scene.to_json();
        assert!(json.contains("\"shape\":\"circle\""), "{json}");
        assert!(json.contains("\"texture\":\"stripes\""), "{json}");
        assert_eq!(Scene::from_json(&json)?, scene);
        Ok(())
    }

    #[test]
    fn validation_rejects_bad_scenes() {
        let mut scene = Scene::empty(Canvas::default());
        scene.objects = vec![circle(); 7];
        assert!(matches!(
            scene.validate(),
            Err(SceneError::TooManyObjects { count: 7, .. })
        ));
        scene.objects = vec![Object {
            size: f32::NAN,
            ..circle()
        }];
        assert!(matches!(
            scene.validate(),
            Err(SceneError::BadObject { field: "size", .. })
        ));
        scene.objects.clear();
        scene.width = 0;
        assert!(matches!(
            scene.validate(),
            Err(SceneError::BadCanvas { .. })
        ));
        assert!(matches!(
            Scene::from_json("{\"width\": 3}"),
            Err(SceneError::Json(_))
        ));
    }
}
