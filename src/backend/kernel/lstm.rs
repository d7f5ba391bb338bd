//! The LSTM layer's launch code (kernels/lstm.cu for the per-step kernels, kernels/gemm.cu for
//! the input projection and the weight gradients; the CPU twin is src/backend/cpu/lstm.rs):
//! [`crate::backend::Backend::lstm_fwd`] and `lstm_bwd`.
//!
//! The temporaries (pre-activations `G` in the forward pass; gate gradients `dG` and the
//! carried `dc` in the backward pass) live in the caller's `scratch`, sized by [`sizes`]
//! ([`crate::backend::Backend::lstm_sizes`]): nothing is allocated per call. The forward pass
//! is 2 input-projection GEMMs plus T step launches, the backward T step launches plus 7 GEMM
//! / column-sum launches. In profiles all of them count under the
//! op (`lstm_fwd`, `lstm_bwd`), each under its kernel's name.

include!(concat!(env!("OUT_DIR"), "/kernel_api/lstm.rs"));

use super::gemm::{self, GemmCall, View, view};
use super::{DevBuf, Device, KernelBackend, LaunchCfg};
use crate::backend::{Elem, LstmGrads, LstmParams, LstmShape, LstmSizes};
use crate::error::Result;

/// Elements of `G` (and of `dG`): `[2, M, T, B, 4H]`.
fn gates_len(s: &LstmShape) -> usize {
    2 * s.m * s.t * s.b * 4 * s.h
}

/// [`crate::backend::Backend::lstm_sizes`]: `saved` `[2, M, T, B, 6H]` (i, f, g, o, c,
/// tanh(c) per step, the CPU backend's layout); `scratch` `G` (forward) or `dG` then `dc`
/// `[2, M, B, H]` (backward).
pub(super) fn sizes<T: Elem>(s: &LstmShape) -> LstmSizes {
    let e = std::mem::size_of::<T>();
    LstmSizes {
        saved: 2 * s.m * s.t * s.b * 6 * s.h * e,
        scratch: (gates_len(s) + 2 * s.m * s.b * s.h) * e,
        kernel: format!(
            "lstm_fwd_step / lstm_bwd_step (one launch per time step), {}",
            T::DTYPE
        ),
    }
}

/// A view of `scratch` from element `off` (of `T`).
fn scratch_at<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    scratch: &DevBuf<D, u8>,
    off: usize,
) -> u64 {
    be.ptr(scratch) + (off * std::mem::size_of::<T>()) as u64
}

/// Threads of a step block (any size works: cells are grid-stride).
const STEP_BLOCK: u32 = 128;
/// Largest grid.y.
const MAX_GRID_Y: usize = 65_535;

/// Grid of a step launch: cells of an item in x, items (2M) in y.
fn step_cfg<T: Elem, D: Device>(be: &KernelBackend<T, D>, s: &LstmShape) -> LaunchCfg {
    let cells = s.b * s.h;
    let gx = cells
        .div_ceil(STEP_BLOCK as usize)
        .clamp(1, be.dev.grid_cap() as usize) as u32;
    let gy = (2 * s.m).min(MAX_GRID_Y) as u32;
    LaunchCfg {
        grid: [gx, gy, 1],
        block: [STEP_BLOCK, 1, 1],
        shared_bytes: 0,
    }
}

/// [`crate::backend::Backend::lstm_fwd`]: per direction one GEMM
/// `G = x W_ih^T + (b_ih + b_hh)` over all steps and replicas, then one `lstm_fwd_step`
/// launch per step for both directions.
pub(super) fn fwd<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    s: &LstmShape,
    x: &DevBuf<D, T>,
    p: &LstmParams<KernelBackend<T, D>>,
    y: &mut DevBuf<D, T>,
    saved: &mut DevBuf<D, u8>,
    scratch: &mut DevBuf<D, u8>,
) -> Result<()> {
    let need = sizes::<T>(s);
    debug_assert!(x.len == s.x_len() && y.len == s.y_len() && saved.len == need.saved);
    debug_assert!(scratch.len >= need.scratch);
    let (rows, g4) = (s.t * s.b, 4 * s.h);
    let item = rows * g4;
    let g = scratch_at(be, scratch, 0);
    for d in 0..2 {
        gemm::call(
            be,
            &GemmCall {
                batch: s.m,
                m: rows,
                n: g4,
                k: s.i,
                trans_a: false,
                trans_b: true,
                accumulate: false,
                a: view(be, x, 0, s.i, rows * s.i),
                b: view(be, p.w_ih[d], 0, s.i, g4 * s.i),
                c: View {
                    ptr: scratch_at(be, scratch, d * s.m * item),
                    ld: g4,
                    stride: item,
                },
                bias: Some(view(be, p.b_ih[d], 0, g4, g4)),
                bias2: Some(be.ptr(p.b_hh[d])),
            },
        )?;
    }
    let cfg = step_cfg(be, s);
    for k in 0..s.t {
        let sp = LstmFwdStepP {
            g,
            w_hh0: be.ptr(p.w_hh[0]),
            w_hh1: be.ptr(p.w_hh[1]),
            y: be.ptr(y),
            saved: be.ptr(saved),
            m: s.m as i64,
            t: s.t as i64,
            b: s.b as i64,
            h: s.h as i64,
            k: k as i64,
        };
        be.launch(LSTM_FWD_STEP, cfg, &sp)?;
    }
    Ok(())
}

