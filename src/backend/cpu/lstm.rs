//! The LSTM layer on the CPU: [`crate::backend::Backend::lstm_fwd`] and `lstm_bwd`, forward
//! and backward through time (PyTorch gate order i, f, g, o); the twin of kernels/lstm.cu
//! (whose launch code is src/backend/kernel/lstm.rs). The cell's pointwise math is in
//! lstm_cell.rs.
//!
//! Work items are (replica, direction) pairs, run in parallel with single-threaded gemms
//! inside, so a replica's arithmetic never depends on the other replicas (joint == solo).
//!
//! Saved layout per (direction d, replica r): `[T, B, 6H]` holding i, f, g, o (activated),
//! c and tanh(c) at every step; item base `((d*M + r) * T) * B * 6H`. Scratch: per item the
//! gates `[T, B, 4H]` and h `[T, B, H]` (forward) or the gate gradients `[T, B, 4H]`
//! (backward), in the caller's buffer.

use super::CpuBackend;
use super::gemm::{Mat, MatMut, gemm_dense, gemm_raw};
use super::lstm_cell::CellMath;
use crate::backend::{Elem, LstmGrads, LstmParams, LstmShape, LstmSizes};

/// Elements of `saved` and of `scratch`.
pub(super) fn elems(s: &LstmShape) -> (usize, usize) {
    let items = 2 * s.m;
    let rows = s.t * s.b;
    (items * rows * 6 * s.h, items * rows * 5 * s.h)
}

/// [`crate::backend::Backend::lstm_sizes`].
pub(super) fn sizes<T: Elem>(s: &LstmShape) -> LstmSizes {
    let (saved, scratch) = elems(s);
    let e = std::mem::size_of::<T>();
    LstmSizes {
        saved: saved * e,
        scratch: scratch * e,
        kernel: format!(
            "cpu: per (replica, direction) on rayon, gemm crate for the products, {}",
            T::DTYPE
        ),
    }
}

/// [`crate::backend::Backend::lstm_fwd`]: the (replica, direction) items in parallel, then
/// each item's h scattered into its half of y.
pub(super) fn fwd<T: CellMath>(
    s: &LstmShape,
    x: &[T],
    p: &LstmParams<CpuBackend<T>>,
    y: &mut [T],
    saved: &mut [T],
    scratch: &mut [T],
) {
    let (g4, h) = (4 * s.h, s.h);
    let rows = s.t * s.b;
    let item_saved = rows * 6 * h;
    let xs = rows * s.i;
    let item_scratch = rows * g4 + rows * h;
    {
        use rayon::prelude::*;
        saved
            .par_chunks_mut(item_saved)
            .zip(scratch.par_chunks_mut(item_scratch))
            .enumerate()
            .for_each(|(k, (sv, sc))| {
                let (r, d) = (k % s.m, k / s.m);
                let (gates, hs) = sc.split_at_mut(rows * g4);
                fwd_item(
                    s,
                    d,
                    &x[r * xs..(r + 1) * xs],
                    &p.w_ih[d][r * g4 * s.i..(r + 1) * g4 * s.i],
                    &p.w_hh[d][r * g4 * h..(r + 1) * g4 * h],
                    &p.b_ih[d][r * g4..(r + 1) * g4],
                    &p.b_hh[d][r * g4..(r + 1) * g4],
                    sv,
                    gates,
                    hs,
                )
            });
    }
    // scatter each item's h [T, B, H] into y [M, T, B, 2H]
    for (k, sc) in scratch.chunks(item_scratch).enumerate() {
        let (r, d) = (k % s.m, k / s.m);
        let hk = &sc[rows * g4..];
        for row in 0..rows {
            let dst = (r * rows + row) * 2 * h + d * h;
            y[dst..dst + h].copy_from_slice(&hk[row * h..(row + 1) * h]);
        }
    }
}

