//! The ops of [`Backend`] on the kernels, written once for every [`Device`]: check shapes,
//! fill the params struct, size the grid, launch. Forward ops overwrite, backward ops
//! accumulate (the trait's conventions); reductions are fixed-order in the kernels.

use super::params::*;
use super::{DevBuf, Device, KernelBackend, LaunchCfg};
use crate::backend::{
    AdamSpec, AdamTensor, Backend, DropoutSpec, Elem, GemmSpec, KernelTiming, LstmGrads,
    LstmParams, LstmShape, check_len,
};
use crate::error::{Error, Result};

/// Threads per block of the elementwise and grid-stride kernels.
const BLOCK: u32 = 256;
/// Blocks per replica of the l1 partial sums: ceil(n / L1_CHUNK) capped at L1_MAX_BLOCKS. The
/// partition depends on n alone, so the sum's order is the same on every device.
const L1_CHUNK: usize = 8192;
const L1_MAX_BLOCKS: usize = 256;
/// Threads of the per-replica cross-entropy reduction block.
const CE_BLOCK: u32 = 128;
/// Largest grid.y (replicas, Adam table entries per pass).
const MAX_GRID_Y: usize = 65_535;

impl<T: Elem, D: Device> KernelBackend<T, D> {
    /// Blocks for `work` grid-stride items.
    fn blocks(&self, work: usize) -> u32 {
        let need = work.div_ceil(BLOCK as usize).max(1);
        need.min(self.dev.grid_cap() as usize) as u32
    }

    fn shape_err(&self, msg: String) -> Error {
        Error::shape(format!("{}: {msg}", self.dev.name()))
    }

    /// Per-replica scalars into a fixed array of the params struct.
    fn per_replica<V: Copy + Default>(&self, what: &str, v: &[V]) -> Result<[V; MAX_REPLICAS]> {
        if v.is_empty() || v.len() > MAX_REPLICAS {
            return Err(self.shape_err(format!(
                "{what} has {} replicas; the kernels take 1..={MAX_REPLICAS}",
                v.len()
            )));
        }
        let mut a = [V::default(); MAX_REPLICAS];
        a[..v.len()].copy_from_slice(v);
        Ok(a)
    }

    fn dropout(
        &self,
        bwd: bool,
        d: &DropoutSpec,
        n: usize,
        x: u64,
        stride: usize,
        y: u64,
    ) -> Result<()> {
        if !(0.0..1.0).contains(&d.p) {
            return Err(Error::config(
                "dropout.p",
                format!("{} is not in [0, 1)", d.p),
            ));
        }
        let m = d.seeds.len();
        let seeds = self.per_replica("dropout seeds", d.seeds)?;
        if n == 0 {
            return Ok(());
        }
        let p = DropoutP {
            x,
            y,
            n: n as i64,
            x_stride: stride as i64,
            step: d.step,
            scale: crate::rng::dropout_scale(d.p),
            threshold: crate::rng::dropout_threshold(d.p),
            tensor: d.tensor,
            seeds,
        };
        let name = if bwd { "dropout_bwd" } else { "dropout_fwd" };
        self.launch_t(
            name,
            LaunchCfg::new(self.blocks(n.div_ceil(4)), m as u32, BLOCK),
            &p,
        )
    }
}

impl<T: Elem, D: Device> Backend for KernelBackend<T, D> {
    type T = T;
    type Buf = DevBuf<D, T>;
    type IBuf = DevBuf<D, i32>;

    fn name(&self) -> String {
        self.dev.name().to_string()
    }

    fn alloc(&self, len: usize) -> Result<Self::Buf> {
        self.alloc_of(len)
    }
    fn upload(&self, data: &[T]) -> Result<Self::Buf> {
        self.upload_of(data)
    }
    fn write(&self, buf: &mut Self::Buf, data: &[T]) -> Result<()> {
        self.write_of(buf, data)
    }
    fn download(&self, buf: &Self::Buf) -> Result<Vec<T>> {
        self.download_of(buf)
    }
    fn len(&self, buf: &Self::Buf) -> usize {
        buf.len
    }
    fn zero(&self, buf: &mut Self::Buf) -> Result<()> {
        self.dev.memset_zero(&mut buf.mem)
    }
    fn upload_idx(&self, data: &[i32]) -> Result<Self::IBuf> {
        self.upload_of(data)
    }
    fn alloc_idx(&self, len: usize) -> Result<Self::IBuf> {
        self.alloc_of(len)
    }
    fn write_idx(&self, buf: &mut Self::IBuf, data: &[i32]) -> Result<()> {
        self.write_of(buf, data)
    }
    fn download_idx(&self, buf: &Self::IBuf) -> Result<Vec<i32>> {
        self.download_of(buf)
    }
    fn sync(&self) -> Result<()> {
        self.dev.sync()
    }

