//! Test bodies of the gemm, bias_grad and LSTM kernels against the CPU backend (used by
//! tests/gpu_mm.rs on every kernel backend and by tests/emu_sanitize.rs).
//!
//! Reference: `CpuBackend` of the same element type on the same inputs (the `gemm` crate for
//! products, tests/cpu_* and the PyTorch parity tests check it). Tolerances:
//! - gemm: the forward error bound of any summation order. Both results lie within
//!   `(k+1) u · Σ|a||b|` of the exact sum (plus one rounding for the accumulate and the bias
//!   adds), so they differ by at most `2 (k+3) u · (Σ_k |a_ik b_kj| + |c_old| + |bias|)`,
//!   u = eps/2 of the element type. The magnitude term is the CPU f64 gemm on |A|, |B|.
//!   Measured worst on emu: 3.4 u · Σ|a||b| (f32 and f64).
//! - bias_grad: both sum in f64 and round once: bit-exact.
//! - LSTM (y and every gradient, O(1) values): f64 atol 1e-13, f32 atol 2e-5. Measured on
//!   emu: 4.4e-16 (f64) and 2.4e-7 (f32); the bounds leave room for cuda, where nvcc contracts
//!   products into FMAs and the libm exp/tanh differ by an ulp, compounded over T steps.

#![allow(dead_code)]

use crate::common::{EXACT, Tol, check, data, tv};
use recaux::backend::cpu::{CellMath, CpuBackend};
use recaux::backend::{Backend, Elem, GemmSpec, LstmGrads, LstmParams, LstmShape};

/// Max |got - want| (for the report lines the tests print).
pub fn max_abs<T: Elem>(got: &[T], want: &[T]) -> f64 {
    got.iter()
        .zip(want)
        .map(|(g, w)| (g.f64() - w.f64()).abs())
        .fold(0.0, f64::max)
}

/// The gemm shapes: unit, odd, tile edges (64 + 1), degenerate (m or n = 1, k = 0).
pub const GEMM_SHAPES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (7, 13, 5),
    (65, 33, 17),
    (1, 70, 20),
    (66, 1, 3),
    (3, 4, 0),
    (2, 3, 64),
];

fn cpu_gemm<T: CellMath>(s: &GemmSpec, a: &[T], b: &[T], bias: Option<&[T]>, c0: &[T]) -> Vec<T> {
    let cpu = CpuBackend::<T>::new();
    let (ab, bb) = (cpu.upload(a).unwrap(), cpu.upload(b).unwrap());
    let biasb = bias.map(|v| cpu.upload(v).unwrap());
    let mut cb = cpu.upload(c0).unwrap();
    cpu.gemm(s, &ab, &bb, biasb.as_ref(), &mut cb).unwrap();
    cpu.download(&cb).unwrap()
}

/// One gemm variant on `be` against the CPU backend; returns the largest error relative to
/// the bound's magnitude term.
pub fn gemm_case<B: Backend>(be: &B, s: &GemmSpec, with_bias: bool, seed: u32) -> f64
where
    B::T: CellMath,
{
    let (mk, kn, mn) = (s.m * s.k, s.k * s.n, s.m * s.n);
    let a = data(if s.a_shared { mk } else { s.batch * mk }, seed);
    let b = data(s.batch * kn, seed + 1);
    let bias = data(s.batch * s.n, seed + 2);
    let c0 = data(s.batch * mn, seed + 3);
    let (at, bt, biast, c0t) = (
        tv::<B::T>(&a),
        tv::<B::T>(&b),
        tv::<B::T>(&bias),
        tv::<B::T>(&c0),
    );
    let want = cpu_gemm(s, &at, &bt, with_bias.then_some(&biast[..]), &c0t);
    // magnitude: the same product on |values| in f64
    let abs = |v: &[B::T]| v.iter().map(|x| x.f64().abs()).collect::<Vec<f64>>();
    let mag = cpu_gemm(
        s,
        &abs(&at),
        &abs(&bt),
        with_bias.then_some(&abs(&biast)[..]),
        &abs(&c0t),
    );
    let (ab, bb) = (be.upload(&at).unwrap(), be.upload(&bt).unwrap());
    let biasb = be.upload(&biast).unwrap();
    let mut cb = be.upload(&c0t).unwrap();
    be.gemm(s, &ab, &bb, with_bias.then_some(&biasb), &mut cb)
        .unwrap();
    let got = be.download(&cb).unwrap();
    let u = if B::T::DTYPE == "f32" {
        f32::EPSILON as f64
    } else {
        f64::EPSILON
    } / 2.0;
    let mut worst = 0.0f64;
    for (i, ((g, w), mg)) in got.iter().zip(&want).zip(&mag).enumerate() {
        let err = (g.f64() - w.f64()).abs();
        let bound = 2.0 * (s.k as f64 + 3.0) * u * mg;
        assert!(
            err <= bound,
            "{} {} gemm {s:?} bias {with_bias}: element {i}: got {g}, want {w}, err {err:e} > {bound:e}",
            be.name(),
            B::T::DTYPE
        );
        if *mg > 0.0 {
            worst = worst.max(err / (mg * u));
        }
    }
    worst
}

