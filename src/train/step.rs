//! The training step: the one piece of code `recaux train` ([`super::trainer`]), `recaux bench`
//! ([`crate::bench`]) and the tests run for a step of every replica on one batch.
//!
//! A step is on the device from start to end:
//! 1. [`Step::stage`]: the batch (f16 features, labels) and the step's [`StepVals`] (dropout
//!    step, Adam's step size per replica, the host's keep flags) are written into pinned
//!    memory and sent on the copy stream ([`Slot`]; two slots per shape, used in turn). The
//!    trainer stages batch k+1 after launching step k and before reading its record, so on
//!    cuda the batch travels while the step runs.
//! 2. [`Step::launch`]: the `input` op widens the features on the device; forward and backward
//!    ([`model::forward_ops`], [`model::backward_ops`]), the dropout masks keyed by the step
//!    counter read from the step's values; `score` writes the step's record row per replica
//!    (CE, L1, correct predictions) and `guard` its non-finite flag: a replica whose loss or
//!    any gradient is NaN or infinite, or that the host stopped, is frozen on the device (its
//!    gradients zeroed, its step size 0), so Adam leaves its parameters as they are while the
//!    others go on; Adam runs through the table built once ([`Backend::adam_table`]) with the
//!    step size and bias correction read from the step's values.
//! 3. [`Step::read`]: the only device-to-host traffic, the record rows of the steps launched
//!    since the last read (`RECORD_COLS` values per replica and step), and one wait. The
//!    trainer reads after every step (it reports each step and stops a non-finite replica at
//!    once); up to `record_rows` steps may run between two reads.
//!
//! Launches: a shape's first step runs eagerly (a warm-up, as CUDA graphs want: it sizes the
//! scratch the backend keeps for itself, such as the tensor-core GEMMs' split-K partials, so
//! that nothing is allocated while recording); after it, the first time the shape runs in a
//! slot its launches are recorded (a CUDA graph; on emu the launch list) and every step after
//! replays the recording; everything that
//! changes from step to step is read from device memory, so a replay equals the eager launches
//! bit for bit. Where the backend cannot record (the CPU) or a capture fails, the step runs
//! eagerly and [`Step::eager_reason`] says why.
//!
//! Every buffer a step uses (workspace, LSTM saved state and scratch, reduction partials,
//! Adam's table, the guard's scratch, the staging slots, the backend's own scratch pool) is
//! allocated by the first step of a batch shape (T, B): after that, a step allocates nothing
//! on the device.

use crate::backend::{
    AdamSpec, AdamTable, AdamTensor, Backend, Elem, GuardState, MAX_REPLICAS, REC_CE, REC_CORRECT,
    REC_L1, REC_NONFINITE, RECORD_COLS, Slot, SlotLayout, StepVals, adam_step_values,
};
use crate::error::{Error, Result};
use crate::model::{self, Grads, Mode, Model, Workspace};
use crate::train::Adam;
use half::f16;
use std::collections::HashMap;
use std::collections::hash_map::Entry;

/// What one step recorded for its replicas (read back by [`Step::read`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Cross entropy per replica (mean over the batch).
    pub ce: Vec<f64>,
    /// L1 reconstruction loss per replica.
    pub l1: Vec<f64>,
    /// Correct predictions per replica.
    pub correct: Vec<usize>,
    /// Whether the replica's loss or a gradient was NaN or infinite at this step (then it is
    /// frozen on the device from this step on).
    pub nonfinite: Vec<bool>,
}

impl Record {
    /// `ce + λ l1` of replica r.
    pub fn total(&self, r: usize, lambda: f64) -> f64 {
        self.ce[r] + lambda * self.l1[r]
    }
}

