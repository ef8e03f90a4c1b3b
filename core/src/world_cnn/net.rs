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
    /// [`forward`](Self::forward) with the heads blind to the last layer's last `ignored`
    /// channels (zeroed before pooling), for pretraining a [`super::Disentangle`] split;
    /// the layers' outputs are unchanged. Only the CNN takes a split (the config allows
    /// none elsewhere); by default the heads read everything.
    fn forward_heads_ignoring(&self, xs: &Tensor, train: bool, ignored: i64) -> Outputs {
        let _ = ignored;
        self.forward(xs, train)
    }
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
        Net::forward(self, xs, train, 0)
    }

    fn forward_heads_ignoring(&self, xs: &Tensor, train: bool, ignored: i64) -> Outputs {
        Net::forward(self, xs, train, ignored)
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
    /// statistics (and updates the running ones) instead of the running statistics. The
    /// heads do not read the last layer's last `ignored` channels.
    pub(crate) fn forward(&self, xs: &Tensor, train: bool, ignored: i64) -> Outputs {
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
        if ignored > 0 {
            let channels = x.size()[1];
            let ignored = ignored.min(channels);
            let mask = Tensor::cat(
                &[
                    Tensor::ones([channels - ignored], (Kind::Float, x.device())),
                    Tensor::zeros([ignored], (Kind::Float, x.device())),
                ],
                0,
            )
            .view([1, -1, 1, 1]);
            // Out of place: `x` shares its storage with the exported conv4 output.
            x = x.g_mul(&mask);
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

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn heads_ignoring_channels_do_not_read_them() {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = Net::new(&vs.root(), [4, 4, 8, 8], 5, 12);
        let xs = Tensor::randn([3, 3, 32, 32], (Kind::Float, Device::Cpu));
        let plain = WorldNet::forward(&net, &xs, false);
        let none = net.forward_heads_ignoring(&xs, false, 0);
        assert!(plain.shape_logits.equal(&none.shape_logits));
        // Blind to every channel, the heads answer their bias whatever the image.
        let blind = net.forward_heads_ignoring(&xs, false, 8);
        let first = blind.shape_logits.get(0);
        for k in 1..3 {
            assert!(
                blind
                    .shape_logits
                    .get(k)
                    .allclose(&first, 1e-6, 1e-6, false)
            );
        }
        // Blind to some, they answer differently from the full read-out, and the layers'
        // outputs are the same either way.
        let some = net.forward_heads_ignoring(&xs, false, 4);
        assert!(
            !some
                .shape_logits
                .allclose(&plain.shape_logits, 1e-6, 1e-6, false)
        );
        for (a, b) in some.features.iter().zip(&plain.features) {
            assert!(a.equal(b));
        }
    }
}
