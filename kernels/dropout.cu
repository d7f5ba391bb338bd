// Dropout, forward and backward, for all replicas at once. Nothing is stored: the mask of
// replica r, element i is a pure function of (seeds[r], step, tensor, i) through Philox
// (rx_dropout_words, the same as src/rng.rs), so the backward recomputes it and the CPU draws
// the same mask. One thread per 4 elements: one Philox call gives the 4 words.
// Grid: x strides over quads of a replica's n elements, y = replica.
#include "common.cuh"

template <class T>
struct DropoutP {
    const T* x;       // fwd: x [M or 1, n]; bwd: dy [M, n]
    T* y;             // fwd: y [M, n] (overwritten); bwd: dx [M, n] (accumulated)
    i64 n;            // elements per replica
    i64 x_stride;     // 0 when x is shared by the replicas, else n
    u64 step;         // training step
    double scale;     // 1 / (1 - p)
    u32 threshold;    // keep when (word >> 8) >= threshold (rng::dropout_threshold)
    u32 tensor;       // dropout site id
    u64 seeds[RX_MAX_REPLICAS];
};

template <class T, bool kBackward>
__device__ __forceinline__ void dropout_body(const DropoutP<T>& p) {
    const i64 r = blockIdx.y;
    const u64 seed = p.seeds[r];
    const T scale = (T)p.scale;
    const T* x = p.x + r * p.x_stride;
    T* y = p.y + r * p.n;
    const i64 nq = (p.n + 3) / 4;
    for (i64 q = rx_gid(); q < nq; q += rx_gstride()) {
        u32 w[4];
        rx_dropout_words(seed, p.step, p.tensor, (u64)q, w);
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
template <class T>
__device__ void dropout_fwd(const DropoutP<T>& p) {
    dropout_body<T, false>(p);
}
template <class T>
__device__ void dropout_bwd(const DropoutP<T>& p) {
    dropout_body<T, true>(p);
}
RECAUX_KERNEL_FT(dropout_fwd, DropoutP, dropout_fwd)
RECAUX_KERNEL_FT(dropout_bwd, DropoutP, dropout_bwd)
