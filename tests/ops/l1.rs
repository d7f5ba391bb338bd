//! L1 loss (`l1_fwd`, `l1_bwd`): kernels/l1.cu (`l1_fwd_partial`, `l1_fwd_finish`,
//! `l1_bwd`), src/backend/{kernel,cpu}/l1.rs.

use crate::common::*;
use recaux::backend::Backend;

/// (replicas, n): one element, one chunk, several chunks, the most chunks (256) with a
/// ragged last one.
const CASES: [(usize, usize); 4] = [(1, 1), (3, 1000), (2, 20_011), (1, 300_001)];

fn scale(m: usize) -> Vec<f64> {
    (0..m).map(|k| 0.5 + k as f64).collect()
}

fn inputs(m: usize, n: usize) -> Vec<Vec<f64>> {
    vec![data(n, 13), data(m * n, 14), data(m * n, 15)]
}

/// loss = l1_fwd(target, r), then dr0 + l1_bwd(scale).
fn run<B: Backend>(be: &B, m: usize, n: usize, inp: &[Vec<f64>]) -> Vec<Vec<B::T>> {
    let tb = be.upload(&tv(&inp[0])).unwrap();
    let rb = be.upload(&tv(&inp[1])).unwrap();
    let mut loss = be.alloc(m).unwrap();
    // partial sums over all-ones bytes (NaN): they must all be written before they are read
    let z = be.l1_scratch(m, n);
    let mut scratch = be.alloc_bytes(z).unwrap();
    be.write_bytes(&mut scratch, &vec![0xFF; z]).unwrap();
    be.l1_fwd(m, n, &tb, &rb, &mut loss, &mut scratch).unwrap();
    let mut dr = be.upload(&tv(&inp[2])).unwrap();
    be.l1_bwd(n, &scale(m), &tb, &rb, &mut dr).unwrap();
    vec![be.download(&loss).unwrap(), be.download(&dr).unwrap()]
}

#[test]
fn l1_reference_is_the_formula() {
    for (m, n) in CASES {
        let inp = inputs(m, n);
        let out = run(&reference(), m, n, &inp);
        let (t, r, dr0) = (&inp[0], &inp[1], &inp[2]);
        let want: Vec<f64> = (0..m)
            .map(|k| (0..n).map(|i| (r[k * n + i] - t[i]).abs()).sum::<f64>() / n as f64)
            .collect();
        // the reference sums in chunks; the formula in one pass: reordering n additions
        check(
            &reference(),
            "l1_fwd",
            &out[0],
            &want,
            EXACT,
            Tol::rel(1e-13),
        );
        let sc = scale(m);
        let want: Vec<f64> = (0..m * n)
            .map(|k| {
                let g = sc[k / n] / n as f64;
                let d = r[k] - t[k % n];
                dr0[k]
                    + if d > 0.0 {
                        g
                    } else if d < 0.0 {
                        -g
                    } else {
                        0.0
                    }
            })
            .collect();
        assert_eq!(out[1], want, "l1_bwd {m}x{n}");
    }
}

/// fwd: |r - target| rounded to T once per element, summed in f64 in another order, the
/// mean rounded to T (f32: 2.5 EPS32 relative; f64: the reordering of up to 3e5 additions,
/// 1e-12 relative). bwd: dr0 +- T(scale / n): two roundings, the first of a term of size
/// <= kmax = max scale / n (f32: atol 2 EPS32 kmax, rtol EPS32; f64: the same operations,
/// exact).
fn vs_reference<B: Backend>(be: &B) {
    for (m, n) in CASES {
        let inp: Vec<Vec<f64>> = inputs(m, n).iter().map(|v| rounded::<B::T>(v)).collect();
        let got = run(be, m, n, &inp);
        let want = run(&reference(), m, n, &inp);
        check(
            be,
            "l1_fwd",
            &got[0],
            &want[0],
            Tol::rel(3e-7),
            Tol::rel(1e-12),
        );
        let kmax = scale(m).iter().cloned().fold(0.0, f64::max) / n as f64;
        let t32 = Tol::new(2.0 * EPS32 * kmax, EPS32);
        check(be, "l1_bwd", &got[1], &want[1], t32, EXACT);
    }
}

#[test]
fn l1_matches_the_f64_reference() {
    every_backend!(vs_reference);
}

/// Two runs of the forward reduction give the same bits (fixed-order reduction). On emu this
/// can only catch a race between the threads of one block (blocks run one after another);
/// an order dependence between blocks can only show on cuda (scripts/gpu-check.sh runs it).
fn rerun_is_bit_identical<B: Backend>(be: &B) {
    let (m, n) = (2, 20_011);
    let inp = inputs(m, n);
    assert_bits_eq(&be.name(), &run(be, m, n, &inp)[0], &run(be, m, n, &inp)[0]);
}

#[test]
fn l1_fwd_rerun_is_bit_identical() {
    every_backend!(rerun_is_bit_identical);
}

/// Outputs of every l1 kernel, for the any-grid check: 3 chunks per replica, 2 replicas.
pub fn outputs<B: Backend>(be: &B) -> Vec<Vec<B::T>> {
    let (m, n) = (2, 20_011);
    run(be, m, n, &inputs(m, n))
}
