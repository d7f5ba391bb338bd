//! The matrix ops of [`crate::backend::Backend`] on the kernels of kernels/gemm.cu and kernels/lstm.cu:
//! `gemm`, `bias_grad`, `lstm_fwd`, `lstm_bwd` (ops.rs forwards its trait methods here).
//!
//! Internal callers describe a product with [`GemmCall`]: strided views (pointer with offset,
//! leading dimension, batch stride) so that e.g. one direction's half of a `[rows, 2H]`
//! buffer is an operand without a copy. Every view is built from buffers whose lengths were
//! checked first, so the kernels never leave them.
//!
//! LSTM temporaries (pre-activations `G`, gate gradients `dG`, the carried `dc`) are
//! allocated per call through the device; the forward pass is 2 input-projection GEMMs plus
//! T step launches, the backward T step launches plus 7 GEMM / column-sum launches.

use super::params_mm::{BiasGradP, GemmP, LstmStepBwdP, LstmStepP};
use super::{DevBuf, Device, KernelBackend, LaunchCfg};
use crate::backend::{Elem, GemmSpec, LstmGrads, LstmParams, LstmShape, check_len};
use crate::error::{Error, Result};

/// Threads of a gemm block (a 32 x 32 tile, 4 x 4 outputs per thread: gemm.cu).
const GEMM_THREADS: u32 = 64;
const GEMM_TILE: usize = 32;
/// Threads of the column-sum and LSTM step blocks.
const MM_BLOCK: u32 = 128;
/// Largest grid.y / grid.z.
const MAX_GRID_YZ: usize = 65_535;

/// A strided operand: element (i, j) of replica r at `ptr + (r*stride + i*ld + j) * size`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct View {
    /// Device address of element (0, 0) of replica 0 (offset included).
    pub ptr: u64,
    /// Row stride, elements.
    pub ld: usize,
    /// Batch stride, elements (0: every replica reads the same matrix).
    pub stride: usize,
}

/// One batched product `C[r] (+)= op(A[r]) op(B[r]) (+ bias[r] + bias2[r])`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GemmCall {
    pub batch: usize,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub trans_a: bool,
    pub trans_b: bool,
    pub accumulate: bool,
    pub a: View,
    pub b: View,
    pub c: View,
    /// Bias view (ld unused) and an optional second bias with the same batch stride.
    pub bias: Option<View>,
    pub bias2: Option<u64>,
}

impl<T: Elem, D: Device> KernelBackend<T, D> {
    pub(crate) fn mm_err(&self, msg: String) -> Error {
        Error::shape(format!("{}: {msg}", self.dev.name()))
    }

    /// The address of element `off` of `buf`.
    pub(crate) fn at(&self, buf: &DevBuf<D, T>, off: usize) -> u64 {
        self.ptr(buf) + (off * std::mem::size_of::<T>()) as u64
    }

    /// A dense view of `buf` from element `off`: row stride `ld`, batch stride `stride`.
    pub(crate) fn view(&self, buf: &DevBuf<D, T>, off: usize, ld: usize, stride: usize) -> View {
        View {
            ptr: self.at(buf, off),
            ld,
            stride,
        }
    }

