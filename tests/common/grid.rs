//! The "correct for any grid" rule (kernels/README.md), tested: a [`Device`] wrapper that
//! replaces the grid of every launch, and a check that an op's outputs are bit-identical with
//! the op's own grid, with ONE block in every dimension, and with an oversized grid (more
//! blocks than there is work in every dimension the kernel strides over, so whole blocks
//! find nothing to do).

use recaux::backend::kernel::{Device, KernelBackend, LaunchCfg};
use recaux::backend::{Counters, Elem, KernelTiming, LaunchEvent};
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What [`ForcedGrid`] does to each launch's grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GridMode {
    /// Leave it as the op chose.
    AsAsked,
    /// One block in x, y and z.
    One,
    /// More blocks than asked in every dimension the kernel strides over (x: 2x + 3,
    /// y: y + 2, z: z + 1); the others stay 1, as the kernel's launch rule requires.
    Oversized,
}

impl GridMode {
    fn apply(self, g: [u32; 3], dims: usize) -> [u32; 3] {
        match self {
            GridMode::AsAsked => g,
            GridMode::One => [1, 1, 1],
            GridMode::Oversized => {
                let big = [
                    g[0].saturating_mul(2).saturating_add(3),
                    (g[1] + 2).min(65_535),
                    (g[2] + 1).min(65_535),
                ];
                [0, 1, 2].map(|d| if d < dims { big[d] } else { g[d] })
            }
        }
    }
}

/// The grid dimensions kernel `name` strides over (the generated table).
fn grid_dims(name: &str) -> usize {
    recaux::backend::kernel::table::ALL
        .iter()
        .find(|k| k.name == name)
        .map_or(1, |k| k.grid_dims as usize)
}

/// A device whose launches run with the grid [`GridMode`] says; it records the kernels it
/// launched and how many launches it changed. (The launcher checked the op's own grid
/// against the kernel's rules before it got here.)
pub struct ForcedGrid<D> {
    inner: D,
    mode: GridMode,
    launched: Mutex<BTreeSet<String>>,
    changed: AtomicUsize,
}

impl<D> ForcedGrid<D> {
    pub fn new(inner: D, mode: GridMode) -> Self {
        ForcedGrid {
            inner,
            mode,
            launched: Mutex::new(BTreeSet::new()),
            changed: AtomicUsize::new(0),
        }
    }
    /// Kernel names launched so far.
    pub fn launched(&self) -> BTreeSet<String> {
        self.launched.lock().unwrap().clone()
    }
    /// Launches whose grid was changed.
    pub fn changed(&self) -> usize {
        self.changed.load(Ordering::Relaxed)
    }
}

impl<D: Device> Device for ForcedGrid<D> {
    type Mem = D::Mem;
    type Pinned = D::Pinned;
    type Graph = D::Graph;
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn alloc_zeroed(&self, bytes: usize) -> recaux::Result<D::Mem> {
        self.inner.alloc_zeroed(bytes)
    }
    fn htod(&self, src: &[u8], dst: &mut D::Mem) -> recaux::Result<()> {
        self.inner.htod(src, dst)
    }
    fn dtoh(&self, src: &D::Mem, dst: &mut [u8]) -> recaux::Result<()> {
        self.inner.dtoh(src, dst)
    }
    fn memset_zero(&self, mem: &mut D::Mem) -> recaux::Result<()> {
        self.inner.memset_zero(mem)
    }
    fn addr(&self, mem: &D::Mem) -> u64 {
        self.inner.addr(mem)
    }
    fn launch(
        &self,
        name: &str,
        op: &'static str,
        cfg: &LaunchCfg,
        params: &[u8],
    ) -> recaux::Result<()> {
        let mut c = *cfg;
        c.grid = self.mode.apply(cfg.grid, grid_dims(name));
        if c.grid != cfg.grid {
            self.changed.fetch_add(1, Ordering::Relaxed);
        }
        self.launched.lock().unwrap().insert(name.to_string());
        self.inner.launch(name, op, &c, params)
    }
    fn sync(&self) -> recaux::Result<()> {
        self.inner.sync()
    }
    fn grid_cap(&self) -> u32 {
        self.inner.grid_cap()
    }
    fn set_profiling(&self, on: bool) -> recaux::Result<()> {
        self.inner.set_profiling(on)
    }
    fn take_profile(&self) -> recaux::Result<Vec<KernelTiming>> {
        self.inner.take_profile()
    }
    fn take_trace(&self) -> recaux::Result<Vec<LaunchEvent>> {
        self.inner.take_trace()
    }
    fn counters(&self) -> Counters {
        self.inner.counters()
    }
    fn alloc_pinned(&self, bytes: usize) -> recaux::Result<D::Pinned> {
        self.inner.alloc_pinned(bytes)
    }
    fn pinned_len(&self, p: &D::Pinned) -> usize {
        self.inner.pinned_len(p)
    }
    fn pinned_mut<'a>(&self, p: &'a mut D::Pinned) -> recaux::Result<&'a mut [u8]> {
        self.inner.pinned_mut(p)
    }
    fn pinned_read<'a>(&self, p: &'a D::Pinned) -> recaux::Result<&'a [u8]> {
        self.inner.pinned_read(p)
    }
    fn send(&self, src: &mut D::Pinned, dst: &mut D::Mem, bytes: usize) -> recaux::Result<()> {
        self.inner.send(src, dst, bytes)
    }
    fn release(&self, src: &mut D::Pinned) -> recaux::Result<()> {
        self.inner.release(src)
    }
    fn fetch(&self, src: &D::Mem, bytes: usize, dst: &mut D::Pinned) -> recaux::Result<()> {
        self.inner.fetch(src, bytes, dst)
    }
    fn capture_begin(&self) -> recaux::Result<()> {
        self.inner.capture_begin()
    }
    fn capture_end(&self) -> recaux::Result<D::Graph> {
        self.inner.capture_end()
    }
    unsafe fn graph_launch(&self, g: &D::Graph) -> recaux::Result<()> {
        // SAFETY: the caller's promise, passed on.
        unsafe { self.inner.graph_launch(g) }
    }
    fn graph_len(&self, g: &D::Graph) -> usize {
        self.inner.graph_len(g)
    }
}

