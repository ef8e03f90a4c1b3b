//! A bounded top-k of (activation, image index), kept as a min-heap so each offer costs
//! O(log k) and the smallest kept value is at hand.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

#[derive(Clone, Copy, Debug, PartialEq)]
struct Entry(f32, usize);

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        // Higher activation wins; on ties the lower index (earlier image) wins, so the
        // result does not depend on batch boundaries.
        self.0
            .total_cmp(&other.0)
            .then_with(|| other.1.cmp(&self.1))
    }
}

/// The k largest activations seen, with their image indices.
#[derive(Clone, Debug)]
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Reverse<Entry>>,
}

impl TopK {
    /// An empty top-k.
    pub fn new(k: usize) -> Self {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    /// Considers one image. NaN activations are ignored.
    pub fn offer(&mut self, activation: f32, index: usize) {
        if activation.is_nan() || self.k == 0 {
            return;
        }
        let entry = Entry(activation, index);
        if self.heap.len() < self.k {
            self.heap.push(Reverse(entry));
        } else if let Some(Reverse(min)) = self.heap.peek()
            && entry > *min
        {
            self.heap.pop();
            self.heap.push(Reverse(entry));
        }
    }

    /// The kept entries, highest activation first.
    pub fn into_sorted(self) -> Vec<(f32, usize)> {
        let mut v: Vec<Entry> = self.heap.into_iter().map(|Reverse(e)| e).collect();
        v.sort_by(|a, b| b.cmp(a));
        v.into_iter().map(|Entry(a, i)| (a, i)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_k_largest_in_order_with_stable_ties() {
        let mut top = TopK::new(3);
        for (i, a) in [0.1, 0.9, 0.5, 0.9, f32::NAN, 0.7, 0.2]
            .into_iter()
            .enumerate()
        {
            top.offer(a, i);
        }
        assert_eq!(top.into_sorted(), vec![(0.9, 1), (0.9, 3), (0.7, 5)]);
    }
}
