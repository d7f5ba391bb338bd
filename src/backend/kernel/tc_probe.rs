//! Launchers of the probes in kernels/tc_probe.cu: the tensor-core conversions and WMMA
//! wrappers, and (on emu) the shared-memory poison and the cp.async emulation. For
//! tests/tc_emu.rs; nothing in the trainer calls them.

use super::params_tc::{TcConvertP, TcCpAsyncProbeP, TcMmaProbeP, TcSmemProbeP};
use super::{Device, KernelBackend, LaunchCfg};
use crate::backend::Elem;
use crate::error::{Error, Result};

/// Tensor-core operand types of the probes (the kernels' `RxOp`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcOp {
    /// IEEE half, m16n16k16 tiles.
    F16,
    /// bfloat16, m16n16k16 tiles.
    Bf16,
    /// tf32 (f32 storage, 10-bit mantissa), m16n16k8 tiles.
    Tf32,
}

impl TcOp {
    /// The K of one WMMA tile.
    pub fn k(self) -> usize {
        if self == TcOp::Tf32 { 8 } else { 16 }
    }
}

/// The device's conversions of a batch of f32 values.
#[derive(Clone, Debug)]
pub struct Conversions {
    /// cvt.rn.f16.f32 bit patterns.
    pub f16: Vec<u16>,
    /// cvt.rn.bf16.f32 bit patterns.
    pub bf16: Vec<u16>,
    /// cvt.rna.tf32.f32 bit patterns (f32 layout, low 13 bits clear).
    pub tf32: Vec<u32>,
    /// The f16 values converted back to f32.
    pub f16_back: Vec<f32>,
}

/// What `tc_smem_probe` saw, `[blocks * threads]` each.
#[derive(Clone, Debug)]
pub struct SmemProbe {
    /// Static shared memory (RX_SHARED) before the block wrote it.
    pub before_static: Vec<u32>,
    /// Dynamic shared memory before the block wrote it.
    pub before_dynamic: Vec<u32>,
    /// `1000 * block + (thread + 1) % threads + 7` when shared memory works.
    pub after: Vec<u32>,
}

impl<T: Elem, D: Device> KernelBackend<T, D> {
    /// Converts `x` with the device's f32 -> f16 / bf16 / tf32 conversions (tc_convert).
    pub fn tc_convert(&self, x: &[f32]) -> Result<Conversions> {
        let n = x.len();
        let xb = self.upload_of(x)?;
        let f16 = self.alloc_of::<u16>(n)?;
        let bf16 = self.alloc_of::<u16>(n)?;
        let tf32 = self.alloc_of::<u32>(n)?;
        let back = self.alloc_of::<f32>(n)?;
        let p = TcConvertP {
            x: self.ptr(&xb),
            f16: self.ptr(&f16),
            bf16: self.ptr(&bf16),
            tf32: self.ptr(&tf32),
            f16_back: self.ptr(&back),
            n: n as i64,
        };
        let blocks = n.div_ceil(128).clamp(1, self.dev.grid_cap() as usize) as u32;
        self.launch("tc_convert", LaunchCfg::new(blocks, 1, 128), &p)?;
        Ok(Conversions {
            f16: self.download_of(&f16)?,
            bf16: self.download_of(&bf16)?,
            tf32: self.download_of(&tf32)?,
            f16_back: self.download_of(&back)?,
        })
    }

