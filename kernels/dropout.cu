// Dropout, forward and backward, for all replicas at once (the CPU twin:
// src/backend/cpu/dropout.rs; launch code: src/backend/kernel/dropout.rs). Nothing is stored:
// the mask of replica r, element i is a pure function of (seeds[r], step, tensor, i) through
// Philox (rx_dropout_words, the same as src/rng.rs), so the backward recomputes it and the CPU
// draws the same mask. One thread per 4 elements: one Philox call gives the 4 words.
// Grid: x strides over quads of a replica's n elements, y strides over replicas; any grid is
// correct and gives the same result (every element is one thread's work). The step counter is
// a params field, or, in a training step, read from the step's values in device memory, so
// that a recorded step (CUDA graph) replays with the counter of the step being run.
#include "common.cuh"

// Both kernels: dropout_fwd writes y = x * keep * scale; dropout_bwd adds dx += dy * keep *
// scale (x is dy, y is dx).
template <class T>
struct DropoutP {
    const T* x;       // fwd: x [M or 1, n]; bwd: dy [M, n]
    T* y;             // fwd: y [M, n] (overwritten); bwd: dx [M, n] (accumulated)
    i64 n;            // elements per replica
    i64 x_stride;     // 0 when x is shared by the replicas, else n
    i64 m;            // replicas
    u64 step;         // training step
    const u64* step_at;  // when not null, the step is read here (a step's StepVals: replays)
    double scale;     // 1 / (1 - p)
    u32 threshold;    // keep when (word >> 8) >= threshold (rng::dropout_threshold)
    u32 tensor;       // dropout site id
    u64 seeds[RX_MAX_REPLICAS];  // one per replica
};

template <class T, bool kBackward>
__device__ __forceinline__ void dropout_body(const DropoutP<T>& p) {
    const T scale = (T)p.scale;
    const i64 nq = (p.n + 3) / 4;
    const u64 step = p.step_at ? *p.step_at : p.step;
    for (i64 r = blockIdx.y; r < p.m; r += gridDim.y) {
        const u64 seed = p.seeds[r];
        const T* x = p.x + r * p.x_stride;
        T* y = p.y + r * p.n;
        for (i64 q = rx_gid(); q < nq; q += rx_gstride()) {
            u32 w[4];
            rx_dropout_words(seed, step, p.tensor, (u64)q, w);
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                const i64 i = 4 * q + j;
                if (i < p.n) {
                    // x * mask * scale, as PyTorch: a dropped NaN stays NaN (NaN * 0)
                    const T v = x[i] * ((w[j] >> 8) >= p.threshold ? scale : T(0));
                    if (kBackward) {
                        y[i] += v;
                    } else {
                        y[i] = v;
                    }
                }
            }
        }
    }
}
template <class T>
__device__ void dropout_fwd(const DropoutP<T>& p) {
    dropout_body<T, false>(p);
}
template <class T>
__device__ void dropout_bwd(const DropoutP<T>& p) {
    dropout_body<T, true>(p);
}
RECAUX_KERNEL_FT(dropout_fwd, DropoutP, dropout_fwd)
RECAUX_GRID_DIMS(dropout_fwd, 2)
RECAUX_KERNEL_FT(dropout_bwd, DropoutP, dropout_bwd)
RECAUX_GRID_DIMS(dropout_bwd, 2)
