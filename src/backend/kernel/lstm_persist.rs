//! The lstm op's fast path (kernels/lstm_persist.cu; the per-step kernels are kernels/lstm.cu,
//! launched by lstm.rs): one launch per pass for every replica, both directions and all
//! steps, W_hh in registers as tensor-core fragments, around the op's GEMM sequence on the
//! tensor cores (lstm.rs's [`super::lstm::input_projection`] and
//! [`super::lstm::param_grads`] with gemm_tc.rs's kernels).
//!
//! Not yet called by the trainer. [`fwd`] / [`bwd`] take the arguments of
//! [`crate::backend::Backend::lstm_fwd`] / [`crate::backend::Backend::lstm_bwd`] plus a
//! [`RecPrecision`], run the same contract checks ([`crate::backend::check`]), profile under
//! the same op names (`lstm_fwd`, `lstm_bwd`), and say which recurrence ran ([`LstmKernel`]):
//! shapes the persistent kernels do not cover (f64, H not a multiple of 16, H above 128) run
//! the per-step kernels of lstm.cu instead, with their exact f32/f64 arithmetic. Both paths
//! read and write the same `y`, `saved` and gradient layouts, so a forward of one may be
//! followed by the backward of the other.
//!
//! Why f32 (exact) stays on the per-step kernels: W_hh of H = 128 is 4H x H = 64K values, 256 KB
//! in f32: more than the register file (256 KB per SM, shared with everything else) or the
//! shared memory of any target (99 KB per block on sm_86/89, 163 KB on sm_80, 227 KB on sm_90).
//! Keeping it on chip needs a 16-bit copy (128 KB: 128 registers per thread at 256 threads),
//! or splitting it over a cluster of blocks (sm_90 only: a later tier).
//!
//! Forward: `G = x W_ih^T + (b_ih + b_hh)` per direction (gemm_tc, bias in the epilogue), then
//! lstm_fwd_persist. Backward: lstm_bwd_persist writes dG `[2, M, T, B, 4H]`, then per
//! direction dW_ih += dG^T x and dW_hh += dG^T h_prev (gemm_tc, split-K), db_ih and db_hh +=
//! colsum(dG) (the parallel two-pass sum), and dx += dG_fwd W_ih_fwd + dG_rev W_ih_rev.

include!(concat!(env!("OUT_DIR"), "/kernel_api/lstm_persist.rs"));

use super::{DevBuf, Device, KernelBackend, LaunchCfg, lstm};
use crate::backend::{Elem, LstmGrads, LstmParams, LstmShape, check, run_op};
use crate::error::Result;

/// Tensor-core operand type of the persistent LSTM's recurrent product: W_hh and h (forward),
/// W_hh and dG (backward) are rounded to it; products accumulate in f32, and G, c, dc, the gate
/// nonlinearities and every output stay f32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecPrecision {
    /// IEEE half: 11-bit significand, range 6e-8 .. 65504 (h in (-1, 1) fits well).
    F16,
    /// bfloat16: 8-bit significand, the f32 range (gradients of any size).
    Bf16,
}

/// Which recurrence kernel an LSTM pass ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LstmKernel {
    /// lstm_fwd_persist / lstm_bwd_persist with this operand type.
    Persistent(RecPrecision),
    /// lstm.cu's per-step kernels (one launch per time step, exact f32/f64).
    PerStep,
}

/// Largest hidden width of the persistent kernels (W_hh fragments in registers;
/// lstm_persist.cu LP_MAX_H).
pub const PERSIST_MAX_H: usize = 128;
/// Batch rows per block (one tensor-core M tile).
const ROWS: usize = 16;
/// The persistent kernels' per-warp scratch strides (lstm_persist.cu LP_LDS, LP_LDSB) and the
/// backward's staged fields per thread (LP_BWD_FIELDS x 2 rows x 4 units).
const LDS: usize = 72;
const LDSB: usize = 24;
const BWD_STAGE: usize = 7 * 8;

/// Whether the persistent kernels run `s` for element type `T`: f32 and H a multiple of 16
/// in 16 ..= 128.
pub fn supported<T: Elem>(s: &LstmShape) -> bool {
    T::DTYPE == "f32" && s.h.is_multiple_of(16) && (16..=PERSIST_MAX_H).contains(&s.h)
}

/// Dynamic shared memory of lstm_fwd_persist for hidden width `h` (bytes): the two h buffers
/// `[16][h + 16]` (16-bit), a `[16][72]` f32 scratch per warp, 32 staged floats of G per thread.
pub fn fwd_smem(h: usize) -> usize {
    2 * ROWS * (h + 16) * 2 + (h / 16) * ROWS * LDS * 4 + 2 * h * 32 * 4
}

