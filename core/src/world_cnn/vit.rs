//! The world ViT: a small vision transformer in the layout of ViT/DeiT/DINO — a patch
//! embedding, a class token, learned position embeddings, pre-norm blocks (multi-head
//! self-attention and a GELU MLP, each around a residual) — whose heads read the final
//! layer-normed class token concatenated with the mean and the max over patch tokens (the
//! max, as in the CNN's pooling, lets the heads find the dominant object's color in a
//! quarter of the training the mean alone needs).
//!
//! Each block's output, the residual stream `[N, 1 + h·w, C]`, is an exported layer
//! (`block1` …), laid out as one class token and an `h×w` patch grid, so a unit `blockK:U`
//! is channel `U` over the patches and `blockK:cls:U` the same channel at the class token.
//!
//! Every reshape keeps the batch dimension free (`-1`), so the traced module answers any
//! batch size.

use tch::nn::{self, Module, ModuleT};
use tch::{Kind, Tensor};

use super::net::{LayerDoc, Outputs, WorldNet};
use super::vit_config::WorldVitConfig;
use crate::target::torch::LayerLayout;

/// One pre-norm transformer block.
struct Block {
    norm1: nn::LayerNorm,
    qkv: nn::Linear,
    proj: nn::Linear,
    norm2: nn::LayerNorm,
    fc1: nn::Linear,
    fc2: nn::Linear,
}

/// The world ViT, as trained.
pub(crate) struct Vit {
    stem: Vec<(nn::Conv2D, Option<nn::BatchNorm>)>,
    cls: Tensor,
    pos: Tensor,
    blocks: Vec<Block>,
    norm: nn::LayerNorm,
    shape_head: nn::Linear,
    color_head: nn::Linear,
    tokens: i64,
    width: i64,
    heads: i64,
    grid: u32,
}

impl Vit {
    /// Creates the parameters under `root` (from libtorch's global generator).
    pub(crate) fn new(root: &nn::Path, config: &WorldVitConfig, shapes: i64, colors: i64) -> Vit {
        let width = config.width;
        let patch = i64::from(config.patch);
        let grid = config.grid();
        let tokens = 1 + i64::from(grid * grid);
        let small = nn::Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        };
        let linear = |path: nn::Path, inputs: i64, outputs: i64| {
            nn::linear(
                path,
                inputs,
                outputs,
                nn::LinearConfig {
                    ws_init: small,
                    bs_init: Some(nn::Init::Const(0.0)),
                    bias: true,
                },
            )
        };
        let hidden = width * config.mlp_ratio;
        let blocks = (0..config.depth)
            .map(|k| {
                let p = root / format!("block{}", k + 1);
                Block {
                    norm1: nn::layer_norm(&p / "norm1", vec![width], Default::default()),
                    qkv: linear(&p / "qkv", width, 3 * width),
                    proj: linear(&p / "proj", width, width),
                    norm2: nn::layer_norm(&p / "norm2", vec![width], Default::default()),
                    fc1: linear(&p / "fc1", width, hidden),
                    fc2: linear(&p / "fc2", hidden, width),
                }
            })
            .collect();
        // log2(patch) stride-2 3×3 convolutions, channels doubling up to `width`.
        let steps = patch.trailing_zeros() as i64;
        let mut stem = Vec::new();
        let mut input = 3;
        for k in 0..steps {
            let output = if k == steps - 1 {
                width
            } else {
                (width >> (steps - 1 - k)).max(8)
            };
            let last = k == steps - 1;
            let conv = nn::conv2d(
                root / format!("stem{}", k + 1),
                input,
                output,
                3,
                nn::ConvConfig {
                    stride: 2,
                    padding: 1,
                    bias: last,
                    ..Default::default()
                },
            );
            let norm = (!last).then(|| {
                nn::batch_norm2d(
                    root / format!("stem{}_bn", k + 1),
                    output,
                    Default::default(),
                )
            });
            stem.push((conv, norm));
            input = output;
        }
        Vit {
            stem,
            cls: root.var("cls_token", &[1, 1, width], small),
            pos: root.var("pos_embed", &[1, tokens, width], small),
            blocks,
            norm: nn::layer_norm(root / "norm", vec![width], Default::default()),
            shape_head: linear(root / "shape_head", 3 * width, shapes),
            color_head: linear(root / "color_head", 3 * width, colors),
            tokens,
            width,
            heads: config.heads,
            grid,
        }
    }

    /// Multi-head self-attention over `[N, T, C]`.
    fn attention(&self, block: &Block, x: &Tensor) -> Tensor {
        let (t, c, h) = (self.tokens, self.width, self.heads);
        let d = c / h;
        // [N, T, 3, H, D] -> [3, N, H, T, D]
        let qkv = block
            .qkv
            .forward(x)
            .view([-1, t, 3, h, d])
            .permute([2, 0, 3, 1, 4]);
        let (q, k, v) = (qkv.get(0), qkv.get(1), qkv.get(2));
        let scores = q.matmul(&k.transpose(-2, -1)) * (1.0 / (d as f64).sqrt());
        let mixed = scores.softmax(-1, Kind::Float).matmul(&v);
        block
            .proj
            .forward(&mixed.permute([0, 2, 1, 3]).reshape([-1, t, c]))
    }
}

impl WorldNet for Vit {
    fn forward(&self, xs: &Tensor, train: bool) -> Outputs {
        // The convolutional stem: [N, 3, S, S] -> [N, C, g, g] -> tokens [N, g·g, C].
        let mut maps = xs.shallow_clone();
        for (conv, norm) in &self.stem {
            maps = conv.forward(&maps);
            if let Some(norm) = norm {
                maps = norm.forward_t(&maps, train).relu();
            }
        }
        let patches = maps.flatten(2, -1).transpose(1, 2);
        // The class token, one per image: expand_as keeps the batch size free when traced.
        let cls = self.cls.expand_as(&patches.narrow(1, 0, 1));
        let mut x = Tensor::cat(&[cls, patches], 1) + &self.pos;
        let mut features = Vec::with_capacity(self.blocks.len());
        for block in &self.blocks {
            x = &x + self.attention(block, &block.norm1.forward(&x));
            let hidden = block.fc1.forward(&block.norm2.forward(&x)).gelu("none");
            x = &x + block.fc2.forward(&hidden);
            features.push(x.shallow_clone());
        }
        let normed = self.norm.forward(&x);
        let patches = normed.narrow(1, 1, self.tokens - 1);
        let pooled = Tensor::cat(
            &[
                normed.select(1, 0),
                patches.mean_dim([1i64].as_slice(), false, Kind::Float),
                patches.amax([1i64].as_slice(), false),
            ],
            1,
        );
        Outputs {
            features,
            shape_logits: self.shape_head.forward(&pooled),
            color_logits: self.color_head.forward(&pooled),
        }
    }

    fn layers(&self) -> Vec<LayerDoc> {
        let layout = LayerLayout::Tokens {
            prefix: 1,
            grid: [self.grid, self.grid],
        };
        (1..=self.blocks.len())
            .map(|k| LayerDoc {
                name: format!("block{k}"),
                description: format!(
                    "transformer block {k}: residual stream after attention and MLP, a class token then {g}x{g} patch tokens",
                    g = self.grid
                ),
                layout: Some(layout),
            })
            .collect()
    }

    fn head_input(&self) -> &'static str {
        "the final layer-normed class token and mean and max patch tokens"
    }
}
