//! The CPU reference backend, generic over f32 and f64.
//!
//! Buffers are `Vec`s. Large elementwise ops and the (replica, direction) items of the LSTM
//! run on rayon; gemms use the `gemm` crate. Loss reductions and bias gradients accumulate in
//! f64, in a fixed order: results are deterministic for a given thread count.

mod cell;
mod gemm;
mod lstm;
mod ops;

pub use cell::CellMath;

use crate::backend::{
    AdamSpec, AdamTensor, Backend, DropoutSpec, Elem, GemmSpec, LstmGrads, LstmParams, LstmShape,
    check_len,
};
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Mutex;
use std::time::Instant;

/// The CPU backend for element type `T` (f32 or f64).
#[derive(Debug, Default)]
pub struct CpuBackend<T: Elem> {
    _t: PhantomData<T>,
    /// Per-op wall time while profiling is on: name -> (calls, ms).
    prof: Mutex<Option<BTreeMap<String, (u64, f64)>>>,
    /// Large temporaries kept between calls (the LSTM's gates and gate gradients): reusing
    /// them avoids page-faulting tens of MB per call.
    scratch: Mutex<Vec<Vec<T>>>,
}

impl<T: Elem> CpuBackend<T> {
    /// A CPU backend (uses rayon's global pool: `RAYON_NUM_THREADS` sets its size).
    pub fn new() -> Self {
        CpuBackend {
            _t: PhantomData,
            prof: Mutex::new(None),
            scratch: Mutex::new(Vec::new()),
        }
    }

    /// `count` zero-filled buffers of `len` elements, reusing kept allocations.
    fn take_scratch(&self, count: usize, len: usize) -> Vec<Vec<T>> {
        let mut kept: Vec<Vec<T>> = match self.scratch.lock() {
            Ok(mut p) => {
                let n = p.len().saturating_sub(count);
                p.split_off(n)
            }
            Err(_) => Vec::new(),
        };
        (0..count)
            .map(|_| {
                let mut v = kept.pop().unwrap_or_default();
                v.clear();
                v.resize(len, T::zero());
                v
            })
            .collect()
    }

    /// Return buffers to the pool.
    fn give_scratch(&self, bufs: Vec<Vec<T>>) {
        if let Ok(mut p) = self.scratch.lock() {
            p.extend(bufs);
        }
    }

    /// A guard that adds its lifetime to op `name`'s total when profiling is on.
    fn timer(&self, name: &'static str) -> OpTimer<'_> {
        let on = self.prof.lock().map(|p| p.is_some()).unwrap_or(false);
        OpTimer {
            prof: &self.prof,
            name,
            start: on.then(Instant::now),
            dtype: T::DTYPE,
        }
    }
}

/// Times one op call (see [`CpuBackend::timer`]).
struct OpTimer<'a> {
    prof: &'a Mutex<Option<BTreeMap<String, (u64, f64)>>>,
    name: &'static str,
    start: Option<Instant>,
    dtype: &'static str,
}

impl Drop for OpTimer<'_> {
    fn drop(&mut self) {
        if let Some(t0) = self.start {
            let ms = t0.elapsed().as_secs_f64() * 1e3;
            if let Ok(mut g) = self.prof.lock()
                && let Some(map) = g.as_mut()
            {
                let e = map
                    .entry(format!("{}_{}", self.name, self.dtype))
                    .or_insert((0, 0.0));
                e.0 += 1;
                e.1 += ms;
            }
        }
    }
}

fn check_idx(got: usize, want: usize, what: &str) -> Result<()> {
    if got != want {
        return Err(Error::shape(format!(
            "cpu: `{what}` has {got} elements, expected {want}"
        )));
    }
    Ok(())
}

impl<T: CellMath> Backend for CpuBackend<T> {
    type T = T;
    type Buf = Vec<T>;
    type IBuf = Vec<i32>;

    fn name(&self) -> String {
        format!("cpu-{}", T::DTYPE)
    }

