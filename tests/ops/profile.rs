//! Profiles name the op (the `Backend` method) of every row, so a CPU and a GPU table line
//! up op by op; profiling off records nothing.

use crate::common::*;
use recaux::backend::{Backend, Elem};
use std::collections::BTreeSet;

fn relu_rows<B: Backend>(be: &B) {
    be.set_profiling(true).unwrap();
    let x = be.upload(&tv::<B::T>(&data(100, 60))).unwrap();
    let mut y = be.alloc(100).unwrap();
    be.relu_fwd(100, &x, &mut y).unwrap();
    be.relu_fwd(100, &x, &mut y).unwrap();
    let p = be.take_profile().unwrap();
    be.set_profiling(false).unwrap();
    let kernel = format!("relu_fwd_{}", B::T::DTYPE);
    let e = p
        .iter()
        .find(|k| k.kernel == kernel)
        .unwrap_or_else(|| panic!("{}: no {kernel} in {p:?}", be.name()));
    assert_eq!((e.op.as_str(), e.calls), ("relu_fwd", 2), "{e:?}");
    assert!(e.total_ms >= 0.0);
    be.relu_fwd(100, &x, &mut y).unwrap();
    assert!(
        be.take_profile().unwrap().is_empty(),
        "profiling off records nothing"
    );
}

#[test]
fn profile_rows_name_their_op() {
    every_backend!(relu_rows);
}

/// The ops of an LSTM layer's forward and backward (whose kernel backends launch gemm,
/// gemm_bias_grad and the step kernels) on the CPU and on emu.
fn lstm_ops<B: Backend>(be: &B) -> (BTreeSet<String>, BTreeSet<String>) {
    let s = crate::common::lstm::SHAPES[0];
    be.set_profiling(true).unwrap();
    crate::common::lstm::run(be, &s, &crate::common::lstm::inputs(&s, 5), true);
    let p = be.take_profile().unwrap();
    be.set_profiling(false).unwrap();
    (
        p.iter().map(|k| k.op.clone()).collect(),
        p.iter().map(|k| k.kernel.clone()).collect(),
    )
}

#[test]
fn cpu_and_kernel_profiles_have_the_same_ops() {
    let (cpu_ops, _) = lstm_ops(&recaux::backend::cpu::CpuBackend::<f32>::new());
    let (emu_ops, emu_kernels) = lstm_ops(&recaux::backend::emu::EmuBackend::<f32>::new().unwrap());
    let want: BTreeSet<String> = ["lstm_fwd", "lstm_bwd"].map(String::from).into();
    assert_eq!(cpu_ops, want);
    assert_eq!(emu_ops, want);
    for k in [
        "gemm_f32",
        "gemm_bias_grad_f32",
        "lstm_fwd_step_f32",
        "lstm_bwd_step_f32",
    ] {
        assert!(emu_kernels.contains(k), "{k} missing from {emu_kernels:?}");
    }
}

/// The fast paths profile under the op they stand in for: the persistent LSTM's kernels and
/// the tensor-core GEMMs around them under `lstm_fwd` / `lstm_bwd`, each under its kernel's
/// name (which starts with the op's).
#[test]
fn fast_path_kernels_profile_under_their_op() {
    use recaux::backend::Precision;
    let be = recaux::backend::emu::EmuBackend::<f32>::new().unwrap();
    let s = recaux::backend::LstmShape {
        m: 1,
        t: 2,
        b: 3,
        i: 4,
        h: 16,
    };
    be.set_profiling(true).unwrap();
    be.set_precision(Precision::F16).unwrap();
    crate::common::lstm::run_with(&be, &s, &crate::common::lstm::inputs(&s, 6), true, || {
        be.set_precision(Precision::Bf16).unwrap();
    });
    let rows: BTreeSet<(String, String)> = be
        .take_profile()
        .unwrap()
        .into_iter()
        .map(|k| (k.op, k.kernel))
        .collect();
    be.set_profiling(false).unwrap();
    for (op, kernel) in [
        ("lstm_fwd", "gemm_tc_nt"),
        ("lstm_fwd", "lstm_fwd_persist_f16"),
        ("lstm_bwd", "lstm_bwd_persist_bf16"),
        ("lstm_bwd", "gemm_tc_tn"),
        ("lstm_bwd", "gemm_tc_nn"),
        ("lstm_bwd", "gemm_bias_grad_part_f32"),
        ("lstm_bwd", "gemm_bias_grad_finish_f32"),
    ] {
        assert!(
            rows.contains(&(op.to_string(), kernel.to_string())),
            "{op} / {kernel} missing from {rows:?}"
        );
    }
    let ops: BTreeSet<&str> = rows.iter().map(|(o, _)| o.as_str()).collect();
    assert_eq!(ops, ["lstm_bwd", "lstm_fwd"].into(), "{rows:?}");
}
