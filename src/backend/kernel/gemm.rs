//! gemm's launch code (kernels/gemm.cu; the CPU twin is src/backend/cpu/gemm.rs):
//! [`crate::backend::Backend::gemm`] and `gemm_bias_grad`, and the strided forms the LSTM's
//! launch code uses (src/backend/kernel/lstm.rs). The tensor-core fast path of the op is
//! src/backend/kernel/gemm_tc.rs (kernels/gemm_tc.cu).
//!
//! Internal callers describe a product with [`GemmCall`]: strided views (pointer with offset,
//! leading dimension, batch stride) so that e.g. one direction's half of a `[rows, 2H]`
//! buffer is an operand without a copy. Every view is built from buffers whose lengths were
//! checked in front of the backend, so the kernels never leave them.

include!(concat!(env!("OUT_DIR"), "/kernel_api/gemm.rs"));

use super::{DevBuf, Device, KernelBackend, LaunchCfg};
use crate::backend::{Elem, GemmSpec};
use crate::error::Result;

/// Threads of a gemm block (a 32 x 32 tile, 4 x 4 outputs per thread: gemm.cu's
/// `GEMM_THREADS`, which the kernel's `RECAUX_BLOCK_EXACT` rule also states).
const GEMM_THREADS: u32 = 64;
const GEMM_TILE: usize = 32;
/// Threads of a column-sum block.
const BIAS_GRAD_BLOCK: u32 = 128;
/// Largest grid.y / grid.z.
const MAX_GRID_YZ: usize = 65_535;

/// A strided operand: element (i, j) of replica r at `ptr + (r*stride + i*ld + j) * size`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct View {
    /// Device address of element (0, 0) of replica 0 (offset included).
    pub ptr: u64,
    /// Row stride, elements.
    pub ld: usize,
    /// Batch stride, elements (0: every replica reads the same matrix).
    pub stride: usize,
}

/// One batched product `C[r] (+)= op(A[r]) op(B[r]) (+ bias[r] + bias2[r])`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GemmCall {
    pub batch: usize,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub trans_a: bool,
    pub trans_b: bool,
    pub accumulate: bool,
    pub a: View,
    pub b: View,
    pub c: View,
    /// The bias: its address and batch stride (`[batch, n]` rows; `ld` is not used).
    pub bias: Option<View>,
    /// A second bias added to the first (same batch stride), only with `bias`.
    pub bias2: Option<u64>,
}

/// A dense view of `buf` from element `off`: row stride `ld`, batch stride `stride`.
pub(crate) fn view<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    buf: &DevBuf<D, T>,
    off: usize,
    ld: usize,
    stride: usize,
) -> View {
    View {
        ptr: be.at(buf, off),
        ld,
        stride,
    }
}

/// Launch one batched gemm (views must already be known to lie inside their buffers).
pub(crate) fn call<T: Elem, D: Device>(be: &KernelBackend<T, D>, g: &GemmCall) -> Result<()> {
    if g.batch == 0 || g.m == 0 || g.n == 0 {
        return Ok(());
    }
    let cap = be.dev.grid_cap() as usize;
    let grid = [
        g.n.div_ceil(GEMM_TILE).min(cap) as u32,
        g.m.div_ceil(GEMM_TILE).min(cap).min(MAX_GRID_YZ) as u32,
        g.batch.min(cap).min(MAX_GRID_YZ) as u32,
    ];
    let p = GemmP {
        a: g.a.ptr,
        b: g.b.ptr,
        bias: g.bias.map_or(0, |v| v.ptr),
        bias2: if g.bias.is_some() {
            g.bias2.unwrap_or(0)
        } else {
            0
        },
        c: g.c.ptr,
        m: g.m as i64,
        n: g.n as i64,
        k: g.k as i64,
        lda: g.a.ld as i64,
        ldb: g.b.ld as i64,
        ldc: g.c.ld as i64,
        stride_a: g.a.stride as i64,
        stride_b: g.b.stride as i64,
        stride_c: g.c.stride as i64,
        stride_bias: g.bias.map_or(0, |v| v.stride as i64),
        batch: g.batch as i64,
        trans_a: g.trans_a as i32,
        trans_b: g.trans_b as i32,
        accumulate: g.accumulate as i32,
        pad_: 0,
    };
    let cfg = LaunchCfg {
        grid,
        block: [GEMM_THREADS, 1, 1],
        shared_bytes: 0,
    };
    be.launch(GEMM, cfg, &p)
}

/// Column sums `db[r, j] (+ db2[r, j]) += sum_i dy[r, i, j]`, dy rows of stride `ld`, batch
/// stride `rows * ld` (`db2` = 0: none).
#[allow(clippy::too_many_arguments)]
pub(crate) fn colsum<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    batch: usize,
    rows: usize,
    cols: usize,
    ld: usize,
    dy: u64,
    db: u64,
    db2: u64,
) -> Result<()> {
    let total = batch * cols;
    if total == 0 {
        return Ok(());
    }
    let blocks = total
        .div_ceil(BIAS_GRAD_BLOCK as usize)
        .min(be.dev.grid_cap() as usize) as u32;
    let p = GemmBiasGradP {
        dy,
        db,
        db2,
        rows: rows as i64,
        cols: cols as i64,
        ld: ld as i64,
        total: total as i64,
    };
    be.launch(
        GEMM_BIAS_GRAD,
        LaunchCfg::new(blocks, 1, BIAS_GRAD_BLOCK),
        &p,
    )
}

/// [`crate::backend::Backend::gemm`].
pub(super) fn gemm<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    s: &GemmSpec,
    a: &DevBuf<D, T>,
    b: &DevBuf<D, T>,
    bias: Option<&DevBuf<D, T>>,
    c: &mut DevBuf<D, T>,
) -> Result<()> {
    call(be, &spec_call(be, s, a, b, bias, c))
}

/// The [`GemmCall`] of a [`GemmSpec`] on dense buffers (lengths checked in front).
pub(crate) fn spec_call<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    s: &GemmSpec,
    a: &DevBuf<D, T>,
    b: &DevBuf<D, T>,
    bias: Option<&DevBuf<D, T>>,
    c: &DevBuf<D, T>,
) -> GemmCall {
    let (mk, kn, mn) = (s.m * s.k, s.k * s.n, s.m * s.n);
    debug_assert!(c.len == s.batch * mn && b.len == s.batch * kn);
    GemmCall {
        batch: s.batch,
        m: s.m,
        n: s.n,
        k: s.k,
        trans_a: s.trans_a,
        trans_b: s.trans_b,
        accumulate: s.accumulate,
        a: view(
            be,
            a,
            0,
            if s.trans_a { s.m } else { s.k },
            if s.a_shared { 0 } else { mk },
        ),
        b: view(be, b, 0, if s.trans_b { s.k } else { s.n }, kn),
        c: view(be, c, 0, s.n, mn),
        bias: bias.map(|bb| view(be, bb, 0, s.n, s.n)),
        bias2: None,
    }
}

/// [`crate::backend::Backend::gemm_bias_grad`].
pub(super) fn bias_grad<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    batch: usize,
    rows: usize,
    cols: usize,
    dy: &DevBuf<D, T>,
    db: &mut DevBuf<D, T>,
) -> Result<()> {
    debug_assert!(dy.len == batch * rows * cols && db.len == batch * cols);
    colsum(be, batch, rows, cols, cols, be.ptr(dy), be.ptr(db), 0)
}
