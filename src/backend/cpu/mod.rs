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
mod guard;
mod input;
mod l1;
mod lstm;
mod lstm_cell;
mod max_time;
mod par;
mod relu;
mod score;
pub use score::correct_counts;

pub use lstm_cell::CellMath;

use crate::backend::counters::Tally;
use crate::backend::{
    AdamSpec, AdamTable, AdamTensor, Counters, DropoutSpec, Elem, Exec, GemmSpec, GuardState,
    KernelTiming, LaunchEvent, LstmGrads, LstmParams, LstmShape, LstmSizes, Precision, SlotLayout,
    StepVals, TRACE_CAP, trace_clock_us,
};
use crate::error::{Error, Result};
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
    /// Launch events (op calls), the first `TRACE_CAP`, while `tracing`.
    trace: Vec<LaunchEvent>,
    tracing: bool,
}

/// The CPU backend for element type `T` (f32 or f64).
#[derive(Debug, Default)]
pub struct CpuBackend<T: Elem> {
    _t: PhantomData<T>,
    /// `Some` while profiling is on.
    prof: Mutex<Option<Profile>>,
    /// What it has done (crate::backend::counters: op calls count as launches).
    tally: Tally,
}

impl<T: Elem> CpuBackend<T> {
    /// A CPU backend (uses rayon's global pool: `RAYON_NUM_THREADS` sets its size).
    pub fn new() -> Self {
        CpuBackend {
            _t: PhantomData,
            prof: Mutex::new(None),
            tally: Tally::default(),
        }
    }
}

/// Raw memory on the CPU (the `Bytes` and `Pinned` of [`CpuBackend`]): 8-byte aligned, so
/// that it can hold f32, f64 and the [`StepVals`] in place.
#[derive(Clone, Debug, Default)]
pub struct CpuBytes {
    words: Vec<u64>,
    len: usize,
}

impl CpuBytes {
    fn new(len: usize) -> Self {
        CpuBytes {
            words: vec![0; len.div_ceil(8)],
            len,
        }
    }
    fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.words)[..self.len]
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.words)[..self.len]
    }
    /// The first `n` elements of `E`.
    fn elems<E: bytemuck::Pod>(&self, n: usize) -> &[E] {
        &bytemuck::cast_slice(&self.words)[..n]
    }
    fn elems_mut<E: bytemuck::Pod>(&mut self, n: usize) -> &mut [E] {
        &mut bytemuck::cast_slice_mut(&mut self.words)[..n]
    }
}

impl<T: CellMath> Exec for CpuBackend<T> {
    type T = T;
    type Buf = Vec<T>;
    type IBuf = Vec<i32>;
    type Bytes = CpuBytes;
    type Pinned = CpuBytes;
    type Graph = ();

