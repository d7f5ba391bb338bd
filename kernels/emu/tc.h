// Host stand-ins for the tensor-core and async-copy primitives of kernels/tc.cuh (the `emu`
// backend). Included by kernels/emu/runtime.h; kernels reach it through tc.cuh only.
//
// What is emulated, and how it stays faithful to the PTX ISA where a kernel could notice:
// - Conversions f32 -> f16 / bf16 (cvt.rn: round to nearest, ties to even; overflow to inf;
//   subnormals kept) and f32 -> tf32 (cvt.rna: round to nearest, ties AWAY from zero, the only
//   tf32 rounding sm_80 has), by bit manipulation. NaN in gives the canonical NaN 0x7fff
//   (f16, bf16) or 0x7fffffff (tf32); which NaN the hardware returns is not relied upon.
// - WMMA (wmma.load / wmma.mma / wmma.store, PTX ISA "Matrix multiply-accumulate operation
//   using wmma instructions"): the PTX fragment layouts are unspecified, so the emu picks one.
//   An A or B fragment holds the whole 16x16 (or 16x8) tile in every lane; wmma.load makes
//   every lane read the whole tile (stricter than the GPU for the race detector: each lane must
//   be synchronised with every writer of the tile). An accumulator fragment holds 8 of the 256
//   elements per lane (lane l: row l/2, columns 8*(l%2) .. +8); wmma.mma computes a lane's
//   elements as c + sum over k in order of a*b in f32 (the products of f16/bf16/tf32 values
//   are exact in f32; the hardware's summation order differs: results agree within rounding).
//   Kernel code cannot touch fragment elements (no `x[]`), so a kernel that only loads,
//   multiplies, stores and fills is right on the GPU whenever it is right here.
//   Address rules of the ISA ("Matrix Storage for WMMA": every row/column start aligned to
//   the fragment's size in bytes: 32 B for f16 A/B and f32 accumulators, 16 B for bf16/tf32
//   A/B) are checked; a violation is a kernel fault (the launch returns an error).
// - cp.async (cp.async.ca/cg.shared.global, commit_group, wait_group): copies are queued per
//   thread at issue and performed only when a wait_group retires their group, so a kernel
//   that reads its destination without the wait reads what was there before (poison, or an
//   older stage) and fails its test. The destination must lie in shared memory, addresses be
//   aligned to the copy size, sizes be 4, 8 or 16 (fault otherwise). Copies still queued when
//   a block ends are a kernel fault (stricter than the GPU: every copy our kernels issue is
//   waited for).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <vector>

#include "shim.h"

namespace recaux_emu {

// ---- conversions --------------------------------------------------------------------------

inline uint32_t f32_bits(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    return x;
}
inline float bits_f32(uint32_t x) {
    float f;
    std::memcpy(&f, &x, 4);
    return f;
}

// cvt.rn.f16.f32
inline uint16_t f32_to_f16_rn(float f) {
    const uint32_t x = f32_bits(f);
    const uint32_t sign = (x >> 16) & 0x8000u;
    const uint32_t u = x & 0x7fffffffu;
    if (u >= 0x7f800000u) return (uint16_t)(u == 0x7f800000u ? (sign | 0x7c00u) : 0x7fffu);
    if (u >= 0x47800000u) return (uint16_t)(sign | 0x7c00u);  // >= 65536: inf
    if (u >= 0x38800000u) {                                   // normal f16 range (>= 2^-14)
        const uint32_t exp = (u >> 23) - 127 + 15;
        const uint32_t mant = u & 0x7fffffu;
        uint32_t h = (exp << 10) | (mant >> 13);
        const uint32_t rem = mant & 0x1fffu;
        // ties to even; a carry out of the mantissa correctly bumps the exponent (65520 -> inf)
        if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
        return (uint16_t)(sign | h);
    }
    if (u <= 0x33000000u) return (uint16_t)sign;  // <= 2^-25 (the tie with 2^-24 goes to 0)
    // subnormal f16: the value in units of 2^-24, rounded to nearest even
    const uint32_t exp = u >> 23;                     // 102 .. 112
    const uint32_t mant = (u & 0x7fffffu) | 0x800000u;  // value = mant * 2^(exp - 150)
    const uint32_t shift = 126 - exp;                 // value / 2^-24 = mant >> shift
    uint32_t h = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1u), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1u))) ++h;
    return (uint16_t)(sign | h);
}

