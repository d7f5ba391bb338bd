//! The lstm op's fast path (kernels/lstm_persist.cu; the per-step kernels are kernels/lstm.cu,
//! launched by lstm.rs): one launch per pass for every replica, both directions and all
//! steps, W_hh in registers as tensor-core fragments, around the op's GEMM sequence on the
//! tensor cores (lstm.rs's [`super::lstm::input_projection`] and
//! [`super::lstm::param_grads`] with gemm_tc.rs's kernels).
//!
//! The kernel backend's `lstm_fwd` / `lstm_bwd` / `lstm_sizes` come here ([`fwd`], [`bwd`],
//! [`sizes`]); which recurrence runs follows the backend's precision
//! ([`crate::backend::Backend::precision`]) and the shape ([`kernel`]): f16 / bf16 on a
//! covered shape (f32 elements, H a multiple of 16 in 16 ..= 128) run the persistent
//! kernels, everything else (f64, f32, tf32, other widths) the per-step kernels of lstm.cu
//! (their GEMMs on the tensor cores for tf32, f16 and bf16). Both read and write the same `y`,
//! `saved`, scratch and gradient layouts, so a forward of one may be followed by the backward
//! of the other.
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
use crate::backend::{Elem, LstmGrads, LstmParams, LstmShape, LstmSizes, Precision};
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

/// Which recurrence kernel an LSTM pass runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LstmKernel {
    /// lstm_fwd_persist / lstm_bwd_persist with this operand type.
    Persistent(RecPrecision),
    /// lstm.cu's per-step kernels (one launch per time step, exact f32/f64 cell arithmetic).
    PerStep,
}

/// Which recurrence `be` runs for `s` at its precision now: the persistent kernels for f16 /
/// bf16 on a [`supported`] shape, else the per-step kernels.
pub fn kernel<T: Elem, D: Device>(be: &KernelBackend<T, D>, s: &LstmShape) -> LstmKernel {
    match be.prec() {
        Precision::F16 if supported::<T>(s) => LstmKernel::Persistent(RecPrecision::F16),
        Precision::Bf16 if supported::<T>(s) => LstmKernel::Persistent(RecPrecision::Bf16),
        _ => LstmKernel::PerStep,
    }
}

/// [`crate::backend::Backend::lstm_sizes`] of the kernel backend: lstm.rs's layouts (the same
/// for both recurrences), and in words which kernels run in which precision.
pub(super) fn sizes<T: Elem, D: Device>(be: &KernelBackend<T, D>, s: &LstmShape) -> LstmSizes {
    let prec = be.prec();
    let gemms = if prec.tensor_cores() {
        "GEMMs gemm_tc (tf32 tensor cores)"
    } else {
        "GEMMs gemm (SIMT)"
    };
    let words = match kernel(be, s) {
        LstmKernel::Persistent(q) => {
            let k = if q == RecPrecision::F16 {
                "f16"
            } else {
                "bf16"
            };
            format!(
                "lstm_fwd_persist_{k} / lstm_bwd_persist_{k} (one launch per pass), precision \
                 {prec}, {gemms}"
            )
        }
        LstmKernel::PerStep => {
            let why = if matches!(prec, Precision::F16 | Precision::Bf16) {
                format!(
                    " (fallback: the persistent kernels need f32 elements and H a multiple of \
                     16 in 16..={PERSIST_MAX_H}, H is {})",
                    s.h
                )
            } else {
                String::new()
            };
            format!(
                "lstm_fwd_step / lstm_bwd_step (one launch per time step), precision {prec}, \
                 {gemms}{why}"
            )
        }
    };
    lstm::sizes::<T>(s, words)
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

/// [`crate::backend::Backend::lstm_fwd`] on the recurrence [`kernel`] picks (checked and
/// profiled in front); returns which ran.
pub(super) fn fwd<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    s: &LstmShape,
    x: &DevBuf<D, T>,
    p: &LstmParams<KernelBackend<T, D>>,
    y: &mut DevBuf<D, T>,
    saved: &mut DevBuf<D, u8>,
    scratch: &mut DevBuf<D, u8>,
) -> Result<LstmKernel> {
    let prec = match kernel(be, s) {
        LstmKernel::PerStep => {
            lstm::fwd(be, s, x, p, y, saved, scratch, be.prec().tensor_cores())?;
            return Ok(LstmKernel::PerStep);
        }
        LstmKernel::Persistent(q) => q,
    };
    let g = lstm::scratch_at(be, scratch, 0);
    lstm::input_projection(be, s, x, p, g, true)?;
    let (cfg, slices, items) = cfg(be, s, fwd_smem(s.h));
    let lp = LstmFwdPersistP {
        g,
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
    let k = match prec {
        RecPrecision::F16 => LSTM_FWD_PERSIST_F16,
        RecPrecision::Bf16 => LSTM_FWD_PERSIST_BF16,
    };
    be.launch(k, cfg, &lp)?;
    Ok(LstmKernel::Persistent(prec))
}

/// [`crate::backend::Backend::lstm_bwd`] on the recurrence [`kernel`] picks (checked and
/// profiled in front); returns which ran. Accumulates into `dx` (when given) and the
/// gradients, as the trait says.
#[allow(clippy::too_many_arguments)]
pub(super) fn bwd<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    s: &LstmShape,
    x: &DevBuf<D, T>,
    p: &LstmParams<KernelBackend<T, D>>,
    y: &DevBuf<D, T>,
    saved: &DevBuf<D, u8>,
    scratch: &mut DevBuf<D, u8>,
    dy: &DevBuf<D, T>,
    dx: Option<&mut DevBuf<D, T>>,
    gr: &mut LstmGrads<KernelBackend<T, D>>,
) -> Result<LstmKernel> {
    let prec = match kernel(be, s) {
        LstmKernel::PerStep => {
            let tc = be.prec().tensor_cores();
            lstm::bwd(be, s, x, p, y, saved, scratch, dy, dx, gr, tc)?;
            return Ok(LstmKernel::PerStep);
        }
        LstmKernel::Persistent(q) => q,
    };
    // dG in the scratch (every element written by the kernel before the GEMMs read it)
    let dg = lstm::scratch_at(be, scratch, 0);
    let (cfg, slices, items) = cfg(be, s, bwd_smem(s.h));
    let bp = LstmBwdPersistP {
        w_hh0: be.ptr(p.w_hh[0]),
        w_hh1: be.ptr(p.w_hh[1]),
        saved: be.ptr(saved),
        dy: be.ptr(dy),
        dg,
        m: s.m as i64,
        t: s.t as i64,
        b: s.b as i64,
        h: s.h as i64,
        slices,
        items,
    };
    let k = match prec {
        RecPrecision::F16 => LSTM_BWD_PERSIST_F16,
        RecPrecision::Bf16 => LSTM_BWD_PERSIST_BF16,
    };
    be.launch(k, cfg, &bp)?;
    lstm::param_grads(be, s, x, p, y, dg, dx, gr, true)?;
    Ok(LstmKernel::Persistent(prec))
}
