// Host stand-ins for the CUDA built-ins that kernels/*.cu use, for the `emu` backend: the same
// kernel source compiled by g++ and run block by block, each CUDA thread a host thread
// (kernels/emu/runtime.h runs the grid). Only what the kernels use is here (threadIdx,
// blockIdx, blockDim, gridDim, __syncthreads, __shfl_down_sync, __shared__, __umulhi and the
// qualifiers); a kernel that needs another built-in adds it here with CUDA's semantics.
//
// Mapping:
// - threadIdx / blockIdx are per-host-thread (thread_local); blockDim / gridDim are set once per
//   launch before the workers start.
// - __shared__ is `static`: blocks run one after another, so one static array per kernel
//   instantiation stands in for the block's shared memory.
// - __syncthreads() is a barrier over the block's host threads; warp shuffles go through a
//   per-warp exchange array between two per-warp barriers.
// Rules this imposes on kernels (CUDA requires them too): every thread of a block reaches every
// __syncthreads() (no early return before a barrier), and every lane of a warp takes part in a
// shuffle (full mask).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

struct uint3 {
    unsigned x, y, z;
};
struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};

namespace recaux_emu {
inline thread_local uint3 t_thread_idx{0, 0, 0};
inline thread_local uint3 t_block_idx{0, 0, 0};
inline dim3 g_block_dim;
inline dim3 g_grid_dim;
inline unsigned char* g_dyn_shared = nullptr;

void sync_block();
// Publishes `bits` for this lane, then returns the bits of lane `src` of the same warp (or
// `bits` itself when `src` is outside the warp).
uint64_t warp_exchange(uint64_t bits, int src);
unsigned lane_id();

template <class T>
inline T shfl_from(T v, int src) {
    static_assert(sizeof(T) <= 8, "warp shuffle of a type wider than 8 bytes");
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    uint64_t got = warp_exchange(bits, src);
    T out;
    std::memcpy(&out, &got, sizeof(T));
    return out;
}
}  // namespace recaux_emu

#define threadIdx (::recaux_emu::t_thread_idx)
#define blockIdx (::recaux_emu::t_block_idx)
#define blockDim (::recaux_emu::g_block_dim)
#define gridDim (::recaux_emu::g_grid_dim)

#define __device__
#define __forceinline__ inline
#define __shared__ static

inline void __syncthreads() { ::recaux_emu::sync_block(); }

template <class T>
inline T __shfl_down_sync(unsigned, T v, unsigned delta, int width = 32) {
    int lane = (int)::recaux_emu::lane_id();
    int src = lane + (int)delta;
    // CUDA: a source lane outside the lane's width-segment returns the lane's own value.
    if (src / width != lane / width) src = -1;
    return ::recaux_emu::shfl_from(v, src);
}
inline unsigned __umulhi(unsigned a, unsigned b) {
    return (unsigned)(((unsigned long long)a * (unsigned long long)b) >> 32);
}
