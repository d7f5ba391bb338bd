//! CPU LSTM layer, forward and backward through time (PyTorch gate order i, f, g, o).
//!
//! Work items are (replica, direction) pairs, run in parallel with single-threaded gemms
//! inside, so a replica's arithmetic never depends on the other replicas (joint == solo).
//!
//! Saved layout per (direction d, replica r): `[T, B, 6H]` holding i, f, g, o (activated),
//! c and tanh(c) at every step; item base `((d*M + r) * T) * B * 6H`.

use super::gemm::{Mat, MatMut, gemm_dense, gemm_raw};
use crate::backend::{Elem, LstmShape};

#[inline]
fn sigmoid<T: Elem>(x: T) -> T {
    T::one() / (T::one() + (-x).exp())
}

/// Forward of one (replica, direction): returns h `[T, B, H]`; fills `saved` (`[T, B, 6H]`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn fwd_item<T: Elem>(
    s: &LstmShape,
    d: usize,
    x: &[T],
    w_ih: &[T],
    w_hh: &[T],
    b_ih: &[T],
    b_hh: &[T],
    saved: &mut [T],
) -> Vec<T> {
    let (t_len, b, i_len, h) = (s.t, s.b, s.i, s.h);
    let g4 = 4 * h;
    let rows = t_len * b;
    // gates of every step: x W_ih^T, then + b_ih + b_hh
    let mut gates = vec![T::zero(); rows * g4];
    if rows > 0 {
        let a = Mat::dense(x, 0, i_len, false);
        let wt = Mat::dense(w_ih, 0, i_len, true);
        let c = MatMut {
            ptr: gates.as_mut_ptr(),
            rs: g4 as isize,
        };
        // SAFETY: x is [rows, I], w_ih is [4H, I], gates is [rows, 4H] and exclusively ours.
        unsafe { gemm_raw(rows, g4, i_len, a, wt, c, false, true) };
    }
    let bias: Vec<T> = (0..g4).map(|j| b_ih[j] + b_hh[j]).collect();
    for row in gates.chunks_exact_mut(g4) {
        for (g, &bb) in row.iter_mut().zip(&bias) {
            *g += bb;
        }
    }
    let mut hs = vec![T::zero(); rows * h];
    let whh_t = Mat::dense(w_hh, 0, h, true);
    let order: Vec<usize> = if d == 0 {
        (0..t_len).collect()
    } else {
        (0..t_len).rev().collect()
    };
    let mut prev: Option<usize> = None;
    for &t in &order {
        let g = &mut gates[t * b * g4..(t + 1) * b * g4];
        if let Some(tp) = prev {
            let hp = Mat::dense(&hs, tp * b * h, h, false);
            let c = MatMut {
                ptr: g.as_mut_ptr(),
                rs: g4 as isize,
            };
            // SAFETY: hs[tp] is [B, H], w_hh is [4H, H], g is [B, 4H]; g and hs are distinct.
            unsafe { gemm_raw(b, g4, h, hp, whh_t, c, true, true) };
        }
        for bi in 0..b {
            let gr = &g[bi * g4..(bi + 1) * g4];
            let sbase = (t * b + bi) * 6 * h;
            let pbase = prev.map(|tp| (tp * b + bi) * 6 * h);
            for j in 0..h {
                let ig = sigmoid(gr[j]);
                let fg = sigmoid(gr[h + j]);
                let gg = gr[2 * h + j].tanh();
                let og = sigmoid(gr[3 * h + j]);
                let c_prev = match pbase {
                    Some(p) => saved[p + 4 * h + j],
                    None => T::zero(),
                };
                let c = fg * c_prev + ig * gg;
                let tc = c.tanh();
                let sv = &mut saved[sbase..sbase + 6 * h];
                sv[j] = ig;
                sv[h + j] = fg;
                sv[2 * h + j] = gg;
                sv[3 * h + j] = og;
                sv[4 * h + j] = c;
                sv[5 * h + j] = tc;
                hs[(t * b + bi) * h + j] = og * tc;
            }
        }
        prev = Some(t);
    }
    hs
}

