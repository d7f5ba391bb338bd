//! The tensor-core kernels (kernels/gemm_tc.cu, kernels/lstm_persist.cu) on emu (and cuda when a
//! GPU is usable), against the plain f64 CPU backend as the oracle.
//!
//! Tolerances (relative L2 per tensor: ||got - want|| / ||want||, want from CpuBackend<f64>):
//! - tf32 GEMM: per element |err| <= (2^-10 + (k + 4) 2^-23) (sum |a||b| + |c| + |bias|), the
//!   rounding of both operands to 10 fraction bits plus f32 accumulation; and <= 3e-3 relative
//!   L2 (PERF-NOTES' tf32 bound).
//! - Persistent LSTM (G and weight-gradient GEMMs in tf32), see `Tols`: f16 forward <= 2e-3 on
//!   y and saved; bf16 forward <= 1e-2; backward <= 1e-2 per gradient tensor with bf16 (the
//!   PERF-NOTES bound) and <= 5e-3 with f16. Measured values are printed.
//! - Fallbacks (f64, H not a multiple of 16, H > 128; unaligned GEMM operands) must give the
//!   per-step / SIMT kernels' results bit for bit: they are those kernels.
//!
//! Invariants, bit for bit: two identical runs; replica r of a joint run and its solo run.

#[macro_use]
mod common;
mod common_mm;

use common::data;
use common::skip::skip_notice;
use common_mm::{LstmOut, lstm_inputs, lstm_run, lstm_run_with};
use recaux::backend::cpu::CpuBackend;
use recaux::backend::cuda::{CudaBackend, cuda_available};
use recaux::backend::emu::EmuBackend;
use recaux::backend::kernel::{
    Device, GemmKernel, KernelBackend, LstmKernel, RecPrecision, tc_splits,
};
use recaux::backend::{Backend, Elem, GemmSpec, LstmShape};

fn rel_l2<T: Elem>(got: &[T], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len(), "lengths");
    let (mut e, mut w) = (0.0f64, 0.0f64);
    for (g, x) in got.iter().zip(want) {
        e += (g.f64() - x).powi(2);
        w += x * x;
    }
    if w == 0.0 { e.sqrt() } else { (e / w).sqrt() }
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}
fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

// ---- GEMM --------------------------------------------------------------------------------------

/// Inputs of one product (values exactly representable in f32).
struct GemmIn {
    a: Vec<f32>,
    b: Vec<f32>,
    bias: Vec<f32>,
    c0: Vec<f32>,
}
fn gemm_inputs(s: &GemmSpec, seed: u32) -> GemmIn {
    let (mk, kn, mn) = (s.m * s.k, s.k * s.n, s.m * s.n);
    GemmIn {
        a: f32s(&data(if s.a_shared { mk } else { s.batch * mk }, seed)),
        b: f32s(&data(s.batch * kn, seed + 1)),
        bias: f32s(&data(s.batch * s.n, seed + 2)),
        c0: f32s(&data(s.batch * mn, seed + 3)),
    }
}

fn cpu_gemm(s: &GemmSpec, a: &[f64], b: &[f64], bias: Option<&[f64]>, c0: &[f64]) -> Vec<f64> {
    let cpu = CpuBackend::<f64>::new();
    let biasb = bias.map(|v| cpu.upload(v).unwrap());
    let mut c = cpu.upload(c0).unwrap();
    cpu.gemm(
        s,
        &cpu.upload(a).unwrap(),
        &cpu.upload(b).unwrap(),
        biasb.as_ref(),
        &mut c,
    )
    .unwrap();
    cpu.download(&c).unwrap()
}

/// The tensor-core product on `be`; returns (result, kernel).
fn tc_gemm<D: Device>(
    be: &KernelBackend<f32, D>,
    s: &GemmSpec,
    x: &GemmIn,
    with_bias: bool,
) -> (Vec<f32>, GemmKernel) {
    let (a, b) = (be.upload(&x.a).unwrap(), be.upload(&x.b).unwrap());
    let bias = be.upload(&x.bias).unwrap();
    let mut c = be.upload(&x.c0).unwrap();
    let k = be
        .gemm_tc(s, &a, &b, with_bias.then_some(&bias), &mut c)
        .expect("gemm_tc");
    (be.download(&c).unwrap(), k)
}

