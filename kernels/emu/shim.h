// Host stand-ins for the CUDA built-ins that kernels/*.cu use, for the `emu` backend: the same
// kernel source compiled by g++ and run block by block, each CUDA thread a host thread
// (kernels/emu/runtime.h runs the grid). Only what the kernels use is here (threadIdx,
// blockIdx, blockDim, gridDim, __syncthreads, __syncwarp, __shfl_down_sync, __umulhi, the
// qualifiers, and static shared memory through RX_SHARED); a kernel that needs another
// built-in adds it here with CUDA's semantics. The tensor-core and cp.async stand-ins are in
// kernels/emu/tc.h.
//
// Mapping:
// - threadIdx / blockIdx are per-host-thread (thread_local); blockDim / gridDim are set once per
//   launch before the workers start.
// - Static shared memory is declared with RX_SHARED(T, name, dims) (common.cuh): under emu a
//   static array per declaration site and kernel instantiation (blocks run one after another),
//   registered on first use so that the launcher fills it with a poison pattern (0xFF bytes:
//   NaN in every float format) before every block, like the dynamic shared memory. A plain
//   `__shared__` does not compile under emu (it could not be poisoned).
// - __syncthreads() is a barrier over the block's host threads, __syncwarp() over the warp's;
//   warp shuffles go through a per-warp exchange array between two per-warp barriers.
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
inline size_t g_dyn_shared_bytes = 0;

// Reports a kernel fault (a misuse the GPU would fault on or leave undefined: misaligned
// tensor-core or async-copy address, cp.async without a wait...). The first message of a
// launch is kept and the launch returns it as an error; the kernel goes on (no deadlock).
void fault(const char* msg);

// Static shared memory (RX_SHARED): one storage per (declaration site, kernel instantiation),
// registered on first use for the per-block poison fill (kernels/emu/runtime.h).
void register_shared(void* p, size_t bytes);
// Whether [p, p + bytes) lies inside the dynamic or a registered static shared memory region.
bool in_shared(const void* p, size_t bytes);
template <class X, class Tag>
inline X& shared_static(Tag) {
    alignas(128) static X storage;
    static const bool registered = (register_shared(&storage, sizeof(X)), true);
    (void)registered;
    return storage;
}

void sync_block();
void sync_warp();
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
// Use RX_SHARED (common.cuh) for static shared memory: the emu poisons it before each block.
#define __shared__ __shared___is_not_poisoned_under_emu_use_RX_SHARED

inline void __syncthreads() { ::recaux_emu::sync_block(); }
inline void __syncwarp(unsigned = 0xffffffffu) { ::recaux_emu::sync_warp(); }

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
