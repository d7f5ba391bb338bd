//! gemm's fast path (kernels/gemm_tc.cu; the SIMT kernels are kernels/gemm.cu, launched by
//! gemm.rs): the tensor-core (tf32) GEMM with its deterministic split-K, and the parallel
//! fixed-order column sum for bias gradients. Not yet called by the trainer: [`gemm`] and
//! [`bias_grad`] take the arguments of [`crate::backend::Backend::gemm`] /
//! [`crate::backend::Backend::gemm_bias_grad`], run the same contract checks
//! ([`crate::backend::check`]) and profile under the same op names.
//!
//! [`call`] takes the same [`GemmCall`] as the SIMT `gemm` and runs the tensor-core kernel when
//! it can: f32 elements, every operand address and leading dimension / batch stride of A and B
//! a multiple of 16 bytes (cp.async copies 16-byte chunks). Otherwise it runs the SIMT kernel
//! and says so ([`GemmKernel::Simt`]).
//!
//! Split-K ([`tc_splits`]) is a function of (m, n, k) only, never of the batch (replica) count
//! or the device, so every replica of a joint run does exactly the arithmetic of its solo run
//! and results are bit-identical run to run.

include!(concat!(env!("OUT_DIR"), "/kernel_api/gemm_tc.rs"));

use super::gemm::{self, GemmCall};
use super::{DevBuf, Device, KernelBackend, LaunchCfg};
use crate::backend::{Elem, GemmSpec, check, run_op};
use crate::error::Result;

/// Output tile of a tensor-core GEMM block (gemm_tc.cu GTC_BM, GTC_BN).
const TC_TILE: usize = 64;
/// k slice of one pipeline stage (GTC_BK): split-K ranges are multiples of it.
const TC_BK: usize = 32;
/// Threads of a tensor-core GEMM block (GTC_THREADS, which its RECAUX_BLOCK_EXACT states).
const TC_THREADS: u32 = 128;
/// Rows per partial sum of the parallel column sum (BIAS_GRAD_CHUNK).
const BIAS_GRAD_CHUNK: usize = 512;
/// Threads of the column-sum and reduce blocks.
const SUM_BLOCK: u32 = 128;
/// Largest grid.y / grid.z.
const MAX_GRID_YZ: usize = 65_535;

/// Which kernel computed a product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GemmKernel {
    /// gemm_tc_* (tf32 tensor cores), k cut into `splits` ranges.
    TensorCore { splits: usize },
    /// gemm.cu's SIMT kernel (f64, or operands not 16-byte aligned).
    Simt,
}

/// The split-K partition of an m x n x k product: (number of splits, k per split). Products
/// with enough output tiles (>= 128 per replica) or a short k (<= 1024) are not split;
/// otherwise k is cut into ranges of at least 512 so that a replica has about 256 blocks, at
/// most 32 ranges, each a multiple of 32. A function of (m, n, k) alone.
pub fn tc_splits(m: usize, n: usize, k: usize) -> (usize, usize) {
    let tiles = m.div_ceil(TC_TILE) * n.div_ceil(TC_TILE);
    if k <= 1024 || tiles >= 128 {
        return (1, k.max(1));
    }
    let want = k.div_ceil(512).min(256usize.div_ceil(tiles)).clamp(1, 32);
    let kc = k.div_ceil(want).div_ceil(TC_BK) * TC_BK;
    (k.div_ceil(kc), kc)
}

/// Whether the tensor-core kernel can run `g`: f32, and the operands A and B (copied in
/// 16-byte chunks) at 16-byte aligned addresses with leading dimensions and batch strides
/// multiples of 4 elements. C is written element by element: any layout.
fn eligible<T: Elem>(g: &GemmCall) -> bool {
    let aligned = |ptr: u64, ld: usize, stride: usize| {
        ptr.is_multiple_of(16) && ld.is_multiple_of(4) && stride.is_multiple_of(4)
    };
    T::DTYPE == "f32"
        && aligned(g.a.ptr, g.a.ld, g.a.stride)
        && aligned(g.b.ptr, g.b.ld, g.b.stride)
}

