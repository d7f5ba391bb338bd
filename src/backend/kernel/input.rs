//! input's launch code (kernels/input.cu; the CPU twin is src/backend/cpu/input.rs): one
//! launch widens a staged batch's f16 features and copies its labels and step values.

include!(concat!(env!("OUT_DIR"), "/kernel_api/input.rs"));

use super::{BLOCK, DevBuf, Device, KernelBackend, LaunchCfg};
use crate::backend::{Elem, SlotLayout, StepVals};
use crate::error::Result;

/// [`crate::backend::Backend::input`].
pub(super) fn input<T: Elem, D: Device>(
    be: &KernelBackend<T, D>,
    l: SlotLayout,
    src: &DevBuf<D, u8>,
    x: &mut DevBuf<D, T>,
    y: &mut DevBuf<D, i32>,
    vals: &mut DevBuf<D, u8>,
) -> Result<()> {
    debug_assert!(src.len >= l.bytes() && x.len == l.n && y.len == l.b);
    let words = StepVals::BYTES / 8;
    let base = be.ptr(src);
    let p = InputP {
        x16: base + l.x_at() as u64,
        x: be.ptr(x),
        labels_in: base + l.labels_at() as u64,
        labels: be.ptr(y),
        vals_in: base,
        vals: be.ptr(vals),
        n: l.n as i64,
        b: l.b as i64,
        words: words as i64,
    };
    let all = l.n.max(l.b).max(words);
    be.launch(INPUT, LaunchCfg::new(be.blocks(all), 1, BLOCK), &p)
}
