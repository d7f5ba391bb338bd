//! L1 loss on the CPU: [`crate::backend::Backend::l1_fwd`] (mean |r - target| per replica,
//! summed in f64 in a fixed order) and `l1_bwd`; kernels/l1.cu's twin.

use super::par::{CHUNK, ordered_sum};
use crate::backend::Elem;
use rayon::prelude::*;

/// `loss[r] = mean |r - target|`.
pub(super) fn fwd<T: Elem>(n: usize, target: &[T], r: &[T], loss: &mut [T]) {
    for (k, l) in loss.iter_mut().enumerate() {
        let rr = &r[k * n..(k + 1) * n];
        let s = ordered_sum(n, |i| (rr[i] - target[i]).f64().abs());
        *l = T::of(s / n as f64);
    }
}

/// `dr += scale[r] * sign(r - target) / n`.
pub(super) fn bwd<T: Elem>(n: usize, scale: &[f64], target: &[T], r: &[T], dr: &mut [T]) {
    for (k, &sc) in scale.iter().enumerate() {
        let g = T::of(sc / n as f64);
        let rr = &r[k * n..(k + 1) * n];
        let dd = &mut dr[k * n..(k + 1) * n];
        dd.par_chunks_mut(CHUNK)
            .zip(rr.par_chunks(CHUNK).zip(target.par_chunks(CHUNK)))
            .for_each(|(dc, (rc, tc))| {
                for ((d, &a), &b) in dc.iter_mut().zip(rc).zip(tc) {
                    if a > b {
                        *d += g;
                    } else if a < b {
                        *d -= g;
                    }
                }
            });
    }
}
