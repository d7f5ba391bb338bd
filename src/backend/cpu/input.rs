//! input on the CPU: [`crate::backend::Backend::input`]; kernels/input.cu's twin. The f16
//! features widen exactly (`half`'s conversion, which the kernel's bit-level one matches,
//! NaN payloads included).

use crate::backend::{Elem, SlotLayout, StepVals};
use half::f16;

/// `x = T(f16 features)`, `y = labels`, `vals = the StepVals`, from a slot's staged bytes.
pub(super) fn input<T: Elem>(
    l: SlotLayout,
    src: &[u8],
    x: &mut [T],
    y: &mut [i32],
    vals: &mut [u8],
) {
    let xs = &src[l.x_at()..l.x_at() + 2 * l.n];
    for (d, s) in x.iter_mut().zip(xs.chunks_exact(2)) {
        let h = f16::from_bits(u16::from_le_bytes([s[0], s[1]]));
        *d = T::of(h.to_f32() as f64);
    }
    let ys = &src[l.labels_at()..l.labels_at() + 4 * l.b];
    for (d, s) in y.iter_mut().zip(ys.chunks_exact(4)) {
        *d = i32::from_le_bytes([s[0], s[1], s[2], s[3]]);
    }
    vals[..StepVals::BYTES].copy_from_slice(&src[..StepVals::BYTES]);
}