/// The buffers of one batch shape (T, B).
struct Shape<B: Backend> {
    ws: Workspace<B>,
    /// The step's input `[T, B, F]` and labels `[B]`, written by the `input` op.
    x: B::Buf,
    y: B::IBuf,
    /// Staging slots, used in turn.
    slots: [Slot<B>; 2],
    next_slot: usize,
    /// The step recorded for each slot (its `input` op reads that slot), once captured.
    graphs: [Option<B::Graph>; 2],
    /// Whether a step of this shape has run eagerly (the first one does: see the module doc).
    warm: bool,
}

/// The step's own device state, beside the shapes' buffers.
struct Dev<B: Backend> {
    grads: Grads<B>,
    table: AdamTable<B>,
    /// `i32 [M]`: 1 while replica r trains on the device (the guard clears it for good).
    active: B::Bytes,
    guard_scratch: B::Bytes,
    /// The running step's values (written by the `input` op from the staged slot).
    vals: B::Bytes,
    /// `[rows, M, RECORD_COLS]`.
    record: B::Buf,
}

/// The training step of M replicas: gradients, Adam's table, the guard's state, the record
/// ring, and the buffers of every batch shape seen so far.
pub struct Step<B: Backend> {
    m: usize,
    lambdas: Vec<f64>,
    dev: Dev<B>,
    record_host: B::Pinned,
    /// Record the step once per shape and slot and replay it (see [`Step::set_graphs`]).
    graphs: bool,
    /// Why steps run eagerly although graphs are on (the backend cannot record, or a
    /// capture failed).
    eager_reason: Option<String>,
    rows: usize,
    /// Steps launched so far (step i writes record row i mod rows), and read back.
    launched: u64,
    read_upto: u64,
    /// The batch staged for the next launch: its shape (T, B) and slot.
    staged: Option<(usize, usize, usize)>,
    shapes: HashMap<(usize, usize), Shape<B>>,
    /// The staged batch in f16 (reused).
    x16: Vec<f16>,
}

impl<B: Backend> Step<B> {
    /// A step for `model` and its optimiser `adam`, replica r with weight `lambdas[r]` on its
    /// L1 loss; `active[r]` false for a replica already stopped (a resumed run). `record_rows`
    /// (at least 1) is how many steps may be launched between two reads.
    pub fn new(
        be: &B,
        model: &mut Model<B>,
        adam: &mut Adam<B>,
        lambdas: &[f64],
        active: &[bool],
        record_rows: usize,
    ) -> Result<Self> {
        let m = model.m();
        if lambdas.len() != m || active.len() != m {
            return Err(Error::shape(format!(
                "step: {} lambdas and {} active flags for {m} replicas",
                lambdas.len(),
                active.len()
            )));
        }
        if record_rows == 0 {
            return Err(Error::config("record_rows", "at least 1"));
        }
        let mut grads = Grads::new(be, model)?;
        let table = {
            let tensors = adam_tensors(model, &mut grads, adam);
            be.adam_table(m, &tensors)?
        };
        let mut act = be.alloc_bytes(4 * m)?;
        let flags: Vec<i32> = active.iter().map(|&a| a as i32).collect();
        be.write_bytes(&mut act, bytemuck::cast_slice(&flags))?;
        let guard_scratch = be.alloc_bytes(be.guard_scratch(table.entries()).max(1))?;
        let rec_len = record_rows * m * RECORD_COLS;
        Ok(Step {
            m,
            lambdas: lambdas.to_vec(),
            dev: Dev {
                grads,
                table,
                active: act,
                guard_scratch,
                vals: be.alloc_bytes(StepVals::BYTES)?,
                record: be.alloc(rec_len)?,
            },
            graphs: true,
            eager_reason: None,
            record_host: be.alloc_pinned(rec_len * size_of::<B::T>())?,
            rows: record_rows,
            launched: 0,
            read_upto: 0,
            staged: None,
            shapes: HashMap::new(),
            x16: Vec::new(),
        })
    }

    /// The gradients of the last step launched (a frozen replica's are zero).
    pub fn grads(&self) -> &Grads<B> {
        &self.dev.grads
    }

