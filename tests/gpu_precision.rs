//! The precision modes (`--precision`, the config's `precision`; README "Precision") of the
//! kernel backends on a whole model: a training step per mode against the f32 CPU reference
//! within the mode's stated tolerance, a 100-step loss trajectory within 1% of the f32 CPU
//! one, which LSTM kernel each mode runs (and the fallback for a width the persistent kernels
//! do not cover), and, for the fast path (bf16, f16), bit-identical repeat runs and replica r
//! of a joint run equal to its solo run bit for bit. On emu f32 always; on cuda when a GPU is
//! usable (otherwise `SKIP cuda: <reason>`). The per-op tests are tests/ops/lstm_persist.rs
//! and tests/ops/gemm_tc.rs.

#[macro_use]
mod common;

use common::model::{Run, Steps};
use common::*;
use recaux::backend::cpu::CpuBackend;
use recaux::backend::kernel::{Device, KernelBackend};
use recaux::backend::{Backend, LstmShape, Precision};
use recaux::model::{Model, ModelSpec};

/// A small model whose LSTM width (16) the persistent kernels cover.
fn spec(hidden: usize) -> ModelSpec {
    ModelSpec {
        features: 8,
        hidden,
        fc1: 8,
        classes: 3,
        dropout: 0.2,
    }
}

/// `steps` training steps of `spec` at learning rate `lr` on `be` (common::model::train),
/// `t` x `b` batches, 4 batches in turn.
#[allow(clippy::too_many_arguments)]
fn train<B: Backend<T = f32>>(
    be: &B,
    spec: ModelSpec,
    seeds: &[u64],
    lambdas: &[f64],
    init: &[Vec<f64>],
    (t, b): (usize, usize),
    steps: u64,
    lr: f64,
) -> Run {
    let lrs = vec![lr; seeds.len()];
    let st = Steps {
        t,
        b,
        steps,
        period: 4,
    };
    common::model::train(be, spec, (seeds, lambdas, &lrs), init, st)
}

/// Initial parameters drawn by `Model::init` on the CPU (f32 values).
fn init_params(spec: ModelSpec, seeds: &[u64]) -> Vec<Vec<f64>> {
    let be = CpuBackend::<f32>::new();
    let m = Model::init(&be, spec, seeds).unwrap();
    m.params.iter().map(|p| f64s(p)).collect()
}

/// Per mode: (precision, loss relative bound, per-gradient-tensor relative L2 bound). f32 is
/// the per-step kernels' exact arithmetic (summation order only); tf32 rounds GEMM operands
/// to 10 significant bits; f16 / bf16 also round W_hh, h and dG in the recurrence (8 bits for
/// bf16): the op-level bounds of tests/ops/lstm_persist.rs and tests/ops/gemm_tc.rs.
const MODES: &[(Precision, f64, f64)] = &[
    (Precision::F32, 1e-5, 1e-4),
    (Precision::Tf32, 1e-3, 2e-3),
    (Precision::F16, 2e-3, 5e-3),
    (Precision::Bf16, 1e-2, 1e-2),
];

const SEEDS: [u64; 2] = [5, 6];
const LAMBDAS: [f64; 2] = [0.5, 2.0];

