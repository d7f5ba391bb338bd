//! Counter-based random numbers: Philox-4x32-10 (Salmon et al., SC'11, "Parallel random
//! numbers: as easy as 1, 2, 3").
//!
//! Every random draw in training is a pure function of a key and a counter, so the CPU
//! reference and the CUDA kernels (kernels/common.cuh holds the same function) produce the
//! same dropout masks without storing or copying them, and a draw never depends on how the
//! work was split across threads.
//!
//! Streams (the counter's words 1..3 separate them; word 0 is the element index / 4 or the
//! block number):
//! - dropout: key = replica seed, counter = [idx/4, tensor, step lo, step hi]
//! - parameter init: key = replica seed, counter = [n, INIT_STREAM | param index, 0, 0],
//!   drawn through [`Philox`] and `rand_distr::Uniform` (`crate::model::Model::init`)
//! - test inputs ([`init_uniform`]): key = seed, counter = [idx/4, INIT_STREAM | k, 0, 0]
//! - data (`crate::data::draw`): counter word 1 has bit 30 set
//!
//! Where a sequence of draws is natural (synthesis, init), [`Philox`] is the same function as
//! a `rand` generator, so `rand_distr`'s distributions sample from it.

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// Philox-4x32 with `rounds` rounds. `rounds = 10` is the standard generator.
#[inline]
pub fn philox4x32_rounds(ctr: [u32; 4], key: [u32; 2], rounds: u32) -> [u32; 4] {
    let mut c = ctr;
    let mut k = key;
    for r in 0..rounds {
        if r > 0 {
            k[0] = k[0].wrapping_add(W0);
            k[1] = k[1].wrapping_add(W1);
        }
        let p0 = (M0 as u64) * (c[0] as u64);
        let p1 = (M1 as u64) * (c[2] as u64);
        let (hi0, lo0) = ((p0 >> 32) as u32, p0 as u32);
        let (hi1, lo1) = ((p1 >> 32) as u32, p1 as u32);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// Philox-4x32-10.
#[inline]
pub fn philox4x32_10(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    philox4x32_rounds(ctr, key, 10)
}

/// The key for a 64-bit seed.
#[inline]
pub fn seed_key(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

/// High bit of counter word 1 marks the parameter-init stream (dropout tensor ids are small).
pub const INIT_STREAM: u32 = 0x8000_0000;

/// The 24-bit integer threshold for dropout probability `p`: an element is kept when the top
/// 24 bits of its random word are >= this. Integer comparison keeps the CPU and the GPU
/// decisions identical (no float rounding involved). P(drop) = threshold / 2^24.
pub fn dropout_threshold(p: f64) -> u32 {
    (p.clamp(0.0, 1.0) * 16_777_216.0).round() as u32
}

/// The scale applied to kept elements, 1 / (1 - p).
pub fn dropout_scale(p: f64) -> f64 {
    if p >= 1.0 { 0.0 } else { 1.0 / (1.0 - p) }
}

/// Whether element `idx` of dropout tensor `tensor` at training step `step` is kept, for a
/// replica with seed `seed`. Elements idx = 4q..4q+3 share one Philox call (one word each).
#[inline]
pub fn dropout_keep(seed: u64, step: u64, tensor: u32, idx: u64, threshold: u32) -> bool {
    let w = dropout_word(seed, step, tensor, idx);
    (w >> 8) >= threshold
}

/// The random word for one dropout element (see [`dropout_keep`]).
#[inline]
pub fn dropout_word(seed: u64, step: u64, tensor: u32, idx: u64) -> u32 {
    let out = philox4x32_10(
        [(idx >> 2) as u32, tensor, step as u32, (step >> 32) as u32],
        seed_key(seed),
    );
    out[(idx & 3) as usize]
}

/// A Philox-4x32-10 stream as a `rand` generator: key = `seed`, counter
/// `[n, stream, a, b]` for blocks n = 0, 1, 2, ...; each block gives four 32-bit words, used
/// in order (`next_u64` joins two, low word first). The sequence is a pure function of
/// (seed, stream, a, b): nothing depends on threads or on other streams.
#[derive(Clone, Debug)]
pub struct Philox {
    key: [u32; 2],
    ctr: [u32; 3],
    n: u32,
    words: [u32; 4],
    pos: usize,
}

impl Philox {
    /// The stream `(stream, a, b)` of `seed`.
    pub fn new(seed: u64, stream: u32, a: u32, b: u32) -> Philox {
        Philox {
            key: seed_key(seed),
            ctr: [stream, a, b],
            n: 0,
            words: [0; 4],
            pos: 4,
        }
    }

    fn word(&mut self) -> u32 {
        if self.pos == 4 {
            let [s, a, b] = self.ctr;
            self.words = philox4x32_10([self.n, s, a, b], self.key);
            self.n = self.n.wrapping_add(1);
            self.pos = 0;
        }
        let w = self.words[self.pos];
        self.pos += 1;
        w
    }
}

impl rand::TryRng for Philox {
    type Error = std::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.word())
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let lo = self.word() as u64;
        Ok(lo | (self.word() as u64) << 32)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(4) {
            let w = self.word().to_le_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
        Ok(())
    }
}

/// `n` uniform numbers in [lo, hi) for input `param` of seed `seed` (the test inputs of
/// gradcheck, the op tests and the bench), computed in f64 (the same values for f32 and f64
/// up to the final rounding). Stateless: element i is word i of the stream.
pub fn init_uniform(seed: u64, param: u32, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    let key = seed_key(seed);
    let mut out = Vec::with_capacity(n);
    let mut q = 0u32;
    while out.len() < n {
        let w = philox4x32_10([q, INIT_STREAM | param, 0, 0], key);
        for x in w {
            if out.len() < n {
                let u = (x as f64 + 0.5) / 4_294_967_296.0;
                out.push(lo + (hi - lo) * u);
            }
        }
        q += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known-answer vectors from Random123's kat_vectors file (D. E. Shaw Research), the
    // published reference for Philox: counter[4] key[2] -> output[4].
    #[test]
    fn philox_known_answers() {
        assert_eq!(
            philox4x32_10([0, 0, 0, 0], [0, 0]),
            [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
        );
        assert_eq!(
            philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
        );
        assert_eq!(
            philox4x32_10(
                [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
                [0xa4093822, 0x299f31d0]
            ),
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
        );
    }

    #[test]
    fn dropout_rate_is_p() {
        let t = dropout_threshold(0.3);
        let n = 200_000u64;
        let kept = (0..n).filter(|&i| dropout_keep(7, 3, 1, i, t)).count();
        let rate = 1.0 - kept as f64 / n as f64;
        // binomial sd = sqrt(0.21/200000) ~ 0.001; 5 sd
        assert!((rate - 0.3).abs() < 0.005, "drop rate {rate}");
        assert!((0..1000).all(|i| dropout_keep(7, 3, 1, i, dropout_threshold(0.0))));
    }

    #[test]
    fn dropout_streams_differ() {
        let t = dropout_threshold(0.5);
        let a: Vec<bool> = (0..256).map(|i| dropout_keep(1, 0, 0, i, t)).collect();
        let b: Vec<bool> = (0..256).map(|i| dropout_keep(1, 0, 1, i, t)).collect();
        let c: Vec<bool> = (0..256).map(|i| dropout_keep(1, 1, 0, i, t)).collect();
        let d: Vec<bool> = (0..256).map(|i| dropout_keep(2, 0, 0, i, t)).collect();
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }

    #[test]
    fn philox_generator_is_the_counter_function_in_order() {
        use rand::Rng;
        let mut g = Philox::new(0x1234_5678_9abc_def0, 7, 8, 9);
        let key = seed_key(0x1234_5678_9abc_def0);
        let b0 = philox4x32_10([0, 7, 8, 9], key);
        let b1 = philox4x32_10([1, 7, 8, 9], key);
        assert_eq!(g.next_u32(), b0[0]);
        assert_eq!(g.next_u64(), b0[1] as u64 | (b0[2] as u64) << 32);
        assert_eq!(g.next_u64(), b0[3] as u64 | (b1[0] as u64) << 32);
        let mut bytes = [0u8; 6];
        g.fill_bytes(&mut bytes);
        assert_eq!(bytes[..4], b1[1].to_le_bytes());
        assert_eq!(bytes[4..], b1[2].to_le_bytes()[..2]);
        // another stream word differs
        let mut h = Philox::new(0x1234_5678_9abc_def0, 7, 8, 10);
        assert_ne!(h.next_u32(), b0[0]);
    }

    #[test]
    fn philox_generator_feeds_rand_distr() {
        use rand::RngExt;
        use rand_distr::{Distribution, StandardNormal, Uniform};
        let mut g = Philox::new(5, 0x4000_0011, 0, 0);
        let n = 50_000;
        let v: Vec<f64> = (0..n).map(|_| StandardNormal.sample(&mut g)).collect();
        let mean = v.iter().sum::<f64>() / n as f64;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        // sd of the mean ~ 0.0045, of the variance ~ 0.0063; 5 sd
        assert!(mean.abs() < 0.023, "{mean}");
        assert!((var - 1.0).abs() < 0.032, "{var}");
        let u = Uniform::new(-0.5, 0.25).unwrap();
        assert!((0..1000).all(|_| (-0.5..0.25).contains(&u.sample(&mut g))));
        assert!((0..1000).all(|_| g.random_range(0..7u64) < 7));
    }

    #[test]
    fn init_uniform_in_range_and_deterministic() {
        let v = init_uniform(42, 3, 1001, -0.25, 0.25);
        assert_eq!(v.len(), 1001);
        assert!(v.iter().all(|&x| (-0.25..0.25).contains(&x)));
        assert_eq!(v, init_uniform(42, 3, 1001, -0.25, 0.25));
        assert_ne!(v, init_uniform(42, 4, 1001, -0.25, 0.25));
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        assert!(mean.abs() < 0.02);
    }
}
