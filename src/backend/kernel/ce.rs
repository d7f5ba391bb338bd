//! Cross entropy's launch code (kernels/ce.cu; the CPU twin is src/backend/cpu/ce.rs).

include!(concat!(env!("OUT_DIR"), "/kernel_api/ce.rs"));

use super::{BLOCK, DevBuf, Device, KernelBackend, LaunchCfg};
use crate::backend::Elem;
use crate::error::Result;

/// Threads of the per-replica reduction block of `ce_fwd` (a multiple of 32).
const CE_FWD_BLOCK: u32 = 128;

/// [`crate::backend::Backend::ce_fwd`]: one block per replica.
#[allow(clippy::too_many_arguments)]
pub(super) fn fwd<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    m: usize,
    b: usize,
    c: usize,
    logits: &DevBuf<D, T>,
    labels: &DevBuf<D, i32>,
    loss: &mut DevBuf<D, T>,
) -> Result<()> {
    debug_assert!(logits.len == m * b * c && labels.len == b && loss.len == m);
    let p = CeFwdP {
        logits: be.ptr(logits),
        labels: be.ptr(labels),
        loss: be.ptr(loss),
        b: b as i64,
        c: c as i64,
        m: m as i64,
    };
    let grid = m.min(be.dev.grid_cap() as usize) as u32;
    be.launch(CE_FWD, LaunchCfg::new(grid, 1, CE_FWD_BLOCK), &p)
}

/// [`crate::backend::Backend::ce_bwd`]: one thread per (replica, row).
#[allow(clippy::too_many_arguments)]
pub(super) fn bwd<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    b: usize,
    c: usize,
    scale: &[f64],
    logits: &DevBuf<D, T>,
    labels: &DevBuf<D, i32>,
    dlogits: &mut DevBuf<D, T>,
) -> Result<()> {
    let m = scale.len();
    debug_assert!(logits.len == m * b * c && labels.len == b && dlogits.len == m * b * c);
    let total = m * b;
    let p = CeBwdP {
        logits: be.ptr(logits),
        labels: be.ptr(labels),
        dlogits: be.ptr(dlogits),
        b: b as i64,
        c: c as i64,
        total: total as i64,
        scale: KernelBackend::<T, D>::per_replica(scale),
    };
    be.launch(CE_BWD, LaunchCfg::new(be.blocks(total), 1, BLOCK), &p)
}
