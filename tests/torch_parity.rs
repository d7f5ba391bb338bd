//! Parity with PyTorch: golden tensors made by `scripts/ref/torch_fixtures.py`
//! (tests/fixtures/torch/README.md gives versions and configs). Dropout is off in all of them.
//!
//! Tolerances, as |recaux - torch| <= atol + rtol·|torch| per element:
//! - `small64` (float64): rtol 1e-9, atol 1e-12 — only summation order differs.
//! - `seed32` (float32, the seed's widths): values rtol 1e-4 with atol 1e-5·max|tensor|
//!   (f32 rounding through 32 LSTM steps and reductions of up to 16k terms, done in a different
//!   order than PyTorch's), and the norm-wise relative error ||Δ|| / ||torch|| <= 2e-5 for
//!   every tensor (the "relative error around 1e-5").

use recaux::backend::cpu::CpuBackend;
use recaux::backend::{Backend, Elem};
use recaux::interop::{self, Batch};
use recaux::model::{self, Grads, Mode, Model, ModelSpec, Workspace};
use recaux::safetensors_io::TensorFile;
use recaux::train::{Adam, AdamConfig};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/torch")
        .join(name)
}

struct Fixture {
    spec: ModelSpec,
    weights: Vec<Vec<f64>>,
    batch: Batch,
    expected: TensorFile,
    lambda: f64,
    lr: f64,
}

fn load(name: &str) -> Fixture {
    let wf = TensorFile::open(&fixture(&format!("{name}_weights.safetensors"))).unwrap();
    let (spec, weights) = interop::load_weights(&wf, false).unwrap();
    let inf = TensorFile::open(&fixture(&format!("{name}_input.safetensors"))).unwrap();
    let batch = interop::load_batch(&inf, &spec, false).unwrap();
    let expected = TensorFile::open(&fixture(&format!("{name}_expected.safetensors"))).unwrap();
    let cfg: serde_json::Value = serde_json::from_str(&expected.metadata()["config"]).unwrap();
    let lambda = cfg["lambda"].as_f64().unwrap();
    let lr = cfg["lr"].as_f64().unwrap();
    Fixture {
        spec,
        weights,
        batch,
        expected,
        lambda,
        lr,
    }
}

/// Element-wise and norm-wise comparison; returns (max abs err, norm-wise rel err).
fn close(what: &str, got: &[f64], want: &[f64], rtol: f64, atol: f64, norm_rel: f64) -> (f64, f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut max_abs: f64 = 0.0;
    let (mut dn, mut wn) = (0.0, 0.0);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let e = (g - w).abs();
        max_abs = max_abs.max(e);
        dn += e * e;
        wn += w * w;
        assert!(
            e <= atol + rtol * w.abs(),
            "{what}[{i}]: recaux {g:e} torch {w:e} (|Δ| {e:e})"
        );
    }
    let rel = if wn > 0.0 {
        (dn / wn).sqrt()
    } else {
        dn.sqrt()
    };
    assert!(
        rel <= norm_rel,
        "{what}: norm-wise relative error {rel:e} > {norm_rel:e}"
    );
    (max_abs, rel)
}

fn scale_of(v: &[f64]) -> f64 {
    v.iter().fold(0.0f64, |a, x| a.max(x.abs()))
}

fn check_step<B: Backend>(be: &B, fx: &Fixture, rtol: f64, atol_rel: f64, norm_rel: f64) {
    let out = interop::step(be, fx.spec, &fx.weights, &fx.batch, fx.lambda).unwrap();
    let e = &fx.expected;
    let f = |v: &[B::T]| v.iter().map(|x| x.f64()).collect::<Vec<f64>>();
    let want = |n: &str| e.float(n, None).unwrap().0;
    let cmp = |what: &str, got: Vec<f64>| {
        let w = want(what);
        close(
            what,
            &got,
            &w,
            rtol,
            atol_rel * scale_of(&w).max(1e-30),
            norm_rel,
        )
    };
    cmp("logits", f(&out.logits));
    cmp("reconstruction", f(&out.reconstruction));
    cmp("loss_ce", vec![out.loss_ce]);
    cmp("loss_l1", vec![out.loss_l1]);
    cmp("loss", vec![out.loss]);
    let mut worst = (String::new(), 0.0);
    assert_eq!(
        out.grads.len(),
        fx.spec.params().len(),
        "one gradient per parameter"
    );
    for (ps, g) in fx.spec.params().iter().zip(&out.grads) {
        let (_, rel) = cmp(&format!("grad.{}", ps.name), f(g));
        if rel > worst.1 {
            worst = (ps.name.clone(), rel);
        }
    }
    eprintln!(
        "worst gradient norm-wise relative error: {} {:e}",
        worst.0, worst.1
    );
}

