//! The model: spec (shapes, PyTorch parameter names), init, and the forward and backward
//! passes, written once against the [`Backend`] trait.
//!
//! ```text
//! x [T,B,F] ─dropout(0)─▶ lstm1 ─▶ lstm2 ─▶ x_seq [M,T,B,2H]
//!   x_seq ─dropout(1)─▶ max over T ─▶ fc1 ─dropout(2)─▶ relu ─▶ fy ─▶ logits [M,B,C]
//!   x_seq ─dropout(3)─▶ fc2 ─▶ clamp(-1,1) ─▶ reconstruction [M,T,B,F]
//! loss_r = CE(logits_r, y) + λ_r · mean|x - reconstruction_r|
//! ```
//! Every parameter and activation has the leading replica dimension M; replica r has its own
//! seed (init and dropout masks) and λ; all replicas see the same batch.

pub mod spec;

pub use spec::{ModelSpec, ParamSpec, p};

use crate::backend::{Backend, DropoutSpec, Elem, GemmSpec, LstmGrads, LstmParams, LstmShape};
use crate::error::{Error, Result};
use crate::rng;
use rand_distr::{Distribution, Uniform};

/// The four dropout sites, numbered as the dropout RNG's `tensor` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum DropoutSite {
    /// On the input x.
    Input = 0,
    /// On x_seq before max over time.
    Pool = 1,
    /// On fc1's output, before relu.
    Fc1 = 2,
    /// On x_seq before fc2 (reconstruction).
    Recon = 3,
}

/// Whether `be` keeps its buffers in host memory (every backend but cuda), so that the
/// machine's memory bounds what may be allocated.
fn host_memory<B: Backend>(be: &B) -> bool {
    !be.name().starts_with("cuda")
}

/// The parameters of M replicas: one buffer `[M, numel]` per tensor, in state_dict order.
pub struct Model<B: Backend> {
    pub spec: ModelSpec,
    /// Seed of each replica: its init and its dropout masks.
    pub seeds: Vec<u64>,
    pub params: Vec<B::Buf>,
}

impl<B: Backend> Model<B> {
    /// Replicas.
    pub fn m(&self) -> usize {
        self.seeds.len()
    }

    /// PyTorch-style init: every parameter uniform in ±bound (1/sqrt(fan), the spec's
    /// `ParamSpec::bound`), sampled in f64 by `rand_distr::Uniform` from each replica's own
    /// Philox stream (seed, `rng::INIT_STREAM | k` for parameter k): replica r depends only on
    /// `seeds[r]`, and every backend and element type gets the same values (rounded to T).
    pub fn init(be: &B, spec: ModelSpec, seeds: &[u64]) -> Result<Self> {
        if seeds.is_empty() {
            return Err(Error::config("seeds", "at least one replica is needed"));
        }
        crate::limits::check_model(&spec, seeds.len(), size_of::<B::T>(), host_memory(be))?;
        let mut params = Vec::with_capacity(p::COUNT);
        for (k, ps) in spec.params().iter().enumerate() {
            let dist = Uniform::new(-ps.bound, ps.bound)
                .map_err(|e| Error::tensor(&ps.name, format!("init bound {}: {e}", ps.bound)))?;
            let mut host = Vec::with_capacity(seeds.len() * ps.numel());
            for &s in seeds {
                let mut g = rng::Philox::new(s, rng::INIT_STREAM | k as u32, 0, 0);
                host.extend((0..ps.numel()).map(|_| B::T::of(dist.sample(&mut g))));
            }
            params.push(be.upload(&host)?);
        }
        Ok(Model {
            spec,
            seeds: seeds.to_vec(),
            params,
        })
    }