/// Dynamic shared memory of lstm_bwd_persist for hidden width `h` (bytes): dG `[16][4h + 16]`
/// (16-bit), two `[16][24]` f32 tiles per warp, 56 staged floats per thread.
pub fn bwd_smem(h: usize) -> usize {
    ROWS * (4 * h + 16) * 2 + (h / 16) * 2 * ROWS * LDSB * 4 + 2 * h * BWD_STAGE * 4
}

/// Grid and block of a persistent launch: one block per (direction, replica, 16-row slice),
/// capped by the device (the kernels loop over items), 2H threads (H / 16 warps).
fn cfg<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    s: &LstmShape,
    smem: usize,
) -> (LaunchCfg, i64, i64) {
    let slices = s.b.div_ceil(ROWS);
    let items = 2 * s.m * slices;
    let cfg = LaunchCfg {
        grid: [items.min(be.dev.grid_cap() as usize) as u32, 1, 1],
        block: [2 * s.h as u32, 1, 1],
        shared_bytes: smem as u32,
    };
    (cfg, slices as i64, items as i64)
}

/// [`crate::backend::Backend::lstm_fwd`] on the persistent kernel with operand type `prec`
/// when [`supported`], else on the per-step kernels; returns which ran.
pub fn fwd<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    s: &LstmShape,
    x: &DevBuf<D, T>,
    p: &LstmParams<KernelBackend<T, D>>,
    y: &mut DevBuf<D, T>,
    saved: &mut DevBuf<D, T>,
    prec: RecPrecision,
) -> Result<LstmKernel> {
    check::lstm_fwd(be, s, x, p, y, saved)?;
    run_op(be, "lstm_fwd", || {
        if !supported::<T>(s) {
            lstm::fwd(be, s, x, p, y, saved)?;
            return Ok(LstmKernel::PerStep);
        }
        let g = be.alloc_of::<T>(2 * s.m * s.t * s.b * 4 * s.h)?;
        lstm::input_projection(be, s, x, p, &g, true)?;
        let (cfg, slices, items) = cfg(be, s, fwd_smem(s.h));
        let lp = LstmFwdPersistP {
            g: be.ptr(&g),
            w_hh0: be.ptr(p.w_hh[0]),
            w_hh1: be.ptr(p.w_hh[1]),
            y: be.ptr(y),
            saved: be.ptr(saved),
            m: s.m as i64,
            t: s.t as i64,
            b: s.b as i64,
            h: s.h as i64,
            slices,
            items,
        };
        let kernel = match prec {
            RecPrecision::F16 => LSTM_FWD_PERSIST_F16,
            RecPrecision::Bf16 => LSTM_FWD_PERSIST_BF16,
        };
        be.launch(kernel, cfg, &lp)?;
        Ok(LstmKernel::Persistent(prec))
    })
}

/// [`crate::backend::Backend::lstm_bwd`] on the persistent kernel with operand type `prec`
/// when [`supported`], else on the per-step kernels; returns which ran. Accumulates into `dx`
/// (when given) and the gradients, as the trait says.
#[allow(clippy::too_many_arguments)]
pub fn bwd<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    s: &LstmShape,
    x: &DevBuf<D, T>,
    p: &LstmParams<KernelBackend<T, D>>,
    y: &DevBuf<D, T>,
    saved: &DevBuf<D, T>,
    dy: &DevBuf<D, T>,
    dx: Option<&mut DevBuf<D, T>>,
    gr: &mut LstmGrads<KernelBackend<T, D>>,
    prec: RecPrecision,
) -> Result<LstmKernel> {
    check::lstm_bwd(be, s, x, p, y, saved, dy, dx.as_deref(), gr)?;
    run_op(be, "lstm_bwd", || {
        if !supported::<T>(s) {
            lstm::bwd(be, s, x, p, y, saved, dy, dx, gr)?;
            return Ok(LstmKernel::PerStep);
        }
        let dg = be.alloc_of::<T>(2 * s.m * s.t * s.b * 4 * s.h)?;
        let (cfg, slices, items) = cfg(be, s, bwd_smem(s.h));
        let bp = LstmBwdPersistP {
            w_hh0: be.ptr(p.w_hh[0]),
            w_hh1: be.ptr(p.w_hh[1]),
            saved: be.ptr(saved),
            dy: be.ptr(dy),
            dg: be.ptr(&dg),
            m: s.m as i64,
            t: s.t as i64,
            b: s.b as i64,
            h: s.h as i64,
            slices,
            items,
        };
        let kernel = match prec {
            RecPrecision::F16 => LSTM_BWD_PERSIST_F16,
            RecPrecision::Bf16 => LSTM_BWD_PERSIST_BF16,
        };
        be.launch(kernel, cfg, &bp)?;
        lstm::param_grads(be, s, x, p, y, &dg, dx, gr, true)?;
        Ok(LstmKernel::Persistent(prec))
    })
}
