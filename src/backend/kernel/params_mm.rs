//! `#[repr(C)]` mirrors of the params structs of kernels/gemm.cu and kernels/lstm.cu, field
//! for field (see params.rs for the convention: pointers `u64`, counts `i64`).

use bytemuck::{Pod, Zeroable};

/// gemm.cu `GemmP`: `C[r] (+)= op(A[r]) op(B[r]) (+ bias[r] + bias2[r])` on strided views.
/// Pointers include their offsets; strides in elements (0 = shared); null bias = none.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct GemmP {
    pub a: u64,
    pub b: u64,
    pub bias: u64,
    pub bias2: u64,
    pub c: u64,
    pub m: i64,
    pub n: i64,
    pub k: i64,
    pub lda: i64,
    pub ldb: i64,
    pub ldc: i64,
    pub stride_a: i64,
    pub stride_b: i64,
    pub stride_c: i64,
    pub stride_bias: i64,
    pub batch: i64,
    pub trans_a: i32,
    pub trans_b: i32,
    pub accumulate: i32,
    pub pad_: i32,
}

/// gemm.cu `BiasGradP`: `db[r, j] += sum_i dy[r, i, j]` (and `db2` when not null).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct BiasGradP {
    pub dy: u64,
    pub db: u64,
    pub db2: u64,
    pub rows: i64,
    pub cols: i64,
    pub ld: i64,
    pub total: i64,
}

/// lstm.cu `LstmStepP` (lstm_step_fwd): step `k` of both directions, all replicas.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct LstmStepP {
    pub g: u64,
    pub w_hh0: u64,
    pub w_hh1: u64,
    pub y: u64,
    pub saved: u64,
    pub m: i64,
    pub t: i64,
    pub b: i64,
    pub h: i64,
    pub k: i64,
}

/// lstm.cu `LstmStepBwdP` (lstm_step_bwd): step `k` of the backward pass.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct LstmStepBwdP {
    pub w_hh0: u64,
    pub w_hh1: u64,
    pub saved: u64,
    pub dy: u64,
    pub dg: u64,
    pub dc: u64,
    pub m: i64,
    pub t: i64,
    pub b: i64,
    pub h: i64,
    pub k: i64,
}