    /// A model from host tensors: `tensors[k]` holds `[M, numel_k]` for parameter k.
    pub fn from_host(
        be: &B,
        spec: ModelSpec,
        seeds: &[u64],
        tensors: &[Vec<B::T>],
    ) -> Result<Self> {
        crate::limits::check_model(&spec, seeds.len(), size_of::<B::T>(), host_memory(be))?;
        let specs = spec.params();
        if tensors.len() != specs.len() {
            return Err(Error::shape(format!(
                "model: {} tensors given, {} expected",
                tensors.len(),
                specs.len()
            )));
        }
        let mut params = Vec::with_capacity(specs.len());
        for (ps, t) in specs.iter().zip(tensors) {
            if t.len() != seeds.len() * ps.numel() {
                return Err(Error::tensor(
                    &ps.name,
                    format!("{} values, expected {}", t.len(), seeds.len() * ps.numel()),
                ));
            }
            params.push(be.upload(t)?);
        }
        Ok(Model {
            spec,
            seeds: seeds.to_vec(),
            params,
        })
    }

    /// Parameter k of all replicas, on the host (`[M, numel]`).
    pub fn download(&self, be: &B, k: usize) -> Result<Vec<B::T>> {
        be.download(&self.params[k])
    }

    /// The LSTM parameters of layer 0 or 1.
    fn lstm(&self, layer: usize) -> LstmParams<'_, B> {
        let q = |d, k| &self.params[p::lstm(layer, d, k)];
        LstmParams {
            w_ih: [q(0, 0), q(1, 0)],
            w_hh: [q(0, 1), q(1, 1)],
            b_ih: [q(0, 2), q(1, 2)],
            b_hh: [q(0, 3), q(1, 3)],
        }
    }
}

/// Gradient buffers, one per parameter (`[M, numel]`), accumulated by `backward`.
pub struct Grads<B: Backend> {
    pub bufs: Vec<B::Buf>,
}

impl<B: Backend> Grads<B> {
    /// Zeroed gradients for `model`.
    pub fn new(be: &B, model: &Model<B>) -> Result<Self> {
        let bufs = model
            .params
            .iter()
            .map(|b| be.alloc(be.len(b)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Grads { bufs })
    }

    /// Set every gradient to zero.
    pub fn zero(&mut self, be: &B) -> Result<()> {
        self.bufs.iter_mut().try_for_each(|b| be.zero(b))
    }
}

/// Per-replica loss terms of one forward pass.
#[derive(Clone, Debug, PartialEq)]
pub struct Losses {
    /// Cross entropy, mean over the batch.
    pub ce: Vec<f64>,
    /// L1 reconstruction loss, mean over all elements.
    pub l1: Vec<f64>,
}

impl Losses {
    /// `ce + λ l1` per replica.
    pub fn total(&self, lambdas: &[f64]) -> Vec<f64> {
        self.ce
            .iter()
            .zip(&self.l1)
            .zip(lambdas)
            .map(|((c, l), lam)| c + lam * l)
            .collect()
    }
}

/// Training mode (dropout on, masks of training step `step`) or evaluation (dropout off).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Train { step: u64 },
    Eval,
}

/// Activations and activation gradients for one batch shape (M, T, B).
pub struct Workspace<B: Backend> {
    pub m: usize,
    pub t: usize,
    pub b: usize,
    xd: B::Buf,
    y1: B::Buf,
    /// What each LSTM layer saves for its backward pass (sizes asked of the backend).
    s1: B::Bytes,
    /// x_seq: lstm2's output `[M, T, B, 2H]`.
    pub xs: B::Buf,
    s2: B::Bytes,
    /// The LSTM layers' scratch (shared: its content does not outlive a call).
    lstm_scratch: B::Bytes,
    /// l1_fwd's partial sums.
    l1_scratch: B::Bytes,
    xs_p: B::Buf,
    pooled: B::Buf,
    arg: B::IBuf,
    z1: B::Buf,
    z1d: B::Buf,
    a1: B::Buf,
    /// `[M, B, C]`.
    pub logits: B::Buf,
    xs_r: B::Buf,
    rpre: B::Buf,
    /// Reconstruction `[M, T, B, F]`.
    pub rec: B::Buf,
    /// Cross entropy and L1 loss per replica `[M]`.
    pub ce: B::Buf,
    pub l1: B::Buf,
    // gradients
    d_logits: B::Buf,
    d_a1: B::Buf,
    d_z1d: B::Buf,
    d_z1: B::Buf,
    d_pooled: B::Buf,
    d_site: B::Buf,
    d_xs: B::Buf,
    d_rec: B::Buf,
    d_rpre: B::Buf,
    d_y1: B::Buf,
}

