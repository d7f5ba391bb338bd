//! gemm (`gemm`, `gemm_bias_grad`): kernels/gemm.cu, src/backend/{kernel,cpu}/gemm.rs.
//!
//! Tolerance of a product (any summation order): a result in precision u = eps/2 lies within
//! `(k+1) u · Σ_k |a_ik b_kj|` of the exact value, plus one rounding each for the accumulate
//! and the bias adds; two such results differ by at most
//! `2 (k+3) u · (Σ_k |a_ik b_kj| + |c_old| + |bias|)`. The magnitude term is the reference's
//! product of |A| and |B|. Measured worst on emu: 3.4 u · Σ|a||b|.

use crate::common::*;
use recaux::backend::{Backend, Elem, GemmSpec};

/// Unit, odd, tile edges (64 + 1), degenerate (m or n = 1, k = 0).
const SHAPES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (7, 13, 5),
    (65, 33, 17),
    (1, 70, 20),
    (66, 1, 3),
    (3, 4, 0),
    (2, 3, 64),
];

/// The spec for flag bits: 1 trans_a, 2 trans_b, 4 a_shared, 8 accumulate (16: bias, not in
/// the spec).
pub fn spec(m: usize, n: usize, k: usize, bits: u32) -> GemmSpec {
    GemmSpec {
        batch: 2,
        m,
        n,
        k,
        trans_a: bits & 1 != 0,
        trans_b: bits & 2 != 0,
        a_shared: bits & 4 != 0,
        accumulate: bits & 8 != 0,
    }
}

/// a, b, bias, c0 for a spec.
pub fn inputs(s: &GemmSpec, seed: u32) -> Vec<Vec<f64>> {
    let (mk, kn, mn) = (s.m * s.k, s.k * s.n, s.m * s.n);
    vec![
        data(if s.a_shared { mk } else { s.batch * mk }, seed),
        data(s.batch * kn, seed + 1),
        data(s.batch * s.n, seed + 2),
        data(s.batch * mn, seed + 3),
    ]
}

/// c0 then gemm into it.
pub fn run<B: Backend>(be: &B, s: &GemmSpec, bias: bool, inp: &[Vec<f64>]) -> Vec<B::T> {
    let up = |v: &Vec<f64>| be.upload(&tv(v)).unwrap();
    let (a, b, bb) = (up(&inp[0]), up(&inp[1]), up(&inp[2]));
    let mut c = up(&inp[3]);
    be.gemm(s, &a, &b, bias.then_some(&bb), &mut c).unwrap();
    be.download(&c).unwrap()
}

/// The naive triple loop in f64, for the reference's own check.
fn formula(s: &GemmSpec, bias: bool, inp: &[Vec<f64>]) -> Vec<f64> {
    let (m, n, k) = (s.m, s.n, s.k);
    let mut c = inp[3].clone();
    for r in 0..s.batch {
        let ao = if s.a_shared { 0 } else { r * m * k };
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0.0;
                for l in 0..k {
                    let a = inp[0][ao + if s.trans_a { l * m + i } else { i * k + l }];
                    let b = inp[1][r * k * n + if s.trans_b { j * k + l } else { l * n + j }];
                    acc += a * b;
                }
                let o = r * m * n + i * n + j;
                c[o] = if s.accumulate { c[o] + acc } else { acc };
                if bias {
                    c[o] += inp[2][r * n + j];
                }
            }
        }
    }
    c
}

/// |values| of the inputs: the magnitude term of the bound.
pub fn abs_inputs(inp: &[Vec<f64>]) -> Vec<Vec<f64>> {
    inp.iter()
        .map(|v| v.iter().map(|x| x.abs()).collect())
        .collect()
}

/// `got` against `want` within 2 (k+3) u · mag; returns the worst error in units of u · mag.
fn within_bound(what: &str, k: usize, u: f64, got: &[f64], want: &[f64], mag: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = 0.0f64;
    for (i, ((g, w), mg)) in got.iter().zip(want).zip(mag).enumerate() {
        let err = (g - w).abs();
        let bound = 2.0 * (k as f64 + 3.0) * u * mg;
        assert!(
            err <= bound,
            "{what}: element {i}: got {g}, want {w}, err {err:e} > {bound:e}"
        );
        if *mg > 0.0 {
            worst = worst.max(err / (mg * u));
        }
    }
    worst
}

/// Which flag combinations run on shape q: all 32 on the odd shapes 7x13x5 and 65x33x17, six
/// spread ones on the others (emu launches are slow).
fn flags(q: usize) -> Vec<u32> {
    if q == 1 || q == 2 {
        (0..32).collect()
    } else {
        vec![0, 7, 10, 21, 27, 31]
    }
}

