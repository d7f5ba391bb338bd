//! Adam on the CPU: [`crate::backend::Backend::adam`]; kernels/adam.cu's twin.

use super::par::CHUNK;
use crate::backend::{AdamSpec, Backend, Elem};
use rayon::prelude::*;

/// One Adam step of one `[M, numel]` tensor, with PyTorch's arithmetic
/// (`torch.optim.Adam`, single-tensor path): m.lerp_(g, 1-b1); v = b2 v + (1-b2) g^2;
/// denom = sqrt(v) / sqrt(1 - b2^t) + eps; p -= lr / (1 - b1^t) * m / denom. `steps[r]` is
/// replica r's `lr / (1 - b1^t)` and `bc2_sqrt` is `sqrt(1 - b2^t)`, computed in double
/// ([`crate::backend::AdamSpec::step_values`], or a step's values).
#[allow(clippy::too_many_arguments)]
pub(super) fn step<T: Elem, B: Backend + ?Sized>(
    s: &AdamSpec<B>,
    steps: &[f64],
    bc2_sqrt: f64,
    p: &mut [T],
    g: &[T],
    m: &mut [T],
    v: &mut [T],
) {
    let reps = s.lr.len();
    let numel = p.len() / reps;
    let bc2_sqrt = T::of(bc2_sqrt);
    let w1 = T::of(1.0 - s.beta1);
    let b2 = T::of(s.beta2);
    let w2 = T::of(1.0 - s.beta2);
    let eps = T::of(s.eps);
    for (r, &step) in steps.iter().enumerate().take(reps) {
        let step_size = T::of(step);
        let rg = r * numel..(r + 1) * numel;
        p[rg.clone()]
            .par_chunks_mut(CHUNK)
            .zip(g[rg.clone()].par_chunks(CHUNK))
            .zip(m[rg.clone()].par_chunks_mut(CHUNK))
            .zip(v[rg].par_chunks_mut(CHUNK))
            .for_each(|(((pc, gc), mc), vc)| {
                for i in 0..pc.len() {
                    let gi = gc[i];
                    mc[i] = mc[i] + w1 * (gi - mc[i]);
                    vc[i] = vc[i] * b2 + w2 * gi * gi;
                    let denom = vc[i].sqrt() / bc2_sqrt + eps;
                    pc[i] -= step_size * mc[i] / denom;
                }
            });
    }
}
