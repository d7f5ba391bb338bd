// Shared by every kernel file: the calling convention (RECAUX_KERNEL), Philox-4x32-10 (identical
// to src/rng.rs), and a fixed-order block reduction. Compiled by nvcc for the `cuda` backend and
// by g++ (RECAUX_EMU defined, kernels/emu/shim.h standing in for CUDA) for the `emu` backend.
//
// Calling convention (see kernels/README.md): every kernel takes ONE params struct by value,
// defined in its .cu; build.rs generates the Rust mirror from it and checks every field's
// offset and size on both sides (build/kernel_api.rs). Pointers are 64-bit device addresses
// (host addresses under emu); counts are `long long`; host scalars are `double`; per-replica
// scalars are arrays of RX_MAX_REPLICAS in the struct.
#pragma once

#ifdef RECAUX_EMU
#include "emu/runtime.h"
#else
#include <cstdint>
#endif

typedef long long i64;
typedef unsigned long long u64;
typedef unsigned int u32;

// Largest replica count M whose per-replica scalars travel in a params struct.
#define RX_MAX_REPLICAS 64

// RECAUX_KERNEL(name, Params, body): defines the kernel `name` taking `const Params` by value
// and calling `body(p)` (a __device__ function). Under nvcc: `extern "C" __global__`, loaded by
// name from the fatbin. Under emu: a host trampoline plus a registry entry (name, function,
// sizeof(Params)) that recaux_emu_launch finds by name.
#ifdef RECAUX_EMU
#define RECAUX_KERNEL(name, Params, body)                                                  \
    static void recaux_emu_tramp_##name(const void* raw) {                                 \
        Params p;                                                                          \
        std::memcpy(&p, raw, sizeof(Params));                                              \
        body(p);                                                                           \
    }                                                                                      \
    static ::recaux_emu::Registrar recaux_emu_reg_##name(#name, &recaux_emu_tramp_##name, \
                                                         sizeof(Params));
#else
#define RECAUX_KERNEL(name, Params, body) \
    extern "C" __global__ void name(const Params p) { body(p); }
#endif

