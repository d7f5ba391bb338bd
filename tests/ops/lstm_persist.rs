//! lstm's fast path (the kernel backends' `lstm_fwd` / `lstm_bwd` at precision f16 or bf16):
//! the persistent kernels
//! `lstm_fwd_persist_{f16,bf16}` and `lstm_bwd_persist_{f16,bf16}` (kernels/lstm_persist.cu,
//! src/backend/kernel/lstm_persist.rs) around the op's GEMM sequence on the tensor cores
//! (tests/ops/gemm_tc.rs), against the f64 CPU path (src/backend/cpu/lstm.rs) on the same
//! f32-rounded inputs (tests/common/lstm.rs).
//!
//! Tolerances (relative L2 per tensor, [`rel_l2`]; G and the weight-gradient GEMMs in tf32),
//! see [`MODES`] and [`TF32`]: f16 forward <= 2e-3 on y and saved; bf16 forward <= 1e-2;
//! backward <= 1e-2 per gradient tensor with bf16 (the PERF-NOTES bound) and <= 5e-3 with f16;
//! precision tf32 (the per-step kernels with tensor-core GEMMs) <= 2e-3 forward, 3e-3
//! backward. Measured values are printed. Fallbacks (f64, H not a multiple of 16, H > 128)
//! give the per-step kernels' results with the precision's GEMMs, bit for bit.
//!
//! Invariants, bit for bit: two identical runs; replica r of a joint run and its solo run.

use crate::common::lstm::{OUTPUTS, inputs, run_saved, run_with};
use crate::common::*;
use recaux::backend::kernel::lstm_persist::{self, LstmKernel, RecPrecision};
use recaux::backend::kernel::{Device, KernelBackend};
use recaux::backend::{Backend, Elem, LstmShape, Precision};

fn precision(q: RecPrecision) -> Precision {
    match q {
        RecPrecision::F16 => Precision::F16,
        RecPrecision::Bf16 => Precision::Bf16,
    }
}

/// The forward at precision `fp`, then the backward at `bp` (through the `Backend` methods;
/// f64 backends stay at f64): [`run_saved`]'s results and which kernels ran. The backend is
/// left at its exact precision.
fn fast<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    s: &LstmShape,
    inp: &[Vec<f64>],
    fp: RecPrecision,
    bp: RecPrecision,
) -> (Vec<Vec<T>>, Vec<T>, [LstmKernel; 2]) {
    let set = |q: RecPrecision| {
        if T::DTYPE == "f32" {
            be.set_precision(precision(q)).unwrap();
        }
        lstm_persist::kernel(be, s)
    };
    let kf = set(fp);
    let mut kb = kf;
    let (out, saved) = run_with(be, s, inp, true, || kb = set(bp));
    be.set_precision(be.precisions()[0]).unwrap();
    (out, saved, [kf, kb])
}

const fn shape(m: usize, t: usize, b: usize, i: usize, h: usize) -> LstmShape {
    LstmShape { m, t, b, i, h }
}

/// Seed widths at small T; M = 3 with B = 1; T = 1 with two batch slices (the second partial);
/// B = 1; H = 48 (an odd number of k-tiles) with three slices; a longer T = 24.
const SHAPES: &[LstmShape] = &[
    shape(1, 3, 2, 128, 128),
    shape(1, 2, 2, 256, 128),
    shape(3, 3, 1, 8, 32),
    shape(2, 1, 17, 12, 16),
    shape(1, 4, 1, 4, 64),
    shape(1, 2, 33, 16, 48),
    shape(1, 24, 2, 16, 32),
];

/// (forward operand type, backward operand type, forward bound, backward bound): see the
/// module doc. The third, f16 forward with a bf16 backward, is the likely default (f16's
/// precision where values are bounded, bf16's range for gradients).
const MODES: &[(RecPrecision, RecPrecision, f64, f64)] = &[
    (RecPrecision::F16, RecPrecision::F16, 2e-3, 5e-3),
    (RecPrecision::Bf16, RecPrecision::Bf16, 1e-2, 1e-2),
    (RecPrecision::F16, RecPrecision::Bf16, 2e-3, 1e-2),
];

