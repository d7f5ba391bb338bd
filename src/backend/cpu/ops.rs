//! CPU reference of the small ops: dropout, bias gradient, max over time, elementwise masks,
//! L1 and cross-entropy losses, Adam.

use crate::backend::{AdamSpec, DropoutSpec, Elem};
use crate::error::{Error, Result};
use crate::rng;
use rayon::prelude::*;

/// Chunk length for rayon over elementwise work (small tensors stay on one thread).
const CHUNK: usize = 1 << 14;

/// Dropout forward (`acc = false`: `y = x * mask * scale`, x broadcast when `x_shared`) or
/// backward (`acc = true`: `y += x * mask * scale`). One Philox call covers 4 elements.
pub(crate) fn dropout<T: Elem>(
    d: &DropoutSpec,
    n: usize,
    x: &[T],
    x_shared: bool,
    y: &mut [T],
    acc: bool,
) {
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

/// `db[r, j] += sum_i dy[r, i, j]`, summed in f64 in row order.
pub(crate) fn bias_grad<T: Elem>(batch: usize, rows: usize, cols: usize, dy: &[T], db: &mut [T]) {
    for r in 0..batch {
        let mut acc = vec![0.0f64; cols];
        for row in dy[r * rows * cols..(r + 1) * rows * cols].chunks_exact(cols.max(1)) {
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += v.f64();
            }
        }
        for (d, a) in db[r * cols..(r + 1) * cols].iter_mut().zip(acc) {
            *d += T::of(a);
        }
    }
}

/// Max over time of `[M, T, N]` into `[M, N]` with the first arg-max. A NaN wins and stays
/// (the first NaN's index), as `torch.max(x, dim)` propagates NaN.
pub(crate) fn max_time_fwd<T: Elem>(
    m: usize,
    t: usize,
    n: usize,
    x: &[T],
    y: &mut [T],
    arg: &mut [i32],
) {
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

/// Scatter `dy [M, N]` to `dx [M, T, N]` through `arg`.
pub(crate) fn max_time_bwd<T: Elem>(
    m: usize,
    t: usize,
    n: usize,
    dy: &[T],
    arg: &[i32],
    dx: &mut [T],
) -> Result<()> {
    for r in 0..m {
        for j in 0..n {
            let a = arg[r * n + j];
            if a < 0 || a as usize >= t {
                return Err(Error::shape(format!("max_time: arg {a} out of 0..{t}")));
            }
            dx[(r * t + a as usize) * n + j] += dy[r * n + j];
        }
    }
    Ok(())
}

/// `y[i] = f(x[i])`.
pub(crate) fn map2<T: Elem>(x: &[T], y: &mut [T], f: impl Fn(T) -> T + Sync) {
    y.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(yc, xc)| {
            for (o, &v) in yc.iter_mut().zip(xc) {
                *o = f(v);
            }
        });
}

/// `dx[i] += dy[i]` where `keep(x[i])`.
pub(crate) fn acc_masked<T: Elem>(
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
fn ordered_sum(n: usize, f: impl Fn(usize) -> f64 + Sync) -> f64 {
    let parts: Vec<f64> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| (c * CHUNK..((c + 1) * CHUNK).min(n)).map(&f).sum())
        .collect();
    parts.iter().sum()
}

/// `loss[r] = mean |r - target|`.
pub(crate) fn l1_fwd<T: Elem>(n: usize, target: &[T], r: &[T], loss: &mut [T]) {
    for (k, l) in loss.iter_mut().enumerate() {
        let rr = &r[k * n..(k + 1) * n];
        let s = ordered_sum(n, |i| (rr[i] - target[i]).f64().abs());
        *l = T::of(if n == 0 { 0.0 } else { s / n as f64 });
    }
}

