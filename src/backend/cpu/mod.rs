//! The CPU backend, generic over f32 and f64: the CPU twin of every op, one file per op
//! (`<op>.rs`, the same name as kernels/<op>.cu), dispatched from the [`Exec`] impl below.
//!
//! Two roles, kept apart: `CpuBackend<f64>` is the reference every test compares against
//! (plain f64 arithmetic, std's exp/tanh); `CpuBackend<f32>` is the fast CPU trainer (AVX2
//! exp/tanh in lstm_cell.rs, scratch pools, rayon) and is itself tested against the f64 path.
//!
//! Buffers are `Vec`s. Large elementwise ops and the (replica, direction) items of the LSTM
//! run on rayon; gemms use the `gemm` crate. Loss reductions and bias gradients accumulate in
//! f64, in a fixed order: results do not depend on the thread count. Arguments arrive checked
//! ([`crate::backend::check`]).

mod adam;
mod ce;
mod clamp;
mod dropout;
mod gemm;
mod l1;
mod lstm;
mod lstm_cell;
mod max_time;
mod par;
mod relu;

pub use lstm_cell::CellMath;

use crate::backend::counters::Tally;
use crate::backend::{
    AdamSpec, AdamTensor, Counters, DropoutSpec, Elem, Exec, GemmSpec, KernelTiming, LstmGrads,
    LstmParams, LstmShape,
};
use crate::error::Result;
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Mutex;
use std::time::Instant;

