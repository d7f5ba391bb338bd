//! The kernel table (generated from kernels/*.cu) against the compiled emu library, and the
//! launch rules kernels declare (RECAUX_BLOCK_MULTIPLE, RECAUX_BLOCK_EXACT, RECAUX_GRID_DIMS,
//! f32-only kernels and their launch bounds).

use recaux::backend::emu::{self, EmuBackend};
use recaux::backend::kernel::{LaunchCfg, ce, gemm, l1, table};
use std::collections::BTreeSet;

/// Every kernel the table lists is in the emu library with the params size the Rust mirror
/// has, and the library has no product kernel the table lacks.
#[test]
fn kernel_table_matches_the_emu_library() {
    let lib: BTreeSet<String> = emu::kernel_names()
        .into_iter()
        .filter(|n| !n.starts_with("buggy_"))
        .collect();
    let listed: BTreeSet<String> = table::ALL.iter().map(|k| k.name.to_string()).collect();
    assert_eq!(lib, listed, "emu library vs generated table");
    for k in table::ALL {
        assert_eq!(
            emu::params_size(k.name),
            Some(k.params_size),
            "{} ({}): params size in C++ vs the Rust mirror",
            k.name,
            k.params
        );
    }
}

/// A launch that breaks a kernel's declared block rule is refused before it reaches the
/// device: rx_block_sum needs a multiple of 32 threads, gemm exactly 64.
#[test]
fn launches_breaking_a_block_rule_are_refused() {
    let be = EmuBackend::<f32>::new().unwrap();
    let zero_p = l1::L1FwdPartialP {
        target: 0,
        r: 0,
        partial: 0,
        n: 0,
        chunk: 1,
        nb: 0,
        m: 0,
    };
    for (bad, why) in [
        (48u32, "multiple of 32"),
        (1, "multiple of 32"),
        (2048, "1 to 1024"),
    ] {
        let e = be
            .launch(l1::L1_FWD_PARTIAL, LaunchCfg::new(1, 1, bad), &zero_p)
            .expect_err("a block rx_block_sum cannot use");
        assert!(matches!(e, recaux::Error::Unsupported(_)), "{e}");
        assert!(e.to_string().contains(why), "{e}");
    }
    // the same launch with a good block runs (n = 0: nothing to do)
    be.launch(l1::L1_FWD_PARTIAL, LaunchCfg::new(1, 1, 64), &zero_p)
        .unwrap();
    let ce_p = ce::CeFwdP {
        logits: 0,
        labels: 0,
        loss: 0,
        b: 0,
        c: 0,
        m: 0,
    };
    assert!(
        be.launch(ce::CE_FWD, LaunchCfg::new(1, 1, 100), &ce_p)
            .is_err()
    );
    let g = bytemuck::Zeroable::zeroed();
    let e = be
        .launch(gemm::GEMM, LaunchCfg::new(1, 1, 128), &g)
        .expect_err("gemm needs exactly 64 threads");
    assert!(e.to_string().contains("(64, 1, 1)"), "{e}");
    // the rules as generated from the .cu files
    assert_eq!(l1::L1_FWD_PARTIAL.block_multiple, 32);
    assert_eq!(ce::CE_FWD.block_multiple, 32);
    assert_eq!(gemm::GEMM.block_exact, 64);
}

/// A grid with blocks in a dimension the kernel does not stride over would repeat its work
/// (an accumulating backward would add twice): refused.
#[test]
fn launches_in_undeclared_grid_dimensions_are_refused() {
    use recaux::backend::kernel::relu;
    let be = EmuBackend::<f32>::new().unwrap();
    let p = relu::ReluBwdP {
        y: 0,
        dy: 0,
        dx: 0,
        n: 0,
    };
    let e = be
        .launch(relu::RELU_BWD, LaunchCfg::new(1, 2, 256), &p)
        .expect_err("relu_bwd strides over x only");
    assert!(e.to_string().contains("grid [1, 2, 1]"), "{e}");
    be.launch(relu::RELU_BWD, LaunchCfg::new(3, 1, 256), &p)
        .unwrap();
    assert_eq!(relu::RELU_BWD.grid_dims, 1);
    assert_eq!(l1::L1_BWD.grid_dims, 2);
    assert_eq!(gemm::GEMM.grid_dims, 3);
}

/// The fast paths' kernels are f32 only (their params hold `float*`): an f64 backend's launch
/// is refused, not run on f64 buffers. A block above a kernel's launch bounds
/// (RECAUX_KERNEL_F32_LB: the GPU would refuse it) is refused too.
#[test]
fn f32_only_kernels_and_launch_bounds_are_enforced() {
    use recaux::backend::kernel::{gemm_tc, lstm_persist};
    let g: gemm_tc::GemmTcP = bytemuck::Zeroable::zeroed();
    let cfg = LaunchCfg::new(1, 1, 128);
    let e = EmuBackend::<f64>::new()
        .unwrap()
        .launch(gemm_tc::GEMM_TC_NN, cfg, &g)
        .expect_err("an f32-only kernel on an f64 backend");
    assert!(matches!(e, recaux::Error::Unsupported(_)), "{e}");
    assert!(e.to_string().contains("f32-only"), "{e}");
    let be = EmuBackend::<f32>::new().unwrap();
    // batch = 0: nothing to do, the launch itself is fine
    be.launch(gemm_tc::GEMM_TC_NN, cfg, &g).unwrap();
    let p: lstm_persist::LstmFwdPersistP = bytemuck::Zeroable::zeroed();
    let e = be
        .launch(
            lstm_persist::LSTM_FWD_PERSIST_F16,
            LaunchCfg::new(1, 1, 512),
            &p,
        )
        .expect_err("512 threads above the launch bounds");
    assert!(e.to_string().contains("at most 256"), "{e}");
    // items = 0: nothing to do
    be.launch(
        lstm_persist::LSTM_FWD_PERSIST_F16,
        LaunchCfg::new(1, 1, 256),
        &p,
    )
    .unwrap();
    assert_eq!(gemm_tc::GEMM_TC_NN.names[1], None);
    assert_eq!(gemm_tc::GEMM_TC_NN.block_exact, 128);
    assert_eq!(gemm_tc::GEMM_TC_NN.grid_dims, 3);
    assert_eq!(lstm_persist::LSTM_BWD_PERSIST_BF16.block_max, 256);
    assert_eq!(lstm_persist::LSTM_BWD_PERSIST_BF16.block_multiple, 32);
}