    /// `2 A B + C` for one tile through the WMMA wrappers (tc_mma_probe): `a`, `b`, `c` are
    /// 16 x 16 row-major f32 (for tf32, A is the first 8 columns of `a` and B the first 8 rows
    /// of `b`), rounded to `op` on the device; A and B are loaded row- or column-major.
    /// `misalign` shifts the A tile by 2 bytes (a kernel fault on emu).
    #[allow(clippy::too_many_arguments)]
    pub fn tc_mma_probe(
        &self,
        op: TcOp,
        a_col: bool,
        b_col: bool,
        misalign: bool,
        a: &[f32],
        b: &[f32],
        c: &[f32],
    ) -> Result<Vec<f32>> {
        for (name, v) in [("a", a), ("b", b), ("c", c)] {
            if v.len() != 256 {
                return Err(Error::shape(format!(
                    "tc_mma_probe: {name} has {} elements, not 16 x 16",
                    v.len()
                )));
            }
        }
        let (ab, bb, cb) = (self.upload_of(a)?, self.upload_of(b)?, self.upload_of(c)?);
        let d = self.alloc_of::<f32>(256)?;
        let p = TcMmaProbeP {
            a: self.ptr(&ab),
            b: self.ptr(&bb),
            c: self.ptr(&cb),
            d: self.ptr(&d),
            op: match op {
                TcOp::F16 => 0,
                TcOp::Bf16 => 1,
                TcOp::Tf32 => 2,
            },
            a_col: a_col as i32,
            b_col: b_col as i32,
            misalign: misalign as i32,
        };
        // Two 16 x 32 staging tiles (at most 4 bytes an element) and two f32 16 x 24 tiles,
        // plus the probe's 64-byte gaps.
        let cfg = LaunchCfg {
            grid: [1, 1, 1],
            block: [32, 1, 1],
            shared_bytes: 2 * (16 * 32 * 4 + 64) + 2 * 16 * 24 * 4 + 64,
        };
        self.launch("tc_mma_probe", cfg, &p)?;
        self.download_of(&d)
    }

    /// Runs tc_smem_probe on `blocks` blocks of `threads` (<= 128) threads.
    pub fn tc_smem_probe(&self, blocks: u32, threads: u32) -> Result<SmemProbe> {
        if threads == 0 || threads > 128 || blocks == 0 {
            return Err(Error::shape(format!(
                "tc_smem_probe: {blocks} blocks of {threads} threads (1..=128 threads)"
            )));
        }
        let n = (blocks * threads) as usize;
        let bs = self.alloc_of::<u32>(n)?;
        let bd = self.alloc_of::<u32>(n)?;
        let af = self.alloc_of::<u32>(n)?;
        let p = TcSmemProbeP {
            before_static: self.ptr(&bs),
            before_dynamic: self.ptr(&bd),
            after: self.ptr(&af),
        };
        let cfg = LaunchCfg {
            grid: [blocks, 1, 1],
            block: [threads, 1, 1],
            shared_bytes: 512,
        };
        self.launch("tc_smem_probe", cfg, &p)?;
        Ok(SmemProbe {
            before_static: self.download_of(&bs)?,
            before_dynamic: self.download_of(&bd)?,
            after: self.download_of(&af)?,
        })
    }

    /// Runs tc_cp_async_probe with one block of `threads` threads over `src` (8 floats per
    /// thread); returns the 24 floats per thread the probe recorded. `wait == false` never
    /// waits for the copies (a kernel fault on emu).
    pub fn tc_cp_async_probe(&self, threads: u32, src: &[f32], wait: bool) -> Result<Vec<f32>> {
        if threads == 0 || threads > 1024 || src.len() != 8 * threads as usize {
            return Err(Error::shape(format!(
                "tc_cp_async_probe: {} source floats for {threads} threads (8 each)",
                src.len()
            )));
        }
        let sb = self.upload_of(src)?;
        let out = self.alloc_of::<f32>(24 * threads as usize)?;
        let p = TcCpAsyncProbeP {
            src: self.ptr(&sb),
            out: self.ptr(&out),
            mode: if wait { 0 } else { 1 },
            pad_: 0,
        };
        let cfg = LaunchCfg {
            grid: [1, 1, 1],
            block: [threads, 1, 1],
            shared_bytes: 32 * threads,
        };
        self.launch("tc_cp_async_probe", cfg, &p)?;
        self.download_of(&out)
    }
}
