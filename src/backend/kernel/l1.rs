//! L1 loss's launch code (kernels/l1.cu; the CPU twin is src/backend/cpu/l1.rs).

include!(concat!(env!("OUT_DIR"), "/kernel_api/l1.rs"));

use super::{BLOCK, DevBuf, Device, KernelBackend, LaunchCfg};
use crate::backend::Elem;
use crate::error::Result;

/// Chunks per replica of the forward's partial sums: ceil(n / L1_CHUNK) capped at
/// L1_MAX_CHUNKS. The partition depends on n alone (each chunk one block's fixed-order sum),
/// so the loss is the same on every device and for every grid.
const L1_CHUNK: usize = 8192;
const L1_MAX_CHUNKS: usize = 256;

/// Chunks per replica for `n` elements.
fn chunks(n: usize) -> usize {
    n.div_ceil(L1_CHUNK).clamp(1, L1_MAX_CHUNKS)
}

/// [`crate::backend::Backend::l1_scratch`]: the f64 partial sums, `[M, chunks]`.
pub(super) fn scratch(m: usize, n: usize) -> usize {
    m * chunks(n) * std::mem::size_of::<f64>()
}

/// [`crate::backend::Backend::l1_fwd`]: `l1_fwd_partial` (one partial sum per chunk, into
/// `scratch`), then `l1_fwd_finish` (the chunks in order, / n).
pub(super) fn fwd<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    m: usize,
    n: usize,
    target: &DevBuf<D, T>,
    r: &DevBuf<D, T>,
    loss: &mut DevBuf<D, T>,
    partial: &mut DevBuf<D, u8>,
) -> Result<()> {
    debug_assert!(n >= 1 && target.len == n && r.len == m * n && loss.len == m);
    debug_assert!(partial.len >= scratch(m, n));
    let nb = chunks(n);
    let chunk = n.div_ceil(nb);
    let p = L1FwdPartialP {
        target: be.ptr(target),
        r: be.ptr(r),
        partial: be.ptr(partial),
        n: n as i64,
        chunk: chunk as i64,
        nb: nb as i64,
        m: m as i64,
    };
    let cap = be.dev.grid_cap() as usize;
    be.launch(
        L1_FWD_PARTIAL,
        LaunchCfg::new(nb.min(cap) as u32, m as u32, BLOCK),
        &p,
    )?;
    let f = L1FwdFinishP {
        partial: be.ptr(partial),
        loss: be.ptr(loss),
        n: n as i64,
        nb: nb as i64,
        m: m as i64,
    };
    be.launch(
        L1_FWD_FINISH,
        LaunchCfg::new(m.div_ceil(64) as u32, 1, 64),
        &f,
    )
}

/// [`crate::backend::Backend::l1_bwd`].
pub(super) fn bwd<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    n: usize,
    scale: &[f64],
    target: &DevBuf<D, T>,
    r: &DevBuf<D, T>,
    dr: &mut DevBuf<D, T>,
) -> Result<()> {
    let m = scale.len();
    debug_assert!(n >= 1 && target.len == n && r.len == m * n && dr.len == m * n);
    let p = L1BwdP {
        target: be.ptr(target),
        r: be.ptr(r),
        dr: be.ptr(dr),
        n: n as i64,
        m: m as i64,
        scale: KernelBackend::<T, D>::per_replica(scale),
    };
    be.launch(L1_BWD, LaunchCfg::new(be.blocks(n), m as u32, BLOCK), &p)
}
