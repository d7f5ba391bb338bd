// Tensor-core and async-copy primitives for the fast kernels (lstm_persist.cu, gemm_tc.cu):
// WMMA tiles through PTX `wmma.*`, `cp.async` staging, and the f32 -> f16 / bf16 / tf32
// conversions. Under nvcc inline PTX (sm_80+); under emu the host stand-ins of
// kernels/emu/tc.h (which says how each is emulated and checked).
//
// Why WMMA and not hand-written mma.sync: the PTX ISA leaves WMMA fragment layouts
// unspecified, and these wrappers give kernel code no access to fragment elements. A kernel
// that only loads, multiplies, stores and zero-fills fragments (element-wise work goes through
// shared memory) is therefore correct on the GPU whenever it is correct on the emulator,
// whatever layout either uses. ptxas keeps f16 fragments at 4 live registers per 16x16 tile
// (the PTX form names 8, half of them duplicates), so W_hh fits in registers.
//
// The CUDA headers' wmma / half types are not used: the PyPI nvcc this project installs has no
// CCCL headers (cuda_fp16.h needs <nv/target>), and raw PTX keeps emu and nvcc on one API.
//
// Shapes: f16 and bf16 tiles are m16n16k16, tf32 tiles m16n16k8; accumulators are f32.
// Address rules (PTX ISA, "Matrix Storage for WMMA"): every row (row layout) or column (col
// layout) of a tile starts at an address aligned to the fragment size: 32 bytes for f16 A/B
// and f32 accumulators, 16 bytes for bf16 and tf32 A/B. So f16 strides are multiples of 16
// elements, bf16 of 8, tf32 of 4, accumulator strides multiples of 8 floats.
#pragma once

#include "common.cuh"

#ifdef RECAUX_EMU
using RxOp = ::recaux_emu::TcType;
#else
enum class RxOp { f16, bf16, tf32 };
#endif
enum class RxLay { row, col };

// ---- conversions ------------------------------------------------------------------------------

// cvt.rn.f16.f32: round to nearest even, overflow to inf.
__device__ __forceinline__ unsigned short rx_f32_to_f16(float x) {
#ifdef RECAUX_EMU
    return ::recaux_emu::f32_to_f16_rn(x);
#else
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(x));
    return h;
#endif
}
// cvt.rn.bf16.f32: round to nearest even.
__device__ __forceinline__ unsigned short rx_f32_to_bf16(float x) {
#ifdef RECAUX_EMU
    return ::recaux_emu::f32_to_bf16_rn(x);
#else
    unsigned short h;
    asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(x));
    return h;
#endif
}
// cvt.rna.tf32.f32: round to nearest, ties away from zero (sm_80's only tf32 rounding);
// the f32 bit pattern with the low 13 mantissa bits cleared.
__device__ __forceinline__ unsigned rx_f32_to_tf32(float x) {
#ifdef RECAUX_EMU
    return ::recaux_emu::f32_to_tf32_rna(x);
#else
    unsigned u;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(u) : "f"(x));
    return u;
#endif
}
__device__ __forceinline__ float rx_f16_to_f32(unsigned short h) {
#ifdef RECAUX_EMU
    return ::recaux_emu::f16_to_f32(h);
#else
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
#endif
}
__device__ __forceinline__ float rx_bf16_to_f32(unsigned short h) {
#ifdef RECAUX_EMU
    return ::recaux_emu::bf16_to_f32(h);
#else
    return __uint_as_float((unsigned)h << 16);
#endif
}
// f32 -> the 16-bit storage of a tensor-core operand type.
template <RxOp Op>
__device__ __forceinline__ unsigned short rx_f32_to_op16(float x) {
    static_assert(Op != RxOp::tf32, "tf32 is stored as 32 bits");
    return Op == RxOp::f16 ? rx_f32_to_f16(x) : rx_f32_to_bf16(x);
}

