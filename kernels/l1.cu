// L1 loss (mean absolute error per replica), forward and backward (the CPU twin:
// src/backend/cpu/l1.rs; launch code: src/backend/kernel/l1.rs). The forward reduction is
// fixed-order: per-thread strided sums over a chunk, rx_block_sum, then a sequential sum of
// the chunk partials, accumulated in double. The chunk partition is fixed by the host from n
// alone and each chunk is one block's work, so the loss is bit-identical for any grid.
#include "common.cuh"

// l1_fwd_partial, grid-stride over (chunk b in x, replica in y), blockDim a multiple of 32:
// partial[r * nb + b] = sum over chunk b of |r - target|.
// target: [n] (shared), r: [M, n]; chunk = ceil(n / nb).
template <class T>
struct L1FwdPartialP {
    const T* target;
    const T* r;
    double* partial;  // [M, nb]
    i64 n;
    i64 chunk;
    i64 nb;
    i64 m;
};
template <class T>
__device__ void l1_fwd_partial(const L1FwdPartialP<T>& p) {
    // Loop bounds depend on the block index only: every thread of a block takes the same
    // iterations, as rx_block_sum's barriers need.
    for (i64 rep = blockIdx.y; rep < p.m; rep += gridDim.y) {
        const T* x = p.r + rep * p.n;
        for (i64 b = blockIdx.x; b < p.nb; b += gridDim.x) {
            const i64 lo = b * p.chunk;
            const i64 hi = lo + p.chunk < p.n ? lo + p.chunk : p.n;
            double acc = 0.0;
            for (i64 i = lo + threadIdx.x; i < hi; i += blockDim.x) {
                T d = x[i] - p.target[i];
                acc += (double)(d < T(0) ? -d : d);
            }
            acc = rx_block_sum(acc);
            if (threadIdx.x == 0) p.partial[rep * p.nb + b] = acc;
        }
    }
}
RECAUX_KERNEL_FT(l1_fwd_partial, L1FwdPartialP, l1_fwd_partial)
RECAUX_GRID_DIMS(l1_fwd_partial, 2)
RECAUX_BLOCK_MULTIPLE(l1_fwd_partial, 32)

// l1_fwd_finish, one thread per replica (grid-stride): loss[r] = (sum_b partial[r, b]) / n,
// b in order.
template <class T>
struct L1FwdFinishP {
    const double* partial;
    T* loss;  // [M]
    i64 n;
    i64 nb;
    i64 m;
};
template <class T>
__device__ void l1_fwd_finish(const L1FwdFinishP<T>& p) {
    for (i64 rep = rx_gid(); rep < p.m; rep += rx_gstride()) {
        double s = 0.0;
        for (i64 b = 0; b < p.nb; ++b) s += p.partial[rep * p.nb + b];
        p.loss[rep] = (T)(s / (double)p.n);
    }
}
RECAUX_KERNEL_FT(l1_fwd_finish, L1FwdFinishP, l1_fwd_finish)

// l1_bwd: dr[r, i] += (scale[r] / n) * sign(r[r, i] - target[i]), sign(0) = 0.
// Grid-stride over i in x and replicas in y.
template <class T>
struct L1BwdP {
    const T* target;
    const T* r;
    T* dr;
    i64 n;
    i64 m;
    double scale[RX_MAX_REPLICAS];
};
template <class T>
__device__ void l1_bwd(const L1BwdP<T>& p) {
    for (i64 rep = blockIdx.y; rep < p.m; rep += gridDim.y) {
        const T k = (T)(p.scale[rep] / (double)p.n);
        const T* x = p.r + rep * p.n;
        T* dx = p.dr + rep * p.n;
        for (i64 i = rx_gid(); i < p.n; i += rx_gstride()) {
            T d = x[i] - p.target[i];
            if (d > T(0))
                dx[i] += k;
            else if (d < T(0))
                dx[i] -= k;
        }
    }
}
RECAUX_KERNEL_FT(l1_bwd, L1BwdP, l1_bwd)
RECAUX_GRID_DIMS(l1_bwd, 2)
