//! gemm's fast path (not a `Backend` method yet): the tensor-core GEMM `gemm_tc_{nn,nt,tn,tt}`
//! with its split-K second pass `gemm_tc_reduce`, and the parallel bias gradient
//! `gemm_bias_grad_part` + `gemm_bias_grad_finish`: kernels/gemm_tc.cu,
//! src/backend/kernel/gemm_tc.rs. The CPU twin is the op's (src/backend/cpu/gemm.rs); the
//! reference is the f64 CPU path on the same (f32-rounded) inputs.
//!
//! Tolerances:
//! - tf32 product: per element |err| <= (2^-10 + (k + 4) 2^-23) (Σ|a||b| + |c| + |bias|): the
//!   rounding of both operands to 10 fraction bits (a relative 2^-11 each, so 2^-10 for the
//!   product), plus f32 accumulation of k products and the epilogue's adds; and <= 3e-3
//!   relative L2 per result (PERF-NOTES' tf32 bound). The magnitude term is the reference's
//!   product of |A| and |B|. Unaligned operands and f64 run the SIMT kernel: bit for bit
//!   the op's `gemm`.
//! - bias gradient: see [`bias_grad_vs_reference`].
//!
//! Invariants, bit for bit: two identical runs; replica r of a joint run and its solo run
//! (split-K depends on (m, n, k) only).

use crate::common::*;
use crate::gemm::{abs_inputs, bias_grad_inputs, run as plain, run_bias_grad, spec};
use recaux::backend::kernel::gemm_tc::{self, GemmKernel, tc_splits};
use recaux::backend::kernel::{Device, KernelBackend};
use recaux::backend::{Backend, Elem, GemmSpec};

/// a, b, bias, c0 of one product (tests/ops/gemm.rs's), rounded to the element type.
fn inputs<T: Elem>(s: &GemmSpec, seed: u32) -> Vec<Vec<f64>> {
    crate::gemm::inputs(s, seed)
        .iter()
        .map(|v| rounded::<T>(v))
        .collect()
}

/// c0 then the fast path into it; the result and which kernel ran.
fn fast<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    s: &GemmSpec,
    bias: bool,
    inp: &[Vec<f64>],
) -> (Vec<T>, GemmKernel) {
    let up = |v: &Vec<f64>| be.upload(&tv(v)).unwrap();
    let (a, b, bb) = (up(&inp[0]), up(&inp[1]), up(&inp[2]));
    let mut c = up(&inp[3]);
    let k = gemm_tc::gemm(be, s, &a, &b, bias.then_some(&bb), &mut c).expect("gemm_tc");
    (be.download(&c).unwrap(), k)
}

/// One product against the f64 reference with the tf32 bound; returns the relative L2 error.
fn check_tc<D: Device>(be: &KernelBackend<f32, D>, s: &GemmSpec, bias: bool, seed: u32) -> f64 {
    let inp = inputs::<f32>(s, seed);
    let (got, kernel) = fast(be, s, bias, &inp);
    let eligible = (if s.trans_a { s.m } else { s.k }) % 4 == 0
        && (if s.trans_b { s.k } else { s.n }) % 4 == 0;
    let want_kernel = if eligible {
        GemmKernel::TensorCore {
            splits: tc_splits(s.m, s.n, s.k).0,
        }
    } else {
        GemmKernel::Simt
    };
    assert_eq!(kernel, want_kernel, "{s:?}");
    let want = plain(&reference(), s, bias, &inp);
    let mag = plain(&reference(), s, bias, &abs_inputs(&inp));
    let tf32 = if eligible { 2f64.powi(-10) } else { 0.0 };
    let u = 2f64.powi(-23);
    for (i, ((g, w), m)) in got.iter().zip(&want).zip(&mag).enumerate() {
        let err = (*g as f64 - w).abs();
        let bound = (tf32 + (s.k as f64 + 4.0) * u) * m;
        assert!(
            err <= bound,
            "{} {s:?} bias {bias}: element {i}: got {g}, want {w}, err {err:e} > {bound:e}",
            be.name()
        );
    }
    let r = rel_l2(&f64s(&got), &want);
    assert!(r <= 3e-3, "{} {s:?}: relative L2 {r:e}", be.name());
    r
}