// ---- WMMA fragments ----------------------------------------------------------------------------

#ifdef RECAUX_EMU
template <RxOp Op, RxLay L>
struct RxFragA {
    ::recaux_emu::EmuFragAB<Op> f;
};
template <RxOp Op, RxLay L>
struct RxFragB {
    ::recaux_emu::EmuFragAB<Op> f;
};
template <RxOp Op>
struct RxFragC {
    ::recaux_emu::EmuFragC f;
};
#else
// Registers of an A or B fragment: 8 .b32 for f16 (PTX form), 4 for bf16 and tf32.
template <RxOp Op>
struct RxABRegs {
    static constexpr int n = Op == RxOp::f16 ? 8 : 4;
};
template <RxOp Op, RxLay L>
struct RxFragA {
    unsigned r[RxABRegs<Op>::n];
};
template <RxOp Op, RxLay L>
struct RxFragB {
    unsigned r[RxABRegs<Op>::n];
};
template <RxOp Op>
struct RxFragC {
    float r[8];
};
#endif

#ifndef RECAUX_EMU
#define RX_AB8(f) \
    "=r"(f.r[0]), "=r"(f.r[1]), "=r"(f.r[2]), "=r"(f.r[3]), "=r"(f.r[4]), "=r"(f.r[5]), \
        "=r"(f.r[6]), "=r"(f.r[7])
#define RX_AB4(f) "=r"(f.r[0]), "=r"(f.r[1]), "=r"(f.r[2]), "=r"(f.r[3])
#define RX_IN8(f) \
    "r"(f.r[0]), "r"(f.r[1]), "r"(f.r[2]), "r"(f.r[3]), "r"(f.r[4]), "r"(f.r[5]), "r"(f.r[6]), \
        "r"(f.r[7])
#define RX_IN4(f) "r"(f.r[0]), "r"(f.r[1]), "r"(f.r[2]), "r"(f.r[3])
#define RX_C8OUT(f) \
    "=f"(f.r[0]), "=f"(f.r[1]), "=f"(f.r[2]), "=f"(f.r[3]), "=f"(f.r[4]), "=f"(f.r[5]), \
        "=f"(f.r[6]), "=f"(f.r[7])
#define RX_C8IN(f) \
    "f"(f.r[0]), "f"(f.r[1]), "f"(f.r[2]), "f"(f.r[3]), "f"(f.r[4]), "f"(f.r[5]), "f"(f.r[6]), \
        "f"(f.r[7])
#define RX_L8 "{%0,%1,%2,%3,%4,%5,%6,%7}, [%8], %9;"
#define RX_L4 "{%0,%1,%2,%3}, [%4], %5;"
#endif

#ifndef RECAUX_EMU
// The body of rx_load_a / rx_load_b: wmma.load.<AB> of fragment f from p with stride ld, for
// the function's Op and L.
#define RX_WMMA_LOAD(AB, f)                                                              \
    if constexpr (Op == RxOp::f16 && L == RxLay::row)                                    \
        asm volatile("wmma.load." AB ".sync.aligned.row.m16n16k16.f16 " RX_L8            \
                     : RX_AB8(f) : "l"(p), "r"(ld) : "memory");                         \
    else if constexpr (Op == RxOp::f16)                                                  \
        asm volatile("wmma.load." AB ".sync.aligned.col.m16n16k16.f16 " RX_L8            \
                     : RX_AB8(f) : "l"(p), "r"(ld) : "memory");                         \
    else if constexpr (Op == RxOp::bf16 && L == RxLay::row)                              \
        asm volatile("wmma.load." AB ".sync.aligned.row.m16n16k16.bf16 " RX_L4           \
                     : RX_AB4(f) : "l"(p), "r"(ld) : "memory");                         \
    else if constexpr (Op == RxOp::bf16)                                                 \
        asm volatile("wmma.load." AB ".sync.aligned.col.m16n16k16.bf16 " RX_L4           \
                     : RX_AB4(f) : "l"(p), "r"(ld) : "memory");                         \
    else if constexpr (L == RxLay::row)                                                  \
        asm volatile("wmma.load." AB ".sync.aligned.row.m16n16k8.tf32 " RX_L4            \
                     : RX_AB4(f) : "l"(p), "r"(ld) : "memory");                         \
    else                                                                                 \
        asm volatile("wmma.load." AB ".sync.aligned.col.m16n16k8.tf32 " RX_L4            \
                     : RX_AB4(f) : "l"(p), "r"(ld) : "memory");
