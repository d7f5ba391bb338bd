//! The CUDA backend: kernels/*.cu from the embedded fatbin (build.rs), launched through
//! cudarc's driver API on one stream, via the launcher and ops shared with emu
//! ([`crate::backend::kernel`]). Only the NVIDIA driver is needed at run time.
//!
//! cudarc panics when libcuda is absent, so every entry point checks
//! `cudarc::driver::sys::is_culib_present()` first and returns `Error::Cuda` instead.

pub mod embedded;

use crate::backend::counters::Tally;
use crate::backend::kernel::{Device, KernelBackend, LaunchCfg, ProfileTotals};
use crate::backend::{Counters, Elem, KernelTiming};
use crate::error::{Error, Result};
use cudarc::driver::{
    CudaContext, CudaEvent, CudaSlice, CudaStream, DevicePtr, DriverError, result, sys,
};
use std::collections::HashMap;
use std::ffi::{CString, c_void};
use std::sync::{Arc, Mutex};

/// The backend: the kernels on an NVIDIA GPU. `CudaBackend::<f32>::new(0)`.
pub type CudaBackend<T> = KernelBackend<T, CudaDevice>;

impl<T: Elem> KernelBackend<T, CudaDevice> {
    /// Opens GPU `device` (0-based) and loads the embedded kernels; an `Error::Cuda` says what
    /// is missing (no kernels built, no driver, no such device, arch not in the fatbin).
    pub fn new(device: usize) -> Result<Self> {
        Ok(KernelBackend::from_device(CudaDevice::open(device)?))
    }
}

fn cuda_err(what: &str, e: DriverError) -> Error {
    Error::Cuda(format!("{what}: {e:?}"))
}

/// Checks everything short of opening a context that could fail: kernels embedded, driver
/// library present, at least one device.
fn preflight() -> std::result::Result<usize, String> {
    if !embedded::embedded() {
        return Err(format!(
            "kernels were not compiled into this binary ({}); {}",
            embedded::STATUS,
            embedded::HOW_TO_INSTALL
        ));
    }
    // SAFETY: only tries to dlopen libcuda; no driver call is made.
    if !unsafe { sys::is_culib_present() } {
        return Err("no NVIDIA driver: libcuda.so could not be loaded".into());
    }
    match CudaContext::device_count() {
        Ok(0) => Err("the NVIDIA driver sees no CUDA device".into()),
        Ok(n) => Ok(n as usize),
        Err(e) => Err(format!("the NVIDIA driver failed to initialise: {e:?}")),
    }
}

/// `Ok(name of GPU 0)` when the cuda backend can run here, else `Err(why not)`. For
/// `--backend auto` and for tests that skip without a GPU.
pub fn cuda_available() -> std::result::Result<String, String> {
    preflight()?;
    let ctx = CudaContext::new(0).map_err(|e| format!("cannot open GPU 0: {e:?}"))?;
    ctx.name().map_err(|e| format!("cannot query GPU 0: {e:?}"))
}

/// A visible GPU, for `recaux info`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct GpuInfo {
    pub ordinal: usize,
    pub name: String,
    /// (major, minor).
    pub compute_capability: (i32, i32),
    pub total_mem_bytes: usize,
}

/// The GPUs the driver sees, or why none can be used.
pub fn list_gpus() -> std::result::Result<Vec<GpuInfo>, String> {
    // The kernels are not needed to list devices.
    // SAFETY: only tries to dlopen libcuda; no driver call is made.
    if !unsafe { sys::is_culib_present() } {
        return Err("no NVIDIA driver: libcuda.so could not be loaded".into());
    }
    let n = CudaContext::device_count()
        .map_err(|e| format!("the NVIDIA driver failed to initialise: {e:?}"))?;
    let mut v = Vec::new();
    for i in 0..n as usize {
        let ctx = CudaContext::new(i).map_err(|e| format!("cannot open GPU {i}: {e:?}"))?;
        v.push(GpuInfo {
            ordinal: i,
            name: ctx.name().unwrap_or_else(|e| format!("? ({e:?})")),
            compute_capability: ctx.compute_capability().unwrap_or((0, 0)),
            total_mem_bytes: ctx.total_mem().unwrap_or(0),
        });
    }
    Ok(v)
}

