//! The CUDA backend: kernels/*.cu from the embedded fatbin (build.rs), launched through
//! cudarc's driver API on one compute stream, via the launcher and ops shared with emu
//! ([`crate::backend::kernel`]). Only the NVIDIA driver is needed at run time.
//!
//! A second stream carries the training step's input: a batch is copied from page-locked
//! host memory on it ([`Device::send`]) while the compute stream runs the step before, and
//! the compute stream waits for that copy's event (no host wait). A step is recorded once
//! per shape with stream capture (`cuStreamBeginCapture`/`cuStreamEndCapture`,
//! `cuGraphInstantiate`) and replayed with `cuGraphLaunch`. None of this has run on a GPU
//! yet (no GPU was available); emu runs the same calls of the same `Device` trait.
//!
//! cudarc panics when libcuda is absent, so every entry point checks
//! `cudarc::driver::sys::is_culib_present()` first and returns `Error::Cuda` instead.

pub mod embedded;

use crate::backend::counters::Tally;
use crate::backend::kernel::{Device, KernelBackend, LaunchCfg, ProfileTotals};
use crate::backend::{Counters, Elem, KernelTiming, LaunchEvent};
use crate::error::{Error, Result};
use cudarc::driver::{
    CudaContext, CudaEvent, CudaGraph, CudaSlice, CudaStream, DevicePtr, DriverError, result, sys,
};
use std::collections::HashMap;
use std::ffi::{CString, c_void};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

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
    /// (op, kernel, when the host queued it, start, end) of every launch since the last
    /// `take_profile` or `take_trace`.
    pending: Vec<(&'static str, String, Instant, CudaEvent, CudaEvent)>,
    totals: ProfileTotals,
}

impl CudaDevice {
    /// Wait for the launches timed so far and move their event times into the totals and
    /// the trace (the host's queueing time as the start, the events' elapsed time as the
    /// duration).
    fn resolve_pending(&self) -> Result<()> {
        self.sync()?;
        let mut prof = self.lock_prof();
        let pending = std::mem::take(&mut prof.pending);
        for (op, name, queued, a, b) in pending {
            let ms = a.elapsed_ms(&b).map_err(|e| cuda_err("event elapsed", e))?;
            prof.totals.launch(op, &name, queued, ms as f64);
        }
        Ok(())
    }
}

/// One GPU: a context, a compute stream and a copy stream, the loaded kernel module.
pub struct CudaDevice {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    /// Host-to-device copies of the training step's input ([`Device::send`]).
    copy_stream: Arc<CudaStream>,
    module: sys::CUmodule,
    funcs: Mutex<HashMap<String, sys::CUfunction>>,
    prof: Mutex<Prof>,
    /// Counted where the driver is called (crate::backend::counters).
    tally: Tally,
    /// Whether the compute stream is being captured, and the kernels and memsets captured.
    capturing: AtomicBool,
    captured: [AtomicU64; 2],
}

/// Page-locked host memory (`cuMemHostAlloc`) with the events that order its copies.
pub struct CudaPinned {
    ptr: *mut u8,
    len: usize,
    /// Recorded after the last copy from (send) or into (fetch) this memory.
    done: CudaEvent,
    /// Recorded after the last work that reads what `send` copied (`release`).
    released: CudaEvent,
}

// SAFETY: the memory is owned by this value alone (freed in Drop); the events are driver
// handles cudarc declares Send and Sync; access to the bytes goes through &/&mut self.
unsafe impl Send for CudaPinned {}
// SAFETY: as above.
unsafe impl Sync for CudaPinned {}

impl Drop for CudaPinned {
    fn drop(&mut self) {
        // a copy may still read or write the memory
        let _ = self.done.synchronize();
        // SAFETY: allocated by cuMemHostAlloc in alloc_pinned, freed once, no copy in flight.
        let _ = unsafe { result::free_host(self.ptr as *mut c_void) };
    }
}