#endif

// Loads the 16 x K tile A (element (i, k) at p[i*ld + k] for row, p[k*ld + i] for col).
template <RxOp Op, RxLay L>
__device__ __forceinline__ void rx_load_a(RxFragA<Op, L>& a, const void* p, unsigned ld) {
#ifdef RECAUX_EMU
    ::recaux_emu::emu_load_a<Op>(a.f, p, ld, L == RxLay::row);
#else
    RX_WMMA_LOAD("a", a)
#endif
}

// Loads the K x 16 tile B (element (k, j) at p[k*ld + j] for row, p[j*ld + k] for col).
template <RxOp Op, RxLay L>
__device__ __forceinline__ void rx_load_b(RxFragB<Op, L>& b, const void* p, unsigned ld) {
#ifdef RECAUX_EMU
    ::recaux_emu::emu_load_b<Op>(b.f, p, ld, L == RxLay::row);
#else
    RX_WMMA_LOAD("b", b)
#endif
}

// Rounds every element of a tf32 A or B fragment loaded from f32 memory (cvt.rna.tf32.f32):
// the same operation on every element, so it does not depend on the fragment layout.
template <class Frag>
__device__ __forceinline__ void rx_round_tf32(Frag& f) {
#ifdef RECAUX_EMU
    ::recaux_emu::emu_round_tf32<RxOp::tf32>(f.f);  // does not compile for f16 / bf16 tiles
#else
#pragma unroll
    for (int i = 0; i < 4; ++i) f.r[i] = rx_f32_to_tf32(__uint_as_float(f.r[i]));
#endif
}

template <RxOp Op>
__device__ __forceinline__ void rx_fill_zero(RxFragC<Op>& c) {
#ifdef RECAUX_EMU
    ::recaux_emu::emu_fill_c(c.f, 0.0f);
#else
#pragma unroll
    for (int i = 0; i < 8; ++i) c.r[i] = 0.0f;
#endif
}

#ifndef RECAUX_EMU
#define RX_MMA_F16(LA, LB)                                                                     \
    asm("wmma.mma.sync.aligned." LA "." LB ".m16n16k16.f32.f32 "                               \
        "{%0,%1,%2,%3,%4,%5,%6,%7}, {%8,%9,%10,%11,%12,%13,%14,%15}, "                         \
        "{%16,%17,%18,%19,%20,%21,%22,%23}, {%24,%25,%26,%27,%28,%29,%30,%31};"                \
        : RX_C8OUT(d) : RX_IN8(a), RX_IN8(b), RX_C8IN(c))
#define RX_MMA_4(LA, LB, SHAPE, TY)                                                            \
    asm("wmma.mma.sync.aligned." LA "." LB "." SHAPE ".f32." TY "." TY ".f32 "                 \
        "{%0,%1,%2,%3,%4,%5,%6,%7}, {%8,%9,%10,%11}, {%12,%13,%14,%15}, "                      \
        "{%16,%17,%18,%19,%20,%21,%22,%23};"                                                   \
        : RX_C8OUT(d) : RX_IN4(a), RX_IN4(b), RX_C8IN(c))
