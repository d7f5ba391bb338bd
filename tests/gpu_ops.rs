//! Every kernel op on `emu` (always) and `cuda` (when a GPU is usable; otherwise the test
//! prints `SKIP cuda: <reason>` and still runs emu), at f32 and f64. The bodies and their
//! stated tolerances are in tests/common/ops.rs.

#[macro_use]
mod common;

use common::ops::*;

#[test]
fn relu_ops() {
    all_backends!(relu);
}
#[test]
fn clamp_ops() {
    all_backends!(clamp);
}
#[test]
fn dropout_ops() {
    all_backends!(dropout);
}
#[test]
fn max_time_ops() {
    all_backends!(max_time);
}
#[test]
fn l1_ops() {
    all_backends!(l1);
}
#[test]
fn ce_ops() {
    all_backends!(ce);
}
#[test]
fn adam_op() {
    all_backends!(adam);
}
#[test]
fn shape_and_unsupported_errors() {
    all_backends!(errors);
}
#[test]
fn every_op_matches_the_cpu_reference() {
    all_backends!(vs_cpu_all);
}
fn vs_cpu_all<B: recaux::backend::Backend>(be: &B)
where
    B::T: recaux::backend::cpu::CellMath,
{
    common::vs_cpu::all(be)
}
#[test]
fn profiling_hook() {
    all_backends!(profile);
}

/// The params sizes of the tensor-core kernels (params_tc.rs).
fn tc_params_size(base: &str) -> Option<usize> {
    use recaux::backend::kernel::params_tc::*;
    use std::mem::size_of;
    Some(match base {
        "gemm_tc_nn" | "gemm_tc_nt" | "gemm_tc_tn" | "gemm_tc_tt" => size_of::<GemmTcP>(),
        "gemm_tc_reduce" => size_of::<GemmTcReduceP>(),
        "colsum_part" => size_of::<ColsumPartP>(),
        "colsum_finish" => size_of::<ColsumFinishP>(),
        "lstm_persist_fwd_f16" | "lstm_persist_fwd_bf16" => size_of::<LstmPersistP>(),
        "lstm_persist_bwd_f16" | "lstm_persist_bwd_bf16" => size_of::<LstmPersistBwdP>(),
        "tc_convert" => size_of::<TcConvertP>(),
        "tc_mma_probe" => size_of::<TcMmaProbeP>(),
        "tc_smem_probe" => size_of::<TcSmemProbeP>(),
        "tc_cp_async_probe" => size_of::<TcCpAsyncProbeP>(),
        _ => return None,
    })
}

/// Every kernel in the emu library has a Rust params mirror of the same size.
#[test]
fn emu_params_sizes_match() {
    use recaux::backend::emu;
    use recaux::backend::kernel::params::*;
    use std::mem::size_of;
    let names = emu::kernel_names();
    assert!(names.len() >= 26, "kernels registered: {names:?}");
    for name in names {
        let base = name.trim_end_matches("_f32").trim_end_matches("_f64");
        let want = match base {
            "relu_fwd" => size_of::<UnaryP>(),
            "relu_bwd" => size_of::<ReluBwdP>(),
            "clamp_fwd" => size_of::<ClampP>(),
            "clamp_bwd" => size_of::<ClampBwdP>(),
            "dropout_fwd" | "dropout_bwd" => size_of::<DropoutP>(),
            "max_time_fwd" => size_of::<MaxTimeP>(),
            "max_time_bwd" => size_of::<MaxTimeBwdP>(),
            "l1_partial" => size_of::<L1PartialP>(),
            "l1_finish" => size_of::<L1FinishP>(),
            "l1_bwd" => size_of::<L1BwdP>(),
            "ce_fwd" => size_of::<CeFwdP>(),
            "ce_bwd" => size_of::<CeBwdP>(),
            "adam_step" => size_of::<AdamP>(),
            "gemm" => size_of::<recaux::backend::kernel::params_mm::GemmP>(),
            "bias_grad" => size_of::<recaux::backend::kernel::params_mm::BiasGradP>(),
            "lstm_step_fwd" => size_of::<recaux::backend::kernel::params_mm::LstmStepP>(),
            "lstm_step_bwd" => size_of::<recaux::backend::kernel::params_mm::LstmStepBwdP>(),
            "buggy_racy_sum" | "buggy_oob_copy" => size_of::<BuggyP>(),
            other => tc_params_size(other)
                .unwrap_or_else(|| panic!("kernel {other} has no Rust params mirror in this test")),
        };
        assert_eq!(emu::params_size(&name), Some(want), "{name}");
    }
}