/// Checks one product against the f64 CPU with the tf32 bound; returns the relative L2 error.
fn check_tc_gemm<D: Device>(
    be: &KernelBackend<f32, D>,
    s: &GemmSpec,
    with_bias: bool,
    seed: u32,
) -> f64 {
    let x = gemm_inputs(s, seed);
    let (got, kernel) = tc_gemm(be, s, &x, with_bias);
    let eligible = (if s.trans_a { s.m } else { s.k }) % 4 == 0
        && (if s.trans_b { s.k } else { s.n }) % 4 == 0;
    if eligible {
        assert_eq!(
            kernel,
            GemmKernel::TensorCore {
                splits: tc_splits(s.m, s.n, s.k).0
            },
            "{s:?}"
        );
    } else {
        assert_eq!(kernel, GemmKernel::Simt, "{s:?}");
    }
    let bias = with_bias.then(|| f64s(&x.bias));
    let want = cpu_gemm(s, &f64s(&x.a), &f64s(&x.b), bias.as_deref(), &f64s(&x.c0));
    let abs = |v: &[f32]| v.iter().map(|x| (*x as f64).abs()).collect::<Vec<_>>();
    let mag = cpu_gemm(
        s,
        &abs(&x.a),
        &abs(&x.b),
        with_bias.then(|| abs(&x.bias)).as_deref(),
        &abs(&x.c0),
    );
    let u = 2f64.powi(-23);
    let tf32 = if eligible { 2f64.powi(-10) } else { 0.0 };
    for (i, ((g, w), m)) in got.iter().zip(&want).zip(&mag).enumerate() {
        let err = (*g as f64 - w).abs();
        let bound = (tf32 + (s.k as f64 + 4.0) * u) * m;
        assert!(
            err <= bound,
            "{s:?} bias {with_bias}: element {i}: got {g}, want {w}, err {err:e} > {bound:e}"
        );
    }
    let r = rel_l2(&got, &want);
    assert!(r <= 3e-3, "{s:?}: relative L2 {r:e}");
    r
}

fn gemm_layouts<D: Device>(be: &KernelBackend<f32, D>) {
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
            let s = GemmSpec {
                batch: 2,
                m,
                n,
                k,
                trans_a: bits & 1 != 0,
                trans_b: bits & 2 != 0,
                a_shared: bits & 4 != 0,
                accumulate: bits & 8 != 0,
            };
            worst = worst.max(check_tc_gemm(
                be,
                &s,
                (bits + q as u32).is_multiple_of(2),
                seed,
            ));
            seed += 4;
        }
    }
    println!(
        "{}: tc gemm layouts, worst relative L2 {worst:.2e}",
        be.name()
    );
}

#[test]
fn gemm_tc_matches_f64_cpu_on_every_layout() {
    f32_devices!(gemm_layouts);
}

fn gemm_split_k<D: Device>(be: &KernelBackend<f32, D>) {
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
            batch: 2,
            m,
            n,
            k,
            trans_a: ta,
            trans_b: false,
            a_shared: false,
            accumulate: true,
        };
        let r = check_tc_gemm(be, &s, !ta, 700 + k as u32);
        println!(
            "{}: split-K {m}x{n}x{k} ({splits} x {kc}): relative L2 {r:.2e}",
            be.name()
        );
    }
}