#[derive(Default)]
struct Prof {
    on: bool,
    /// (op, kernel, start, end) of every launch since the last `take_profile`.
    pending: Vec<(&'static str, String, CudaEvent, CudaEvent)>,
    totals: ProfileTotals,
}

/// One GPU: a context, one stream, the loaded kernel module.
pub struct CudaDevice {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    module: sys::CUmodule,
    funcs: Mutex<HashMap<String, sys::CUfunction>>,
    prof: Mutex<Prof>,
    /// Counted where the driver is called (crate::backend::counters).
    tally: Tally,
}

// SAFETY: the raw module and function handles are plain driver handles valid in `ctx`, which
// is bound to the calling thread before every driver call; mutable state sits behind Mutexes.
// (cudarc makes the same claim for its CudaFunction.)
unsafe impl Send for CudaDevice {}
// SAFETY: as above.
unsafe impl Sync for CudaDevice {}

impl CudaDevice {
    /// Opens GPU `ordinal` and loads the embedded fatbin.
    pub fn open(ordinal: usize) -> Result<Self> {
        let count = preflight().map_err(Error::Cuda)?;
        if ordinal >= count {
            return Err(Error::Cuda(format!(
                "no GPU {ordinal}: the driver sees {count}"
            )));
        }
        let ctx = CudaContext::new(ordinal).map_err(|e| cuda_err("cannot open the GPU", e))?;
        // One stream, raw pointers in params structs: cudarc's per-buffer event tracking
        // cannot see those uses and is not needed with a single stream.
        // SAFETY: called before any buffer or stream of this context exists.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx
            .new_stream()
            .map_err(|e| cuda_err("cannot create a stream", e))?;
        let (maj, min) = ctx
            .compute_capability()
            .map_err(|e| cuda_err("compute capability", e))?;
        let cc = (maj * 10 + min) as u32;
        let built = embedded::archs();
        if built.iter().min().is_some_and(|&lo| cc < lo) {
            return Err(Error::Cuda(format!(
                "GPU {ordinal} is sm_{cc}, older than every architecture in the fatbin ({built:?}); \
                 rebuild with RECAUX_CUDA_ARCHS including {cc}"
            )));
        }
        // The driver wants the image aligned; include_bytes! gives no alignment guarantee.
        let mut image = vec![0u64; embedded::FATBIN.len().div_ceil(8)];
        bytemuck::cast_slice_mut::<u64, u8>(&mut image)[..embedded::FATBIN.len()]
            .copy_from_slice(embedded::FATBIN);
        ctx.bind_to_thread()
            .map_err(|e| cuda_err("bind context", e))?;
        // SAFETY: `image` is a complete fatbin produced by build.rs (fatbinary), alive for the
        // call; the driver copies what it needs.
        let module = unsafe { result::module::load_data(image.as_ptr() as *const c_void) }.map_err(|e| {
            Error::Cuda(format!(
                "cannot load the kernels on sm_{maj}{min} (fatbin has SASS for {:?} and PTX for the newest): {e:?}",
                embedded::archs()
            ))
        })?;
        Ok(CudaDevice {
            ctx,
            stream,
            module,
            funcs: Mutex::new(HashMap::new()),
            prof: Mutex::new(Prof::default()),
            tally: Tally::default(),
        })
    }

    fn function(&self, name: &str) -> Result<sys::CUfunction> {
        let mut funcs = self.funcs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&f) = funcs.get(name) {
            return Ok(f);
        }
        let cname =
            CString::new(name).map_err(|_| Error::Cuda(format!("bad kernel name {name:?}")))?;
        // SAFETY: the module is loaded in self.ctx (bound by the caller) and outlives the
        // returned handle (both live as long as self).
        let f = unsafe { result::module::get_function(self.module, cname) }.map_err(|e| {
            Error::Cuda(format!(
                "kernel `{name}` is not in the embedded fatbin: {e:?}"
            ))
        })?;
        funcs.insert(name.to_string(), f);
        Ok(f)
    }

    fn lock_prof(&self) -> std::sync::MutexGuard<'_, Prof> {
        self.prof.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for CudaDevice {
    fn drop(&mut self) {
        let _ = self.stream.synchronize();
        self.lock_prof().pending.clear();
        if self.ctx.bind_to_thread().is_ok() {
            // SAFETY: no kernel of the module is running (stream synchronised) and no handle
            // from it is used after this.
            let _ = unsafe { result::module::unload(self.module) };
        }
    }
}

impl Device for CudaDevice {
    type Mem = CudaSlice<u8>;

    fn name(&self) -> &'static str {
        "cuda"
    }