    /// Record the step (a CUDA graph; emu: the launch list) the first time a shape is seen in
    /// each staging slot, and replay it from then on (on by default). The recording reads
    /// everything that changes from step to step from device memory (the slot's batch, the
    /// step's values), so a replay equals running the same launches one by one. Off: every
    /// step launches its kernels one by one (a profile then times each launch).
    pub fn set_graphs(&mut self, on: bool) {
        self.graphs = on;
    }

    /// Why steps run eagerly although graphs are on: the backend cannot record (the CPU), or
    /// a capture failed (the error, in words); `None` while graphs are used or off.
    pub fn eager_reason(&self) -> Option<&str> {
        self.eager_reason.as_deref()
    }

    /// Queue one training step of every replica on a batch: [`Step::stage`], then
    /// [`Step::launch`]. Nothing is read back ([`Step::read`]).
    #[allow(clippy::too_many_arguments)]
    pub fn queue(
        &mut self,
        be: &B,
        model: &mut Model<B>,
        adam: &mut Adam<B>,
        batch: (&[f32], &[i32], usize),
        dropout_step: u64,
        lr: &[f64],
        keep: &[bool],
    ) -> Result<()> {
        self.room()?;
        self.stage(be, model, adam, batch, dropout_step, lr, keep)?;
        self.launch(be, model, adam)
    }

    /// Whether one more step may be launched before the next read (its record row is free).
    fn room(&self) -> Result<()> {
        if self.launched - self.read_upto == self.rows as u64 {
            return Err(Error::config(
                "record_rows",
                format!(
                    "{} steps launched without a read: read the records first",
                    self.rows
                ),
            ));
        }
        Ok(())
    }