const ALL_FLAGS: [u32; 32] = {
    let mut a = [0u32; 32];
    let mut i = 0;
    while i < 32 {
        a[i] = i as u32;
        i += 1;
    }
    a
};

/// Transpose / shared-A / accumulate / bias combinations (flag bits 1, 2, 4, 8, 16) on every
/// shape: all 32 on the odd shapes 7x13x5 and 65x33x17.
pub fn gemm_all<B: Backend>(be: &B)
where
    B::T: CellMath,
{
    let mut worst = 0.0f64;
    let mut seed = 100;
    for (q, &(m, n, k)) in GEMM_SHAPES.iter().enumerate() {
        // all 32 flag combinations on the two odd shapes, 6 spread ones on the others (emu
        // launches are slow: a host thread per CUDA thread)
        let flags: &[u32] = if q == 1 || q == 2 {
            &ALL_FLAGS
        } else {
            &[0, 7, 10, 21, 27, 31]
        };
        for &bits in flags {
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
            worst = worst.max(gemm_case(be, &s, bits & 16 != 0, seed));
            seed += 4;
        }
    }
    println!(
        "{} {} gemm: worst |err| = {worst:.2} u * sum|a||b|",
        be.name(),
        B::T::DTYPE
    );
}

/// bias_grad against the CPU backend, bit-exact (both sum rows in order in f64).
pub fn bias_grad<B: Backend>(be: &B)
where
    B::T: CellMath,
{
    for &(batch, rows, cols) in &[(1, 1, 1), (2, 7, 13), (3, 130, 5), (2, 0, 4)] {
        let dy = tv::<B::T>(&data(batch * rows * cols, 7));
        let db0 = tv::<B::T>(&data(batch * cols, 8));
        let cpu = CpuBackend::<B::T>::new();
        let mut want = cpu.upload(&db0).unwrap();
        cpu.bias_grad(batch, rows, cols, &cpu.upload(&dy).unwrap(), &mut want)
            .unwrap();
        let want = cpu.download(&want).unwrap();
        let mut got = be.upload(&db0).unwrap();
        be.bias_grad(batch, rows, cols, &be.upload(&dy).unwrap(), &mut got)
            .unwrap();
        let got = be.download(&got).unwrap();
        let w64: Vec<f64> = want.iter().map(|v| v.f64()).collect();
        check(
            be,
            &format!("bias_grad {batch}x{rows}x{cols}"),
            &got,
            &w64,
            EXACT,
            EXACT,
        );
    }
}

/// Everything an LSTM fwd+bwd produces, downloaded.
pub struct LstmOut<T> {
    pub y: Vec<T>,
    pub saved: Vec<T>,
    /// dx, then per direction dW_ih, dW_hh, db_ih, db_hh.
    pub grads: Vec<(String, Vec<T>)>,
}

/// Inputs of an LSTM case: x, per direction w_ih, w_hh, b_ih, b_hh, then dy, dx0 and the
/// initial gradient values (backward accumulates into them).
pub fn lstm_inputs(s: &LstmShape, seed: u32) -> Vec<Vec<f64>> {
    let g4 = 4 * s.h;
    let bound = 1.0 / (s.h as f64).sqrt();
    let scaled = |n: usize, sd: u32| {
        data(n, sd)
            .into_iter()
            .map(|v| v * bound)
            .collect::<Vec<_>>()
    };
    let mut v = vec![data(s.x_len(), seed)];
    for d in 0..2u32 {
        let sd = seed + 10 * (d + 1);
        v.push(scaled(s.m * g4 * s.i, sd));
        v.push(scaled(s.m * g4 * s.h, sd + 1));
        v.push(scaled(s.m * g4, sd + 2));
        v.push(scaled(s.m * g4, sd + 3));
    }
    v.push(data(s.y_len(), seed + 40)); // dy
    v.push(data(s.x_len(), seed + 41)); // dx before
    for d in 0..2u32 {
        let sd = seed + 50 + 10 * d;
        v.push(data(s.m * g4 * s.i, sd));
        v.push(data(s.m * g4 * s.h, sd + 1));
        v.push(data(s.m * g4, sd + 2));
        v.push(data(s.m * g4, sd + 3));
    }
    v
}