/// Backward of one (replica, direction): returns dG `[T, B, 4H]` (pre-activation gate
/// gradients) and accumulates the weight and bias gradients of this item.
#[allow(clippy::too_many_arguments)]
pub(crate) fn bwd_item<T: Elem>(
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
) -> Vec<T> {
    let (t_len, b, i_len, h) = (s.t, s.b, s.i, s.h);
    let g4 = 4 * h;
    let h2 = 2 * h;
    let rows = t_len * b;
    let mut dg = vec![T::zero(); rows * g4];
    let mut dh_rec = vec![T::zero(); b * h];
    let mut dc_next = vec![T::zero(); b * h];
    let order: Vec<usize> = if d == 0 {
        (0..t_len).collect()
    } else {
        (0..t_len).rev().collect()
    };
    for (k, &t) in order.iter().enumerate().rev() {
        let prev = if k > 0 { Some(order[k - 1]) } else { None };
        for bi in 0..b {
            let sbase = (t * b + bi) * 6 * h;
            let sv = &saved[sbase..sbase + 6 * h];
            let pbase = prev.map(|tp| (tp * b + bi) * 6 * h);
            let dyr = &dy[(t * b + bi) * h2 + d * h..(t * b + bi) * h2 + d * h + h];
            let dgr = &mut dg[(t * b + bi) * g4..(t * b + bi + 1) * g4];
            for j in 0..h {
                let (ig, fg, gg, og, tc) = (
                    sv[j],
                    sv[h + j],
                    sv[2 * h + j],
                    sv[3 * h + j],
                    sv[5 * h + j],
                );
                let c_prev = match pbase {
                    Some(p) => saved[p + 4 * h + j],
                    None => T::zero(),
                };
                let dh = dyr[j] + dh_rec[bi * h + j];
                let d_o = dh * tc;
                let dc = dc_next[bi * h + j] + dh * og * (T::one() - tc * tc);
                let di = dc * gg;
                let dgg = dc * ig;
                let df = dc * c_prev;
                dc_next[bi * h + j] = dc * fg;
                dgr[j] = di * ig * (T::one() - ig);
                dgr[h + j] = df * fg * (T::one() - fg);
                dgr[2 * h + j] = dgg * (T::one() - gg * gg);
                dgr[3 * h + j] = d_o * og * (T::one() - og);
            }
        }
        if prev.is_some() {
            // dh_{prev} = dG_t W_hh  ([B, 4H] x [4H, H])
            gemm_dense(
                b,
                h,
                g4,
                &dg,
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
    if rows > 0 {
        // dW_ih += dG^T X
        gemm_dense(g4, i_len, rows, &dg, 0, true, x, 0, false, dw_ih, 0, true);
        // dW_hh += sum_t dG_t^T h_prev(t): one gemm over the steps that have a predecessor
        if t_len > 1 {
            let n_rows = (t_len - 1) * b;
            let (dg_off, h_row0) = if d == 0 { (b * g4, 0) } else { (0, b) };
            let a = Mat::dense(&dg, dg_off, g4, true);
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
        for j in 0..g4 {
            let mut acc = 0.0f64;
            for r in 0..rows {
                acc += dg[r * g4 + j].f64();
            }
            db_ih[j] += T::of(acc);
            db_hh[j] += T::of(acc);
        }
    }
    dg
}

/// Per-replica slices of the eight parameter-gradient buffers, for parallel items.
pub(crate) type ItemGrads<'a, T> = (
    usize,
    usize,
    &'a mut [T],
    &'a mut [T],
    &'a mut [T],
    &'a mut [T],
);

/// Split `[M, numel]` gradient buffers of both directions into (replica, direction) items.
pub(crate) fn split_grads<'a, T: Elem>(
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
