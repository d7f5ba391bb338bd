//! PyTorch interop: weights under state_dict names, batch-first inputs, and one
//! forward+backward step with dropout off (`recaux step`).

use crate::backend::{Backend, Elem};
use crate::error::{Error, Result};
use crate::model::{self, Grads, Mode, Model, ModelSpec, Workspace};
use crate::safetensors_io::{TensorFile, TensorWriter};

/// `[B, T, F]` (PyTorch's batch_first) to time-major `[T, B, F]`.
pub fn btf_to_tbf<T: Copy>(x: &[T], b: usize, t: usize, f: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(x.len());
    for ti in 0..t {
        for bi in 0..b {
            out.extend_from_slice(&x[(bi * t + ti) * f..(bi * t + ti + 1) * f]);
        }
    }
    out
}

/// Time-major `[T, B, F]` back to `[B, T, F]`.
pub fn tbf_to_btf<T: Copy>(x: &[T], b: usize, t: usize, f: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(x.len());
    for bi in 0..b {
        for ti in 0..t {
            out.extend_from_slice(&x[(ti * b + bi) * f..(ti * b + bi + 1) * f]);
        }
    }
    out
}

/// Weights read from a state_dict file: the spec they imply and one host tensor per
/// parameter in state_dict order. With `f32_only`, every tensor must be F32 (what
/// `save_file(model.state_dict())` writes for a float model); otherwise F64 is accepted too.
pub fn load_weights(file: &TensorFile, f32_only: bool) -> Result<(ModelSpec, Vec<Vec<f64>>)> {
    let spec = ModelSpec::from_shapes(&|n| file.shape(n), 0.0)?;
    let mut tensors = Vec::new();
    for ps in spec.params() {
        let v = if f32_only {
            file.f32(&ps.name, Some(&ps.shape))?
                .0
                .into_iter()
                .map(f64::from)
                .collect()
        } else {
            file.float(&ps.name, Some(&ps.shape))?.0
        };
        tensors.push(v);
    }
    Ok((spec, tensors))
}

/// An input batch: `x [B, T, F]` and labels `y [B]` in 0..C.
pub struct Batch {
    pub b: usize,
    pub t: usize,
    /// `[B, T, F]` as stored.
    pub x: Vec<f64>,
    pub y: Vec<i32>,
}

/// Read `x` (F32, `[B, T, F]`; F64 too unless `f32_only`) and `y` (I64, `[B]`).
pub fn load_batch(file: &TensorFile, spec: &ModelSpec, f32_only: bool) -> Result<Batch> {
    let shape = file
        .shape("x")
        .ok_or_else(|| Error::tensor("x", format!("missing from {}", file.path().display())))?;
    if shape.len() != 3 || shape[2] != spec.features || shape[0] == 0 || shape[1] == 0 {
        return Err(Error::tensor(
            "x",
            format!(
                "shape {shape:?}, expected [B, T, {}] with B, T >= 1",
                spec.features
            ),
        ));
    }
    let (b, t) = (shape[0], shape[1]);
    let x = if f32_only {
        file.f32("x", Some(&shape))?
            .0
            .into_iter()
            .map(f64::from)
            .collect()
    } else {
        file.float("x", Some(&shape))?.0
    };
    let (y, _) = file.int("y", Some(&[b]))?;
    let y = y
        .into_iter()
        .map(|v| {
            if v < 0 || v as usize >= spec.classes {
                Err(Error::tensor(
                    "y",
                    format!("label {v} outside 0..{}", spec.classes),
                ))
            } else {
                Ok(v as i32)
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Batch { b, t, x, y })
}

/// What one step produces, PyTorch layouts.
pub struct StepOutput<T> {
    /// `[B, C]`.
    pub logits: Vec<T>,
    /// `[B, T, F]`.
    pub reconstruction: Vec<T>,
    pub loss_ce: f64,
    pub loss_l1: f64,
    pub loss: f64,
    /// One gradient per parameter, state_dict order.
    pub grads: Vec<Vec<T>>,
}

/// Forward and backward of one replica with dropout off.
pub fn step<B: Backend>(
    be: &B,
    spec: ModelSpec,
    weights: &[Vec<f64>],
    batch: &Batch,
    lambda: f64,
) -> Result<StepOutput<B::T>> {
    let host: Vec<Vec<B::T>> = weights
        .iter()
        .map(|w| w.iter().map(|&v| B::T::of(v)).collect())
        .collect();
    let model = Model::from_host(be, spec, &[0], &host)?;
    let (b, t, f) = (batch.b, batch.t, spec.features);
    let xt: Vec<B::T> = btf_to_tbf(&batch.x, b, t, f)
        .into_iter()
        .map(B::T::of)
        .collect();
    let x = be.upload(&xt)?;
    let y = be.upload_idx(&batch.y)?;
    let mut ws = Workspace::new(be, &spec, 1, t, b)?;
    let losses = model::forward(be, &model, &mut ws, &x, &y, Mode::Eval)?;
    let mut grads = Grads::new(be, &model)?;
    model::backward(
        be,
        &model,
        &mut ws,
        &x,
        &y,
        Mode::Eval,
        &[lambda],
        &mut grads,
    )?;
    Ok(StepOutput {
        logits: be.download(&ws.logits)?,
        reconstruction: tbf_to_btf(&be.download(&ws.rec)?, b, t, f),
        loss_ce: losses.ce[0],
        loss_l1: losses.l1[0],
        loss: losses.total(&[lambda])[0],
        grads: grads
            .bufs
            .iter()
            .map(|g| be.download(g))
            .collect::<Result<_>>()?,
    })
}

/// The output file of `recaux step`: `logits`, `reconstruction`, `loss`, `loss_ce`,
/// `loss_l1` (0-dim) and `grad.<name>` for every parameter, in the compute dtype.
pub fn step_writer<T: Elem>(
    spec: &ModelSpec,
    b: usize,
    t: usize,
    out: &StepOutput<T>,
) -> TensorWriter {
    let mut w = TensorWriter::new();
    w.elems("logits", &[b, spec.classes], &out.logits);
    w.elems(
        "reconstruction",
        &[b, t, spec.features],
        &out.reconstruction,
    );
    w.elems("loss", &[], &[T::of(out.loss)]);
    w.elems("loss_ce", &[], &[T::of(out.loss_ce)]);
    w.elems("loss_l1", &[], &[T::of(out.loss_l1)]);
    for (ps, g) in spec.params().iter().zip(&out.grads) {
        w.elems(&format!("grad.{}", ps.name), &ps.shape, g);
    }
    w.meta(
        "producer",
        format!("recaux {} step", env!("CARGO_PKG_VERSION")),
    );
    w
}
