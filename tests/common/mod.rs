//! Helpers shared by the op and kernel tests: data, tolerances, the f64 reference, running
//! one test body on every backend, and devices that force the grid of every launch.
//!
//! The oracle of every comparison is the plain f64 CPU path (`CpuBackend<f64>`), run on the
//! same inputs after rounding them to the element type under test; the fast f32 CPU path is
//! one of the backends under test, never a reference. The f64 path itself is checked against
//! independent formulas (tests/ops/<op>.rs), finite differences (`recaux gradcheck`) and
//! PyTorch (tests/torch_parity.rs).

#![allow(dead_code)]

pub mod grid;
pub mod lstm;
pub mod model;
pub mod skip;

use recaux::backend::cpu::CpuBackend;
use recaux::backend::{Backend, Elem};

/// |got - ref| <= atol + rtol |ref|.
#[derive(Clone, Copy, Debug)]
pub struct Tol {
    pub atol: f64,
    pub rtol: f64,
}
impl Tol {
    pub const fn rel(rtol: f64) -> Tol {
        Tol { atol: 0.0, rtol }
    }
    pub const fn new(atol: f64, rtol: f64) -> Tol {
        Tol { atol, rtol }
    }
}
/// Bit-exact (up to the sign of zero).
pub const EXACT: Tol = Tol {
    atol: 0.0,
    rtol: 0.0,
};
/// f32's machine epsilon (2^-23): one rounding of a result is at most half of it, relative.
pub const EPS32: f64 = f32::EPSILON as f64;
/// f64's machine epsilon (2^-52).
pub const EPS64: f64 = f64::EPSILON;

/// `n` values in [-1, 1), reproducible per `seed` (Philox via rng::init_uniform).
pub fn data(n: usize, seed: u32) -> Vec<f64> {
    recaux::rng::init_uniform(0xC0FFEE, seed, n, -1.0, 1.0)
}

pub fn tv<T: Elem>(v: &[f64]) -> Vec<T> {
    v.iter().map(|&x| T::of(x)).collect()
}

/// `v` rounded to `T` and back: the exact inputs a `T` backend sees, for the f64 reference.
pub fn rounded<T: Elem>(v: &[f64]) -> Vec<f64> {
    v.iter().map(|&x| T::of(x).f64()).collect()
}

pub fn f64s<T: Elem>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.f64()).collect()
}

/// The reference backend.
pub fn reference() -> CpuBackend<f64> {
    CpuBackend::<f64>::new()
}

/// Compare against a reference with the tolerance of the element type.
pub fn check<B: Backend>(be: &B, what: &str, got: &[B::T], want: &[f64], t32: Tol, t64: Tol) {
    let tol = if B::T::DTYPE == "f32" { t32 } else { t64 };
    assert_eq!(
        got.len(),
        want.len(),
        "{} {} {what}: length",
        be.name(),
        B::T::DTYPE
    );
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let g = g.f64();
        if g.is_nan() && w.is_nan() {
            continue;
        }
        let err = (g - w).abs();
        let bound = tol.atol + tol.rtol * w.abs();
        if err.is_nan() || err > bound {
            panic!(
                "{} {} {what}: element {i}: got {g:e}, want {w:e}, |err| {err:e} > {bound:e} ({tol:?})",
                be.name(),
                B::T::DTYPE
            );
        }
    }
}

/// Largest |got - want|, for the report lines tests print.
pub fn max_abs(got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len(), "max_abs: lengths differ");
    got.iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0, f64::max)
}

/// ||got - want|| / ||want|| (L2; the plain error norm when `want` is zero): the per-tensor
/// measure of the reduced-precision fast paths' tolerances.
pub fn rel_l2(got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len(), "rel_l2: lengths differ");
    let (mut e, mut w) = (0.0f64, 0.0f64);
    for (g, x) in got.iter().zip(want) {
        e += (g - x).powi(2);
        w += x * x;
    }
    if w == 0.0 { e.sqrt() } else { (e / w).sqrt() }
}

/// Two results must agree bit for bit; a failure names the first differing element and how
/// many differ.
pub fn assert_bits_eq<T: Elem>(what: &str, a: &[T], b: &[T]) {
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    let differ: Vec<usize> = (0..a.len())
        .filter(|&i| bytemuck::bytes_of(&a[i]) != bytemuck::bytes_of(&b[i]))
        .collect();
    if let Some(&i) = differ.first() {
        panic!(
            "{what}: not bit-identical: {} of {} elements differ, the first at {i}: {:?} vs {:?}",
            differ.len(),
            a.len(),
            a[i],
            b[i]
        );
    }
}

/// Runs a generic test body `f::<B>(&backend)` on every backend under test: the fast CPU f32
/// path, emu f32/f64 and, when a GPU is usable, cuda f32/f64 (otherwise it prints
/// `SKIP cuda: <reason>`). The f64 CPU path is the reference and is not in the list.
#[macro_export]
macro_rules! every_backend {
    ($f:ident) => {{
        $f(&recaux::backend::cpu::CpuBackend::<f32>::new());
        $crate::kernel_backends!($f);
    }};
}

/// [`every_backend!`] without the CPU: emu f32/f64 and cuda f32/f64 when usable.
#[macro_export]
macro_rules! kernel_backends {
    ($f:ident) => {{
        use recaux::backend::cuda::{CudaBackend, cuda_available};
        use recaux::backend::emu::EmuBackend;
        $f(&EmuBackend::<f32>::new().expect("emu backend"));
        $f(&EmuBackend::<f64>::new().expect("emu backend"));
        match cuda_available() {
            Ok(name) => {
                eprintln!("cuda: {name}");
                $f(&CudaBackend::<f32>::new(0).expect("cuda backend"));
                $f(&CudaBackend::<f64>::new(0).expect("cuda backend"));
            }
            Err(why) => $crate::common::skip::skip_notice(&format!("SKIP cuda: {why}")),
        }
    }};
}

/// A test body over f32 kernel backends, `f::<D>(&KernelBackend<f32, D>)` (the fast paths,
/// f32 only and not `Backend` methods yet): emu f32 and, when a GPU is usable, cuda f32
/// (otherwise it prints `SKIP cuda: <reason>`).
#[macro_export]
macro_rules! f32_kernel_backends {
    ($f:ident) => {{
        use recaux::backend::cuda::{CudaBackend, cuda_available};
        use recaux::backend::emu::EmuBackend;
        $f(&EmuBackend::<f32>::new().expect("emu backend"));
        match cuda_available() {
            Ok(_) => $f(&CudaBackend::<f32>::new(0).expect("cuda backend")),
            Err(why) => $crate::common::skip::skip_notice(&format!("SKIP cuda: {why}")),
        }
    }};
}
