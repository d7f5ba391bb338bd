//! Adam (`adam`): kernels/adam.cu, src/backend/{kernel,cpu}/adam.rs.

use crate::common::*;
use recaux::backend::{AdamSpec, AdamTensor, Backend};

const LR: [f64; 3] = [1e-3, 1e-4, 3e-2];
const SIZES: [usize; 3] = [1, 257, 1000];
const B1: f64 = 0.9;
const B2: f64 = 0.999;
const EPS: f64 = 1e-8;

/// Per tensor: param, grad, m, v, each `[M, numel]` (host f64).
type State = Vec<[Vec<f64>; 4]>;

fn initial() -> State {
    let m = LR.len();
    SIZES
        .iter()
        .enumerate()
        .map(|(k, &s)| {
            let k = k as u32;
            [
                data(m * s, 20 + k),
                data(m * s, 30 + k),
                data(m * s, 40 + k).iter().map(|v| 0.1 * v).collect(),
                data(m * s, 50 + k).iter().map(|v| 0.01 * v * v).collect(),
            ]
        })
        .collect()
}

/// One Adam step (number `step`) of `state` on `be`; returns param, m, v of every tensor.
fn run<B: Backend>(be: &B, state: &State, step: u64) -> Vec<Vec<B::T>> {
    let mut bufs: Vec<Vec<B::Buf>> = state
        .iter()
        .map(|t| t.iter().map(|v| be.upload(&tv(v)).unwrap()).collect())
        .collect();
    let spec = AdamSpec {
        lr: &LR,
        beta1: B1,
        beta2: B2,
        eps: EPS,
        step,
    };
    {
        let mut ts: Vec<AdamTensor<B>> = bufs
            .iter_mut()
            .map(|v| {
                let [p, g, mm, vv] = &mut v[..] else {
                    unreachable!("four buffers")
                };
                AdamTensor {
                    param: p,
                    grad: &*g,
                    m: mm,
                    v: vv,
                }
            })
            .collect();
        be.adam(&spec, &mut ts).unwrap();
    }
    bufs.iter()
        .flat_map(|v| [0, 2, 3].map(|i| be.download(&v[i]).unwrap()))
        .collect()
}

/// The state after a step: the step's outputs and the unchanged gradients.
fn next(state: &State, out: &[Vec<f64>]) -> State {
    state
        .iter()
        .enumerate()
        .map(|(k, t)| {
            [
                out[3 * k].clone(),
                t[1].clone(),
                out[3 * k + 1].clone(),
                out[3 * k + 2].clone(),
            ]
        })
        .collect()
}

#[test]
fn adam_reference_is_pytorchs_formula() {
    let mut state = initial();
    for step in 1..=3u64 {
        let out = run(&reference(), &state, step);
        for (k, t) in state.iter().enumerate() {
            let [p, g, m, v] = t;
            let numel = SIZES[k];
            let (mut wp, mut wm, mut wv) = (p.clone(), m.clone(), v.clone());
            for j in 0..p.len() {
                // torch.optim.Adam: m.lerp_(g, 1 - b1); v = b2 v + (1 - b2) g^2;
                // p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
                wm[j] = m[j] + (g[j] - m[j]) * (1.0 - B1);
                wv[j] = B2 * v[j] + (1.0 - B2) * g[j] * g[j];
                let denom = wv[j].sqrt() / (1.0 - B2.powf(step as f64)).sqrt() + EPS;
                wp[j] = p[j] - LR[j / numel] / (1.0 - B1.powf(step as f64)) * wm[j] / denom;
            }
            // the same arithmetic up to the order of a few operations
            let t = Tol::new(1e-16, 1e-14);
            check(
                &reference(),
                &format!("adam param t{k} step {step}"),
                &out[3 * k],
                &wp,
                EXACT,
                t,
            );
            check(
                &reference(),
                &format!("adam m t{k}"),
                &out[3 * k + 1],
                &wm,
                EXACT,
                t,
            );
            check(
                &reference(),
                &format!("adam v t{k}"),
                &out[3 * k + 2],
                &wv,
                EXACT,
                t,
            );
        }
        state = next(&state, &out);
    }
}

/// Three steps; each compared with the reference's step from the backend's own previous
/// state (so errors do not compound). f32: a handful of roundings per element against one,
/// on an update of lr size (atol 1e-7 covers the rounding of p itself, rtol 2e-6); f64:
/// atol 1e-15, rtol 1e-12.
fn vs_reference<B: Backend>(be: &B) {
    let mut state: State = initial()
        .iter()
        .map(|t| t.clone().map(|v| rounded::<B::T>(&v)))
        .collect();
    for step in 1..=3u64 {
        let got = run(be, &state, step);
        let want = run(&reference(), &state, step);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let what = format!(
                "adam tensor {} {} step {step}",
                i / 3,
                ["param", "m", "v"][i % 3]
            );
            check(
                be,
                &what,
                g,
                w,
                Tol::new(1e-7, 2e-6),
                Tol::new(1e-15, 1e-12),
            );
        }
        let out: Vec<Vec<f64>> = got.iter().map(|v| f64s(v)).collect();
        state = next(&state, &out);
    }
}

#[test]
fn adam_matches_the_f64_reference() {
    every_backend!(vs_reference);
}

/// Outputs of the adam kernel (two steps), for the any-grid check.
pub fn outputs<B: Backend>(be: &B) -> Vec<Vec<B::T>> {
    let s1 = run(be, &initial(), 1);
    let out: Vec<Vec<f64>> = s1.iter().map(|v| f64s(v)).collect();
    let mut all = s1;
    all.extend(run(be, &next(&initial(), &out), 2));
    all
}