    fn alloc(&self, len: usize) -> Result<Vec<T>> {
        Ok(vec![T::zero(); len])
    }
    fn upload(&self, data: &[T]) -> Result<Vec<T>> {
        Ok(data.to_vec())
    }
    fn write(&self, buf: &mut Vec<T>, data: &[T]) -> Result<()> {
        check_idx(data.len(), buf.len(), "write source")?;
        buf.copy_from_slice(data);
        Ok(())
    }
    fn download(&self, buf: &Vec<T>) -> Result<Vec<T>> {
        Ok(buf.clone())
    }
    fn len(&self, buf: &Vec<T>) -> usize {
        buf.len()
    }
    fn zero(&self, buf: &mut Vec<T>) -> Result<()> {
        buf.fill(T::zero());
        Ok(())
    }
    fn upload_idx(&self, data: &[i32]) -> Result<Vec<i32>> {
        Ok(data.to_vec())
    }
    fn alloc_idx(&self, len: usize) -> Result<Vec<i32>> {
        Ok(vec![0; len])
    }
    fn write_idx(&self, buf: &mut Vec<i32>, data: &[i32]) -> Result<()> {
        check_idx(data.len(), buf.len(), "write_idx source")?;
        buf.copy_from_slice(data);
        Ok(())
    }
    fn download_idx(&self, buf: &Vec<i32>) -> Result<Vec<i32>> {
        Ok(buf.clone())
    }
    fn sync(&self) -> Result<()> {
        Ok(())
    }
    fn set_profiling(&self, on: bool) -> Result<()> {
        if let Ok(mut g) = self.prof.lock() {
            *g = on.then(BTreeMap::new);
        }
        Ok(())
    }
    fn take_profile(&self) -> Result<Vec<crate::backend::KernelTiming>> {
        let mut out = Vec::new();
        if let Ok(mut g) = self.prof.lock()
            && let Some(map) = g.as_mut()
        {
            for (name, (calls, ms)) in std::mem::take(map) {
                out.push(crate::backend::KernelTiming {
                    name,
                    calls,
                    total_ms: ms,
                });
            }
        }
        Ok(out)
    }

    fn dropout_fwd(
        &self,
        d: &DropoutSpec,
        n: usize,
        x: &Vec<T>,
        x_shared: bool,
        y: &mut Vec<T>,
    ) -> Result<()> {
        let _t = self.timer("dropout_fwd");
        let m = d.seeds.len();
        check_len(self, x, if x_shared { n } else { m * n }, "dropout x")?;
        check_len(self, y, m * n, "dropout y")?;
        ops::dropout(d, n, x, x_shared, y, false);
        Ok(())
    }
    fn dropout_bwd(&self, d: &DropoutSpec, n: usize, dy: &Vec<T>, dx: &mut Vec<T>) -> Result<()> {
        let _t = self.timer("dropout_bwd");
        let m = d.seeds.len();
        check_len(self, dy, m * n, "dropout dy")?;
        check_len(self, dx, m * n, "dropout dx")?;
        ops::dropout(d, n, dy, false, dx, true);
        Ok(())
    }

    fn gemm(
        &self,
        s: &GemmSpec,
        a: &Vec<T>,
        b: &Vec<T>,
        bias: Option<&Vec<T>>,
        c: &mut Vec<T>,
    ) -> Result<()> {
        let _t = self.timer("gemm");
        let (mk, kn, mn) = (s.m * s.k, s.k * s.n, s.m * s.n);
        check_len(
            self,
            a,
            if s.a_shared { mk } else { s.batch * mk },
            "gemm a",
        )?;
        check_len(self, b, s.batch * kn, "gemm b")?;
        check_len(self, c, s.batch * mn, "gemm c")?;
        if let Some(bias) = bias {
            check_len(self, bias, s.batch * s.n, "gemm bias")?;
        }
        for r in 0..s.batch {
            let aoff = if s.a_shared { 0 } else { r * mk };
            gemm::gemm_dense(
                s.m,
                s.n,
                s.k,
                a,
                aoff,
                s.trans_a,
                b,
                r * kn,
                s.trans_b,
                c,
                r * mn,
                s.accumulate,
            );
            if let Some(bias) = bias {
                let bb = &bias[r * s.n..(r + 1) * s.n];
                for row in c[r * mn..(r + 1) * mn].chunks_exact_mut(s.n) {
                    for (v, &b) in row.iter_mut().zip(bb) {
                        *v += b;
                    }
                }
            }
        }
        Ok(())
    }

