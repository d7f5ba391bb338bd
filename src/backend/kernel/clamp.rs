//! clamp's launch code (kernels/clamp.cu; the CPU twin is src/backend/cpu/clamp.rs).

include!(concat!(env!("OUT_DIR"), "/kernel_api/clamp.rs"));

use super::{BLOCK, DevBuf, Device, KernelBackend, LaunchCfg};
use crate::backend::Elem;
use crate::error::Result;

/// [`crate::backend::Backend::clamp_fwd`].
pub(super) fn fwd<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    n: usize,
    lo: f64,
    hi: f64,
    x: &DevBuf<D, T>,
    y: &mut DevBuf<D, T>,
) -> Result<()> {
    debug_assert!(x.len == n && y.len == n);
    if n == 0 {
        return Ok(());
    }
    let p = ClampFwdP {
        x: be.ptr(x),
        y: be.ptr(y),
        n: n as i64,
        lo,
        hi,
    };
    be.launch(CLAMP_FWD, LaunchCfg::new(be.blocks(n), 1, BLOCK), &p)
}

/// [`crate::backend::Backend::clamp_bwd`].
pub(super) fn bwd<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    n: usize,
    lo: f64,
    hi: f64,
    x: &DevBuf<D, T>,
    dy: &DevBuf<D, T>,
    dx: &mut DevBuf<D, T>,
) -> Result<()> {
    debug_assert!(x.len == n && dy.len == n && dx.len == n);
    if n == 0 {
        return Ok(());
    }
    let p = ClampBwdP {
        x: be.ptr(x),
        dy: be.ptr(dy),
        dx: be.ptr(dx),
        n: n as i64,
        lo,
        hi,
    };
    be.launch(CLAMP_BWD, LaunchCfg::new(be.blocks(n), 1, BLOCK), &p)
}
