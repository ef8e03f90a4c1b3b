//! How a layer's output tensor is read as unit maps `[N, C, H, W]`: feature maps as they
//! are, vectors `[N, C]` as 1×1 maps, transformer tokens `[N, T, C]` as the patch grid they
//! came from, and channels-last maps `[N, H, W, C]` turned around.
//!
//! A token layer holds `prefix` tokens (the class token and any register tokens) and then
//! `h·w` patch tokens in row-major order, as ViT, DeiT, DINO(v2), CLIP and SigLIP lay them
//! out. Its units are its `C` channels and a unit's map is the `h×w` grid of its patch
//! tokens, so `LAYER:U` means for a ViT what it means for a CNN. The sidecar says the
//! layout (`scripts/export_model.py` writes it); without it the grid is inferred from `T`.
//! The class token of a layer with one is a layer of its own, `NAME:cls`, whose units
//! `NAME:cls:U` are scalars (a 1×1 map).

use super::super::{TargetError, TokenGrid};
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// A layer's layout as a `maia-model` sidecar declares it (`"layouts": {NAME: ...}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LayerLayout {
    /// `[N, T, C]` tokens: `prefix` tokens, then a `grid = [h, w]` of patches.
    Tokens {
        /// Class and register tokens before the patches.
        prefix: u32,
        /// Patch rows and columns.
        grid: [u32; 2],
    },
    /// `[N, H, W, C]` maps (timm's ConvNeXt and Swin stages).
    ChannelsLast,
}

/// What names a layer's class token as a layer of its own: `NAME:cls`, so that its units
/// are `NAME:cls:U`.
pub const CLASS_TOKEN_SUFFIX: &str = ":cls";

/// Prefix sizes tried, in order, when a token layer's layout is not declared: a class
/// token; none; a class token and 4 registers (DINOv2 with registers); 4 registers.
const INFERRED_PREFIXES: [u32; 4] = [1, 0, 5, 4];

/// How one layer's output becomes `[N, C, H, W]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Already `[N, C, H, W]`, or `[N, C]` (read as 1×1).
    Maps,
    /// `[N, T, C]` tokens.
    Tokens(TokenGrid),
    /// `[N, H, W, C]`.
    ChannelsLast,
    /// The class token (token 0) of a token layer, read as `[N, C]`.
    ClassToken,
}

/// What a layer is: its layout, its unit count and its map size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// How to read it.
    pub layout: Layout,
    /// Units (channels).
    pub units: usize,
    /// Map height.
    pub height: u32,
    /// Map width.
    pub width: u32,
}

/// Reads layer `name` of output shape `shape` (batch first), as `declared` says or, for
/// tokens, as the token count allows.
pub fn resolve(
    name: &str,
    shape: &[i64],
    declared: Option<LayerLayout>,
) -> Result<Resolved, TargetError> {
    let dim = |v: i64| u32::try_from(v).unwrap_or(0);
    let maps = |layout, units: i64, h: i64, w: i64| Resolved {
        layout,
        units: usize::try_from(units).unwrap_or(0),
        height: dim(h),
        width: dim(w),
    };
    match (shape, declared) {
        ([_, h, w, c], Some(LayerLayout::ChannelsLast)) => {
            Ok(maps(Layout::ChannelsLast, *c, *h, *w))
        }
        ([_, c, h, w], None) => Ok(maps(Layout::Maps, *c, *h, *w)),
        ([_, c], None) => Ok(maps(Layout::Maps, *c, 1, 1)),
        (
            [_, t, c],
            Some(LayerLayout::Tokens {
                prefix,
                grid: [h, w],
            }),
        ) => {
            let patches = u64::from(h) * u64::from(w);
            if u64::try_from(*t).ok() != Some(u64::from(prefix) + patches) {
                return Err(TargetError::Spec(format!(
                    "layer `{name}` has {t} tokens but its sidecar layout says {prefix} prefix tokens and a {h}×{w} grid ({} tokens); export the model again, or fix \"layouts\" in the sidecar",
                    u64::from(prefix) + patches
                )));
            }
            let grid = TokenGrid {
                prefix,
                height: h,
                width: w,
                inferred: false,
            };
            Ok(maps(Layout::Tokens(grid), *c, i64::from(h), i64::from(w)))
        }
        ([_, t, c], None) => {
            let grid = infer_grid(*t).ok_or_else(|| {
                TargetError::Spec(format!(
                    "layer `{name}` has shape {shape:?}, read as {t} transformer tokens of {c} channels, but {t} fits no patch grid (a square after 1, 0, 5 or 4 prefix tokens); export the model with scripts/export_model.py, which records the layout, or add \"layouts\": {{\"{name}\": {{\"tokens\": {{\"prefix\": P, \"grid\": [H, W]}}}}}} to its sidecar"
                ))
            })?;
            Ok(maps(
                Layout::Tokens(grid),
                *c,
                i64::from(grid.height),
                i64::from(grid.width),
            ))
        }
        (other, Some(declared)) => Err(TargetError::Spec(format!(
            "layer `{name}` has shape {other:?}, which does not fit its sidecar layout {declared:?} ([N, T, C] for tokens, [N, H, W, C] for channels_last)"
        ))),
        (other, None) => Err(TargetError::Spec(format!(
            "layer `{name}` has shape {other:?}; expected [N, C, H, W], [N, C] or transformer tokens [N, T, C] (a [N, H, W, C] layer needs \"layouts\": {{\"{name}\": \"channels_last\"}} in its sidecar)"
        ))),
    }
}

