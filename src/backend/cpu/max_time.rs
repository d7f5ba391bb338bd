//! max over time on the CPU: [`crate::backend::Backend::max_time_fwd`] (value and the first
//! argmax) and `max_time_bwd` (scatter through the argmax); kernels/max_time.cu's twin.

use crate::backend::Elem;

/// Max over time of `x [M, T, N]` into `y [M, N]` with the first arg-max. A NaN wins and stays
/// (the first NaN's index), as `torch.max(x, dim)` propagates NaN.
pub(super) fn fwd<T: Elem>(m: usize, t: usize, n: usize, x: &[T], y: &mut [T], arg: &mut [i32]) {
    for r in 0..m {
        let yr = &mut y[r * n..(r + 1) * n];
        let ar = &mut arg[r * n..(r + 1) * n];
        yr.copy_from_slice(&x[r * t * n..r * t * n + n]);
        ar.fill(0);
        for ti in 1..t {
            let xt = &x[(r * t + ti) * n..(r * t + ti + 1) * n];
            for j in 0..n {
                if xt[j] > yr[j] || (xt[j].is_nan() && !yr[j].is_nan()) {
                    yr[j] = xt[j];
                    ar[j] = ti as i32;
                }
            }
        }
    }
}

/// Scatter `dy [M, N]` to `dx [M, T, N]` through `arg` (every value in `0..T`: checked in
/// front of the backends).
pub(super) fn bwd<T: Elem>(m: usize, t: usize, n: usize, dy: &[T], arg: &[i32], dx: &mut [T]) {
    for r in 0..m {
        for j in 0..n {
            let a = arg[r * n + j];
            debug_assert!(a >= 0 && (a as usize) < t, "argmax {a} outside 0..{t}");
            dx[(r * t + a as usize) * n + j] += dy[r * n + j];
        }
    }
}
