//! The launcher shared by the `cuda` and `emu` backends: kernels/*.cu are called the same way
//! on both, and the ops (shape checks, grid sizes, params structs) are written once, in
//! [`ops`], generic over a [`Device`].
//!
//! Calling convention (kernels/README.md has the how-to): every kernel takes ONE `#[repr(C)]`
//! params struct (in [`params`]) mirrored field for field in its .cu file; pointers are `u64`
//! device addresses (host addresses on emu); kernels are found by name with the element type
//! as suffix (`relu_fwd_f32`). A [`Device`] supplies memory and the last step of a launch:
//! cudarc's launch on a stream (`cuda`) or an FFI call into the emu library (`emu`).

mod gemm_tc;
mod lstm_persist;
pub mod ops;
mod ops_mm;
pub mod params;
pub mod params_mm;
pub mod params_tc;
mod tc_probe;

pub use gemm_tc::{GemmKernel, tc_splits};
pub use lstm_persist::{
    LstmKernel, PERSIST_MAX_H, RecPrecision, persist_bwd_smem, persist_fwd_smem, persist_supported,
};
pub use tc_probe::{Conversions, SmemProbe, TcOp};

use crate::backend::{Elem, KernelTiming};
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::marker::PhantomData;

/// Grid, block and dynamic shared memory of one launch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaunchCfg {
    /// Blocks in x, y, z.
    pub grid: [u32; 3],
    /// Threads per block in x, y, z (at most 1024 in all).
    pub block: [u32; 3],
    /// Dynamic shared memory per block, bytes.
    pub shared_bytes: u32,
}

impl LaunchCfg {
    /// A 1-D launch of `grid` blocks of `block` threads (grid.y = `y`).
    pub fn new(grid: u32, y: u32, block: u32) -> Self {
        LaunchCfg {
            grid: [grid.max(1), y.max(1), 1],
            block: [block, 1, 1],
            shared_bytes: 0,
        }
    }
}

/// Memory and kernel launches of one accelerator (real or emulated). Buffers are untyped
/// bytes; [`DevBuf`] adds the element type.
pub trait Device {
    /// A device allocation.
    type Mem;
    /// "cuda" or "emu".
    fn name(&self) -> &'static str;
    /// A zero-filled allocation of `bytes` bytes.
    fn alloc_zeroed(&self, bytes: usize) -> Result<Self::Mem>;
    /// Copy `src` into the start of `dst` (`src.len()` <= its size).
    fn htod(&self, src: &[u8], dst: &mut Self::Mem) -> Result<()>;
    /// Copy the start of `src` into `dst`.
    fn dtoh(&self, src: &Self::Mem, dst: &mut [u8]) -> Result<()>;
    /// Set every byte to zero.
    fn memset_zero(&self, mem: &mut Self::Mem) -> Result<()>;
    /// The address kernels see for `mem` (a `u64` field of a params struct).
    fn addr(&self, mem: &Self::Mem) -> u64;
    /// Launch kernel `name` with the bytes of its params struct.
    fn launch(&self, name: &str, cfg: &LaunchCfg, params: &[u8]) -> Result<()>;
    /// Wait for all queued work.
    fn sync(&self) -> Result<()>;
    /// Largest 1-D grid the ops should use for grid-stride kernels (small on emu, where
    /// every block costs a barrier round; kernels are correct for any grid).
    fn grid_cap(&self) -> u32;
    /// Per-launch timing on/off.
    fn set_profiling(&self, on: bool) -> Result<()>;
    /// Timings since profiling was turned on; clears them.
    fn take_profile(&self) -> Result<Vec<KernelTiming>>;
}

/// A typed buffer of `len` elements of `E` on device `D`.
pub struct DevBuf<D: Device, E> {
    pub(crate) mem: D::Mem,
    pub(crate) len: usize,
    _e: PhantomData<E>,
}

