//! relu on the CPU: [`crate::backend::Backend::relu_fwd`] and `relu_bwd`; kernels/relu.cu's
//! twin.

use super::par::{acc_masked, map2};
use crate::backend::Elem;

/// `y = max(x, 0)`; NaN passes through, as torch.relu.
pub(super) fn fwd<T: Elem>(x: &[T], y: &mut [T]) {
    map2(x, y, |v| {
        if v > T::zero() || v.is_nan() {
            v
        } else {
            T::zero()
        }
    });
}

/// `dx += dy * (y > 0)`: PyTorch's threshold_backward drops dy where y <= 0 (a NaN y keeps it).
pub(super) fn bwd<T: Elem>(y: &[T], dy: &[T], dx: &mut [T]) {
    acc_masked(y, dy, dx, |v| v > T::zero() || v.is_nan());
}
