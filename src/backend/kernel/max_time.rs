//! max over time's launch code (kernels/max_time.cu; the CPU twin is
//! src/backend/cpu/max_time.rs).

include!(concat!(env!("OUT_DIR"), "/kernel_api/max_time.rs"));

use super::{BLOCK, DevBuf, Device, KernelBackend, LaunchCfg};
use crate::backend::Elem;
use crate::error::Result;

/// [`crate::backend::Backend::max_time_fwd`].
#[allow(clippy::too_many_arguments)]
pub(super) fn fwd<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    m: usize,
    t: usize,
    rows: usize,
    f: usize,
    x: &DevBuf<D, T>,
    y: &mut DevBuf<D, T>,
    arg: &mut DevBuf<D, i32>,
) -> Result<()> {
    let total = m * rows * f;
    debug_assert!(t >= 1 && x.len == total * t && y.len == total && arg.len == total);
    if total == 0 {
        return Ok(());
    }
    let p = MaxTimeFwdP {
        x: be.ptr(x),
        y: be.ptr(y),
        arg: be.ptr(arg),
        t: t as i64,
        rows: rows as i64,
        f: f as i64,
        total: total as i64,
    };
    be.launch(MAX_TIME_FWD, LaunchCfg::new(be.blocks(total), 1, BLOCK), &p)
}

/// [`crate::backend::Backend::max_time_bwd`] (every arg is in 0..T: checked in front).
#[allow(clippy::too_many_arguments)]
pub(super) fn bwd<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    m: usize,
    t: usize,
    rows: usize,
    f: usize,
    dy: &DevBuf<D, T>,
    arg: &DevBuf<D, i32>,
    dx: &mut DevBuf<D, T>,
) -> Result<()> {
    let total = m * rows * f;
    debug_assert!(dy.len == total && arg.len == total && dx.len == total * t);
    if total == 0 {
        return Ok(());
    }
    let p = MaxTimeBwdP {
        dy: be.ptr(dy),
        arg: be.ptr(arg),
        dx: be.ptr(dx),
        t: t as i64,
        rows: rows as i64,
        f: f as i64,
        total: total as i64,
    };
    be.launch(MAX_TIME_BWD, LaunchCfg::new(be.blocks(total), 1, BLOCK), &p)
}
