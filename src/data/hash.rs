//! The stable hash of a feature configuration: FNV-1a 64 over its canonical JSON.
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
