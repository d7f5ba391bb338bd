//! The gemm, bias_grad and LSTM kernels (kernels/gemm.cu, kernels/lstm.cu) on `emu` (always)
//! and `cuda` (when a GPU is usable; otherwise `SKIP cuda: <reason>`), at f32 and f64,
//! against the CPU backend; a whole training step (model forward/backward + Adam) against
//! the CPU backend; the f64 finite-difference checks of the gemm ops on the kernel backends
//! (sampled on emu; the exhaustive run is `#[ignore]`d: minutes on emu); determinism.
//! Tolerances and their reasons: tests/common_mm/mod.rs and below.

use common::skip::skip_notice;

#[macro_use]
mod common;
mod common_mm;

use common_mm as mm;
use recaux::backend::cpu::{CellMath, CpuBackend};
use recaux::backend::cuda::{CudaBackend, cuda_available};
use recaux::backend::emu::EmuBackend;
use recaux::backend::{Backend, Elem, LstmShape};
use recaux::model::{self, Grads, Mode, Model, ModelSpec, Workspace};
use recaux::train::{Adam, AdamConfig};

#[test]
fn gemm_matches_cpu() {
    all_backends!(gemm_all);
}
fn gemm_all<B: Backend>(be: &B)
where
    B::T: CellMath,
{
    mm::gemm_all(be)
}

#[test]
fn bias_grad_matches_cpu_exactly() {
    all_backends!(bias_grad);
}
fn bias_grad<B: Backend>(be: &B)
where
    B::T: CellMath,
{
    mm::bias_grad(be)
}

#[test]
fn lstm_matches_cpu() {
    all_backends!(lstm_vs_cpu);
}
fn lstm_vs_cpu<B: Backend>(be: &B)
where
    B::T: CellMath,
{
    mm::lstm_vs_cpu(be)
}

#[test]
fn mm_shape_errors() {
    all_backends!(mm_errors);
}
fn mm_errors<B: Backend>(be: &B) {
    mm::mm_errors(be)
}

/// Result of a few training steps: losses per step, the gradients of the first step, the
/// final parameters.
struct Run<T> {
    losses: Vec<Vec<f64>>,
    grads0: Vec<Vec<T>>,
    params: Vec<Vec<T>>,
}

const SEEDS: [u64; 2] = [5, 6];
const LAMBDAS: [f64; 2] = [0.5, 2.0];
const LRS: [f64; 2] = [1e-3, 3e-3];

/// Two training steps (dropout on, Adam) of a small model with 2 replicas.
fn train<B: Backend>(be: &B) -> Run<B::T> {
    let spec = ModelSpec {
        features: 6,
        hidden: 5,
        fc1: 7,
        classes: 3,
        dropout: 0.3,
    };
    let (t, b) = (5, 3);
    let mut model = Model::init(be, spec, &SEEDS).unwrap();
    let mut ws = Workspace::new(be, &spec, SEEDS.len(), t, b).unwrap();
    let mut grads = Grads::new(be, &model).unwrap();
    let mut adam = Adam::new(be, &model, AdamConfig::default()).unwrap();
    let mut run = Run {
        losses: Vec::new(),
        grads0: Vec::new(),
        params: Vec::new(),
    };
    for step in 0..2u64 {
        let x: Vec<B::T> = (0..t * b * spec.features)
            .map(|i| B::T::of(((i as f64) * 0.37 + step as f64).sin() * 0.9))
            .collect();
        let y: Vec<i32> = (0..b as i32).map(|i| (i + step as i32) % 3).collect();
        let (xb, yb) = (be.upload(&x).unwrap(), be.upload_idx(&y).unwrap());
        let mode = Mode::Train { step };
        let l = model::forward(be, &model, &mut ws, &xb, &yb, mode).unwrap();
        run.losses.push(l.total(&LAMBDAS));
        grads.zero(be).unwrap();
        model::backward(be, &model, &mut ws, &xb, &yb, mode, &LAMBDAS, &mut grads).unwrap();
        if step == 0 {
            run.grads0 = grads.bufs.iter().map(|g| be.download(g).unwrap()).collect();
        }
        adam.update(be, &mut model, &grads, &LRS).unwrap();
    }
    run.params = model
        .params
        .iter()
        .map(|p| be.download(p).unwrap())
        .collect();
    run
}

