//! Every kernel is correct for any grid (kernels/README.md's rule): each op's outputs are
//! bit-identical with the op's own grid, one block, and an oversized grid, on emu (and cuda
//! when usable); and together the ops launch every kernel of the kernel table.

use recaux::backend::kernel::table;
use std::collections::BTreeSet;

#[test]
fn every_kernel_gives_the_same_bits_for_any_grid() {
    let mut launched = BTreeSet::new();
    launched.extend(grid_independent!("relu", relu_outputs));
    launched.extend(grid_independent!("clamp", clamp_outputs));
    launched.extend(grid_independent!("dropout", dropout_outputs));
    launched.extend(grid_independent!("max_time", max_time_outputs));
    launched.extend(grid_independent!("l1", l1_outputs));
    launched.extend(grid_independent!("ce", ce_outputs));
    launched.extend(grid_independent!("adam", adam_outputs));
    launched.extend(grid_independent!("gemm", gemm_outputs));
    launched.extend(grid_independent!("lstm", lstm_outputs));
    launched.extend(grid_independent!("input", input_outputs));
    launched.extend(grid_independent!("score", score_outputs));
    launched.extend(grid_independent!("guard", guard_outputs));
    // The fast paths (f32 kernels; on f64 they run the op's plain kernels) and the probes.
    launched.extend(grid_independent!("gemm_tc", kernel gemm_tc_outputs));
    launched.extend(grid_independent!("lstm_persist", kernel lstm_persist_outputs));
    launched.extend(grid_independent!("tc_probe", kernel tc_probe_outputs));
    let all: BTreeSet<String> = table::ALL.iter().map(|k| k.name.to_string()).collect();
    let missed: Vec<&String> = all.difference(&launched).collect();
    assert!(
        missed.is_empty(),
        "kernels no grid check launched: {missed:?} (add the op's outputs here)"
    );
    println!(
        "grid check: {} kernels, each with its own, 1-block and oversized grids",
        all.len()
    );
}

// Named wrappers: the macro takes a function path generic over the backend.
use super::*;
fn relu_outputs<B: recaux::backend::Backend>(be: &B) -> Vec<Vec<B::T>> {
    relu::outputs(be)
}
fn clamp_outputs<B: recaux::backend::Backend>(be: &B) -> Vec<Vec<B::T>> {
    clamp::outputs(be)
}
fn dropout_outputs<B: recaux::backend::Backend>(be: &B) -> Vec<Vec<B::T>> {
    dropout::outputs(be)
}
fn max_time_outputs<B: recaux::backend::Backend>(be: &B) -> Vec<Vec<B::T>> {
    max_time::outputs(be)
}
fn l1_outputs<B: recaux::backend::Backend>(be: &B) -> Vec<Vec<B::T>> {
    l1::outputs(be)
}
fn ce_outputs<B: recaux::backend::Backend>(be: &B) -> Vec<Vec<B::T>> {
    ce::outputs(be)
}
fn adam_outputs<B: recaux::backend::Backend>(be: &B) -> Vec<Vec<B::T>> {
    adam::outputs(be)
}
fn gemm_outputs<B: recaux::backend::Backend>(be: &B) -> Vec<Vec<B::T>> {
    gemm::outputs(be)
}
fn lstm_outputs<B: recaux::backend::Backend>(be: &B) -> Vec<Vec<B::T>> {
    lstm::outputs(be)
}
fn input_outputs<B: recaux::backend::Backend>(be: &B) -> Vec<Vec<B::T>> {
    input::outputs(be)
}
fn score_outputs<B: recaux::backend::Backend>(be: &B) -> Vec<Vec<B::T>> {
    score::outputs(be)
}
fn guard_outputs<B: recaux::backend::Backend>(be: &B) -> Vec<Vec<B::T>> {
    guard::outputs(be)
}
use recaux::backend::Elem;
use recaux::backend::kernel::{Device, KernelBackend};
fn gemm_tc_outputs<T: Elem, D: Device>(be: &KernelBackend<T, D>) -> Vec<Vec<T>> {
    gemm_tc::outputs(be)
}
fn lstm_persist_outputs<T: Elem, D: Device>(be: &KernelBackend<T, D>) -> Vec<Vec<T>> {
    lstm_persist::outputs(be)
}
fn tc_probe_outputs<T: Elem, D: Device>(be: &KernelBackend<T, D>) -> Vec<Vec<T>> {
    tc_probe::outputs(be)
}
