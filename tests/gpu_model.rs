//! The whole model on the kernel backends: a training step (forward with dropout, backward,
//! Adam) against the f64 CPU reference, the f64 finite-difference checks run through the
//! kernel code, and run-to-run determinism. On `emu` always; on `cuda` when a GPU is usable
//! (otherwise `SKIP cuda: <reason>`). The per-op tests are tests/ops/.

#[macro_use]
mod common;

use common::model::{Run, Steps};
use common::skip::skip_notice;
use common::*;
use recaux::backend::cuda::{CudaBackend, cuda_available};
use recaux::backend::emu::EmuBackend;
use recaux::backend::{Backend, Elem};
use recaux::model::{Model, ModelSpec};

const SEEDS: [u64; 2] = [5, 6];
const LAMBDAS: [f64; 2] = [0.5, 2.0];
const LRS: [f64; 2] = [1e-3, 3e-3];

fn spec() -> ModelSpec {
    ModelSpec {
        features: 6,
        hidden: 5,
        fc1: 7,
        classes: 3,
        dropout: 0.3,
    }
}

/// Two training steps (dropout on, Adam) of a small model with 2 replicas, from parameters
/// `init` (`[M, numel]` per tensor, f64, rounded to `B::T` on upload).
fn train<B: Backend>(be: &B, init: &[Vec<f64>]) -> Run {
    let st = Steps {
        t: 5,
        b: 3,
        steps: 2,
        period: u64::MAX,
    };
    common::model::train(be, spec(), (&SEEDS, &LAMBDAS, &LRS), init, st)
}

/// The initial parameters, drawn by `Model::init` on the reference (f64).
fn init_params() -> Vec<Vec<f64>> {
    let be = reference();
    let m = Model::init(&be, spec(), &SEEDS).unwrap();
    m.params.clone()
}

/// A training step on `be` against the f64 CPU reference from the same (rounded) weights.
/// Tolerances: losses and first-step gradients f64 1e-12 relative, f32 1e-4 absolute on O(1)
/// values (measured deviations are printed). Parameters after two Adam steps: Adam's first
/// steps move a parameter by about lr·sign(g), so a gradient within rounding of zero may move
/// differently; f64 1e-12 absolute (no such gradient), f32 1e-4 (a tenth of the smallest lr).
fn model_step<B: Backend>(be: &B) {
    let init: Vec<Vec<f64>> = init_params().iter().map(|v| rounded::<B::T>(v)).collect();
    let got = train(be, &init);
    let want = train(&reference(), &init);
    let f32 = B::T::DTYPE == "f32";
    let tol = if f32 { 1e-4 } else { 1e-12 };
    let mut worst = [0.0f64; 3];
    assert_eq!(got.losses.len(), want.losses.len());
    for (g, w) in got.losses.iter().zip(&want.losses) {
        assert_eq!(g.len(), w.len());
        for (g, w) in g.iter().zip(w) {
            let e = (g - w).abs();
            worst[0] = worst[0].max(e);
            assert!(
                e <= tol * w.abs().max(1.0),
                "{} {} loss {g} vs {w}",
                be.name(),
                B::T::DTYPE
            );
        }
    }
    assert_eq!(got.grads0.len(), want.grads0.len());
    for (k, (g, w)) in got.grads0.iter().zip(&want.grads0).enumerate() {
        let e = max_abs(g, w);
        worst[1] = worst[1].max(e);
        assert!(
            e <= tol,
            "{} {} grad {k}: max |err| {e:e}",
            be.name(),
            B::T::DTYPE
        );
    }
    assert_eq!(got.params.len(), want.params.len());
    for (k, (g, w)) in got.params.iter().zip(&want.params).enumerate() {
        let e = max_abs(g, w);
        worst[2] = worst[2].max(e);
        assert!(
            e <= tol,
            "{} {} param {k}: max |err| {e:e}",
            be.name(),
            B::T::DTYPE
        );
    }
    println!(
        "{} {} model step vs f64 reference: loss {:e}, grads {:e}, params {:e}",
        be.name(),
        B::T::DTYPE,
        worst[0],
        worst[1],
        worst[2]
    );
}

