//! The ops, one module per op (`tests/ops/<op>.rs`, the name of `kernels/<op>.cu`,
//! `src/backend/kernel/<op>.rs` and `src/backend/cpu/<op>.rs`). Each op's module checks:
//! - the f64 CPU path (every test's reference) against the op's formula, written out
//!   independently (for gemm and lstm: see those modules);
//! - every other backend against that reference on the same (rounded) inputs: the fast CPU
//!   f32 path, emu f32/f64, and cuda f32/f64 when a GPU is usable (else `SKIP cuda`), with
//!   tolerances stated and derived at each check;
//! - its kernels give bit-identical results for any grid (`grid.rs` runs every kernel).
//!
//! An op's fast path (its kernels in another .cu, not a `Backend` method yet) has its own
//! module beside the op's: `gemm_tc.rs`, `lstm_persist.rs`, with `tc_probe.rs` for the
//! tensor-core primitives they are built from (tests/ops/tc_probe.rs).
//!
//! Also here: the contracts checked in front of the backends (`contracts.rs`: the same error
//! on every backend), the kernel table and launch rules (`kernels.rs`), profiles grouped by
//! op (`profile.rs`). The bodies are shared with tests/emu_sanitize.rs (sanitizer runs).

#[path = "../common/mod.rs"]
#[macro_use]
mod common;

mod adam;
mod ce;
mod clamp;
mod contracts;
mod counters;
mod dropout;
mod gemm;
mod gemm_tc;
mod grid;
mod guard;
mod input;
mod kernels;
mod l1;
mod lstm;
mod lstm_persist;
mod max_time;
mod profile;
mod relu;
mod score;
mod tc_probe;
