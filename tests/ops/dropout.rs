//! dropout (`dropout_fwd`, `dropout_bwd`): kernels/dropout.cu,
//! src/backend/{kernel,cpu}/dropout.rs. The mask is `rng::dropout_keep`, the same Philox
//! draw on every backend: a mask difference is a kept value against 0, far outside any
//! tolerance below.

use crate::common::*;
use recaux::backend::{Backend, DropoutSpec, StepVals};
use recaux::rng;

const SEEDS: [u64; 3] = [11, 0xDEAD_BEEF_0000_0001, 3];
/// (replicas, n per replica, x shared by the replicas).
const CASES: [(usize, usize, bool); 4] = [
    (1, 1, false),
    (3, 1001, true),
    (3, 4099, false),
    (2, 6, true),
];

fn spec<'a, B: Backend>(m: usize) -> DropoutSpec<'a, B> {
    DropoutSpec {
        p: 0.3,
        seeds: &SEEDS[..m],
        step: (1u64 << 32) + 5,
        tensor: 2,
        step_at: None,
    }
}

fn inputs(m: usize, n: usize, shared: bool) -> Vec<Vec<f64>> {
    let x: Vec<f64> = data(if shared { n } else { m * n }, 7)
        .iter()
        .map(|v| v + 2.0)
        .collect();
    vec![x, data(m * n, 8), data(m * n, 9)]
}

/// y = dropout(x), then dx0 + dropout_bwd(dy).
fn run<B: Backend>(be: &B, m: usize, n: usize, shared: bool, inp: &[Vec<f64>]) -> Vec<Vec<B::T>> {
    let d = spec(m);
    let x = be.upload(&tv(&inp[0])).unwrap();
    let mut y = be.alloc(m * n).unwrap();
    be.dropout_fwd(&d, n, &x, shared, &mut y).unwrap();
    let dy = be.upload(&tv(&inp[1])).unwrap();
    let mut dx = be.upload(&tv(&inp[2])).unwrap();
    be.dropout_bwd(&d, n, &dy, &mut dx).unwrap();
    vec![be.download(&y).unwrap(), be.download(&dx).unwrap()]
}

#[test]
fn dropout_reference_is_the_formula() {
    for (m, n, shared) in CASES {
        let d = spec::<recaux::backend::cpu::CpuBackend<f64>>(m);
        let inp = inputs(m, n, shared);
        let out = run(&reference(), m, n, shared, &inp);
        let th = rng::dropout_threshold(d.p);
        let scale = rng::dropout_scale(d.p);
        let keep = |k: usize| rng::dropout_keep(SEEDS[k / n], d.step, d.tensor, (k % n) as u64, th);
        let want_y: Vec<f64> = (0..m * n)
            .map(|k| {
                let xi = inp[0][if shared { k % n } else { k }];
                if keep(k) { xi * scale } else { 0.0 }
            })
            .collect();
        let want_dx: Vec<f64> = (0..m * n)
            .map(|k| inp[2][k] + if keep(k) { inp[1][k] * scale } else { 0.0 })
            .collect();
        assert_eq!(out[0], want_y, "dropout_fwd {m}x{n}");
        assert_eq!(out[1], want_dx, "dropout_bwd {m}x{n}");
        if n > 100 {
            let dropped = want_y.iter().filter(|v| **v == 0.0).count() as f64 / (m * n) as f64;
            assert!((dropped - 0.3).abs() < 0.05, "drop rate {dropped}");
        }
    }
}

/// fwd: x * scale, with scale rounded to T and the product rounded (f32: <= EPS32 relative).
/// bwd: dx0 + dy * scale, two roundings of terms of size <= 1.43 (f32: atol 2 EPS32, rtol
/// EPS32; f64 the same in EPS64, for cuda's fused multiply-add).
fn vs_reference<B: Backend>(be: &B) {
    for (m, n, shared) in CASES {
        let inp: Vec<Vec<f64>> = inputs(m, n, shared)
            .iter()
            .map(|v| rounded::<B::T>(v))
            .collect();
        let got = run(be, m, n, shared, &inp);
        let want = run(&reference(), m, n, shared, &inp);
        check(
            be,
            "dropout_fwd",
            &got[0],
            &want[0],
            Tol::rel(EPS32),
            Tol::rel(EPS64),
        );
        let t32 = Tol::new(2.0 * EPS32, EPS32);
        let t64 = Tol::new(2.0 * EPS64, EPS64);
        check(be, "dropout_bwd", &got[1], &want[1], t32, t64);
    }
}

#[test]
fn dropout_matches_the_f64_reference() {
    every_backend!(vs_reference);
}

/// Outputs of every dropout kernel, for the any-grid check.
pub fn outputs<B: Backend>(be: &B) -> Vec<Vec<B::T>> {
    let (m, n, shared) = (3, 4099, false);
    let mut all = run(be, m, n, shared, &inputs(m, n, shared));
    all.extend(run_at(be, m, n, &inputs(m, n, shared), (1u64 << 32) + 5, 0));
    all
}

/// [`run`] (x not shared) with the spec's step `host` and the step read from a `StepVals`
/// buffer holding `dev` (as a training step passes it).
fn run_at<B: Backend>(
    be: &B,
    m: usize,
    n: usize,
    inp: &[Vec<f64>],
    dev: u64,
    host: u64,
) -> Vec<Vec<B::T>> {
    let sv = StepVals {
        dropout_step: dev,
        ..bytemuck::Zeroable::zeroed()
    };
    let mut vals = be.alloc_bytes(StepVals::BYTES).unwrap();
    be.write_bytes(&mut vals, bytemuck::bytes_of(&sv)).unwrap();
    let d = DropoutSpec {
        step: host,
        step_at: Some(&vals),
        ..spec::<B>(m)
    };
    let x = be.upload(&tv(&inp[0])).unwrap();
    let mut y = be.alloc(m * n).unwrap();
    be.dropout_fwd(&d, n, &x, false, &mut y).unwrap();
    let dy = be.upload(&tv(&inp[1])).unwrap();
    let mut dx = be.upload(&tv(&inp[2])).unwrap();
    be.dropout_bwd(&d, n, &dy, &mut dx).unwrap();
    vec![be.download(&y).unwrap(), be.download(&dx).unwrap()]
}

/// With `step_at`, the step is the one in device memory, whatever the spec says: the masks
/// equal those of that step given by value, and differ from the spec's step's.
fn step_from_the_device<B: Backend>(be: &B) {
    let (m, n) = (3, 1001);
    let inp = inputs(m, n, false);
    let by_value = run(be, m, n, false, &inp);
    let at = run_at(be, m, n, &inp, spec::<B>(m).step, 3);
    for (k, (a, b)) in by_value.iter().zip(&at).enumerate() {
        assert_bits_eq(&format!("{} dropout output {k}", be.name()), a, b);
    }
    let other = run_at(be, m, n, &inp, 3, spec::<B>(m).step);
    assert_ne!(
        f64s(&other[0]),
        f64s(&by_value[0]),
        "{}: the step in device memory is not used",
        be.name()
    );
}

#[test]
fn dropout_reads_the_step_from_device_memory_when_given() {
    every_backend!(step_from_the_device);
}
