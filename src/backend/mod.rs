//! The `Backend` trait: one method per op, forward and backward, on backend-owned buffers.
//!
//! Two layers:
//! - [`Backend`] is what callers use (the model, training, gradcheck, tests). Every op checks
//!   its shapes and contracts ONCE, here, in front of the backends ([`check`]): a bad call
//!   gets the same [`crate::Error`] on every backend, and the backends never see it.
//! - [`Exec`] is what a backend implements: memory and the ops on arguments that have passed
//!   those checks (backends only `debug_assert!` them). `Backend` is implemented for every
//!   `Exec` by one blanket impl: a backend implements `Exec` and gets the checks, and cannot
//!   override them.
//!
//! Implementations: [`cpu`] (the reference, generic over f32/f64; f64 is every test's oracle),
//! `cuda` (kernels/*.cu through cudarc) and `emu` (the same kernels compiled for the host),
//! the last two through [`kernel`]. The model's forward and backward are written once against
//! `Backend` (`crate::model`).
//!
//! # Where an op lives (one name everywhere: e.g. `l1`, with methods `l1_fwd`, `l1_bwd`)
//! - contract and shapes: the method's docs on [`Backend`], its checks in [`check`];
//! - kernels and params structs: `kernels/<op>.cu` (kernels `<op>_fwd`, `<op>_bwd`, or
//!   `<op>_<fwd|bwd>_<part>` when a pass needs several, e.g. `l1_fwd_partial`);
//! - launch code: `src/backend/kernel/<op>.rs`; CPU twin: `src/backend/cpu/<op>.rs`;
//! - tests: `tests/ops/<op>.rs`; gradient check: `crate::gradcheck::check_<op>`;
//! - profiles: rows are grouped by op (`KernelTiming::op`), so a CPU and a GPU table line up.
//!
//! # Conventions (every op, every backend)
//! - **Layout.** Row-major, replica dimension first. Activations are time-major:
//!   a sequence tensor is `[M, T, B, F]` (replica, time, batch row, feature). The model's
//!   input `x` is `[T, B, F]`, shared by all replicas.
//! - **Forward ops overwrite** their outputs.
//! - **Backward ops accumulate**: every gradient an op produces is *added* into the buffer it
//!   is given (`dx += ...`), like PyTorch's `.grad`. The caller zeroes gradient buffers
//!   before a backward pass. Where a tensor feeds two consumers (x_seq feeds the max branch
//!   and the reconstruction branch) both backward calls add into one buffer, in a fixed order.
//! - **Determinism.** Reductions run in a fixed order (no float atomics): the same inputs on
//!   the same backend and device give bit-identical outputs.
//! - **Shapes** are checked once, in front of the backends; a mismatch is an `Error::Shape`.
//! - Per-replica scalars (λ, learning rates, seeds) are host slices of length M, and
//!   1 <= M <= [`MAX_REPLICAS`] on every backend.
//! - **Index buffers** ([`IdxBuf`]) remember the range of the values the host gave them (and
//!   `max_time_fwd` its argmax range), so label and argmax contracts are checked on the host
//!   without reading device memory.

pub mod check;
pub mod counters;
pub mod cpu;
pub mod cuda;
pub mod emu;
mod idx;
pub mod kernel;

pub use counters::Counters;
pub use idx::{IdxBounds, IdxBuf};

use crate::error::Result;
use std::fmt::{Debug, Display};

/// The most replicas one call may carry, on every backend: the kernels pass per-replica
/// scalars (seeds, λ) inside their params struct (`RX_MAX_REPLICAS` in kernels/common.cuh).
pub const MAX_REPLICAS: usize = 64;
const _: () = assert!(MAX_REPLICAS == kernel::table::RX_MAX_REPLICAS);

/// Element type of a backend: f32 (training) or f64 (gradient checks).
pub trait Elem:
    num_traits::Float
    + num_traits::FromPrimitive
    + bytemuck::Pod
    + Default
    + Send
    + Sync
    + Debug
    + Display
    + std::iter::Sum
    + std::ops::AddAssign
    + std::ops::SubAssign
    + 'static
{
    /// "f32" or "f64": the suffix of this type's kernel names.
    const DTYPE: &'static str;
    /// Conversion from f64 (rounding to nearest for f32).
    fn of(x: f64) -> Self;
    /// Conversion to f64 (exact).
    fn f64(self) -> f64;
}

impl Elem for f32 {
    const DTYPE: &'static str = "f32";
    #[inline]
    fn of(x: f64) -> Self {
        x as f32
    }
    #[inline]
    fn f64(self) -> f64 {
        self as f64
    }
}

