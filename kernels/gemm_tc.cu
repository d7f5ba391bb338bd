// Op `gemm`, the fast path (kernels/gemm.cu has the SIMT kernels): a tensor-core GEMM (tf32
// WMMA, f32 accumulation) with cp.async staging and a deterministic split-K, and the bias
// gradient as a parallel fixed-order column sum. The GEMM is f32 only; the launcher
// (src/backend/kernel/gemm_tc.rs) falls back to gemm.cu for f64 and for operands whose
// addresses or strides are not 16-byte multiples.
//
// gemm_tc_{nn,nt,tn,tt}: the same product as gemm.cu's `gemm` (trans_a = first letter t,
// trans_b = second): C[r] (+)= op(A[r]) op(B[r]) (+ bias[r] + bias2[r]) on strided views.
// - A block computes a 64 x 64 tile of C with 4 warps (2 x 2, each 32 x 32 = 2 x 2 WMMA tiles
//   of m16n16k8). k advances in slices of 32 through two shared-memory stages filled with
//   16-byte cp.async copies (operands staged in their memory orientation; the fragment loads
//   pick the matching row/col layout); elements past m, n or the split's k range are
//   zero-filled by the copy. Fragments are rounded to tf32 (cvt.rna) after loading.
// - Split-K: the launcher cuts k into `splits` ranges of `kc` (a multiple of 32), a function of
//   (m, n, k) only: never of the batch (replica) count, so replica r of a joint run does the
//   same arithmetic as its solo run. With one split the epilogue writes C directly
//   (C + acc, then + bias, as the CPU reference); otherwise each split writes its partial tile
//   to `ws` [batch, splits, m, n] and gemm_tc_reduce adds them in split order.
// - Per output, the order of additions is fixed by (m, n, k) and the tile code: bit-identical
//   run to run on one device.
//
// gemm_bias_grad_part / gemm_bias_grad_finish (f32 and f64; gemm.cu's gemm_bias_grad in
// parallel over rows): db[r, j] (+ db2[r, j]) += sum_i dy[r, i, j] in two passes: partial sums
// over fixed chunks of BIAS_GRAD_CHUNK rows (in double, rows in order), then the chunks in
// order (double) and one rounding. The chunking depends on the row count only.
#include "tc.cuh"

#define GTC_BM 64
#define GTC_BN 64
#define GTC_BK 32
#define GTC_THREADS 128
// Shared-memory strides (floats): a k-contiguous tile row (32 + 4) and an m/n-contiguous one
// (64 + 4): multiples of 4 floats (tf32 fragment rule), padded against bank conflicts.
#define GTC_LDK 36
#define GTC_LDMN 68
// One operand stage: max(64 x 36, 32 x 68) floats.
#define GTC_STAGE 2304
// Epilogue tile stride: a multiple of 8 floats (accumulator rule).
#define GTC_LDE 72
#define BIAS_GRAD_CHUNK 512

struct GemmTcP {
    const float* a;
    const float* b;
    const float* bias;   // [batch, n] with stride stride_bias, or null
    const float* bias2;  // added to bias first, or null; only with bias
    float* c;
    float* ws;  // split-K partials [batch, splits, m, n] (splits > 1), else null
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
    i64 splits;
    i64 kc;  // k per split (multiple of GTC_BK)
    int accumulate;
    int pad_;
};

__device__ __forceinline__ unsigned gtc_valid(i64 lim, i64 x) {
    const i64 v = lim - x;
    return v <= 0 ? 0u : (v >= 4 ? 16u : (unsigned)(4 * v));
}

// One output: *out = (accumulate ? *out + v : v) + (bias[bi] + bias2[bi]) (biases when not
// null), in the CPU reference's order.
__device__ __forceinline__ void gtc_out(float* out, float v, int accumulate, const float* bias,
                                        const float* bias2, i64 bi) {
    float val = accumulate ? *out + v : v;
    if (bias) {
        float bsum = bias[bi];
        if (bias2) bsum += bias2[bi];
        val += bsum;
    }
    *out = val;
}

