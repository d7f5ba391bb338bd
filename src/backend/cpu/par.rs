//! Rayon helpers the CPU ops share: chunked elementwise maps and a fixed-order f64 sum (the
//! chunk partition depends on the length only, so results do not depend on the thread count).

use crate::backend::Elem;
use rayon::prelude::*;

/// Chunk length for rayon over elementwise work (small tensors stay on one thread); a
/// multiple of 4 (dropout draws 4 elements per Philox call).
pub(super) const CHUNK: usize = 1 << 14;

/// `y[i] = f(x[i])`.
pub(super) fn map2<T: Elem>(x: &[T], y: &mut [T], f: impl Fn(T) -> T + Sync) {
    y.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(yc, xc)| {
            for (o, &v) in yc.iter_mut().zip(xc) {
                *o = f(v);
            }
        });
}

/// `dx[i] += dy[i]` where `keep(x[i])`.
pub(super) fn acc_masked<T: Elem>(
    x: &[T],
    dy: &[T],
    dx: &mut [T],
    keep: impl Fn(T) -> bool + Sync,
) {
    dx.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK).zip(dy.par_chunks(CHUNK)))
        .for_each(|(dc, (xc, gc))| {
            for ((d, &v), &g) in dc.iter_mut().zip(xc).zip(gc) {
                if keep(v) {
                    *d += g;
                }
            }
        });
}

/// Fixed-order f64 sum of `f(i)` over `0..n`, in chunks summed in order (rayon-safe).
pub(super) fn ordered_sum(n: usize, f: impl Fn(usize) -> f64 + Sync) -> f64 {
    let parts: Vec<f64> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| (c * CHUNK..((c + 1) * CHUNK).min(n)).map(&f).sum())
        .collect();
    parts.iter().sum()
}