impl<B: Backend> Workspace<B> {
    /// Buffers for `m` replicas, `t` steps, `b` batch rows.
    pub fn new(be: &B, spec: &ModelSpec, m: usize, t: usize, b: usize) -> Result<Self> {
        if m == 0 || t == 0 || b == 0 {
            return Err(Error::shape(format!(
                "workspace: replicas {m}, steps {t}, batch {b}: all must be at least 1"
            )));
        }
        crate::limits::check_step(
            spec,
            m,
            t,
            b,
            size_of::<B::T>(),
            host_memory(be),
            "workspace (replicas, frames, batch rows)",
        )?;
        let (f, h, d, c) = (spec.features, spec.hidden, spec.fc1, spec.classes);
        let seq = m * t * b;
        let l0 = LstmShape { m, t, b, i: f, h };
        let l1 = LstmShape { i: 2 * h, ..l0 };
        let (z0, z1) = (be.lstm_sizes(&l0), be.lstm_sizes(&l1));
        let a = |n: usize| be.alloc(n);
        Ok(Workspace {
            m,
            t,
            b,
            xd: a(seq * f)?,
            y1: a(seq * 2 * h)?,
            s1: be.alloc_bytes(z0.saved)?,
            xs: a(seq * 2 * h)?,
            s2: be.alloc_bytes(z1.saved)?,
            lstm_scratch: be.alloc_bytes(z0.scratch.max(z1.scratch))?,
            l1_scratch: be.alloc_bytes(be.l1_scratch(m, t * b * f))?,
            xs_p: a(seq * 2 * h)?,
            pooled: a(m * b * 2 * h)?,
            arg: be.alloc_idx(m * b * 2 * h)?,
            z1: a(m * b * d)?,
            z1d: a(m * b * d)?,
            a1: a(m * b * d)?,
            logits: a(m * b * c)?,
            xs_r: a(seq * 2 * h)?,
            rpre: a(seq * f)?,
            rec: a(seq * f)?,
            ce: a(m)?,
            l1: a(m)?,
            d_logits: a(m * b * c)?,
            d_a1: a(m * b * d)?,
            d_z1d: a(m * b * d)?,
            d_z1: a(m * b * d)?,
            d_pooled: a(m * b * 2 * h)?,
            d_site: a(seq * 2 * h)?,
            d_xs: a(seq * 2 * h)?,
            d_rec: a(seq * f)?,
            d_rpre: a(seq * f)?,
            d_y1: a(seq * 2 * h)?,
        })
    }

    /// fc1's output after dropout: the relu's input `[M, B, D]`.
    pub fn relu_input(&self) -> &B::Buf {
        &self.z1d
    }
    /// fc2's output: the clamp's input `[M, T, B, F]`.
    pub fn clamp_input(&self) -> &B::Buf {
        &self.rpre
    }
    /// x_seq after dropout: the max-over-time input `[M, T, B, 2H]`.
    pub fn pool_input(&self) -> &B::Buf {
        &self.xs_p
    }

    fn lstm_shape(&self, spec: &ModelSpec, layer: usize) -> LstmShape {
        LstmShape {
            m: self.m,
            t: self.t,
            b: self.b,
            i: if layer == 0 {
                spec.features
            } else {
                2 * spec.hidden
            },
            h: spec.hidden,
        }
    }
}

fn dropout_spec<'a, B: Backend>(
    model: &'a Model<B>,
    mode: Mode,
    site: DropoutSite,
    step_at: Option<&'a B::Bytes>,
) -> DropoutSpec<'a, B> {
    let (p, step) = match mode {
        Mode::Train { step } => (model.spec.dropout, step),
        Mode::Eval => (0.0, 0),
    };
    DropoutSpec {
        p,
        seeds: &model.seeds,
        step,
        tensor: site as u32,
        step_at,
    }
}

fn linear(batch: usize, rows: usize, out: usize, inp: usize) -> GemmSpec {
    GemmSpec {
        batch,
        m: rows,
        n: out,
        k: inp,
        trans_a: false,
        trans_b: true,
        a_shared: false,
        accumulate: false,
    }
}

