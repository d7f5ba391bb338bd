//! Launch code of the probes in kernels/tc_probe.cu: the tensor-core conversions and WMMA
//! wrappers the fast paths of `lstm` and `gemm` are built from, and (on emu) the shared-memory
//! poison and the cp.async emulation. For tests/ops/tc_probe.rs; nothing in the trainer calls
//! them.

include!(concat!(env!("OUT_DIR"), "/kernel_api/tc_probe.rs"));

use super::{Device, KernelBackend, LaunchCfg};
use crate::backend::Elem;
use crate::error::{Error, Result};

/// Threads of a tc_probe_smem block (its RECAUX_BLOCK_EXACT, and the length of its static
/// array).
pub const SMEM_PROBE_THREADS: u32 = 128;

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

/// What `tc_probe_smem` saw, `[items * SMEM_PROBE_THREADS]` each.
#[derive(Clone, Debug)]
pub struct SmemProbe {
    /// Static shared memory (RX_SHARED) before the item wrote it.
    pub before_static: Vec<u32>,
    /// Dynamic shared memory before the item wrote it.
    pub before_dynamic: Vec<u32>,
    /// `1000 * item + (thread + 1) % threads + 7` when shared memory works.
    pub after: Vec<u32>,
}

/// Converts `x` with the device's f32 -> f16 / bf16 / tf32 conversions (tc_probe_convert).
pub fn convert<T: Elem, D: Device>(be: &KernelBackend<T, D>, x: &[f32]) -> Result<Conversions> {
    let n = x.len();
    let xb = be.upload_of(x)?;
    let f16 = be.alloc_of::<u16>(n)?;
    let bf16 = be.alloc_of::<u16>(n)?;
    let tf32 = be.alloc_of::<u32>(n)?;
    let back = be.alloc_of::<f32>(n)?;
    let p = TcProbeConvertP {
        x: be.ptr(&xb),
        f16: be.ptr(&f16),
        bf16: be.ptr(&bf16),
        tf32: be.ptr(&tf32),
        f16_back: be.ptr(&back),
        n: n as i64,
    };
    let blocks = n.div_ceil(128).clamp(1, be.dev.grid_cap() as usize) as u32;
    be.launch(TC_PROBE_CONVERT, LaunchCfg::new(blocks, 1, 128), &p)?;
    Ok(Conversions {
        f16: be.download_of(&f16)?,
        bf16: be.download_of(&bf16)?,
        tf32: be.download_of(&tf32)?,
        f16_back: be.download_of(&back)?,
    })
}

/// `2 A B + C` for one tile through the WMMA wrappers (tc_probe_mma): `a`, `b`, `c` are
/// 16 x 16 row-major f32 (for tf32, A is the first 8 columns of `a` and B the first 8 rows
/// of `b`), rounded to `op` on the device; A and B are loaded row- or column-major.
/// `misalign` shifts the A tile by 2 bytes (a kernel fault on emu).
#[allow(clippy::too_many_arguments)]
pub fn mma<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
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
                "tc_probe_mma: {name} has {} elements, not 16 x 16",
                v.len()
            )));
        }
    }
    let (ab, bb, cb) = (be.upload_of(a)?, be.upload_of(b)?, be.upload_of(c)?);
    let d = be.alloc_of::<f32>(256)?;
    let p = TcProbeMmaP {
        a: be.ptr(&ab),
        b: be.ptr(&bb),
        c: be.ptr(&cb),
        d: be.ptr(&d),
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
    be.launch(TC_PROBE_MMA, cfg, &p)?;
    be.download_of(&d)
}

/// Runs tc_probe_smem over `items` items, one block per item (the blocks' first items).
pub fn smem<T: Elem, D: Device>(be: &KernelBackend<T, D>, items: u32) -> Result<SmemProbe> {
    if items == 0 {
        return Err(Error::shape("tc_probe_smem: no items".to_string()));
    }
    let (blocks, threads) = (items, SMEM_PROBE_THREADS);
    let n = (blocks * threads) as usize;
    let bs = be.alloc_of::<u32>(n)?;
    let bd = be.alloc_of::<u32>(n)?;
    let af = be.alloc_of::<u32>(n)?;
    let p = TcProbeSmemP {
        before_static: be.ptr(&bs),
        before_dynamic: be.ptr(&bd),
        after: be.ptr(&af),
        items: items as i64,
    };
    let cfg = LaunchCfg {
        grid: [blocks, 1, 1],
        block: [threads, 1, 1],
        shared_bytes: 512,
    };
    be.launch(TC_PROBE_SMEM, cfg, &p)?;
    Ok(SmemProbe {
        before_static: be.download_of(&bs)?,
        before_dynamic: be.download_of(&bd)?,
        after: be.download_of(&af)?,
    })
}

/// Runs tc_probe_cp_async with one block of `threads` threads over `src` (8 floats per
/// thread); returns the 24 floats per thread the probe recorded. `wait == false` never
/// waits for the copies (a kernel fault on emu).
pub fn cp_async<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    threads: u32,
    src: &[f32],
    wait: bool,
) -> Result<Vec<f32>> {
    if threads == 0 || threads > 1024 || src.len() != 8 * threads as usize {
        return Err(Error::shape(format!(
            "tc_probe_cp_async: {} source floats for {threads} threads (8 each)",
            src.len()
        )));
    }
    let sb = be.upload_of(src)?;
    let out = be.alloc_of::<f32>(24 * threads as usize)?;
    let p = TcProbeCpAsyncP {
        src: be.ptr(&sb),
        out: be.ptr(&out),
        mode: if wait { 0 } else { 1 },
        pad_: 0,
    };
    let cfg = LaunchCfg {
        grid: [1, 1, 1],
        block: [threads, 1, 1],
        shared_bytes: 32 * threads,
    };
    be.launch(TC_PROBE_CP_ASYNC, cfg, &p)?;
    be.download_of(&out)
}
