// Hand-written tiled GEMM and the bias gradient (column sums). No cuBLAS. The CPU twin:
// src/backend/cpu/gemm.rs; launch code: src/backend/kernel/gemm.rs.
//
// gemm: C[r] (+)= op(A[r]) . op(B[r]) (+ bias[r] + bias2[r]) for r in 0..batch, on strided
// row-major views: element (i, kk) of op(A) is a[i*lda + kk] (a[kk*lda + i] when trans_a),
// element (kk, j) of op(B) is b[kk*ldb + j] (b[j*ldb + kk] when trans_b), C's (i, j) is
// c[i*ldc + j]. Batch strides are in elements (0 = every r reads the same matrix). Pointers
// already include any offset (e.g. one direction's half of a [rows, 2H] buffer).
//
// One block computes a GEMM_BM x GEMM_BN (32 x 32) tile of C with 64 threads, each owning a
// 4 x 4 grid of outputs (rows ty + 8 u, columns tx + 8 v). k advances in GEMM_BK slices through shared
// memory. Every output is one thread's sequential sum over kk = 0, 1, ..., k-1: the result does
// not depend on the grid (deterministic). Tiles loop grid-stride in x (n), y (m), z (batch).
#include "common.cuh"

#define GEMM_BM 32
#define GEMM_BN 32
#define GEMM_BK 16
#define GEMM_THREADS 64
// Loads per thread of each operand slice: GEMM_BM * GEMM_BK / GEMM_THREADS.
#define GEMM_LOADS 8

// gemm: the product above for every r.
template <class T>
struct GemmP {
    const T* a;
    const T* b;
    const T* bias;   // [batch, n] with stride bias_stride, or null
    const T* bias2;  // added to bias first (LSTM: b_ih + b_hh), or null; only used with bias
    T* c;
    i64 m;
    i64 n;
    i64 k;
    i64 lda;
    i64 ldb;
    i64 ldc;
    i64 stride_a;
    i64 stride_b;
    i64 stride_c;
    i64 stride_bias;
    i64 batch;
    int trans_a;
    int trans_b;
    int accumulate;
    int pad_;
};