// Both element types of a kernel template: base_f32 and base_f64.
#define RECAUX_KERNEL_FT(base, ParamsT, body)             \
    RECAUX_KERNEL(base##_f32, ParamsT<float>, body<float>) \
    RECAUX_KERNEL(base##_f64, ParamsT<double>, body<double>)

// A kernel for f32 elements only (its params hold `float*`, e.g. the tensor-core kernels):
// build.rs gives its handle no f64 name, so an f64 backend's launch is refused.
#define RECAUX_KERNEL_F32(name, Params, body) RECAUX_KERNEL(name, Params, body)
// The same with __launch_bounds__(threads, min_blocks) under nvcc (ptxas then keeps the
// registers to what `threads` threads can have with `min_blocks` blocks per SM); the launcher
// refuses a block of more than `threads` threads (the GPU would refuse the launch).
#ifdef RECAUX_EMU
#define RECAUX_KERNEL_F32_LB(name, Params, body, threads, min_blocks)          \
    static_assert((threads) >= 1 && (threads) <= 1024 && (min_blocks) >= 1,     \
                  #name ": launch bounds");                                     \
    RECAUX_KERNEL(name, Params, body)
#else
#define RECAUX_KERNEL_F32_LB(name, Params, body, threads, min_blocks)                 \
    extern "C" __global__ void __launch_bounds__(threads, min_blocks) name(const Params p) { \
        body(p);                                                                      \
    }
#endif

// Launch rules a kernel states beside its RECAUX_KERNEL line; build.rs puts them into the
// kernel's Rust handle and the launcher refuses a launch that breaks them (an error, not a
// wrong result). RECAUX_GRID_DIMS: the kernel grid-strides over x (d = 1, the default), x
// and y (2) or x, y and z (3); the other grid dimensions must be 1. RECAUX_BLOCK_MULTIPLE:
// blockDim = (a multiple of k, 1, 1), e.g. 32 for a kernel that calls rx_block_sum.
// RECAUX_BLOCK_EXACT: blockDim = (n, 1, 1).
#define RECAUX_GRID_DIMS(name, d) \
    static_assert((d) >= 1 && (d) <= 3, #name ": grid dims are 1, 2 or 3");
#define RECAUX_BLOCK_MULTIPLE(name, k) \
    static_assert((k) >= 1 && 1024 % (k) == 0, #name ": the block multiple must divide 1024");
#define RECAUX_BLOCK_EXACT(name, n) \
    static_assert((n) >= 1 && (n) <= 1024, #name ": the block size must be 1..1024");

// Static shared memory: RX_SHARED(float, buf, [16][33]) declares `__shared__ float buf[16][33]`
// (128-byte aligned). Under emu a static array that the launcher fills with 0xFF bytes (NaN in
// every float format) before every block, so a read before write shows up in a test.
#ifdef RECAUX_EMU
#define RX_SHARED(T, name, dims) static T(&name) dims = ::recaux_emu::shared_static<T dims>([] {})
#else
#define RX_SHARED(T, name, dims) __shared__ __align__(128) T name dims
#endif

// Dynamic shared memory (the launch's shared_bytes), 128-byte aligned; under emu poisoned like
// RX_SHARED before every block.
template <class T>
__device__ __forceinline__ T* rx_dyn_shared() {
#ifdef RECAUX_EMU
    return reinterpret_cast<T*>(::recaux_emu::g_dyn_shared);
#else
    extern __shared__ __align__(128) unsigned char rx_dyn_smem[];
    return reinterpret_cast<T*>(rx_dyn_smem);
#endif
}

// Global index helpers for 1-D grid-stride loops (kernels must be correct for any grid size:
// the emu launcher uses small grids).
__device__ __forceinline__ i64 rx_gid() { return (i64)blockIdx.x * blockDim.x + threadIdx.x; }
__device__ __forceinline__ i64 rx_gstride() { return (i64)gridDim.x * blockDim.x; }

// ---- math, overloaded by type (expf for float, exp for double, on both compilers) -----------
__device__ __forceinline__ float rx_exp(float x) { return expf(x); }
__device__ __forceinline__ double rx_exp(double x) { return exp(x); }
__device__ __forceinline__ float rx_log(float x) { return logf(x); }
__device__ __forceinline__ double rx_log(double x) { return log(x); }
__device__ __forceinline__ float rx_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double rx_sqrt(double x) { return sqrt(x); }

// ---- bits and finiteness, the same on both compilers -----------------------------------------
__device__ __forceinline__ float rx_uint_as_float(unsigned int b) {
#ifdef RECAUX_EMU
    float f;
    std::memcpy(&f, &b, sizeof f);
    return f;
#else
    return __uint_as_float(b);
#endif
}
// Not NaN and not infinite (x - x is 0 only for finite x; no reliance on -ffast-math-free
// isfinite overloads, and the same on nvcc and g++).
template <class T>
__device__ __forceinline__ bool rx_finite(T x) {
    return (x - x) == T(0);
}

// ---- Philox-4x32-10, the same function as src/rng.rs -----------------------------------------
// counter c[0..4], key (k0, k1); output overwrites c.
__device__ __forceinline__ void rx_philox4x32_10(u32 c[4], u32 k0, u32 k1) {
    const u32 M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
#pragma unroll
    for (int r = 0; r < 10; ++r) {
        if (r > 0) {
            k0 += W0;
            k1 += W1;
        }
        u32 hi0 = __umulhi(M0, c[0]), lo0 = M0 * c[0];
        u32 hi1 = __umulhi(M1, c[2]), lo1 = M1 * c[2];
        u32 n0 = hi1 ^ c[1] ^ k0, n1 = lo1, n2 = hi0 ^ c[3] ^ k1, n3 = lo0;
        c[0] = n0;
        c[1] = n1;
        c[2] = n2;
        c[3] = n3;
    }
}

// The four dropout words of elements 4q..4q+3 (rng::dropout_word): key = seed, counter =
// [q, tensor, step lo, step hi].
__device__ __forceinline__ void rx_dropout_words(u64 seed, u64 step, u32 tensor, u64 q,
                                                 u32 out[4]) {
    out[0] = (u32)q;
    out[1] = tensor;
    out[2] = (u32)step;
    out[3] = (u32)(step >> 32);
    rx_philox4x32_10(out, (u32)seed, (u32)(seed >> 32));
}

// ---- fixed-order block reduction --------------------------------------------------------------
// Sum of `v` over the block, valid in thread 0. The order of additions depends only on
// blockDim (a butterfly inside each warp, then warp 0 over the per-warp sums), so results are
// bit-reproducible run to run. Every thread of the block must call it (it has barriers).
// blockDim.x must be a multiple of 32 and at most 1024: a kernel that calls it declares
// RECAUX_BLOCK_MULTIPLE(kernel, 32), which the launcher checks.
template <class A>
__device__ __forceinline__ A rx_block_sum(A v) {
    RX_SHARED(A, warp_sums, [32]);
    const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32;
#pragma unroll
    for (int off = 16; off > 0; off /= 2) v += __shfl_down_sync(0xffffffffu, v, off);
    if (lane == 0) warp_sums[warp] = v;
    __syncthreads();
    const unsigned nwarps = blockDim.x / 32;
    A s = (threadIdx.x < nwarps) ? warp_sums[threadIdx.x] : A(0);
    if (warp == 0) {
#pragma unroll
        for (int off = 16; off > 0; off /= 2) s += __shfl_down_sync(0xffffffffu, s, off);
    }
    // warp_sums may be reused by a following call.
    __syncthreads();
    return s;
}