// Copies one operand tile with 16-byte cp.async chunks: tile row r is global row row0 + r
// (valid below row_lim), tile column c (a multiple of 4) global column col0 + c (valid below
// col_lim; a partial chunk reads only its valid elements, the rest is zero-filled). A k-major
// tile is [64][GTC_LDK] (8 chunks a row), an m/n-major one [32][GTC_LDMN] (16 chunks a row);
// thread tid copies chunk tid % (chunks a row) of rows tid / (chunks a row) + j * (128 / chunks
// a row), j = 0..3.
template <bool KMajor>
__device__ __forceinline__ void gtc_copy(float* dst, const float* base, i64 ld, i64 row0,
                                         i64 row_lim, i64 col0, i64 col_lim) {
    constexpr int per_row = KMajor ? 8 : 16, step = GTC_THREADS / per_row;
    constexpr int lds = KMajor ? GTC_LDK : GTC_LDMN;
    const int r = threadIdx.x / per_row, c4 = (threadIdx.x % per_row) * 4;
    const unsigned vc = gtc_valid(col_lim, col0 + c4);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
        const i64 gr = row0 + r + step * j;
        const unsigned v = gr < row_lim ? vc : 0u;
        rx_cp_async16(dst + (r + step * j) * lds + c4, v ? base + gr * ld + col0 + c4 : base, v);
    }
}

// Issues the copies of one k slice [kb, kb + 32) (clipped to k1) into stage (sa, sb) and
// commits them as one group. A [m, k] and B [n, k] (transposed) are k-major tiles, A [k, m]
// (transposed) and B [k, n] m/n-major ones.
template <bool TA, bool TB>
__device__ __forceinline__ void gtc_load(const GemmTcP& p, const float* A, const float* B,
                                         float* sa, float* sb, i64 row0, i64 col0, i64 kb,
                                         i64 k1) {
    if constexpr (!TA)
        gtc_copy<true>(sa, A, p.lda, row0, p.m, kb, k1);
    else
        gtc_copy<false>(sa, A, p.lda, kb, k1, row0, p.m);
    if constexpr (!TB)
        gtc_copy<false>(sb, B, p.ldb, kb, k1, col0, p.n);
    else
        gtc_copy<true>(sb, B, p.ldb, col0, p.n, kb, k1);
    rx_cp_async_commit();
}