fn vs_reference<D: Device>(be: &KernelBackend<f32, D>) {
    for (q, s) in SHAPES.iter().enumerate() {
        let inp: Vec<Vec<f64>> = inputs(s, 4000 + 100 * q as u32)
            .iter()
            .map(|v| rounded::<f32>(v))
            .collect();
        let (want, want_saved) = run_saved(&reference(), s, &inp, true);
        // The mixed mode only on the narrow shapes (emu time); the two others cover every
        // kernel on every shape.
        let modes = if s.h <= 64 { MODES } else { &MODES[..2] };
        for &(fp, bp, ftol, btol) in modes {
            let (got, saved, kinds) = fast(be, s, &inp, fp, bp);
            assert_eq!(
                kinds,
                [LstmKernel::Persistent(fp), LstmKernel::Persistent(bp)],
                "{s:?}"
            );
            let ry = rel_l2(&f64s(&got[0]), &want[0]);
            let rs = rel_l2(&f64s(&saved), &want_saved);
            assert!(
                ry <= ftol && rs <= ftol,
                "{} {s:?} fwd {fp:?}: y {ry:e}, saved {rs:e} > {ftol:e}",
                be.name()
            );
            let mut worst = (0.0f64, "");
            for ((name, g), w) in OUTPUTS.iter().zip(&got).zip(&want).skip(1) {
                let r = rel_l2(&f64s(g), w);
                assert!(
                    r <= btol,
                    "{} {s:?} fwd {fp:?} bwd {bp:?}: {name} relative L2 {r:e} > {btol:e}",
                    be.name()
                );
                if r > worst.0 {
                    worst = (r, name);
                }
            }
            println!(
                "{} {s:?} {fp:?}/{bp:?}: y {ry:.2e}, saved {rs:.2e}, worst gradient {} {:.2e}",
                be.name(),
                worst.1,
                worst.0
            );
        }
        // tf32: the per-step recurrence in f32, the GEMMs around it on the tensor cores.
        be.set_precision(Precision::Tf32).unwrap();
        assert_eq!(lstm_persist::kernel(be, s), LstmKernel::PerStep, "{s:?}");
        let (got, saved) = run_saved(be, s, &inp, true);
        be.set_precision(Precision::F32).unwrap();
        let (ftol, btol) = TF32;
        let ry = rel_l2(&f64s(&got[0]), &want[0]);
        let rs = rel_l2(&f64s(&saved), &want_saved);
        assert!(
            ry <= ftol && rs <= ftol,
            "{} {s:?} tf32: y {ry:e}, saved {rs:e} > {ftol:e}",
            be.name()
        );
        let mut worst = 0.0f64;
        for ((name, g), w) in OUTPUTS.iter().zip(&got).zip(&want).skip(1) {
            let r = rel_l2(&f64s(g), w);
            assert!(
                r <= btol,
                "{} {s:?} tf32: {name} relative L2 {r:e} > {btol:e}",
                be.name()
            );
            worst = worst.max(r);
        }
        println!(
            "{} {s:?} tf32: y {ry:.2e}, saved {rs:.2e}, worst gradient {worst:.2e}",
            be.name()
        );
    }
}

/// tf32's (forward, backward) bounds: the input projection's and the weight gradients'
/// operands rounded to 10 significant bits (tests/ops/gemm_tc.rs: 3e-3 per product).
const TF32: (f64, f64) = (2e-3, 3e-3);

#[test]
fn lstm_persist_matches_the_f64_reference_within_each_mode_tolerance() {
    f32_kernel_backends!(vs_reference);
}