    fn name(&self) -> String {
        format!("cpu-{}", T::DTYPE)
    }
    fn precision(&self) -> Precision {
        self.default_precision()
    }
    fn default_precision(&self) -> Precision {
        self.precisions()[0]
    }
    fn precisions(&self) -> &'static [Precision] {
        if T::DTYPE == "f64" {
            &[Precision::F64]
        } else {
            &[Precision::F32]
        }
    }
    fn set_precision(&self, _p: Precision) {}

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

    fn alloc_bytes(&self, bytes: usize) -> Result<CpuBytes> {
        self.tally.alloc(bytes);
        Ok(CpuBytes::new(bytes))
    }
    fn bytes_len(&self, b: &CpuBytes) -> usize {
        b.len
    }
    fn write_bytes(&self, b: &mut CpuBytes, data: &[u8]) -> Result<()> {
        self.tally.htod(data.len());
        b.bytes_mut()[..data.len()].copy_from_slice(data);
        Ok(())
    }
    fn read_bytes(&self, b: &CpuBytes) -> Result<Vec<u8>> {
        self.tally.dtoh(b.len);
        self.tally.sync();
        Ok(b.bytes().to_vec())
    }
    fn alloc_pinned(&self, bytes: usize) -> Result<CpuBytes> {
        self.alloc_bytes(bytes)
    }
    fn pinned_len(&self, p: &CpuBytes) -> usize {
        p.len
    }
    fn pinned_mut<'a>(&self, p: &'a mut CpuBytes) -> Result<&'a mut [u8]> {
        Ok(p.bytes_mut())
    }
    fn pinned_read<'a>(&self, p: &'a CpuBytes) -> Result<&'a [u8]> {
        // where a GPU backend waits for the fetch
        self.tally.sync();
        Ok(p.bytes())
    }
    fn send(&self, src: &mut CpuBytes, dst: &mut CpuBytes, bytes: usize) -> Result<()> {
        self.tally.htod(bytes);
        dst.bytes_mut()[..bytes].copy_from_slice(&src.bytes()[..bytes]);
        Ok(())
    }
    fn release(&self, _src: &mut CpuBytes) -> Result<()> {
        Ok(())
    }
    fn fetch(&self, src: &Vec<T>, dst: &mut CpuBytes) -> Result<()> {
        let b: &[u8] = bytemuck::cast_slice(src.as_slice());
        self.tally.dtoh(b.len());
        dst.bytes_mut()[..b.len()].copy_from_slice(b);
        Ok(())
    }
    fn capture_begin(&self) -> Result<()> {
        Err(Error::Unsupported(
            "the CPU backend runs each op when it is called: there are no launches to record"
                .into(),
        ))
    }
    fn capture_end(&self) -> Result<()> {
        Err(Error::Unsupported(
            "the CPU backend records no steps".into(),
        ))
    }
    unsafe fn graph_launch(&self, _g: &()) -> Result<()> {
        Err(Error::Unsupported(
            "the CPU backend records no steps".into(),
        ))
    }
    fn graph_len(&self, _g: &()) -> usize {
        0
    }

    fn set_profiling(&self, on: bool) -> Result<()> {
        if let Ok(mut g) = self.prof.lock() {
            *g = on.then(|| Profile {
                tracing: true,
                ..Profile::default()
            });
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
    fn take_trace(&self) -> Result<Vec<LaunchEvent>> {
        let mut out = Vec::new();
        if let Ok(mut g) = self.prof.lock()
            && let Some(p) = g.as_mut()
        {
            p.tracing = false;
            out = std::mem::take(&mut p.trace);
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
            let ms = t0.elapsed().as_secs_f64() * 1e3;
            let e = p.totals.entry(op).or_insert((0, 0.0));
            e.0 += 1;
            e.1 += ms;
            if p.tracing && p.trace.len() < TRACE_CAP {
                p.trace.push(LaunchEvent {
                    op: op.to_string(),
                    kernel: format!("{op}_{}", T::DTYPE),
                    start_us: trace_clock_us(t0),
                    dur_us: ms * 1e3,
                });
            }
        }
    }

    fn dropout_fwd(
        &self,
        d: &DropoutSpec<Self>,
        n: usize,
        x: &Vec<T>,
        x_shared: bool,
        y: &mut Vec<T>,
    ) -> Result<()> {
        dropout::fwd(d.p, d.seeds, step_of(d), d.tensor, n, x, x_shared, y);
        Ok(())
    }
    fn dropout_bwd(
        &self,
        d: &DropoutSpec<Self>,
        n: usize,
        dy: &Vec<T>,
        dx: &mut Vec<T>,
    ) -> Result<()> {
        dropout::bwd(d.p, d.seeds, step_of(d), d.tensor, n, dy, dx);
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
    fn lstm_sizes(&self, s: &LstmShape) -> LstmSizes {
        lstm::sizes::<T>(s)
    }
    fn lstm_fwd(
        &self,
        s: &LstmShape,
        x: &Vec<T>,
        p: &LstmParams<Self>,
        y: &mut Vec<T>,
        saved: &mut CpuBytes,
        scratch: &mut CpuBytes,
    ) -> Result<()> {
        let (ns, nc) = lstm::elems(s);
        lstm::fwd(s, x, p, y, saved.elems_mut(ns), scratch.elems_mut(nc));
        Ok(())
    }
    fn lstm_bwd(
        &self,
        s: &LstmShape,
        x: &Vec<T>,
        p: &LstmParams<Self>,
        y: &Vec<T>,
        saved: &CpuBytes,
        scratch: &mut CpuBytes,
        dy: &Vec<T>,
        dx: Option<&mut Vec<T>>,
        g: &mut LstmGrads<Self>,
    ) -> Result<()> {
        let (ns, nc) = lstm::elems(s);
        lstm::bwd(
            s,
            x,
            p,
            y,
            saved.elems(ns),
            scratch.elems_mut(nc),
            dy,
            dx,
            g,
        );
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
    fn l1_scratch(&self, _m: usize, _n: usize) -> usize {
        0
    }
    fn l1_fwd(
        &self,
        _m: usize,
        n: usize,
        target: &Vec<T>,
        r: &Vec<T>,
        loss: &mut Vec<T>,
        _scratch: &mut CpuBytes,
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
    fn adam_table(&self, m: usize, tensors: &[AdamTensor<Self>]) -> Result<AdamTable<Self>> {
        // the CPU walks the tensors directly
        Ok(AdamTable {
            bytes: CpuBytes::new(0),
            key: Vec::new(),
            m,
            tensors: tensors.len(),
        })
    }
    fn adam(&self, s: &AdamSpec<Self>, tensors: &mut [AdamTensor<Self>]) -> Result<()> {
        let (steps, bc2_sqrt) = match s.vals {
            Some(v) => {
                let sv = StepVals::from_bytes(v.bytes());
                (sv.step_size[..s.lr.len()].to_vec(), sv.bc2_sqrt)
            }
            None => s.step_values(),
        };
        for t in tensors.iter_mut() {
            adam::step(s, &steps, bc2_sqrt, t.param, t.grad, t.m, t.v);
        }
        Ok(())
    }
    fn input(
        &self,
        layout: SlotLayout,
        src: &CpuBytes,
        x: &mut Vec<T>,
        y: &mut Vec<i32>,
        vals: &mut CpuBytes,
    ) -> Result<()> {
        input::input(layout, src.bytes(), x, y, vals.bytes_mut());
        Ok(())
    }
    fn score(
        &self,
        m: usize,
        b: usize,
        c: usize,
        logits: &Vec<T>,
        labels: &Vec<i32>,
        [ce, l1]: [&Vec<T>; 2],
        vals: &CpuBytes,
        record: &mut Vec<T>,
    ) -> Result<()> {
        let row = StepVals::from_bytes(vals.bytes()).record_row;
        score::score((m, b, c), logits, labels, ce, l1, row, record);
        Ok(())
    }
    fn guard_scratch(&self, _entries: usize) -> usize {
        0
    }
    fn guard(
        &self,
        lambdas: &[f64],
        [ce, l1]: [&Vec<T>; 2],
        grads: &mut [&mut Vec<T>],
        _table: &AdamTable<Self>,
        st: GuardState<'_, Self>,
    ) -> Result<()> {
        let m = lambdas.len();
        let mut sv = StepVals::from_bytes(st.vals.bytes());
        guard::guard(
            lambdas,
            ce,
            l1,
            grads,
            st.active.elems_mut(m),
            &mut sv,
            st.record,
        );
        st.vals.bytes_mut()[..StepVals::BYTES].copy_from_slice(bytemuck::bytes_of(&sv));
        Ok(())
    }
}

/// The dropout step: from the step's values when given, else the spec's.
fn step_of<T: CellMath>(d: &DropoutSpec<CpuBackend<T>>) -> u64 {
    d.step_at
        .map_or(d.step, |v| StepVals::from_bytes(v.bytes()).dropout_step)
}
