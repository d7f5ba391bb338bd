//! `#[repr(C)]` mirrors of the kernels' params structs, field for field (kernels/*.cu).
//! Pointers are `u64` device addresses; counts `i64` (`long long`); host scalars `f64`
//! (`double`). The emu library checks each struct's size against the C++ one at every launch,
//! and `tests/gpu_ops.rs` runs every kernel through both.

use bytemuck::{Pod, Zeroable};

/// Replicas whose per-replica scalars fit a params struct (`RX_MAX_REPLICAS` in common.cuh).
pub const MAX_REPLICAS: usize = 64;

/// elementwise.cu `UnaryP` (relu_fwd).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct UnaryP {
    pub x: u64,
    pub y: u64,
    pub n: i64,
}

/// elementwise.cu `ReluBwdP`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct ReluBwdP {
    pub y: u64,
    pub dy: u64,
    pub dx: u64,
    pub n: i64,
}

/// elementwise.cu `ClampP`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct ClampP {
    pub x: u64,
    pub y: u64,
    pub n: i64,
    pub lo: f64,
    pub hi: f64,
}

/// elementwise.cu `ClampBwdP`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct ClampBwdP {
    pub x: u64,
    pub dy: u64,
    pub dx: u64,
    pub n: i64,
    pub lo: f64,
    pub hi: f64,
}

/// dropout.cu `DropoutP` (dropout_fwd and dropout_bwd).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct DropoutP {
    pub x: u64,
    pub y: u64,
    pub n: i64,
    pub x_stride: i64,
    pub step: u64,
    pub scale: f64,
    pub threshold: u32,
    pub tensor: u32,
    pub seeds: [u64; MAX_REPLICAS],
}

/// max_time.cu `MaxTimeP`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct MaxTimeP {
    pub x: u64,
    pub y: u64,
    pub arg: u64,
    pub t: i64,
    pub rows: i64,
    pub f: i64,
    pub total: i64,
}

/// max_time.cu `MaxTimeBwdP`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct MaxTimeBwdP {
    pub dy: u64,
    pub arg: u64,
    pub dx: u64,
    pub t: i64,
    pub rows: i64,
    pub f: i64,
    pub total: i64,
}

/// loss.cu `L1PartialP`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct L1PartialP {
    pub target: u64,
    pub r: u64,
    pub partial: u64,
    pub n: i64,
    pub chunk: i64,
    pub nb: i64,
}

/// loss.cu `L1FinishP`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct L1FinishP {
    pub partial: u64,
    pub loss: u64,
    pub n: i64,
    pub nb: i64,
    pub m: i64,
}

/// loss.cu `L1BwdP`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct L1BwdP {
    pub target: u64,
    pub r: u64,
    pub dr: u64,
    pub n: i64,
    pub scale: [f64; MAX_REPLICAS],
}

/// loss.cu `CeFwdP`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct CeFwdP {
    pub logits: u64,
    pub labels: u64,
    pub loss: u64,
    pub b: i64,
    pub c: i64,
}

/// loss.cu `CeBwdP`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct CeBwdP {
    pub logits: u64,
    pub labels: u64,
    pub dlogits: u64,
    pub b: i64,
    pub c: i64,
    pub total: i64,
    pub scale: [f64; MAX_REPLICAS],
}

/// adam.cu `AdamEntry`: one (tensor, replica) row of the device table.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct AdamEntry {
    pub param: u64,
    pub grad: u64,
    pub m: u64,
    pub v: u64,
    pub numel: i64,
    pub step_size: f64,
}

/// adam.cu `AdamP`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct AdamP {
    pub table: u64,
    pub entries: i64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub bc2_sqrt: f64,
}

/// kernels/buggy `BuggyP` / `BuggyOobP` (sanitizer self-test builds only).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct BuggyP {
    pub x: u64,
    pub y: u64,
    pub n: i64,
}