    /// Launch one batched gemm (views must already be known to lie inside their buffers).
    pub(crate) fn gemm_call(&self, g: &GemmCall) -> Result<()> {
        if g.batch == 0 || g.m == 0 || g.n == 0 {
            return Ok(());
        }
        let cap = self.dev.grid_cap() as usize;
        let grid = [
            g.n.div_ceil(GEMM_TILE).min(cap) as u32,
            g.m.div_ceil(GEMM_TILE).min(cap).min(MAX_GRID_YZ) as u32,
            g.batch.min(cap).min(MAX_GRID_YZ) as u32,
        ];
        let p = GemmP {
            a: g.a.ptr,
            b: g.b.ptr,
            bias: g.bias.map_or(0, |v| v.ptr),
            bias2: if g.bias.is_some() {
                g.bias2.unwrap_or(0)
            } else {
                0
            },
            c: g.c.ptr,
            m: g.m as i64,
            n: g.n as i64,
            k: g.k as i64,
            lda: g.a.ld as i64,
            ldb: g.b.ld as i64,
            ldc: g.c.ld as i64,
            stride_a: g.a.stride as i64,
            stride_b: g.b.stride as i64,
            stride_c: g.c.stride as i64,
            stride_bias: g.bias.map_or(0, |v| v.stride as i64),
            batch: g.batch as i64,
            trans_a: g.trans_a as i32,
            trans_b: g.trans_b as i32,
            accumulate: g.accumulate as i32,
            pad_: 0,
        };
        self.launch_t(
            "gemm",
            LaunchCfg {
                grid,
                block: [GEMM_THREADS, 1, 1],
                shared_bytes: 0,
            },
            &p,
        )
    }

    /// Column sums `db[r, j] (+ db2[r, j]) += sum_i dy[r, i, j]`, dy rows of stride `ld`,
    /// batch stride `rows * ld`.
    #[allow(clippy::too_many_arguments)]
    fn colsum_call(
        &self,
        batch: usize,
        rows: usize,
        cols: usize,
        ld: usize,
        dy: u64,
        db: u64,
        db2: u64,
    ) -> Result<()> {
        let total = batch * cols;
        if total == 0 {
            return Ok(());
        }
        let blocks = total
            .div_ceil(MM_BLOCK as usize)
            .min(self.dev.grid_cap() as usize) as u32;
        let p = BiasGradP {
            dy,
            db,
            db2,
            rows: rows as i64,
            cols: cols as i64,
            ld: ld as i64,
            total: total as i64,
        };
        self.launch_t("bias_grad", LaunchCfg::new(blocks, 1, MM_BLOCK), &p)
    }

    /// [`Backend::gemm`].
    pub(crate) fn mm_gemm(
        &self,
        s: &GemmSpec,
        a: &DevBuf<D, T>,
        b: &DevBuf<D, T>,
        bias: Option<&DevBuf<D, T>>,
        c: &mut DevBuf<D, T>,
    ) -> Result<()> {
        let g = self.gemm_spec_call(s, a, b, bias, c)?;
        self.gemm_call(&g)
    }

    /// The [`GemmCall`] of a [`GemmSpec`] on dense buffers, after checking their lengths.
    pub(crate) fn gemm_spec_call(
        &self,
        s: &GemmSpec,
        a: &DevBuf<D, T>,
        b: &DevBuf<D, T>,
        bias: Option<&DevBuf<D, T>>,
        c: &DevBuf<D, T>,
    ) -> Result<GemmCall> {
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
        Ok(GemmCall {
            batch: s.batch,
            m: s.m,
            n: s.n,
            k: s.k,
            trans_a: s.trans_a,
            trans_b: s.trans_b,
            accumulate: s.accumulate,
            a: self.view(
                a,
                0,
                if s.trans_a { s.m } else { s.k },
                if s.a_shared { 0 } else { mk },
            ),
            b: self.view(b, 0, if s.trans_b { s.k } else { s.n }, kn),
            c: self.view(c, 0, s.n, mn),
            bias: bias.map(|bb| self.view(bb, 0, s.n, s.n)),
            bias2: None,
        })
    }

    /// [`Backend::bias_grad`].
    pub(crate) fn mm_bias_grad(
        &self,
        batch: usize,
        rows: usize,
        cols: usize,
        dy: &DevBuf<D, T>,
        db: &mut DevBuf<D, T>,
    ) -> Result<()> {
        check_len(self, dy, batch * rows * cols, "bias_grad dy")?;
        check_len(self, db, batch * cols, "bias_grad db")?;
        self.colsum_call(batch, rows, cols, cols, self.ptr(dy), self.ptr(db), 0)
    }

