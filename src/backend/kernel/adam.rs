//! Adam's launch code (kernels/adam.cu; the CPU twin is src/backend/cpu/adam.rs): one launch
//! over a device table with one entry per (tensor, replica).

include!(concat!(env!("OUT_DIR"), "/kernel_api/adam.rs"));

use super::{BLOCK, Device, KernelBackend, LaunchCfg};
use crate::backend::{AdamSpec, AdamTensor, Elem};
use crate::error::Result;

/// Largest grid.y (the kernel strides over the table's entries in y).
const MAX_GRID_Y: usize = 65_535;

/// [`crate::backend::Backend::adam`].
pub(super) fn adam<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    s: &AdamSpec,
    tensors: &mut [AdamTensor<KernelBackend<T, D>>],
) -> Result<()> {
    let m = s.lr.len();
    // As PyTorch: `1 - beta ** step` in double (C pow).
    let bc1 = 1.0 - s.beta1.powf(s.step as f64);
    let bc2 = 1.0 - s.beta2.powf(s.step as f64);
    let esz = std::mem::size_of::<T>() as u64;
    let mut table: Vec<AdamEntry> = Vec::with_capacity(tensors.len() * m);
    let mut max_numel = 0usize;
    for tn in tensors.iter() {
        let numel = tn.param.len / m;
        max_numel = max_numel.max(numel);
        let (pp, gp, mp, vp) = (
            be.ptr(tn.param),
            be.ptr(tn.grad),
            be.ptr(tn.m),
            be.ptr(tn.v),
        );
        for (r, &lr) in s.lr.iter().enumerate() {
            let off = (r * numel) as u64 * esz;
            table.push(AdamEntry {
                param: pp + off,
                grad: gp + off,
                m: mp + off,
                v: vp + off,
                numel: numel as i64,
                step_size: lr / bc1,
            });
        }
    }
    if table.is_empty() || max_numel == 0 {
        return Ok(());
    }
    let dev_table = be.upload_of(&table)?;
    let p = AdamP {
        table: be.ptr(&dev_table),
        entries: table.len() as i64,
        beta1: s.beta1,
        beta2: s.beta2,
        eps: s.eps,
        bc2_sqrt: bc2.sqrt(),
    };
    let y = table.len().min(MAX_GRID_Y) as u32;
    be.launch(ADAM, LaunchCfg::new(be.blocks(max_numel), y, BLOCK), &p)
}
