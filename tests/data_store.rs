//! The feature store: write, open, read back; validation of broken files.

mod data_common;

use recaux::data::Split;
use recaux::data::store::FeatureStore;

fn val(i: usize, t: usize, m: usize) -> f32 {
    // integers below 2048 and their halves are exact in f16
    (i * 100 + t) as f32 + if m % 2 == 1 { 0.5 } else { 0.0 } - m as f32
}

#[test]
fn roundtrip() {
    let dir = data_common::tmpdir("store_roundtrip");
    let p = dir.join("s.store");
    let frames = [5, 3, 7];
    let splits = [Split::Train, Split::Test, Split::Train];
    data_common::make_store(&p, 4, &frames, &[1, 0, 1], &splits, &["a", "b"], val);
    let s = FeatureStore::open(&p).unwrap();
    assert_eq!(s.len(), 3);
    assert_eq!(s.n_mels(), 4);
    assert_eq!(s.class_names(), ["a", "b"]);
    assert_eq!(s.config_hash(), 0x0123456789abcdef);
    assert_eq!(s.indices(Split::Train), vec![0, 2]);
    assert_eq!(s.indices(Split::Test), vec![1]);
    assert!(s.indices(Split::Validation).is_empty());
    for i in 0..3 {
        let c = s.clip(i).unwrap();
        assert_eq!(c.frames, frames[i]);
        assert_eq!(c.track_id, 1000 + i as u64);
        assert_eq!(c.split, splits[i]);
        assert_eq!(c.features.len(), frames[i] * 4);
        for t in 0..frames[i] {
            for m in 0..4 {
                assert_eq!(c.features[t * 4 + m].to_f32(), val(i, t, m));
            }
        }
        assert_eq!(s.name(i), format!("clip{i}"));
    }
    assert_eq!(s.label(0), 1);
    assert!(s.clip(3).is_err());
    assert!(!dir.join("s.store.tmp").exists());
}

#[test]
fn broken_stores_are_refused() {
    let dir = data_common::tmpdir("store_broken");
    let p = dir.join("s.store");
    data_common::make_store(&p, 4, &[5, 3], &[0, 0], &[Split::Train; 2], &["a"], val);
    let good = std::fs::read(&p).unwrap();
    let q = dir.join("bad.store");
    // truncated data section
    std::fs::write(&q, &good[..good.len() - 2]).unwrap();
    assert!(FeatureStore::open(&q).is_err());
    // bad magic
    let mut b = good.clone();
    b[0] = b'X';
    std::fs::write(&q, &b).unwrap();
    let e = FeatureStore::open(&q).unwrap_err().to_string();
    assert!(e.contains("magic"), "{e}");
    // a label beyond the classes: first table record's label field
    let table = u64::from_le_bytes(good[32..40].try_into().unwrap()) as usize;
    let mut b = good.clone();
    b[table + 20] = 9;
    std::fs::write(&q, &b).unwrap();
    let e = FeatureStore::open(&q).unwrap_err().to_string();
    assert!(e.contains("label"), "{e}");
    assert!(FeatureStore::open(&dir.join("none.store")).is_err());
}

/// A store whose header has no `resampler` (written before it was a setting, when the
/// resampler was rubato's FFT) is refused rather than read as the default kaiser_best.
#[test]
fn store_without_a_recorded_resampler_is_refused() {
    let dir = data_common::tmpdir("store_no_resampler");
    let p = dir.join("s.store");
    data_common::make_store(&p, 4, &[5], &[0], &[Split::Train], &["a"], val);
    let mut b = std::fs::read(&p).unwrap();
    let field = b"\"resampler\":\"kaiser_best\",";
    let at = b
        .windows(field.len())
        .position(|w| w == field)
        .expect("header records the resampler");
    // Blank the field out with JSON whitespace: the header keeps its length.
    b[at..at + field.len()].fill(b' ');
    let q = dir.join("old.store");
    std::fs::write(&q, &b).unwrap();
    let e = FeatureStore::open(&q).unwrap_err().to_string();
    assert!(
        e.contains("resampler") && e.contains("prepare it again"),
        "{e}"
    );
    assert!(FeatureStore::open(&p).is_ok());
}
