//! Helpers shared by the tests/data_*.rs targets.
#![allow(dead_code)]

use half::f16;
use recaux::audio::FeatureConfig;
use recaux::data::Split;
use recaux::data::split::SplitMethod;
use recaux::data::store::{ClipEntry, StoreHeader, write_store};
use std::path::{Path, PathBuf};

/// A fresh empty folder under cargo's per-target temp dir.
pub fn tmpdir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes a store whose clip `i` has `frames[i]` frames, label `labels[i]`, split `splits[i]`
/// and feature value at (frame t, mel m) = `value(i, t, m)` (choose exactly representable
/// f16 values).
pub fn make_store(
    path: &Path,
    n_mels: usize,
    frames: &[usize],
    labels: &[u32],
    splits: &[Split],
    classes: &[&str],
    value: impl Fn(usize, usize, usize) -> f32,
) {
    let header = StoreHeader {
        n_mels,
        class_names: classes.iter().map(|s| s.to_string()).collect(),
        feature_config: FeatureConfig {
            n_mels,
            ..FeatureConfig::default()
        },
        config_hash: "0123456789abcdef".into(),
        split: SplitMethod::Official,
        source: "test".into(),
        names: (0..frames.len()).map(|i| format!("clip{i}")).collect(),
        created_by: "test".into(),
    };
    let clips: Vec<ClipEntry> = (0..frames.len())
        .map(|i| ClipEntry {
            track_id: 1000 + i as u64,
            frames: frames[i],
            label: labels[i],
            split: splits[i],
            flags: 0,
        })
        .collect();
    write_store(path, &header, &clips, |i| {
        let mut v = Vec::with_capacity(frames[i] * n_mels);
        for t in 0..frames[i] {
            for m in 0..n_mels {
                v.push(f16::from_f32(value(i, t, m)));
            }
        }
        Ok(v)
    })
    .unwrap();
}