/// [`crate::backend::Backend::lstm_bwd`]: one `lstm_bwd_step` launch per step
/// (k = T-1 .. 0) writing the gate gradients dG of every step, then per direction:
/// dW_ih += dG^T x, dW_hh += dG^T h_prev (a strided view of y), db_ih and db_hh +=
/// colsum(dG); finally dx += dG_fwd W_ih_fwd, then += dG_rev W_ih_rev.
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
) -> Result<()> {
    let need = sizes::<T>(s);
    debug_assert!(x.len == s.x_len() && dy.len == s.y_len() && saved.len == need.saved);
    debug_assert!(scratch.len >= need.scratch);
    let (rows, g4, h) = (s.t * s.b, 4 * s.h, s.h);
    let item = rows * g4;
    // dG in the scratch's first part, dc after it (every element of both is written before it
    // is read: the first step launched, k = T-1, starts dc from 0 without reading it).
    let dg = scratch_at(be, scratch, 0);
    let dc = scratch_at(be, scratch, gates_len(s));
    let cfg = step_cfg(be, s);
    for k in (0..s.t).rev() {
        let sp = LstmBwdStepP {
            w_hh0: be.ptr(p.w_hh[0]),
            w_hh1: be.ptr(p.w_hh[1]),
            saved: be.ptr(saved),
            dy: be.ptr(dy),
            dg,
            dc,
            m: s.m as i64,
            t: s.t as i64,
            b: s.b as i64,
            h: h as i64,
            k: k as i64,
        };
        be.launch(LSTM_BWD_STEP, cfg, &sp)?;
    }
    let dg_at = |off: usize| dg + (off * std::mem::size_of::<T>()) as u64;
    for d in 0..2 {
        let dg_d = d * s.m * item;
        // dW_ih[r] += dG[r]^T x[r]: [4H, TB] x [TB, I]
        gemm::call(
            be,
            &GemmCall {
                batch: s.m,
                m: g4,
                n: s.i,
                k: rows,
                trans_a: true,
                trans_b: false,
                accumulate: true,
                a: View {
                    ptr: dg_at(dg_d),
                    ld: g4,
                    stride: item,
                },
                b: view(be, x, 0, s.i, rows * s.i),
                c: view(be, gr.w_ih[d], 0, s.i, g4 * s.i),
                bias: None,
                bias2: None,
            },
        )?;
        // dW_hh[r] += sum over steps with a predecessor of dG_t^T h_prev(t): forward
        // pairs dG rows of t = 1..T-1 with h rows of t-1, reverse dG of t = 0..T-2 with h
        // of t+1; h is direction d's half of y (row stride 2H).
        if s.t > 1 {
            let (dg_off, h_row0) = if d == 0 { (s.b * g4, 0) } else { (0, s.b) };
            gemm::call(
                be,
                &GemmCall {
                    batch: s.m,
                    m: g4,
                    n: h,
                    k: (s.t - 1) * s.b,
                    trans_a: true,
                    trans_b: false,
                    accumulate: true,
                    a: View {
                        ptr: dg_at(dg_d + dg_off),
                        ld: g4,
                        stride: item,
                    },
                    b: view(be, y, h_row0 * 2 * h + d * h, 2 * h, rows * 2 * h),
                    c: view(be, gr.w_hh[d], 0, h, g4 * h),
                    bias: None,
                    bias2: None,
                },
            )?;
        }
        gemm::colsum(
            be,
            s.m,
            rows,
            g4,
            g4,
            dg_at(dg_d),
            be.ptr(gr.b_ih[d]),
            be.ptr(gr.b_hh[d]),
        )?;
    }
    if let Some(dx) = dx {
        for d in 0..2 {
            // dx[r] += dG_d[r] W_ih_d[r]: [TB, 4H] x [4H, I]
            gemm::call(
                be,
                &GemmCall {
                    batch: s.m,
                    m: rows,
                    n: s.i,
                    k: g4,
                    trans_a: false,
                    trans_b: false,
                    accumulate: true,
                    a: View {
                        ptr: dg_at(d * s.m * item),
                        ld: g4,
                        stride: item,
                    },
                    b: view(be, p.w_ih[d], 0, s.i, g4 * s.i),
                    c: view(be, dx, 0, s.i, rows * s.i),
                    bias: None,
                    bias2: None,
                },
            )?;
        }
    }
    Ok(())
}
