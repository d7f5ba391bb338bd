// Losses: L1 (mean absolute error per replica) and cross entropy (fused log-softmax, mean over
// the batch), forward and backward. Reductions are fixed-order (per-thread strided sums, then
// rx_block_sum, then a sequential sum of the block partials), accumulated in double: the same
// inputs give bit-identical losses on every run.
#include "common.cuh"

// ---- l1 ----------------------------------------------------------------------------------------
// Pass 1, grid (nb, M), 256 threads: partial[r * nb + b] = sum over chunk b of |r - target|.
// target: [n] (shared), r: [M, n]; chunk = ceil(n / nb) is fixed by the host from n alone.
template <class T>
struct L1PartialP {
    const T* target;
    const T* r;
    double* partial;
    i64 n;
    i64 chunk;
    i64 nb;
};
template <class T>
__device__ void l1_partial(const L1PartialP<T>& p) {
    const i64 rep = blockIdx.y, b = blockIdx.x;
    const T* x = p.r + rep * p.n;
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
RECAUX_KERNEL_FT(l1_partial, L1PartialP, l1_partial)

// Pass 2, one thread per replica: loss[r] = (sum_b partial[r, b]) / n, b in order.
template <class T>
struct L1FinishP {
    const double* partial;
    T* loss;
    i64 n;
    i64 nb;
    i64 m;
};
template <class T>
__device__ void l1_finish(const L1FinishP<T>& p) {
    for (i64 rep = rx_gid(); rep < p.m; rep += rx_gstride()) {
        double s = 0.0;
        for (i64 b = 0; b < p.nb; ++b) s += p.partial[rep * p.nb + b];
        p.loss[rep] = (T)(s / (double)p.n);
    }
}
RECAUX_KERNEL_FT(l1_finish, L1FinishP, l1_finish)

// dr[r, i] += (scale[r] / n) * sign(r[r, i] - target[i]), sign(0) = 0. Grid (x over i, M).
template <class T>
struct L1BwdP {
    const T* target;
    const T* r;
    T* dr;
    i64 n;
    double scale[RX_MAX_REPLICAS];
};
template <class T>
__device__ void l1_bwd(const L1BwdP<T>& p) {
    const i64 rep = blockIdx.y;
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
RECAUX_KERNEL_FT(l1_bwd, L1BwdP, l1_bwd)

// ---- cross entropy -------------------------------------------------------------------------------
// Row softmax statistics: the maximum and sum_c exp(x_c - max) of one row of c logits.
template <class T>
__device__ __forceinline__ void ce_row_stats(const T* x, i64 c, T& mx, T& s) {
    mx = x[0];
    for (i64 j = 1; j < c; ++j) mx = x[j] > mx ? x[j] : mx;
    s = T(0);
    for (i64 j = 0; j < c; ++j) s += rx_exp(x[j] - mx);
}

// loss[r] = mean_b (log sum_c exp(logits[r, b, c]) - logits[r, b, label[b]]).
// Grid (M), blockDim a multiple of 32. logits: [M, B, C], labels: [B] (shared), loss: [M].
// A label outside [0, C) makes the replica's loss NaN.
template <class T>
struct CeFwdP {
    const T* logits;
    const int* labels;
    T* loss;
    i64 b;
    i64 c;
};
template <class T>
__device__ void ce_fwd(const CeFwdP<T>& p) {
    const i64 rep = blockIdx.x;
    double acc = 0.0;
    for (i64 row = threadIdx.x; row < p.b; row += blockDim.x) {
        const T* x = p.logits + (rep * p.b + row) * p.c;
        const int y = p.labels[row];
        if (y < 0 || y >= p.c) {
            acc += rx_nan<double>();
            continue;
        }
        T mx, s;
        ce_row_stats(x, p.c, mx, s);
        acc += (double)(rx_log(s) + mx - x[y]);
    }
    acc = rx_block_sum(acc);
    if (threadIdx.x == 0) p.loss[rep] = (T)(acc / (double)p.b);
}
RECAUX_KERNEL_FT(ce_fwd, CeFwdP, ce_fwd)

// dlogits[r, b, :] += (scale[r] / B) * (softmax(logits[r, b, :]) - onehot(label[b])).
// One thread per (replica, row); total = M * B.
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
        if (y < 0 || y >= p.c) {
            for (i64 j = 0; j < p.c; ++j) dx[j] += rx_nan<T>();
            continue;
        }
        T mx, s;
        ce_row_stats(x, p.c, mx, s);
        for (i64 j = 0; j < p.c; ++j) {
            T prob = rx_exp(x[j] - mx) / s;
            dx[j] += k * (prob - (j == y ? T(1) : T(0)));
        }
    }
}
RECAUX_KERNEL_FT(ce_bwd, CeBwdP, ce_bwd)