// cvt.rn.bf16.f32
inline uint16_t f32_to_bf16_rn(float f) {
    const uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return 0x7fffu;
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

// cvt.rna.tf32.f32: the f32 bit pattern with the low 13 mantissa bits cleared.
inline uint32_t f32_to_tf32_rna(float f) {
    const uint32_t x = f32_bits(f);
    if ((x & 0x7f800000u) == 0x7f800000u)  // inf stays, NaN becomes canonical
        return (x & 0x7fffffu) ? 0x7fffffffu : x;
    return (x + 0x1000u) & 0xffffe000u;  // half an ulp added to the magnitude: ties away
}

inline float f16_to_f32(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    if (exp == 0x1fu) return bits_f32(sign | 0x7f800000u | (mant << 13));
    if (exp != 0) return bits_f32(sign | ((exp - 15 + 127) << 23) | (mant << 13));
    // zero or subnormal: mant * 2^-24, exact in f32
    const float v = (float)mant * 5.9604644775390625e-08f;
    return sign ? -v : v;
}
inline float bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

// ---- WMMA ---------------------------------------------------------------------------------

// Element types of the multiplicands (tags shared with kernels/tc.cuh).
enum class TcType { f16, bf16, tf32 };

template <TcType Op>
struct TcShape;
template <>
struct TcShape<TcType::f16> {
    static constexpr int K = 16, elem_bytes = 2, frag_bytes = 32;
};
template <>
struct TcShape<TcType::bf16> {
    static constexpr int K = 16, elem_bytes = 2, frag_bytes = 16;
};
template <>
struct TcShape<TcType::tf32> {
    static constexpr int K = 8, elem_bytes = 4, frag_bytes = 16;
};

// A (16 x K, element (i, k) at v[i*K + k]) or B (K x 16, element (k, j) at v[k*16 + j]):
// the whole tile in every lane.
template <TcType Op>
struct EmuFragAB {
    float v[16 * TcShape<Op>::K];
};
// Accumulator: this lane's 8 elements (row lane/2, columns 8*(lane%2) .. +8).
struct EmuFragC {
    float v[8];
};

inline bool aligned_to(const void* p, size_t n) { return ((uintptr_t)p % n) == 0; }

// Checks the ISA's address rule for a tile whose leading-dimension instances start at
// p + i*ld elements: p and ld*elem_bytes multiples of frag_bytes.
inline bool wmma_addr_ok(const void* p, unsigned ld, int elem_bytes, int frag_bytes,
                         const char* what) {
    if (aligned_to(p, frag_bytes) && ((size_t)ld * elem_bytes) % frag_bytes == 0) return true;
    char msg[160];
    std::snprintf(msg, sizeof msg,
                  "%s: address %p / stride %u elements not aligned to the fragment size (%d B)",
                  what, p, ld, frag_bytes);
    fault(msg);
    return false;
}

inline float tc_elem(TcType op, const void* p, size_t i) {
    if (op == TcType::tf32) return static_cast<const float*>(p)[i];
    uint16_t h;
    std::memcpy(&h, static_cast<const unsigned char*>(p) + 2 * i, 2);
    return op == TcType::f16 ? f16_to_f32(h) : bf16_to_f32(h);
}

// rows x cols tile; element (r, c) at p[r*ld + c] (row major) or p[c*ld + r] (col major).
template <TcType Op>
inline void emu_load_tile(float* v, int rows, int cols, const void* p, unsigned ld, bool row_major,
                          const char* what) {
    constexpr int eb = TcShape<Op>::elem_bytes, fb = TcShape<Op>::frag_bytes;
    if (!wmma_addr_ok(p, ld, eb, fb, what)) {
        for (int i = 0; i < rows * cols; ++i) v[i] = bits_f32(0x7fffffffu);
        return;
    }
    for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c)
            v[r * cols + c] = tc_elem(Op, p, row_major ? (size_t)r * ld + c : (size_t)c * ld + r);
}

template <TcType Op>
inline void emu_load_a(EmuFragAB<Op>& f, const void* p, unsigned ld, bool row_major) {
    emu_load_tile<Op>(f.v, 16, TcShape<Op>::K, p, ld, row_major, "wmma.load.a");
}
template <TcType Op>
inline void emu_load_b(EmuFragAB<Op>& f, const void* p, unsigned ld, bool row_major) {
    emu_load_tile<Op>(f.v, TcShape<Op>::K, 16, p, ld, row_major, "wmma.load.b");
}