/// [`crate::backend::Backend::lstm_bwd`]: the (replica, direction) items in parallel
/// (gate gradients and parameter gradients), then `dx += dG_fwd W_ih_fwd` and
/// `+= dG_rev W_ih_rev` in that order.
#[allow(clippy::too_many_arguments)]
pub(super) fn bwd<T: CellMath>(
    s: &LstmShape,
    x: &[T],
    p: &LstmParams<CpuBackend<T>>,
    y: &[T],
    saved: &[T],
    scratch: &mut [T],
    dy: &[T],
    dx: Option<&mut Vec<T>>,
    g: &mut LstmGrads<CpuBackend<T>>,
) {
    let (g4, h) = (4 * s.h, s.h);
    let rows = s.t * s.b;
    let xs = rows * s.i;
    let ys = rows * 2 * h;
    let item_saved = rows * 6 * h;
    let [a0, a1] = &mut g.w_ih;
    let [b0, b1] = &mut g.w_hh;
    let [c0, c1] = &mut g.b_ih;
    let [e0, e1] = &mut g.b_hh;
    let items = split_grads(
        s,
        [a0.as_mut_slice(), a1.as_mut_slice()],
        [b0.as_mut_slice(), b1.as_mut_slice()],
        [c0.as_mut_slice(), c1.as_mut_slice()],
        [e0.as_mut_slice(), e1.as_mut_slice()],
    );
    let dgs = &mut scratch[..2 * s.m * rows * g4];
    {
        use rayon::prelude::*;
        items
            .into_par_iter()
            .zip(dgs.par_chunks_mut(rows * g4))
            .for_each(|((r, d, dwi, dwh, dbi, dbh), dg)| {
                let k = d * s.m + r;
                bwd_item(
                    s,
                    d,
                    &x[r * xs..(r + 1) * xs],
                    &y[r * ys..(r + 1) * ys],
                    &p.w_hh[d][r * g4 * h..(r + 1) * g4 * h],
                    &saved[k * item_saved..(k + 1) * item_saved],
                    &dy[r * ys..(r + 1) * ys],
                    dwi,
                    dwh,
                    dbi,
                    dbh,
                    dg,
                )
            });
    }
    if let Some(dx) = dx {
        // dx[r] += dG_fwd W_ih_fwd, then += dG_rev W_ih_rev (fixed order)
        for r in 0..s.m {
            for d in 0..2 {
                gemm_dense(
                    rows,
                    s.i,
                    g4,
                    dgs,
                    (d * s.m + r) * rows * g4,
                    false,
                    p.w_ih[d],
                    r * g4 * s.i,
                    false,
                    dx,
                    r * xs,
                    true,
                );
            }
        }
    }
}

/// Time steps in processing order: forward 0..T, reverse T-1..0.
fn order(t_len: usize, d: usize) -> Vec<usize> {
    if d == 0 {
        (0..t_len).collect()
    } else {
        (0..t_len).rev().collect()
    }
}

/// Split `[T, B, 6H]` saved rows into step `t` (mutable) and step `tp` (shared), `t != tp`.
fn step_and_prev<T>(saved: &mut [T], t: usize, tp: usize, step: usize) -> (&mut [T], &[T]) {
    if tp < t {
        let (a, b) = saved.split_at_mut(t * step);
        (&mut b[..step], &a[tp * step..(tp + 1) * step])
    } else {
        let (a, b) = saved.split_at_mut(tp * step);
        (&mut a[t * step..(t + 1) * step], &b[..step])
    }
}

/// Forward of one (replica, direction) into `hs` (`[T, B, H]`) and `saved` (`[T, B, 6H]`);
/// `gates` is scratch of `T*B*4H` elements.
#[allow(clippy::too_many_arguments)]
fn fwd_item<T: CellMath>(
    s: &LstmShape,
    d: usize,
    x: &[T],
    w_ih: &[T],
    w_hh: &[T],
    b_ih: &[T],
    b_hh: &[T],
    saved: &mut [T],
    gates: &mut [T],
    hs: &mut [T],
) {
    let (t_len, b, i_len, h) = (s.t, s.b, s.i, s.h);
    let g4 = 4 * h;
    let rows = t_len * b;
    // gates of every step: x W_ih^T, then + b_ih + b_hh
    let a = Mat::dense(x, 0, i_len, false);
    let wt = Mat::dense(w_ih, 0, i_len, true);
    let c = MatMut {
        ptr: gates.as_mut_ptr(),
        rs: g4 as isize,
    };
    assert!(x.len() >= rows * i_len && w_ih.len() >= g4 * i_len && gates.len() >= rows * g4);
    // SAFETY: x is [rows, I], w_ih is [4H, I], gates is [rows, 4H] (asserted) and ours alone.
    unsafe { gemm_raw(rows, g4, i_len, a, wt, c, false, true) };
    let bias: Vec<T> = (0..g4).map(|j| b_ih[j] + b_hh[j]).collect();
    for row in gates[..rows * g4].chunks_exact_mut(g4) {
        for (g, &bb) in row.iter_mut().zip(&bias) {
            *g += bb;
        }
    }
    let whh_t = Mat::dense(w_hh, 0, h, true);
    let step = b * 6 * h;
    let mut prev: Option<usize> = None;
    for t in order(t_len, d) {
        let g = &mut gates[t * b * g4..(t + 1) * b * g4];
        let hout_range = t * b * h..(t + 1) * b * h;
        match prev {
            Some(tp) => {
                let hp = Mat::dense(hs, tp * b * h, h, false);
                let c = MatMut {
                    ptr: g.as_mut_ptr(),
                    rs: g4 as isize,
                };
                // SAFETY: hs[tp] is [B, H], w_hh is [4H, H], g is [B, 4H]; g and hs are distinct.
                unsafe { gemm_raw(b, g4, h, hp, whh_t, c, true, true) };
                let (cur, pr) = step_and_prev(saved, t, tp, step);
                T::cell_fwd(b, h, g, Some(pr), cur, &mut hs[hout_range]);
            }
            None => {
                T::cell_fwd(
                    b,
                    h,
                    g,
                    None,
                    &mut saved[t * step..(t + 1) * step],
                    &mut hs[hout_range],
                );
            }
        }
        prev = Some(t);
    }
}

