//! The emu backend: kernels/*.cu compiled for the host (build.rs, the `cc` crate, against
//! kernels/emu/shim.h) and run block by block, each CUDA thread a host thread, through the same
//! launcher and ops as the cuda backend ([`crate::backend::kernel`]). Device memory is host
//! memory; launches are synchronous. It exists to run (and sanitize) the real kernel code on
//! machines without a GPU.

use crate::backend::counters::Tally;
use crate::backend::kernel::{Device, KernelBackend, LaunchCfg, ProfileTotals};
use crate::backend::{Counters, Elem, KernelTiming, LaunchEvent};
use crate::error::{Error, Result};
use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::ptr::NonNull;
use std::sync::Mutex;
use std::time::Instant;

unsafe extern "C" {
    fn recaux_emu_launch(
        name: *const c_char,
        grid: *const u32,
        block: *const u32,
        shared_bytes: u32,
        params: *const c_void,
        params_size: usize,
        err: *mut c_char,
        errlen: usize,
    ) -> c_int;
    fn recaux_emu_kernel_count() -> usize;
    fn recaux_emu_kernel_name(i: usize) -> *const c_char;
    fn recaux_emu_params_size(name: *const c_char) -> usize;
}

/// The backend: the kernels on the host. `EmuBackend::<f32>::new()`.
pub type EmuBackend<T> = KernelBackend<T, EmuDevice>;

impl<T: Elem> KernelBackend<T, EmuDevice> {
    /// The emu backend (always available: the library is built with the crate).
    pub fn new() -> Result<Self> {
        Ok(KernelBackend::from_device(EmuDevice::default()))
    }
}

/// How the emu library was built: "plain" or "sanitize=thread|address".
pub const FLAVOUR: &str = env!("RECAUX_EMU_FLAVOUR");

/// Names of the kernels in the emu library, in registration order.
pub fn kernel_names() -> Vec<String> {
    // SAFETY: both functions only read the registry, which is complete once static
    // initialisation has run (before main); names are NUL-terminated static strings.
    unsafe {
        (0..recaux_emu_kernel_count())
            .filter_map(|i| {
                let p = recaux_emu_kernel_name(i);
                (!p.is_null()).then(|| CStr::from_ptr(p).to_string_lossy().into_owned())
            })
            .collect()
    }
}

/// The size of kernel `name`'s params struct as compiled, if the kernel exists.
pub fn params_size(name: &str) -> Option<usize> {
    let c = CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let n = unsafe { recaux_emu_params_size(c.as_ptr()) };
    (n > 0).then_some(n)
}

/// Host memory standing in for device memory: 16-byte aligned, zero-filled, owned.
pub struct EmuMem {
    ptr: NonNull<u8>,
    bytes: usize,
    layout: Layout,
}

// SAFETY: EmuMem owns its allocation exclusively (like a Box<[u8]>); the kernels that write
// through its address run inside a launch that borrows it, and launches are synchronous.
unsafe impl Send for EmuMem {}
// SAFETY: shared references only read through it (dtoh, addr of an input buffer).
unsafe impl Sync for EmuMem {}

