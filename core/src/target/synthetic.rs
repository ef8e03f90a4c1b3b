//! Synthetic units of the shapes world as a target model: one layer, `synthetic`, whose
//! units read an image's scene graph (carried in `Image.meta.scene`) and have known truth.

use super::{LayerInfo, ModelInfo, TargetError, TargetModel, UnitMap, UnitRef};
use maia_plugin_sdk::Image;
use maia_shapes_world::{Scene, SyntheticUnit, object_masks};

/// The layer every synthetic target exposes.
pub const SYNTHETIC_LAYER: &str = "synthetic";

/// One or more synthetic units, as a model with a single layer.
pub struct SyntheticTarget {
    units: Vec<SyntheticUnit>,
    info: ModelInfo,
}

impl SyntheticTarget {
    /// A target whose layer `synthetic` holds `units` (unit 0 is the first).
    pub fn new(name: impl Into<String>, units: Vec<SyntheticUnit>) -> Self {
        let size = maia_shapes_world::Canvas::default();
        let info = ModelInfo {
            name: name.into(),
            kind: "synthetic".into(),
            input_size: size.width,
            device: "cpu".into(),
            layers: vec![LayerInfo {
                name: SYNTHETIC_LAYER.into(),
                units: units.len(),
                map_height: size.height,
                map_width: size.width,
                tokens: None,
                unit_names: Vec::new(),
            }],
        };
        SyntheticTarget { units, info }
    }

    /// The units, in index order.
    pub fn units(&self) -> &[SyntheticUnit] {
        &self.units
    }
}

/// The scene graph a shapes-world image carries.
pub fn scene_of(image: &Image) -> Result<Scene, TargetError> {
    let scene = image.meta.get("scene").ok_or_else(|| {
        TargetError::Input(format!(
            "{} has no scene graph: synthetic units read the shapes world's scene, so they only take images made by text2image, edit_images or `maia world dataset`",
            if image.id.is_unassigned() { "the image".to_owned() } else { image.id.to_string() }
        ))
    })?;
    serde_json::from_value(scene.clone())
        .map_err(|e| TargetError::Input(format!("{}: its scene graph is not valid: {e}", image.id)))
}

/// Noise seed of an image: its content, so the same image always gives the same map.
fn image_seed(image: &Image) -> u64 {
    let hash = blake3::hash(&image.png);
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&hash.as_bytes()[..8]);
    u64::from_le_bytes(bytes)
}

impl TargetModel for SyntheticTarget {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn activations(
        &self,
        images: &[&Image],
        layer: &str,
        units: &[usize],
    ) -> Result<Vec<Vec<UnitMap>>, TargetError> {
        for &unit in units {
            UnitRef {
                layer: layer.to_owned(),
                unit,
            }
            .validate(&self.info)?;
        }
        images
            .iter()
            .map(|image| {
                let scene = scene_of(image)?;
                let masks = object_masks(&scene)
                    .map_err(|e| TargetError::Compute(format!("{}: {e}", image.id)))?;
                let seed = image_seed(image);
                Ok(units
                    .iter()
                    .map(|&u| {
                        let map = self.units[u].activation_map_with(&scene, &masks, seed);
                        UnitMap {
                            width: map.width,
                            height: map.height,
                            values: map.values,
                        }
                    })
                    .collect())
            })
            .collect()
    }

    fn fingerprint(&self) -> String {
        let units: Vec<String> = self
            .units
            .iter()
            .map(|u| format!("{}={}@{}", u.name, u.concept, u.strength))
            .collect();
        format!("synthetic:{}", units.join(";"))
    }

    fn ground_truth(&self, unit: &UnitRef) -> Option<String> {
        (unit.layer == SYNTHETIC_LAYER)
            .then(|| self.units.get(unit.unit).map(|u| u.description.clone()))
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use maia_shapes_world::{lookup, parse_prompt, render_png};

    fn world_image(prompt: &str) -> Image {
        let parsed = parse_prompt(prompt, 3).unwrap_or_else(|e| panic!("{e}"));
        let png = render_png(&parsed.scene).unwrap_or_else(|e| panic!("{e}"));
        Image::new(png, prompt).with_meta(serde_json::json!({ "scene": parsed.scene }))
    }

    #[test]
    fn and_unit_fires_on_red_circles_only() {
        let unit = lookup("red_and_circle").unwrap_or_else(|| {
            SyntheticUnit::from_expr("red & circle").unwrap_or_else(|e| panic!("{e}"))
        });
        let target = SyntheticTarget::new("synthetic:red_and_circle", vec![unit]);
        let red_circle = world_image("a red circle");
        let red_square = world_image("a red square");
        let maps = target
            .activations(&[&red_circle, &red_square], SYNTHETIC_LAYER, &[0])
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(maps[0][0].max() > 0.8, "{}", maps[0][0].max());
        assert!(maps[1][0].max() < 0.2, "{}", maps[1][0].max());
        // Same image, same map: noise is seeded by content.
        let again = target
            .activations(&[&red_circle], SYNTHETIC_LAYER, &[0])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again[0][0], maps[0][0]);
    }

    #[test]
    fn images_without_a_scene_are_refused_clearly() {
        let target = SyntheticTarget::new(
            "t",
            vec![SyntheticUnit::from_expr("star").unwrap_or_else(|e| panic!("{e}"))],
        );
        let mut photo = Image::new(vec![1, 2, 3], "photo");
        photo.id = "img_7".into();
        let err = target
            .activations(&[&photo], SYNTHETIC_LAYER, &[0])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("img_7 has no scene graph"), "{err}");
        let err = target
            .activations(&[&photo], SYNTHETIC_LAYER, &[3])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("out of range"), "{err}");
    }
}