#[test]
fn model_training_step_matches_the_f64_reference() {
    every_backend!(model_step);
}

fn assert_passes(be_name: &str, r: &recaux::gradcheck::CheckResult) {
    // The same bar as tests/cpu_gradcheck.rs (central differences, h = 1e-5).
    assert!(
        r.pass && r.max_rel < 2e-6 && r.max_abs < 1e-9 && r.n > 0,
        "{be_name} {} failed: max abs {:e}, max rel {:e} ({})",
        r.op,
        r.max_abs,
        r.max_rel,
        r.note
    );
}

/// The finite-difference checks of the ops the gemm kernels implement (gemm variants,
/// linear), every element.
#[test]
fn gradcheck_gemm_ops_on_kernel_backends() {
    fn run<B: Backend<T = f64>>(be: &B) {
        assert_passes(
            &be.name(),
            &recaux::gradcheck::check_gemm_variants(be, None).unwrap(),
        );
        assert_passes(
            &be.name(),
            &recaux::gradcheck::check_linear(be, None).unwrap(),
        );
    }
    run(&EmuBackend::<f64>::new().expect("emu backend"));
    match cuda_available() {
        Ok(_) => run(&CudaBackend::<f64>::new(0).expect("cuda backend")),
        Err(why) => skip_notice(&format!("SKIP cuda: {why}")),
    }
}

/// `recaux gradcheck --backend emu` as the CLI runs it: every op and the whole model through
/// the kernel source, sampled on emu (seeded random elements of every block of every input
/// tensor: each replica, and each gate i, f, g, o of the LSTM tensors); exhaustive on cuda.
#[test]
fn gradcheck_sampled_on_kernel_backends() {
    fn run<B: Backend<T = f64>>(be: &B, per_block: Option<usize>) {
        let results = recaux::gradcheck::run_all_sampled(be, per_block).expect("gradcheck runs");
        assert_eq!(results.len(), 10, "one row per op plus the model");
        for r in &results {
            assert_passes(&be.name(), r);
        }
    }
    run(&EmuBackend::<f64>::new().expect("emu backend"), Some(1));
    match cuda_available() {
        Ok(_) => run(&CudaBackend::<f64>::new(0).expect("cuda backend"), None),
        Err(why) => skip_notice(&format!("SKIP cuda: {why}")),
    }
}

fn bits<T: Elem>(v: &[T]) -> Vec<u8> {
    bytemuck::cast_slice(v).to_vec()
}

/// Two identical runs give bit-identical results (an LSTM layer's forward and backward, and
/// a training run).
///
/// What this can catch depends on the backend. On emu, blocks run one after another and only
/// the threads of one block run concurrently, so it can catch a race between the threads of
/// a block but never an order dependence between blocks (float atomics, a cross-block
/// reduction in arrival order): there it cannot fail for those. On cuda it can, which is why
/// scripts/gpu-check.sh runs this binary on a GPU and counts a skipped cuda run as a failure.
fn deterministic<B: Backend>(be: &B) {
    let s = recaux::backend::LstmShape {
        m: 2,
        t: 5,
        b: 2,
        i: 4,
        h: 33,
    };
    let inp = common::lstm::inputs(&s, 77);
    let (a, b) = (
        common::lstm::run(be, &s, &inp, true),
        common::lstm::run(be, &s, &inp, true),
    );
    assert_eq!(a.len(), b.len());
    for (k, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(bits(x), bits(y), "{} lstm output {k}", be.name());
    }
    let init = init_params();
    let (ra, rb) = (train(be, &init), train(be, &init));
    assert_eq!(ra.losses, rb.losses);
    assert_eq!(ra.params.len(), rb.params.len());
    for (x, y) in ra.params.iter().zip(&rb.params) {
        assert_eq!(bits(x), bits(y), "{} params", be.name());
    }
}

#[test]
fn two_identical_runs_are_bit_identical() {
    kernel_backends!(deterministic);
}