fn joint_vs_solo<D: Device>(be: &KernelBackend<f32, D>) {
    let s = shape(3, 4, 18, 8, 32);
    let inp = inputs(&s, 77);
    for &(fp, bp, _, _) in &MODES[..2] {
        let (a, a_saved, _) = fast(be, &s, &inp, fp, bp);
        let (b, b_saved, _) = fast(be, &s, &inp, fp, bp);
        assert_bits_eq("saved: two runs", &a_saved, &b_saved);
        for ((n, x), y) in OUTPUTS.iter().zip(&a).zip(&b) {
            assert_bits_eq(&format!("{n}: two runs"), x, y);
        }
        // Replica r alone: every input sliced to replica r.
        let one = LstmShape { m: 1, ..s };
        let part = |v: &[f32], parts: usize, k: usize| {
            let n = v.len() / parts;
            v[k * n..(k + 1) * n].to_vec()
        };
        for r in 0..s.m {
            let slice = |v: &Vec<f64>| {
                let n = v.len() / s.m;
                v[r * n..(r + 1) * n].to_vec()
            };
            let solo_in: Vec<Vec<f64>> = inp.iter().map(slice).collect();
            let (solo, solo_saved, _) = fast(be, &one, &solo_in, fp, bp);
            for d in 0..2 {
                assert_bits_eq(
                    &format!("replica {r}: saved of direction {d}"),
                    &part(&solo_saved, 2, d),
                    &part(&a_saved, 2 * s.m, d * s.m + r),
                );
            }
            for ((n, x), y) in OUTPUTS.iter().zip(&solo).zip(&a) {
                assert_bits_eq(&format!("replica {r}: {n}"), x, &part(y, s.m, r));
            }
        }
    }
}

#[test]
fn lstm_persist_is_bit_identical_across_runs_and_joint_vs_solo() {
    f32_kernel_backends!(joint_vs_solo);
}

fn fallback<T: Elem, D: Device>(be: &KernelBackend<T, D>) {
    let mut shapes = vec![shape(2, 3, 2, 5, 7), shape(1, 2, 3, 4, 144)];
    if T::DTYPE == "f64" {
        shapes.push(shape(1, 2, 2, 8, 32)); // a supported width, but f64
    }
    for s in shapes {
        let inp = inputs(&s, 55);
        if T::DTYPE == "f32" {
            be.set_precision(Precision::F16).unwrap();
            let words = be.lstm_sizes(&s).kernel;
            assert!(
                words.starts_with("lstm_fwd_step") && words.contains("fallback"),
                "{s:?}: {words}"
            );
        }
        let (got, saved, kinds) = fast(be, &s, &inp, RecPrecision::F16, RecPrecision::Bf16);
        assert_eq!(kinds, [LstmKernel::PerStep; 2], "{} {s:?}", T::DTYPE);
        // The per-step kernels with the GEMMs of f16 / bf16: tf32's (exact f32 on f64).
        if T::DTYPE == "f32" {
            be.set_precision(Precision::Tf32).unwrap();
        }
        let (plain, plain_saved) = run_saved(be, &s, &inp, true);
        be.set_precision(be.precisions()[0]).unwrap();
        assert_bits_eq(&format!("{} {s:?} saved", T::DTYPE), &saved, &plain_saved);
        for ((n, x), y) in OUTPUTS.iter().zip(&got).zip(&plain) {
            assert_bits_eq(&format!("{} {s:?} {n}", T::DTYPE), x, y);
        }
    }
}

#[test]
fn unsupported_shapes_fall_back_to_the_per_step_kernels_bit_for_bit() {
    kernel_backends!(fallback);
}

/// Outputs of the four persistent kernels (and the tensor-core GEMMs around them), for the
/// any-grid check and the sanitizer runs (f64: the per-step fallback): two batch slices (the
/// second partial), both directions, M = 2; f16 forward with bf16 backward, then the other
/// way round.
pub fn outputs<T: Elem, D: Device>(be: &KernelBackend<T, D>) -> Vec<Vec<T>> {
    let s = shape(2, 3, 17, 8, 16);
    let inp = inputs(&s, 3);
    let mut out = Vec::new();
    for (fp, bp) in [
        (RecPrecision::F16, RecPrecision::Bf16),
        (RecPrecision::Bf16, RecPrecision::F16),
    ] {
        let (o, saved, _) = fast(be, &s, &inp, fp, bp);
        out.extend(o);
        out.push(saved);
    }
    out
}