/// Forward pass of all replicas on one batch: `x [T, B, F]` (shared), labels `y [B]`.
/// Fills the workspace and returns the per-replica loss terms (read back from the device:
/// the training step reads them with its record instead, [`forward_ops`]).
pub fn forward<B: Backend>(
    be: &B,
    model: &Model<B>,
    ws: &mut Workspace<B>,
    x: &B::Buf,
    y: &B::IBuf,
    mode: Mode,
) -> Result<Losses> {
    forward_ops(be, model, ws, x, y, mode, None)?;
    let ce = be.download(&ws.ce)?.into_iter().map(Elem::f64).collect();
    let l1 = be.download(&ws.l1)?.into_iter().map(Elem::f64).collect();
    Ok(Losses { ce, l1 })
}

/// The ops of [`forward`], without reading anything back: the losses stay in `ws.ce` and
/// `ws.l1`. With `vals` (a [`crate::backend::StepVals`] buffer) the dropout step counter is
/// read from it on the device instead of `mode`'s (a recorded step replays with the counter
/// of the step being run).
pub fn forward_ops<B: Backend>(
    be: &B,
    model: &Model<B>,
    ws: &mut Workspace<B>,
    x: &B::Buf,
    y: &B::IBuf,
    mode: Mode,
    vals: Option<&B::Bytes>,
) -> Result<()> {
    let s = model.spec;
    let (m, t, b) = (ws.m, ws.t, ws.b);
    if m != model.m() {
        return Err(Error::shape(format!(
            "workspace for {} replicas, model has {}",
            m,
            model.m()
        )));
    }
    let (f, h, d, c) = (s.features, s.hidden, s.fc1, s.classes);
    let pp = &model.params;
    let dsp = |site| dropout_spec(model, mode, site, vals);
    be.dropout_fwd(&dsp(DropoutSite::Input), t * b * f, x, true, &mut ws.xd)?;
    be.lstm_fwd(
        &ws.lstm_shape(&s, 0),
        &ws.xd,
        &model.lstm(0),
        &mut ws.y1,
        &mut ws.s1,
        &mut ws.lstm_scratch,
    )?;
    be.lstm_fwd(
        &ws.lstm_shape(&s, 1),
        &ws.y1,
        &model.lstm(1),
        &mut ws.xs,
        &mut ws.s2,
        &mut ws.lstm_scratch,
    )?;
    // classification head
    be.dropout_fwd(
        &dsp(DropoutSite::Pool),
        t * b * 2 * h,
        &ws.xs,
        false,
        &mut ws.xs_p,
    )?;
    be.max_time_fwd(m, t, b, 2 * h, &ws.xs_p, &mut ws.pooled, &mut ws.arg)?;
    be.gemm(
        &linear(m, b, d, 2 * h),
        &ws.pooled,
        &pp[p::FC1_W],
        Some(&pp[p::FC1_B]),
        &mut ws.z1,
    )?;
    be.dropout_fwd(&dsp(DropoutSite::Fc1), b * d, &ws.z1, false, &mut ws.z1d)?;
    be.relu_fwd(m * b * d, &ws.z1d, &mut ws.a1)?;
    be.gemm(
        &linear(m, b, c, d),
        &ws.a1,
        &pp[p::FY_W],
        Some(&pp[p::FY_B]),
        &mut ws.logits,
    )?;
    // reconstruction head
    be.dropout_fwd(
        &dsp(DropoutSite::Recon),
        t * b * 2 * h,
        &ws.xs,
        false,
        &mut ws.xs_r,
    )?;
    be.gemm(
        &linear(m, t * b, f, 2 * h),
        &ws.xs_r,
        &pp[p::FC2_W],
        Some(&pp[p::FC2_B]),
        &mut ws.rpre,
    )?;
    be.clamp_fwd(m * t * b * f, -1.0, 1.0, &ws.rpre, &mut ws.rec)?;
    // losses
    be.l1_fwd(m, t * b * f, x, &ws.rec, &mut ws.l1, &mut ws.l1_scratch)?;
    be.ce_fwd(m, b, c, &ws.logits, y, &mut ws.ce)
}

