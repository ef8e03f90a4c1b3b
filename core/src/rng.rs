//! SplitMix64: the small seeded generator behind evaluation's resampling and random
//! controls and the offline experimenter's choices — stable across platforms and
//! releases, so the same seed always gives the same runs and scores.

/// SplitMix64.
#[derive(Clone, Debug)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator whose state starts at `state` (no warm-up).
    pub fn from_state(state: u64) -> Self {
        SplitMix(state)
    }

    /// A generator for `seed` on sub-stream `stream`.
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut rng = SplitMix(seed ^ stream.wrapping_mul(0xD6E8_FEB8_6659_FD93));
        rng.next_u64();
        rng
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }

    /// One element of a slice (`None` when empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        items.get(self.below(items.len())).copied()
    }

    /// Two different elements of a slice (`None` with fewer than two).
    pub fn pick_two<T: Copy>(&mut self, items: &[T]) -> Option<(T, T)> {
        if items.len() < 2 {
            return None;
        }
        let a = self.below(items.len());
        let mut b = self.below(items.len() - 1);
        if b >= a {
            b += 1;
        }
        Some((*items.get(a)?, *items.get(b)?))
    }
}