    fn alloc_zeroed(&self, bytes: usize) -> Result<CudaSlice<u8>> {
        // Never a zero-byte allocation: every buffer has a valid address.
        self.tally.alloc(bytes.max(16));
        self.stream
            .alloc_zeros::<u8>(bytes.max(16))
            .map_err(|e| cuda_err(&format!("alloc of {bytes} bytes"), e))
    }

    fn htod(&self, src: &[u8], dst: &mut CudaSlice<u8>) -> Result<()> {
        if src.len() > dst.len() {
            return Err(Error::shape(format!(
                "cuda: copy of {} bytes into {}",
                src.len(),
                dst.len()
            )));
        }
        if src.is_empty() {
            return Ok(());
        }
        self.tally.htod(src.len());
        self.stream
            .memcpy_htod(src, &mut dst.slice_mut(0..src.len()))
            .map_err(|e| cuda_err("host to device copy", e))
    }

    fn dtoh(&self, src: &CudaSlice<u8>, dst: &mut [u8]) -> Result<()> {
        if dst.len() > src.len() {
            return Err(Error::shape(format!(
                "cuda: copy of {} bytes out of {}",
                dst.len(),
                src.len()
            )));
        }
        if dst.is_empty() {
            return Ok(());
        }
        self.tally.dtoh(dst.len());
        self.tally.sync();
        self.stream
            .memcpy_dtoh(&src.slice(0..dst.len()), dst)
            .map_err(|e| cuda_err("device to host copy", e))?;
        self.stream
            .synchronize()
            .map_err(|e| cuda_err("synchronize", e))
    }

    fn memset_zero(&self, mem: &mut CudaSlice<u8>) -> Result<()> {
        self.tally.memset();
        self.stream
            .memset_zeros(mem)
            .map_err(|e| cuda_err("memset", e))
    }

    fn addr(&self, mem: &CudaSlice<u8>) -> u64 {
        let (p, _sync) = mem.device_ptr(&self.stream);
        p
    }

    fn launch(&self, name: &str, op: &'static str, cfg: &LaunchCfg, params: &[u8]) -> Result<()> {
        self.ctx
            .bind_to_thread()
            .map_err(|e| cuda_err("bind context", e))?;
        let f = self.function(name)?;
        let mut prof = self.lock_prof();
        let events = if prof.on {
            let flags = Some(sys::CUevent_flags::CU_EVENT_DEFAULT);
            let a = self
                .ctx
                .new_event(flags)
                .map_err(|e| cuda_err("event", e))?;
            let b = self
                .ctx
                .new_event(flags)
                .map_err(|e| cuda_err("event", e))?;
            a.record(&self.stream)
                .map_err(|e| cuda_err("event record", e))?;
            Some((a, b))
        } else {
            None
        };
        self.tally.launch();
        let mut args = [params.as_ptr() as *mut c_void];
        // SAFETY: `f` takes exactly one argument, a params struct whose bytes are `params`
        // (the #[repr(C)] mirror of the .cu struct); the driver copies it at launch. The
        // device addresses inside point into allocations the calling op borrows and checked;
        // they stay alive until the stream passes this kernel (frees are stream-ordered).
        unsafe {
            result::launch_kernel(
                f,
                (cfg.grid[0], cfg.grid[1], cfg.grid[2]),
                (cfg.block[0], cfg.block[1], cfg.block[2]),
                cfg.shared_bytes,
                self.stream.cu_stream(),
                &mut args,
            )
        }
        .map_err(|e| cuda_err(&format!("launch of `{name}` {cfg:?}"), e))?;
        if let Some((a, b)) = events {
            b.record(&self.stream)
                .map_err(|e| cuda_err("event record", e))?;
            prof.pending.push((op, name.to_string(), a, b));
        }
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        self.tally.sync();
        self.stream
            .synchronize()
            .map_err(|e| cuda_err("synchronize", e))
    }

    fn grid_cap(&self) -> u32 {
        65_535
    }

    fn set_profiling(&self, on: bool) -> Result<()> {
        self.lock_prof().on = on;
        Ok(())
    }

    fn take_profile(&self) -> Result<Vec<KernelTiming>> {
        self.sync()?;
        let mut prof = self.lock_prof();
        let pending = std::mem::take(&mut prof.pending);
        for (op, name, a, b) in pending {
            let ms = a.elapsed_ms(&b).map_err(|e| cuda_err("event elapsed", e))?;
            prof.totals.add(op, &name, ms as f64);
        }
        Ok(prof.totals.take())
    }

    fn counters(&self) -> Counters {
        self.tally.read()
    }
}