fn layouts<D: Device>(be: &KernelBackend<f32, D>) {
    let shapes = [
        (64, 64, 32),
        (65, 36, 20),
        (130, 68, 40),
        (5, 12, 8),
        (1, 4, 4),
        (3, 4, 0),
        (7, 9, 13), // unaligned: the SIMT fallback
    ];
    let mut worst = 0.0f64;
    let mut seed = 300;
    for (q, &(m, n, k)) in shapes.iter().enumerate() {
        for bits in 0u32..16 {
            // every layout; accumulate / shared A / bias spread over the shapes
            if q > 1 && bits % 3 != 0 && bits < 12 {
                continue;
            }
            let s = spec(m, n, k, bits);
            worst = worst.max(check_tc(be, &s, (bits + q as u32).is_multiple_of(2), seed));
            seed += 4;
        }
    }
    println!(
        "{}: gemm_tc layouts vs f64 reference, worst relative L2 {worst:.2e}",
        be.name()
    );
}

#[test]
fn gemm_tc_matches_the_f64_reference_on_every_layout() {
    f32_kernel_backends!(layouts);
}

fn split_k<D: Device>(be: &KernelBackend<f32, D>) {
    for &(m, n, k, ta) in &[
        (64, 64, 2048, true),
        (60, 68, 3000, false),
        (256, 64, 1056, true),
    ] {
        let (splits, kc) = tc_splits(m, n, k);
        assert!(
            splits > 1 && kc % 32 == 0 && splits * kc >= k,
            "{m}x{n}x{k}: {splits} x {kc}"
        );
        let s = GemmSpec {
            trans_a: ta,
            ..spec(m, n, k, 8)
        };
        let r = check_tc(be, &s, !ta, 700 + k as u32);
        println!(
            "{}: split-K {m}x{n}x{k} ({splits} x {kc}): relative L2 {r:.2e}",
            be.name()
        );
    }
}

#[test]
fn gemm_tc_split_k_matches_the_f64_reference() {
    f32_kernel_backends!(split_k);
}

#[test]
fn split_k_partition_depends_on_the_problem_only() {
    // Unsplit: many tiles, or a short k; split: few tiles and a long k, ranges of 32s.
    assert_eq!(tc_splits(16384, 512, 128), (1, 128));
    assert_eq!(tc_splits(64, 64, 1024), (1, 1024));
    assert_eq!(tc_splits(512, 128, 16384), (16, 1024));
    assert_eq!(tc_splits(512, 256, 16384), (8, 2048));
    assert_eq!(tc_splits(64, 64, 2048), (4, 512));
    assert_eq!(tc_splits(256, 64, 1056), (3, 352));
    assert_eq!(tc_splits(60, 68, 3000), (6, 512));
}

fn joint_vs_solo<D: Device>(be: &KernelBackend<f32, D>) {
    // dW-shaped (transposed A, split-K) and G-shaped (transposed B, bias) products.
    for (s, bias) in [
        (
            GemmSpec {
                batch: 3,
                trans_a: true,
                ..spec(64, 32, 2048, 8)
            },
            false,
        ),
        (
            GemmSpec {
                batch: 3,
                trans_b: true,
                ..spec(40, 64, 36, 0)
            },
            true,
        ),
    ] {
        let inp = inputs::<f32>(&s, 910);
        let (joint, _) = fast(be, &s, bias, &inp);
        let (again, _) = fast(be, &s, bias, &inp);
        assert_bits_eq(&format!("{}: two runs of {s:?}", be.name()), &joint, &again);
        let (mk, kn, mn) = (s.m * s.k, s.k * s.n, s.m * s.n);
        for r in 0..s.batch {
            let solo = GemmSpec { batch: 1, ..s };
            let part = |v: &Vec<f64>, n: usize| v[r * n..(r + 1) * n].to_vec();
            let one_in = vec![
                part(&inp[0], mk),
                part(&inp[1], kn),
                part(&inp[2], s.n),
                part(&inp[3], mn),
            ];
            let (one, _) = fast(be, &solo, bias, &one_in);
            assert_bits_eq(
                &format!("{}: replica {r} of {s:?} vs its solo run", be.name()),
                &one,
                &joint[r * mn..(r + 1) * mn],
            );
        }
    }
}

#[test]
fn gemm_tc_is_bit_identical_across_runs_and_joint_vs_solo() {
    f32_kernel_backends!(joint_vs_solo);
}

fn fallback<T: Elem, D: Device>(be: &KernelBackend<T, D>) {
    // f64, or an f32 product whose k (the leading dimension of A) is not a multiple of 4.
    let s = spec(9, 12, if T::DTYPE == "f64" { 8 } else { 5 }, 8);
    let inp = inputs::<T>(&s, 950);
    let (got, kernel) = fast(be, &s, true, &inp);
    assert_eq!(kernel, GemmKernel::Simt, "{} {}", be.name(), T::DTYPE);
    assert_bits_eq(
        &format!("{} {} fallback vs gemm", be.name(), T::DTYPE),
        &got,
        &plain(be, &s, true, &inp),
    );
}

