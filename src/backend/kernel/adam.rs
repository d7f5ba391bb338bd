//! Adam's launch code (kernels/adam.cu; the CPU twin is src/backend/cpu/adam.rs): one launch
//! over a device table with one entry per (tensor, replica), tensor-major. The table is built
//! once by [`table`] ([`crate::backend::Backend::adam_table`]) or, without one, per call.

include!(concat!(env!("OUT_DIR"), "/kernel_api/adam.rs"));

use super::{BLOCK, DevBuf, Device, KernelBackend, LaunchCfg};
use crate::backend::{AdamSpec, AdamTable, AdamTensor, Elem, StepVals};
use crate::error::{Error, Result};

/// Largest grid.y (the kernel strides over the table's entries in y).
const MAX_GRID_Y: usize = 65_535;

/// The table's entries for `tensors` (`[m, numel]` each) with per-replica step sizes `steps`
/// (zeros when they come from the step's values), and its key (the addresses and sizes).
fn entries<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    m: usize,
    tensors: &[AdamTensor<KernelBackend<T, D>>],
    steps: &[f64],
) -> (Vec<AdamEntry>, Vec<[u64; 5]>) {
    let esz = std::mem::size_of::<T>() as u64;
    let mut table = Vec::with_capacity(tensors.len() * m);
    let mut key = Vec::with_capacity(tensors.len() * m);
    for tn in tensors {
        let numel = tn.param.len / m;
        let (pp, gp, mp, vp) = (
            be.ptr(tn.param),
            be.ptr(tn.grad),
            be.ptr(tn.m),
            be.ptr(tn.v),
        );
        for (r, &step_size) in steps.iter().enumerate() {
            let off = (r * numel) as u64 * esz;
            let e = AdamEntry {
                param: pp + off,
                grad: gp + off,
                m: mp + off,
                v: vp + off,
                numel: numel as i64,
                step_size,
            };
            key.push([e.param, e.grad, e.m, e.v, numel as u64]);
            table.push(e);
        }
    }
    (table, key)
}

/// [`crate::backend::Backend::adam_table`]: the entries uploaded once (step sizes 0: a step
/// given the table reads them from its values).
pub(super) fn table<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    m: usize,
    tensors: &[AdamTensor<KernelBackend<T, D>>],
) -> Result<AdamTable<KernelBackend<T, D>>> {
    let (table, key) = entries(be, m, tensors, &vec![0.0; m]);
    let mut bytes = be.alloc_of::<u8>(std::mem::size_of_val(table.as_slice()).max(1))?;
    be.dev.htod(bytemuck::cast_slice(&table), &mut bytes.mem)?;
    Ok(AdamTable {
        bytes,
        key,
        m,
        tensors: tensors.len(),
    })
}

/// [`crate::backend::Backend::adam_table_check`].
pub(super) fn table_check<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    table: &AdamTable<KernelBackend<T, D>>,
    tensors: &[AdamTensor<KernelBackend<T, D>>],
) -> Result<()> {
    let (_, key) = entries(be, table.m, tensors, &vec![0.0; table.m]);
    check_key("adam_table_check", &table.key, key.into_iter(), false)
}

/// The table was built from these very buffers (the same addresses and sizes, in order);
/// `grads_only` compares the gradients alone (guard).
pub(super) fn check_key(
    op: &str,
    key: &[[u64; 5]],
    have: impl Iterator<Item = [u64; 5]>,
    grads_only: bool,
) -> Result<()> {
    let mut n = 0;
    for (k, h) in key.iter().zip(have) {
        let same = if grads_only {
            k[1] == h[1] && k[4] == h[4]
        } else {
            *k == h
        };
        if !same {
            return Err(Error::shape(format!(
                "{op}: the Adam table was built for other buffers than these (entry {n})"
            )));
        }
        n += 1;
    }
    if n != key.len() {
        return Err(Error::shape(format!(
            "{op}: the Adam table has {} entries, the tensors give {n}",
            key.len()
        )));
    }
    Ok(())
}

/// [`crate::backend::Backend::adam`].
pub(super) fn adam<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    s: &AdamSpec<KernelBackend<T, D>>,
    tensors: &mut [AdamTensor<KernelBackend<T, D>>],
) -> Result<()> {
    let m = s.lr.len();
    let (steps, bc2_sqrt) = s.step_values();
    let max_numel = tensors.iter().map(|t| t.param.len / m).max().unwrap_or(0);
    if tensors.is_empty() || max_numel == 0 {
        return Ok(());
    }
    let (table, key) = entries(be, m, tensors, &steps);
    // a table built once, checked against these tensors; or this call's own
    let own: DevBuf<D, u8>;
    let table_ptr = match s.table {
        Some(t) => {
            check_key("adam", &t.key, key.iter().copied(), false)?;
            be.ptr(&t.bytes)
        }
        None => {
            own = be.upload_of(bytemuck::cast_slice::<AdamEntry, u8>(&table))?;
            be.ptr(&own)
        }
    };
    let (step_sizes, bc2_at) = match s.vals {
        Some(v) => (
            be.ptr(v) + StepVals::AT_STEP_SIZE as u64,
            be.ptr(v) + StepVals::AT_BC2_SQRT as u64,
        ),
        None => (0, 0),
    };
    let p = AdamP {
        table: table_ptr,
        entries: table.len() as i64,
        beta1: s.beta1,
        beta2: s.beta2,
        eps: s.eps,
        bc2_sqrt,
        step_sizes,
        bc2_at,
        m: m as i64,
    };
    let y = table.len().min(MAX_GRID_Y) as u32;
    be.launch(ADAM, LaunchCfg::new(be.blocks(max_numel), y, BLOCK), &p)
    // `own` (if any) is freed in stream order on cuda, at once on emu (synchronous launches).
}