fn step_per_mode<D: Device>(be: &KernelBackend<f32, D>) {
    let spec = spec(16);
    let init = init_params(spec, &SEEDS);
    let shape = (5, 3);
    let want = train(
        &CpuBackend::<f32>::new(),
        spec,
        &SEEDS,
        &LAMBDAS,
        &init,
        shape,
        1,
        1e-3,
    );
    let layer = LstmShape {
        m: 2,
        t: shape.0,
        b: shape.1,
        i: spec.features,
        h: spec.hidden,
    };
    for &(q, ltol, gtol) in MODES {
        be.set_precision(q).unwrap();
        let words = be.lstm_sizes(&layer).kernel;
        let persistent = matches!(q, Precision::F16 | Precision::Bf16);
        assert_eq!(
            words.starts_with(&format!("lstm_fwd_persist_{q}")),
            persistent,
            "{q}: {words}"
        );
        assert!(words.contains(&format!("precision {q}")), "{q}: {words}");
        let got = train(be, spec, &SEEDS, &LAMBDAS, &init, shape, 1, 1e-3);
        let mut worst = (0.0f64, 0usize);
        for (g, w) in got.losses[0].iter().zip(&want.losses[0]) {
            let e = (g - w).abs() / w.abs();
            assert!(
                e <= ltol,
                "{} {q}: loss {g} vs {w}: {e:e} > {ltol:e}",
                be.name()
            );
        }
        for (k, (g, w)) in got.grads0.iter().zip(&want.grads0).enumerate() {
            let r = rel_l2(g, w);
            assert!(
                r <= gtol,
                "{} {q}: gradient tensor {k}: relative L2 {r:e} > {gtol:e}",
                be.name()
            );
            if r > worst.0 {
                worst = (r, k);
            }
        }
        println!(
            "{} {q}: training step vs f32 CPU: worst gradient tensor {} relative L2 {:.2e} (bound {gtol:e})",
            be.name(),
            worst.1,
            worst.0
        );
    }
    be.set_precision(Precision::F32).unwrap();
}

#[test]
fn a_training_step_in_every_precision_matches_the_f32_cpu_within_its_tolerance() {
    f32_kernel_backends!(step_per_mode);
}

fn trajectory<D: Device>(be: &KernelBackend<f32, D>) {
    let spec = ModelSpec {
        features: 4,
        hidden: 16,
        fc1: 4,
        classes: 3,
        dropout: 0.1,
    };
    let seeds = [3u64];
    let init = init_params(spec, &seeds);
    let (shape, steps, lr) = ((3, 2), 100, 1e-2);
    let cpu = CpuBackend::<f32>::new();
    let want = train(&cpu, spec, &seeds, &[1.0], &init, shape, steps, lr);
    let (first, last) = (want.losses[0][0], want.losses[steps as usize - 1][0]);
    // the loss must move for the comparison to mean anything
    assert!(
        last < 0.8 * first,
        "reference loss {first} -> {last}: not learning"
    );
    // On emu (about a second per step here) the default mode only, the loosest of the three
    // at the op level and in the training step above; every fast mode on cuda.
    let modes: &[Precision] = if be.name() == "emu" {
        &[Precision::Bf16]
    } else {
        &[Precision::Tf32, Precision::F16, Precision::Bf16]
    };
    for &q in modes {
        be.set_precision(q).unwrap();
        let got = train(be, spec, &seeds, &[1.0], &init, shape, steps, lr);
        let mut worst = 0.0f64;
        for (k, (g, w)) in got.losses.iter().zip(&want.losses).enumerate() {
            let e = (g[0] - w[0]).abs() / w[0].abs();
            assert!(
                e <= 0.01,
                "{} {q}: step {k}: loss {} vs f32 CPU {}: {:.2}% > 1%",
                be.name(),
                g[0],
                w[0],
                100.0 * e
            );
            worst = worst.max(e);
        }
        println!(
            "{} {q}: {steps}-step loss trajectory ({first:.4} -> {last:.4} on the f32 CPU): worst step {:.3}% off",
            be.name(),
            100.0 * worst
        );
    }
    be.set_precision(Precision::F32).unwrap();
}