/// 10 Adam steps on the fixture's batch, dropout off: the loss before each update, and the
/// final fy tensors.
fn adam_run<B: Backend>(be: &B, fx: &Fixture) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let host: Vec<Vec<B::T>> = fx
        .weights
        .iter()
        .map(|w| w.iter().map(|&v| B::T::of(v)).collect())
        .collect();
    let mut model = Model::from_host(be, fx.spec, &[0], &host).unwrap();
    let (b, t, f) = (fx.batch.b, fx.batch.t, fx.spec.features);
    let x: Vec<B::T> = interop::btf_to_tbf(&fx.batch.x, b, t, f)
        .into_iter()
        .map(B::T::of)
        .collect();
    let (xb, yb) = (be.upload(&x).unwrap(), be.upload_idx(&fx.batch.y).unwrap());
    let mut ws = Workspace::new(be, &fx.spec, 1, t, b).unwrap();
    let mut grads = Grads::new(be, &model).unwrap();
    let mut adam = Adam::new(be, &model, AdamConfig::default()).unwrap();
    let mut losses = Vec::new();
    for _ in 0..10 {
        let l = model::forward(be, &model, &mut ws, &xb, &yb, Mode::Eval).unwrap();
        losses.push(l.total(&[fx.lambda])[0]);
        grads.zero(be).unwrap();
        model::backward(
            be,
            &model,
            &mut ws,
            &xb,
            &yb,
            Mode::Eval,
            &[fx.lambda],
            &mut grads,
        )
        .unwrap();
        adam.update(be, &mut model, &grads, &[fx.lr]).unwrap();
    }
    let get = |k| {
        model
            .download(be, k)
            .unwrap()
            .into_iter()
            .map(|v| v.f64())
            .collect()
    };
    (losses, get(model::p::FY_W), get(model::p::FY_B))
}

#[test]
fn small64_forward_and_gradients_match_pytorch_f64() {
    let fx = load("small64");
    assert_eq!(
        (
            fx.spec.features,
            fx.spec.hidden,
            fx.spec.fc1,
            fx.spec.classes
        ),
        (6, 5, 7, 4)
    );
    check_step(&CpuBackend::<f64>::new(), &fx, 1e-9, 1e-12, 1e-9);
}

#[test]
fn small64_ten_adam_steps_match_pytorch_f64() {
    let fx = load("small64");
    let (losses, fyw, fyb) = adam_run(&CpuBackend::<f64>::new(), &fx);
    let e = &fx.expected;
    close(
        "adam_losses",
        &losses,
        &e.float("adam_losses", None).unwrap().0,
        1e-9,
        1e-12,
        1e-9,
    );
    close(
        "adam_final.fy.weight",
        &fyw,
        &e.float("adam_final.fy.weight", None).unwrap().0,
        1e-8,
        1e-11,
        1e-8,
    );
    close(
        "adam_final.fy.bias",
        &fyb,
        &e.float("adam_final.fy.bias", None).unwrap().0,
        1e-8,
        1e-11,
        1e-8,
    );
}

#[test]
fn seed32_forward_and_gradients_match_pytorch_f32() {
    let fx = load("seed32");
    assert_eq!(
        fx.spec,
        ModelSpec {
            dropout: 0.0,
            ..ModelSpec::seed()
        }
    );
    check_step(&CpuBackend::<f32>::new(), &fx, 1e-4, 1e-5, 2e-5);
}

#[test]
fn seed32_ten_adam_steps_match_pytorch_f32() {
    let fx = load("seed32");
    let (losses, fyw, fyb) = adam_run(&CpuBackend::<f32>::new(), &fx);
    let e = &fx.expected;
    close(
        "adam_losses",
        &losses,
        &e.float("adam_losses", None).unwrap().0,
        1e-5,
        0.0,
        1e-5,
    );
    // Adam divides by sqrt(v): entries with tiny gradients move by ~lr regardless of the
    // gradient's f32 noise, so compare the final weights at lr-relative precision.
    let lr = fx.lr;
    close(
        "adam_final.fy.weight",
        &fyw,
        &e.float("adam_final.fy.weight", None).unwrap().0,
        1e-4,
        1e-2 * lr,
        1e-4,
    );
    close(
        "adam_final.fy.bias",
        &fyb,
        &e.float("adam_final.fy.bias", None).unwrap().0,
        1e-4,
        1e-2 * lr,
        1e-4,
    );
}