    fn set_profiling(&self, on: bool) -> Result<()> {
        self.dev.set_profiling(on)
    }
    fn take_profile(&self) -> Result<Vec<KernelTiming>> {
        self.dev.take_profile()
    }

    fn dropout_fwd(
        &self,
        d: &DropoutSpec,
        n: usize,
        x: &Self::Buf,
        x_shared: bool,
        y: &mut Self::Buf,
    ) -> Result<()> {
        let m = d.seeds.len();
        check_len(self, x, if x_shared { n } else { m * n }, "dropout x")?;
        check_len(self, y, m * n, "dropout y")?;
        self.dropout(
            false,
            d,
            n,
            self.ptr(x),
            if x_shared { 0 } else { n },
            self.ptr(y),
        )
    }

    fn dropout_bwd(
        &self,
        d: &DropoutSpec,
        n: usize,
        dy: &Self::Buf,
        dx: &mut Self::Buf,
    ) -> Result<()> {
        let m = d.seeds.len();
        check_len(self, dy, m * n, "dropout dy")?;
        check_len(self, dx, m * n, "dropout dx")?;
        self.dropout(true, d, n, self.ptr(dy), n, self.ptr(dx))
    }

    fn gemm(
        &self,
        s: &GemmSpec,
        a: &Self::Buf,
        b: &Self::Buf,
        bias: Option<&Self::Buf>,
        c: &mut Self::Buf,
    ) -> Result<()> {
        self.mm_gemm(s, a, b, bias, c)
    }
    fn bias_grad(
        &self,
        batch: usize,
        rows: usize,
        cols: usize,
        dy: &Self::Buf,
        db: &mut Self::Buf,
    ) -> Result<()> {
        self.mm_bias_grad(batch, rows, cols, dy, db)
    }
    fn lstm_fwd(
        &self,
        s: &LstmShape,
        x: &Self::Buf,
        p: &LstmParams<Self>,
        y: &mut Self::Buf,
        saved: &mut Self::Buf,
    ) -> Result<()> {
        self.mm_lstm_fwd(s, x, p, y, saved)
    }
    fn lstm_bwd(
        &self,
        s: &LstmShape,
        x: &Self::Buf,
        p: &LstmParams<Self>,
        y: &Self::Buf,
        saved: &Self::Buf,
        dy: &Self::Buf,
        dx: Option<&mut Self::Buf>,
        g: &mut LstmGrads<Self>,
    ) -> Result<()> {
        self.mm_lstm_bwd(s, x, p, y, saved, dy, dx, g)
    }

    fn max_time_fwd(
        &self,
        m: usize,
        t: usize,
        rows: usize,
        f: usize,
        x: &Self::Buf,
        y: &mut Self::Buf,
        arg: &mut Self::IBuf,
    ) -> Result<()> {
        check_len(self, x, m * t * rows * f, "max_time x")?;
        check_len(self, y, m * rows * f, "max_time y")?;
        if arg.len != m * rows * f {
            return Err(self.shape_err(format!(
                "max_time arg has {} elements, expected {}",
                arg.len,
                m * rows * f
            )));
        }
        if t == 0 || t > i32::MAX as usize {
            return Err(self.shape_err(format!("max_time over T = {t} steps")));
        }
        let total = m * rows * f;
        if total == 0 {
            return Ok(());
        }
        let p = MaxTimeP {
            x: self.ptr(x),
            y: self.ptr(y),
            arg: self.ptr(arg),
            t: t as i64,
            rows: rows as i64,
            f: f as i64,
            total: total as i64,
        };
        self.launch_t(
            "max_time_fwd",
            LaunchCfg::new(self.blocks(total), 1, BLOCK),
            &p,
        )
    }

    fn max_time_bwd(
        &self,
        m: usize,
        t: usize,
        rows: usize,
        f: usize,
        dy: &Self::Buf,
        arg: &Self::IBuf,
        dx: &mut Self::Buf,
    ) -> Result<()> {
        check_len(self, dy, m * rows * f, "max_time dy")?;
        check_len(self, dx, m * t * rows * f, "max_time dx")?;
        if arg.len != m * rows * f {
            return Err(self.shape_err(format!(
                "max_time arg has {} elements, expected {}",
                arg.len,
                m * rows * f
            )));
        }
        let total = m * rows * f;
        if total == 0 || t == 0 {
            return Ok(());
        }
        let p = MaxTimeBwdP {
            dy: self.ptr(dy),
            arg: self.ptr(arg),
            dx: self.ptr(dx),
            t: t as i64,
            rows: rows as i64,
            f: f as i64,
            total: total as i64,
        };
        self.launch_t(
            "max_time_bwd",
            LaunchCfg::new(self.blocks(total), 1, BLOCK),
            &p,
        )
    }

