//! Random samples of a data set: the random half of dataset simulation and CoSy's control
//! sample draw their images here, the same way for the same seed.

use super::{Dataset, DatasetError};
use crate::rng::SplitMix;
use maia_plugin_sdk::Image;
use std::collections::BTreeSet;

/// `n` distinct indices below `len`, none in `exclude`, in ascending order, drawn with
/// `seed`; fewer when not enough are left.
pub fn sample_indices(len: usize, n: usize, seed: u64, exclude: &BTreeSet<usize>) -> Vec<usize> {
    let free = len.saturating_sub(exclude.iter().filter(|&&i| i < len).count());
    let n = n.min(free);
    let mut rng = SplitMix::new(seed, 0x51_u64);
    let mut picked = BTreeSet::new();
    if n * 2 > free {
        // Dense: shuffle the free indices rather than redraw collisions.
        let mut all: Vec<usize> = (0..len).filter(|i| !exclude.contains(i)).collect();
        for i in (1..all.len()).rev() {
            all.swap(i, rng.below(i + 1));
        }
        picked.extend(all.into_iter().take(n));
    } else {
        while picked.len() < n {
            let i = rng.below(len);
            if !exclude.contains(&i) {
                picked.insert(i);
            }
        }
    }
    picked.into_iter().collect()
}

impl Dataset {
    /// `n` random images (fewer if the data set is smaller), with their indices.
    pub fn sample(&self, n: usize, seed: u64) -> Result<Vec<(usize, Image)>, DatasetError> {
        sample_indices(self.len(), n, seed, &BTreeSet::new())
            .into_iter()
            .map(|i| Ok((i, self.image(i)?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_distinct_sorted_seeded_and_avoid_the_excluded() {
        let exclude: BTreeSet<usize> = [1, 2, 3].into();
        let a = sample_indices(100, 10, 7, &exclude);
        assert_eq!(a.len(), 10);
        assert!(a.windows(2).all(|w| w[0] < w[1]), "{a:?}");
        assert!(a.iter().all(|i| !exclude.contains(i) && *i < 100));
        assert_eq!(
            a,
            sample_indices(100, 10, 7, &exclude),
            "same seed, same sample"
        );
        assert_ne!(a, sample_indices(100, 10, 8, &exclude));
        // Asking for more than is free gives every free index.
        assert_eq!(sample_indices(5, 10, 0, &exclude), vec![0, 4]);
        assert_eq!(sample_indices(6, 2, 3, &exclude).len(), 2, "dense path");
        assert!(sample_indices(0, 3, 0, &BTreeSet::new()).is_empty());
    }
}
