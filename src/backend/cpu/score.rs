//! score on the CPU: [`crate::backend::Backend::score`]; kernels/score.cu's twin.

use crate::backend::{Elem, RECORD_COLS};

/// `record[row, r] = [ce[r], l1[r], correct(r), 0]`.
#[allow(clippy::too_many_arguments)]
pub(super) fn score<T: Elem>(
    (m, b, c): (usize, usize, usize),
    logits: &[T],
    labels: &[i32],
    ce: &[T],
    l1: &[T],
    row: u64,
    record: &mut [T],
) {
    let rows = record.len() / (m * RECORD_COLS);
    let row = (row % rows as u64) as usize;
    for (r, ok) in correct_counts(logits, labels, m, b, c)
        .into_iter()
        .enumerate()
    {
        let out = &mut record[(row * m + r) * RECORD_COLS..(row * m + r + 1) * RECORD_COLS];
        out.copy_from_slice(&[ce[r], l1[r], T::of(ok as f64), T::zero()]);
    }
}

/// Per replica r, the rows b whose first arg-max of `logits[r, b, :]` (`[M, B, C]`) is
/// `labels[b]` (the training step's `score`, and evaluation on the host).
pub fn correct_counts<T: PartialOrd>(
    logits: &[T],
    labels: &[i32],
    m: usize,
    b: usize,
    c: usize,
) -> Vec<usize> {
    (0..m)
        .map(|r| {
            (0..b)
                .filter(|&i| {
                    let x = &logits[(r * b + i) * c..(r * b + i + 1) * c];
                    let mut best = 0;
                    for j in 1..c {
                        if x[j] > x[best] {
                            best = j;
                        }
                    }
                    best as i32 == labels[i]
                })
                .count()
        })
        .collect()
}