impl<D: Device, E> DevBuf<D, E> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether it holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A [`crate::backend::Backend`] over device `D` with element type `T`, through the kernels.
/// `EmuBackend<T>` and `CudaBackend<T>` are this type with their devices.
pub struct KernelBackend<T: Elem, D: Device> {
    pub(crate) dev: D,
    _t: PhantomData<T>,
}

impl<T: Elem, D: Device> KernelBackend<T, D> {
    /// A backend over an opened device.
    pub fn from_device(dev: D) -> Self {
        KernelBackend {
            dev,
            _t: PhantomData,
        }
    }
    /// The device.
    pub fn device(&self) -> &D {
        &self.dev
    }

    pub(crate) fn alloc_of<E: bytemuck::Pod>(&self, len: usize) -> Result<DevBuf<D, E>> {
        let bytes = len.checked_mul(std::mem::size_of::<E>()).ok_or_else(|| {
            Error::shape(format!(
                "{}: allocation of {len} elements overflows",
                self.dev.name()
            ))
        })?;
        Ok(DevBuf {
            mem: self.dev.alloc_zeroed(bytes)?,
            len,
            _e: PhantomData,
        })
    }
    pub(crate) fn upload_of<E: bytemuck::Pod>(&self, data: &[E]) -> Result<DevBuf<D, E>> {
        let mut b = self.alloc_of::<E>(data.len())?;
        self.dev.htod(bytemuck::cast_slice(data), &mut b.mem)?;
        Ok(b)
    }
    pub(crate) fn write_of<E: bytemuck::Pod>(
        &self,
        buf: &mut DevBuf<D, E>,
        data: &[E],
    ) -> Result<()> {
        if data.len() != buf.len {
            return Err(Error::shape(format!(
                "{}: write of {} elements into a buffer of {}",
                self.dev.name(),
                data.len(),
                buf.len
            )));
        }
        self.dev.htod(bytemuck::cast_slice(data), &mut buf.mem)
    }
    pub(crate) fn download_of<E: bytemuck::Pod + Default>(
        &self,
        buf: &DevBuf<D, E>,
    ) -> Result<Vec<E>> {
        let mut v = vec![E::default(); buf.len];
        self.dev.dtoh(&buf.mem, bytemuck::cast_slice_mut(&mut v))?;
        Ok(v)
    }
    /// The kernel-visible address of a buffer (a `u64` field of a params struct).
    pub fn ptr<E>(&self, buf: &DevBuf<D, E>) -> u64 {
        self.dev.addr(&buf.mem)
    }
    /// Launch `base_f32` or `base_f64` (this backend's element type) with params `p`.
    pub fn launch_t<P: bytemuck::Pod>(&self, base: &str, cfg: LaunchCfg, p: &P) -> Result<()> {
        self.launch(&format!("{base}_{}", T::DTYPE), cfg, p)
    }
    /// Launch kernel `name` (full name) with params `p`, the #[repr(C)] mirror of its struct.
    pub fn launch<P: bytemuck::Pod>(&self, name: &str, cfg: LaunchCfg, p: &P) -> Result<()> {
        self.dev.launch(name, &cfg, bytemuck::bytes_of(p))
    }
}

/// Per-kernel timing totals, for devices to share.
#[derive(Default)]
pub(crate) struct ProfileTotals {
    by_name: BTreeMap<String, (u64, f64)>,
}

impl ProfileTotals {
    pub(crate) fn add(&mut self, name: &str, ms: f64) {
        let e = self.by_name.entry(name.to_string()).or_insert((0, 0.0));
        e.0 += 1;
        e.1 += ms;
    }
    pub(crate) fn take(&mut self) -> Vec<KernelTiming> {
        std::mem::take(&mut self.by_name)
            .into_iter()
            .map(|(name, (calls, total_ms))| KernelTiming {
                name,
                calls,
                total_ms,
            })
            .collect()
    }
}