#define RX_MMA_ALL(M, ...)                                                             \
    if constexpr (LA == RxLay::row && LB == RxLay::row) M("row", "row" __VA_ARGS__);   \
    else if constexpr (LA == RxLay::row && LB == RxLay::col) M("row", "col" __VA_ARGS__); \
    else if constexpr (LA == RxLay::col && LB == RxLay::row) M("col", "row" __VA_ARGS__); \
    else M("col", "col" __VA_ARGS__);
#endif

// d = a b + c (d may alias c).
template <RxOp Op, RxLay LA, RxLay LB>
__device__ __forceinline__ void rx_mma(RxFragC<Op>& d, const RxFragA<Op, LA>& a,
                                       const RxFragB<Op, LB>& b, const RxFragC<Op>& c) {
#ifdef RECAUX_EMU
    ::recaux_emu::emu_mma<Op>(d.f, a.f, b.f, c.f);
#else
    if constexpr (Op == RxOp::f16) {
        RX_MMA_ALL(RX_MMA_F16)
    } else if constexpr (Op == RxOp::bf16) {
        RX_MMA_ALL(RX_MMA_4, , "m16n16k16", "bf16")
    } else {
        RX_MMA_ALL(RX_MMA_4, , "m16n16k8", "tf32")
    }
#endif
}

// Stores the 16 x 16 accumulator row-major: element (i, j) to p[i*ld + j] (ld % 8 == 0, p
// 32-byte aligned).
template <RxOp Op>
__device__ __forceinline__ void rx_store_c(float* p, const RxFragC<Op>& c, unsigned ld) {
#ifdef RECAUX_EMU
    ::recaux_emu::emu_store_c(p, c.f, ld, true);
#else
    if constexpr (Op == RxOp::tf32)
        asm volatile(
            "wmma.store.d.sync.aligned.row.m16n16k8.f32 [%0], {%1,%2,%3,%4,%5,%6,%7,%8}, %9;" ::"l"(p),
            RX_C8IN(c), "r"(ld)
            : "memory");
    else
        asm volatile(
            "wmma.store.d.sync.aligned.row.m16n16k16.f32 [%0], {%1,%2,%3,%4,%5,%6,%7,%8}, %9;" ::"l"(
                p),
            RX_C8IN(c), "r"(ld)
            : "memory");
#endif
}

// ---- cp.async ----------------------------------------------------------------------------------

// Asynchronously copies 16 bytes from global `src` to shared `dst` (both 16-byte aligned); only
// the first `src_bytes` (0..16) are read, the rest of the 16 are zero-filled. The data is
// visible to this thread after rx_cp_async_wait retires its group; other threads need a
// barrier after that wait.
__device__ __forceinline__ void rx_cp_async16(void* dst, const void* src, unsigned src_bytes) {
#ifdef RECAUX_EMU
    ::recaux_emu::cp_async(dst, src, 16, src_bytes);
#else
    const unsigned d = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(d),
                 "l"(__cvta_generic_to_global(src)), "r"(src_bytes)
                 : "memory");
#endif
}
// Closes the group of copies issued since the last commit (possibly empty).
__device__ __forceinline__ void rx_cp_async_commit() {
#ifdef RECAUX_EMU
    ::recaux_emu::cp_async_commit();
#else
    asm volatile("cp.async.commit_group;" ::: "memory");
#endif
}
// Waits until at most N of this thread's most recent groups are pending.
template <int N>
__device__ __forceinline__ void rx_cp_async_wait() {
#ifdef RECAUX_EMU
    ::recaux_emu::cp_async_wait(N);
#else
    asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
#endif
}

// ---- vector stores -----------------------------------------------------------------------------

// Stores 4 floats to a 16-byte aligned address (one 128-bit store on the GPU).
__device__ __forceinline__ void rx_store4(float* p, float a, float b, float c, float d) {
#ifdef RECAUX_EMU
    p[0] = a;
    p[1] = b;
    p[2] = c;
    p[3] = d;
#else
    *reinterpret_cast<float4*>(p) = make_float4(a, b, c, d);
#endif
}