impl Drop for EmuMem {
    fn drop(&mut self) {
        // SAFETY: allocated in `alloc_zeroed` with exactly this layout, freed once.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

/// One recorded operation of an [`EmuGraph`].
#[derive(Clone, Debug)]
enum Rec {
    /// A kernel launch: its name, op (profiles), grid and params bytes as given.
    Kernel {
        name: CString,
        op: &'static str,
        cfg: LaunchCfg,
        params: Vec<u8>,
    },
    /// A memset of `bytes` bytes at host address `addr`.
    Memset { addr: u64, bytes: usize },
}

/// A recorded step on emu: the launches and memsets in order, replayed with the params they
/// were recorded with (what a CUDA graph does). It holds addresses: replaying it needs every
/// buffer it used alive (`graph_launch` is unsafe for that reason).
#[derive(Clone, Debug, Default)]
pub struct EmuGraph {
    ops: Vec<Rec>,
}

/// The emulated device: host memory and the emu library's launcher; a step can be recorded
/// (launch list) and replayed, under CUDA's stream-capture rules (no copy, sync or allocation
/// while recording).
#[derive(Default)]
pub struct EmuDevice {
    profiling: Mutex<(bool, ProfileTotals)>,
    /// Counted at the same calls as the cuda device's (a `dtoh` counts as a sync, as it does
    /// there), so emu's counters are what cuda would do for the same work.
    tally: Tally,
    /// `Some` while a step is being recorded.
    recording: Mutex<Option<Vec<Rec>>>,
}

impl EmuDevice {
    fn lock_prof(&self) -> std::sync::MutexGuard<'_, (bool, ProfileTotals)> {
        self.profiling.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_rec(&self) -> std::sync::MutexGuard<'_, Option<Vec<Rec>>> {
        self.recording.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An error while a step is being recorded: `what` would need the host and the device
    /// to meet (CUDA refuses it during stream capture: cudaErrorStreamCaptureUnsupported).
    fn not_while_recording(&self, what: &str) -> Result<()> {
        if self.lock_rec().is_some() {
            return Err(Error::Unsupported(format!(
                "emu: {what} while a step is being recorded (CUDA refuses it during stream \
                 capture)"
            )));
        }
        Ok(())
    }

    /// Run kernel `name` now (profiled under `op` when profiling is on).
    fn run(&self, name: &CStr, op: &'static str, cfg: &LaunchCfg, params: &[u8]) -> Result<()> {
        let mut err = [0 as c_char; 256];
        let t0 = Instant::now();
        // SAFETY: every pointer is valid for the call; `params` is the kernel's params struct
        // (its size is checked against the C++ one by the library); the addresses inside it
        // come from EmuMem allocations that the calling op borrows for the duration of this
        // synchronous call (or, in a replay, that the replay's caller keeps alive), with the
        // lengths the op checked.
        let rc = unsafe {
            recaux_emu_launch(
                name.as_ptr(),
                cfg.grid.as_ptr(),
                cfg.block.as_ptr(),
                cfg.shared_bytes,
                params.as_ptr() as *const c_void,
                params.len(),
                err.as_mut_ptr(),
                err.len(),
            )
        };
        if rc != 0 {
            // SAFETY: the library wrote a NUL-terminated message into `err` (snprintf).
            let msg = unsafe { CStr::from_ptr(err.as_ptr()) }
                .to_string_lossy()
                .into_owned();
            return Err(Error::Cuda(format!("emu launch: {msg}")));
        }
        let mut prof = self.lock_prof();
        if prof.0 {
            prof.1.launch(
                op,
                &name.to_string_lossy(),
                t0,
                t0.elapsed().as_secs_f64() * 1e3,
            );
        }
        Ok(())
    }
}

/// Host memory standing in for page-locked memory: an [`EmuMem`] (copies are synchronous, so
/// there is never a copy in flight to wait for).
pub struct EmuPinned(EmuMem);

impl EmuPinned {
    fn bytes(&self) -> &[u8] {
        // SAFETY: the allocation holds `bytes` initialised (zeroed) bytes, owned by self.
        unsafe { std::slice::from_raw_parts(self.0.ptr.as_ptr(), self.0.bytes) }
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above, and `&mut self` excludes any other access.
        unsafe { std::slice::from_raw_parts_mut(self.0.ptr.as_ptr(), self.0.bytes) }
    }
}

impl Device for EmuDevice {
    type Mem = EmuMem;
    type Pinned = EmuPinned;
    type Graph = EmuGraph;

    fn name(&self) -> &'static str {
        "emu"
    }

    fn alloc_zeroed(&self, bytes: usize) -> Result<EmuMem> {
        self.not_while_recording("an allocation")?;
        let layout = Layout::from_size_align(bytes.max(16), 16)
            .map_err(|e| Error::shape(format!("emu: allocation of {bytes} bytes: {e}")))?;
        // SAFETY: the layout has a non-zero size.
        let p = unsafe { alloc_zeroed(layout) };
        let ptr = NonNull::new(p)
            .ok_or_else(|| Error::Cuda(format!("emu: out of host memory ({bytes} bytes)")))?;
        self.tally.alloc(bytes);
        Ok(EmuMem { ptr, bytes, layout })
    }

    fn htod(&self, src: &[u8], dst: &mut EmuMem) -> Result<()> {
        self.not_while_recording("a copy to the device")?;
        if src.len() > dst.bytes {
            return Err(Error::shape(format!(
                "emu: copy of {} bytes into {}",
                src.len(),
                dst.bytes
            )));
        }
        // SAFETY: dst owns at least src.len() bytes; `&mut` excludes any other access.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst.ptr.as_ptr(), src.len()) };
        self.tally.htod(src.len());
        Ok(())
    }

    fn dtoh(&self, src: &EmuMem, dst: &mut [u8]) -> Result<()> {
        self.not_while_recording("a copy to the host")?;
        if dst.len() > src.bytes {
            return Err(Error::shape(format!(
                "emu: copy of {} bytes out of {}",
                dst.len(),
                src.bytes
            )));
        }
        // SAFETY: src owns at least dst.len() bytes, initialised (zeroed at allocation).
        unsafe { std::ptr::copy_nonoverlapping(src.ptr.as_ptr(), dst.as_mut_ptr(), dst.len()) };
        // cuda's dtoh waits for the stream: a sync there, so one here.
        self.tally.dtoh(dst.len());
        self.tally.sync();
        Ok(())
    }

    fn memset_zero(&self, mem: &mut EmuMem) -> Result<()> {
        if let Some(rec) = self.lock_rec().as_mut() {
            rec.push(Rec::Memset {
                addr: mem.ptr.as_ptr() as u64,
                bytes: mem.bytes,
            });
            return Ok(());
        }
        // SAFETY: mem owns `bytes` bytes; `&mut` excludes any other access.
        unsafe { std::ptr::write_bytes(mem.ptr.as_ptr(), 0, mem.bytes) };
        self.tally.memset();
        Ok(())
    }

    fn addr(&self, mem: &EmuMem) -> u64 {
        mem.ptr.as_ptr() as u64
    }

    fn launch(&self, name: &str, op: &'static str, cfg: &LaunchCfg, params: &[u8]) -> Result<()> {
        let cname = CString::new(name)
            .map_err(|_| Error::Cuda(format!("emu: bad kernel name {name:?}")))?;
        if let Some(rec) = self.lock_rec().as_mut() {
            rec.push(Rec::Kernel {
                name: cname,
                op,
                cfg: *cfg,
                params: params.to_vec(),
            });
            return Ok(());
        }
        self.tally.launch();
        self.run(&cname, op, cfg, params)
    }

    fn sync(&self) -> Result<()> {
        self.not_while_recording("a synchronisation")?;
        self.tally.sync();
        Ok(())
    }

    fn grid_cap(&self) -> u32 {
        // Each block costs a barrier round over the host threads; grid-stride kernels cover
        // the rest (and this exercises their loops).
        8
    }

    fn set_profiling(&self, on: bool) -> Result<()> {
        let mut p = self.lock_prof();
        p.0 = on;
        p.1.set_on(on);
        Ok(())
    }

    fn take_profile(&self) -> Result<Vec<KernelTiming>> {
        Ok(self.lock_prof().1.take())
    }

    fn take_trace(&self) -> Result<Vec<LaunchEvent>> {
        Ok(self.lock_prof().1.take_trace())
    }

    fn counters(&self) -> Counters {
        self.tally.read()
    }

    fn alloc_pinned(&self, bytes: usize) -> Result<EmuPinned> {
        self.alloc_zeroed(bytes).map(EmuPinned)
    }

    fn pinned_len(&self, p: &EmuPinned) -> usize {
        p.0.bytes
    }

    fn pinned_mut<'a>(&self, p: &'a mut EmuPinned) -> Result<&'a mut [u8]> {
        self.not_while_recording("writing pinned memory")?;
        // copies are synchronous: nothing is in flight
        Ok(p.bytes_mut())
    }

    fn pinned_read<'a>(&self, p: &'a EmuPinned) -> Result<&'a [u8]> {
        self.not_while_recording("reading pinned memory")?;
        // cuda waits for the fetch's event here: a sync
        self.tally.sync();
        Ok(p.bytes())
    }

    fn send(&self, src: &mut EmuPinned, dst: &mut EmuMem, bytes: usize) -> Result<()> {
        self.not_while_recording("a copy to the device")?;
        debug_assert!(bytes <= src.0.bytes && bytes <= dst.bytes);
        // SAFETY: both own at least `bytes` bytes (checked in front); distinct allocations.
        unsafe { std::ptr::copy_nonoverlapping(src.0.ptr.as_ptr(), dst.ptr.as_ptr(), bytes) };
        self.tally.htod(bytes);
        Ok(())
    }

    fn release(&self, _src: &mut EmuPinned) -> Result<()> {
        // launches are synchronous: the work that reads the slot is done
        Ok(())
    }

    fn fetch(&self, src: &EmuMem, bytes: usize, dst: &mut EmuPinned) -> Result<()> {
        self.not_while_recording("a copy to the host")?;
        debug_assert!(bytes <= src.bytes && bytes <= dst.0.bytes);
        // SAFETY: both own at least `bytes` bytes (checked in front); distinct allocations.
        unsafe { std::ptr::copy_nonoverlapping(src.ptr.as_ptr(), dst.0.ptr.as_ptr(), bytes) };
        self.tally.dtoh(bytes);
        Ok(())
    }

    fn capture_begin(&self) -> Result<()> {
        let mut rec = self.lock_rec();
        if rec.is_some() {
            return Err(Error::Unsupported(
                "emu: a step is already being recorded".into(),
            ));
        }
        *rec = Some(Vec::new());
        Ok(())
    }

    fn capture_end(&self) -> Result<EmuGraph> {
        let ops = self
            .lock_rec()
            .take()
            .ok_or_else(|| Error::Unsupported("emu: no step is being recorded".into()))?;
        Ok(EmuGraph { ops })
    }

    unsafe fn graph_launch(&self, g: &EmuGraph) -> Result<()> {
        self.not_while_recording("a replay")?;
        let mut kernels = 0;
        for op in &g.ops {
            match op {
                Rec::Kernel {
                    name,
                    op,
                    cfg,
                    params,
                } => {
                    kernels += 1;
                    self.run(name, op, cfg, params)?;
                }
                Rec::Memset { addr, bytes } => {
                    // SAFETY: the caller keeps every recorded buffer alive (graph_launch's
                    // contract); `addr` is the start of one of `bytes` bytes.
                    unsafe { std::ptr::write_bytes(*addr as *mut u8, 0, *bytes) };
                    self.tally.memset();
                }
            }
        }
        self.tally.graph(kernels);
        Ok(())
    }

    fn graph_len(&self, g: &EmuGraph) -> usize {
        g.ops.len()
    }
}