    fn check_lstm(&self, s: &LstmShape, p: &LstmParams<Self>) -> Result<()> {
        if s.t == 0 || s.b == 0 || s.m == 0 {
            return Err(self.mm_err(format!("lstm: empty shape {s:?}")));
        }
        for d in 0..2 {
            check_len(self, p.w_ih[d], s.m * 4 * s.h * s.i, "lstm w_ih")?;
            check_len(self, p.w_hh[d], s.m * 4 * s.h * s.h, "lstm w_hh")?;
            check_len(self, p.b_ih[d], s.m * 4 * s.h, "lstm b_ih")?;
            check_len(self, p.b_hh[d], s.m * 4 * s.h, "lstm b_hh")?;
        }
        Ok(())
    }

    /// The shape checks of an LSTM forward pass.
    pub(crate) fn check_lstm_fwd(
        &self,
        s: &LstmShape,
        x: &DevBuf<D, T>,
        p: &LstmParams<Self>,
        y: &DevBuf<D, T>,
        saved: &DevBuf<D, T>,
    ) -> Result<()> {
        self.check_lstm(s, p)?;
        check_len(self, x, s.x_len(), "lstm x")?;
        check_len(self, y, s.y_len(), "lstm y")?;
        check_len(self, saved, s.saved_len(), "lstm saved")
    }

