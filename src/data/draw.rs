//! Seeded draws for the data pipeline on top of the counter-based Philox generator.
//!
//! Every draw is `philox4x32_10([index, stream, a, b], seed_key(seed))`: a pure function of the
//! seed, a stream id (counter word 1, bit 30 set so data streams never meet dropout's small
//! tensor ids or init's bit 31) and up to three counters. Nothing carries state between calls,
//! so a batch, a split or a synthetic clip can be recomputed alone.

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

/// A sequential stream of draws: counter `[n, stream, a, b]` for n = 0, 1, 2, ...; each Philox
/// call yields two 64-bit words. Used where a generator is natural (synthesis); the sequence
/// is fixed by (seed, stream, a, b).
#[derive(Clone, Debug)]
pub struct Stream {
    key: [u32; 2],
    stream: u32,
    a: u32,
    b: u32,
    n: u32,
    buf: [u64; 2],
    pos: usize,
}

impl Stream {
    /// A new stream.
    pub fn new(seed: u64, stream: u32, a: u32, b: u32) -> Stream {
        Stream {
            key: seed_key(seed),
            stream,
            a,
            b,
            n: 0,
            buf: [0; 2],
            pos: 2,
        }
    }

    /// The next 64-bit word.
    pub fn next_u64(&mut self) -> u64 {
        if self.pos == 2 {
            let w = philox4x32_10([self.n, self.stream, self.a, self.b], self.key);
            self.n = self.n.wrapping_add(1);
            self.buf = [
                (w[0] as u64) | ((w[1] as u64) << 32),
                (w[2] as u64) | ((w[3] as u64) << 32),
            ];
            self.pos = 0;
        }
        let x = self.buf[self.pos];
        self.pos += 1;
        x
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        unit(self.next_u64())
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform integer in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        below(self.next_u64(), n)
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit(); // (0, 1]
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
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

    #[test]
    fn stream_normal_has_unit_variance() {
        let mut s = Stream::new(5, STREAM_SYNTH_CLIP, 0, 0);
        let n = 50_000;
        let v: Vec<f64> = (0..n).map(|_| s.normal()).collect();
        let mean = v.iter().sum::<f64>() / n as f64;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        // sd of the mean ~ 0.0045, of the variance ~ 0.0063; 5 sd
        assert!(mean.abs() < 0.023, "{mean}");
        assert!((var - 1.0).abs() < 0.032, "{var}");
    }
}