/// Backward pass after [`forward`] (same workspace, inputs and mode): accumulates
/// d(ce_r + λ_r l1_r)/dθ_r into `grads` (zero them first for a fresh step).
#[allow(clippy::too_many_arguments)]
pub fn backward<B: Backend>(
    be: &B,
    model: &Model<B>,
    ws: &mut Workspace<B>,
    x: &B::Buf,
    y: &B::IBuf,
    mode: Mode,
    lambdas: &[f64],
    grads: &mut Grads<B>,
) -> Result<()> {
    backward_ops(be, model, ws, x, y, mode, lambdas, grads, None)
}

/// [`backward`], reading the dropout step counter from `vals` when given (as
/// [`forward_ops`]).
#[allow(clippy::too_many_arguments)]
pub fn backward_ops<B: Backend>(
    be: &B,
    model: &Model<B>,
    ws: &mut Workspace<B>,
    x: &B::Buf,
    y: &B::IBuf,
    mode: Mode,
    lambdas: &[f64],
    grads: &mut Grads<B>,
    vals: Option<&B::Bytes>,
) -> Result<()> {
    let s = model.spec;
    let (m, t, b) = (ws.m, ws.t, ws.b);
    if lambdas.len() != m {
        return Err(Error::shape(format!(
            "{} lambdas for {m} replicas",
            lambdas.len()
        )));
    }
    let (f, h, d, c) = (s.features, s.hidden, s.fc1, s.classes);
    let pp = &model.params;
    let g = &mut grads.bufs;
    let dsp = |site| dropout_spec(model, mode, site, vals);
    for buf in [
        &mut ws.d_logits,
        &mut ws.d_a1,
        &mut ws.d_z1d,
        &mut ws.d_z1,
        &mut ws.d_pooled,
        &mut ws.d_site,
        &mut ws.d_xs,
        &mut ws.d_rec,
        &mut ws.d_rpre,
        &mut ws.d_y1,
    ] {
        be.zero(buf)?;
    }
    let ones = vec![1.0; m];
    // classification head
    be.ce_bwd(b, c, &ones, &ws.logits, y, &mut ws.d_logits)?;
    linear_bwd(
        be,
        m,
        b,
        c,
        d,
        &ws.a1,
        &pp[p::FY_W],
        &ws.d_logits,
        Some(&mut ws.d_a1),
        g,
        p::FY_W,
    )?;
    be.relu_bwd(m * b * d, &ws.a1, &ws.d_a1, &mut ws.d_z1d)?;
    be.dropout_bwd(&dsp(DropoutSite::Fc1), b * d, &ws.d_z1d, &mut ws.d_z1)?;
    linear_bwd(
        be,
        m,
        b,
        d,
        2 * h,
        &ws.pooled,
        &pp[p::FC1_W],
        &ws.d_z1,
        Some(&mut ws.d_pooled),
        g,
        p::FC1_W,
    )?;
    be.max_time_bwd(m, t, b, 2 * h, &ws.d_pooled, &ws.arg, &mut ws.d_site)?;
    be.dropout_bwd(
        &dsp(DropoutSite::Pool),
        t * b * 2 * h,
        &ws.d_site,
        &mut ws.d_xs,
    )?;
    // reconstruction head
    be.l1_bwd(t * b * f, lambdas, x, &ws.rec, &mut ws.d_rec)?;
    be.clamp_bwd(
        m * t * b * f,
        -1.0,
        1.0,
        &ws.rpre,
        &ws.d_rec,
        &mut ws.d_rpre,
    )?;
    be.zero(&mut ws.d_site)?;
    linear_bwd(
        be,
        m,
        t * b,
        f,
        2 * h,
        &ws.xs_r,
        &pp[p::FC2_W],
        &ws.d_rpre,
        Some(&mut ws.d_site),
        g,
        p::FC2_W,
    )?;
    be.dropout_bwd(
        &dsp(DropoutSite::Recon),
        t * b * 2 * h,
        &ws.d_site,
        &mut ws.d_xs,
    )?;
    // the LSTM stack
    let (l0, l1) = (ws.lstm_shape(&s, 0), ws.lstm_shape(&s, 1));
    be.lstm_bwd(
        &l1,
        &ws.y1,
        &model.lstm(1),
        &ws.xs,
        &ws.s2,
        &mut ws.lstm_scratch,
        &ws.d_xs,
        Some(&mut ws.d_y1),
        &mut grads_lstm(g, 1),
    )?;
    be.lstm_bwd(
        &l0,
        &ws.xd,
        &model.lstm(0),
        &ws.y1,
        &ws.s1,
        &mut ws.lstm_scratch,
        &ws.d_y1,
        None,
        &mut grads_lstm(g, 0),
    )?;
    Ok(())
}

