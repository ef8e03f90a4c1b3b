//! The network: four conv blocks (3×3 conv, batch norm, ReLU, 2×2 max-pool after the
//! first three), global average and max pooling (concatenated), and two linear heads.

use tch::nn::{self, Module, ModuleT};
use tch::{Kind, Tensor};

use crate::target::torch::LayerLayout;

/// Names of the exported outputs, in the order the TorchScript module returns them.
pub const OUTPUT_NAMES: [&str; 6] = [
    "conv1",
    "conv2",
    "conv3",
    "conv4",
    "shape_logits",
    "color_logits",
];

/// Names of the feature-map layers (the units "in the wild").
pub const LAYER_NAMES: [&str; 4] = ["conv1", "conv2", "conv3", "conv4"];

struct Block {
    conv: nn::Conv2D,
    bn: nn::BatchNorm,
}

/// The world CNN, as trained.
pub(crate) struct Net {
    blocks: Vec<Block>,
    shape_head: nn::Linear,
    color_head: nn::Linear,
}

/// A network of the shapes world, as the trainer and the exporter see it: any
/// architecture whose forward pass yields its layers and the two heads.
pub(crate) trait WorldNet {
    /// One forward pass over a normalised `[N, 3, S, S]` batch; `train` selects training
    /// behaviour (batch statistics for batch norm) where the network has any.
    fn forward(&self, xs: &Tensor, train: bool) -> Outputs;
    /// The layers `forward` yields, in order, as the sidecar describes them.
    fn layers(&self) -> Vec<LayerDoc>;
    /// What the two heads read, in words.
    fn head_input(&self) -> &'static str;
}

/// One exported layer, in words.
pub(crate) struct LayerDoc {
    /// Output name (`conv3`, `block2`).
    pub name: String,
    /// What it is.
    pub description: String,
    /// For `[T, C]` token outputs, their layout (class token and patch grid).
    pub layout: Option<LayerLayout>,
}

/// Everything one forward pass yields.
pub(crate) struct Outputs {
    /// Each exported layer: for the CNN the post-ReLU output of each block, before its
    /// max-pool (`[N, C_k, S/2^(k-1), …]`); for the ViT each block's `[N, T, C]` tokens.
    pub features: Vec<Tensor>,
    /// `[N, shapes]` logits.
    pub shape_logits: Tensor,
    /// `[N, colors]` logits.
    pub color_logits: Tensor,
}

impl Outputs {
    /// The outputs in [`OUTPUT_NAMES`] order.
    pub(crate) fn into_vec(self) -> Vec<Tensor> {
        let mut all = self.features;
        all.push(self.shape_logits);
        all.push(self.color_logits);
        all
    }
}

impl WorldNet for Net {
    fn forward(&self, xs: &Tensor, train: bool) -> Outputs {
        Net::forward(self, xs, train)
    }

    fn layers(&self) -> Vec<LayerDoc> {
        LAYER_NAMES
            .iter()
            .enumerate()
            .map(|(k, name)| LayerDoc {
                name: (*name).to_owned(),
                description: if k + 1 < LAYER_NAMES.len() {
                    format!(
                        "block {}: conv3x3-batchnorm-ReLU output, before its 2x2 max-pool",
                        k + 1
                    )
                } else {
                    format!(
                        "block {}: conv3x3-batchnorm-ReLU output, fed to global average and max pooling",
                        k + 1
                    )
                },
                layout: None,
            })
            .collect()
    }

    fn head_input(&self) -> &'static str {
        "global average and max pooled conv4"
    }
}

impl Net {
    /// Creates the parameters under `root` (initialised from libtorch's global generator).
    pub(crate) fn new(root: &nn::Path, channels: [i64; 4], shapes: i64, colors: i64) -> Net {
        let mut blocks = Vec::with_capacity(4);
        let mut input = 3;
        for (k, &output) in channels.iter().enumerate() {
            let conv = nn::conv2d(
                root / format!("conv{}", k + 1),
                input,
                output,
                3,
                nn::ConvConfig {
                    padding: 1,
                    bias: false,
                    ..Default::default()
                },
            );
            let bn = nn::batch_norm2d(root / format!("bn{}", k + 1), output, Default::default());
            blocks.push(Block { conv, bn });
            input = output;
        }
        Net {
            blocks,
            shape_head: nn::linear(root / "shape_head", 2 * input, shapes, Default::default()),
            color_head: nn::linear(root / "color_head", 2 * input, colors, Default::default()),
        }
    }

    /// One forward pass over a normalised `[N, 3, S, S]` batch; `train` selects batch
    /// statistics (and updates the running ones) instead of the running statistics.
    pub(crate) fn forward(&self, xs: &Tensor, train: bool) -> Outputs {
        let mut features = Vec::with_capacity(self.blocks.len());
        let mut x = xs.shallow_clone();
        let last = self.blocks.len().saturating_sub(1);
        for (k, block) in self.blocks.iter().enumerate() {
            let a = block.bn.forward_t(&block.conv.forward(&x), train).relu();
            x = if k < last {
                a.max_pool2d_default(2)
            } else {
                a.shallow_clone()
            };
            features.push(a);
        }
        // Average pooling measures how much of each feature the image holds (the dominant
        // object is the largest); max pooling how strongly it occurs anywhere.
        let pooled = Tensor::cat(
            &[
                x.mean_dim([2i64, 3].as_slice(), false, Kind::Float),
                x.amax([2i64, 3].as_slice(), false),
            ],
            1,
        );
        Outputs {
            features,
            shape_logits: self.shape_head.forward(&pooled),
            color_logits: self.color_head.forward(&pooled),
        }
    }
}
