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
pub mod nvtx;
mod slot;

pub use counters::Counters;
pub use idx::{IdxBounds, IdxBuf};
pub use slot::{Slot, SlotLayout};

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
pub struct DropoutSpec<'a, B: Backend + ?Sized> {
    /// Drop probability in [0, 1).
    pub p: f64,
    /// One seed per replica (its length is M).
    pub seeds: &'a [u64],
    /// Training step counter (0-based).
    pub step: u64,
    /// Which dropout site in the model (see `crate::model::DropoutSite`).
    pub tensor: u32,
    /// Where to read the step instead of `step`: a [`StepVals`] buffer (its `dropout_step`),
    /// so that a step recorded once replays with the counter of the step being run.
    pub step_at: Option<&'a B::Bytes>,
}

impl<B: Backend + ?Sized> Clone for DropoutSpec<'_, B> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<B: Backend + ?Sized> Copy for DropoutSpec<'_, B> {}
impl<B: Backend + ?Sized> Debug for DropoutSpec<'_, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DropoutSpec")
            .field("p", &self.p)
            .field("seeds", &self.seeds)
            .field("step", &self.step)
            .field("tensor", &self.tensor)
            .field("step_at", &self.step_at.is_some())
            .finish()
    }
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
    /// Length of the input `[M, T, B, I]`.
    pub fn x_len(&self) -> usize {
        self.m * self.t * self.b * self.i
    }
    /// Length of the output `[M, T, B, 2H]`.
    pub fn y_len(&self) -> usize {
        self.m * self.t * self.b * 2 * self.h
    }
}

/// The arithmetic of a backend's float ops ([`Backend::precision`]); `recaux train` /
/// `bench` / `step --precision`, and the training config's `precision` field.
///
/// - `f64`: the exact double path (gradcheck); the element type is f64.
/// - `f32`: exact f32 arithmetic (the CPU reference's, and the per-step GPU kernels').
/// - `tf32`: the GEMMs (input projections, weight gradients, heads) on the tensor cores with
///   tf32 operands (10-bit significand) and f32 accumulation; everything else f32.
/// - `f16` / `bf16`: tf32 GEMMs, and the LSTM recurrence on the persistent kernels with W_hh
///   and h (forward), W_hh and dG (backward) rounded to IEEE half / bfloat16, f32
///   accumulation, f32 cell state and pointwise math. Shapes those kernels do not cover run
///   the per-step kernels (see [`LstmSizes::kernel`]).
/// - `auto`: the backend's default ([`Backend::default_precision`]).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    Auto,
    F64,
    F32,
    Tf32,
    F16,
    Bf16,
}

impl Precision {
    /// The lower-case name (`auto`, `f32`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Precision::Auto => "auto",
            Precision::F64 => "f64",
            Precision::F32 => "f32",
            Precision::Tf32 => "tf32",
            Precision::F16 => "f16",
            Precision::Bf16 => "bf16",
        }
    }
    /// Whether the GEMMs run on the tensor cores (tf32, f16, bf16).
    pub fn tensor_cores(self) -> bool {
        matches!(self, Precision::Tf32 | Precision::F16 | Precision::Bf16)
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a backend needs for an LSTM layer of a shape ([`Backend::lstm_sizes`]), like cuDNN's
/// reserve space and workspace: the state the forward pass saves for the backward pass, and
/// the scratch both passes use, in bytes. Their layouts are the backend's own: it may run
/// another kernel, or another precision, for another shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LstmSizes {
    /// Bytes of `saved` (written by `lstm_fwd`, read by `lstm_bwd`).
    pub saved: usize,
    /// Bytes of `scratch` (at least; its content does not outlive a call, so layers may share
    /// one).
    pub scratch: usize,
    /// Which kernels run and in which precision, in words (`recaux bench`, profiles).
    pub kernel: String,
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
pub struct AdamSpec<'a, B: Backend + ?Sized> {
    /// Learning rate per replica (length M).
    pub lr: &'a [f64],
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// The step number after this update, starting at 1 (bias correction uses it).
    pub step: u64,
    /// Where to read the step sizes and the bias correction instead of computing them from
    /// `lr` and `step`: a [`StepVals`] buffer (`step_size`, `bc2_sqrt`), so that a recorded
    /// step replays with the values of the step being run.
    pub vals: Option<&'a B::Bytes>,
    /// The table built once for these tensors by [`Backend::adam_table`]; without it a kernel
    /// backend builds one per call (an allocation and an upload).
    pub table: Option<&'a AdamTable<B>>,
}

impl<B: Backend + ?Sized> Clone for AdamSpec<'_, B> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<B: Backend + ?Sized> Copy for AdamSpec<'_, B> {}