    /// Stage the next step's batch `x [T, B, F]` (f32 values that are f16 values widened, as
    /// the feature store's sampler gives them: they travel as f16) with labels `y [B]`, and
    /// its values: dropout masks of step `dropout_step`, learning rate `lr[r]`, `keep[r]`
    /// false for a replica the host stopped. The copy goes on the copy stream without the
    /// host waiting: staged while the step before runs (after its launch, before its read),
    /// batch k+1 travels while step k computes (cuda). One batch is staged at a time, after
    /// the launch of the step before (Adam's step count is read here).
    #[allow(clippy::too_many_arguments)]
    pub fn stage(
        &mut self,
        be: &B,
        model: &Model<B>,
        adam: &Adam<B>,
        (x, y, t): (&[f32], &[i32], usize),
        dropout_step: u64,
        lr: &[f64],
        keep: &[bool],
    ) -> Result<()> {
        let m = self.m;
        if model.m() != m || lr.len() != m || keep.len() != m {
            return Err(Error::shape(format!(
                "step for {m} replicas: model of {}, {} learning rates, {} keep flags",
                model.m(),
                lr.len(),
                keep.len()
            )));
        }
        if self.staged.is_some() {
            return Err(Error::config(
                "step",
                "a batch is already staged: launch it first",
            ));
        }
        let b = y.len();
        let f = model.spec.features;
        if t == 0 || b == 0 || x.len() != t * b * f {
            return Err(Error::shape(format!(
                "step: a batch of {} values for T {t}, B {b}, F {f}",
                x.len()
            )));
        }
        // The labels, checked here: a replayed step checks nothing on the way.
        let classes = model.spec.classes;
        if let Some(l) = y.iter().find(|&&l| l < 0 || l as usize >= classes) {
            return Err(Error::shape(format!(
                "step: label {l} outside 0..{classes}"
            )));
        }
        // The features as f16: exact for values that came from f16 (NaN stays NaN).
        self.x16.clear();
        self.x16.extend(x.iter().map(|&v| f16::from_f32(v)));
        if let Some(i) = (0..x.len())
            .find(|&i| !(self.x16[i].to_f32() == x[i] || x[i].is_nan() && self.x16[i].is_nan()))
        {
            return Err(Error::Data(format!(
                "step: feature value {} at {i} is not an f16 value (the store holds f16)",
                x[i]
            )));
        }
        // The step's values.
        let (sizes, bc2_sqrt) = adam_step_values(lr, adam.cfg.beta1, adam.cfg.beta2, adam.step + 1);
        let mut vals = StepVals {
            dropout_step,
            record_row: self.launched,
            step_size: [0.0; MAX_REPLICAS],
            bc2_sqrt,
            keep: [0; MAX_REPLICAS],
        };
        vals.step_size[..m].copy_from_slice(&sizes);
        for (k, &on) in vals.keep.iter_mut().zip(keep) {
            *k = on as i32;
        }
        let spec = model.spec;
        let sh = match self.shapes.entry((t, b)) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let layout = SlotLayout { n: t * b * f, b };
                e.insert(Shape {
                    ws: Workspace::new(be, &spec, m, t, b)?,
                    x: be.alloc(t * b * f)?,
                    y: be.alloc_idx(b)?,
                    slots: [Slot::new(be, layout)?, Slot::new(be, layout)?],
                    next_slot: 0,
                    graphs: [None, None],
                    warm: false,
                })
            }
        };
        let k = sh.next_slot;
        sh.next_slot = 1 - k;
        sh.slots[k].stage(be, &self.x16, y, &vals)?;
        self.staged = Some((t, b, k));
        Ok(())
    }

    /// Launch the staged step: input, forward, backward, score, guard, Adam (recorded and
    /// replayed, see [`Step::set_graphs`]). Adam's step count goes up by one. At most
    /// `record_rows` steps may be launched between two reads.
    pub fn launch(&mut self, be: &B, model: &mut Model<B>, adam: &mut Adam<B>) -> Result<()> {
        self.room()?;
        let Some((t, b, k)) = self.staged.take() else {
            return Err(Error::config("step", "no batch staged to launch"));
        };
        // Adam's step sizes come from the staged values: the host's learning rates are not
        // read (zeros, so that a path reading them would not go unnoticed)
        let lr: Vec<f64> = vec![0.0; self.m];
        let lr = &lr[..];
        let sh = self
            .shapes
            .get_mut(&(t, b))
            .expect("staged shapes have buffers");
        let mut graphs = self.graphs && self.eager_reason.is_none();
        if graphs && sh.warm && sh.graphs[k].is_none() {
            match be.capture_begin() {
                Err(e) => {
                    self.eager_reason = Some(e.to_string());
                    graphs = false;
                }
                Ok(()) => {
                    // recorded, not run: the replay below runs it
                    let r = run_ops(be, model, adam, &mut self.dev, sh, k, &self.lambdas, lr);
                    let g = be.capture_end();
                    match (r, g) {
                        (Ok(()), Ok(g)) => sh.graphs[k] = Some(g),
                        (Err(e), _) | (_, Err(e)) => {
                            self.eager_reason = Some(format!("the capture failed: {e}"));
                            graphs = false;
                        }
                    }
                }
            }
        }
        match (&sh.graphs[k], graphs) {
            (Some(g), true) => {
                // The recording holds the addresses of the model's and Adam's buffers (all in
                // the table) and of this step's own: check the ones the caller passes.
                be.adam_table_check(
                    &self.dev.table,
                    &adam_tensors(model, &mut self.dev.grads, adam),
                )?;
                // SAFETY: every buffer the recording uses is alive with its size: the shape's
                // workspace, input, slot and the step's own state are owned by `self` and
                // never freed while it lives; the parameters, gradients and moments are the
                // buffers the table was built from (just checked), borrowed for this call.
                unsafe { be.graph_launch(g)? };
            }
            _ => run_ops(be, model, adam, &mut self.dev, sh, k, &self.lambdas, lr)?,
        }
        sh.warm = true;
        adam.step += 1;
        sh.slots[k].release(be)?;
        self.launched += 1;
        Ok(())
    }

    /// The records of the steps launched since the last read, oldest first: one copy to the
    /// host and one wait.
    pub fn read(&mut self, be: &B) -> Result<Vec<Record>> {
        let (from, to) = (self.read_upto, self.launched);
        if from == to {
            return Ok(Vec::new());
        }
        be.fetch(&self.dev.record, &mut self.record_host)?;
        let bytes = be.pinned_read(&self.record_host)?;
        let vals: Vec<B::T> = bytemuck::pod_collect_to_vec(bytes);
        self.read_upto = to;
        let (m, rows) = (self.m, self.rows as u64);
        Ok((from..to)
            .map(|i| {
                let row = (i % rows) as usize;
                let at = |r: usize, col: usize| vals[(row * m + r) * RECORD_COLS + col].f64();
                Record {
                    ce: (0..m).map(|r| at(r, REC_CE)).collect(),
                    l1: (0..m).map(|r| at(r, REC_L1)).collect(),
                    correct: (0..m).map(|r| at(r, REC_CORRECT) as usize).collect(),
                    nonfinite: (0..m).map(|r| at(r, REC_NONFINITE) != 0.0).collect(),
                }
            })
            .collect())
    }
}