/// `dr += scale[r] * sign(r - target) / n`.
pub(crate) fn l1_bwd<T: Elem>(n: usize, scale: &[f64], target: &[T], r: &[T], dr: &mut [T]) {
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

/// Every label must be a class index.
pub(crate) fn check_labels(labels: &[i32], c: usize) -> Result<()> {
    if let Some(&bad) = labels.iter().find(|&&l| l < 0 || l as usize >= c) {
        return Err(Error::shape(format!(
            "cross entropy: label {bad} outside 0..{c}"
        )));
    }
    Ok(())
}

/// log-sum-exp of a row, computed stably in f64.
fn logsumexp<T: Elem>(row: &[T]) -> f64 {
    let mx = row.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v.f64()));
    mx + row.iter().map(|&v| (v.f64() - mx).exp()).sum::<f64>().ln()
}

/// `loss[r] = mean_b (logsumexp(logits[r, b]) - logits[r, b, y_b])`.
pub(crate) fn ce_fwd<T: Elem>(b: usize, c: usize, logits: &[T], labels: &[i32], loss: &mut [T]) {
    for (r, l) in loss.iter_mut().enumerate() {
        let mut s = 0.0;
        for (bi, &y) in labels.iter().enumerate() {
            let row = &logits[(r * b + bi) * c..(r * b + bi + 1) * c];
            s += logsumexp(row) - row[y as usize].f64();
        }
        *l = T::of(s / b as f64);
    }
}

/// `dlogits[r, b] += scale[r] * (softmax - onehot) / B`.
pub(crate) fn ce_bwd<T: Elem>(
    b: usize,
    c: usize,
    scale: &[f64],
    logits: &[T],
    labels: &[i32],
    dl: &mut [T],
) {
    for (r, &sc) in scale.iter().enumerate() {
        for (bi, &y) in labels.iter().enumerate() {
            let o = (r * b + bi) * c;
            let row = &logits[o..o + c];
            let lse = logsumexp(row);
            for j in 0..c {
                let p = (row[j].f64() - lse).exp();
                let g = p - if j == y as usize { 1.0 } else { 0.0 };
                dl[o + j] += T::of(sc * g / b as f64);
            }
        }
    }
}

/// One Adam step of one `[M, numel]` tensor, with PyTorch's arithmetic
/// (`torch.optim.Adam`, single-tensor path): m.lerp_(g, 1-b1); v = b2 v + (1-b2) g^2;
/// denom = sqrt(v) / sqrt(1 - b2^t) + eps; p -= lr / (1 - b1^t) * m / denom.
pub(crate) fn adam<T: Elem>(s: &AdamSpec, p: &mut [T], g: &[T], m: &mut [T], v: &mut [T]) {
    let reps = s.lr.len();
    let numel = p.len() / reps;
    let t = s.step as i32;
    let bc1 = 1.0 - s.beta1.powi(t);
    let bc2_sqrt = T::of((1.0 - s.beta2.powi(t)).sqrt());
    let w1 = T::of(1.0 - s.beta1);
    let b2 = T::of(s.beta2);
    let w2 = T::of(1.0 - s.beta2);
    let eps = T::of(s.eps);
    for r in 0..reps {
        let step_size = T::of(s.lr[r] / bc1);
        let rg = r * numel..(r + 1) * numel;
        p[rg.clone()]
            .par_chunks_mut(CHUNK)
            .zip(g[rg.clone()].par_chunks(CHUNK))
            .zip(m[rg.clone()].par_chunks_mut(CHUNK))
            .zip(v[rg].par_chunks_mut(CHUNK))
            .for_each(|(((pc, gc), mc), vc)| {
                for i in 0..pc.len() {
                    let gi = gc[i];
                    mc[i] = mc[i] + w1 * (gi - mc[i]);
                    vc[i] = vc[i] * b2 + w2 * gi * gi;
                    let denom = vc[i].sqrt() / bc2_sqrt + eps;
                    pc[i] -= step_size * mc[i] / denom;
                }
            });
    }
}
