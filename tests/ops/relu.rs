//! relu (`relu_fwd`, `relu_bwd`): kernels/relu.cu, src/backend/{kernel,cpu}/relu.rs.

use crate::common::*;
use recaux::backend::Backend;

const SIZES: [usize; 5] = [1, 7, 256, 1000, 4099];

/// y = relu(x), then dx0 + relu_bwd(y, dy), from inputs `x, dy, dx0` (rounded to `B::T`).
fn run<B: Backend>(be: &B, inp: &[Vec<f64>]) -> Vec<Vec<B::T>> {
    let n = inp[0].len();
    let x = be.upload(&tv(&inp[0])).unwrap();
    let mut y = be.alloc(n).unwrap();
    be.relu_fwd(n, &x, &mut y).unwrap();
    let dy = be.upload(&tv(&inp[1])).unwrap();
    let mut dx = be.upload(&tv(&inp[2])).unwrap();
    be.relu_bwd(n, &y, &dy, &mut dx).unwrap();
    vec![be.download(&y).unwrap(), be.download(&dx).unwrap()]
}

fn inputs(n: usize) -> Vec<Vec<f64>> {
    let mut x = data(n, 1);
    if n > 2 {
        x[1] = 0.0; // relu'(0) = 0, as PyTorch
    }
    vec![x, data(n, 2), data(n, 3)]
}

#[test]
fn relu_reference_is_the_formula() {
    for n in SIZES {
        let inp = inputs(n);
        let out = run(&reference(), &inp);
        let (x, dy, dx0) = (&inp[0], &inp[1], &inp[2]);
        let want_y: Vec<f64> = x.iter().map(|v| v.max(0.0)).collect();
        let want_dx: Vec<f64> = (0..n)
            .map(|i| dx0[i] + if want_y[i] > 0.0 { dy[i] } else { 0.0 })
            .collect();
        assert_eq!(out[0], want_y, "relu_fwd n={n}");
        assert_eq!(out[1], want_dx, "relu_bwd n={n}");
    }
}

/// Against the f64 reference on the rounded inputs: relu_fwd selects (exact); relu_bwd adds
/// once in T (f32: one rounding, at most EPS32 / 2 relative; f64: the same add, exact).
fn vs_reference<B: Backend>(be: &B) {
    for n in SIZES {
        let inp: Vec<Vec<f64>> = inputs(n).iter().map(|v| rounded::<B::T>(v)).collect();
        let got = run(be, &inp);
        let want = run(&reference(), &inp);
        check(be, "relu_fwd", &got[0], &want[0], EXACT, EXACT);
        check(be, "relu_bwd", &got[1], &want[1], Tol::rel(EPS32), EXACT);
    }
}

#[test]
fn relu_matches_the_f64_reference() {
    every_backend!(vs_reference);
}

/// Outputs of every relu kernel, for the any-grid check (tests/ops/grid.rs).
pub fn outputs<B: Backend>(be: &B) -> Vec<Vec<B::T>> {
    run(be, &inputs(4099))
}
