//! max over time (`max_time_fwd`, `max_time_bwd`): kernels/max_time.cu,
//! src/backend/{kernel,cpu}/max_time.rs.

use crate::common::*;
use recaux::backend::{Backend, Elem};

/// (M, T, rows, F).
const SHAPES: [(usize, usize, usize, usize); 3] = [(1, 1, 1, 1), (2, 5, 3, 7), (3, 17, 1, 300)];

/// Values on a grid of quarters, so that ties occur: the first maximum must win.
fn inputs(m: usize, t: usize, rows: usize, f: usize) -> Vec<Vec<f64>> {
    let x = data(m * t * rows * f, 10)
        .iter()
        .map(|v| (v * 4.0).round() / 4.0)
        .collect();
    vec![x, data(m * rows * f, 11), data(m * t * rows * f, 12)]
}

/// y, arg (as T) = max_time_fwd(x), then dx0 + max_time_bwd(dy, arg).
fn run<B: Backend>(be: &B, s: (usize, usize, usize, usize), inp: &[Vec<f64>]) -> Vec<Vec<B::T>> {
    let (m, t, rows, f) = s;
    let x = be.upload(&tv(&inp[0])).unwrap();
    let mut y = be.alloc(m * rows * f).unwrap();
    let mut arg = be.alloc_idx(m * rows * f).unwrap();
    be.max_time_fwd(m, t, rows, f, &x, &mut y, &mut arg)
        .unwrap();
    let dy = be.upload(&tv(&inp[1])).unwrap();
    let mut dx = be.upload(&tv(&inp[2])).unwrap();
    be.max_time_bwd(m, t, rows, f, &dy, &arg, &mut dx).unwrap();
    let a: Vec<B::T> = be
        .download_idx(&arg)
        .unwrap()
        .iter()
        .map(|&v| B::T::of(v as f64))
        .collect();
    vec![be.download(&y).unwrap(), a, be.download(&dx).unwrap()]
}

#[test]
fn max_time_reference_is_the_formula() {
    for (m, t, rows, f) in SHAPES {
        let inp = inputs(m, t, rows, f);
        let out = run(&reference(), (m, t, rows, f), &inp);
        let x = &inp[0];
        let mut want_y = vec![0.0; m * rows * f];
        let mut want_arg = vec![0.0; m * rows * f];
        let mut want_dx = inp[2].clone();
        for r in 0..m {
            for b in 0..rows {
                for j in 0..f {
                    let o = (r * rows + b) * f + j;
                    let mut best = f64::NEG_INFINITY;
                    for s in 0..t {
                        let v = x[((r * t + s) * rows + b) * f + j];
                        if v > best {
                            best = v;
                            want_arg[o] = s as f64;
                        }
                    }
                    want_y[o] = best;
                    want_dx[((r * t + want_arg[o] as usize) * rows + b) * f + j] += inp[1][o];
                }
            }
        }
        assert_eq!(out[0], want_y, "max_time_fwd {m}x{t}x{rows}x{f}");
        assert_eq!(out[1], want_arg, "max_time_fwd argmax");
        assert_eq!(out[2], want_dx, "max_time_bwd");
    }
}

/// Values and argmax select (exact: rounding to T keeps order and ties); the backward adds
/// once in T (f32: <= EPS32 / 2 relative).
fn vs_reference<B: Backend>(be: &B) {
    for s in SHAPES {
        let inp: Vec<Vec<f64>> = inputs(s.0, s.1, s.2, s.3)
            .iter()
            .map(|v| rounded::<B::T>(v))
            .collect();
        let got = run(be, s, &inp);
        let want = run(&reference(), s, &inp);
        check(be, "max_time_fwd", &got[0], &want[0], EXACT, EXACT);
        check(be, "max_time_fwd argmax", &got[1], &want[1], EXACT, EXACT);
        check(
            be,
            "max_time_bwd",
            &got[2],
            &want[2],
            Tol::rel(EPS32),
            EXACT,
        );
    }
}

#[test]
fn max_time_matches_the_f64_reference() {
    every_backend!(vs_reference);
}

/// Outputs of every max_time kernel, for the any-grid check.
pub fn outputs<B: Backend>(be: &B) -> Vec<Vec<B::T>> {
    let s = (3, 17, 1, 300);
    run(be, s, &inputs(s.0, s.1, s.2, s.3))
}