template <bool TA, bool TB>
__device__ void gemm_tc(const GemmTcP& p) {
    constexpr RxLay LA = TA ? RxLay::col : RxLay::row;
    constexpr RxLay LB = TB ? RxLay::col : RxLay::row;
    RX_SHARED(float, smem, [4 * GTC_STAGE]);  // [stage][A, B]; the epilogue reuses it
    const int warp = threadIdx.x / 32, wm = warp >> 1, wn = warp & 1;
    const i64 tiles_m = (p.m + GTC_BM - 1) / GTC_BM, tiles_n = (p.n + GTC_BN - 1) / GTC_BN;
    for (i64 z = blockIdx.z; z < p.batch * p.splits; z += gridDim.z) {
        const i64 r = z / p.splits, s = z - r * p.splits;
        const float* A = p.a + r * p.stride_a;
        const float* B = p.b + r * p.stride_b;
        const i64 k0 = s * p.kc, k1 = k0 + p.kc < p.k ? k0 + p.kc : p.k;
        const i64 nk = k1 > k0 ? (k1 - k0 + GTC_BK - 1) / GTC_BK : 0;
        for (i64 tm = blockIdx.y; tm < tiles_m; tm += gridDim.y) {
            for (i64 tn = blockIdx.x; tn < tiles_n; tn += gridDim.x) {
                const i64 row0 = tm * GTC_BM, col0 = tn * GTC_BN;
                RxFragC<RxOp::tf32> acc[2][2];
#pragma unroll
                for (int i = 0; i < 2; ++i)
#pragma unroll
                    for (int j = 0; j < 2; ++j) rx_fill_zero(acc[i][j]);
                if (nk > 0) gtc_load<TA, TB>(p, A, B, smem, smem + GTC_STAGE, row0, col0, k0, k1);
                for (i64 it = 0; it < nk; ++it) {
                    float* sa = smem + (it & 1) * 2 * GTC_STAGE;
                    float* sb = sa + GTC_STAGE;
                    if (it + 1 < nk) {
                        float* na = smem + ((it + 1) & 1) * 2 * GTC_STAGE;
                        gtc_load<TA, TB>(p, A, B, na, na + GTC_STAGE, row0, col0,
                                         k0 + (it + 1) * GTC_BK, k1);
                    } else {
                        rx_cp_async_commit();  // an empty group keeps the wait count uniform
                    }
                    rx_cp_async_wait<1>();  // this thread's copies of slice `it` have landed
                    __syncthreads();        // ... and everyone else's
#pragma unroll
                    for (int kk = 0; kk < GTC_BK / 8; ++kk) {
                        RxFragA<RxOp::tf32, LA> fa[2];
                        RxFragB<RxOp::tf32, LB> fb[2];
#pragma unroll
                        for (int i = 0; i < 2; ++i) {
                            const int m0 = wm * 32 + 16 * i;
                            if constexpr (!TA)
                                rx_load_a(fa[i], sa + m0 * GTC_LDK + kk * 8, GTC_LDK);
                            else
                                rx_load_a(fa[i], sa + kk * 8 * GTC_LDMN + m0, GTC_LDMN);
                            rx_round_tf32(fa[i]);
                        }
#pragma unroll
                        for (int j = 0; j < 2; ++j) {
                            const int n0 = wn * 32 + 16 * j;
                            if constexpr (!TB)
                                rx_load_b(fb[j], sb + kk * 8 * GTC_LDMN + n0, GTC_LDMN);
                            else
                                rx_load_b(fb[j], sb + n0 * GTC_LDK + kk * 8, GTC_LDK);
                            rx_round_tf32(fb[j]);
                        }
#pragma unroll
                        for (int i = 0; i < 2; ++i)
#pragma unroll
                            for (int j = 0; j < 2; ++j) rx_mma(acc[i][j], fa[i], fb[j], acc[i][j]);
                    }
                    // Stage it & 1 is refilled by the next iteration's copies.
                    __syncthreads();
                }
                // Epilogue through shared memory (element-wise work is layout-free there).
                float* se = smem;
#pragma unroll
                for (int i = 0; i < 2; ++i)
#pragma unroll
                    for (int j = 0; j < 2; ++j)
                        rx_store_c(se + (wm * 32 + 16 * i) * GTC_LDE + wn * 32 + 16 * j, acc[i][j],
                                   GTC_LDE);
                __syncthreads();
                const int jj = threadIdx.x & 63;
                const i64 gj = col0 + jj;
#pragma unroll 1
                for (int ii = threadIdx.x >> 6; ii < GTC_BM; ii += GTC_THREADS / 64) {
                    const i64 gi = row0 + ii;
                    if (gi >= p.m || gj >= p.n) continue;
                    const float v = se[ii * GTC_LDE + jj];
                    if (p.splits > 1)
                        p.ws[((r * p.splits + s) * p.m + gi) * p.n + gj] = v;
                    else
                        gtc_out(p.c + r * p.stride_c + gi * p.ldc + gj, v, p.accumulate, p.bias,
                                p.bias2, r * p.stride_bias + gj);
                }
                // The next tile's copies overwrite the epilogue tile.
                __syncthreads();
            }
        }
    }
}
__device__ void gemm_tc_nn_body(const GemmTcP& p) { gemm_tc<false, false>(p); }
__device__ void gemm_tc_nt_body(const GemmTcP& p) { gemm_tc<false, true>(p); }
__device__ void gemm_tc_tn_body(const GemmTcP& p) { gemm_tc<true, false>(p); }
__device__ void gemm_tc_tt_body(const GemmTcP& p) { gemm_tc<true, true>(p); }
RECAUX_KERNEL_F32_LB(gemm_tc_nn, GemmTcP, gemm_tc_nn_body, GTC_THREADS, 2)
RECAUX_BLOCK_EXACT(gemm_tc_nn, GTC_THREADS)
RECAUX_GRID_DIMS(gemm_tc_nn, 3)
RECAUX_KERNEL_F32_LB(gemm_tc_nt, GemmTcP, gemm_tc_nt_body, GTC_THREADS, 2)
RECAUX_BLOCK_EXACT(gemm_tc_nt, GTC_THREADS)
RECAUX_GRID_DIMS(gemm_tc_nt, 3)
RECAUX_KERNEL_F32_LB(gemm_tc_tn, GemmTcP, gemm_tc_tn_body, GTC_THREADS, 2)
RECAUX_BLOCK_EXACT(gemm_tc_tn, GTC_THREADS)
RECAUX_GRID_DIMS(gemm_tc_tn, 3)
RECAUX_KERNEL_F32_LB(gemm_tc_tt, GemmTcP, gemm_tc_tt_body, GTC_THREADS, 2)
RECAUX_BLOCK_EXACT(gemm_tc_tt, GTC_THREADS)
RECAUX_GRID_DIMS(gemm_tc_tt, 3)

