//! Cross entropy on the CPU: [`crate::backend::Backend::ce_fwd`] (fused log-softmax, mean
//! over the batch, in f64) and `ce_bwd`; kernels/ce.cu's twin. Labels are in `0..C`
//! (checked in front of the backends).

use crate::backend::Elem;

/// log-sum-exp of a row, computed stably in f64.
fn logsumexp<T: Elem>(row: &[T]) -> f64 {
    let mx = row.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v.f64()));
    mx + row.iter().map(|&v| (v.f64() - mx).exp()).sum::<f64>().ln()
}

/// `loss[r] = mean_b (logsumexp(logits[r, b]) - logits[r, b, y_b])`.
pub(super) fn fwd<T: Elem>(b: usize, c: usize, logits: &[T], labels: &[i32], loss: &mut [T]) {
    for (r, l) in loss.iter_mut().enumerate() {
        let mut s = 0.0;
        for (bi, &y) in labels.iter().enumerate() {
            let row = &logits[(r * b + bi) * c..(r * b + bi + 1) * c];
            s += logsumexp(row) - row[y as usize].f64();
        }
        *l = T::of(s / b as f64);
    }
}

/// `dlogits[r, b] += scale[r] * (softmax - onehot) / B`.
pub(super) fn bwd<T: Elem>(
    b: usize,
    c: usize,
    scale: &[f64],
    logits: &[T],
    labels: &[i32],
    dl: &mut [T],
) {
    for (r, &sc) in scale.iter().enumerate() {
        for (bi, &y) in labels.iter().enumerate() {
            let o = (r * b + bi) * c;
            let row = &logits[o..o + c];
            let lse = logsumexp(row);
            for j in 0..c {
                let p = (row[j].f64() - lse).exp();
                let g = p - if j == y as usize { 1.0 } else { 0.0 };
                dl[o + j] += T::of(sc * g / b as f64);
            }
        }
    }
}
