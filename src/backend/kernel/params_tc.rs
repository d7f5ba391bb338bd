//! `#[repr(C)]` mirrors of the params structs of the tensor-core kernels (kernels/gemm_tc.cu,
//! kernels/lstm_persist.cu) and of the probes of kernels/tc_probe.cu, field for field (see
//! params.rs for the convention: pointers `u64`, counts `i64`, 4-byte fields in pairs).

use bytemuck::{Pod, Zeroable};

/// gemm_tc.cu `GemmTcP` (gemm_tc_nn / _nt / _tn / _tt).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct GemmTcP {
    pub a: u64,
    pub b: u64,
    pub bias: u64,
    pub bias2: u64,
    pub c: u64,
    pub ws: u64,
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
    pub splits: i64,
    pub kc: i64,
    pub accumulate: i32,
    pub pad_: i32,
}

/// gemm_tc.cu `GemmTcReduceP` (gemm_tc_reduce, the split-K second pass).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct GemmTcReduceP {
    pub ws: u64,
    pub bias: u64,
    pub bias2: u64,
    pub c: u64,
    pub m: i64,
    pub n: i64,
    pub ldc: i64,
    pub stride_c: i64,
    pub stride_bias: i64,
    pub splits: i64,
    pub total: i64,
    pub accumulate: i32,
    pub pad_: i32,
}

/// gemm_tc.cu `ColsumPartP` (colsum_part_f32 / _f64).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct ColsumPartP {
    pub dy: u64,
    pub part: u64,
    pub rows: i64,
    pub cols: i64,
    pub ld: i64,
    pub chunks: i64,
    pub batch: i64,
}

/// gemm_tc.cu `ColsumFinishP` (colsum_finish_f32 / _f64).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct ColsumFinishP {
    pub part: u64,
    pub db: u64,
    pub db2: u64,
    pub cols: i64,
    pub chunks: i64,
    pub total: i64,
}

/// lstm_persist.cu `LstmPersistP` (lstm_persist_fwd_f16 / _bf16).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct LstmPersistP {
    pub g: u64,
    pub w_hh0: u64,
    pub w_hh1: u64,
    pub y: u64,
    pub saved: u64,
    pub m: i64,
    pub t: i64,
    pub b: i64,
    pub h: i64,
    pub slices: i64,
    pub items: i64,
}

/// lstm_persist.cu `LstmPersistBwdP` (lstm_persist_bwd_f16 / _bf16).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct LstmPersistBwdP {
    pub w_hh0: u64,
    pub w_hh1: u64,
    pub saved: u64,
    pub dy: u64,
    pub dg: u64,
    pub m: i64,
    pub t: i64,
    pub b: i64,
    pub h: i64,
    pub slices: i64,
    pub items: i64,
}

/// tc_probe.cu `TcConvertP`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct TcConvertP {
    pub x: u64,
    pub f16: u64,
    pub bf16: u64,
    pub tf32: u64,
    pub f16_back: u64,
    pub n: i64,
}

/// tc_probe.cu `TcMmaProbeP`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct TcMmaProbeP {
    pub a: u64,
    pub b: u64,
    pub c: u64,
    pub d: u64,
    pub op: i32,
    pub a_col: i32,
    pub b_col: i32,
    pub misalign: i32,
}

/// tc_probe.cu `TcSmemProbeP`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct TcSmemProbeP {
    pub before_static: u64,
    pub before_dynamic: u64,
    pub after: u64,
}

/// tc_probe.cu `TcCpAsyncProbeP`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct TcCpAsyncProbeP {
    pub src: u64,
    pub out: u64,
    pub mode: i32,
    pub pad_: i32,
}
