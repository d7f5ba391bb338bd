//! gemm on the CPU: [`crate::backend::Backend::gemm`] and `gemm_bias_grad`
//! (kernels/gemm.cu's twin), on the `gemm` crate's blocked, SIMD kernels over strided
//! row-major views (also used inside the CPU LSTM).
//!
//! Every call uses the same parallelism setting for the same shape, and the `gemm` crate
//! splits work over output tiles (never over k), so a result does not depend on how many
//! replicas are in the batch: replica r of a joint run is bit-identical to its solo run.

use crate::backend::{Elem, GemmSpec};
use gemm::Parallelism;

/// A strided row-major matrix view: element (i, j) is at `ptr + i*rs + j*cs`.
#[derive(Clone, Copy)]
pub(crate) struct Mat<T> {
    pub ptr: *const T,
    pub rs: isize,
    pub cs: isize,
}

/// A mutable strided view.
#[derive(Clone, Copy)]
pub(crate) struct MatMut<T> {
    pub ptr: *mut T,
    pub rs: isize,
}

impl<T> Mat<T> {
    /// A dense `rows x cols` row-major matrix starting at `s[off]`, read as is (`trans` false)
    /// or as its transpose.
    pub fn dense(s: &[T], off: usize, cols: usize, trans: bool) -> Self {
        let ptr = s[off..].as_ptr();
        if trans {
            Mat {
                ptr,
                rs: 1,
                cs: cols as isize,
            }
        } else {
            Mat {
                ptr,
                rs: cols as isize,
                cs: 1,
            }
        }
    }
}

/// Whether a product is big enough to be worth splitting across threads.
fn parallelism(m: usize, n: usize, k: usize) -> Parallelism {
    if m * n * k >= 1 << 18 {
        Parallelism::Rayon(0)
    } else {
        Parallelism::None
    }
}

/// `C (+)= A · B` with A `m x k`, B `k x n`, C `m x n` (column stride 1).
///
/// # Safety
/// The views must cover `m x k`, `k x n` and `m x n` valid elements, C must not alias A or B,
/// and nothing else may access C during the call.
pub(crate) unsafe fn gemm_raw<T: Elem>(
    m: usize,
    n: usize,
    k: usize,
    a: Mat<T>,
    b: Mat<T>,
    c: MatMut<T>,
    accumulate: bool,
    single_thread: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    // SAFETY: (i, j) is inside the m x n view (caller's contract).
                    unsafe { *c.ptr.offset(i as isize * c.rs + j as isize) = T::zero() };
                }
            }
        }
        return;
    }
    let par = if single_thread {
        Parallelism::None
    } else {
        parallelism(m, n, k)
    };
    // SAFETY: the caller guarantees the views are valid and C is exclusive; T is f32 or f64,
    // which the gemm crate supports.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.ptr,
            1,
            c.rs,
            accumulate,
            a.ptr,
            a.cs,
            a.rs,
            b.ptr,
            b.cs,
            b.rs,
            T::one(),
            T::one(),
            false,
            false,
            false,
            par,
        )
    }
}

/// Safe dense wrapper: `c[coff..] (+)= op(a[aoff..]) · op(b[boff..])`, all row-major dense.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_dense<T: Elem>(
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    aoff: usize,
    trans_a: bool,
    b: &[T],
    boff: usize,
    trans_b: bool,
    c: &mut [T],
    coff: usize,
    accumulate: bool,
) {
    assert!(aoff + m * k <= a.len() && boff + k * n <= b.len() && coff + m * n <= c.len());
    let am = Mat::dense(a, aoff, if trans_a { m } else { k }, trans_a);
    let bm = Mat::dense(b, boff, if trans_b { k } else { n }, trans_b);
    let cm = MatMut {
        ptr: c[coff..].as_mut_ptr(),
        rs: n as isize,
    };
    // SAFETY: bounds asserted above; `c` is a unique borrow distinct from `a` and `b`.
    unsafe { gemm_raw(m, n, k, am, bm, cm, accumulate, false) }
}

/// [`crate::backend::Backend::gemm`]: for every r, `c[r] (+)= op(a[r]) op(b[r])`, then
/// `+ bias[r]` on every row.
pub(super) fn gemm<T: Elem>(s: &GemmSpec, a: &[T], b: &[T], bias: Option<&[T]>, c: &mut [T]) {
    let (mk, kn, mn) = (s.m * s.k, s.k * s.n, s.m * s.n);
    for r in 0..s.batch {
        let aoff = if s.a_shared { 0 } else { r * mk };
        gemm_dense(
            s.m,
            s.n,
            s.k,
            a,
            aoff,
            s.trans_a,
            b,
            r * kn,
            s.trans_b,
            c,
            r * mn,
            s.accumulate,
        );
        if let Some(bias) = bias {
            let bb = &bias[r * s.n..(r + 1) * s.n];
            for row in c[r * mn..(r + 1) * mn].chunks_exact_mut(s.n.max(1)) {
                for (v, &b) in row.iter_mut().zip(bb) {
                    *v += b;
                }
            }
        }
    }
}

/// [`crate::backend::Backend::gemm_bias_grad`]: `db[r, j] += sum_i dy[r, i, j]`, summed in
/// f64 in row order.
pub(super) fn bias_grad<T: Elem>(batch: usize, rows: usize, cols: usize, dy: &[T], db: &mut [T]) {
    for r in 0..batch {
        let mut acc = vec![0.0f64; cols];
        for row in dy[r * rows * cols..(r + 1) * rows * cols].chunks_exact(cols.max(1)) {
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += v.f64();
            }
        }
        for (d, a) in db[r * cols..(r + 1) * cols].iter_mut().zip(acc) {
            *d += T::of(a);
        }
    }
}