impl<B: Backend + ?Sized> AdamSpec<'_, B> {
    /// Each replica's step size `lr_r / (1 - β1^t)` and `sqrt(1 - β2^t)`, computed as
    /// PyTorch does (`beta ** step` in double precision: C's `pow`). Every backend and the
    /// training step's [`StepVals`] take them from here.
    pub fn step_values(&self) -> (Vec<f64>, f64) {
        adam_step_values(self.lr, self.beta1, self.beta2, self.step)
    }
}

/// See [`AdamSpec::step_values`].
pub fn adam_step_values(lr: &[f64], beta1: f64, beta2: f64, step: u64) -> (Vec<f64>, f64) {
    let bc1 = 1.0 - beta1.powf(step as f64);
    let bc2 = 1.0 - beta2.powf(step as f64);
    (lr.iter().map(|&l| l / bc1).collect(), bc2.sqrt())
}

/// Adam's table of (tensor, replica) slices on the device, built once for a set of tensors
/// ([`Backend::adam_table`]) so that a step uploads nothing for Adam; `guard` reads the
/// gradients through it too. The host keeps the addresses it was built from, and every op
/// given the table checks them against its tensors first. The CPU backend keeps an empty one.
pub struct AdamTable<B: Backend + ?Sized> {
    pub(crate) bytes: B::Bytes,
    /// Per entry (tensor-major, replica-minor): param, grad, m, v addresses and numel.
    pub(crate) key: Vec<[u64; 5]>,
    /// Replicas.
    pub(crate) m: usize,
    /// Tensors.
    pub(crate) tensors: usize,
}

impl<B: Backend + ?Sized> AdamTable<B> {
    /// Entries (tensors x replicas).
    pub fn entries(&self) -> usize {
        self.m * self.tensors
    }
}

/// One parameter tensor for Adam: all four buffers hold `[M, numel]`.
pub struct AdamTensor<'a, B: Backend + ?Sized> {
    pub param: &'a mut B::Buf,
    pub grad: &'a B::Buf,
    pub m: &'a mut B::Buf,
    pub v: &'a mut B::Buf,
}

/// Values that change from one training step to the next, kept in backend memory (a `Bytes`
/// buffer of [`StepVals::BYTES`] bytes) so that a step recorded once replays with the values
/// of the step being run: the ops read them there when they are given the buffer
/// ([`DropoutSpec::step_at`], [`AdamSpec::vals`], `score`, `guard`). The host writes them with
/// each batch ([`Slot::stage`], then the `input` op copies them to the step's buffer); `guard`
/// zeroes the step size of a frozen replica.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct StepVals {
    /// The dropout step counter (the masks are keyed by it).
    pub dropout_step: u64,
    /// The row of the record ring `score` and `guard` write (taken modulo its rows).
    pub record_row: u64,
    /// Adam's step size per replica, `lr_r / (1 - β1^t)` (0 for a frozen replica).
    pub step_size: [f64; MAX_REPLICAS],
    /// `sqrt(1 - β2^t)`.
    pub bc2_sqrt: f64,
    /// 1 while the host keeps replica r training, 0 once it stopped it (early stopping).
    pub keep: [i32; MAX_REPLICAS],
}

impl StepVals {
    /// Its size in bytes.
    pub const BYTES: usize = size_of::<StepVals>();
    /// Byte offsets of the fields the kernels read (their params hold these addresses).
    pub const AT_DROPOUT_STEP: usize = std::mem::offset_of!(StepVals, dropout_step);
    pub const AT_RECORD_ROW: usize = std::mem::offset_of!(StepVals, record_row);
    pub const AT_STEP_SIZE: usize = std::mem::offset_of!(StepVals, step_size);
    pub const AT_BC2_SQRT: usize = std::mem::offset_of!(StepVals, bc2_sqrt);
    pub const AT_KEEP: usize = std::mem::offset_of!(StepVals, keep);

    /// The values read back from a buffer's bytes.
    pub fn from_bytes(b: &[u8]) -> StepVals {
        bytemuck::pod_read_unaligned(&b[..Self::BYTES])
    }
}

/// One row of a step's record per replica ([`Backend::score`], [`Backend::guard`]): its four
/// values, stored as the backend's element type `[rows, M, RECORD_COLS]`.
pub const RECORD_COLS: usize = 4;
/// Column of the cross entropy in a record row.
pub const REC_CE: usize = 0;
/// Column of the L1 loss.
pub const REC_L1: usize = 1;
/// Column of the count of correct predictions.
pub const REC_CORRECT: usize = 2;
/// Column of the non-finite flag (1: the loss or a gradient was NaN or infinite).
pub const REC_NONFINITE: usize = 3;

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