/// lstm_fwd then lstm_bwd on `be` with inputs from [`lstm_inputs`] (cast to the element type).
pub fn lstm_run<B: Backend>(
    be: &B,
    s: &LstmShape,
    inp: &[Vec<f64>],
    with_dx: bool,
) -> LstmOut<B::T> {
    lstm_run_with(
        be,
        s,
        inp,
        with_dx,
        |x, p, y, saved| be.lstm_fwd(s, x, p, y, saved).unwrap(),
        |x, p, y, saved, dy, dx, g| be.lstm_bwd(s, x, p, y, saved, dy, dx, g).unwrap(),
    )
}

/// [`lstm_run`] with the forward and backward passes given (e.g. another kernel's).
pub fn lstm_run_with<B: Backend>(
    be: &B,
    s: &LstmShape,
    inp: &[Vec<f64>],
    with_dx: bool,
    fwd: impl FnOnce(&B::Buf, &LstmParams<B>, &mut B::Buf, &mut B::Buf),
    bwd: impl FnOnce(
        &B::Buf,
        &LstmParams<B>,
        &B::Buf,
        &B::Buf,
        &B::Buf,
        Option<&mut B::Buf>,
        &mut LstmGrads<B>,
    ),
) -> LstmOut<B::T> {
    let up = |v: &Vec<f64>| be.upload(&tv::<B::T>(v)).unwrap();
    let x = up(&inp[0]);
    let w: Vec<B::Buf> = inp[1..9].iter().map(up).collect();
    let p = LstmParams {
        w_ih: [&w[0], &w[4]],
        w_hh: [&w[1], &w[5]],
        b_ih: [&w[2], &w[6]],
        b_hh: [&w[3], &w[7]],
    };
    let mut y = be.alloc(s.y_len()).unwrap();
    let mut saved = be.alloc(s.saved_len()).unwrap();
    fwd(&x, &p, &mut y, &mut saved);
    let dy = up(&inp[9]);
    let mut dx = up(&inp[10]);
    let mut gb: Vec<B::Buf> = inp[11..19].iter().map(up).collect();
    {
        let [g0, g1, g2, g3, g4, g5, g6, g7] = &mut gb[..] else {
            unreachable!()
        };
        let mut g = LstmGrads {
            w_ih: [g0, g4],
            w_hh: [g1, g5],
            b_ih: [g2, g6],
            b_hh: [g3, g7],
        };
        bwd(
            &x,
            &p,
            &y,
            &saved,
            &dy,
            if with_dx { Some(&mut dx) } else { None },
            &mut g,
        );
    }
    let names = ["w_ih", "w_hh", "b_ih", "b_hh"];
    let mut grads = vec![("dx".to_string(), be.download(&dx).unwrap())];
    for (k, buf) in gb.iter().enumerate() {
        grads.push((
            format!("d{}[{}]", names[k % 4], k / 4),
            be.download(buf).unwrap(),
        ));
    }
    LstmOut {
        y: be.download(&y).unwrap(),
        saved: be.download(&saved).unwrap(),
        grads,
    }
}

/// The LSTM shapes: H not a multiple of the block / tile, B = 1, T = 1, M = 1..3, and one
/// with more cells than the emu step grid (8 x 128) so the grid-stride loops run.
pub const LSTM_SHAPES: &[LstmShape] = &[
    LstmShape {
        m: 2,
        t: 4,
        b: 3,
        i: 5,
        h: 7,
    },
    LstmShape {
        m: 1,
        t: 1,
        b: 1,
        i: 3,
        h: 2,
    },
    LstmShape {
        m: 3,
        t: 3,
        b: 1,
        i: 2,
        h: 5,
    },
    LstmShape {
        m: 2,
        t: 5,
        b: 2,
        i: 4,
        h: 33,
    },
    LstmShape {
        m: 1,
        t: 2,
        b: 9,
        i: 3,
        h: 130,
    },
];

