//! An SAE as a [`FeatureBasis`]: every layer it fits gains a companion layer `L:sae` whose
//! units are the SAE's latents over `L`'s positions (or tokens).

use super::Sae;
use crate::target::features::{FeatureBasis, FeatureTarget};
use tch::Tensor;

/// What names an SAE's companion layer: `L:sae`, so that its latents are `L:sae:N`.
pub const SAE_SUFFIX: &str = ":sae";

/// A target model plus an SAE: `L:sae:N` is latent `N` of the SAE over layer `L`; every
/// other unit is the inner model's.
pub type SaeTarget = FeatureTarget<Sae>;

impl FeatureBasis for Sae {
    fn suffix(&self) -> &'static str {
        SAE_SUFFIX
    }

    fn label(&self) -> String {
        format!("SAE {}", self.dir.display())
    }

    fn d_in(&self) -> i64 {
        self.d_in
    }

    fn count(&self) -> usize {
        self.d_sae as usize
    }

    fn names(&self) -> Vec<String> {
        Vec::new()
    }

    fn hook_name(&self) -> Option<&str> {
        self.hook_name.as_deref()
    }

    fn hash(&self) -> &str {
        &self.hash
    }

    fn encode(&self, x: &Tensor) -> Tensor {
        Sae::encode(self, x)
    }

    fn maxima(&self, x: &Tensor) -> Tensor {
        Sae::maxima(self, x)
    }
}
