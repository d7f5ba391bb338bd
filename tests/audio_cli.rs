//! `recaux mel`: writes a [frames, n_mels] float32 .npy honouring the flags; errors are one line.

use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/audio")
        .join(name)
}

#[test]
fn mel_writes_npy_with_flags() {
    let out = std::env::temp_dir().join(format!("recaux-mel-{}.npy", std::process::id()));
    let st = Command::new(env!("CARGO_BIN_EXE_recaux"))
        .args(["mel", fixture("tone_16k.wav").to_str().unwrap(), "-o"])
        .arg(&out)
        .args([
            "--pad-mode",
            "constant",
            "--n-mels",
            "64",
            "--clip-seconds",
            "3",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let (data, shape) = recaux::audio::npy::read_npy_f32(&out).unwrap();
    assert_eq!(shape, vec![94, 64]);
    assert!(data.iter().all(|v| (-1.0..=1.0).contains(v)));
    std::fs::remove_file(&out).ok();
}

#[test]
fn mel_missing_file_is_one_line_error() {
    let o = Command::new(env!("CARGO_BIN_EXE_recaux"))
        .args(["mel", "/nonexistent/x.mp3", "-o", "/tmp/never.npy"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("missing file"), "{err}");
}
