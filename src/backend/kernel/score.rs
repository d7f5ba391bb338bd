//! score's launch code (kernels/score.cu; the CPU twin is src/backend/cpu/score.rs).

include!(concat!(env!("OUT_DIR"), "/kernel_api/score.rs"));

use super::{DevBuf, Device, KernelBackend, LaunchCfg};
use crate::backend::{Elem, RECORD_COLS, StepVals};
use crate::error::Result;

/// Threads of a block (a multiple of 32: rx_block_sum).
const SCORE_BLOCK: u32 = 128;

/// [`crate::backend::Backend::score`]: one block per replica.
#[allow(clippy::too_many_arguments)]
pub(super) fn score<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    (m, b, c): (usize, usize, usize),
    logits: &DevBuf<D, T>,
    labels: &DevBuf<D, i32>,
    [ce, l1]: [&DevBuf<D, T>; 2],
    vals: &DevBuf<D, u8>,
    record: &mut DevBuf<D, T>,
) -> Result<()> {
    debug_assert!(logits.len == m * b * c && labels.len == b && ce.len == m && l1.len == m);
    let p = ScoreP {
        logits: be.ptr(logits),
        labels: be.ptr(labels),
        ce: be.ptr(ce),
        l1: be.ptr(l1),
        row_at: be.ptr(vals) + StepVals::AT_RECORD_ROW as u64,
        record: be.ptr(record),
        m: m as i64,
        b: b as i64,
        c: c as i64,
        rows: (record.len / (m * RECORD_COLS)) as i64,
    };
    let grid = m.min(be.dev.grid_cap() as usize) as u32;
    be.launch(SCORE, LaunchCfg::new(grid, 1, SCORE_BLOCK), &p)
}