    fn bias_grad(
        &self,
        batch: usize,
        rows: usize,
        cols: usize,
        dy: &Vec<T>,
        db: &mut Vec<T>,
    ) -> Result<()> {
        let _t = self.timer("bias_grad");
        check_len(self, dy, batch * rows * cols, "bias_grad dy")?;
        check_len(self, db, batch * cols, "bias_grad db")?;
        ops::bias_grad(batch, rows, cols, dy, db);
        Ok(())
    }

    fn lstm_fwd(
        &self,
        s: &LstmShape,
        x: &Vec<T>,
        p: &LstmParams<Self>,
        y: &mut Vec<T>,
        saved: &mut Vec<T>,
    ) -> Result<()> {
        let _t = self.timer("lstm_fwd");
        check_lstm_params(self, s, p)?;
        check_len(self, x, s.x_len(), "lstm x")?;
        check_len(self, y, s.y_len(), "lstm y")?;
        check_len(self, saved, s.saved_len(), "lstm saved")?;
        let (g4, h) = (4 * s.h, s.h);
        let rows = s.t * s.b;
        let item_saved = rows * 6 * h;
        let xs = rows * s.i;
        let mut scratch = self.take_scratch(2 * s.m, rows * g4 + rows * h);
        {
            use rayon::prelude::*;
            saved
                .par_chunks_mut(item_saved)
                .zip(scratch.par_iter_mut())
                .enumerate()
                .for_each(|(k, (sv, sc))| {
                    let (r, d) = (k % s.m, k / s.m);
                    let (gates, hs) = sc.split_at_mut(rows * g4);
                    lstm::fwd_item(
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
        for (k, sc) in scratch.iter().enumerate() {
            let (r, d) = (k % s.m, k / s.m);
            let hk = &sc[rows * g4..];
            for row in 0..rows {
                let dst = (r * rows + row) * 2 * h + d * h;
                y[dst..dst + h].copy_from_slice(&hk[row * h..(row + 1) * h]);
            }
        }
        self.give_scratch(scratch);
        Ok(())
    }

    fn lstm_bwd(
        &self,
        s: &LstmShape,
        x: &Vec<T>,
        p: &LstmParams<Self>,
        y: &Vec<T>,
        saved: &Vec<T>,
        dy: &Vec<T>,
        dx: Option<&mut Vec<T>>,
        g: &mut LstmGrads<Self>,
    ) -> Result<()> {
        let _t = self.timer("lstm_bwd");
        check_lstm_params(self, s, p)?;
        check_len(self, x, s.x_len(), "lstm x")?;
        check_len(self, y, s.y_len(), "lstm y")?;
        check_len(self, dy, s.y_len(), "lstm dy")?;
        check_len(self, saved, s.saved_len(), "lstm saved")?;
        for d in 0..2 {
            check_len(self, g.w_ih[d], s.m * 4 * s.h * s.i, "lstm dw_ih")?;
            check_len(self, g.w_hh[d], s.m * 4 * s.h * s.h, "lstm dw_hh")?;
            check_len(self, g.b_ih[d], s.m * 4 * s.h, "lstm db_ih")?;
            check_len(self, g.b_hh[d], s.m * 4 * s.h, "lstm db_hh")?;
        }
        if let Some(dx) = dx.as_deref() {
            check_len(self, dx, s.x_len(), "lstm dx")?;
        }
        let (g4, h) = (4 * s.h, s.h);
        let rows = s.t * s.b;
        let xs = rows * s.i;
        let ys = rows * 2 * h;
        let item_saved = rows * 6 * h;
        let [a0, a1] = &mut g.w_ih;
        let [b0, b1] = &mut g.w_hh;
        let [c0, c1] = &mut g.b_ih;
        let [e0, e1] = &mut g.b_hh;
        let items = lstm::split_grads(
            s,
            [a0.as_mut_slice(), a1.as_mut_slice()],
            [b0.as_mut_slice(), b1.as_mut_slice()],
            [c0.as_mut_slice(), c1.as_mut_slice()],
            [e0.as_mut_slice(), e1.as_mut_slice()],
        );
        let mut dgs = self.take_scratch(2 * s.m, rows * g4);
        {
            use rayon::prelude::*;
            items.into_par_iter().zip(dgs.par_iter_mut()).for_each(
                |((r, d, dwi, dwh, dbi, dbh), dg)| {
                    let k = d * s.m + r;
                    lstm::bwd_item(
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
                },
            );
        }
        if let Some(dx) = dx {
            // dx[r] += dG_fwd W_ih_fwd, then += dG_rev W_ih_rev (fixed order)
            for r in 0..s.m {
                for d in 0..2 {
                    gemm::gemm_dense(
                        rows,
                        s.i,
                        g4,
                        &dgs[d * s.m + r],
                        0,
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
        self.give_scratch(dgs);
        Ok(())
    }

    fn max_time_fwd(
        &self,
        m: usize,
        t: usize,
        rows: usize,
        f: usize,
        x: &Vec<T>,
        y: &mut Vec<T>,
        arg: &mut Vec<i32>,
    ) -> Result<()> {
        let _t = self.timer("max_time_fwd");
        if t == 0 {
            return Err(Error::shape("max_time: T must be at least 1"));
        }
        check_len(self, x, m * t * rows * f, "max_time x")?;
        check_len(self, y, m * rows * f, "max_time y")?;
        check_idx(arg.len(), m * rows * f, "max_time arg")?;
        ops::max_time_fwd(m, t, rows * f, x, y, arg);
        Ok(())
    }
    fn max_time_bwd(
        &self,
        m: usize,
        t: usize,
        rows: usize,
        f: usize,
        dy: &Vec<T>,
        arg: &Vec<i32>,
        dx: &mut Vec<T>,
    ) -> Result<()> {
        let _t = self.timer("max_time_bwd");
        check_len(self, dx, m * t * rows * f, "max_time dx")?;
        check_len(self, dy, m * rows * f, "max_time dy")?;
        check_idx(arg.len(), m * rows * f, "max_time arg")?;
        ops::max_time_bwd(m, t, rows * f, dy, arg, dx)
    }

    fn relu_fwd(&self, n: usize, x: &Vec<T>, y: &mut Vec<T>) -> Result<()> {
        let _t = self.timer("relu_fwd");
        check_len(self, x, n, "relu x")?;
        check_len(self, y, n, "relu y")?;
        // NaN passes through, as torch.relu
        ops::map2(x, y, |v| {
            if v > T::zero() || v.is_nan() {
                v
            } else {
                T::zero()
            }
        });
        Ok(())
    }
    fn relu_bwd(&self, n: usize, y: &Vec<T>, dy: &Vec<T>, dx: &mut Vec<T>) -> Result<()> {
        let _t = self.timer("relu_bwd");
        check_len(self, y, n, "relu y")?;
        check_len(self, dy, n, "relu dy")?;
        check_len(self, dx, n, "relu dx")?;
        // threshold_backward: dy is dropped where y <= 0 (a NaN y keeps it), as PyTorch
        ops::acc_masked(y, dy, dx, |v| v > T::zero() || v.is_nan());
        Ok(())
    }
    fn clamp_fwd(&self, n: usize, lo: f64, hi: f64, x: &Vec<T>, y: &mut Vec<T>) -> Result<()> {
        let _t = self.timer("clamp_fwd");
        check_len(self, x, n, "clamp x")?;
        check_len(self, y, n, "clamp y")?;
        let (lo, hi) = (T::of(lo), T::of(hi));
        ops::map2(x, y, |v| {
            if v < lo {
                lo
            } else if v > hi {
                hi
            } else {
                v
            }
        });
        Ok(())
    }
    fn clamp_bwd(
        &self,
        n: usize,
        lo: f64,
        hi: f64,
        x: &Vec<T>,
        dy: &Vec<T>,
        dx: &mut Vec<T>,
    ) -> Result<()> {
        let _t = self.timer("clamp_bwd");
        check_len(self, x, n, "clamp x")?;
        check_len(self, dy, n, "clamp dy")?;
        check_len(self, dx, n, "clamp dx")?;
        let (lo, hi) = (T::of(lo), T::of(hi));
        ops::acc_masked(x, dy, dx, |v| v >= lo && v <= hi);
        Ok(())
    }

    fn l1_fwd(
        &self,
        m: usize,
        n: usize,
        target: &Vec<T>,
        r: &Vec<T>,
        loss: &mut Vec<T>,
    ) -> Result<()> {
        let _t = self.timer("l1_fwd");
        check_len(self, target, n, "l1 target")?;
        check_len(self, r, m * n, "l1 r")?;
        check_len(self, loss, m, "l1 loss")?;
        ops::l1_fwd(n, target, r, loss);
        Ok(())
    }
    fn l1_bwd(
        &self,
        n: usize,
        scale: &[f64],
        target: &Vec<T>,
        r: &Vec<T>,
        dr: &mut Vec<T>,
    ) -> Result<()> {
        let _t = self.timer("l1_bwd");
        let m = scale.len();
        check_len(self, target, n, "l1 target")?;
        check_len(self, r, m * n, "l1 r")?;
        check_len(self, dr, m * n, "l1 dr")?;
        ops::l1_bwd(n, scale, target, r, dr);
        Ok(())
    }
    fn ce_fwd(
        &self,
        m: usize,
        b: usize,
        c: usize,
        logits: &Vec<T>,
        labels: &Vec<i32>,
        loss: &mut Vec<T>,
    ) -> Result<()> {
        let _t = self.timer("ce_fwd");
        check_len(self, logits, m * b * c, "ce logits")?;
        check_idx(labels.len(), b, "ce labels")?;
        check_len(self, loss, m, "ce loss")?;
        ops::check_labels(labels, c)?;
        ops::ce_fwd(b, c, logits, labels, loss);
        Ok(())
    }
    fn ce_bwd(
        &self,
        b: usize,
        c: usize,
        scale: &[f64],
        logits: &Vec<T>,
        labels: &Vec<i32>,
        dlogits: &mut Vec<T>,
    ) -> Result<()> {
        let _t = self.timer("ce_bwd");
        let m = scale.len();
        check_len(self, logits, m * b * c, "ce logits")?;
        check_idx(labels.len(), b, "ce labels")?;
        check_len(self, dlogits, m * b * c, "ce dlogits")?;
        ops::check_labels(labels, c)?;
        ops::ce_bwd(b, c, scale, logits, labels, dlogits);
        Ok(())
    }

    fn adam(&self, s: &AdamSpec, tensors: &mut [AdamTensor<Self>]) -> Result<()> {
        let _t = self.timer("adam");
        let m = s.lr.len();
        if m == 0 || s.step == 0 {
            return Err(Error::shape(
                "adam: needs at least one replica and step >= 1",
            ));
        }
        for (k, t) in tensors.iter().enumerate() {
            let n = t.param.len();
            if n % m != 0 || t.grad.len() != n || t.m.len() != n || t.v.len() != n {
                return Err(Error::shape(format!(
                    "adam: tensor {k}: param {n}, grad {}, m {}, v {} elements with {m} replicas",
                    t.grad.len(),
                    t.m.len(),
                    t.v.len()
                )));
            }
        }
        for t in tensors.iter_mut() {
            ops::adam(s, t.param, t.grad, t.m, t.v);
        }
        Ok(())
    }
}

fn check_lstm_params<T: CellMath>(
    be: &CpuBackend<T>,
    s: &LstmShape,
    p: &LstmParams<CpuBackend<T>>,
) -> Result<()> {
    if s.t == 0 || s.b == 0 || s.m == 0 {
        return Err(Error::shape(format!("lstm: empty shape {s:?}")));
    }
    for d in 0..2 {
        check_len(be, p.w_ih[d], s.m * 4 * s.h * s.i, "lstm w_ih")?;
        check_len(be, p.w_hh[d], s.m * 4 * s.h * s.h, "lstm w_hh")?;
        check_len(be, p.b_ih[d], s.m * 4 * s.h, "lstm b_ih")?;
        check_len(be, p.b_hh[d], s.m * 4 * s.h, "lstm b_hh")?;
    }
    Ok(())
}