impl CudaPinned {
    fn bytes(&self) -> &[u8] {
        // SAFETY: `len` bytes allocated (and zeroed) in alloc_pinned, owned by self; callers
        // waited for any copy into them.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above; `&mut self` excludes other access, callers waited for any copy.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

/// A captured and instantiated step, with what it contains.
pub struct CudaStepGraph {
    graph: Option<CudaGraph>,
    kernels: u64,
    memsets: u64,
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
        let copy_stream = ctx
            .new_stream()
            .map_err(|e| cuda_err("cannot create the copy stream", e))?;
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
            copy_stream,
            module,
            funcs: Mutex::new(HashMap::new()),
            prof: Mutex::new(Prof::default()),
            tally: Tally::default(),
            capturing: AtomicBool::new(false),
            captured: [AtomicU64::new(0), AtomicU64::new(0)],
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

    /// An error while the compute stream is captured: `what` would make the host and the
    /// device meet, which stream capture refuses (cudaErrorStreamCaptureUnsupported).
    fn not_while_capturing(&self, what: &str) -> Result<()> {
        if self.capturing.load(Ordering::Relaxed) {
            return Err(Error::Unsupported(format!(
                "cuda: {what} while a step is being captured"
            )));
        }
        Ok(())
    }

    fn event(&self) -> Result<CudaEvent> {
        self.ctx
            .new_event(Some(sys::CUevent_flags::CU_EVENT_DISABLE_TIMING))
            .map_err(|e| cuda_err("event", e))
    }
}

impl Drop for CudaDevice {
    fn drop(&mut self) {
        let _ = self.copy_stream.synchronize();
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
    type Pinned = CudaPinned;
    type Graph = CudaStepGraph;

    fn name(&self) -> &'static str {
        "cuda"
    }

    fn alloc_zeroed(&self, bytes: usize) -> Result<CudaSlice<u8>> {
        self.not_while_capturing("an allocation")?;
        // Never a zero-byte allocation: every buffer has a valid address.
        self.tally.alloc(bytes.max(16));
        self.stream
            .alloc_zeros::<u8>(bytes.max(16))
            .map_err(|e| cuda_err(&format!("alloc of {bytes} bytes"), e))
    }

    fn htod(&self, src: &[u8], dst: &mut CudaSlice<u8>) -> Result<()> {
        self.not_while_capturing("a copy to the device")?;
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
        self.not_while_capturing("a copy to the host")?;
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
        if self.capturing.load(Ordering::Relaxed) {
            self.captured[1].fetch_add(1, Ordering::Relaxed);
        } else {
            self.tally.memset();
        }
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
        if cfg.shared_bytes > 48 * 1024 {
            // Dynamic shared memory above 48 KiB must be opted into per function.
            // SAFETY: `f` is a function of this context's module (bound above).
            unsafe {
                result::function::set_function_attribute(
                    f,
                    sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                    cfg.shared_bytes as i32,
                )
            }
            .map_err(|e| {
                cuda_err(
                    &format!(
                        "`{name}`: {} bytes of dynamic shared memory",
                        cfg.shared_bytes
                    ),
                    e,
                )
            })?;
        }
        let capturing = self.capturing.load(Ordering::Relaxed);
        let mut prof = self.lock_prof();
        // no timing events inside a capture: the step then runs eagerly when profiled
        let queued = Instant::now();
        let events = if prof.on && !capturing {
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
        if capturing {
            self.captured[0].fetch_add(1, Ordering::Relaxed);
        } else {
            self.tally.launch();
        }
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
            prof.pending.push((op, name.to_string(), queued, a, b));
        }
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        self.not_while_capturing("a synchronisation")?;
        self.tally.sync();
        self.stream
            .synchronize()
            .map_err(|e| cuda_err("synchronize", e))
    }

    fn grid_cap(&self) -> u32 {
        65_535
    }

    fn set_profiling(&self, on: bool) -> Result<()> {
        let mut prof = self.lock_prof();
        prof.on = on;
        prof.totals.set_on(on);
        Ok(())
    }

    fn take_profile(&self) -> Result<Vec<KernelTiming>> {
        self.resolve_pending()?;
        Ok(self.lock_prof().totals.take())
    }

    fn take_trace(&self) -> Result<Vec<LaunchEvent>> {
        self.resolve_pending()?;
        Ok(self.lock_prof().totals.take_trace())
    }

    fn counters(&self) -> Counters {
        self.tally.read()
    }

    fn alloc_pinned(&self, bytes: usize) -> Result<CudaPinned> {
        self.not_while_capturing("an allocation")?;
        let len = bytes.max(16);
        self.ctx
            .bind_to_thread()
            .map_err(|e| cuda_err("bind context", e))?;
        self.tally.alloc(len);
        // SAFETY: a plain page-locked allocation (flags 0: readable by the host, which reads
        // records back from it); zeroed below before any use.
        let ptr = unsafe { result::malloc_host(len, 0) }
            .map_err(|e| cuda_err(&format!("page-locked allocation of {len} bytes"), e))?
            as *mut u8;
        // SAFETY: `len` bytes were just allocated at `ptr`.
        unsafe { std::ptr::write_bytes(ptr, 0, len) };
        Ok(CudaPinned {
            ptr,
            len,
            done: self.event()?,
            released: self.event()?,
        })
    }

    fn pinned_len(&self, p: &CudaPinned) -> usize {
        p.len
    }

    fn pinned_mut<'a>(&self, p: &'a mut CudaPinned) -> Result<&'a mut [u8]> {
        self.not_while_capturing("writing pinned memory")?;
        // the last send may still read it: wait only if it has not finished (a sync then)
        if !p
            .done
            .try_is_complete()
            .map_err(|e| cuda_err("event query", e))?
        {
            self.tally.sync();
            p.done
                .synchronize()
                .map_err(|e| cuda_err("event synchronize", e))?;
        }
        Ok(p.bytes_mut())
    }