#[test]
fn gemm_tc_split_k_matches_f64_cpu() {
    f32_devices!(gemm_split_k);
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

fn gemm_bits<D: Device>(be: &KernelBackend<f32, D>) {
    // dW-shaped (transposed A, split-K) and G-shaped (transposed B, bias) products.
    for (s, bias) in [
        (
            GemmSpec {
                batch: 3,
                m: 64,
                n: 32,
                k: 2048,
                trans_a: true,
                trans_b: false,
                a_shared: false,
                accumulate: true,
            },
            false,
        ),
        (
            GemmSpec {
                batch: 3,
                m: 40,
                n: 64,
                k: 36,
                trans_a: false,
                trans_b: true,
                a_shared: false,
                accumulate: false,
            },
            true,
        ),
    ] {
        let x = gemm_inputs(&s, 910);
        let (joint, _) = tc_gemm(be, &s, &x, bias);
        let (again, _) = tc_gemm(be, &s, &x, bias);
        assert_eq!(
            bits(&joint),
            bits(&again),
            "{}: two runs of {s:?}",
            be.name()
        );
        let (mk, kn, mn) = (s.m * s.k, s.k * s.n, s.m * s.n);
        for r in 0..s.batch {
            let solo = GemmSpec { batch: 1, ..s };
            let xr = GemmIn {
                a: x.a[r * mk..(r + 1) * mk].to_vec(),
                b: x.b[r * kn..(r + 1) * kn].to_vec(),
                bias: x.bias[r * s.n..(r + 1) * s.n].to_vec(),
                c0: x.c0[r * mn..(r + 1) * mn].to_vec(),
            };
            let (one, _) = tc_gemm(be, &solo, &xr, bias);
            assert_eq!(
                bits(&one),
                bits(&joint[r * mn..(r + 1) * mn]),
                "{}: replica {r} of {s:?} differs from its solo run",
                be.name()
            );
        }
    }
}

fn bits<T: Elem>(v: &[T]) -> Vec<u8> {
    bytemuck::cast_slice(v).to_vec()
}

#[test]
fn gemm_tc_is_bit_identical_across_runs_and_joint_vs_solo() {
    f32_devices!(gemm_bits);
}

fn gemm_fallback<B: Backend>(be: &B, tc: impl Fn(&GemmSpec, &GemmIn) -> (Vec<B::T>, GemmKernel)) {
    // f64, or an f32 product whose k (the leading dimension of A) is not a multiple of 4.
    let s = GemmSpec {
        batch: 2,
        m: 9,
        n: 12,
        k: if B::T::DTYPE == "f64" { 8 } else { 5 },
        trans_a: false,
        trans_b: false,
        a_shared: false,
        accumulate: true,
    };
    let x = gemm_inputs(&s, 950);
    let (got, kernel) = tc(&s, &x);
    assert_eq!(kernel, GemmKernel::Simt, "{} {}", be.name(), B::T::DTYPE);
    let up = |v: &[f32]| {
        be.upload(&v.iter().map(|&z| B::T::of(z as f64)).collect::<Vec<_>>())
            .unwrap()
    };
    let mut c = up(&x.c0);
    be.gemm(&s, &up(&x.a), &up(&x.b), Some(&up(&x.bias)), &mut c)
        .unwrap();
    assert_eq!(bits(&got), bits(&be.download(&c).unwrap()), "{}", be.name());
}

#[test]
fn gemm_tc_falls_back_to_the_simt_kernel_bit_for_bit() {
    fn run<T: Elem, D: Device>(be: &KernelBackend<T, D>) {
        gemm_fallback(be, |s, x| {
            let up = |v: &[f32]| {
                be.upload(&v.iter().map(|&z| T::of(z as f64)).collect::<Vec<_>>())
                    .unwrap()
            };
            let mut c = up(&x.c0);
            let k = be
                .gemm_tc(s, &up(&x.a), &up(&x.b), Some(&up(&x.bias)), &mut c)
                .unwrap();
            (be.download(&c).unwrap(), k)
        });
    }
    run(&EmuBackend::<f32>::new().unwrap());
    run(&EmuBackend::<f64>::new().unwrap());
    match cuda_available() {
        Ok(_) => {
            run(&CudaBackend::<f32>::new(0).unwrap());
            run(&CudaBackend::<f64>::new(0).unwrap());
        }
        Err(why) => skip_notice(&format!("SKIP cuda: {why}")),
    }
}

// ---- column sums -------------------------------------------------------------------------------

fn colsums<T: recaux::backend::cpu::CellMath, D: Device>(be: &KernelBackend<T, D>) {
    let cpu = CpuBackend::<T>::new();
    for &(batch, rows, cols) in &[
        (1, 1, 1),
        (2, 7, 13),
        (3, 1300, 5),
        (2, 512, 4),
        (1, 513, 3),
    ] {
        let t = |v: &[f64]| v.iter().map(|&x| T::of(x)).collect::<Vec<T>>();
        let dy = t(&data(batch * rows * cols, 17));
        let db0 = t(&data(batch * cols, 18));
        // The serial reference (rows in order in double, one rounding, then += in T).
        let mut want = cpu.upload(&db0).unwrap();
        cpu.bias_grad(batch, rows, cols, &cpu.upload(&dy).unwrap(), &mut want)
            .unwrap();
        let want = cpu.download(&want).unwrap();
        let dyb = be.upload(&dy).unwrap();
        let mut got = be.upload(&db0).unwrap();
        be.bias_grad_par(batch, rows, cols, &dyb, &mut got).unwrap();
        let got = be.download(&got).unwrap();
        let mut again = be.upload(&db0).unwrap();
        be.bias_grad_par(batch, rows, cols, &dyb, &mut again)
            .unwrap();
        assert_eq!(bits(&got), bits(&be.download(&again).unwrap()), "two runs");
        // The chunked double sum differs from the serial one by the association only (at
        // most rows * 2^-53 * sum |dy| before rounding to T): within one rounding of T.
        let eps = if T::DTYPE == "f32" {
            f32::EPSILON as f64
        } else {
            f64::EPSILON
        };
        for (o, (g, w)) in got.iter().zip(&want).enumerate() {
            let (r, j) = (o / cols, o % cols);
            let mag: f64 = (0..rows)
                .map(|i| dy[(r * rows + i) * cols + j].f64().abs())
                .sum();
            let bound = eps * w.f64().abs() + rows as f64 * 2f64.powi(-53) * mag;
            assert!(
                (g.f64() - w.f64()).abs() <= bound,
                "{} {} bias_grad_par {batch}x{rows}x{cols} [{o}]: {} vs {}",
                be.name(),
                T::DTYPE,
                g.f64(),
                w.f64()
            );
        }
    }
}

#[test]
fn bias_grad_par_matches_the_cpu_sum() {
    colsums(&EmuBackend::<f32>::new().unwrap());
    colsums(&EmuBackend::<f64>::new().unwrap());
    match cuda_available() {
        Ok(_) => {
            colsums(&CudaBackend::<f32>::new(0).unwrap());
            colsums(&CudaBackend::<f64>::new(0).unwrap());
        }
        Err(why) => skip_notice(&format!("SKIP cuda: {why}")),
    }
}

// ---- persistent LSTM ---------------------------------------------------------------------------

/// Forward with `fp`, backward with `bp` through the fast methods; the result and which kernels
/// ran.
fn fast_run<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    s: &LstmShape,
    inp: &[Vec<f64>],
    fp: RecPrecision,
    bp: RecPrecision,
) -> (LstmOut<T>, [LstmKernel; 2]) {
    let kinds = std::cell::Cell::new([LstmKernel::PerStep; 2]);
    let out = lstm_run_with(
        be,
        s,
        inp,
        true,
        |x, p, y, saved| {
            let k = be.lstm_fwd_fast(s, x, p, y, saved, fp).unwrap();
            kinds.set([k, kinds.get()[1]]);
        },
        |x, p, y, saved, dy, dx, g| {
            let k = be.lstm_bwd_fast(s, x, p, y, saved, dy, dx, g, bp).unwrap();
            kinds.set([kinds.get()[0], k]);
        },
    );
    (out, kinds.get())
}

