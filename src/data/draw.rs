//! Seeded draws for the data pipeline on top of the counter-based Philox generator.
//!
//! Every draw is `philox4x32_10([index, stream, a, b], seed_key(seed))`: a pure function of the
//! seed, a stream id (counter word 1, bit 30 set so data streams never meet dropout's small
//! tensor ids or init's bit 31) and up to three counters. Nothing carries state between calls,
//! so a batch, a split or a synthetic clip can be recomputed alone. Where a sequence of draws
//! is natural (synthesis), the same stream is a `rand` generator: [`crate::rng::Philox`].

use crate::rng::{philox4x32_10, seed_key};

/// Stream ids (counter word 1).
pub const STREAM_SPLIT: u32 = 0x4000_0001;
pub const STREAM_SHUFFLE: u32 = 0x4000_0002;
pub const STREAM_CROP: u32 = 0x4000_0003;
pub const STREAM_SYNTH_GENRE: u32 = 0x4000_0010;
pub const STREAM_SYNTH_CLIP: u32 = 0x4000_0011;
pub const STREAM_SYNTH_META: u32 = 0x4000_0012;

/// The 64-bit word at counter `[index, stream, a, b]` (Philox output words 0 and 1).
#[inline]
pub fn word64(seed: u64, stream: u32, a: u32, b: u32, index: u32) -> u64 {
    let w = philox4x32_10([index, stream, a, b], seed_key(seed));
    (w[0] as u64) | ((w[1] as u64) << 32)
}

/// A uniform integer in `0..n` (n > 0) from a 64-bit word, by the multiply-shift map
/// (bias below n / 2^64).
#[inline]
pub fn below(word: u64, n: u64) -> u64 {
    ((word as u128 * n as u128) >> 64) as u64
}

/// A uniform f64 in `[0, 1)` from a 64-bit word (top 53 bits).
#[inline]
pub fn unit(word: u64) -> f64 {
    (word >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Fisher-Yates shuffle of `v`, the swap at position `i` drawn from counter
/// `[i, stream, a, b]`.
pub fn shuffle<T>(v: &mut [T], seed: u64, stream: u32, a: u32, b: u32) {
    for i in (1..v.len()).rev() {
        let j = below(word64(seed, stream, a, b, i as u32), i as u64 + 1) as usize;
        v.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_is_a_permutation_and_depends_on_every_key() {
        let base: Vec<u32> = (0..100).collect();
        let mut a = base.clone();
        shuffle(&mut a, 1, STREAM_SHUFFLE, 0, 0);
        let mut s = a.clone();
        s.sort();
        assert_eq!(s, base);
        assert_ne!(a, base);
        for (seed, st, x) in [
            (2, STREAM_SHUFFLE, 0),
            (1, STREAM_CROP, 0),
            (1, STREAM_SHUFFLE, 1),
        ] {
            let mut b = base.clone();
            shuffle(&mut b, seed, st, x, 0);
            assert_ne!(a, b);
        }
    }

    #[test]
    fn below_is_roughly_uniform() {
        let mut counts = [0usize; 7];
        for i in 0..70_000 {
            counts[below(word64(9, STREAM_CROP, 0, 0, i), 7) as usize] += 1;
        }
        // expected 10000 each, binomial sd ~ 93; 6 sd
        for c in counts {
            assert!((c as i64 - 10_000).abs() < 560, "{counts:?}");
        }
    }
}