    /// The shape checks of an LSTM backward pass.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn check_lstm_bwd(
        &self,
        s: &LstmShape,
        x: &DevBuf<D, T>,
        p: &LstmParams<Self>,
        y: &DevBuf<D, T>,
        saved: &DevBuf<D, T>,
        dy: &DevBuf<D, T>,
        dx: Option<&DevBuf<D, T>>,
        gr: &LstmGrads<Self>,
    ) -> Result<()> {
        self.check_lstm(s, p)?;
        check_len(self, x, s.x_len(), "lstm x")?;
        check_len(self, y, s.y_len(), "lstm y")?;
        check_len(self, dy, s.y_len(), "lstm dy")?;
        check_len(self, saved, s.saved_len(), "lstm saved")?;
        for d in 0..2 {
            check_len(self, gr.w_ih[d], s.m * 4 * s.h * s.i, "lstm dw_ih")?;
            check_len(self, gr.w_hh[d], s.m * 4 * s.h * s.h, "lstm dw_hh")?;
            check_len(self, gr.b_ih[d], s.m * 4 * s.h, "lstm db_ih")?;
            check_len(self, gr.b_hh[d], s.m * 4 * s.h, "lstm db_hh")?;
        }
        if let Some(dx) = dx {
            check_len(self, dx, s.x_len(), "lstm dx")?;
        }
        Ok(())
    }

    /// Grid of a step launch: cells of an item in x, items (2M) in y.
    fn step_cfg(&self, s: &LstmShape) -> LaunchCfg {
        let cells = s.b * s.h;
        let gx = cells
            .div_ceil(MM_BLOCK as usize)
            .clamp(1, self.dev.grid_cap() as usize) as u32;
        let gy = (2 * s.m).min(MAX_GRID_YZ) as u32;
        LaunchCfg {
            grid: [gx, gy, 1],
            block: [MM_BLOCK, 1, 1],
            shared_bytes: 0,
        }
    }

    /// [`Backend::lstm_fwd`]: per direction one GEMM `G = x W_ih^T + (b_ih + b_hh)` over all
    /// steps and replicas, then one `lstm_step_fwd` launch per step for both directions.
    pub(crate) fn mm_lstm_fwd(
        &self,
        s: &LstmShape,
        x: &DevBuf<D, T>,
        p: &LstmParams<Self>,
        y: &mut DevBuf<D, T>,
        saved: &mut DevBuf<D, T>,
    ) -> Result<()> {
        self.check_lstm_fwd(s, x, p, y, saved)?;
        if s.h == 0 {
            return Ok(());
        }
        let (rows, g4) = (s.t * s.b, 4 * s.h);
        let item = rows * g4;
        let g = self.alloc_of::<T>(2 * s.m * item)?;
        self.lstm_input_projection(s, x, p, &g, false)?;
        let cfg = self.step_cfg(s);
        for k in 0..s.t {
            let sp = LstmStepP {
                g: self.ptr(&g),
                w_hh0: self.ptr(p.w_hh[0]),
                w_hh1: self.ptr(p.w_hh[1]),
                y: self.ptr(y),
                saved: self.ptr(saved),
                m: s.m as i64,
                t: s.t as i64,
                b: s.b as i64,
                h: s.h as i64,
                k: k as i64,
            };
            self.launch_t("lstm_step_fwd", cfg, &sp)?;
        }
        // `g` is freed in stream order on cuda, at once on emu (synchronous launches).
        Ok(())
    }

    /// [`Backend::lstm_bwd`]: one `lstm_step_bwd` launch per step (k = T-1 .. 0) writing the
    /// gate gradients dG of every step, then per direction: dW_ih += dG^T x,
    /// dW_hh += dG^T h_prev (a strided view of y), db_ih and db_hh += colsum(dG); finally
    /// dx += dG_fwd W_ih_fwd, then += dG_rev W_ih_rev.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn mm_lstm_bwd(
        &self,
        s: &LstmShape,
        x: &DevBuf<D, T>,
        p: &LstmParams<Self>,
        y: &DevBuf<D, T>,
        saved: &DevBuf<D, T>,
        dy: &DevBuf<D, T>,
        dx: Option<&mut DevBuf<D, T>>,
        gr: &mut LstmGrads<Self>,
    ) -> Result<()> {
        self.check_lstm_bwd(s, x, p, y, saved, dy, dx.as_deref(), gr)?;
        if s.h == 0 {
            return Ok(());
        }
        let (rows, g4, h) = (s.t * s.b, 4 * s.h, s.h);
        let item = rows * g4;
        let dg = self.alloc_of::<T>(2 * s.m * item)?;
        let dc = self.alloc_of::<T>(2 * s.m * s.b * h)?;
        let cfg = self.step_cfg(s);
        for k in (0..s.t).rev() {
            let sp = LstmStepBwdP {
                w_hh0: self.ptr(p.w_hh[0]),
                w_hh1: self.ptr(p.w_hh[1]),
                saved: self.ptr(saved),
                dy: self.ptr(dy),
                dg: self.ptr(&dg),
                dc: self.ptr(&dc),
                m: s.m as i64,
                t: s.t as i64,
                b: s.b as i64,
                h: h as i64,
                k: k as i64,
            };
            self.launch_t("lstm_step_bwd", cfg, &sp)?;
        }
        self.lstm_param_grads(s, x, p, y, &dg, dx, gr, false)
    }

    /// One product of the LSTM's GEMM sequence: the tensor-core kernel when `fast` (it falls
    /// back by itself where it cannot run), else the SIMT one.
    fn lstm_product(&self, g: &GemmCall, fast: bool) -> Result<()> {
        if fast {
            self.gemm_tc_call(g).map(|_| ())
        } else {
            self.gemm_call(g)
        }
    }

    /// `G = x W_ih^T + (b_ih + b_hh)` of both directions into `g` `[2, M, T, B, 4H]`, over all
    /// steps and replicas (one GEMM per direction); on the tensor cores when `fast`.
    pub(crate) fn lstm_input_projection(
        &self,
        s: &LstmShape,
        x: &DevBuf<D, T>,
        p: &LstmParams<Self>,
        g: &DevBuf<D, T>,
        fast: bool,
    ) -> Result<()> {
        let (rows, g4) = (s.t * s.b, 4 * s.h);
        let item = rows * g4;
        for d in 0..2 {
            self.lstm_product(
                &GemmCall {
                    batch: s.m,
                    m: rows,
                    n: g4,
                    k: s.i,
                    trans_a: false,
                    trans_b: true,
                    accumulate: false,
                    a: self.view(x, 0, s.i, rows * s.i),
                    b: self.view(p.w_ih[d], 0, s.i, g4 * s.i),
                    c: self.view(g, d * s.m * item, g4, item),
                    bias: Some(self.view(p.b_ih[d], 0, g4, g4)),
                    bias2: Some(self.ptr(p.b_hh[d])),
                },
                fast,
            )?;
        }
        Ok(())
    }

    /// The parameter and input gradients from the gate gradients `dg` `[2, M, T, B, 4H]`, per
    /// direction: dW_ih += dG^T x, dW_hh += dG^T h_prev (a strided view of y), db_ih and db_hh
    /// += colsum(dG); then dx += dG_fwd W_ih_fwd, then += dG_rev W_ih_rev. On the tensor cores
    /// and the parallel column sum when `fast`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn lstm_param_grads(
        &self,
        s: &LstmShape,
        x: &DevBuf<D, T>,
        p: &LstmParams<Self>,
        y: &DevBuf<D, T>,
        dg: &DevBuf<D, T>,
        dx: Option<&mut DevBuf<D, T>>,
        gr: &mut LstmGrads<Self>,
        fast: bool,
    ) -> Result<()> {
        let (rows, g4, h) = (s.t * s.b, 4 * s.h, s.h);
        let item = rows * g4;
        for d in 0..2 {
            let dg_d = d * s.m * item;
            // dW_ih[r] += dG[r]^T x[r]: [4H, TB] x [TB, I]
            self.lstm_product(
                &GemmCall {
                    batch: s.m,
                    m: g4,
                    n: s.i,
                    k: rows,
                    trans_a: true,
                    trans_b: false,
                    accumulate: true,
                    a: self.view(dg, dg_d, g4, item),
                    b: self.view(x, 0, s.i, rows * s.i),
                    c: self.view(gr.w_ih[d], 0, s.i, g4 * s.i),
                    bias: None,
                    bias2: None,
                },
                fast,
            )?;
            // dW_hh[r] += sum over steps with a predecessor of dG_t^T h_prev(t): forward
            // pairs dG rows of t = 1..T-1 with h rows of t-1, reverse dG of t = 0..T-2 with h
            // of t+1; h is direction d's half of y (row stride 2H).
            if s.t > 1 {
                let (dg_off, h_row0) = if d == 0 { (s.b * g4, 0) } else { (0, s.b) };
                self.lstm_product(
                    &GemmCall {
                        batch: s.m,
                        m: g4,
                        n: h,
                        k: (s.t - 1) * s.b,
                        trans_a: true,
                        trans_b: false,
                        accumulate: true,
                        a: self.view(dg, dg_d + dg_off, g4, item),
                        b: self.view(y, h_row0 * 2 * h + d * h, 2 * h, rows * 2 * h),
                        c: self.view(gr.w_hh[d], 0, h, g4 * h),
                        bias: None,
                        bias2: None,
                    },
                    fast,
                )?;
            }
            let (dgp, db, db2) = (
                self.at(dg, dg_d),
                self.ptr(gr.b_ih[d]),
                self.ptr(gr.b_hh[d]),
            );
            if fast {
                self.colsum_par_call(s.m, rows, g4, g4, dgp, db, db2)?;
            } else {
                self.colsum_call(s.m, rows, g4, g4, dgp, db, db2)?;
            }
        }
        if let Some(dx) = dx {
            for d in 0..2 {
                // dx[r] += dG_d[r] W_ih_d[r]: [TB, 4H] x [4H, I]
                self.lstm_product(
                    &GemmCall {
                        batch: s.m,
                        m: rows,
                        n: s.i,
                        k: g4,
                        trans_a: false,
                        trans_b: false,
                        accumulate: true,
                        a: self.view(dg, d * s.m * item, g4, item),
                        b: self.view(p.w_ih[d], 0, s.i, g4 * s.i),
                        c: self.view(dx, 0, s.i, rows * s.i),
                        bias: None,
                        bias2: None,
                    },
                    fast,
                )?;
            }
        }
        Ok(())
    }
}