/// One kernel launch while profiling was on (CPU: one op call), for a trace: the op that
/// launched it, the kernel, when it started and how long it took, in microseconds since the
/// process's trace origin ([`trace_clock_us`]). On cuda the start is when the host queued the
/// launch and the duration is the GPU's (CUDA events); on emu and the CPU both are host time.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct LaunchEvent {
    pub op: String,
    pub kernel: String,
    pub start_us: f64,
    pub dur_us: f64,
}

/// The most launch events a backend keeps between two [`Backend::take_trace`] calls (the
/// first ones since profiling was turned on; later ones are not kept).
pub const TRACE_CAP: usize = 100_000;

/// Microseconds from the process's trace origin (its first call) to `t`.
pub fn trace_clock_us(t: std::time::Instant) -> f64 {
    static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let o = *ORIGIN.get_or_init(std::time::Instant::now);
    if t >= o {
        (t - o).as_secs_f64() * 1e6
    } else {
        -((o - t).as_secs_f64() * 1e6)
    }
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
    /// Raw device memory, bytes (the LSTM's saved state and scratch, reduction partials,
    /// Adam's table, a step's values, a batch in f16).
    type Bytes;
    /// Host memory the device copies from and to without the host waiting (page-locked on
    /// cuda; plain memory elsewhere).
    type Pinned;
    /// A recorded step: a CUDA graph; on emu the launches and memsets in order.
    type Graph;

    /// Short name: "cpu-f32", "cuda", "emu".
    fn name(&self) -> String;
    /// See [`Backend::precision`].
    fn precision(&self) -> Precision;
    /// See [`Backend::default_precision`].
    fn default_precision(&self) -> Precision;
    /// The precisions this backend runs (never `auto`), the exact one first.
    fn precisions(&self) -> &'static [Precision];
    /// Set the precision (resolved and checked in front: one of [`Exec::precisions`]).
    fn set_precision(&self, p: Precision);
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

    /// Zero-filled raw memory of `bytes` bytes.
    fn alloc_bytes(&self, bytes: usize) -> Result<Self::Bytes>;
    /// Its size in bytes.
    fn bytes_len(&self, b: &Self::Bytes) -> usize;
    /// Copy `data` into the start of `b` (the front checked the size).
    fn write_bytes(&self, b: &mut Self::Bytes, data: &[u8]) -> Result<()>;
    /// The contents of `b`.
    fn read_bytes(&self, b: &Self::Bytes) -> Result<Vec<u8>>;
    /// Zero-filled pinned host memory of `bytes` bytes.
    fn alloc_pinned(&self, bytes: usize) -> Result<Self::Pinned>;
    /// Its size in bytes.
    fn pinned_len(&self, p: &Self::Pinned) -> usize;
    /// Its bytes to fill, once the last [`Exec::send`] from it has finished reading them.
    fn pinned_mut<'a>(&self, p: &'a mut Self::Pinned) -> Result<&'a mut [u8]>;
    /// Its bytes to read, once the last [`Exec::fetch`] into it has finished (the host waits:
    /// a synchronisation).
    fn pinned_read<'a>(&self, p: &'a Self::Pinned) -> Result<&'a [u8]>;
    /// Copy the first `bytes` of `src` into `dst` on the copy stream, without the host
    /// waiting: first after the work that [`Exec::release`] last marked on `src`, and before
    /// any work queued after this call (the front checked the sizes).
    fn send(&self, src: &mut Self::Pinned, dst: &mut Self::Bytes, bytes: usize) -> Result<()>;
    /// Mark on `src` that the work queued so far is all that reads what `send` copied from it
    /// (the next `send` from `src` overwrites its destination only after that work).
    fn release(&self, src: &mut Self::Pinned) -> Result<()>;
    /// Copy `src` into the start of `dst` after the work queued so far, without the host
    /// waiting; [`Exec::pinned_read`] waits for it.
    fn fetch(&self, src: &Self::Buf, dst: &mut Self::Pinned) -> Result<()>;
    /// Start recording: until [`Exec::capture_end`], launches and memsets are recorded, not
    /// run, and copies, syncs and allocations are errors (CUDA's stream-capture rules).
    /// `Err(Error::Unsupported(why))` where the backend cannot record.
    fn capture_begin(&self) -> Result<()>;
    /// Stop recording and return what was recorded.
    fn capture_end(&self) -> Result<Self::Graph>;
    /// Run a recorded step with the parameters it was recorded with.
    ///
    /// # Safety
    /// Every buffer the recorded launches and memsets use must still be alive, with the
    /// sizes it had then (the recording holds their addresses).
    unsafe fn graph_launch(&self, g: &Self::Graph) -> Result<()>;
    /// Launches and memsets in a recorded step.
    fn graph_len(&self, g: &Self::Graph) -> usize;

    /// Per-kernel timing on or off.
    fn set_profiling(&self, _on: bool) -> Result<()> {
        Ok(())
    }
    /// Timings since profiling was turned on, per (op, kernel); clears them.
    fn take_profile(&self) -> Result<Vec<KernelTiming>> {
        Ok(Vec::new())
    }
    /// The launches since profiling was turned on (at most [`TRACE_CAP`]); no more are kept
    /// until profiling is turned on again.
    fn take_trace(&self) -> Result<Vec<LaunchEvent>> {
        Ok(Vec::new())
    }
    /// Called by [`Backend`] around every op (after its checks), to attribute the work in
    /// between (kernel launches, CPU time) to that op in profiles.
    fn op_begin(&self, _op: &'static str) {}
    /// See [`Exec::op_begin`].
    fn op_end(&self, _op: &'static str) {}

    fn dropout_fwd(
        &self,
        d: &DropoutSpec<Self>,
        n: usize,
        x: &Self::Buf,
        x_shared: bool,
        y: &mut Self::Buf,
    ) -> Result<()>;
    fn dropout_bwd(
        &self,
        d: &DropoutSpec<Self>,
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
    /// See [`Backend::lstm_sizes`].
    fn lstm_sizes(&self, s: &LstmShape) -> LstmSizes;
    fn lstm_fwd(
        &self,
        s: &LstmShape,
        x: &Self::Buf,
        p: &LstmParams<Self>,
        y: &mut Self::Buf,
        saved: &mut Self::Bytes,
        scratch: &mut Self::Bytes,
    ) -> Result<()>;
    fn lstm_bwd(
        &self,
        s: &LstmShape,
        x: &Self::Buf,
        p: &LstmParams<Self>,
        y: &Self::Buf,
        saved: &Self::Bytes,
        scratch: &mut Self::Bytes,
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
    /// See [`Backend::l1_scratch`].
    fn l1_scratch(&self, m: usize, n: usize) -> usize;
    fn l1_fwd(
        &self,
        m: usize,
        n: usize,
        target: &Self::Buf,
        r: &Self::Buf,
        loss: &mut Self::Buf,
        scratch: &mut Self::Bytes,
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
    /// See [`Backend::adam_table`] (tensors checked).
    fn adam_table(&self, m: usize, tensors: &[AdamTensor<Self>]) -> Result<AdamTable<Self>>;
    /// See [`Backend::adam_table_check`] (tensors checked). The CPU keeps no addresses.
    fn adam_table_check(
        &self,
        _table: &AdamTable<Self>,
        _tensors: &[AdamTensor<Self>],
    ) -> Result<()> {
        Ok(())
    }
    fn adam(&self, s: &AdamSpec<Self>, tensors: &mut [AdamTensor<Self>]) -> Result<()>;
    fn input(
        &self,
        layout: SlotLayout,
        src: &Self::Bytes,
        x: &mut Self::Buf,
        y: &mut Self::IBuf,
        vals: &mut Self::Bytes,
    ) -> Result<()>;
    fn score(
        &self,
        m: usize,
        b: usize,
        c: usize,
        logits: &Self::Buf,
        labels: &Self::IBuf,
        loss: [&Self::Buf; 2],
        vals: &Self::Bytes,
        record: &mut Self::Buf,
    ) -> Result<()>;
    /// See [`Backend::guard_scratch`].
    fn guard_scratch(&self, entries: usize) -> usize;
    fn guard(
        &self,
        lambdas: &[f64],
        loss: [&Self::Buf; 2],
        grads: &mut [&mut Self::Buf],
        table: &AdamTable<Self>,
        state: GuardState<'_, Self>,
    ) -> Result<()>;
}

/// What `guard` reads and writes besides the losses and gradients.
pub struct GuardState<'a, B: Backend + ?Sized> {
    /// `i32 [M]`: 1 while replica r trains, 0 once it is frozen (kept across steps).
    pub active: &'a mut B::Bytes,
    /// At least [`Backend::guard_scratch`] bytes.
    pub scratch: &'a mut B::Bytes,
    /// The step's [`StepVals`] (`keep` read, `step_size` of a frozen replica zeroed).
    pub vals: &'a mut B::Bytes,
    /// The record ring `[rows, M, RECORD_COLS]`.
    pub record: &'a mut B::Buf,
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
    /// Raw device memory, bytes ([`Exec::Bytes`]).
    type Bytes;
    /// Host memory the device copies from and to asynchronously ([`Exec::Pinned`]).
    type Pinned;
    /// A recorded step ([`Exec::Graph`]).
    type Graph;

    /// Short name: "cpu-f32", "cuda", "emu".
    fn name(&self) -> String;
    /// The precision the float ops run in now (never `auto`); a new backend runs the exact
    /// one of its element type (f32 or f64).
    fn precision(&self) -> Precision;
    /// What `auto` picks: the exact precision on the CPU; on the kernel backends (cuda, emu)
    /// with f32 elements `bf16`, the fastest mode within its tolerance (README, "Precision").
    fn default_precision(&self) -> Precision;
    /// The precisions this backend runs (never `auto`), the exact one first.
    fn precisions(&self) -> &'static [Precision];
    /// Choose the precision of the ops that follow (`auto`: [`Backend::default_precision`]);
    /// returns the one set. `Err(Error::Unsupported)` naming the ones it runs otherwise.
    fn set_precision(&self, p: Precision) -> Result<Precision>;

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

    // ---- raw and pinned memory, the copy stream ----------------------------------------
    /// Zero-filled raw memory of `bytes` bytes.
    fn alloc_bytes(&self, bytes: usize) -> Result<Self::Bytes>;
    /// Size in bytes.
    fn bytes_len(&self, b: &Self::Bytes) -> usize;
    /// Copy `data` into the start of `b` (at most its size); the host waits for nothing.
    fn write_bytes(&self, b: &mut Self::Bytes, data: &[u8]) -> Result<()>;
    /// The contents of `b` (the host waits: a synchronisation).
    fn read_bytes(&self, b: &Self::Bytes) -> Result<Vec<u8>>;
    /// Zero-filled host memory the device copies from and to asynchronously.
    fn alloc_pinned(&self, bytes: usize) -> Result<Self::Pinned>;
    /// Its bytes to fill, once the last `send` from it has read them (on cuda the host waits
    /// only if that copy is still running: then a synchronisation).
    fn pinned_mut<'a>(&self, p: &'a mut Self::Pinned) -> Result<&'a mut [u8]>;
    /// Its bytes, once the last `fetch` into it has finished (the host waits: a
    /// synchronisation).
    fn pinned_read<'a>(&self, p: &'a Self::Pinned) -> Result<&'a [u8]>;
    /// Copy the first `bytes` of `src` into `dst` on the copy stream without the host waiting:
    /// after the work [`Backend::release`] last marked on `src`, before any work queued after
    /// this call.
    fn send(&self, src: &mut Self::Pinned, dst: &mut Self::Bytes, bytes: usize) -> Result<()>;
    /// Mark on `src` that the work queued so far is all that reads what `send` copied from it.
    fn release(&self, src: &mut Self::Pinned) -> Result<()>;
    /// Copy all of `src` into the start of `dst` after the work queued so far, without the
    /// host waiting ([`Backend::pinned_read`] waits).
    fn fetch(&self, src: &Self::Buf, dst: &mut Self::Pinned) -> Result<()>;

    // ---- recorded steps (CUDA graphs) ---------------------------------------------------
    /// Start recording: until [`Backend::capture_end`], launches and memsets are recorded,
    /// not run; copies, syncs and allocations are errors (CUDA's stream-capture rules, which
    /// emu enforces too). `Err(Error::Unsupported(why))` where the backend cannot record.
    fn capture_begin(&self) -> Result<()>;
    /// Stop recording and return what was recorded.
    fn capture_end(&self) -> Result<Self::Graph>;
    /// Run a recorded step, with the parameters it was recorded with.
    ///
    /// # Safety
    /// Every buffer the recorded launches and memsets use must still be alive (the recording
    /// holds their addresses): the owner of the buffers owns the recording too
    /// (`crate::train::step::Step`).
    unsafe fn graph_launch(&self, g: &Self::Graph) -> Result<()>;
    /// Launches and memsets in a recorded step.
    fn graph_len(&self, g: &Self::Graph) -> usize;

    // ---- profiling ----------------------------------------------------------------------
    /// Turn per-kernel timing on or off (CUDA: events around every launch; off = no events).
    fn set_profiling(&self, on: bool) -> Result<()>;
    /// The timings collected since profiling was turned on, one row per (op, kernel); clears
    /// them. Backends without a profiler return an empty list.
    fn take_profile(&self) -> Result<Vec<KernelTiming>>;
    /// One event per launch (CPU: per op call) since profiling was turned on, the first
    /// [`TRACE_CAP`] of them, with the names the profile uses; after this call no more are
    /// kept until profiling is turned on again (a trace of the first few steps).
    fn take_trace(&self) -> Result<Vec<LaunchEvent>>;

    // ---- dropout ------------------------------------------------------------------------
    /// `y[r, i] = x[r', i] * keep(r, i) / (1 - p)` with `r' = 0` when `x_shared`, else `r`.
    /// x: `[M or 1, n]`, y: `[M, n]`; `n` is the element count per replica; p in [0, 1).
    fn dropout_fwd(
        &self,
        d: &DropoutSpec<Self>,
        n: usize,
        x: &Self::Buf,
        x_shared: bool,
        y: &mut Self::Buf,
    ) -> Result<()>;
    /// `dx[r, i] += dy[r, i] * keep(r, i) / (1 - p)`; dy, dx: `[M, n]`.
    fn dropout_bwd(
        &self,
        d: &DropoutSpec<Self>,
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
    /// The sizes of `saved` and `scratch` this backend needs for a layer of shape `s`, and
    /// which kernels it runs (a query, like cuDNN's reserve-space size: the layouts are the
    /// backend's own).
    fn lstm_sizes(&self, s: &LstmShape) -> LstmSizes;
    /// A bidirectional LSTM layer, zero initial state: x `[M, T, B, I]` -> y `[M, T, B, 2H]`
    /// (forward direction in features `0..H`, reverse in `H..2H`). The input projection of
    /// all steps is one GEMM; each step then applies the fused cell. `saved` has exactly
    /// [`Backend::lstm_sizes`]`.saved` bytes and is only meaningful to `lstm_bwd`; `scratch`
    /// at least `.scratch` bytes (its content does not outlive the call). M, T, B, H >= 1.
    fn lstm_fwd(
        &self,
        s: &LstmShape,
        x: &Self::Buf,
        p: &LstmParams<Self>,
        y: &mut Self::Buf,
        saved: &mut Self::Bytes,
        scratch: &mut Self::Bytes,
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
        saved: &Self::Bytes,
        scratch: &mut Self::Bytes,
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
    /// Bytes of the scratch `l1_fwd` needs for `m` replicas of `n` elements (its partial sums).
    fn l1_scratch(&self, m: usize, n: usize) -> usize;
    /// `loss[r] = mean_i |r[r, i] - target[i]|`; target `[n]` (shared), r `[M, n]`,
    /// loss `[M]`; n >= 1; `scratch` at least [`Backend::l1_scratch`] bytes.
    fn l1_fwd(
        &self,
        m: usize,
        n: usize,
        target: &Self::Buf,
        r: &Self::Buf,
        loss: &mut Self::Buf,
        scratch: &mut Self::Bytes,
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
    /// Adam's table for `tensors` (`[M, numel]` each), built once: pass it in
    /// [`AdamSpec::table`] (and to `guard`) with the same tensors, in the same order.
    fn adam_table(&self, m: usize, tensors: &[AdamTensor<Self>]) -> Result<AdamTable<Self>>;
    /// Whether `table` was built for these very buffers (addresses and sizes, in order): a
    /// recorded step holds those addresses, so its owner checks them before a replay.
    fn adam_table_check(&self, table: &AdamTable<Self>, tensors: &[AdamTensor<Self>])
    -> Result<()>;
    /// One Adam step over every tensor of every replica (PyTorch's arithmetic: bias
    /// correction, eps added after the square root). Replica r of a tensor `[M, numel]` uses
    /// `s.lr[r]` (or the step size in `s.vals`); `s.step >= 1`.
    fn adam(&self, s: &AdamSpec<Self>, tensors: &mut [AdamTensor<Self>]) -> Result<()>;

    // ---- the training step's own ops ----------------------------------------------------
    /// The batch a step reads, from the device part of a staged [`Slot`]: `x [T, B, F]` =
    /// the staged f16 features as `T` (exact), `y [B]` = the labels (their range is what the
    /// host staged), `vals` = the staged [`StepVals`].
    fn input(
        &self,
        slot: &Slot<Self>,
        x: &mut Self::Buf,
        y: &mut Self::IBuf,
        vals: &mut Self::Bytes,
    ) -> Result<()>;
    /// A step's record, per replica r: `record[row, r] = [ce[r], l1[r], correct, 0]` with
    /// `row = vals.record_row mod rows`, `correct` = rows b whose first arg-max of
    /// `logits[r, b, :]` is `labels[b]`; `loss` = (ce `[M]`, l1 `[M]`), logits `[M, B, C]`,
    /// record `[rows, M, RECORD_COLS]`.
    #[allow(clippy::too_many_arguments)]
    fn score(
        &self,
        m: usize,
        b: usize,
        c: usize,
        logits: &Self::Buf,
        labels: &Self::IBuf,
        loss: [&Self::Buf; 2],
        vals: &Self::Bytes,
        record: &mut Self::Buf,
    ) -> Result<()>;
    /// Bytes of the scratch `guard` needs for a table of `entries` entries.
    fn guard_scratch(&self, entries: usize) -> usize;
    /// The non-finite guard of a training step, after the backward pass and before Adam:
    /// replica r is bad when `ce[r] + λ_r l1[r]` or any element of its gradients (`grads`,
    /// through `table`) is NaN or infinite. `record[row, r, REC_NONFINITE]` = bad;
    /// `active[r] = active[r] && keep[r] && !bad`; a replica no longer active gets its
    /// gradient slices zeroed and its step size in `vals` set to 0, so Adam leaves its
    /// parameters as they are (what the host did before: lr 0 and zero gradients).
    fn guard(
        &self,
        lambdas: &[f64],
        loss: [&Self::Buf; 2],
        grads: &mut [&mut Self::Buf],
        table: &AdamTable<Self>,
        state: GuardState<'_, Self>,
    ) -> Result<()>;
}

/// Runs `f` between the backend's `op_begin(op)` and `op_end(op)` (profile attribution),
/// inside an NVTX range named after the op when libnvToolsExt is loaded ([`nvtx`]).
pub(crate) fn run_op<X: Exec + ?Sized, R>(
    x: &X,
    op: &'static str,
    f: impl FnOnce() -> Result<R>,
) -> Result<R> {
    let _range = nvtx::range(op);
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
    type Bytes = <X as Exec>::Bytes;
    type Pinned = <X as Exec>::Pinned;
    type Graph = <X as Exec>::Graph;

    fn name(&self) -> String {
        Exec::name(self)
    }
    fn precision(&self) -> Precision {
        Exec::precision(self)
    }
    fn default_precision(&self) -> Precision {
        Exec::default_precision(self)
    }
    fn precisions(&self) -> &'static [Precision] {
        Exec::precisions(self)
    }
    fn set_precision(&self, p: Precision) -> Result<Precision> {
        let p = if p == Precision::Auto {
            Exec::default_precision(self)
        } else {
            p
        };
        let offered = Exec::precisions(self);
        if !offered.contains(&p) {
            let names: Vec<&str> = offered.iter().map(|q| q.name()).collect();
            return Err(crate::error::Error::Unsupported(format!(
                "precision {p} on {}: it runs {}",
                Exec::name(self),
                names.join(", ")
            )));
        }
        Exec::set_precision(self, p);
        Ok(p)
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
    fn alloc_bytes(&self, bytes: usize) -> Result<Self::Bytes> {
        Exec::alloc_bytes(self, bytes)
    }
    fn bytes_len(&self, b: &Self::Bytes) -> usize {
        Exec::bytes_len(self, b)
    }
    fn write_bytes(&self, b: &mut Self::Bytes, data: &[u8]) -> Result<()> {
        check::fits("write_bytes", "data", data.len(), Exec::bytes_len(self, b))?;
        Exec::write_bytes(self, b, data)
    }
    fn read_bytes(&self, b: &Self::Bytes) -> Result<Vec<u8>> {
        Exec::read_bytes(self, b)
    }
    fn alloc_pinned(&self, bytes: usize) -> Result<Self::Pinned> {
        Exec::alloc_pinned(self, bytes)
    }
    fn pinned_mut<'a>(&self, p: &'a mut Self::Pinned) -> Result<&'a mut [u8]> {
        Exec::pinned_mut(self, p)
    }
    fn pinned_read<'a>(&self, p: &'a Self::Pinned) -> Result<&'a [u8]> {
        Exec::pinned_read(self, p)
    }
    fn send(&self, src: &mut Self::Pinned, dst: &mut Self::Bytes, bytes: usize) -> Result<()> {
        check::fits("send", "source", bytes, Exec::pinned_len(self, src))?;
        check::fits("send", "destination", bytes, Exec::bytes_len(self, dst))?;
        Exec::send(self, src, dst, bytes)
    }
    fn release(&self, src: &mut Self::Pinned) -> Result<()> {
        Exec::release(self, src)
    }
    fn fetch(&self, src: &Self::Buf, dst: &mut Self::Pinned) -> Result<()> {
        let bytes = Exec::len(self, src) * size_of::<Self::T>();
        check::fits("fetch", "destination", bytes, Exec::pinned_len(self, dst))?;
        Exec::fetch(self, src, dst)
    }
    fn capture_begin(&self) -> Result<()> {
        Exec::capture_begin(self)
    }
    fn capture_end(&self) -> Result<Self::Graph> {
        Exec::capture_end(self)
    }
    unsafe fn graph_launch(&self, g: &Self::Graph) -> Result<()> {
        // SAFETY: the caller's promise, passed on.
        unsafe { Exec::graph_launch(self, g) }
    }
    fn graph_len(&self, g: &Self::Graph) -> usize {
        Exec::graph_len(self, g)
    }
    fn set_profiling(&self, on: bool) -> Result<()> {
        Exec::set_profiling(self, on)
    }
    fn take_profile(&self) -> Result<Vec<KernelTiming>> {
        Exec::take_profile(self)
    }
    fn take_trace(&self) -> Result<Vec<LaunchEvent>> {
        Exec::take_trace(self)
    }

    fn dropout_fwd(
        &self,
        d: &DropoutSpec<Self>,
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
        d: &DropoutSpec<Self>,
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
    fn lstm_sizes(&self, s: &LstmShape) -> LstmSizes {
        Exec::lstm_sizes(self, s)
    }
    fn lstm_fwd(
        &self,
        s: &LstmShape,
        x: &Self::Buf,
        p: &LstmParams<Self>,
        y: &mut Self::Buf,
        saved: &mut Self::Bytes,
        scratch: &mut Self::Bytes,
    ) -> Result<()> {
        check::lstm_fwd(self, s, x, p, y, (saved, scratch))?;
        run_op(self, "lstm_fwd", || {
            Exec::lstm_fwd(self, s, x, p, y, saved, scratch)
        })
    }
    fn lstm_bwd(
        &self,
        s: &LstmShape,
        x: &Self::Buf,
        p: &LstmParams<Self>,
        y: &Self::Buf,
        saved: &Self::Bytes,
        scratch: &mut Self::Bytes,
        dy: &Self::Buf,
        dx: Option<&mut Self::Buf>,
        g: &mut LstmGrads<Self>,
    ) -> Result<()> {
        check::lstm_bwd(self, s, x, p, y, (saved, scratch), dy, dx.as_deref(), g)?;
        run_op(self, "lstm_bwd", || {
            Exec::lstm_bwd(self, s, x, p, y, saved, scratch, dy, dx, g)
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
    fn l1_scratch(&self, m: usize, n: usize) -> usize {
        Exec::l1_scratch(self, m, n)
    }
    fn l1_fwd(
        &self,
        m: usize,
        n: usize,
        target: &Self::Buf,
        r: &Self::Buf,
        loss: &mut Self::Buf,
        scratch: &mut Self::Bytes,
    ) -> Result<()> {
        check::l1_fwd(self, m, n, target, r, loss, scratch)?;
        run_op(self, "l1_fwd", || {
            Exec::l1_fwd(self, m, n, target, r, loss, scratch)
        })
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
    fn adam_table(&self, m: usize, tensors: &[AdamTensor<Self>]) -> Result<AdamTable<Self>> {
        check::adam_tensors(self, m, tensors)?;
        Exec::adam_table(self, m, tensors)
    }
    fn adam_table_check(
        &self,
        table: &AdamTable<Self>,
        tensors: &[AdamTensor<Self>],
    ) -> Result<()> {
        check::adam_tensors(self, table.m, tensors)?;
        Exec::adam_table_check(self, table, tensors)
    }
    fn adam(&self, s: &AdamSpec<Self>, tensors: &mut [AdamTensor<Self>]) -> Result<()> {
        check::adam(self, s, tensors)?;
        run_op(self, "adam", || Exec::adam(self, s, tensors))
    }
    fn input(
        &self,
        slot: &Slot<Self>,
        x: &mut Self::Buf,
        y: &mut Self::IBuf,
        vals: &mut Self::Bytes,
    ) -> Result<()> {
        check::input(self, slot, x, y.len(), vals)?;
        // Until the op has run, nothing is known about `y`; then it holds what was staged.
        y.bounds = IdxBounds::Unknown;
        run_op(self, "input", || {
            Exec::input(self, slot.layout, &slot.dev, x, &mut y.raw, vals)
        })?;
        y.bounds = slot.labels;
        Ok(())
    }
    fn score(
        &self,
        m: usize,
        b: usize,
        c: usize,
        logits: &Self::Buf,
        labels: &Self::IBuf,
        loss: [&Self::Buf; 2],
        vals: &Self::Bytes,
        record: &mut Self::Buf,
    ) -> Result<()> {
        check::score(
            self,
            (m, b, c),
            logits,
            (labels.len(), labels.bounds),
            loss,
            vals,
            record,
        )?;
        run_op(self, "score", || {
            Exec::score(self, m, b, c, logits, &labels.raw, loss, vals, record)
        })
    }
    fn guard_scratch(&self, entries: usize) -> usize {
        Exec::guard_scratch(self, entries)
    }
    fn guard(
        &self,
        lambdas: &[f64],
        loss: [&Self::Buf; 2],
        grads: &mut [&mut Self::Buf],
        table: &AdamTable<Self>,
        state: GuardState<'_, Self>,
    ) -> Result<()> {
        check::guard(self, lambdas, loss, grads, table, &state)?;
        run_op(self, "guard", || {
            Exec::guard(self, lambdas, loss, grads, table, state)
        })
    }
}