/// A kernel backend over `D` with every launch's grid forced.
pub type Forced<T, D> = KernelBackend<T, ForcedGrid<D>>;

/// Runs `f` (an op's outputs) with the op's own grid, with one block and with an oversized
/// grid; all three must be bit-identical, and both forced modes must have changed at least
/// one launch (else the check proves nothing). Returns the kernels launched.
pub fn same_for_any_grid<T: Elem, D: Device>(
    what: &str,
    make: impl Fn() -> D,
    f: impl Fn(&Forced<T, D>) -> Vec<Vec<T>>,
) -> BTreeSet<String> {
    let run = |mode| {
        let be = KernelBackend::<T, _>::from_device(ForcedGrid::new(make(), mode));
        let out = f(&be);
        let dev = be.device();
        (out, dev.launched(), dev.changed())
    };
    let (base, names, _) = run(GridMode::AsAsked);
    assert!(!names.is_empty(), "{what}: no kernel was launched");
    for mode in [GridMode::One, GridMode::Oversized] {
        let (out, _, changed) = run(mode);
        assert!(
            changed > 0,
            "{what} {}: {mode:?} changed no launch's grid: the check would prove nothing",
            T::DTYPE
        );
        assert_eq!(out.len(), base.len(), "{what}: outputs");
        for (k, (a, b)) in base.iter().zip(&out).enumerate() {
            super::assert_bits_eq(
                &format!(
                    "{what} {} output {k}, {mode:?} grid vs the op's own",
                    T::DTYPE
                ),
                a,
                b,
            );
        }
    }
    names
}

/// [`same_for_any_grid`] on emu f32 and f64 and, when a GPU is usable, cuda f32 and f64, for
/// a body `$f::<B>(&B) -> Vec<Vec<B::T>>`, or with `kernel`, a body over kernel backends
/// `$f::<T, D>(&KernelBackend<T, D>) -> Vec<Vec<T>>` (an op's fast path, not a `Backend`
/// method yet); evaluates to the kernel names launched (emu).
#[macro_export]
macro_rules! grid_independent {
    ($what:expr, kernel $f:ident) => {{
        use recaux::backend::cuda::{CudaDevice, cuda_available};
        use recaux::backend::emu::EmuDevice;
        use $crate::common::grid::{ForcedGrid, same_for_any_grid};
        let mut names = same_for_any_grid::<f32, _>($what, EmuDevice::default, |b| {
            $f::<f32, ForcedGrid<EmuDevice>>(b)
        });
        names.extend(same_for_any_grid::<f64, _>(
            $what,
            EmuDevice::default,
            |b| $f::<f64, ForcedGrid<EmuDevice>>(b),
        ));
        match cuda_available() {
            Ok(_) => {
                let open = || CudaDevice::open(0).expect("cuda device");
                same_for_any_grid::<f32, _>($what, open, |b| $f::<f32, ForcedGrid<CudaDevice>>(b));
                same_for_any_grid::<f64, _>($what, open, |b| $f::<f64, ForcedGrid<CudaDevice>>(b));
            }
            Err(why) => $crate::common::skip::skip_notice(&format!("SKIP cuda: {why}")),
        }
        names
    }};
    ($what:expr, $f:ident) => {{
        use recaux::backend::cuda::{CudaDevice, cuda_available};
        use recaux::backend::emu::EmuDevice;
        use $crate::common::grid::{Forced, same_for_any_grid};
        let mut names = same_for_any_grid::<f32, _>($what, EmuDevice::default, |b| {
            $f::<Forced<f32, EmuDevice>>(b)
        });
        names.extend(same_for_any_grid::<f64, _>(
            $what,
            EmuDevice::default,
            |b| $f::<Forced<f64, EmuDevice>>(b),
        ));
        match cuda_available() {
            Ok(_) => {
                let open = || CudaDevice::open(0).expect("cuda device");
                same_for_any_grid::<f32, _>($what, open, |b| $f::<Forced<f32, CudaDevice>>(b));
                same_for_any_grid::<f64, _>($what, open, |b| $f::<Forced<f64, CudaDevice>>(b));
            }
            Err(why) => $crate::common::skip::skip_notice(&format!("SKIP cuda: {why}")),
        }
        names
    }};
}
