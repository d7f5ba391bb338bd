//! dropout on the CPU: forward and backward of [`crate::backend::Backend::dropout_fwd`] /
//! `dropout_bwd`. The mask is Philox-4x32-10 of (replica seed, step, site, element), the same
//! function as kernels/dropout.cu, so every backend draws the same mask; one Philox call
//! covers 4 elements. Nothing is stored: the backward recomputes the mask.

use super::par::CHUNK;
use crate::backend::Elem;
use crate::rng;
use rayon::prelude::*;

/// One dropout call: drop probability, seeds (one per replica), step counter, site.
#[derive(Clone, Copy)]
struct Mask<'a> {
    p: f64,
    seeds: &'a [u64],
    step: u64,
    tensor: u32,
}

/// `y = x * keep * scale` (x `[M or 1, n]`, broadcast when `x_shared`; y `[M, n]`).
#[allow(clippy::too_many_arguments)]
pub(super) fn fwd<T: Elem>(
    p: f64,
    seeds: &[u64],
    step: u64,
    tensor: u32,
    n: usize,
    x: &[T],
    x_shared: bool,
    y: &mut [T],
) {
    let d = Mask {
        p,
        seeds,
        step,
        tensor,
    };
    apply(d, n, x, x_shared, y, false)
}

/// `dx += dy * keep * scale` (dy, dx `[M, n]`).
#[allow(clippy::too_many_arguments)]
pub(super) fn bwd<T: Elem>(
    p: f64,
    seeds: &[u64],
    step: u64,
    tensor: u32,
    n: usize,
    dy: &[T],
    dx: &mut [T],
) {
    let d = Mask {
        p,
        seeds,
        step,
        tensor,
    };
    apply(d, n, dy, false, dx, true)
}

fn apply<T: Elem>(d: Mask, n: usize, x: &[T], x_shared: bool, y: &mut [T], acc: bool) {
    debug_assert_eq!(y.len(), d.seeds.len() * n);
    let thr = rng::dropout_threshold(d.p);
    let scale = T::of(rng::dropout_scale(d.p));
    let identity = thr == 0;
    y.par_chunks_mut(n.max(1)).enumerate().for_each(|(r, yr)| {
        let xr = if x_shared {
            &x[..n]
        } else {
            &x[r * n..(r + 1) * n]
        };
        let seed = d.seeds[r];
        yr.par_chunks_mut(CHUNK)
            .zip(xr.par_chunks(CHUNK))
            .enumerate()
            .for_each(|(ci, (yc, xc))| {
                let base = ci * CHUNK; // CHUNK is a multiple of 4
                for q in 0..yc.len().div_ceil(4) {
                    let words = if identity {
                        [u32::MAX; 4]
                    } else {
                        let idx = (base + 4 * q) as u64;
                        rng::philox4x32_10(
                            [
                                (idx >> 2) as u32,
                                d.tensor,
                                d.step as u32,
                                (d.step >> 32) as u32,
                            ],
                            rng::seed_key(seed),
                        )
                    };
                    for (k, &w) in words.iter().enumerate() {
                        let i = 4 * q + k;
                        if i >= yc.len() {
                            break;
                        }
                        // x * mask * scale, as PyTorch: a dropped NaN stays NaN (NaN * 0)
                        let v = xc[i] * if (w >> 8) >= thr { scale } else { T::zero() };
                        if acc {
                            yc[i] += v;
                        } else {
                            yc[i] = v;
                        }
                    }
                }
            });
    });
}