/// lstm fwd+bwd on `be` against the CPU backend, every output and gradient (dx included).
pub fn lstm_vs_cpu<B: Backend>(be: &B)
where
    B::T: CellMath,
{
    let cpu = CpuBackend::<B::T>::new();
    let t32 = Tol {
        atol: 2e-5,
        rtol: 0.0,
    };
    let t64 = Tol {
        atol: 1e-13,
        rtol: 0.0,
    };
    let mut worst = 0.0f64;
    for (k, s) in LSTM_SHAPES.iter().enumerate() {
        let inp = lstm_inputs(s, 1000 + 100 * k as u32);
        // without dx on the first shape only (emu launches are slow)
        let dx_cases: &[bool] = if k == 0 { &[true, false] } else { &[true] };
        for &with_dx in dx_cases {
            let got = lstm_run(be, s, &inp, with_dx);
            let want = lstm_run(&cpu, s, &inp, with_dx);
            let w64 = |v: &[B::T]| v.iter().map(|x| x.f64()).collect::<Vec<f64>>();
            check(
                be,
                &format!("lstm y {s:?}"),
                &got.y,
                &w64(&want.y),
                t32,
                t64,
            );
            worst = worst.max(max_abs(&got.y, &want.y));
            for ((name, g), (_, w)) in got.grads.iter().zip(&want.grads) {
                check(
                    be,
                    &format!("lstm {name} {s:?} dx {with_dx}"),
                    g,
                    &w64(w),
                    t32,
                    t64,
                );
                worst = worst.max(max_abs(g, w));
            }
            if !with_dx {
                // dx untouched when not asked for
                assert_eq!(
                    got.grads[0].1,
                    tv::<B::T>(&inp[10]),
                    "dx written although None"
                );
            }
        }
    }
    println!(
        "{} {} lstm vs cpu: max |err| = {worst:e}",
        be.name(),
        B::T::DTYPE
    );
}

/// Shape errors and the empty-shape error.
pub fn mm_errors<B: Backend>(be: &B) {
    let s = LstmShape {
        m: 1,
        t: 2,
        b: 1,
        i: 3,
        h: 2,
    };
    let inp = lstm_inputs(&s, 5);
    let up = |v: &Vec<f64>| be.upload(&tv::<B::T>(v)).unwrap();
    let w: Vec<B::Buf> = inp[1..9].iter().map(up).collect();
    let p = LstmParams {
        w_ih: [&w[0], &w[4]],
        w_hh: [&w[1], &w[5]],
        b_ih: [&w[2], &w[6]],
        b_hh: [&w[3], &w[7]],
    };
    let x = be.alloc(s.x_len() + 1).unwrap();
    let mut y = be.alloc(s.y_len()).unwrap();
    let mut saved = be.alloc(s.saved_len()).unwrap();
    let e = be.lstm_fwd(&s, &x, &p, &mut y, &mut saved).unwrap_err();
    assert!(matches!(e, recaux::Error::Shape(_)), "{e}");
    let mut db = be.alloc(3).unwrap();
    let e = be
        .bias_grad(1, 2, 3, &be.alloc(5).unwrap(), &mut db)
        .unwrap_err();
    assert!(matches!(e, recaux::Error::Shape(_)), "{e}");
}

/// A reduced set for the sanitizer runs (tests/emu_sanitize.rs): a few gemm variants on
/// tile-edge shapes and bias_grad against the CPU backend (single-threaded at these sizes),
/// and two LSTM shapes (one with grid-stride loops on emu) run twice.
pub fn sanitize_cases<B: Backend>(be: &B)
where
    B::T: CellMath,
{
    let mut seed = 9000;
    for &(m, n, k) in &[(65, 33, 17), (1, 70, 20), (3, 4, 0)] {
        for bits in [0u32, 3, 5, 14, 31] {
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
            gemm_case(be, &s, bits & 16 != 0, seed);
            seed += 4;
        }
    }
    bias_grad(be);
    // The LSTM runs twice and must agree bit for bit (no CPU reference here: the CPU LSTM
    // runs on rayon, whose synchronisation ThreadSanitizer cannot see).
    for s in [LSTM_SHAPES[0], LSTM_SHAPES[4]] {
        let inp = lstm_inputs(&s, 31);
        let a = lstm_run(be, &s, &inp, true);
        let b = lstm_run(be, &s, &inp, true);
        assert!(a.y.iter().all(|v| v.f64().is_finite()), "lstm y {s:?}");
        assert_eq!(a.y, b.y, "lstm y {s:?}");
        for ((n, x), (_, y)) in a.grads.iter().zip(&b.grads) {
            assert_eq!(x, y, "lstm {n} {s:?}");
        }
    }
    mm_errors(be);
}
