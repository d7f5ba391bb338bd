// Cross entropy (fused log-softmax, mean over the batch), forward and backward (the CPU twin:
// src/backend/cpu/ce.rs; launch code: src/backend/kernel/ce.rs). Labels are in [0, C): the
// host knows the range of every label buffer it uploaded and checks it before launching.
#include "common.cuh"

// Row softmax statistics: the maximum and sum_c exp(x_c - max) of one row of c logits.
template <class T>
__device__ __forceinline__ void ce_row_stats(const T* x, i64 c, T& mx, T& s) {
    mx = x[0];
    for (i64 j = 1; j < c; ++j) mx = x[j] > mx ? x[j] : mx;
    s = T(0);
    for (i64 j = 0; j < c; ++j) s += rx_exp(x[j] - mx);
}

// ce_fwd: loss[r] = mean_b (log sum_c exp(logits[r, b, c]) - logits[r, b, label[b]]).
// One block per replica, grid-stride over replicas in x; blockDim a multiple of 32. Each
// replica's sum is one block's fixed-order reduction (thread-strided rows, rx_block_sum), so
// the loss does not depend on the grid. logits: [M, B, C], labels: [B] (shared), loss: [M].
template <class T>
struct CeFwdP {
    const T* logits;
    const int* labels;
    T* loss;
    i64 b;
    i64 c;
    i64 m;
};
template <class T>
__device__ void ce_fwd(const CeFwdP<T>& p) {
    for (i64 rep = blockIdx.x; rep < p.m; rep += gridDim.x) {
        double acc = 0.0;
        for (i64 row = threadIdx.x; row < p.b; row += blockDim.x) {
            const T* x = p.logits + (rep * p.b + row) * p.c;
            T mx, s;
            ce_row_stats(x, p.c, mx, s);
            acc += (double)(rx_log(s) + mx - x[p.labels[row]]);
        }
        acc = rx_block_sum(acc);
        if (threadIdx.x == 0) p.loss[rep] = (T)(acc / (double)p.b);
    }
}
RECAUX_KERNEL_FT(ce_fwd, CeFwdP, ce_fwd)
RECAUX_BLOCK_MULTIPLE(ce_fwd, 32)

// ce_bwd: dlogits[r, b, :] += (scale[r] / B) * (softmax(logits[r, b, :]) - onehot(label[b])).
// One thread per (replica, row), grid-stride; total = M * B.
template <class T>
struct CeBwdP {
    const T* logits;
    const int* labels;
    T* dlogits;
    i64 b;
    i64 c;
    i64 total;
    double scale[RX_MAX_REPLICAS];
};
template <class T>
__device__ void ce_bwd(const CeBwdP<T>& p) {
    for (i64 o = rx_gid(); o < p.total; o += rx_gstride()) {
        const i64 rep = o / p.b, row = o - rep * p.b;
        const T* x = p.logits + o * p.c;
        T* dx = p.dlogits + o * p.c;
        const int y = p.labels[row];
        const T k = (T)(p.scale[rep] / (double)p.b);
        T mx, s;
        ce_row_stats(x, p.c, mx, s);
        for (i64 j = 0; j < p.c; ++j) {
            T prob = rx_exp(x[j] - mx) / s;
            dx[j] += k * (prob - (j == y ? T(1) : T(0)));
        }
    }
}
RECAUX_KERNEL_FT(ce_bwd, CeBwdP, ce_bwd)
