//! guard on the CPU: [`crate::backend::Backend::guard`]; kernels/guard.cu's twin.

use crate::backend::{Elem, REC_NONFINITE, RECORD_COLS, StepVals};

/// The non-finite guard: flags, freezes and zeroes, as the kernels do.
pub(super) fn guard<T: Elem>(
    lambdas: &[f64],
    ce: &[T],
    l1: &[T],
    grads: &mut [&mut Vec<T>],
    active: &mut [i32],
    vals: &mut StepVals,
    record: &mut [T],
) {
    let m = lambdas.len();
    let rows = record.len() / (m * RECORD_COLS);
    let row = (vals.record_row % rows as u64) as usize;
    for r in 0..m {
        let mut bad = grads.iter().any(|g| {
            let n = g.len() / m;
            g[r * n..(r + 1) * n].iter().any(|v| !v.is_finite())
        });
        let (c, l) = (ce[r].f64(), l1[r].f64());
        bad = bad || !c.is_finite() || !l.is_finite() || !(c + lambdas[r] * l).is_finite();
        record[(row * m + r) * RECORD_COLS + REC_NONFINITE] =
            if bad { T::one() } else { T::zero() };
        let act = active[r] != 0 && vals.keep[r] != 0 && !bad;
        active[r] = act as i32;
        if !act {
            vals.step_size[r] = 0.0;
            for g in grads.iter_mut() {
                let n = g.len() / m;
                g[r * n..(r + 1) * n].fill(T::zero());
            }
        }
    }
}
