//! dropout's launch code (kernels/dropout.cu; the CPU twin is src/backend/cpu/dropout.rs).

include!(concat!(env!("OUT_DIR"), "/kernel_api/dropout.rs"));

use super::{BLOCK, DevBuf, Device, KernelBackend, LaunchCfg};
use crate::backend::{DropoutSpec, Elem, StepVals};
use crate::error::Result;

/// Both passes: x (`[M or 1, n]` with `stride` 0 or n) into y, overwriting (fwd) or adding
/// (bwd). Grid: quads of n in x, replicas in y.
fn launch<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    k: super::Kernel<DropoutP>,
    d: &DropoutSpec<KernelBackend<T, D>>,
    n: usize,
    x: u64,
    stride: usize,
    y: u64,
) -> Result<()> {
    let m = d.seeds.len();
    if n == 0 {
        return Ok(());
    }
    let p = DropoutP {
        x,
        y,
        n: n as i64,
        x_stride: stride as i64,
        m: m as i64,
        step: d.step,
        step_at: d
            .step_at
            .map_or(0, |v| be.ptr(v) + StepVals::AT_DROPOUT_STEP as u64),
        scale: crate::rng::dropout_scale(d.p),
        threshold: crate::rng::dropout_threshold(d.p),
        tensor: d.tensor,
        seeds: KernelBackend::<T, D>::per_replica(d.seeds),
    };
    let cfg = LaunchCfg::new(be.blocks(n.div_ceil(4)), m as u32, BLOCK);
    be.launch(k, cfg, &p)
}

/// [`crate::backend::Backend::dropout_fwd`].
pub(super) fn fwd<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    d: &DropoutSpec<KernelBackend<T, D>>,
    n: usize,
    x: &DevBuf<D, T>,
    x_shared: bool,
    y: &mut DevBuf<D, T>,
) -> Result<()> {
    let stride = if x_shared { 0 } else { n };
    launch(be, DROPOUT_FWD, d, n, be.ptr(x), stride, be.ptr(y))
}

/// [`crate::backend::Backend::dropout_bwd`].
pub(super) fn bwd<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    d: &DropoutSpec<KernelBackend<T, D>>,
    n: usize,
    dy: &DevBuf<D, T>,
    dx: &mut DevBuf<D, T>,
) -> Result<()> {
    launch(be, DROPOUT_BWD, d, n, be.ptr(dy), n, be.ptr(dx))
}
