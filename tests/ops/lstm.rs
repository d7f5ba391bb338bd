//! The bidirectional LSTM layer (`lstm_fwd`, `lstm_bwd`): kernels/lstm.cu (`lstm_fwd_step`,
//! `lstm_bwd_step`, with kernels/gemm.cu for the projections), src/backend/kernel/lstm.rs,
//! src/backend/cpu/lstm.rs (+ lstm_cell.rs).
//!
//! The reference's own checks are elsewhere: finite differences (`recaux gradcheck`, tests/
//! cpu_gradcheck.rs: every input and parameter gradient, both directions) and PyTorch
//! (tests/torch_parity.rs: the layers' outputs and gradients in f64 to ~1e-15).
//!
//! Tolerance (y and every gradient, O(1) values): f64 atol 1e-13, f32 atol 2e-5. Measured on
//! emu against the f64 reference: printed by the test. The bounds leave room for cuda, where
//! nvcc contracts products into FMAs and the libm exp/tanh differ by an ulp, compounded over
//! T steps.

use crate::common::lstm::{OUTPUTS, SHAPES, inputs, run};
use crate::common::*;
use recaux::backend::{Backend, Elem};

fn vs_reference<B: Backend>(be: &B) {
    let (t32, t64) = (Tol::new(2e-5, 0.0), Tol::new(1e-13, 0.0));
    let mut worst = 0.0f64;
    for (k, s) in SHAPES.iter().enumerate() {
        let inp: Vec<Vec<f64>> = inputs(s, 1000 + 100 * k as u32)
            .iter()
            .map(|v| rounded::<B::T>(v))
            .collect();
        // without dx on the first shape only (emu launches are slow)
        let dx_cases: &[bool] = if k == 0 { &[true, false] } else { &[true] };
        for &with_dx in dx_cases {
            let got = run(be, s, &inp, with_dx);
            let want = run(&reference(), s, &inp, with_dx);
            assert_eq!(got.len(), want.len());
            for ((name, g), w) in OUTPUTS.iter().zip(&got).zip(&want) {
                check(
                    be,
                    &format!("lstm {name} {s:?} dx {with_dx}"),
                    g,
                    w,
                    t32,
                    t64,
                );
                worst = worst.max(max_abs(&f64s(g), w));
            }
            if !with_dx {
                assert_eq!(f64s(&got[1]), inp[10], "dx written although None");
            }
        }
    }
    println!(
        "{} {} lstm vs f64 reference: max |err| = {worst:e}",
        be.name(),
        B::T::DTYPE
    );
}

#[test]
fn lstm_matches_the_f64_reference() {
    every_backend!(vs_reference);
}

/// Outputs of both step kernels (and the gemms they use), for the any-grid check: a shape
/// with more cells than one block and several replicas.
pub fn outputs<B: Backend>(be: &B) -> Vec<Vec<B::T>> {
    let s = SHAPES[3];
    run(be, &s, &inputs(&s, 77), true)
}