#[test]
fn gemm_reference_is_the_triple_loop() {
    let cpu = reference();
    let mut seed = 500;
    for (q, &(m, n, k)) in SHAPES.iter().enumerate() {
        for bits in flags(q) {
            let s = spec(m, n, k, bits);
            let inp = inputs(&s, seed);
            seed += 4;
            let got = run(&cpu, &s, bits & 16 != 0, &inp);
            let want = formula(&s, bits & 16 != 0, &inp);
            let mag = formula(&s, bits & 16 != 0, &abs_inputs(&inp));
            within_bound(
                &format!("cpu f64 gemm {s:?}"),
                k,
                EPS64 / 2.0,
                &got,
                &want,
                &mag,
            );
        }
    }
}

fn vs_reference<B: Backend>(be: &B) {
    let u = if B::T::DTYPE == "f32" { EPS32 } else { EPS64 } / 2.0;
    let mut worst = 0.0f64;
    let mut seed = 100;
    for (q, &(m, n, k)) in SHAPES.iter().enumerate() {
        for bits in flags(q) {
            let s = spec(m, n, k, bits);
            let bias = bits & 16 != 0;
            let inp: Vec<Vec<f64>> = inputs(&s, seed)
                .iter()
                .map(|v| rounded::<B::T>(v))
                .collect();
            seed += 4;
            let got = f64s(&run(be, &s, bias, &inp));
            let want = run(&reference(), &s, bias, &inp);
            let mag = run(&reference(), &s, bias, &abs_inputs(&inp));
            let what = format!("{} {} gemm {s:?} bias {bias}", be.name(), B::T::DTYPE);
            worst = worst.max(within_bound(&what, k, u, &got, &want, &mag));
        }
    }
    println!(
        "{} {} gemm vs f64 reference: worst |err| = {worst:.2} u * sum|a||b|",
        be.name(),
        B::T::DTYPE
    );
}

#[test]
fn gemm_matches_the_f64_reference() {
    every_backend!(vs_reference);
}

/// (batch, rows, cols).
const BIAS_GRAD: [(usize, usize, usize); 4] = [(1, 1, 1), (2, 7, 13), (3, 130, 5), (2, 0, 4)];

pub fn run_bias_grad<B: Backend>(
    be: &B,
    shape: (usize, usize, usize),
    inp: &[Vec<f64>],
) -> Vec<B::T> {
    let (batch, rows, cols) = shape;
    let dy = be.upload(&tv(&inp[0])).unwrap();
    let mut db = be.upload(&tv(&inp[1])).unwrap();
    be.gemm_bias_grad(batch, rows, cols, &dy, &mut db).unwrap();
    be.download(&db).unwrap()
}

pub fn bias_grad_inputs(shape: (usize, usize, usize)) -> Vec<Vec<f64>> {
    let (batch, rows, cols) = shape;
    vec![data(batch * rows * cols, 7), data(batch * cols, 8)]
}

#[test]
fn gemm_bias_grad_reference_is_the_column_sum() {
    for shape in BIAS_GRAD {
        let (batch, rows, cols) = shape;
        let inp = bias_grad_inputs(shape);
        let got = run_bias_grad(&reference(), shape, &inp);
        let want: Vec<f64> = (0..batch * cols)
            .map(|o| {
                let (r, j) = (o / cols, o % cols);
                inp[1][o]
                    + (0..rows)
                        .map(|i| inp[0][(r * rows + i) * cols + j])
                        .sum::<f64>()
            })
            .collect();
        assert_eq!(got, want, "gemm_bias_grad {shape:?}");
    }
}

/// Rows summed in f64 in order on every backend (the same sum), rounded to T and added to
/// db0: f32 two roundings of terms up to `rows` in size (atol EPS32 · rows, rtol EPS32);
/// f64 the same operations: exact.
fn bias_grad_vs_reference<B: Backend>(be: &B) {
    for shape in BIAS_GRAD {
        let inp: Vec<Vec<f64>> = bias_grad_inputs(shape)
            .iter()
            .map(|v| rounded::<B::T>(v))
            .collect();
        let got = run_bias_grad(be, shape, &inp);
        let want = run_bias_grad(&reference(), shape, &inp);
        let t32 = Tol::new(EPS32 * shape.1.max(1) as f64, EPS32);
        check(
            be,
            &format!("gemm_bias_grad {shape:?}"),
            &got,
            &want,
            t32,
            EXACT,
        );
    }
}

#[test]
fn gemm_bias_grad_matches_the_f64_reference() {
    every_backend!(bias_grad_vs_reference);
}

/// Outputs of both gemm kernels, for the any-grid check: every flag combination on a shape
/// of several tiles in m and n, and a column sum.
pub fn outputs<B: Backend>(be: &B) -> Vec<Vec<B::T>> {
    let mut out = Vec::new();
    for bits in 0..32 {
        let s = spec(65, 33, 17, bits);
        out.push(run(be, &s, bits & 16 != 0, &inputs(&s, 300 + bits)));
    }
    let shape = (3, 130, 5);
    out.push(run_bias_grad(be, shape, &bias_grad_inputs(shape)));
    out
}
