//! `recaux step` end to end: PyTorch parity through the command line, and one-line errors
//! for bad inputs (never a panic).

use recaux::safetensors_io::{TensorFile, TensorWriter};
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/torch")
        .join(name)
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("recaux-cli-step-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn step(weights: &Path, input: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_recaux"))
        .args(["step", "--weights"])
        .arg(weights)
        .arg("--input")
        .arg(input)
        .args(["--lambda", "2.0", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn step_matches_pytorch_at_seed_widths() {
    let dir = tmpdir("ok");
    let out = dir.join("out.safetensors");
    let o = step(
        &fixture("seed32_weights.safetensors"),
        &fixture("seed32_input.safetensors"),
        &out,
        &[],
    );
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let got = TensorFile::open(&out).unwrap();
    let want = TensorFile::open(&fixture("seed32_expected.safetensors")).unwrap();
    let mut names = vec![
        "logits".to_string(),
        "reconstruction".into(),
        "loss".into(),
        "loss_ce".into(),
        "loss_l1".into(),
    ];
    names.extend(want.names().into_iter().filter(|n| n.starts_with("grad.")));
    assert_eq!(names.len(), 5 + 22);
    for n in &names {
        let (g, _) = got.f32(n, None).unwrap();
        let (w, _) = want.float(n, None).unwrap();
        assert_eq!(g.len(), w.len(), "{n}");
        let (mut dn, mut wn) = (0.0f64, 0.0f64);
        for (a, b) in g.iter().zip(&w) {
            dn += (*a as f64 - b).powi(2);
            wn += b * b;
        }
        let rel = (dn / wn.max(1e-300)).sqrt();
        // f32 through 32 LSTM steps: the issue asks for ~1e-5; see tests/torch_parity.rs
        assert!(rel < 2e-5, "{n}: norm-wise relative error {rel:e}");
    }
    // shapes are PyTorch's
    assert_eq!(got.shape("reconstruction").unwrap(), vec![4, 32, 128]);
    assert_eq!(
        got.shape("grad.lstm2.weight_ih_l0_reverse").unwrap(),
        vec![512, 256]
    );
    assert_eq!(got.shape("loss").unwrap(), Vec::<usize>::new());
}

/// Run with a broken input; the error must be one line naming `needle`, exit code 1.
fn expect_error(weights: &Path, input: &Path, needle: &str) {
    let dir = tmpdir("err");
    let o = step(weights, input, &dir.join("o.safetensors"), &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains(needle), "`{needle}` not in: {err}");
}

#[test]
fn bad_inputs_give_one_line_errors_naming_the_tensor() {
    let dir = tmpdir("bad");
    let w = fixture("seed32_weights.safetensors");
    let x: Vec<f32> = vec![0.1; 2 * 5 * 128];
    // y missing
    let p = dir.join("no_y.safetensors");
    TensorWriter::new()
        .f32("x", &[2, 5, 128], &x)
        .write(&p)
        .unwrap();
    expect_error(&w, &p, "`y`");
    // x with the wrong feature count
    let p = dir.join("bad_x.safetensors");
    TensorWriter::new()
        .f32("x", &[2, 5, 64], &x[..640])
        .i64("y", &[2], &[0, 1])
        .write(&p)
        .unwrap();
    expect_error(&w, &p, "`x`");
    // x as float64 where float32 is required
    let p = dir.join("f64_x.safetensors");
    let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    TensorWriter::new()
        .f64("x", &[2, 5, 128], &x64)
        .i64("y", &[2], &[0, 1])
        .write(&p)
        .unwrap();
    expect_error(&w, &p, "dtype F64");
    // y with a label outside 0..8
    let p = dir.join("bad_y.safetensors");
    TensorWriter::new()
        .f32("x", &[2, 5, 128], &x)
        .i64("y", &[2], &[0, 9])
        .write(&p)
        .unwrap();
    expect_error(&w, &p, "label 9");
    // weights missing a tensor
    let wf = TensorFile::open(&w).unwrap();
    let mut tw = TensorWriter::new();
    for n in wf.names().iter().filter(|n| *n != "fc2.bias") {
        let (v, s) = wf.f32(n, None).unwrap();
        tw.f32(n, &s, &v);
    }
    let pw = dir.join("weights_no_fc2b.safetensors");
    tw.write(&pw).unwrap();
    let good_in = dir.join("good_in.safetensors");
    TensorWriter::new()
        .f32("x", &[2, 5, 128], &x)
        .i64("y", &[2], &[0, 1])
        .write(&good_in)
        .unwrap();
    expect_error(&pw, &good_in, "`fc2.bias`");
    // not a safetensors file at all
    let junk = dir.join("junk.safetensors");
    std::fs::write(&junk, b"hello").unwrap();
    expect_error(&junk, &good_in, "not a safetensors file");
    // any B and T works
    let o = step(&w, &good_in, &dir.join("o.safetensors"), &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