    fn relu_fwd(&self, n: usize, x: &Self::Buf, y: &mut Self::Buf) -> Result<()> {
        check_len(self, x, n, "relu x")?;
        check_len(self, y, n, "relu y")?;
        if n == 0 {
            return Ok(());
        }
        let p = UnaryP {
            x: self.ptr(x),
            y: self.ptr(y),
            n: n as i64,
        };
        self.launch_t("relu_fwd", LaunchCfg::new(self.blocks(n), 1, BLOCK), &p)
    }

    fn relu_bwd(&self, n: usize, y: &Self::Buf, dy: &Self::Buf, dx: &mut Self::Buf) -> Result<()> {
        check_len(self, y, n, "relu y")?;
        check_len(self, dy, n, "relu dy")?;
        check_len(self, dx, n, "relu dx")?;
        if n == 0 {
            return Ok(());
        }
        let p = ReluBwdP {
            y: self.ptr(y),
            dy: self.ptr(dy),
            dx: self.ptr(dx),
            n: n as i64,
        };
        self.launch_t("relu_bwd", LaunchCfg::new(self.blocks(n), 1, BLOCK), &p)
    }

    fn clamp_fwd(
        &self,
        n: usize,
        lo: f64,
        hi: f64,
        x: &Self::Buf,
        y: &mut Self::Buf,
    ) -> Result<()> {
        check_len(self, x, n, "clamp x")?;
        check_len(self, y, n, "clamp y")?;
        if n == 0 {
            return Ok(());
        }
        let p = ClampP {
            x: self.ptr(x),
            y: self.ptr(y),
            n: n as i64,
            lo,
            hi,
        };
        self.launch_t("clamp_fwd", LaunchCfg::new(self.blocks(n), 1, BLOCK), &p)
    }

    fn clamp_bwd(
        &self,
        n: usize,
        lo: f64,
        hi: f64,
        x: &Self::Buf,
        dy: &Self::Buf,
        dx: &mut Self::Buf,
    ) -> Result<()> {
        check_len(self, x, n, "clamp x")?;
        check_len(self, dy, n, "clamp dy")?;
        check_len(self, dx, n, "clamp dx")?;
        if n == 0 {
            return Ok(());
        }
        let p = ClampBwdP {
            x: self.ptr(x),
            dy: self.ptr(dy),
            dx: self.ptr(dx),
            n: n as i64,
            lo,
            hi,
        };
        self.launch_t("clamp_bwd", LaunchCfg::new(self.blocks(n), 1, BLOCK), &p)
    }

    fn l1_fwd(
        &self,
        m: usize,
        n: usize,
        target: &Self::Buf,
        r: &Self::Buf,
        loss: &mut Self::Buf,
    ) -> Result<()> {
        check_len(self, target, n, "l1 target")?;
        check_len(self, r, m * n, "l1 r")?;
        check_len(self, loss, m, "l1 loss")?;
        if n == 0 || m == 0 || m > MAX_GRID_Y {
            return Err(self.shape_err(format!("l1 over m = {m} replicas of n = {n} elements")));
        }
        let nb = n.div_ceil(L1_CHUNK).clamp(1, L1_MAX_BLOCKS);
        let chunk = n.div_ceil(nb);
        let partial = self.alloc_of::<f64>(m * nb)?;
        let p = L1PartialP {
            target: self.ptr(target),
            r: self.ptr(r),
            partial: self.ptr(&partial),
            n: n as i64,
            chunk: chunk as i64,
            nb: nb as i64,
        };
        self.launch_t("l1_partial", LaunchCfg::new(nb as u32, m as u32, BLOCK), &p)?;
        let f = L1FinishP {
            partial: self.ptr(&partial),
            loss: self.ptr(loss),
            n: n as i64,
            nb: nb as i64,
            m: m as i64,
        };
        self.launch_t(
            "l1_finish",
            LaunchCfg::new(m.div_ceil(64) as u32, 1, 64),
            &f,
        )?;
        // `partial` is freed in stream order on cuda (after the kernels) and at once on emu
        // (whose launches are synchronous).
        Ok(())
    }

    fn l1_bwd(
        &self,
        n: usize,
        scale: &[f64],
        target: &Self::Buf,
        r: &Self::Buf,
        dr: &mut Self::Buf,
    ) -> Result<()> {
        let m = scale.len();
        check_len(self, target, n, "l1 target")?;
        check_len(self, r, m * n, "l1 r")?;
        check_len(self, dr, m * n, "l1 dr")?;
        let scale = self.per_replica("l1 scale", scale)?;
        if n == 0 {
            return Ok(());
        }
        let p = L1BwdP {
            target: self.ptr(target),
            r: self.ptr(r),
            dr: self.ptr(dr),
            n: n as i64,
            scale,
        };
        self.launch_t(
            "l1_bwd",
            LaunchCfg::new(self.blocks(n), m as u32, BLOCK),
            &p,
        )
    }

