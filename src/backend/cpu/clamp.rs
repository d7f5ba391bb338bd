//! clamp on the CPU: [`crate::backend::Backend::clamp_fwd`] and `clamp_bwd`;
//! kernels/clamp.cu's twin.

use super::par::{acc_masked, map2};
use crate::backend::Elem;

/// `y = min(max(x, lo), hi)`.
pub(super) fn fwd<T: Elem>(lo: f64, hi: f64, x: &[T], y: &mut [T]) {
    let (lo, hi) = (T::of(lo), T::of(hi));
    map2(x, y, |v| {
        if v < lo {
            lo
        } else if v > hi {
            hi
        } else {
            v
        }
    });
}

/// `dx += dy * (lo <= x <= hi)`.
pub(super) fn bwd<T: Elem>(lo: f64, hi: f64, x: &[T], dy: &[T], dx: &mut [T]) {
    let (lo, hi) = (T::of(lo), T::of(hi));
    acc_masked(x, dy, dx, |v| v >= lo && v <= hi);
}