// The split-K second pass: C = (C +) sum over splits in order (+ bias + bias2); one thread per
// output element, grid-stride. total = batch * m * n.
struct GemmTcReduceP {
    const float* ws;
    const float* bias;
    const float* bias2;
    float* c;
    i64 m;
    i64 n;
    i64 ldc;
    i64 stride_c;
    i64 stride_bias;
    i64 splits;
    i64 total;
    int accumulate;
    int pad_;
};
__device__ void gemm_tc_reduce_body(const GemmTcReduceP& p) {
    const i64 mn = p.m * p.n;
    for (i64 o = rx_gid(); o < p.total; o += rx_gstride()) {
        const i64 r = o / mn, e = o - r * mn, i = e / p.n, j = e - i * p.n;
        const float* w = p.ws + r * p.splits * mn + e;
        float sum = w[0];
        for (i64 s = 1; s < p.splits; ++s) sum += w[s * mn];
        gtc_out(p.c + r * p.stride_c + i * p.ldc + j, sum, p.accumulate, p.bias, p.bias2,
                r * p.stride_bias + j);
    }
}
RECAUX_KERNEL_F32(gemm_tc_reduce, GemmTcReduceP, gemm_tc_reduce_body)

// Pass 1: part[r, q, j] = sum of dy[r, i, j] over rows i of chunk q (in order, in double).
// Grid: x over columns (grid-stride), y over chunks (grid-stride), z over batch (grid-stride).
template <class T>
struct GemmBiasGradPartP {
    const T* dy;     // [batch, rows, ld] (columns 0..cols)
    double* part;    // [batch, chunks, cols]
    i64 rows;
    i64 cols;
    i64 ld;
    i64 chunks;      // ceil(rows / BIAS_GRAD_CHUNK)
    i64 batch;
};
template <class T>
__device__ void gemm_bias_grad_part(const GemmBiasGradPartP<T>& p) {
    for (i64 r = blockIdx.z; r < p.batch; r += gridDim.z)
        for (i64 q = blockIdx.y; q < p.chunks; q += gridDim.y)
            for (i64 j = rx_gid(); j < p.cols; j += rx_gstride()) {
                const i64 i0 = q * BIAS_GRAD_CHUNK;
                const i64 i1 = i0 + BIAS_GRAD_CHUNK < p.rows ? i0 + BIAS_GRAD_CHUNK : p.rows;
                const T* col = p.dy + r * p.rows * p.ld + j;
                double s = 0.0;
                for (i64 i = i0; i < i1; ++i) s += (double)col[i * p.ld];
                p.part[(r * p.chunks + q) * p.cols + j] = s;
            }
}
RECAUX_KERNEL_FT(gemm_bias_grad_part, GemmBiasGradPartP, gemm_bias_grad_part)
RECAUX_GRID_DIMS(gemm_bias_grad_part, 3)

// Pass 2: db[r, j] (+ db2[r, j]) += sum over chunks in order, rounded once. total = batch*cols.
template <class T>
struct GemmBiasGradFinishP {
    const double* part;
    T* db;
    T* db2;
    i64 cols;
    i64 chunks;
    i64 total;
};
template <class T>
__device__ void gemm_bias_grad_finish(const GemmBiasGradFinishP<T>& p) {
    for (i64 o = rx_gid(); o < p.total; o += rx_gstride()) {
        const i64 r = o / p.cols, j = o - r * p.cols;
        const double* w = p.part + r * p.chunks * p.cols + j;
        double s = 0.0;
        for (i64 q = 0; q < p.chunks; ++q) s += w[q * p.cols];
        p.db[o] += (T)s;
        if (p.db2) p.db2[o] += (T)s;
    }
}
RECAUX_KERNEL_FT(gemm_bias_grad_finish, GemmBiasGradFinishP, gemm_bias_grad_finish)