template <TcType Op>
inline void emu_mma(EmuFragC& d, const EmuFragAB<Op>& a, const EmuFragAB<Op>& b,
                    const EmuFragC& c) {
    constexpr int K = TcShape<Op>::K;
    const unsigned lane = lane_id();
    for (int e = 0; e < 8; ++e) {
        const int idx = (int)lane * 8 + e, i = idx / 16, j = idx % 16;
        float acc = c.v[e];
        for (int k = 0; k < K; ++k) acc += a.v[i * K + k] * b.v[k * 16 + j];
        d.v[e] = acc;
    }
}

inline void emu_fill_c(EmuFragC& c, float x) {
    for (float& v : c.v) v = x;
}

inline void emu_store_c(float* p, const EmuFragC& c, unsigned ld, bool row_major) {
    if (!wmma_addr_ok(p, ld, 4, 32, "wmma.store.d")) return;
    const unsigned lane = lane_id();
    for (int e = 0; e < 8; ++e) {
        const int idx = (int)lane * 8 + e, i = idx / 16, j = idx % 16;
        p[row_major ? (size_t)i * ld + j : (size_t)j * ld + i] = c.v[e];
    }
}

inline void emu_load_c(EmuFragC& c, const float* p, unsigned ld, bool row_major) {
    if (!wmma_addr_ok(p, ld, 4, 32, "wmma.load.c")) {
        emu_fill_c(c, bits_f32(0x7fffffffu));
        return;
    }
    const unsigned lane = lane_id();
    for (int e = 0; e < 8; ++e) {
        const int idx = (int)lane * 8 + e, i = idx / 16, j = idx % 16;
        c.v[e] = p[row_major ? (size_t)i * ld + j : (size_t)j * ld + i];
    }
}

template <TcType Op>
inline void emu_round_tf32(EmuFragAB<Op>& f) {
    static_assert(Op == TcType::tf32, "tf32 rounding of a non-tf32 fragment");
    for (float& v : f.v) v = bits_f32(f32_to_tf32_rna(v));
}

// ---- cp.async -----------------------------------------------------------------------------

struct AsyncCopy {
    void* dst;
    const void* src;
    unsigned cp_size, src_size;
};
struct AsyncState {
    std::vector<AsyncCopy> uncommitted;
    std::deque<std::vector<AsyncCopy>> groups;
};
inline thread_local AsyncState t_async;

inline void cp_async(void* dst, const void* src, unsigned cp_size, unsigned src_size) {
    char msg[160];
    if (cp_size != 4 && cp_size != 8 && cp_size != 16) {
        std::snprintf(msg, sizeof msg, "cp.async: copy size %u is not 4, 8 or 16", cp_size);
        fault(msg);
        return;
    }
    if (src_size > cp_size || !aligned_to(dst, cp_size) || (src_size && !aligned_to(src, cp_size))) {
        std::snprintf(msg, sizeof msg, "cp.async: dst %p / src %p / src-size %u vs size %u", dst,
                      src, src_size, cp_size);
        fault(msg);
        return;
    }
    if (!in_shared(dst, cp_size)) {
        std::snprintf(msg, sizeof msg, "cp.async: destination %p is not shared memory", dst);
        fault(msg);
        return;
    }
    t_async.uncommitted.push_back(AsyncCopy{dst, src, cp_size, src_size});
}

inline void cp_async_commit() {
    t_async.groups.push_back(std::move(t_async.uncommitted));
    t_async.uncommitted.clear();
}

// Performs the copies of every group but the `n` most recent ones.
inline void cp_async_wait(unsigned n) {
    while (t_async.groups.size() > n) {
        for (const AsyncCopy& c : t_async.groups.front()) {
            if (c.src_size) std::memcpy(c.dst, c.src, c.src_size);
            std::memset(static_cast<unsigned char*>(c.dst) + c.src_size, 0,
                        c.cp_size - c.src_size);
        }
        t_async.groups.pop_front();
    }
}

// At the end of a block: copies never waited for are a fault; the queue is cleared.
inline void cp_async_block_end() {
    size_t pending = t_async.uncommitted.size();
    for (auto& g : t_async.groups) pending += g.size();
    if (pending) {
        char msg[128];
        std::snprintf(msg, sizeof msg,
                      "cp.async: %zu copies of thread %u never waited for (missing wait_group)",
                      pending, (unsigned)(threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z)));
        fault(msg);
    }
    t_async.uncommitted.clear();
    t_async.groups.clear();
}

}  // namespace recaux_emu
