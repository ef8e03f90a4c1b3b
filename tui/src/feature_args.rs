//! `--sae` and `--directions`: features of a layer, addressed as units next to its
//! channels, for every command that opens a target.

use std::path::PathBuf;

/// The feature units a command's target gains.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct FeatureArgs {
    /// A sparse autoencoder in SAELens layout (cfg.json, sae_weights.safetensors): its
    /// latents are units LAYER:sae:N (`maia sae train` makes one).
    #[arg(long, value_name = "DIR")]
    pub sae: Option<PathBuf>,
    /// Named directions: a safetensors file of one named vector per direction (a probe's
    /// weights, a difference of means), or a .npy file of one vector named after the file.
    /// Each is a unit LAYER:dir:NAME, the layer's projection onto it at every position.
    #[arg(long, value_name = "FILE")]
    pub directions: Option<PathBuf>,
}