#[test]
fn gemm_tc_falls_back_to_the_simt_kernel_bit_for_bit() {
    kernel_backends!(fallback);
}

// ---- the parallel bias gradient ------------------------------------------------------------

/// (batch, rows, cols): one row, a partial chunk, several chunks (512 rows each), exactly one
/// chunk, one row past it, no rows.
const BIAS_GRAD: [(usize, usize, usize); 6] = [
    (1, 1, 1),
    (2, 7, 13),
    (3, 1300, 5),
    (2, 512, 4),
    (1, 513, 3),
    (2, 0, 4),
];

/// tests/ops/gemm.rs's inputs (dy, db0), rounded to the element type.
fn bias_grad_rounded<T: Elem>(shape: (usize, usize, usize)) -> Vec<Vec<f64>> {
    bias_grad_inputs(shape)
        .iter()
        .map(|v| rounded::<T>(v))
        .collect()
}

fn bias_grad_fast<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    shape: (usize, usize, usize),
    inp: &[Vec<f64>],
) -> Vec<T> {
    let (batch, rows, cols) = shape;
    let dy = be.upload(&tv(&inp[0])).unwrap();
    let mut db = be.upload(&tv(&inp[1])).unwrap();
    gemm_tc::bias_grad(be, batch, rows, cols, &dy, &mut db).unwrap();
    be.download(&db).unwrap()
}

/// Against the f64 path (rows in order in f64, one add to db0): the kernels sum chunks of 512
/// rows in double, then the chunks in order (double), round to T once and add to db0 in T.
/// The chunked sum differs from the in-order one by the association only, at most
/// 2 · rows · 2^-53 · Σ|dy|; then two roundings to T (the sum, and the add to db0), each at
/// most eps(T) relative: |err| <= eps(T) (|db0| + 2 Σ|dy|) + 2 rows 2^-53 Σ|dy|.
fn bias_grad_vs_reference<T: Elem, D: Device>(be: &KernelBackend<T, D>) {
    let eps = if T::DTYPE == "f32" { EPS32 } else { EPS64 };
    for shape in BIAS_GRAD {
        let (_, rows, cols) = shape;
        let inp = bias_grad_rounded::<T>(shape);
        let got = bias_grad_fast(be, shape, &inp);
        assert_bits_eq(
            &format!("{} {} bias_grad {shape:?}: two runs", be.name(), T::DTYPE),
            &got,
            &bias_grad_fast(be, shape, &inp),
        );
        let want = run_bias_grad(&reference(), shape, &inp);
        for (o, (g, w)) in got.iter().zip(&want).enumerate() {
            let (rr, j) = (o / cols, o % cols);
            let mag: f64 = (0..rows)
                .map(|i| inp[0][(rr * rows + i) * cols + j].abs())
                .sum();
            let bound =
                eps * (inp[1][o].abs() + 2.0 * mag) + 2.0 * rows as f64 * 2f64.powi(-53) * mag;
            let err = (g.f64() - w).abs();
            assert!(
                err <= bound,
                "{} {} bias_grad {shape:?} [{o}]: got {}, want {w}, err {err:e} > {bound:e}",
                be.name(),
                T::DTYPE,
                g.f64()
            );
        }
    }
}

#[test]
fn parallel_bias_grad_matches_the_f64_reference() {
    kernel_backends!(bias_grad_vs_reference);
}

/// Outputs of every kernel of gemm_tc.cu, for the any-grid check and the sanitizer runs (f64:
/// the SIMT fallback and the f64 column sums): each layout once on 2 x 2 tiles (partial at the
/// edges; the transposed-A product split in three), and a column sum over three chunks with
/// more columns than one block has threads.
pub fn outputs<T: Elem, D: Device>(be: &KernelBackend<T, D>) -> Vec<Vec<T>> {
    let mut out = Vec::new();
    for (bits, k) in [(16u32, 40usize), (2 | 8, 12), (1 | 8, 1100), (3 | 16, 8)] {
        let s = spec(68, 72, k, bits);
        out.push(fast(be, &s, bits & 16 != 0, &inputs::<T>(&s, 40 + bits)).0);
    }
    let shape = (2, 1100, 300);
    out.push(bias_grad_fast(be, shape, &bias_grad_rounded::<T>(shape)));
    out
}