#[test]
fn a_100_step_loss_trajectory_of_the_fast_precisions_stays_within_1_percent_of_the_f32_cpu() {
    f32_kernel_backends!(trajectory);
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn fast_path_invariants<D: Device>(be: &KernelBackend<f32, D>) {
    let spec = spec(16);
    let seeds = [5u64, 6, 7];
    let lambdas = [0.5, 1.0, 2.0];
    let init = init_params(spec, &seeds);
    let shape = (3, 17); // two batch slices of the persistent kernels, the second partial
    for q in [Precision::Bf16, Precision::F16] {
        be.set_precision(q).unwrap();
        let a = train(be, spec, &seeds, &lambdas, &init, shape, 2, 1e-3);
        let b = train(be, spec, &seeds, &lambdas, &init, shape, 2, 1e-3);
        assert_eq!(a.losses, b.losses, "{q}: two runs");
        for (k, (x, y)) in a.params.iter().zip(&b.params).enumerate() {
            assert_eq!(bits(x), bits(y), "{q}: two runs, parameter tensor {k}");
        }
        for (r, &seed) in seeds.iter().enumerate() {
            let part = |v: &Vec<f64>, m: usize| {
                let n = v.len() / m;
                v[r * n..(r + 1) * n].to_vec()
            };
            let solo_init: Vec<Vec<f64>> = init.iter().map(|v| part(v, seeds.len())).collect();
            let solo = train(
                be,
                spec,
                &[seed],
                &lambdas[r..r + 1],
                &solo_init,
                shape,
                2,
                1e-3,
            );
            for (k, (s, j)) in solo.losses.iter().zip(&a.losses).enumerate() {
                assert_eq!(
                    s[0].to_bits(),
                    j[r].to_bits(),
                    "{q}: replica {r} loss step {k}"
                );
            }
            for (k, (s, j)) in solo.grads0.iter().zip(&a.grads0).enumerate() {
                assert_eq!(
                    bits(s),
                    bits(&part(j, seeds.len())),
                    "{q}: replica {r} gradient tensor {k}"
                );
            }
            for (k, (s, j)) in solo.params.iter().zip(&a.params).enumerate() {
                assert_eq!(
                    bits(s),
                    bits(&part(j, seeds.len())),
                    "{q}: replica {r} parameter tensor {k}"
                );
            }
        }
    }
    be.set_precision(Precision::F32).unwrap();
}

#[test]
fn the_fast_path_repeats_bit_for_bit_and_a_joint_replica_equals_its_solo_run() {
    f32_kernel_backends!(fast_path_invariants);
}

fn fallback<D: Device>(be: &KernelBackend<f32, D>) {
    // H = 12: not a multiple of 16, so f16 / bf16 run the per-step kernels, with the GEMMs of
    // tf32: the same bits as tf32, and the reported kernel says so.
    let spec = spec(12);
    let init = init_params(spec, &SEEDS);
    let shape = (4, 3);
    let layer = LstmShape {
        m: 2,
        t: shape.0,
        b: shape.1,
        i: spec.features,
        h: spec.hidden,
    };
    be.set_precision(Precision::Tf32).unwrap();
    let want = train(be, spec, &SEEDS, &LAMBDAS, &init, shape, 1, 1e-3);
    for q in [Precision::F16, Precision::Bf16] {
        be.set_precision(q).unwrap();
        let words = be.lstm_sizes(&layer).kernel;
        assert!(
            words.starts_with("lstm_fwd_step") && words.contains("fallback"),
            "{q}: {words}"
        );
        let got = train(be, spec, &SEEDS, &LAMBDAS, &init, shape, 1, 1e-3);
        assert_eq!(got.losses, want.losses, "{q}");
        for (k, (x, y)) in got.grads0.iter().zip(&want.grads0).enumerate() {
            assert_eq!(bits(x), bits(y), "{q}: gradient tensor {k}");
        }
    }
    be.set_precision(Precision::F32).unwrap();
}

#[test]
fn an_uncovered_width_falls_back_to_the_per_step_kernels_and_says_so() {
    f32_kernel_backends!(fallback);
}

#[test]
fn the_cpu_runs_its_exact_precision_only() {
    let be = CpuBackend::<f32>::new();
    assert_eq!(be.set_precision(Precision::Auto).unwrap(), Precision::F32);
    let e = be.set_precision(Precision::Bf16).unwrap_err().to_string();
    assert!(e.contains("bf16") && e.contains("runs f32"), "{e}");
    let emu = recaux::backend::emu::EmuBackend::<f32>::new().unwrap();
    assert_eq!(emu.precision(), Precision::F32, "a new backend is exact");
    assert_eq!(emu.set_precision(Precision::Auto).unwrap(), Precision::Bf16);
    let emu64 = recaux::backend::emu::EmuBackend::<f64>::new().unwrap();
    assert!(emu64.set_precision(Precision::F16).is_err());
}
