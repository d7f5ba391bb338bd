//! Helpers shared by the kernel tests: data, tolerances, and running one test body on every
//! usable kernel backend.

#![allow(dead_code)]

pub mod ops;
pub mod skip;
pub mod vs_cpu;

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
}
/// Bit-exact (up to the sign of zero).
pub const EXACT: Tol = Tol {
    atol: 0.0,
    rtol: 0.0,
};

/// `n` values in [-1, 1), reproducible per `seed` (Philox via rng::init_uniform).
pub fn data(n: usize, seed: u32) -> Vec<f64> {
    recaux::rng::init_uniform(0xC0FFEE, seed, n, -1.0, 1.0)
}

pub fn tv<T: Elem>(v: &[f64]) -> Vec<T> {
    v.iter().map(|&x| T::of(x)).collect()
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

/// Two runs must agree bit for bit.
pub fn assert_bits_eq<B: Backend>(be: &B, what: &str, a: &[B::T], b: &[B::T]) {
    let ab: &[u8] = bytemuck::cast_slice(a);
    let bb: &[u8] = bytemuck::cast_slice(b);
    assert!(
        ab == bb,
        "{} {} {what}: not bit-identical: {a:?} vs {b:?}",
        be.name(),
        B::T::DTYPE
    );
}

/// Runs a generic test body `f::<B>(&backend)` on emu f32/f64 and, when a GPU is usable, cuda
/// f32/f64; prints `SKIP cuda: <reason>` otherwise.
#[macro_export]
macro_rules! all_backends {
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

/// Runs a test body `f(&backend)` on an emu f32 kernel backend and, when a GPU is usable, a
/// cuda one; prints `SKIP cuda: <reason>` otherwise (for the f32-only tensor-core kernels).
#[macro_export]
macro_rules! f32_devices {
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