impl Elem for f64 {
    const DTYPE: &'static str = "f64";
    #[inline]
    fn of(x: f64) -> Self {
        x
    }
    #[inline]
    fn f64(self) -> f64 {
        self
    }
}

/// Dropout of one tensor for all replicas at one training step.
///
/// The mask of replica `m`, element `i` (index within the replica's slice) is
/// `crate::rng::dropout_keep(seeds[m], step, tensor, i, threshold(p))`: a pure function, so
/// the backward pass recomputes it and all backends draw the same mask.
#[derive(Clone, Copy, Debug)]
pub struct DropoutSpec<'a> {
    /// Drop probability in [0, 1).
    pub p: f64,
    /// One seed per replica (its length is M).
    pub seeds: &'a [u64],
    /// Training step counter (0-based).
    pub step: u64,
    /// Which dropout site in the model (see `crate::model::DropoutSite`).
    pub tensor: u32,
}

/// A batched matrix product `C[r] (+)= op(A[r]) · op(B[r]) (+ bias[r])` for r in 0..batch.
///
/// `op(A)` is `m x k`: A is stored `m x k` row-major, or `k x m` when `trans_a`.
/// `op(B)` is `k x n`: B is stored `k x n`, or `n x k` when `trans_b` (a PyTorch Linear
/// weight `[out, in]` used as `x W^T`). Batch strides are the dense sizes (`m*k`, `k*n`,
/// `m*n`, `n` for the bias), except that `a_shared` makes every r read the same A.
/// `accumulate` adds into C (backward convention); otherwise C is overwritten (forward).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GemmSpec {
    pub batch: usize,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub trans_a: bool,
    pub trans_b: bool,
    pub a_shared: bool,
    pub accumulate: bool,
}

/// Shape of one bidirectional LSTM layer for all replicas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LstmShape {
    /// Replicas.
    pub m: usize,
    /// Time steps.
    pub t: usize,
    /// Batch rows.
    pub b: usize,
    /// Input features.
    pub i: usize,
    /// Hidden units per direction.
    pub h: usize,
}

impl LstmShape {
    /// Length of the buffer the forward pass saves for the backward pass: for both directions,
    /// every step's activated gates (i, f, g, o: 4H) and cell state (H), plus tanh(c) (H).
    /// Its layout is private to each backend.
    pub fn saved_len(&self) -> usize {
        2 * self.m * self.t * self.b * 6 * self.h
    }
    /// Length of the input `[M, T, B, I]`.
    pub fn x_len(&self) -> usize {
        self.m * self.t * self.b * self.i
    }
    /// Length of the output `[M, T, B, 2H]`.
    pub fn y_len(&self) -> usize {
        self.m * self.t * self.b * 2 * self.h
    }
}