/// Per-op wall time while profiling is on.
#[derive(Debug, Default)]
struct Profile {
    /// op -> (calls, ms).
    totals: BTreeMap<&'static str, (u64, f64)>,
    /// The op in progress and when it started.
    current: Option<(&'static str, Instant)>,
}

/// The CPU backend for element type `T` (f32 or f64).
#[derive(Debug, Default)]
pub struct CpuBackend<T: Elem> {
    _t: PhantomData<T>,
    /// `Some` while profiling is on.
    prof: Mutex<Option<Profile>>,
    /// Large temporaries kept between calls (the LSTM's gates and gate gradients): reusing
    /// them avoids page-faulting tens of MB per call.
    scratch: Mutex<Vec<Vec<T>>>,
    /// What it has done (crate::backend::counters: op calls count as launches).
    tally: Tally,
}

impl<T: Elem> CpuBackend<T> {
    /// A CPU backend (uses rayon's global pool: `RAYON_NUM_THREADS` sets its size).
    pub fn new() -> Self {
        CpuBackend {
            _t: PhantomData,
            prof: Mutex::new(None),
            scratch: Mutex::new(Vec::new()),
            tally: Tally::default(),
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
                if v.capacity() < len {
                    self.tally.alloc(len * size_of::<T>());
                }
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
}

impl<T: CellMath> Exec for CpuBackend<T> {
    type T = T;
    type Buf = Vec<T>;
    type IBuf = Vec<i32>;

    fn name(&self) -> String {
        format!("cpu-{}", T::DTYPE)
    }

    fn alloc(&self, len: usize) -> Result<Vec<T>> {
        self.tally.alloc(len * size_of::<T>());
        Ok(vec![T::zero(); len])
    }
    fn upload(&self, data: &[T]) -> Result<Vec<T>> {
        self.tally.alloc(size_of_val(data));
        self.tally.htod(size_of_val(data));
        Ok(data.to_vec())
    }
    fn write(&self, buf: &mut Vec<T>, data: &[T]) -> Result<()> {
        self.tally.htod(size_of_val(data));
        buf.copy_from_slice(data);
        Ok(())
    }
    fn download(&self, buf: &Vec<T>) -> Result<Vec<T>> {
        self.tally.dtoh(size_of_val(buf.as_slice()));
        self.tally.sync();
        Ok(buf.clone())
    }
    fn len(&self, buf: &Vec<T>) -> usize {
        buf.len()
    }
    fn zero(&self, buf: &mut Vec<T>) -> Result<()> {
        self.tally.memset();
        buf.fill(T::zero());
        Ok(())
    }
    fn upload_idx(&self, data: &[i32]) -> Result<Vec<i32>> {
        self.tally.alloc(size_of_val(data));
        self.tally.htod(size_of_val(data));
        Ok(data.to_vec())
    }
    fn alloc_idx(&self, len: usize) -> Result<Vec<i32>> {
        self.tally.alloc(len * size_of::<i32>());
        Ok(vec![0; len])
    }
    fn write_idx(&self, buf: &mut Vec<i32>, data: &[i32]) -> Result<()> {
        self.tally.htod(size_of_val(data));
        buf.copy_from_slice(data);
        Ok(())
    }
    fn download_idx(&self, buf: &Vec<i32>) -> Result<Vec<i32>> {
        self.tally.dtoh(size_of_val(buf.as_slice()));
        self.tally.sync();
        Ok(buf.clone())
    }
    fn sync(&self) -> Result<()> {
        self.tally.sync();
        Ok(())
    }
    fn counters(&self) -> Counters {
        self.tally.read()
    }

    fn set_profiling(&self, on: bool) -> Result<()> {
        if let Ok(mut g) = self.prof.lock() {
            *g = on.then(Profile::default);
        }
        Ok(())
    }
    fn take_profile(&self) -> Result<Vec<KernelTiming>> {
        let mut out = Vec::new();
        if let Ok(mut g) = self.prof.lock()
            && let Some(p) = g.as_mut()
        {
            for (op, (calls, ms)) in std::mem::take(&mut p.totals) {
                out.push(KernelTiming {
                    op: op.to_string(),
                    kernel: format!("{op}_{}", T::DTYPE),
                    calls,
                    total_ms: ms,
                });
            }
        }
        Ok(out)
    }
    fn op_begin(&self, op: &'static str) {
        // An op call is the CPU's launch.
        self.tally.launch();
        if let Ok(mut g) = self.prof.lock()
            && let Some(p) = g.as_mut()
        {
            p.current = Some((op, Instant::now()));
        }
    }
    fn op_end(&self, op: &'static str) {
        if let Ok(mut g) = self.prof.lock()
            && let Some(p) = g.as_mut()
            && let Some((cur, t0)) = p.current.take()
        {
            debug_assert_eq!(cur, op);
            let e = p.totals.entry(op).or_insert((0, 0.0));
            e.0 += 1;
            e.1 += t0.elapsed().as_secs_f64() * 1e3;
        }
    }

    fn dropout_fwd(
        &self,
        d: &DropoutSpec,
        n: usize,
        x: &Vec<T>,
        x_shared: bool,
        y: &mut Vec<T>,
    ) -> Result<()> {
        dropout::fwd(d, n, x, x_shared, y);
        Ok(())
    }
    fn dropout_bwd(&self, d: &DropoutSpec, n: usize, dy: &Vec<T>, dx: &mut Vec<T>) -> Result<()> {
        dropout::bwd(d, n, dy, dx);
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
        gemm::gemm(s, a, b, bias.map(Vec::as_slice), c);
        Ok(())
    }
    fn gemm_bias_grad(
        &self,
        batch: usize,
        rows: usize,
        cols: usize,
        dy: &Vec<T>,
        db: &mut Vec<T>,
    ) -> Result<()> {
        gemm::bias_grad(batch, rows, cols, dy, db);
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
        lstm::fwd(self, s, x, p, y, saved);
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
        lstm::bwd(self, s, x, p, y, saved, dy, dx, g);
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
        max_time::fwd(m, t, rows * f, x, y, arg);
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
        max_time::bwd(m, t, rows * f, dy, arg, dx);
        Ok(())
    }
    fn relu_fwd(&self, _n: usize, x: &Vec<T>, y: &mut Vec<T>) -> Result<()> {
        relu::fwd(x, y);
        Ok(())
    }
    fn relu_bwd(&self, _n: usize, y: &Vec<T>, dy: &Vec<T>, dx: &mut Vec<T>) -> Result<()> {
        relu::bwd(y, dy, dx);
        Ok(())
    }
    fn clamp_fwd(&self, _n: usize, lo: f64, hi: f64, x: &Vec<T>, y: &mut Vec<T>) -> Result<()> {
        clamp::fwd(lo, hi, x, y);
        Ok(())
    }
    fn clamp_bwd(
        &self,
        _n: usize,
        lo: f64,
        hi: f64,
        x: &Vec<T>,
        dy: &Vec<T>,
        dx: &mut Vec<T>,
    ) -> Result<()> {
        clamp::bwd(lo, hi, x, dy, dx);
        Ok(())
    }
    fn l1_fwd(
        &self,
        _m: usize,
        n: usize,
        target: &Vec<T>,
        r: &Vec<T>,
        loss: &mut Vec<T>,
    ) -> Result<()> {
        l1::fwd(n, target, r, loss);
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
        l1::bwd(n, scale, target, r, dr);
        Ok(())
    }
    fn ce_fwd(
        &self,
        _m: usize,
        b: usize,
        c: usize,
        logits: &Vec<T>,
        labels: &Vec<i32>,
        loss: &mut Vec<T>,
    ) -> Result<()> {
        ce::fwd(b, c, logits, labels, loss);
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
        ce::bwd(b, c, scale, logits, labels, dlogits);
        Ok(())
    }
    fn adam(&self, s: &AdamSpec, tensors: &mut [AdamTensor<Self>]) -> Result<()> {
        for t in tensors.iter_mut() {
            adam::step(s, t.param, t.grad, t.m, t.v);
        }
        Ok(())
    }
}