/// The first prefix of [`INFERRED_PREFIXES`] that leaves a square number of patches.
fn infer_grid(tokens: i64) -> Option<TokenGrid> {
    INFERRED_PREFIXES.iter().find_map(|&prefix| {
        let patches = tokens.checked_sub(i64::from(prefix)).filter(|&p| p > 0)?;
        let side = (patches as f64).sqrt().round() as i64;
        (side * side == patches).then_some(TokenGrid {
            prefix,
            height: side as u32,
            width: side as u32,
            inferred: true,
        })
    })
}

impl Layout {
    /// `t` (this layer's raw output) as `[N, C, H, W]` (or `[N, C]` for a vector).
    pub fn to_maps(self, t: Tensor) -> Tensor {
        match self {
            Layout::Maps => t,
            Layout::Tokens(grid) => {
                let size = t.size();
                let (n, c) = (size[0], size[2]);
                let (h, w) = (i64::from(grid.height), i64::from(grid.width));
                t.narrow(1, i64::from(grid.prefix), h * w)
                    .reshape([n, h, w, c])
                    .permute([0, 3, 1, 2])
                    .contiguous()
            }
            Layout::ChannelsLast => t.permute([0, 3, 1, 2]).contiguous(),
            Layout::ClassToken => t.select(1, 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn token_grids_are_inferred_from_the_token_count() {
        let grid = |t| infer_grid(t).map(|g| (g.prefix, g.height, g.width));
        assert_eq!(grid(197), Some((1, 14, 14)), "ViT-B/16 at 224");
        assert_eq!(grid(196), Some((0, 14, 14)), "no class token");
        assert_eq!(grid(261), Some((5, 16, 16)), "DINOv2 with 4 registers");
        assert_eq!(grid(50), Some((1, 7, 7)));
        assert_eq!(grid(3), None);
        let err = resolve("blocks.3", &[1, 3, 8], None)
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("fits no patch grid") && e.contains("layouts")));
    }

    #[test]
    fn a_declared_layout_must_fit_the_tokens() {
        let declared = LayerLayout::Tokens {
            prefix: 1,
            grid: [2, 3],
        };
        let ok = resolve("b", &[1, 7, 4], Some(declared)).map(|r| (r.units, r.height, r.width));
        assert_eq!(ok.ok(), Some((4, 2, 3)));
        let err = resolve("b", &[1, 8, 4], Some(declared))
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("8 tokens") && e.contains("2×3")));
        let nhwc = resolve("s", &[1, 5, 6, 7], Some(LayerLayout::ChannelsLast)).ok();
        assert_eq!(nhwc.map(|r| (r.units, r.height, r.width)), Some((7, 5, 6)));
    }

    #[test]
    fn patch_tokens_become_maps_in_row_major_order() {
        // 1 image, prefix 1, a 2×3 grid, 2 channels; token k carries k in channel 0.
        let values: Vec<f32> = (0..7).flat_map(|k| [k as f32, -(k as f32)]).collect();
        let t = Tensor::from_slice(&values).view([1, 7, 2]);
        let grid = TokenGrid {
            prefix: 1,
            height: 2,
            width: 3,
            inferred: false,
        };
        let maps = Layout::Tokens(grid).to_maps(t);
        assert_eq!(maps.size(), [1, 2, 2, 3]);
        let channel0: Vec<f32> =
            Vec::try_from(maps.get(0).get(0).flatten(0, -1)).unwrap_or_default();
        assert_eq!(channel0, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let nhwc = Tensor::zeros([1, 2, 3, 4], (Kind::Float, Device::Cpu));
        assert_eq!(Layout::ChannelsLast.to_maps(nhwc).size(), [1, 4, 2, 3]);
    }
}
