//! A few training steps of the whole model on any backend, for tests/gpu_model.rs (against the
//! f64 reference, determinism) and tests/gpu_precision.rs (precision modes).

use super::{f64s, tv};
use recaux::backend::Backend;
use recaux::model::{self, Grads, Mode, Model, ModelSpec, Workspace};
use recaux::train::{Adam, AdamConfig};

/// Losses of every step (per replica), the gradients of the first step, the final parameters
/// (as f64).
pub struct Run {
    pub losses: Vec<Vec<f64>>,
    pub grads0: Vec<Vec<f64>>,
    pub params: Vec<Vec<f64>>,
}

/// The shape and length of a run: `t` frames, `b` batch rows, `steps` steps; the batch of step
/// s is batch number `s % period` (a few fixed batches let a model fit them).
#[derive(Clone, Copy, Debug)]
pub struct Steps {
    pub t: usize,
    pub b: usize,
    pub steps: u64,
    pub period: u64,
}

/// `st.steps` training steps (forward with dropout, backward, Adam with learning rate
/// `lrs[r]`) of `spec` with replicas of `seeds` / `lambdas`, from parameters `init` (`[M,
/// numel]` per tensor, rounded to `B::T` on upload).
pub fn train<B: Backend>(
    be: &B,
    spec: ModelSpec,
    (seeds, lambdas, lrs): (&[u64], &[f64], &[f64]),
    init: &[Vec<f64>],
    st: Steps,
) -> Run {
    let (t, b) = (st.t, st.b);
    let host: Vec<Vec<B::T>> = init.iter().map(|v| tv(v)).collect();
    let mut model = Model::from_host(be, spec, seeds, &host).unwrap();
    let mut ws = Workspace::new(be, &spec, seeds.len(), t, b).unwrap();
    let mut grads = Grads::new(be, &model).unwrap();
    let mut adam = Adam::new(be, &model, AdamConfig::default()).unwrap();
    let mut run = Run {
        losses: Vec::new(),
        grads0: Vec::new(),
        params: Vec::new(),
    };
    for step in 0..st.steps {
        let k = step % st.period;
        let x: Vec<B::T> = (0..t * b * spec.features)
            .map(|i| recaux::backend::Elem::of(((i as f64) * 0.37 + k as f64).sin() * 0.9))
            .collect();
        let y: Vec<i32> = (0..b as i32)
            .map(|i| (i + k as i32) % spec.classes as i32)
            .collect();
        let (xb, yb) = (be.upload(&x).unwrap(), be.upload_idx(&y).unwrap());
        let mode = Mode::Train { step };
        let l = model::forward(be, &model, &mut ws, &xb, &yb, mode).unwrap();
        run.losses.push(l.total(lambdas));
        grads.zero(be).unwrap();
        model::backward(be, &model, &mut ws, &xb, &yb, mode, lambdas, &mut grads).unwrap();
        if step == 0 {
            run.grads0 = grads
                .bufs
                .iter()
                .map(|g| f64s(&be.download(g).unwrap()))
                .collect();
        }
        adam.update(be, &mut model, &grads, lrs).unwrap();
    }
    run.params = model
        .params
        .iter()
        .map(|p| f64s(&be.download(p).unwrap()))
        .collect();
    run
}
