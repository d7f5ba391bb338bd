//! Cross entropy (`ce_fwd`, `ce_bwd`): kernels/ce.cu, src/backend/{kernel,cpu}/ce.rs.

use crate::common::*;
use recaux::backend::Backend;

/// (replicas, batch, classes).
const CASES: [(usize, usize, usize); 4] = [(1, 1, 1), (3, 32, 8), (2, 300, 10), (2, 77, 3)];

fn labels(b: usize, c: usize) -> Vec<i32> {
    (0..b).map(|i| ((i * 7 + 3) % c) as i32).collect()
}

fn scale(m: usize) -> Vec<f64> {
    (0..m).map(|k| 1.0 + 0.5 * k as f64).collect()
}

fn inputs(m: usize, b: usize, c: usize) -> Vec<Vec<f64>> {
    let logits = data(m * b * c, 16).iter().map(|v| 4.0 * v).collect();
    vec![logits, data(m * b * c, 17)]
}

/// loss = ce_fwd(logits, labels), then dlogits0 + ce_bwd(scale).
fn run<B: Backend>(be: &B, m: usize, b: usize, c: usize, inp: &[Vec<f64>]) -> Vec<Vec<B::T>> {
    let lb = be.upload(&tv(&inp[0])).unwrap();
    let lab = be.upload_idx(&labels(b, c)).unwrap();
    let mut loss = be.alloc(m).unwrap();
    be.ce_fwd(m, b, c, &lb, &lab, &mut loss).unwrap();
    let mut dl = be.upload(&tv(&inp[1])).unwrap();
    be.ce_bwd(b, c, &scale(m), &lb, &lab, &mut dl).unwrap();
    vec![be.download(&loss).unwrap(), be.download(&dl).unwrap()]
}

#[test]
fn ce_reference_is_the_formula() {
    for (m, b, c) in CASES {
        let inp = inputs(m, b, c);
        let out = run(&reference(), m, b, c, &inp);
        let y = labels(b, c);
        let sc = scale(m);
        let mut loss = vec![0.0; m];
        let mut dl = inp[1].clone();
        for r in 0..m {
            for row in 0..b {
                let o = (r * b + row) * c;
                let x = &inp[0][o..o + c];
                let mx = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let s: f64 = x.iter().map(|v| (v - mx).exp()).sum();
                loss[r] += (s.ln() + mx - x[y[row] as usize]) / b as f64;
                for j in 0..c {
                    let onehot = if y[row] as usize == j { 1.0 } else { 0.0 };
                    dl[o + j] += sc[r] / b as f64 * ((x[j] - mx).exp() / s - onehot);
                }
            }
        }
        // the same formula summed in another order: a few ulp
        check(
            &reference(),
            "ce_fwd",
            &out[0],
            &loss,
            EXACT,
            Tol::new(1e-15, 1e-13),
        );
        check(
            &reference(),
            "ce_bwd",
            &out[1],
            &dl,
            EXACT,
            Tol::new(1e-15, 1e-13),
        );
    }
}

/// fwd: expf/logf (<= 2 ulp each) on logits up to 4 in magnitude, summed over C in T
/// (f32: 2e-6 absolute and relative of the loss; f64: a few ulp, 1e-13). bwd: softmax in T
/// (~4 ulp) times scale / B added to O(1) values (f32: 1e-6; f64: 1e-15 + 1e-13 relative).
fn vs_reference<B: Backend>(be: &B) {
    for (m, b, c) in CASES {
        let inp: Vec<Vec<f64>> = inputs(m, b, c).iter().map(|v| rounded::<B::T>(v)).collect();
        let got = run(be, m, b, c, &inp);
        let want = run(&reference(), m, b, c, &inp);
        check(
            be,
            "ce_fwd",
            &got[0],
            &want[0],
            Tol::new(2e-6, 2e-6),
            Tol::rel(1e-13),
        );
        let t32 = Tol::new(1e-6, 1e-6);
        check(be, "ce_bwd", &got[1], &want[1], t32, Tol::new(1e-15, 1e-13));
    }
}

#[test]
fn ce_matches_the_f64_reference() {
    every_backend!(vs_reference);
}

/// Two runs give the same bits. On emu this can only catch a race between the threads of one
/// block; an order dependence between blocks can only show on cuda (scripts/gpu-check.sh).
fn rerun_is_bit_identical<B: Backend>(be: &B) {
    let (m, b, c) = (3, 300, 10);
    let inp = inputs(m, b, c);
    assert_bits_eq(
        &be.name(),
        &run(be, m, b, c, &inp)[0],
        &run(be, m, b, c, &inp)[0],
    );
}

#[test]
fn ce_fwd_rerun_is_bit_identical() {
    every_backend!(rerun_is_bit_identical);
}

/// Outputs of every ce kernel, for the any-grid check.
pub fn outputs<B: Backend>(be: &B) -> Vec<Vec<B::T>> {
    let (m, b, c) = (3, 300, 10);
    run(be, m, b, c, &inputs(m, b, c))
}