template <class T>
__device__ void gemm(const GemmP<T>& p) {
    RX_SHARED(T, sa, [GEMM_BK][GEMM_BM + 1]);
    RX_SHARED(T, sb, [GEMM_BK][GEMM_BN + 1]);
    const int tid = threadIdx.x;
    const int tx = tid % 8, ty = tid / 8;
    const i64 tiles_m = (p.m + GEMM_BM - 1) / GEMM_BM;
    const i64 tiles_n = (p.n + GEMM_BN - 1) / GEMM_BN;
    for (i64 r = blockIdx.z; r < p.batch; r += gridDim.z) {
        const T* A = p.a + r * p.stride_a;
        const T* B = p.b + r * p.stride_b;
        T* C = p.c + r * p.stride_c;
        for (i64 tm = blockIdx.y; tm < tiles_m; tm += gridDim.y) {
            for (i64 tn = blockIdx.x; tn < tiles_n; tn += gridDim.x) {
                const i64 row0 = tm * GEMM_BM, col0 = tn * GEMM_BN;
                T acc[4][4];
#pragma unroll
                for (int u = 0; u < 4; ++u)
#pragma unroll
                    for (int v = 0; v < 4; ++v) acc[u][v] = T(0);
                for (i64 k0 = 0; k0 < p.k; k0 += GEMM_BK) {
                    // Load the A slice (BM x BK) and the B slice (BK x BN): GEMM_LOADS
                    // elements each per thread. The fast index follows memory order.
#pragma unroll
                    for (int q = 0; q < GEMM_LOADS; ++q) {
                        const int e = tid + q * GEMM_THREADS;
                        int ii, kk;
                        if (p.trans_a) {  // stored [k, m]: i fast
                            ii = e % GEMM_BM;
                            kk = e / GEMM_BM;
                        } else {  // stored [m, k]: kk fast
                            kk = e % GEMM_BK;
                            ii = e / GEMM_BK;
                        }
                        const i64 gi = row0 + ii, gk = k0 + kk;
                        T v = T(0);
                        if (gi < p.m && gk < p.k) v = p.trans_a ? A[gk * p.lda + gi] : A[gi * p.lda + gk];
                        sa[kk][ii] = v;
                    }
#pragma unroll
                    for (int q = 0; q < GEMM_LOADS; ++q) {
                        const int e = tid + q * GEMM_THREADS;
                        int jj, kk;
                        if (p.trans_b) {  // stored [n, k]: kk fast
                            kk = e % GEMM_BK;
                            jj = e / GEMM_BK;
                        } else {  // stored [k, n]: j fast
                            jj = e % GEMM_BN;
                            kk = e / GEMM_BN;
                        }
                        const i64 gj = col0 + jj, gk = k0 + kk;
                        T v = T(0);
                        if (gj < p.n && gk < p.k) v = p.trans_b ? B[gj * p.ldb + gk] : B[gk * p.ldb + gj];
                        sb[kk][jj] = v;
                    }
                    __syncthreads();
                    // Zero padding past k adds exact zeros at the end of the sum only when
                    // k is not a multiple of BK; stop at k instead so the sum has k terms.
                    const int kend = (p.k - k0 < GEMM_BK) ? (int)(p.k - k0) : GEMM_BK;
                    for (int kk = 0; kk < kend; ++kk) {
                        T av[4], bv[4];
#pragma unroll
                        for (int u = 0; u < 4; ++u) av[u] = sa[kk][ty + 8 * u];
#pragma unroll
                        for (int v = 0; v < 4; ++v) bv[v] = sb[kk][tx + 8 * v];
#pragma unroll
                        for (int u = 0; u < 4; ++u)
#pragma unroll
                            for (int v = 0; v < 4; ++v) acc[u][v] += av[u] * bv[v];
                    }
                    __syncthreads();
                }
                // Epilogue: C = acc or C + acc, then + (bias + bias2), as the CPU reference.
#pragma unroll
                for (int u = 0; u < 4; ++u) {
                    const i64 gi = row0 + ty + 8 * u;
                    if (gi >= p.m) continue;
#pragma unroll
                    for (int v = 0; v < 4; ++v) {
                        const i64 gj = col0 + tx + 8 * v;
                        if (gj >= p.n) continue;
                        T* out = C + gi * p.ldc + gj;
                        T val = p.accumulate ? *out + acc[u][v] : acc[u][v];
                        if (p.bias) {
                            T bsum = p.bias[r * p.stride_bias + gj];
                            if (p.bias2) bsum += p.bias2[r * p.stride_bias + gj];
                            val += bsum;
                        }
                        *out = val;
                    }
                }
            }
        }
    }
}
RECAUX_KERNEL_FT(gemm, GemmP, gemm)
RECAUX_BLOCK_EXACT(gemm, GEMM_THREADS)
RECAUX_GRID_DIMS(gemm, 3)

// gemm_bias_grad: db[r, j] += sum_i dy[r, i, j] (and db2[r, j] += the same sum when db2 is not null): one
// thread per (r, j), summing rows in order 0..rows-1 in double (as the CPU reference), so the
// result is independent of the grid. dy rows have stride `ld` (>= cols); batch stride
// rows * ld. total = batch * cols.
template <class T>
struct GemmBiasGradP {
    const T* dy;
    T* db;
    T* db2;
    i64 rows;
    i64 cols;
    i64 ld;
    i64 total;
};
template <class T>
__device__ void gemm_bias_grad(const GemmBiasGradP<T>& p) {
    for (i64 o = rx_gid(); o < p.total; o += rx_gstride()) {
        const i64 r = o / p.cols, j = o - r * p.cols;
        const T* col = p.dy + r * p.rows * p.ld + j;
        double s = 0.0;
        for (i64 i = 0; i < p.rows; ++i) s += (double)col[i * p.ld];
        p.db[o] += (T)s;
        if (p.db2) p.db2[o] += (T)s;
    }
}
RECAUX_KERNEL_FT(gemm_bias_grad, GemmBiasGradP, gemm_bias_grad)