/// The launches of one step on the batch staged in slot `k` of `sh`: input, forward,
/// backward, score, guard, Adam (Adam's step count is the caller's to advance).
#[allow(clippy::too_many_arguments)]
fn run_ops<B: Backend>(
    be: &B,
    model: &mut Model<B>,
    adam: &mut Adam<B>,
    dev: &mut Dev<B>,
    sh: &mut Shape<B>,
    k: usize,
    lambdas: &[f64],
    lr: &[f64],
) -> Result<()> {
    let spec = model.spec;
    let (m, b) = (model.m(), sh.ws.b);
    be.input(&sh.slots[k], &mut sh.x, &mut sh.y, &mut dev.vals)?;
    // the host's step counter is not read: the dropout kernels read the step's values
    let mode = Mode::Train { step: 0 };
    let v = Some(&dev.vals);
    model::forward_ops(be, model, &mut sh.ws, &sh.x, &sh.y, mode, v)?;
    dev.grads.zero(be)?;
    model::backward_ops(
        be,
        model,
        &mut sh.ws,
        &sh.x,
        &sh.y,
        mode,
        lambdas,
        &mut dev.grads,
        v,
    )?;
    let ws = &sh.ws;
    be.score(
        m,
        b,
        spec.classes,
        &ws.logits,
        &sh.y,
        [&ws.ce, &ws.l1],
        &dev.vals,
        &mut dev.record,
    )?;
    {
        let mut g: Vec<&mut B::Buf> = dev.grads.bufs.iter_mut().collect();
        be.guard(
            lambdas,
            [&ws.ce, &ws.l1],
            &mut g,
            &dev.table,
            GuardState {
                active: &mut dev.active,
                scratch: &mut dev.guard_scratch,
                vals: &mut dev.vals,
                record: &mut dev.record,
            },
        )?;
    }
    let spec = AdamSpec {
        lr,
        beta1: adam.cfg.beta1,
        beta2: adam.cfg.beta2,
        eps: adam.cfg.eps,
        step: adam.step + 1,
        vals: Some(&dev.vals),
        table: Some(&dev.table),
    };
    let mut tensors = adam_tensors(model, &mut dev.grads, adam);
    be.adam(&spec, &mut tensors)
}

/// Adam's tensors, in the model's parameter order (the table's order).
fn adam_tensors<'a, B: Backend>(
    model: &'a mut Model<B>,
    grads: &'a mut Grads<B>,
    adam: &'a mut Adam<B>,
) -> Vec<AdamTensor<'a, B>> {
    model
        .params
        .iter_mut()
        .zip(&grads.bufs)
        .zip(adam.m.iter_mut().zip(adam.v.iter_mut()))
        .map(|((param, grad), (m, v))| AdamTensor { param, grad, m, v })
        .collect()
}