/// A training step on a kernel backend against the CPU backend of the same type.
/// Tolerances: losses and first-step gradients f64 1e-12 relative, f32 1e-4 absolute on O(1)
/// values (measured deviations are printed). Parameters after Adam: Adam's first steps move a
/// parameter by about lr·sign(g), so a gradient within rounding of zero may move differently;
/// f64 1e-12 absolute (no such gradient), f32 lr/10 absolute.
fn model_step<B: Backend>(be: &B)
where
    B::T: CellMath,
{
    let cpu = CpuBackend::<B::T>::new();
    let got = train(be);
    let want = train(&cpu);
    let f32 = B::T::DTYPE == "f32";
    let (loss_tol, grad_tol, param_tol) = if f32 {
        (1e-4, 1e-4, 1e-4)
    } else {
        (1e-12, 1e-12, 1e-12)
    };
    let mut worst = [0.0f64; 3];
    for (g, w) in got
        .losses
        .iter()
        .flatten()
        .zip(want.losses.iter().flatten())
    {
        let e = (g - w).abs();
        worst[0] = worst[0].max(e);
        assert!(
            e <= loss_tol * w.abs().max(1.0),
            "{} {} loss {g} vs {w}",
            be.name(),
            B::T::DTYPE
        );
    }
    for (k, (g, w)) in got.grads0.iter().zip(&want.grads0).enumerate() {
        let e = mm::max_abs(g, w);
        worst[1] = worst[1].max(e);
        assert!(
            e <= grad_tol,
            "{} {} grad {k}: max |err| {e:e}",
            be.name(),
            B::T::DTYPE
        );
    }
    for (k, (g, w)) in got.params.iter().zip(&want.params).enumerate() {
        let e = mm::max_abs(g, w);
        worst[2] = worst[2].max(e);
        assert!(
            e <= param_tol,
            "{} {} param {k}: max |err| {e:e}",
            be.name(),
            B::T::DTYPE
        );
    }
    println!(
        "{} {} model step vs cpu: loss {:e}, grads {:e}, params {:e}",
        be.name(),
        B::T::DTYPE,
        worst[0],
        worst[1],
        worst[2]
    );
}

#[test]
fn model_training_step_matches_cpu() {
    all_backends!(model_step);
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

/// The finite-difference checks of the ops these kernels implement (gemm variants, linear).
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
/// the kernel source, at most 3 elements of every input tensor (every parameter tensor of the
/// model included) on emu; exhaustively on cuda.
#[test]
fn gradcheck_sampled_on_kernel_backends() {
    fn run<B: Backend<T = f64>>(be: &B, cap: Option<usize>) {
        let results = recaux::gradcheck::run_all_sampled(be, cap).expect("gradcheck runs");
        assert_eq!(results.len(), 10, "one row per op plus the model");
        for r in &results {
            assert_passes(&be.name(), r);
        }
    }
    run(&EmuBackend::<f64>::new().expect("emu backend"), Some(3));
    match cuda_available() {
        Ok(_) => run(&CudaBackend::<f64>::new(0).expect("cuda backend"), None),
        Err(why) => skip_notice(&format!("SKIP cuda: {why}")),
    }
}

/// Every element of every input, on emu too (thousands of forward passes: minutes on 2 cores).
#[test]
#[ignore = "slow on emu (minutes): cargo test --release --test gpu_mm -- --ignored"]
fn gradcheck_run_all_on_kernel_backends() {
    fn run<B: Backend<T = f64>>(be: &B) {
        let results = recaux::gradcheck::run_all(be).expect("gradcheck runs");
        assert_eq!(results.len(), 10, "one row per op plus the model");
        for r in &results {
            assert_passes(&be.name(), r);
        }
    }
    run(&EmuBackend::<f64>::new().expect("emu backend"));
    match cuda_available() {
        Ok(_) => run(&CudaBackend::<f64>::new(0).expect("cuda backend")),
        Err(why) => skip_notice(&format!("SKIP cuda: {why}")),
    }
}

fn bits<T: Elem>(v: &[T]) -> Vec<u8> {
    bytemuck::cast_slice(v).to_vec()
}

/// Two identical runs give bit-identical results (LSTM fwd+bwd and a training run).
fn deterministic<B: Backend>(be: &B) {
    let s = LstmShape {
        m: 2,
        t: 5,
        b: 2,
        i: 4,
        h: 33,
    };
    let inp = mm::lstm_inputs(&s, 77);
    let a = mm::lstm_run(be, &s, &inp, true);
    let b = mm::lstm_run(be, &s, &inp, true);
    assert_eq!(bits(&a.y), bits(&b.y), "{} lstm y", be.name());
    for ((n, x), (_, y)) in a.grads.iter().zip(&b.grads) {
        assert_eq!(bits(x), bits(y), "{} lstm {n}", be.name());
    }
    let (ra, rb) = (train(be), train(be));
    assert_eq!(ra.losses, rb.losses);
    for (x, y) in ra.params.iter().zip(&rb.params) {
        assert_eq!(bits(x), bits(y), "{} params", be.name());
    }
}

#[test]
fn two_identical_runs_are_bit_identical() {
    all_backends!(deterministic);
}
