//! guard's launch code (kernels/guard.cu; the CPU twin is src/backend/cpu/guard.rs): scan
//! every gradient slice through Adam's table, decide per replica, zero the frozen replicas'
//! gradients. Three launches, whatever M.

include!(concat!(env!("OUT_DIR"), "/kernel_api/guard.rs"));

use super::adam::check_key;
use super::{BLOCK, DevBuf, Device, KernelBackend, LaunchCfg};
use crate::backend::{AdamTable, Elem, GuardState, RECORD_COLS, StepVals};
use crate::error::Result;

/// Threads of a scan block (a multiple of 32: rx_block_sum).
const SCAN_BLOCK: u32 = 256;
/// Largest grid.y.
const MAX_GRID_Y: usize = 65_535;

/// [`crate::backend::Backend::guard_scratch`]: one `i32` flag per table entry.
pub(super) fn scratch(entries: usize) -> usize {
    4 * entries
}

/// [`crate::backend::Backend::guard`].
pub(super) fn guard<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    lambdas: &[f64],
    [ce, l1]: [&DevBuf<D, T>; 2],
    grads: &mut [&mut DevBuf<D, T>],
    table: &AdamTable<KernelBackend<T, D>>,
    st: GuardState<'_, KernelBackend<T, D>>,
) -> Result<()> {
    let m = lambdas.len();
    // the table must point at these gradients (it is how the kernels find them)
    let have = grads.iter().flat_map(|g| {
        let numel = g.len / m;
        let base = be.ptr(g);
        let esz = std::mem::size_of::<T>() as u64;
        (0..m).map(move |r| [0, base + (r * numel) as u64 * esz, 0, 0, numel as u64])
    });
    check_key("guard", &table.key, have, true)?;
    let entries = table.entries();
    let max_numel = grads.iter().map(|g| g.len / m).max().unwrap_or(0);
    if entries == 0 {
        return Ok(());
    }
    let cap = be.dev.grid_cap() as usize;
    let scan = GuardScanP {
        table: be.ptr(&table.bytes),
        bad: be.ptr(st.scratch),
        entries: entries as i64,
    };
    be.launch(
        GUARD_SCAN,
        LaunchCfg::new(entries.min(cap) as u32, 1, SCAN_BLOCK),
        &scan,
    )?;
    let vals = be.ptr(st.vals);
    let apply = GuardApplyP {
        ce: be.ptr(ce),
        l1: be.ptr(l1),
        bad: be.ptr(st.scratch),
        active: be.ptr(st.active),
        keep: vals + StepVals::AT_KEEP as u64,
        step_size: vals + StepVals::AT_STEP_SIZE as u64,
        row_at: vals + StepVals::AT_RECORD_ROW as u64,
        record: be.ptr(st.record),
        m: m as i64,
        tensors: table.tensors as i64,
        rows: (st.record.len / (m * RECORD_COLS)) as i64,
        lambda: KernelBackend::<T, D>::per_replica(lambdas),
    };
    be.launch(
        GUARD_APPLY,
        LaunchCfg::new(m.div_ceil(64) as u32, 1, 64),
        &apply,
    )?;
    let zero = GuardZeroP {
        table: be.ptr(&table.bytes),
        active: be.ptr(st.active),
        entries: entries as i64,
        m: m as i64,
    };
    let y = entries.min(MAX_GRID_Y) as u32;
    be.launch(
        GUARD_ZERO,
        LaunchCfg::new(be.blocks(max_numel), y, BLOCK),
        &zero,
    )
}
