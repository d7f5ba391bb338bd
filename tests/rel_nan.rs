//! NaN propagates through the model as in PyTorch (issue 11): `torch.relu(nan) = nan`,
//! `torch.max(x, dim)` returns NaN (and the NaN's index) when a NaN is in the slice, and
//! relu's backward (`threshold_backward`) passes the gradient where the output is NaN, and
//! dropout multiplies by its mask (`NaN * 0 = NaN`, forward and backward). A NaN
//! in a weight therefore gives a NaN loss, on the CPU and in the kernels (run on emu).

mod rel_common;

use recaux::backend::Backend;
use recaux::backend::cpu::CpuBackend;
use recaux::backend::emu::EmuBackend;
use recaux::safetensors_io::TensorFile;
use rel_common::f32_step_fixture;
use std::process::Command;

fn nan_propagates_on<B: Backend>(be: &B) {
    let nan = f64::NAN;
    let of = |v: &[f64]| -> Vec<B::T> { v.iter().map(|&x| recaux::backend::Elem::of(x)).collect() };
    let back =
        |v: Vec<B::T>| -> Vec<f64> { v.into_iter().map(recaux::backend::Elem::f64).collect() };
    // relu forward: NaN stays, negatives go to 0
    let x = be.upload(&of(&[nan, -1.0, 2.0, 0.0])).unwrap();
    let mut y = be.alloc(4).unwrap();
    be.relu_fwd(4, &x, &mut y).unwrap();
    let yh = back(be.download(&y).unwrap());
    assert!(yh[0].is_nan(), "{}: relu(NaN) = {}", be.name(), yh[0]);
    assert_eq!(&yh[1..], &[0.0, 2.0, 0.0], "{}", be.name());
    // relu backward: the gradient passes where y is NaN or > 0 (threshold_backward)
    let dy = be.upload(&of(&[1.0, 1.0, 1.0, 1.0])).unwrap();
    let mut dx = be.alloc(4).unwrap();
    be.relu_bwd(4, &y, &dy, &mut dx).unwrap();
    assert_eq!(
        back(be.download(&dx).unwrap()),
        vec![1.0, 0.0, 1.0, 0.0],
        "{}",
        be.name()
    );
    // max over time: [M=1, T=3, rows=1, F=2]; column 0 has a NaN in the middle, column 1 none
    let x = be.upload(&of(&[1.0, 5.0, nan, 7.0, 3.0, nan])).unwrap();
    let mut y = be.alloc(2).unwrap();
    let mut arg = be.alloc_idx(2).unwrap();
    be.max_time_fwd(1, 3, 1, 2, &x, &mut y, &mut arg).unwrap();
    let yh = back(be.download(&y).unwrap());
    let ah = be.download_idx(&arg).unwrap();
    assert!(
        yh[0].is_nan(),
        "{}: max over [1, NaN, 3] = {}",
        be.name(),
        yh[0]
    );
    assert_eq!(ah[0], 1, "{}: the NaN's index", be.name());
    assert!(
        yh[1].is_nan(),
        "{}: max over [5, 7, NaN] = {}",
        be.name(),
        yh[1]
    );
    assert_eq!(ah[1], 2, "{}", be.name());
    // dropout (p = 0.5): x * mask * scale, so a dropped NaN is still NaN (NaN * 0), forward
    // and backward; a finite dropped value is 0
    let d = recaux::backend::DropoutSpec {
        p: 0.5,
        seeds: &[7],
        step: 3,
        tensor: 1,
        step_at: None,
    };
    let n = 64;
    let x = be.upload(&of(&vec![nan; n])).unwrap();
    let mut y = be.alloc(n).unwrap();
    be.dropout_fwd(&d, n, &x, false, &mut y).unwrap();
    let yh = back(be.download(&y).unwrap());
    assert!(
        yh.iter().all(|v| v.is_nan()),
        "{}: dropout(NaN) = {yh:?}",
        be.name()
    );
    let mut dx = be.alloc(n).unwrap();
    be.dropout_bwd(&d, n, &x, &mut dx).unwrap();
    let dh = back(be.download(&dx).unwrap());
    assert!(
        dh.iter().all(|v| v.is_nan()),
        "{}: dropout bwd(NaN) = {dh:?}",
        be.name()
    );
    let ones = be.upload(&of(&vec![1.0; n])).unwrap();
    be.dropout_fwd(&d, n, &ones, false, &mut y).unwrap();
    let yh = back(be.download(&y).unwrap());
    assert!(
        yh.iter().all(|&v| v == 0.0 || v == 2.0) && yh.contains(&0.0),
        "{}: {yh:?}",
        be.name()
    );
}

#[test]
fn relu_max_over_time_and_dropout_propagate_nan_like_pytorch_cpu() {
    nan_propagates_on(&CpuBackend::<f32>::new());
    nan_propagates_on(&CpuBackend::<f64>::new());
}

#[test]
fn relu_max_over_time_and_dropout_kernels_propagate_nan_like_pytorch_emu() {
    nan_propagates_on(&EmuBackend::<f32>::new().expect("emu backend"));
    nan_propagates_on(&EmuBackend::<f64>::new().expect("emu backend"));
}

#[test]
fn step_with_an_all_nan_fc1_weight_gives_a_nan_loss_on_cpu_and_emu() {
    let dir = std::env::temp_dir().join(format!("recaux-rel-nan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // the small (f64) fixture as f32, with fc1.weight all NaN
    let (weights, input) = f32_step_fixture(&dir, |n, v| {
        if n == "fc1.weight" {
            v.fill(f32::NAN);
        }
    });
    for backend in ["cpu", "emu"] {
        let out = dir.join(format!("out_{backend}.safetensors"));
        let o = Command::new(env!("CARGO_BIN_EXE_recaux"))
            .args(["step", "--backend", backend, "--weights"])
            .arg(&weights)
            .arg("--input")
            .arg(&input)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{backend}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let f = TensorFile::open(&out).unwrap();
        let loss = f.f32("loss", None).unwrap().0[0];
        let ce = f.f32("loss_ce", None).unwrap().0[0];
        assert!(
            loss.is_nan() && ce.is_nan(),
            "{backend}: loss {loss}, ce {ce}"
        );
    }
}