    fn ce_fwd(
        &self,
        m: usize,
        b: usize,
        c: usize,
        logits: &Self::Buf,
        labels: &Self::IBuf,
        loss: &mut Self::Buf,
    ) -> Result<()> {
        check_len(self, logits, m * b * c, "ce logits")?;
        check_len(self, loss, m, "ce loss")?;
        if labels.len != b {
            return Err(self.shape_err(format!(
                "ce labels has {} elements, expected {b}",
                labels.len
            )));
        }
        if m == 0 || b == 0 || c == 0 || m > MAX_GRID_Y {
            return Err(self.shape_err(format!("ce over m = {m}, b = {b}, c = {c}")));
        }
        let p = CeFwdP {
            logits: self.ptr(logits),
            labels: self.ptr(labels),
            loss: self.ptr(loss),
            b: b as i64,
            c: c as i64,
        };
        self.launch_t(
            "ce_fwd",
            LaunchCfg {
                grid: [m as u32, 1, 1],
                block: [CE_BLOCK, 1, 1],
                shared_bytes: 0,
            },
            &p,
        )
    }

    fn ce_bwd(
        &self,
        b: usize,
        c: usize,
        scale: &[f64],
        logits: &Self::Buf,
        labels: &Self::IBuf,
        dlogits: &mut Self::Buf,
    ) -> Result<()> {
        let m = scale.len();
        check_len(self, logits, m * b * c, "ce logits")?;
        check_len(self, dlogits, m * b * c, "ce dlogits")?;
        if labels.len != b {
            return Err(self.shape_err(format!(
                "ce labels has {} elements, expected {b}",
                labels.len
            )));
        }
        let scale = self.per_replica("ce scale", scale)?;
        if b == 0 || c == 0 {
            return Ok(());
        }
        let total = m * b;
        let p = CeBwdP {
            logits: self.ptr(logits),
            labels: self.ptr(labels),
            dlogits: self.ptr(dlogits),
            b: b as i64,
            c: c as i64,
            total: total as i64,
            scale,
        };
        self.launch_t("ce_bwd", LaunchCfg::new(self.blocks(total), 1, BLOCK), &p)
    }

    fn adam(&self, s: &AdamSpec, tensors: &mut [AdamTensor<Self>]) -> Result<()> {
        let m = s.lr.len();
        if m == 0 {
            return Err(self.shape_err("adam with no replicas (lr is empty)".into()));
        }
        if s.step == 0 {
            return Err(Error::config("adam.step", "the step number starts at 1"));
        }
        // As PyTorch: `1 - beta ** step` in double (C pow).
        let bc1 = 1.0 - s.beta1.powf(s.step as f64);
        let bc2 = 1.0 - s.beta2.powf(s.step as f64);
        let esz = std::mem::size_of::<T>() as u64;
        let mut table: Vec<AdamEntry> = Vec::with_capacity(tensors.len() * m);
        let mut max_numel = 0usize;
        for (k, tn) in tensors.iter().enumerate() {
            let len = tn.param.len;
            if len % m != 0 {
                return Err(self.shape_err(format!(
                    "adam tensor {k}: {len} elements is not a multiple of M = {m}"
                )));
            }
            check_len(self, tn.grad, len, "adam grad")?;
            check_len(self, tn.m, len, "adam m")?;
            check_len(self, tn.v, len, "adam v")?;
            let numel = len / m;
            max_numel = max_numel.max(numel);
            let (pp, gp, mp, vp) = (
                self.ptr(tn.param),
                self.ptr(tn.grad),
                self.ptr(tn.m),
                self.ptr(tn.v),
            );
            for (r, &lr) in s.lr.iter().enumerate() {
                let off = (r * numel) as u64 * esz;
                table.push(AdamEntry {
                    param: pp + off,
                    grad: gp + off,
                    m: mp + off,
                    v: vp + off,
                    numel: numel as i64,
                    step_size: lr / bc1,
                });
            }
        }
        if table.is_empty() || max_numel == 0 {
            return Ok(());
        }
        let dev_table = self.upload_of(&table)?;
        let p = AdamP {
            table: self.ptr(&dev_table),
            entries: table.len() as i64,
            beta1: s.beta1,
            beta2: s.beta2,
            eps: s.eps,
            bc2_sqrt: bc2.sqrt(),
        };
        let y = table.len().min(MAX_GRID_Y) as u32;
        self.launch_t(
            "adam_step",
            LaunchCfg::new(self.blocks(max_numel), y, BLOCK),
            &p,
        )
    }
}