fn grads_lstm<B: Backend>(g: &mut [B::Buf], layer: usize) -> LstmGrads<'_, B> {
    let s: &mut [B::Buf; 8] = (&mut g[layer * 8..layer * 8 + 8])
        .try_into()
        .expect("8 lstm tensors per layer");
    let [a, b, c, d, e, f, gg, h] = s;
    LstmGrads {
        w_ih: [a, e],
        w_hh: [b, f],
        b_ih: [c, gg],
        b_hh: [d, h],
    }
}

/// Backward of `out = inp · W^T + bias` (W `[out, in]`) for `rows` rows per replica:
/// `d_inp += d_out · W`, `dW += d_out^T · inp`, `db += colsum(d_out)`. W's gradient is
/// `g[w]`, the bias's `g[w + 1]`.
#[allow(clippy::too_many_arguments)]
fn linear_bwd<B: Backend>(
    be: &B,
    m: usize,
    rows: usize,
    out: usize,
    inp: usize,
    x: &B::Buf,
    w: &B::Buf,
    d_out: &B::Buf,
    d_inp: Option<&mut B::Buf>,
    g: &mut [B::Buf],
    wk: usize,
) -> Result<()> {
    if let Some(d_inp) = d_inp {
        let s = GemmSpec {
            batch: m,
            m: rows,
            n: inp,
            k: out,
            trans_a: false,
            trans_b: false,
            a_shared: false,
            accumulate: true,
        };
        be.gemm(&s, d_out, w, None, d_inp)?;
    }
    let s = GemmSpec {
        batch: m,
        m: out,
        n: inp,
        k: rows,
        trans_a: true,
        trans_b: false,
        a_shared: false,
        accumulate: true,
    };
    be.gemm(&s, d_out, x, None, &mut g[wk])?;
    be.gemm_bias_grad(m, rows, out, d_out, &mut g[wk + 1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu::CpuBackend;

    #[test]
    fn workspace_size_limit_counts_what_the_workspace_allocates() {
        let be = CpuBackend::<f32>::new();
        let spec = ModelSpec {
            features: 6,
            hidden: 5,
            fc1: 7,
            classes: 3,
            dropout: 0.1,
        };
        let (m, t, b) = (2, 4, 3);
        let ws = Workspace::new(&be, &spec, m, t, b).unwrap();
        let floats = [
            &ws.xd,
            &ws.y1,
            &ws.xs,
            &ws.xs_p,
            &ws.pooled,
            &ws.z1,
            &ws.z1d,
            &ws.a1,
            &ws.logits,
            &ws.xs_r,
            &ws.rpre,
            &ws.rec,
            &ws.ce,
            &ws.l1,
            &ws.d_logits,
            &ws.d_a1,
            &ws.d_z1d,
            &ws.d_z1,
            &ws.d_pooled,
            &ws.d_site,
            &ws.d_xs,
            &ws.d_rec,
            &ws.d_rpre,
            &ws.d_y1,
        ];
        // the CPU backend's saved state and scratch, in elements
        let raw = [&ws.s1, &ws.s2, &ws.lstm_scratch, &ws.l1_scratch]
            .map(|r| be.bytes_len(r) / size_of::<f32>());
        let lens: Vec<usize> = floats.iter().map(|b| b.len()).chain(raw).collect();
        let total = lens.iter().sum::<usize>() + ws.arg.len();
        let largest = *lens.iter().max().unwrap();
        assert_eq!(
            crate::limits::workspace_elems(&spec, m, t, b),
            Some((largest, total))
        );
    }
}