/// Backward of one (replica, direction): writes the pre-activation gate gradients into `dg`
/// (`[T, B, 4H]`, fully overwritten) and accumulates this item's weight and bias gradients.
#[allow(clippy::too_many_arguments)]
fn bwd_item<T: CellMath>(
    s: &LstmShape,
    d: usize,
    x: &[T],
    y: &[T],
    w_hh: &[T],
    saved: &[T],
    dy: &[T],
    dw_ih: &mut [T],
    dw_hh: &mut [T],
    db_ih: &mut [T],
    db_hh: &mut [T],
    dg: &mut [T],
) {
    let (t_len, b, i_len, h) = (s.t, s.b, s.i, s.h);
    let g4 = 4 * h;
    let h2 = 2 * h;
    let rows = t_len * b;
    let step = b * 6 * h;
    let mut dh_rec = vec![T::zero(); b * h];
    let mut dc = vec![T::zero(); b * h];
    let ord = order(t_len, d);
    for (k, &t) in ord.iter().enumerate().rev() {
        let prev = if k > 0 { Some(ord[k - 1]) } else { None };
        let cur = &saved[t * step..(t + 1) * step];
        let pr = prev.map(|tp| &saved[tp * step..(tp + 1) * step]);
        let dyt = &dy[t * b * h2 + d * h..];
        T::cell_bwd(
            b,
            h,
            cur,
            pr,
            dyt,
            h2,
            &dh_rec,
            &mut dc,
            &mut dg[t * b * g4..(t + 1) * b * g4],
        );
        if prev.is_some() {
            // dh_{prev} = dG_t W_hh  ([B, 4H] x [4H, H])
            gemm_dense(
                b,
                h,
                g4,
                dg,
                t * b * g4,
                false,
                w_hh,
                0,
                false,
                &mut dh_rec,
                0,
                false,
            );
        }
    }
    // dW_ih += dG^T X
    gemm_dense(g4, i_len, rows, dg, 0, true, x, 0, false, dw_ih, 0, true);
    // dW_hh += sum_t dG_t^T h_prev(t): one gemm over the steps that have a predecessor
    if t_len > 1 {
        let n_rows = (t_len - 1) * b;
        let (dg_off, h_row0) = if d == 0 { (b * g4, 0) } else { (0, b) };
        let a = Mat::dense(dg, dg_off, g4, true);
        let hp = Mat {
            ptr: y[h_row0 * h2 + d * h..].as_ptr(),
            rs: h2 as isize,
            cs: 1,
        };
        let c = MatMut {
            ptr: dw_hh.as_mut_ptr(),
            rs: h as isize,
        };
        assert!(dg_off + n_rows * g4 <= dg.len() && (h_row0 + n_rows) * h2 <= y.len());
        assert!(dw_hh.len() >= g4 * h);
        // SAFETY: bounds asserted; dw_hh is an exclusive borrow distinct from dg and y.
        unsafe { gemm_raw(g4, h, n_rows, a, hp, c, true, true) };
    }
    let mut acc = vec![0.0f64; g4];
    for row in dg[..rows * g4].chunks_exact(g4) {
        for (a, v) in acc.iter_mut().zip(row) {
            *a += v.f64();
        }
    }
    for j in 0..g4 {
        db_ih[j] += T::of(acc[j]);
        db_hh[j] += T::of(acc[j]);
    }
}

/// Per-replica slices of the eight parameter-gradient buffers, for parallel items.
type ItemGrads<'a, T> = (
    usize,
    usize,
    &'a mut [T],
    &'a mut [T],
    &'a mut [T],
    &'a mut [T],
);

/// Split `[M, numel]` gradient buffers of both directions into (replica, direction) items,
/// direction-major (item k = d*M + r).
fn split_grads<'a, T>(
    s: &LstmShape,
    w_ih: [&'a mut [T]; 2],
    w_hh: [&'a mut [T]; 2],
    b_ih: [&'a mut [T]; 2],
    b_hh: [&'a mut [T]; 2],
) -> Vec<ItemGrads<'a, T>> {
    let (g4, i_len, h) = (4 * s.h, s.i, s.h);
    let mut items = Vec::with_capacity(2 * s.m);
    let [wi0, wi1] = w_ih;
    let [wh0, wh1] = w_hh;
    let [bi0, bi1] = b_ih;
    let [bh0, bh1] = b_hh;
    for (d, (wi, wh, bi, bh)) in [(wi0, wh0, bi0, bh0), (wi1, wh1, bi1, bh1)]
        .into_iter()
        .enumerate()
    {
        for (r, (((a, b), c), e)) in wi
            .chunks_mut(g4 * i_len)
            .zip(wh.chunks_mut(g4 * h))
            .zip(bi.chunks_mut(g4))
            .zip(bh.chunks_mut(g4))
            .enumerate()
        {
            items.push((r, d, a, b, c, e));
        }
    }
    items
}
