//! clamp (`clamp_fwd`, `clamp_bwd`): kernels/clamp.cu, src/backend/{kernel,cpu}/clamp.rs.

use crate::common::*;
use recaux::backend::Backend;

const SIZES: [usize; 4] = [1, 5, 300, 2049];
const LO: f64 = -1.0;
const HI: f64 = 1.0;

/// y = clamp(x), then dx0 + clamp_bwd(x, dy), from inputs `x, dy, dx0`.
fn run<B: Backend>(be: &B, inp: &[Vec<f64>]) -> Vec<Vec<B::T>> {
    let n = inp[0].len();
    let x = be.upload(&tv(&inp[0])).unwrap();
    let mut y = be.alloc(n).unwrap();
    be.clamp_fwd(n, LO, HI, &x, &mut y).unwrap();
    let dy = be.upload(&tv(&inp[1])).unwrap();
    let mut dx = be.upload(&tv(&inp[2])).unwrap();
    be.clamp_bwd(n, LO, HI, &x, &dy, &mut dx).unwrap();
    vec![be.download(&y).unwrap(), be.download(&dx).unwrap()]
}

fn inputs(n: usize) -> Vec<Vec<f64>> {
    let mut x: Vec<f64> = data(n, 4).iter().map(|v| 1.5 * v).collect();
    if n > 2 {
        x[0] = LO; // the inclusive bounds get the gradient (PyTorch)
        x[1] = HI;
    }
    vec![x, data(n, 5), data(n, 6)]
}

#[test]
fn clamp_reference_is_the_formula() {
    for n in SIZES {
        let inp = inputs(n);
        let out = run(&reference(), &inp);
        let (x, dy, dx0) = (&inp[0], &inp[1], &inp[2]);
        let want_y: Vec<f64> = x.iter().map(|v| v.clamp(LO, HI)).collect();
        let want_dx: Vec<f64> = (0..n)
            .map(|i| {
                dx0[i]
                    + if (LO..=HI).contains(&x[i]) {
                        dy[i]
                    } else {
                        0.0
                    }
            })
            .collect();
        assert_eq!(out[0], want_y, "clamp_fwd n={n}");
        assert_eq!(out[1], want_dx, "clamp_bwd n={n}");
    }
}

/// clamp_fwd selects (exact); clamp_bwd adds once in T (f32: <= EPS32 / 2 relative).
fn vs_reference<B: Backend>(be: &B) {
    for n in SIZES {
        let inp: Vec<Vec<f64>> = inputs(n).iter().map(|v| rounded::<B::T>(v)).collect();
        let got = run(be, &inp);
        let want = run(&reference(), &inp);
        check(be, "clamp_fwd", &got[0], &want[0], EXACT, EXACT);
        check(be, "clamp_bwd", &got[1], &want[1], Tol::rel(EPS32), EXACT);
    }
}

#[test]
fn clamp_matches_the_f64_reference() {
    every_backend!(vs_reference);
}

/// Outputs of every clamp kernel, for the any-grid check.
pub fn outputs<B: Backend>(be: &B) -> Vec<Vec<B::T>> {
    run(be, &inputs(2049))
}