    fn pinned_read<'a>(&self, p: &'a CudaPinned) -> Result<&'a [u8]> {
        self.not_while_capturing("reading pinned memory")?;
        self.tally.sync();
        p.done
            .synchronize()
            .map_err(|e| cuda_err("event synchronize", e))?;
        Ok(p.bytes())
    }

    fn send(&self, src: &mut CudaPinned, dst: &mut CudaSlice<u8>, bytes: usize) -> Result<()> {
        self.not_while_capturing("a copy to the device")?;
        debug_assert!(bytes <= src.len && bytes <= dst.len());
        let dst_ptr = self.addr(dst);
        // not over data the compute stream may still read (the step before last)
        self.copy_stream
            .wait(&src.released)
            .map_err(|e| cuda_err("stream wait", e))?;
        self.tally.htod(bytes);
        // SAFETY: `dst` holds at least `bytes` bytes (checked in front) and outlives the copy
        // (buffers are freed in stream order after the compute stream, which waits for it);
        // `src` is page-locked and not written before `done` completes (pinned_mut waits).
        unsafe {
            result::memcpy_htod_async(dst_ptr, &src.bytes()[..bytes], self.copy_stream.cu_stream())
        }
        .map_err(|e| cuda_err("host to device copy (copy stream)", e))?;
        src.done
            .record(&self.copy_stream)
            .map_err(|e| cuda_err("event record", e))?;
        // whatever the compute stream runs next sees the copy
        self.stream
            .wait(&src.done)
            .map_err(|e| cuda_err("stream wait", e))
    }

    fn release(&self, src: &mut CudaPinned) -> Result<()> {
        src.released
            .record(&self.stream)
            .map_err(|e| cuda_err("event record", e))
    }

    fn fetch(&self, src: &CudaSlice<u8>, bytes: usize, dst: &mut CudaPinned) -> Result<()> {
        self.not_while_capturing("a copy to the host")?;
        debug_assert!(bytes <= src.len() && bytes <= dst.len);
        self.tally.dtoh(bytes);
        let src_ptr = self.addr(src);
        // SAFETY: `dst` is page-locked memory of at least `bytes` bytes that nothing reads
        // before `done` completes (pinned_read waits); `src` holds `bytes` bytes and is freed
        // only in stream order after this copy.
        unsafe {
            result::memcpy_dtoh_async(
                &mut dst.bytes_mut()[..bytes],
                src_ptr,
                self.stream.cu_stream(),
            )
        }
        .map_err(|e| cuda_err("device to host copy", e))?;
        dst.done
            .record(&self.stream)
            .map_err(|e| cuda_err("event record", e))
    }

    fn capture_begin(&self) -> Result<()> {
        if self.capturing.swap(true, Ordering::Relaxed) {
            return Err(Error::Unsupported(
                "cuda: a step is already being captured".into(),
            ));
        }
        self.captured[0].store(0, Ordering::Relaxed);
        self.captured[1].store(0, Ordering::Relaxed);
        // Thread-local mode: a call on this thread that is not allowed during capture fails
        // instead of silently synchronising.
        let r = self
            .stream
            .begin_capture(sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
        if let Err(e) = r {
            self.capturing.store(false, Ordering::Relaxed);
            return Err(Error::Unsupported(format!(
                "cuda: stream capture could not start: {e:?}"
            )));
        }
        Ok(())
    }

    fn capture_end(&self) -> Result<CudaStepGraph> {
        let r = self.stream.end_capture(sys::CUgraphInstantiate_flags(0));
        self.capturing.store(false, Ordering::Relaxed);
        let graph = r.map_err(|e| cuda_err("end of stream capture / graph instantiation", e))?;
        Ok(CudaStepGraph {
            graph,
            kernels: self.captured[0].load(Ordering::Relaxed),
            memsets: self.captured[1].load(Ordering::Relaxed),
        })
    }

    unsafe fn graph_launch(&self, g: &CudaStepGraph) -> Result<()> {
        self.not_while_capturing("a graph launch")?;
        if let Some(graph) = &g.graph {
            graph.launch().map_err(|e| cuda_err("graph launch", e))?;
        }
        self.tally.graph(g.kernels);
        for _ in 0..g.memsets {
            self.tally.memset();
        }
        Ok(())
    }

    fn graph_len(&self, g: &CudaStepGraph) -> usize {
        (g.kernels + g.memsets) as usize
    }
}