const fn shape(m: usize, t: usize, b: usize, i: usize, h: usize) -> LstmShape {
    LstmShape { m, t, b, i, h }
}

/// Seed widths at small T; M = 3 with B = 1; T = 1 with two batch slices (the second partial);
/// B = 1; H = 48 (an odd number of k-tiles) with three slices; a longer T = 24.
const PERSIST_SHAPES: &[LstmShape] = &[
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

fn persist_vs_cpu<D: Device>(be: &KernelBackend<f32, D>) {
    let cpu = CpuBackend::<f64>::new();
    for (q, s) in PERSIST_SHAPES.iter().enumerate() {
        let inp = lstm_inputs(s, 4000 + 100 * q as u32);
        let want = lstm_run(&cpu, s, &inp, true);
        // The mixed mode only on the narrow shapes (emu time); the two others cover every
        // kernel instantiation on every shape.
        let modes = if s.h <= 64 { MODES } else { &MODES[..2] };
        for &(fp, bp, ftol, btol) in modes {
            let (got, kinds) = fast_run(be, s, &inp, fp, bp);
            assert_eq!(
                kinds,
                [LstmKernel::Persistent(fp), LstmKernel::Persistent(bp)],
                "{s:?}"
            );
            let ry = rel_l2(&got.y, &want.y);
            let rs = rel_l2(&got.saved, &want.saved);
            assert!(
                ry <= ftol && rs <= ftol,
                "{} {s:?} fwd {fp:?}: y {ry:e}, saved {rs:e} > {ftol:e}",
                be.name()
            );
            let mut worst = (0.0f64, String::new());
            for ((name, g), (_, w)) in got.grads.iter().zip(&want.grads) {
                let r = rel_l2(g, w);
                assert!(
                    r <= btol,
                    "{} {s:?} fwd {fp:?} bwd {bp:?}: {name} relative L2 {r:e} > {btol:e}",
                    be.name()
                );
                if r > worst.0 {
                    worst = (r, name.clone());
                }
            }
            println!(
                "{} {s:?} {fp:?}/{bp:?}: y {ry:.2e}, saved {rs:.2e}, worst gradient {} {:.2e}",
                be.name(),
                worst.1,
                worst.0
            );
        }
    }
}

#[test]
fn persistent_lstm_matches_f64_cpu_within_each_mode_tolerance() {
    f32_devices!(persist_vs_cpu);
}

fn persist_bits<D: Device>(be: &KernelBackend<f32, D>) {
    let s = shape(3, 4, 18, 8, 32);
    let inp = lstm_inputs(&s, 77);
    for &(fp, bp, _, _) in &MODES[..2] {
        let (a, _) = fast_run(be, &s, &inp, fp, bp);
        let (b, _) = fast_run(be, &s, &inp, fp, bp);
        assert_eq!(bits(&a.y), bits(&b.y), "y");
        assert_eq!(bits(&a.saved), bits(&b.saved), "saved");
        for ((n, x), (_, y)) in a.grads.iter().zip(&b.grads) {
            assert_eq!(bits(x), bits(y), "{n}: two runs differ");
        }
        // Replica r alone: every input sliced to replica r.
        let one = LstmShape { m: 1, ..s };
        for r in 0..s.m {
            let slice = |v: &Vec<f64>| {
                let n = v.len() / s.m;
                v[r * n..(r + 1) * n].to_vec()
            };
            let solo_in: Vec<Vec<f64>> = inp.iter().map(slice).collect();
            let (solo, _) = fast_run(be, &one, &solo_in, fp, bp);
            let part = |v: &[f32], parts: usize, k: usize| {
                let n = v.len() / parts;
                v[k * n..(k + 1) * n].to_vec()
            };
            assert_eq!(bits(&solo.y), bits(&part(&a.y, s.m, r)), "replica {r}: y");
            for d in 0..2 {
                assert_eq!(
                    bits(&part(&solo.saved, 2, d)),
                    bits(&part(&a.saved, 2 * s.m, d * s.m + r)),
                    "replica {r}: saved of direction {d}"
                );
            }
            for ((n, x), (_, y)) in solo.grads.iter().zip(&a.grads) {
                assert_eq!(bits(x), bits(&part(y, s.m, r)), "replica {r}: {n}");
            }
        }
    }
}

#[test]
fn persistent_lstm_is_bit_identical_across_runs_and_joint_vs_solo() {
    f32_devices!(persist_bits);
}

fn fallback<T: Elem, D: Device>(be: &KernelBackend<T, D>) {
    let mut shapes = vec![shape(2, 3, 2, 5, 7), shape(1, 2, 3, 4, 144)];
    if T::DTYPE == "f64" {
        shapes.push(shape(1, 2, 2, 8, 32)); // supported width, but f64
    }
    for s in shapes {
        let inp = lstm_inputs(&s, 55);
        let (fast, kinds) = fast_run(be, &s, &inp, RecPrecision::F16, RecPrecision::Bf16);
        assert_eq!(kinds, [LstmKernel::PerStep; 2], "{} {s:?}", T::DTYPE);
        let plain = lstm_run(be, &s, &inp, true);
        assert_eq!(bits(&fast.y), bits(&plain.y), "{s:?} y");
        assert_eq!(bits(&fast.saved), bits(&plain.saved), "{s:?} saved");
        for ((n, x), (_, y)) in fast.grads.iter().zip(&plain.grads) {
            assert_eq!(bits(x), bits(y), "{s:?} {n}");
        }
    }
}

#[test]
fn unsupported_shapes_fall_back_to_the_per_step_kernels_bit_for_bit() {
    fallback(&EmuBackend::<f32>::new().unwrap());
    fallback(&EmuBackend::<f64>::new().unwrap());
    match cuda_available() {
        Ok(_) => {
            fallback(&CudaBackend::<f32>::new(0).unwrap());
            fallback(&CudaBackend::<f64>::new(0).unwrap());
        }
        Err(why) => skip_notice(&format!("SKIP cuda: {why}")),
    }
}
