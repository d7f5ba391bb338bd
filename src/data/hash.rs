//! Stable hashes: of a feature configuration (FNV-1a 64 over its canonical JSON), and of file
//! content (XXH64: the identity of a feature store and of a prepare cache's sources).
//!
//! Canonical JSON is `serde_json::to_string(&FeatureConfig)`: fields in declaration order,
//! floats printed by serde_json's shortest round-trip formatting. The hash changes when a value
//! changes and also when a field is added to `FeatureConfig` (which is what we want: the stored
//! features might then differ). std's `DefaultHasher` is not used because it is not stable
//! across Rust releases.

use crate::audio::FeatureConfig;
use crate::error::{Error, Result};

/// FNV-1a, 64-bit (offset basis 0xcbf29ce484222325, prime 0x100000001b3).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

const P1: u64 = 0x9E37_79B1_85EB_CA87;
const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const P3: u64 = 0x1656_67B1_9E37_79F9;
const P4: u64 = 0x85EB_CA77_C2B2_AE63;
const P5: u64 = 0x27D4_EB2F_1656_67C5;

fn xxh_round(acc: u64, lane: u64) -> u64 {
    acc.wrapping_add(lane.wrapping_mul(P2))
        .rotate_left(31)
        .wrapping_mul(P1)
}

fn xxh_merge(h: u64, v: u64) -> u64 {
    (h ^ xxh_round(0, v)).wrapping_mul(P1).wrapping_add(P4)
}

fn u64_le(b: &[u8]) -> u64 {
    u64::from_le_bytes(b[..8].try_into().expect("8 bytes"))
}

/// XXH64 (Yann Collet's xxHash, 64-bit, seed 0) computed incrementally: the content identity
/// of files (feature stores, the sources of the prepare cache). Fast (several GB/s), not
/// cryptographic: it tells changed content from unchanged, not a forgery from the original.
#[derive(Clone, Debug)]
pub struct Xxh64 {
    v: [u64; 4],
    buf: [u8; 32],
    buf_len: usize,
    total: u64,
}

impl Default for Xxh64 {
    fn default() -> Self {
        Xxh64 {
            v: [P1.wrapping_add(P2), P2, 0, 0u64.wrapping_sub(P1)],
            buf: [0; 32],
            buf_len: 0,
            total: 0,
        }
    }
}

impl Xxh64 {
    /// A hasher with seed 0.
    pub fn new() -> Self {
        Self::default()
    }

    fn stripe(&mut self, s: &[u8]) {
        for (k, v) in self.v.iter_mut().enumerate() {
            *v = xxh_round(*v, u64_le(&s[8 * k..]));
        }
    }

    /// Feed bytes.
    pub fn update(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        if self.buf_len > 0 {
            let take = (32 - self.buf_len).min(data.len());
            self.buf[self.buf_len..self.buf_len + take].copy_from_slice(&data[..take]);
            self.buf_len += take;
            data = &data[take..];
            if self.buf_len < 32 {
                return;
            }
            let b = self.buf;
            self.stripe(&b);
            self.buf_len = 0;
        }
        let mut chunks = data.chunks_exact(32);
        for c in &mut chunks {
            self.stripe(c);
        }
        let rest = chunks.remainder();
        self.buf[..rest.len()].copy_from_slice(rest);
        self.buf_len = rest.len();
    }

    /// The hash of everything fed so far.
    pub fn finish(&self) -> u64 {
        let mut h = if self.total >= 32 {
            let [v1, v2, v3, v4] = self.v;
            let h = v1
                .rotate_left(1)
                .wrapping_add(v2.rotate_left(7))
                .wrapping_add(v3.rotate_left(12))
                .wrapping_add(v4.rotate_left(18));
            self.v.iter().fold(h, |h, &v| xxh_merge(h, v))
        } else {
            P5
        };
        h = h.wrapping_add(self.total);
        let mut rest = &self.buf[..self.buf_len];
        while rest.len() >= 8 {
            h ^= xxh_round(0, u64_le(rest));
            h = h.rotate_left(27).wrapping_mul(P1).wrapping_add(P4);
            rest = &rest[8..];
        }
        if rest.len() >= 4 {
            let k = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as u64;
            h ^= k.wrapping_mul(P1);
            h = h.rotate_left(23).wrapping_mul(P2).wrapping_add(P3);
            rest = &rest[4..];
        }
        for &b in rest {
            h ^= (b as u64).wrapping_mul(P5);
            h = h.rotate_left(11).wrapping_mul(P1);
        }
        h ^= h >> 33;
        h = h.wrapping_mul(P2);
        h ^= h >> 29;
        h = h.wrapping_mul(P3);
        h ^ (h >> 32)
    }
}

/// XXH64 of `bytes`.
pub fn xxh64(bytes: &[u8]) -> u64 {
    let mut h = Xxh64::new();
    h.update(bytes);
    h.finish()
}

/// XXH64 of a file's content, read in 1 MiB pieces.
pub fn file_xxh64(path: &std::path::Path) -> std::io::Result<u64> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = Xxh64::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(h.finish());
        }
        h.update(&buf[..n]);
    }
}

/// The canonical JSON of a feature config.
pub fn canonical_json(cfg: &FeatureConfig) -> Result<String> {
    serde_json::to_string(cfg).map_err(|e| Error::Data(format!("feature config to JSON: {e}")))
}

/// FNV-1a 64 of [`canonical_json`].
pub fn config_hash(cfg: &FeatureConfig) -> Result<u64> {
    Ok(fnv1a64(canonical_json(cfg)?.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_known_answers() {
        // Published FNV-1a 64 test vectors (Fowler/Noll/Vo reference page, "fnv-1a 64").
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn xxh64_known_answers() {
        // Made with the Python `xxhash` package 3.x (`xxhash.xxh64(b).hexdigest()`, seed 0):
        // the empty input, 1, 3 (tail bytes), 39 (a 32-byte stripe, an 8- and a 4-byte word
        // and tail bytes) and 768 bytes.
        let long: Vec<u8> = (0..768).map(|i| (i % 256) as u8).collect();
        let cases: [(&[u8], u64); 5] = [
            (b"", 0xef46db3751d8e999),
            (b"a", 0xd24ec4f1a98c6e5b),
            (b"abc", 0x44bc2cf5ad770999),
            (
                b"Nobody inspects the spammish repetition",
                0xfbcea83c8a378bf1,
            ),
            (&long, 0x8e03c838c596036f),
        ];
        for (bytes, want) in cases {
            assert_eq!(xxh64(bytes), want, "{} bytes", bytes.len());
            // fed in uneven pieces, the incremental hasher agrees
            let mut h = Xxh64::new();
            for piece in bytes.chunks(7) {
                h.update(piece);
            }
            assert_eq!(h.finish(), want, "{} bytes in pieces of 7", bytes.len());
        }
    }

    #[test]
    fn config_hash_sees_every_change() {
        let a = FeatureConfig::default();
        let mut b = a.clone();
        b.n_mels = 64;
        let mut c = a.clone();
        c.fmax = Some(8000.0);
        let ha = config_hash(&a).unwrap();
        assert_eq!(ha, config_hash(&a.clone()).unwrap());
        assert_ne!(ha, config_hash(&b).unwrap());
        assert_ne!(ha, config_hash(&c).unwrap());
    }
}
