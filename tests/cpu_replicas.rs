//! Replica m of a joint run equals a solo run with the same λ and seed, bit for bit (CPU).

use recaux::backend::Backend;
use recaux::backend::cpu::CpuBackend;
use recaux::model::{self, Grads, Mode, Model, ModelSpec, Workspace};
use recaux::train::{Adam, AdamConfig};

/// Three training steps (dropout on, Adam); returns per-step total losses and final params.
fn train(seeds: &[u64], lambdas: &[f64], lrs: &[f64]) -> (Vec<Vec<f64>>, Vec<Vec<f32>>) {
    let be = CpuBackend::<f32>::new();
    let spec = ModelSpec {
        features: 10,
        hidden: 6,
        fc1: 7,
        classes: 4,
        dropout: 0.3,
    };
    let (t, b) = (9, 5);
    let mut model = Model::init(&be, spec, seeds).unwrap();
    let mut ws = Workspace::new(&be, &spec, seeds.len(), t, b).unwrap();
    let mut grads = Grads::new(&be, &model).unwrap();
    let mut adam = Adam::new(&be, &model, AdamConfig::default()).unwrap();
    let mut losses = Vec::new();
    for step in 0..3u64 {
        let x: Vec<f32> = (0..t * b * spec.features)
            .map(|i| (i as f32 * 0.37 + step as f32).sin() * 0.9)
            .collect();
        let y: Vec<i32> = (0..b as i32).map(|i| (i + step as i32) % 4).collect();
        let (xb, yb) = (be.upload(&x).unwrap(), be.upload_idx(&y).unwrap());
        let mode = Mode::Train { step };
        let l = model::forward(&be, &model, &mut ws, &xb, &yb, mode).unwrap();
        losses.push(l.total(lambdas));
        grads.zero(&be).unwrap();
        model::backward(&be, &model, &mut ws, &xb, &yb, mode, lambdas, &mut grads).unwrap();
        adam.update(&be, &mut model, &grads, lrs).unwrap();
    }
    let params = model
        .params
        .iter()
        .map(|p| be.download(p).unwrap())
        .collect();
    (losses, params)
}

#[test]
fn joint_run_equals_solo_runs_bit_for_bit() {
    let seeds = [7u64, 8, 7];
    let lambdas = [0.0, 1.0, 10.0];
    let lrs = [1e-2, 3e-3, 1e-2];
    let (joint_losses, joint_params) = train(&seeds, &lambdas, &lrs);
    for r in 0..3 {
        let (solo_losses, solo_params) =
            train(&seeds[r..r + 1], &lambdas[r..r + 1], &lrs[r..r + 1]);
        assert_eq!(joint_losses.len(), solo_losses.len(), "steps");
        for (step, (j, s)) in joint_losses.iter().zip(&solo_losses).enumerate() {
            assert_eq!(
                j[r].to_bits(),
                s[0].to_bits(),
                "replica {r} step {step} loss"
            );
        }
        assert_eq!(joint_params.len(), solo_params.len(), "parameter tensors");
        for (k, (jp, sp)) in joint_params.iter().zip(&solo_params).enumerate() {
            let n = sp.len();
            assert_eq!(jp.len(), 3 * n, "parameter {k}: three replicas");
            let jr = &jp[r * n..(r + 1) * n];
            assert!(
                jr.iter().zip(sp).all(|(a, b)| a.to_bits() == b.to_bits()),
                "replica {r} parameter {k} differs from its solo run"
            );
        }
    }
    // replicas 0 and 2 share a seed (same init, same masks) but not λ: they must differ
    assert_ne!(joint_losses[2][0], joint_losses[2][2]);
}

#[test]
fn two_identical_runs_are_bit_identical() {
    let a = train(&[3, 4], &[1.0, 2.0], &[1e-3, 1e-3]);
    let b = train(&[3, 4], &[1.0, 2.0], &[1e-3, 1e-3]);
    assert_eq!(a.0, b.0);
    assert_eq!(a.1, b.1);
}
