//! The shapes world: a procedural world of shapes with known ground truth.
//!
//! Everything maia does — prompting, editing, dataset exemplars, unit probing, evaluation —
//! can run against this world with no downloaded weights or data:
//!
//! - [`scene`]: the scene graph ([`Scene`], [`Object`], [`Background`]), serde-serializable;
//! - [`render`]: scenes to pixmaps, PNG bytes and per-object coverage masks;
//! - [`prompt`]: English prompts to scenes, with [`Warning`]s for what was not understood;
//!   [`scene_to_prompt`] goes back;
//! - [`edit`]: instructions like "make the circle green" applied to a scene;
//! - [`dataset`]: seeded, balanced scene datasets;
//! - [`concept`], [`units`], [`catalogue`]: synthetic units with ground-truth concepts;
//! - [`reading`]: English descriptions of units back to concepts ([`read_description`]);
//! - [`sampling`]: seeded scenes that show, or lack, a concept (for evaluation).
//!
//! ```
//! use maia_shapes_world::{parse_prompt, render_png, lookup};
//!
//! let parsed = parse_prompt("two red striped circles on a blue background", 7)?;
//! assert_eq!(parsed.scene.objects.len(), 2);
//! let png = render_png(&parsed.scene)?;
//! assert!(png.starts_with(b"\x89PNG"));
//! let unit = lookup("red").ok_or("no unit")?;
//! assert!(unit.activation(&parsed.scene, 0)? > 0.9);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod attributes;
pub mod catalogue;
pub mod concept;
pub mod dataset;
pub mod describe;
pub mod edit;
mod geometry;
mod layout;
pub mod prompt;
pub mod reading;
pub mod render;
mod rng;
pub mod sampling;
pub mod scene;
pub mod units;
pub mod warning;
mod words;

pub use attributes::{Color, Shape, SizeClass, Texture};
pub use catalogue::{catalogue, lookup, unit_names};
pub use concept::{Atom, Concept, ConceptError};
pub use dataset::{
    DatasetError, DatasetSummary, SCENE_INDEX, generate, scene_at, write_dataset,
    write_dataset_with,
};
pub use describe::scene_to_prompt;
pub use edit::{EditError, EditOutcome, apply_edit};
pub use prompt::{MAX_PROMPT_CHARS, ParsedPrompt, PromptError, parse_prompt, parse_prompt_on};
pub use reading::{Reading, ReadingError, read_description};
pub use render::{RenderError, SceneMasks, object_masks, render_pixmap, render_png, render_rgba};
pub use sampling::{SamplingError, scenes_with, scenes_without};
pub use scene::{Background, Canvas, MAX_OBJECTS, Object, Scene, SceneError};
pub use units::{ActivationMap, SyntheticUnit, UnitKind, activation_map};
pub use warning::Warning;