/// One batched product on the tensor cores when eligible (see the module doc), else on the
/// SIMT kernel. Views must already be known to lie inside their buffers.
pub(crate) fn call<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    g: &GemmCall,
) -> Result<GemmKernel> {
    if !eligible::<T>(g) {
        gemm::call(be, g)?;
        return Ok(GemmKernel::Simt);
    }
    let (splits, kc) = tc_splits(g.m, g.n, g.k);
    if g.batch == 0 || g.m == 0 || g.n == 0 {
        return Ok(GemmKernel::TensorCore { splits });
    }
    let ws = if splits > 1 {
        Some(be.pool_scratch::<f32>(g.batch * splits * g.m * g.n)?)
    } else {
        None
    };
    let cap = be.dev.grid_cap() as usize;
    let (bias, bias2, stride_bias) = match g.bias {
        Some(v) => (v.ptr, g.bias2.unwrap_or(0), v.stride as i64),
        None => (0, 0, 0),
    };
    let p = GemmTcP {
        a: g.a.ptr,
        b: g.b.ptr,
        bias,
        bias2,
        c: g.c.ptr,
        ws: ws.unwrap_or(0),
        m: g.m as i64,
        n: g.n as i64,
        k: g.k as i64,
        lda: g.a.ld as i64,
        ldb: g.b.ld as i64,
        ldc: g.c.ld as i64,
        stride_a: g.a.stride as i64,
        stride_b: g.b.stride as i64,
        stride_c: g.c.stride as i64,
        stride_bias,
        batch: g.batch as i64,
        splits: splits as i64,
        kc: kc as i64,
        accumulate: g.accumulate as i32,
        pad_: 0,
    };
    let kernel = match (g.trans_a, g.trans_b) {
        (false, false) => GEMM_TC_NN,
        (false, true) => GEMM_TC_NT,
        (true, false) => GEMM_TC_TN,
        (true, true) => GEMM_TC_TT,
    };
    let cfg = LaunchCfg {
        grid: [
            g.n.div_ceil(TC_TILE).min(cap) as u32,
            g.m.div_ceil(TC_TILE).min(cap).min(MAX_GRID_YZ) as u32,
            (g.batch * splits).min(cap).min(MAX_GRID_YZ) as u32,
        ],
        block: [TC_THREADS, 1, 1],
        shared_bytes: 0,
    };
    be.launch(kernel, cfg, &p)?;
    if let Some(ws) = ws {
        let total = g.batch * g.m * g.n;
        let rp = GemmTcReduceP {
            ws,
            bias,
            bias2,
            c: g.c.ptr,
            m: g.m as i64,
            n: g.n as i64,
            ldc: g.c.ld as i64,
            stride_c: g.c.stride as i64,
            stride_bias,
            splits: splits as i64,
            total: total as i64,
            accumulate: g.accumulate as i32,
            pad_: 0,
        };
        let blocks = total.div_ceil(SUM_BLOCK as usize).min(cap) as u32;
        be.launch(GEMM_TC_REDUCE, LaunchCfg::new(blocks, 1, SUM_BLOCK), &rp)?;
    }
    Ok(GemmKernel::TensorCore { splits })
}

/// Column sums `db[r, j] (+ db2[r, j]) += sum_i dy[r, i, j]` in two passes (partial sums of
/// fixed 512-row chunks, then the chunks in order, in double); dy rows of stride `ld`, batch
/// stride `rows * ld` (`db2` = 0: none). The parallel form of [`gemm::colsum`].
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
    let chunks = rows.div_ceil(BIAS_GRAD_CHUNK).max(1);
    let part = be.pool_scratch::<f64>(batch * chunks * cols)?;
    let cap = be.dev.grid_cap() as usize;
    let pp = GemmBiasGradPartP {
        dy,
        part,
        rows: rows as i64,
        cols: cols as i64,
        ld: ld as i64,
        chunks: chunks as i64,
        batch: batch as i64,
    };
    let cfg = LaunchCfg {
        grid: [
            cols.div_ceil(SUM_BLOCK as usize).min(cap) as u32,
            chunks.min(cap).min(MAX_GRID_YZ) as u32,
            batch.min(cap).min(MAX_GRID_YZ) as u32,
        ],
        block: [SUM_BLOCK, 1, 1],
        shared_bytes: 0,
    };
    be.launch(GEMM_BIAS_GRAD_PART, cfg, &pp)?;
    let fp = GemmBiasGradFinishP {
        part,
        db,
        db2,
        cols: cols as i64,
        chunks: chunks as i64,
        total: total as i64,
    };
    let blocks = total.div_ceil(SUM_BLOCK as usize).min(cap) as u32;
    be.launch(
        GEMM_BIAS_GRAD_FINISH,
        LaunchCfg::new(blocks, 1, SUM_BLOCK),
        &fp,
    )
}

/// [`crate::backend::Backend::gemm`] on the tensor cores when eligible (f32; the leading
/// dimension of A and B, i.e. k or m for A and n or k for B, multiples of 4), else on the SIMT
/// kernel; returns which ran. The same checks as the trait method, profiled under op `gemm`. tf32 operands:
/// see tests/ops/gemm_tc.rs for the tolerance.
pub fn gemm<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    s: &GemmSpec,
    a: &DevBuf<D, T>,
    b: &DevBuf<D, T>,
    bias: Option<&DevBuf<D, T>>,
    c: &mut DevBuf<D, T>,
) -> Result<GemmKernel> {
    check::gemm(be, s, a, b, bias, c)?;
    run_op(be, "gemm", || {
        call(be, &gemm::spec_call(be, s, a, b, bias, c))
    })
}

/// [`crate::backend::Backend::gemm_bias_grad`] through the parallel two-pass column sum (f32
/// and f64). The same checks as the trait method, profiled under op `gemm_bias_grad`.
pub fn bias_grad<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    batch: usize,
    rows: usize,
    cols: usize,
    dy: &DevBuf<D, T>,
    db: &mut DevBuf<D, T>,
) -> Result<()> {
    check::gemm_bias_grad(be, batch, rows, cols, dy, db)?;
    run_op(be, "gemm_bias_grad", || {
        colsum(be, batch, rows, cols, cols, be.ptr(dy), be.ptr(db), 0)
    })
}
