//! Helpers shared by the tests/rel_*.rs targets (issue 11, reliability): a tiny feature
//! store, a tiny run config, the recaux binary.
#![allow(dead_code)]

use half::f16;
use recaux::audio::FeatureConfig;
use recaux::data::Split;
use recaux::data::split::SplitMethod;
use recaux::data::store::{ClipEntry, StoreHeader, write_store};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const N_MELS: usize = 6;
pub const CLASSES: usize = 3;

/// A fresh empty folder under cargo's per-target temp dir.
pub fn tmpdir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The feature config of the tiny stores: 6 mel bands, 1 s clips (32 frames at 16 kHz).
pub fn feature_config() -> FeatureConfig {
    FeatureConfig {
        n_mels: N_MELS,
        clip_seconds: 1.0,
        ..FeatureConfig::default()
    }
}

/// 60 clips of 20 frames, 3 classes (class k: a bump in bands 2k, 2k+1 plus noise), split
/// 36/12/12 (or 48/12/0 without test clips). `variant` changes the noise: another content.
pub fn make_store(path: &Path, with_test: bool, variant: usize) {
    let n = 60;
    let frames = 20;
    let clips: Vec<ClipEntry> = (0..n)
        .map(|i| ClipEntry {
            track_id: i as u64,
            frames,
            label: (i % CLASSES) as u32,
            split: match i % 5 {
                0 if with_test => Split::Test,
                1 => Split::Validation,
                _ => Split::Train,
            },
            flags: 0,
        })
        .collect();
    let header = StoreHeader {
        n_mels: N_MELS,
        class_names: (0..CLASSES).map(|k| format!("class{k}")).collect(),
        feature_config: feature_config(),
        config_hash: "0".repeat(16),
        split: SplitMethod::Official,
        source: "tests/rel_common synthetic".into(),
        names: (0..n).map(|i| format!("{i:06}")).collect(),
        created_by: "test".into(),
    };
    write_store(path, &header, &clips, |i| {
        let k = i % CLASSES;
        Ok((0..frames * N_MELS)
            .map(|j| {
                let band = j % N_MELS;
                let noise = ((i * 131 + j * 17 + variant * 7) % 23) as f32 / 23.0 - 0.5;
                let v = if band / 2 == k { 0.6 } else { -0.3 } + 0.5 * noise;
                f16::from_f32(v)
            })
            .collect())
    })
    .unwrap();
}

/// A run config (YAML text) on `store` writing to `out/name`: widths 6/5/7/3, batch 8, crop
/// 12, λ {0, 1}, seed 0, CPU.
pub fn config_text(store: &Path, out: &Path, name: &str, epochs: usize) -> String {
    format!(
        "name: {name}\nstore: {}\nout_dir: {}\nbackend: cpu\n\
         model: {{ features: {N_MELS}, hidden: 5, fc1: 7, classes: {CLASSES}, dropout: 0.1 }}\n\
         sampler: {{ batch_size: 8, crop_frames: 12, eval_crop: center, seed: 3 }}\n\
         optim: {{ epochs: {epochs}, lr: 0.01, lr_decay: 0.9 }}\n\
         lambdas: [0, 1]\nseeds: [0]\n",
        store.display(),
        out.display()
    )
}

/// Write `text` to `dir/file` and return the path.
pub fn write(dir: &Path, file: &str, text: &str) -> PathBuf {
    let p = dir.join(file);
    std::fs::write(&p, text).unwrap();
    p
}

/// The binary under test: this build's, or `RECAUX_TEST_BIN` (to run these tests against
/// another build, e.g. one from before a fix, and see them fail).
pub fn bin() -> PathBuf {
    std::env::var_os("RECAUX_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_recaux")))
}

/// Run the recaux binary.
pub fn recaux<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(bin()).args(args).output().unwrap()
}

/// stderr as text.
pub fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// stdout as text.
pub fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Assert that a command failed cleanly: exit code 1 (not a panic's 101, not a signal), a
/// single `error: ...` line on stderr holding every string of `needles`, and no panic.
pub fn assert_clean_failure(o: &Output, needles: &[&str]) -> String {
    let e = err(o);
    assert_eq!(o.status.code(), Some(1), "exit status {:?}: {e}", o.status);
    assert!(!e.contains("panicked"), "{e}");
    let errors: Vec<&str> = e.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "one error line expected: {e}");
    for n in needles {
        assert!(errors[0].contains(n), "`{n}` not in: {}", errors[0]);
    }
    errors[0].to_string()
}

/// A mono 16-bit WAV at `rate` Hz holding `seconds` of a 440 Hz tone.
pub fn tone_wav(path: &Path, rate: u32, seconds: f64) {
    let n = (seconds * rate as f64) as usize;
    let s: Vec<f32> = (0..n)
        .map(|i| 0.3 * (i as f32 * 440.0 * std::f32::consts::TAU / rate as f32).sin())
        .collect();
    recaux::data::wav::write_wav(path, &s, rate, 1).unwrap();
}

/// The small PyTorch fixture (tests/fixtures/torch, f64) written as f32 weights and input
/// into `dir`, for `recaux step` in f32; returns (weights, input). `edit` may change a
/// weight tensor (name, values) before it is written.
pub fn f32_step_fixture(dir: &Path, edit: impl Fn(&str, &mut Vec<f32>)) -> (PathBuf, PathBuf) {
    use recaux::safetensors_io::{TensorFile, TensorWriter};
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torch");
    let src = TensorFile::open(&fx.join("small64_weights.safetensors")).unwrap();
    let mut w = TensorWriter::new();
    for n in src.names() {
        let (v, shape) = src.float(&n, None).unwrap();
        let mut v: Vec<f32> = v.into_iter().map(|x| x as f32).collect();
        edit(&n, &mut v);
        w.f32(&n, &shape, &v);
    }
    let wp = dir.join("weights_f32.safetensors");
    w.write(&wp).unwrap();
    let src = TensorFile::open(&fx.join("small64_input.safetensors")).unwrap();
    let (x, xs) = src.float("x", None).unwrap();
    let x: Vec<f32> = x.into_iter().map(|v| v as f32).collect();
    let (y, ys) = src.int("y", None).unwrap();
    let ip = dir.join("input_f32.safetensors");
    TensorWriter::new()
        .f32("x", &xs, &x)
        .i64("y", &ys, &y)
        .write(&ip)
        .unwrap();
    (wp, ip)
}