/// The parameters of one bidirectional LSTM layer; index 0 is the forward direction
/// (`weight_ih_l0`), 1 the reverse (`weight_ih_l0_reverse`).
/// Shapes per replica, as PyTorch stores them: `w_ih [4H, I]`, `w_hh [4H, H]`,
/// `b_ih [4H]`, `b_hh [4H]`, gate order i, f, g, o; each buffer holds M of them.
pub struct LstmParams<'a, B: Backend + ?Sized> {
    pub w_ih: [&'a B::Buf; 2],
    pub w_hh: [&'a B::Buf; 2],
    pub b_ih: [&'a B::Buf; 2],
    pub b_hh: [&'a B::Buf; 2],
}

/// Gradients of one bidirectional LSTM layer (same shapes as [`LstmParams`]); accumulated.
pub struct LstmGrads<'a, B: Backend + ?Sized> {
    pub w_ih: [&'a mut B::Buf; 2],
    pub w_hh: [&'a mut B::Buf; 2],
    pub b_ih: [&'a mut B::Buf; 2],
    pub b_hh: [&'a mut B::Buf; 2],
}

/// Adam hyper-parameters for one step (PyTorch's `torch.optim.Adam`, no weight decay).
#[derive(Clone, Copy, Debug)]
pub struct AdamSpec<'a> {
    /// Learning rate per replica (length M).
    pub lr: &'a [f64],
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// The step number after this update, starting at 1 (bias correction uses it).
    pub step: u64,
}

/// One parameter tensor for Adam: all four buffers hold `[M, numel]`.
pub struct AdamTensor<'a, B: Backend + ?Sized> {
    pub param: &'a mut B::Buf,
    pub grad: &'a B::Buf,
    pub m: &'a mut B::Buf,
    pub v: &'a mut B::Buf,
}

/// Time spent in one op's kernels while profiling was on: one row per (op, kernel).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct KernelTiming {
    /// The op (a [`Backend`] method) that launched it, e.g. `lstm_fwd`.
    pub op: String,
    /// The kernel as launched, e.g. `lstm_fwd_step_f32` or `gemm_f32` (the CPU: the op with
    /// its element type, e.g. `lstm_fwd_f32`).
    pub kernel: String,
    /// Number of launches (CPU: calls).
    pub calls: u64,
    /// Total time, milliseconds.
    pub total_ms: f64,
}

/// What a backend implements: memory, and every op of [`Backend`] on arguments that
/// [`check`] has already accepted (lengths, counts, label and argmax ranges). Callers use
/// [`Backend`], which is implemented for every `Exec`; the op methods here have the same
/// names, signatures and conventions as there (see [`Backend`] for each op's contract).
#[allow(clippy::too_many_arguments)]
pub trait Exec {
    /// Element type of float buffers.
    type T: Elem;
    /// A buffer of `T`.
    type Buf;
    /// A buffer of `i32`.
    type IBuf;

    /// Short name: "cpu-f32", "cuda", "emu".
    fn name(&self) -> String;
    /// A zero-filled buffer of `len` elements.
    fn alloc(&self, len: usize) -> Result<Self::Buf>;
    /// A buffer holding `data`.
    fn upload(&self, data: &[Self::T]) -> Result<Self::Buf>;
    /// Overwrite a buffer with `data` (lengths must match).
    fn write(&self, buf: &mut Self::Buf, data: &[Self::T]) -> Result<()>;
    /// The buffer's contents.
    fn download(&self, buf: &Self::Buf) -> Result<Vec<Self::T>>;
    /// Number of elements.
    fn len(&self, buf: &Self::Buf) -> usize;
    /// Set every element to zero.
    fn zero(&self, buf: &mut Self::Buf) -> Result<()>;
    /// An index buffer holding `data`.
    fn upload_idx(&self, data: &[i32]) -> Result<Self::IBuf>;
    /// A zero-filled index buffer.
    fn alloc_idx(&self, len: usize) -> Result<Self::IBuf>;
    /// Overwrite an index buffer (lengths checked by the caller).
    fn write_idx(&self, buf: &mut Self::IBuf, data: &[i32]) -> Result<()>;
    /// An index buffer's contents.
    fn download_idx(&self, buf: &Self::IBuf) -> Result<Vec<i32>>;
    /// Wait for all queued work.
    fn sync(&self) -> Result<()>;
    /// What this backend has done so far (see [`counters`]).
    fn counters(&self) -> Counters;
    /// Per-kernel timing on or off.
    fn set_profiling(&self, _on: bool) -> Result<()> {
        Ok(())
    }
    /// Timings since profiling was turned on, per (op, kernel); clears them.
    fn take_profile(&self) -> Result<Vec<KernelTiming>> {
        Ok(Vec::new())
    }
    /// Called by [`Backend`] around every op (after its checks), to attribute the work in
    /// between (kernel launches, CPU time) to that op in profiles.
    fn op_begin(&self, _op: &'static str) {}
    /// See [`Exec::op_begin`].
    fn op_end(&self, _op: &'static str) {}

    fn dropout_fwd(
        &self,
        d: &DropoutSpec,
        n: usize,
        x: &Self::Buf,
        x_shared: bool,
        y: &mut Self::Buf,
    ) -> Result<()>;
    fn dropout_bwd(
        &self,
        d: &DropoutSpec,
        n: usize,
        dy: &Self::Buf,
        dx: &mut Self::Buf,
    ) -> Result<()>;
    fn gemm(
        &self,
        s: &GemmSpec,
        a: &Self::Buf,
        b: &Self::Buf,
        bias: Option<&Self::Buf>,
        c: &mut Self::Buf,
    ) -> Result<()>;
    fn gemm_bias_grad(
        &self,
        batch: usize,
        rows: usize,
        cols: usize,
        dy: &Self::Buf,
        db: &mut Self::Buf,
    ) -> Result<()>;
    fn lstm_fwd(
        &self,
        s: &LstmShape,
        x: &Self::Buf,
        p: &LstmParams<Self>,
        y: &mut Self::Buf,
        saved: &mut Self::Buf,
    ) -> Result<()>;
    fn lstm_bwd(
        &self,
        s: &LstmShape,
        x: &Self::Buf,
        p: &LstmParams<Self>,
        y: &Self::Buf,
        saved: &Self::Buf,
        dy: &Self::Buf,
        dx: Option<&mut Self::Buf>,
        g: &mut LstmGrads<Self>,
    ) -> Result<()>;
    fn max_time_fwd(
        &self,
        m: usize,
        t: usize,
        rows: usize,
        f: usize,
        x: &Self::Buf,
        y: &mut Self::Buf,
        arg: &mut Self::IBuf,
    ) -> Result<()>;
    fn max_time_bwd(
        &self,
        m: usize,
        t: usize,
        rows: usize,
        f: usize,
        dy: &Self::Buf,
        arg: &Self::IBuf,
        dx: &mut Self::Buf,
    ) -> Result<()>;
    fn relu_fwd(&self, n: usize, x: &Self::Buf, y: &mut Self::Buf) -> Result<()>;
    fn relu_bwd(&self, n: usize, y: &Self::Buf, dy: &Self::Buf, dx: &mut Self::Buf) -> Result<()>;
    fn clamp_fwd(&self, n: usize, lo: f64, hi: f64, x: &Self::Buf, y: &mut Self::Buf)
    -> Result<()>;
    fn clamp_bwd(
        &self,
        n: usize,
        lo: f64,
        hi: f64,
        x: &Self::Buf,
        dy: &Self::Buf,
        dx: &mut Self::Buf,
    ) -> Result<()>;
    fn l1_fwd(
        &self,
        m: usize,
        n: usize,
        target: &Self::Buf,
        r: &Self::Buf,
        loss: &mut Self::Buf,
    ) -> Result<()>;
    fn l1_bwd(
        &self,
        n: usize,
        scale: &[f64],
        target: &Self::Buf,
        r: &Self::Buf,
        dr: &mut Self::Buf,
    ) -> Result<()>;
    fn ce_fwd(
        &self,
        m: usize,
        b: usize,
        c: usize,
        logits: &Self::Buf,
        labels: &Self::IBuf,
        loss: &mut Self::Buf,
    ) -> Result<()>;
    fn ce_bwd(
        &self,
        b: usize,
        c: usize,
        scale: &[f64],
        logits: &Self::Buf,
        labels: &Self::IBuf,
        dlogits: &mut Self::Buf,
    ) -> Result<()>;
    fn adam(&self, s: &AdamSpec, tensors: &mut [AdamTensor<Self>]) -> Result<()>;
}

/// The ops the model needs, forward and backward, on buffers the backend owns, as callers see
/// them: every method checks its arguments ([`check`]) and then runs the backend's [`Exec`]
/// method of the same name. Implemented for every `Exec` (below); see the module docs for
/// the conventions every method follows.
pub trait Backend {
    /// Element type of float buffers.
    type T: Elem;
    /// A buffer of `T`.
    type Buf;
    /// A buffer of `i32` (labels, argmax indices) that knows the range of its values.
    type IBuf;

    /// Short name: "cpu-f32", "cuda", "emu".
    fn name(&self) -> String;

    // ---- memory -------------------------------------------------------------------------
    /// A zero-filled buffer of `len` elements.
    fn alloc(&self, len: usize) -> Result<Self::Buf>;
    /// A buffer holding `data`.
    fn upload(&self, data: &[Self::T]) -> Result<Self::Buf>;
    /// Overwrite a buffer with `data` (lengths must match).
    fn write(&self, buf: &mut Self::Buf, data: &[Self::T]) -> Result<()>;
    /// The buffer's contents.
    fn download(&self, buf: &Self::Buf) -> Result<Vec<Self::T>>;
    /// Number of elements.
    fn len(&self, buf: &Self::Buf) -> usize;
    /// Set every element to zero.
    fn zero(&self, buf: &mut Self::Buf) -> Result<()>;
    /// An index buffer holding `data` (its value range is recorded).
    fn upload_idx(&self, data: &[i32]) -> Result<Self::IBuf>;
    /// A zero-filled index buffer.
    fn alloc_idx(&self, len: usize) -> Result<Self::IBuf>;
    /// Overwrite an index buffer (lengths must match; its value range is recorded).
    fn write_idx(&self, buf: &mut Self::IBuf, data: &[i32]) -> Result<()>;
    /// An index buffer's contents.
    fn download_idx(&self, buf: &Self::IBuf) -> Result<Vec<i32>>;
    /// Wait for all queued work (a no-op on synchronous backends).
    fn sync(&self) -> Result<()>;
    /// Running totals of what this backend has done: kernel launches, syncs, bytes copied
    /// each way, allocations... counted where it happens ([`counters`]).
    fn counters(&self) -> Counters;

    // ---- profiling ----------------------------------------------------------------------
    /// Turn per-kernel timing on or off (CUDA: events around every launch; off = no events).
    fn set_profiling(&self, on: bool) -> Result<()>;
    /// The timings collected since profiling was turned on, one row per (op, kernel); clears
    /// them. Backends without a profiler return an empty list.
    fn take_profile(&self) -> Result<Vec<KernelTiming>>;

    // ---- dropout ------------------------------------------------------------------------
    /// `y[r, i] = x[r', i] * keep(r, i) / (1 - p)` with `r' = 0` when `x_shared`, else `r`.
    /// x: `[M or 1, n]`, y: `[M, n]`; `n` is the element count per replica; p in [0, 1).
    fn dropout_fwd(
        &self,
        d: &DropoutSpec,
        n: usize,
        x: &Self::Buf,
        x_shared: bool,
        y: &mut Self::Buf,
    ) -> Result<()>;
    /// `dx[r, i] += dy[r, i] * keep(r, i) / (1 - p)`; dy, dx: `[M, n]`.
    fn dropout_bwd(
        &self,
        d: &DropoutSpec,
        n: usize,
        dy: &Self::Buf,
        dx: &mut Self::Buf,
    ) -> Result<()>;

    // ---- gemm ---------------------------------------------------------------------------
    /// See [`GemmSpec`]. `bias`: `[batch, n]`, added to every row of C.
    fn gemm(
        &self,
        s: &GemmSpec,
        a: &Self::Buf,
        b: &Self::Buf,
        bias: Option<&Self::Buf>,
        c: &mut Self::Buf,
    ) -> Result<()>;
    /// Bias gradient of a gemm: `db[r, j] += sum_i dy[r, i, j]`; dy: `[batch, rows, cols]`,
    /// db: `[batch, cols]`.
    fn gemm_bias_grad(
        &self,
        batch: usize,
        rows: usize,
        cols: usize,
        dy: &Self::Buf,
        db: &mut Self::Buf,
    ) -> Result<()>;

    // ---- lstm ---------------------------------------------------------------------------
    /// A bidirectional LSTM layer, zero initial state: x `[M, T, B, I]` -> y `[M, T, B, 2H]`
    /// (forward direction in features `0..H`, reverse in `H..2H`). The input projection of
    /// all steps is one GEMM; each step then applies the fused cell. `saved` has
    /// `s.saved_len()` elements and is only meaningful to `lstm_bwd`. M, T, B, H >= 1.
    fn lstm_fwd(
        &self,
        s: &LstmShape,
        x: &Self::Buf,
        p: &LstmParams<Self>,
        y: &mut Self::Buf,
        saved: &mut Self::Buf,
    ) -> Result<()>;
    /// Backward through time of [`Backend::lstm_fwd`], given its inputs, output and `saved`:
    /// accumulates `dx` (when given) and the parameter gradients.
    #[allow(clippy::too_many_arguments)]
    fn lstm_bwd(
        &self,
        s: &LstmShape,
        x: &Self::Buf,
        p: &LstmParams<Self>,
        y: &Self::Buf,
        saved: &Self::Buf,
        dy: &Self::Buf,
        dx: Option<&mut Self::Buf>,
        g: &mut LstmGrads<Self>,
    ) -> Result<()>;

    // ---- max over time ------------------------------------------------------------------
    /// `y[r, b, f] = max_t x[r, t, b, f]`, `arg` = the first t reaching the max.
    /// x: `[M, T, B, F]` (rows = B), y and arg: `[M, B, F]`; 1 <= T <= i32::MAX.
    #[allow(clippy::too_many_arguments)]
    fn max_time_fwd(
        &self,
        m: usize,
        t: usize,
        rows: usize,
        f: usize,
        x: &Self::Buf,
        y: &mut Self::Buf,
        arg: &mut Self::IBuf,
    ) -> Result<()>;
    /// `dx[r, arg[r,b,f], b, f] += dy[r, b, f]`; `arg` must hold values in `0..T` (as
    /// `max_time_fwd` over the same T writes them).
    #[allow(clippy::too_many_arguments)]
    fn max_time_bwd(
        &self,
        m: usize,
        t: usize,
        rows: usize,
        f: usize,
        dy: &Self::Buf,
        arg: &Self::IBuf,
        dx: &mut Self::Buf,
    ) -> Result<()>;

    // ---- relu, clamp --------------------------------------------------------------------
    /// `y = max(x, 0)` over `n` elements.
    fn relu_fwd(&self, n: usize, x: &Self::Buf, y: &mut Self::Buf) -> Result<()>;
    /// `dx += dy * (y > 0)` (PyTorch's threshold_backward: zero gradient at 0).
    fn relu_bwd(&self, n: usize, y: &Self::Buf, dy: &Self::Buf, dx: &mut Self::Buf) -> Result<()>;
    /// `y = min(max(x, lo), hi)`.
    fn clamp_fwd(&self, n: usize, lo: f64, hi: f64, x: &Self::Buf, y: &mut Self::Buf)
    -> Result<()>;
    /// `dx += dy * (lo <= x <= hi)` (PyTorch's clamp_backward: inclusive bounds).
    #[allow(clippy::too_many_arguments)]
    fn clamp_bwd(
        &self,
        n: usize,
        lo: f64,
        hi: f64,
        x: &Self::Buf,
        dy: &Self::Buf,
        dx: &mut Self::Buf,
    ) -> Result<()>;

    // ---- losses -------------------------------------------------------------------------
    /// `loss[r] = mean_i |r[r, i] - target[i]|`; target `[n]` (shared), r `[M, n]`,
    /// loss `[M]`; n >= 1.
    fn l1_fwd(
        &self,
        m: usize,
        n: usize,
        target: &Self::Buf,
        r: &Self::Buf,
        loss: &mut Self::Buf,
    ) -> Result<()>;
    /// `dr[r, i] += scale[r] * sign(r[r, i] - target[i]) / n` (sign(0) = 0, as PyTorch).
    fn l1_bwd(
        &self,
        n: usize,
        scale: &[f64],
        target: &Self::Buf,
        r: &Self::Buf,
        dr: &mut Self::Buf,
    ) -> Result<()>;
    /// Cross entropy of logits `[M, B, C]` against labels `[B]` (shared, every one in
    /// `0..C`), mean over the batch, via a fused log-softmax: `loss [M]`.
    fn ce_fwd(
        &self,
        m: usize,
        b: usize,
        c: usize,
        logits: &Self::Buf,
        labels: &Self::IBuf,
        loss: &mut Self::Buf,
    ) -> Result<()>;
    /// `dlogits[r] += scale[r] * (softmax(logits[r]) - onehot(labels)) / B`.
    #[allow(clippy::too_many_arguments)]
    fn ce_bwd(
        &self,
        b: usize,
        c: usize,
        scale: &[f64],
        logits: &Self::Buf,
        labels: &Self::IBuf,
        dlogits: &mut Self::Buf,
    ) -> Result<()>;

    // ---- optimiser ----------------------------------------------------------------------
    /// One Adam step over every tensor of every replica (PyTorch's arithmetic: bias
    /// correction, eps added after the square root). Replica r of a tensor `[M, numel]` uses
    /// `s.lr[r]`; `s.step >= 1`.
    fn adam(&self, s: &AdamSpec, tensors: &mut [AdamTensor<Self>]) -> Result<()>;
}

/// Runs `f` between the backend's `op_begin(op)` and `op_end(op)` (profile attribution).
fn run_op<X: Exec + ?Sized>(x: &X, op: &'static str, f: impl FnOnce() -> Result<()>) -> Result<()> {
    x.op_begin(op);
    let r = f();
    x.op_end(op);
    r
}

/// The one implementation of [`Backend`]: check, then dispatch to the backend's [`Exec`].
impl<X: Exec + ?Sized> Backend for X {
    type T = <X as Exec>::T;
    type Buf = <X as Exec>::Buf;
    type IBuf = IdxBuf<<X as Exec>::IBuf>;

    fn name(&self) -> String {
        Exec::name(self)
    }
    fn alloc(&self, len: usize) -> Result<Self::Buf> {
        Exec::alloc(self, len)
    }
    fn upload(&self, data: &[Self::T]) -> Result<Self::Buf> {
        Exec::upload(self, data)
    }
    fn write(&self, buf: &mut Self::Buf, data: &[Self::T]) -> Result<()> {
        check::write(Exec::len(self, buf), data.len(), "write")?;
        Exec::write(self, buf, data)
    }
    fn download(&self, buf: &Self::Buf) -> Result<Vec<Self::T>> {
        Exec::download(self, buf)
    }
    fn len(&self, buf: &Self::Buf) -> usize {
        Exec::len(self, buf)
    }
    fn zero(&self, buf: &mut Self::Buf) -> Result<()> {
        Exec::zero(self, buf)
    }
    fn upload_idx(&self, data: &[i32]) -> Result<Self::IBuf> {
        Ok(IdxBuf::new(
            Exec::upload_idx(self, data)?,
            data.len(),
            IdxBounds::of(data),
        ))
    }
    fn alloc_idx(&self, len: usize) -> Result<Self::IBuf> {
        let zeros = if len == 0 {
            IdxBounds::Empty
        } else {
            IdxBounds::Known(0, 0)
        };
        Ok(IdxBuf::new(Exec::alloc_idx(self, len)?, len, zeros))
    }
    fn write_idx(&self, buf: &mut Self::IBuf, data: &[i32]) -> Result<()> {
        check::write(buf.len(), data.len(), "write_idx")?;
        Exec::write_idx(self, &mut buf.raw, data)?;
        buf.bounds = IdxBounds::of(data);
        Ok(())
    }
    fn download_idx(&self, buf: &Self::IBuf) -> Result<Vec<i32>> {
        Exec::download_idx(self, &buf.raw)
    }
    fn sync(&self) -> Result<()> {
        Exec::sync(self)
    }
    fn counters(&self) -> Counters {
        Exec::counters(self)
    }
    fn set_profiling(&self, on: bool) -> Result<()> {
        Exec::set_profiling(self, on)
    }
    fn take_profile(&self) -> Result<Vec<KernelTiming>> {
        Exec::take_profile(self)
    }

    fn dropout_fwd(
        &self,
        d: &DropoutSpec,
        n: usize,
        x: &Self::Buf,
        x_shared: bool,
        y: &mut Self::Buf,
    ) -> Result<()> {
        check::dropout_fwd(self, d, n, x, x_shared, y)?;
        run_op(self, "dropout_fwd", || {
            Exec::dropout_fwd(self, d, n, x, x_shared, y)
        })
    }
    fn dropout_bwd(
        &self,
        d: &DropoutSpec,
        n: usize,
        dy: &Self::Buf,
        dx: &mut Self::Buf,
    ) -> Result<()> {
        check::dropout_bwd(self, d, n, dy, dx)?;
        run_op(self, "dropout_bwd", || {
            Exec::dropout_bwd(self, d, n, dy, dx)
        })
    }
    fn gemm(
        &self,
        s: &GemmSpec,
        a: &Self::Buf,
        b: &Self::Buf,
        bias: Option<&Self::Buf>,
        c: &mut Self::Buf,
    ) -> Result<()> {
        check::gemm(self, s, a, b, bias, c)?;
        run_op(self, "gemm", || Exec::gemm(self, s, a, b, bias, c))
    }
    fn gemm_bias_grad(
        &self,
        batch: usize,
        rows: usize,
        cols: usize,
        dy: &Self::Buf,
        db: &mut Self::Buf,
    ) -> Result<()> {
        check::gemm_bias_grad(self, batch, rows, cols, dy, db)?;
        run_op(self, "gemm_bias_grad", || {
            Exec::gemm_bias_grad(self, batch, rows, cols, dy, db)
        })
    }
    fn lstm_fwd(
        &self,
        s: &LstmShape,
        x: &Self::Buf,
        p: &LstmParams<Self>,
        y: &mut Self::Buf,
        saved: &mut Self::Buf,
    ) -> Result<()> {
        check::lstm_fwd(self, s, x, p, y, saved)?;
        run_op(self, "lstm_fwd", || Exec::lstm_fwd(self, s, x, p, y, saved))
    }
    fn lstm_bwd(
        &self,
        s: &LstmShape,
        x: &Self::Buf,
        p: &LstmParams<Self>,
        y: &Self::Buf,
        saved: &Self::Buf,
        dy: &Self::Buf,
        dx: Option<&mut Self::Buf>,
        g: &mut LstmGrads<Self>,
    ) -> Result<()> {
        check::lstm_bwd(self, s, x, p, y, saved, dy, dx.as_deref(), g)?;
        run_op(self, "lstm_bwd", || {
            Exec::lstm_bwd(self, s, x, p, y, saved, dy, dx, g)
        })
    }
    fn max_time_fwd(
        &self,
        m: usize,
        t: usize,
        rows: usize,
        f: usize,
        x: &Self::Buf,
        y: &mut Self::Buf,
        arg: &mut Self::IBuf,
    ) -> Result<()> {
        check::max_time_fwd(self, m, t, rows, f, x, y, arg.len())?;
        // Until the op has run, nothing is known about `arg`; afterwards it holds 0..T.
        arg.bounds = IdxBounds::Unknown;
        run_op(self, "max_time_fwd", || {
            Exec::max_time_fwd(self, m, t, rows, f, x, y, &mut arg.raw)
        })?;
        arg.bounds = if arg.is_empty() {
            IdxBounds::Empty
        } else {
            IdxBounds::Known(0, t as i32 - 1)
        };
        Ok(())
    }
    fn max_time_bwd(
        &self,
        m: usize,
        t: usize,
        rows: usize,
        f: usize,
        dy: &Self::Buf,
        arg: &Self::IBuf,
        dx: &mut Self::Buf,
    ) -> Result<()> {
        check::max_time_bwd(self, m, t, rows, f, dy, (arg.len(), arg.bounds), dx)?;
        run_op(self, "max_time_bwd", || {
            Exec::max_time_bwd(self, m, t, rows, f, dy, &arg.raw, dx)
        })
    }
    fn relu_fwd(&self, n: usize, x: &Self::Buf, y: &mut Self::Buf) -> Result<()> {
        check::relu_fwd(self, n, x, y)?;
        run_op(self, "relu_fwd", || Exec::relu_fwd(self, n, x, y))
    }
    fn relu_bwd(&self, n: usize, y: &Self::Buf, dy: &Self::Buf, dx: &mut Self::Buf) -> Result<()> {
        check::relu_bwd(self, n, y, dy, dx)?;
        run_op(self, "relu_bwd", || Exec::relu_bwd(self, n, y, dy, dx))
    }
    fn clamp_fwd(
        &self,
        n: usize,
        lo: f64,
        hi: f64,
        x: &Self::Buf,
        y: &mut Self::Buf,
    ) -> Result<()> {
        check::clamp_fwd(self, n, x, y)?;
        run_op(self, "clamp_fwd", || Exec::clamp_fwd(self, n, lo, hi, x, y))
    }
    fn clamp_bwd(
        &self,
        n: usize,
        lo: f64,
        hi: f64,
        x: &Self::Buf,
        dy: &Self::Buf,
        dx: &mut Self::Buf,
    ) -> Result<()> {
        check::clamp_bwd(self, n, x, dy, dx)?;
        run_op(self, "clamp_bwd", || {
            Exec::clamp_bwd(self, n, lo, hi, x, dy, dx)
        })
    }
    fn l1_fwd(
        &self,
        m: usize,
        n: usize,
        target: &Self::Buf,
        r: &Self::Buf,
        loss: &mut Self::Buf,
    ) -> Result<()> {
        check::l1_fwd(self, m, n, target, r, loss)?;
        run_op(self, "l1_fwd", || Exec::l1_fwd(self, m, n, target, r, loss))
    }
    fn l1_bwd(
        &self,
        n: usize,
        scale: &[f64],
        target: &Self::Buf,
        r: &Self::Buf,
        dr: &mut Self::Buf,
    ) -> Result<()> {
        check::l1_bwd(self, n, scale, target, r, dr)?;
        run_op(self, "l1_bwd", || {
            Exec::l1_bwd(self, n, scale, target, r, dr)
        })
    }
    fn ce_fwd(
        &self,
        m: usize,
        b: usize,
        c: usize,
        logits: &Self::Buf,
        labels: &Self::IBuf,
        loss: &mut Self::Buf,
    ) -> Result<()> {
        check::ce_fwd(self, m, b, c, logits, (labels.len(), labels.bounds), loss)?;
        run_op(self, "ce_fwd", || {
            Exec::ce_fwd(self, m, b, c, logits, &labels.raw, loss)
        })
    }
    fn ce_bwd(
        &self,
        b: usize,
        c: usize,
        scale: &[f64],
        logits: &Self::Buf,
        labels: &Self::IBuf,
        dlogits: &mut Self::Buf,
    ) -> Result<()> {
        check::ce_bwd(
            self,
            b,
            c,
            scale,
            logits,
            (labels.len(), labels.bounds),
            dlogits,
        )?;
        run_op(self, "ce_bwd", || {
            Exec::ce_bwd(self, b, c, scale, logits, &labels.raw, dlogits)
        })
    }
    fn adam(&self, s: &AdamSpec, tensors: &mut [AdamTensor<Self>]) -> Result<()> {
        check::adam(self, s, tensors)?;
        run_op(self, "adam", || Exec::adam(self, s, tensors))
    }
}
