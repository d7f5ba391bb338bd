//! Adam (`adam`): kernels/adam.cu, src/backend/{kernel,cpu}/adam.rs.

use crate::common::*;
use recaux::backend::{AdamSpec, AdamTensor, Backend, StepVals};

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
    run_with(be, state, step, false)
}

/// [`run`], with the step sizes and bias correction taken from a `StepVals` buffer and the
/// table built once (`from_device`), as the training step does, or from the spec.
fn run_with<B: Backend>(be: &B, state: &State, step: u64, from_device: bool) -> Vec<Vec<B::T>> {
    let mut bufs: Vec<Vec<B::Buf>> = state
        .iter()
        .map(|t| t.iter().map(|v| be.upload(&tv(v)).unwrap()).collect())
        .collect();
    let host = AdamSpec::<B> {
        lr: &LR,
        beta1: B1,
        beta2: B2,
        eps: EPS,
        step,
        vals: None,
        table: None,
    };
    let mut sv = bytemuck::Zeroable::zeroed();
    let StepVals {
        step_size,
        bc2_sqrt,
        ..
    } = &mut sv;
    let (steps, bc2) = host.step_values();
    step_size[..LR.len()].copy_from_slice(&steps);
    *bc2_sqrt = bc2;
    let mut vals = be.alloc_bytes(StepVals::BYTES).unwrap();
    be.write_bytes(&mut vals, bytemuck::bytes_of::<StepVals>(&sv))
        .unwrap();
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
        let table = be.adam_table(LR.len(), &ts).unwrap();
        let spec = if from_device {
            AdamSpec {
                // the host's values are ignored: these would change the result
                lr: &[9.0, 9.0, 9.0],
                step: step + 5,
                vals: Some(&vals),
                table: Some(&table),
                ..host
            }
        } else {
            host
        };
        be.adam(&spec, &mut ts).unwrap();
    }
    bufs.iter()
        .flat_map(|v| [0, 2, 3].map(|i| be.download(&v[i]).unwrap()))
        .collect()
}

/// The training step's way (step sizes read from a `StepVals` buffer on the device, the
/// table built once) gives the same bits as step sizes from the spec, on every backend.
fn device_values_are_the_host_values<B: Backend>(be: &B) {
    let state: State = initial()
        .iter()
        .map(|t| t.clone().map(|v| rounded::<B::T>(&v)))
        .collect();
    for step in [1, 7] {
        let a = run_with(be, &state, step, false);
        let b = run_with(be, &state, step, true);
        assert_eq!(a.len(), b.len());
        for (k, (x, y)) in a.iter().zip(&b).enumerate() {
            assert_bits_eq(&format!("{} adam output {k} step {step}", be.name()), x, y);
        }
    }
}

#[test]
fn adam_with_step_values_on_the_device_equals_host_values() {
    every_backend!(device_values_are_the_host_values);
}

/// A table is checked against the tensors it is used with: one built for other buffers is
/// refused, not followed (the kernels would write through its addresses).
fn other_table<B: Backend>(be: &B) {
    let mk = || -> Vec<B::Buf> { (0..4).map(|_| be.alloc(6).unwrap()).collect() };
    let (mut a, mut b) = (mk(), mk());
    fn tensors<B: Backend>(v: &mut [B::Buf]) -> Vec<AdamTensor<'_, B>> {
        let [p, g, mm, vv] = v else {
            unreachable!("four buffers")
        };
        vec![AdamTensor {
            param: p,
            grad: &*g,
            m: mm,
            v: vv,
        }]
    }
    let table = be.adam_table(2, &tensors::<B>(&mut a)).unwrap();
    let spec = AdamSpec {
        lr: &[1e-3, 1e-3],
        beta1: B1,
        beta2: B2,
        eps: EPS,
        step: 1,
        vals: None,
        table: Some(&table),
    };
    be.adam(&spec, &mut tensors::<B>(&mut a)).unwrap();
    let r = be.adam(&spec, &mut tensors::<B>(&mut b));
    if be.name().starts_with("cpu") {
        // the CPU walks the tensors it is given and keeps no table
        assert!(r.is_ok(), "{r:?}");
    } else {
        let e = r.expect_err("a table built for other buffers").to_string();
        assert!(e.contains("other buffers"), "{}: {e}", be.name());
    }
    let three = [1e-3; 3];
    let e = be
        .adam(&AdamSpec { lr: &three, ..spec }, &mut tensors::<B>(&mut a))
        .expect_err("a table for 2 replicas used with 3");
    assert!(e.to_string().contains("replicas"), "{e}");
}

#[test]
fn adam_refuses_a_table_built_for_other_buffers() {
    every_backend!(other_table);
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
    all.extend(run_with(be, &initial(), 3, true));
    all
}
