//! relu's launch code (kernels/relu.cu; the CPU twin is src/backend/cpu/relu.rs).

include!(concat!(env!("OUT_DIR"), "/kernel_api/relu.rs"));

use super::{BLOCK, DevBuf, Device, KernelBackend, LaunchCfg};
use crate::backend::Elem;
use crate::error::Result;

/// [`crate::backend::Backend::relu_fwd`].
pub(super) fn fwd<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    n: usize,
    x: &DevBuf<D, T>,
    y: &mut DevBuf<D, T>,
) -> Result<()> {
    debug_assert!(x.len == n && y.len == n);
    if n == 0 {
        return Ok(());
    }
    let p = ReluFwdP {
        x: be.ptr(x),
        y: be.ptr(y),
        n: n as i64,
    };
    be.launch(RELU_FWD, LaunchCfg::new(be.blocks(n), 1, BLOCK), &p)
}

/// [`crate::backend::Backend::relu_bwd`].
pub(super) fn bwd<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    n: usize,
    y: &DevBuf<D, T>,
    dy: &DevBuf<D, T>,
    dx: &mut DevBuf<D, T>,
) -> Result<()> {
    debug_assert!(y.len == n && dy.len == n && dx.len == n);
    if n == 0 {
        return Ok(());
    }
    let p = ReluBwdP {
        y: be.ptr(y),
        dy: be.ptr(dy),
        dx: be.ptr(dx),
        n: n as i64,
    };
    be.launch(RELU_BWD, LaunchCfg::new(be.blocks(n), 1, BLOCK), &p)
}
