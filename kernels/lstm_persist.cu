// Op `lstm`, the fast path (kernels/lstm.cu has the per-step kernels): a persistent
// bidirectional LSTM layer, forward and backward through time. One launch per pass covers
// every replica, both directions and all T steps, with W_hh held in registers as WMMA
// fragments for the whole sequence. The input projection G = x W_ih^T + b_ih + b_hh (before)
// and the weight gradients (after) are GEMMs (gemm_tc.cu), launched by
// src/backend/kernel/lstm_persist.rs. Kernels: lstm_fwd_persist_{f16,bf16},
// lstm_bwd_persist_{f16,bf16} (the suffix is the tensor-core operand type; the elements are
// f32).
//
// Work item = (direction d, replica r, slice of 16 batch rows): blockIdx.x, grid-stride over
// items = 2 * M * ceil(B / 16). A block never waits for another block: no co-residency, no
// grid barrier, any grid size (the emulator runs blocks one after another). Rows past B in the
// last slice are computed on zeros and never written out.
//
// Block = H / 16 warps (H a multiple of 16, at most 128). Warp w owns hidden units
// [16w, 16w + 16) and all four gates of them, so every cell's gate pre-activations, c and dc
// stay with one warp. Lane l holds cells (rows l/4 and l/4 + 8, units 16w + 4(l%4) .. + 3):
// c (forward) and the carried dc (backward) live in 8 registers of that lane for all T steps.
//
// Precision (template Op = f16 or bf16, the kernel name's suffix): W_hh and the recurrent
// operand (h forward, dG backward) are rounded to Op for the tensor cores; products are
// accumulated in f32; G, c, dc, the gate nonlinearities and every output (y, saved, dG) are
// f32. The layouts of y, saved and dG are those of lstm.cu (the per-step kernels), so either
// pass can be paired with the other's per-step counterpart.
//
// Forward step k (t = k for d = 0, T-1-k for d = 1), per warp:
//   1. (k > 0) gates_rec = h_{k-1} W_hh^T: h_{k-1} [16, H] from shared memory as A fragments,
//      4 gates x H/16 k-tiles of register B fragments, 4 accumulators; stored to the warp's
//      shared scratch [16][72] (element-wise work goes through shared memory: layout-free).
//   2. wait for this thread's cp.async copy of G[t] (issued one step earlier), pre-activation
//      = G + gates_rec, the cell in f32, c in registers; y, saved (i f g o c tanh c) to global;
//      h rounded to Op into the other h buffer; prefetch G[t_next] with cp.async.
//   3. __syncthreads: the new h is complete, the old buffer free (ping-pong: one barrier).
// Backward step k (k = T-1 .. 0), per warp:
//   1. (k < T-1) dh_rec = dG_{t_next} W_hh: dG_{t_next} [16, 4H] from shared memory (Op) as A
//      fragments, 4H/16 register B fragments of W_hh's column block, two accumulators
//      (interleaved k-tiles, summed in the cell in a fixed order); stored to the warp's scratch.
//   2. __syncthreads (every warp is done reading dG_{t_next}).
//   3. wait for this thread's copies of step t's saved fields, c_{t_prev} and dy[t] (issued one
//      step earlier), the cell backward in f32 with dc in registers; dG[t] to global (f32) and
//      to shared memory (Op); prefetch step t_prev's fields.
//   4. __syncthreads (dG_t complete for the next step's product).
#include "tc.cuh"

#define LP_MAX_H 128
// Threads of a block: H / 16 warps, 2H threads, at most 2 * LP_MAX_H (the launch bounds).
#define LP_MAX_THREADS 256
static_assert(LP_MAX_THREADS == 2 * LP_MAX_H, "LP_MAX_THREADS");
#define LP_KT_MAX (LP_MAX_H / 16)
#define LP_ROWS 16
// Forward scratch per warp: [16][LP_LDS] f32 (4 gates x 16 units, stride a multiple of 8).
#define LP_LDS 72
// Backward scratch per warp: two [16][LP_LDSB] f32 tiles.
#define LP_LDSB 24
// Backward stage per thread: 7 fields (i f g o tanh(c) c_prev dy) x 2 rows x 4 units.
#define LP_BWD_FIELDS 7

template <class T>
__device__ __forceinline__ T lp_sigmoid(T x) {
    return T(1) / (T(1) + rx_exp(-x));
}

// lstm_fwd_persist_{f16,bf16}: y, saved from G (the input projections) and W_hh.
struct LstmFwdPersistP {
    const float* g;      // [2, M, T, B, 4H] pre-activation input projections (biases in)
    const float* w_hh0;  // [M, 4H, H]
    const float* w_hh1;
    float* y;            // [M, T, B, 2H]
    float* saved;        // [2, M, T, B, 6H]
    i64 m;
    i64 t;
    i64 b;
    i64 h;
    i64 slices;  // ceil(B / 16)
    i64 items;   // 2 * M * slices
};

// Dynamic shared memory of the forward kernel (bytes); the launcher computes the same.
__device__ __forceinline__ i64 lp_fwd_ldh(i64 h) { return h + 16; }

template <RxOp Op>
__device__ void lstm_fwd_persist(const LstmFwdPersistP& p) {
    const int H = (int)p.h, KT = H / 16, H4 = 4 * H;
    const int LDH = (int)lp_fwd_ldh(p.h);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int rr = lane >> 2, unit0 = warp * 16 + (lane & 3) * 4;
    const i64 TT = p.t, B = p.b;
    unsigned char* smem = rx_dyn_shared<unsigned char>();
    unsigned short* hbuf = reinterpret_cast<unsigned short*>(smem);  // [2][16][LDH]
    float* scratch = reinterpret_cast<float*>(smem + 2 * LP_ROWS * LDH * 2) +
                     warp * LP_ROWS * LP_LDS;  // this warp's [16][72]
    float* gst = reinterpret_cast<float*>(smem + 2 * LP_ROWS * LDH * 2 +
                                          (H / 16) * LP_ROWS * LP_LDS * 4) +
                 threadIdx.x * 32;  // this thread's G[t] cells: [row s][gate q][4 units]
    for (i64 it = blockIdx.x; it < p.items; it += gridDim.x) {
        const i64 dr = it / p.slices, row0 = (it - dr * p.slices) * LP_ROWS;
        const int d = dr >= p.m ? 1 : 0;
        const i64 r = dr - d * p.m;
        const float* W = (d ? p.w_hh1 : p.w_hh0) + r * H4 * H;
        const float* G = p.g + dr * TT * B * H4;
        float* S = p.saved + dr * TT * B * 6 * H;
        float* Y = p.y + r * TT * B * 2 * H + d * H;

        // W_hh^T as B fragments (K = H, N = 4H): gate q, this warp's 16 units, k-tile kt;
        // converted to Op through the warp's scratch as column-major 16 x 16 tiles.
        RxFragB<Op, RxLay::col> w[4][LP_KT_MAX];
        unsigned short* conv = reinterpret_cast<unsigned short*>(scratch);
#pragma unroll
        for (int q = 0; q < 4; ++q) {
            const float* Wq = W + (i64)(q * H + warp * 16) * H;  // rows: this warp's units
            for (int e = lane; e < 16 * H; e += 32) {
                const int n = e / H, kk = e - n * H;
                conv[(kk / 16) * 256 + n * 16 + (kk % 16)] = rx_f32_to_op16<Op>(Wq[e]);
            }
            __syncwarp();
#pragma unroll
            for (int kt = 0; kt < LP_KT_MAX; ++kt)
                if (kt < KT) rx_load_b(w[q][kt], conv + kt * 256, 16);
            __syncwarp();
        }

        float c[2][4];
#pragma unroll
        for (int s = 0; s < 2; ++s)
#pragma unroll
            for (int u = 0; u < 4; ++u) c[s][u] = 0.0f;
        // Prefetch of G[t] for this thread's cells (rows past B: zero-filled, never read).
        auto issue_g = [&](i64 t) {
#pragma unroll
            for (int s = 0; s < 2; ++s) {
                const i64 bi = row0 + rr + 8 * s;
                const bool ok = bi < B;
                const float* src = G + (t * B + (ok ? bi : 0)) * H4 + unit0;
#pragma unroll
                for (int q = 0; q < 4; ++q)
                    rx_cp_async16(gst + (s * 4 + q) * 4, src + q * H, ok ? 16u : 0u);
            }
            rx_cp_async_commit();
        };
        issue_g(d == 0 ? 0 : TT - 1);

        for (i64 k = 0; k < TT; ++k) {
            const i64 t = d == 0 ? k : TT - 1 - k;
            if (k > 0) {
                RxFragC<Op> acc[4];
#pragma unroll
                for (int q = 0; q < 4; ++q) rx_fill_zero(acc[q]);
                const unsigned short* hp = hbuf + (k & 1) * LP_ROWS * LDH;
#pragma unroll
                for (int kt = 0; kt < LP_KT_MAX; ++kt) {
                    if (kt < KT) {
                        RxFragA<Op, RxLay::row> a;
                        rx_load_a(a, hp + kt * 16, (unsigned)LDH);
#pragma unroll
                        for (int q = 0; q < 4; ++q) rx_mma(acc[q], a, w[q][kt], acc[q]);
                    }
                }
#pragma unroll
                for (int q = 0; q < 4; ++q) rx_store_c(scratch + q * 16, acc[q], LP_LDS);
            }
            __syncwarp();           // the warp's gates_rec tile is complete
            rx_cp_async_wait<0>();  // this thread's G[t] has landed
            unsigned short* hn = hbuf + ((k + 1) & 1) * LP_ROWS * LDH;
#pragma unroll
            for (int s = 0; s < 2; ++s) {
                const int row = rr + 8 * s;
                const i64 bi = row0 + row;
                float pre[4][4];
#pragma unroll
                for (int q = 0; q < 4; ++q)
#pragma unroll
                    for (int u = 0; u < 4; ++u) {
                        const float rec =
                            k > 0 ? scratch[row * LP_LDS + q * 16 + (lane & 3) * 4 + u] : 0.0f;
                        pre[q][u] = gst[(s * 4 + q) * 4 + u] + rec;
                    }
                float ig[4], fg[4], gg[4], og[4], tc[4], hv[4];
#pragma unroll
                for (int u = 0; u < 4; ++u) {
                    ig[u] = lp_sigmoid(pre[0][u]);
                    fg[u] = lp_sigmoid(pre[1][u]);
                    gg[u] = tanhf(pre[2][u]);
                    og[u] = lp_sigmoid(pre[3][u]);
                    c[s][u] = fg[u] * c[s][u] + ig[u] * gg[u];
                    tc[u] = tanhf(c[s][u]);
                    hv[u] = og[u] * tc[u];
                }
                const bool ok = bi < B;
#pragma unroll
                for (int u = 0; u < 4; ++u)
                    hn[row * LDH + unit0 + u] = rx_f32_to_op16<Op>(ok ? hv[u] : 0.0f);
                if (ok) {
                    float* sv = S + (t * B + bi) * 6 * H + unit0;
                    rx_store4(sv, ig[0], ig[1], ig[2], ig[3]);
                    rx_store4(sv + H, fg[0], fg[1], fg[2], fg[3]);
                    rx_store4(sv + 2 * H, gg[0], gg[1], gg[2], gg[3]);
                    rx_store4(sv + 3 * H, og[0], og[1], og[2], og[3]);
                    rx_store4(sv + 4 * H, c[s][0], c[s][1], c[s][2], c[s][3]);
                    rx_store4(sv + 5 * H, tc[0], tc[1], tc[2], tc[3]);
                    rx_store4(Y + (t * B + bi) * 2 * H + unit0, hv[0], hv[1], hv[2], hv[3]);
                }
            }
            __syncwarp();  // this thread's reads of gst are done before the next copy into it
            if (k + 1 < TT) issue_g(d == 0 ? t + 1 : t - 1);
            __syncthreads();  // h_k complete; every warp is done with h_{k-1} and its scratch
        }
    }
}
__device__ void lstm_fwd_persist_f16_body(const LstmFwdPersistP& p) {
    lstm_fwd_persist<RxOp::f16>(p);
}
__device__ void lstm_fwd_persist_bf16_body(const LstmFwdPersistP& p) {
    lstm_fwd_persist<RxOp::bf16>(p);
}
RECAUX_KERNEL_F32_LB(lstm_fwd_persist_f16, LstmFwdPersistP, lstm_fwd_persist_f16_body, LP_MAX_THREADS, 1)
RECAUX_BLOCK_MULTIPLE(lstm_fwd_persist_f16, 32)
RECAUX_KERNEL_F32_LB(lstm_fwd_persist_bf16, LstmFwdPersistP, lstm_fwd_persist_bf16_body, LP_MAX_THREADS, 1)
RECAUX_BLOCK_MULTIPLE(lstm_fwd_persist_bf16, 32)

// lstm_bwd_persist_{f16,bf16}: dG from W_hh, saved and dy.
struct LstmBwdPersistP {
    const float* w_hh0;  // [M, 4H, H]
    const float* w_hh1;
    const float* saved;  // [2, M, T, B, 6H] from the forward pass
    const float* dy;     // [M, T, B, 2H]
    float* dg;           // [2, M, T, B, 4H] pre-activation gate gradients (overwritten)
    i64 m;
    i64 t;
    i64 b;
    i64 h;
    i64 slices;
    i64 items;
};

template <RxOp Op>
__device__ void lstm_bwd_persist(const LstmBwdPersistP& p) {
    const int H = (int)p.h, KT4 = 4 * (H / 16), H4 = 4 * H;
    const int LDG = H4 + 16;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int rr = lane >> 2, unit0 = warp * 16 + (lane & 3) * 4;
    const i64 TT = p.t, B = p.b;
    unsigned char* smem = rx_dyn_shared<unsigned char>();
    unsigned short* dgs = reinterpret_cast<unsigned short*>(smem);  // [16][LDG]
    float* scratch = reinterpret_cast<float*>(smem + LP_ROWS * LDG * 2) +
                     warp * 2 * LP_ROWS * LP_LDSB;  // this warp's two [16][24] tiles
    float* st = reinterpret_cast<float*>(smem + LP_ROWS * LDG * 2 +
                                         (H / 16) * 2 * LP_ROWS * LP_LDSB * 4) +
                threadIdx.x * (LP_BWD_FIELDS * 8);  // [row s][field][4 units]
    for (i64 it = blockIdx.x; it < p.items; it += gridDim.x) {
        const i64 dr = it / p.slices, row0 = (it - dr * p.slices) * LP_ROWS;
        const int d = dr >= p.m ? 1 : 0;
        const i64 r = dr - d * p.m;
        const float* W = (d ? p.w_hh1 : p.w_hh0) + r * H4 * H;
        const float* SV = p.saved + dr * TT * B * 6 * H;
        const float* DY = p.dy + r * TT * B * 2 * H + d * H;
        float* DG = p.dg + dr * TT * B * H4;

        // W_hh as B fragments (K = 4H, N = H): k-tile kt (gate rows 16kt..), this warp's 16
        // units; converted through the scratch, 4 row-major 16 x 16 tiles at a time.
        RxFragB<Op, RxLay::row> w[4 * LP_KT_MAX];
        unsigned short* conv = reinterpret_cast<unsigned short*>(scratch);
#pragma unroll
        for (int rd = 0; rd < LP_KT_MAX; ++rd) {
            if (4 * rd < KT4) {
                for (int e = lane; e < 4 * 256; e += 32) {
                    const int tile = e / 256, kk = (e / 16) % 16, n = e % 16;
                    conv[e] = rx_f32_to_op16<Op>(W[(i64)((4 * rd + tile) * 16 + kk) * H +
                                                   warp * 16 + n]);
                }
                __syncwarp();
#pragma unroll
                for (int j = 0; j < 4; ++j) rx_load_b(w[4 * rd + j], conv + j * 256, 16);
                __syncwarp();
            }
        }

        float dc[2][4];
#pragma unroll
        for (int s = 0; s < 2; ++s)
#pragma unroll
            for (int u = 0; u < 4; ++u) dc[s][u] = 0.0f;
        // Prefetch of step k's fields: saved i f g o tanh(c) at t, c at t_prev (zero at k = 0),
        // dy at t.
        auto issue = [&](i64 k) {
            const i64 t = d == 0 ? k : TT - 1 - k;
            const i64 tp = d == 0 ? t - 1 : t + 1;
#pragma unroll
            for (int s = 0; s < 2; ++s) {
                const i64 bi = row0 + rr + 8 * s;
                const bool ok = bi < B;
                const i64 b0 = ok ? bi : 0;
                float* dst = st + s * LP_BWD_FIELDS * 4;
                const float* sv = SV + (t * B + b0) * 6 * H + unit0;
                const unsigned n = ok ? 16u : 0u;
                rx_cp_async16(dst + 0, sv, n);
                rx_cp_async16(dst + 4, sv + H, n);
                rx_cp_async16(dst + 8, sv + 2 * H, n);
                rx_cp_async16(dst + 12, sv + 3 * H, n);
                rx_cp_async16(dst + 16, sv + 5 * H, n);
                const float* cp = k > 0 ? SV + (tp * B + b0) * 6 * H + 4 * H + unit0 : sv;
                rx_cp_async16(dst + 20, cp, k > 0 ? n : 0u);
                rx_cp_async16(dst + 24, DY + (t * B + b0) * 2 * H + unit0, n);
            }
            rx_cp_async_commit();
        };
        issue(TT - 1);

        for (i64 k = TT - 1; k >= 0; --k) {
            const i64 t = d == 0 ? k : TT - 1 - k;
            const bool has_next = k + 1 < TT;
            if (has_next) {
                RxFragC<Op> acc[2];
                rx_fill_zero(acc[0]);
                rx_fill_zero(acc[1]);
#pragma unroll
                for (int kt = 0; kt < 4 * LP_KT_MAX; ++kt) {
                    if (kt < KT4) {
                        RxFragA<Op, RxLay::row> a;
                        rx_load_a(a, dgs + kt * 16, (unsigned)LDG);
                        rx_mma(acc[kt & 1], a, w[kt], acc[kt & 1]);
                    }
                }
                rx_store_c(scratch, acc[0], LP_LDSB);
                rx_store_c(scratch + LP_ROWS * LP_LDSB, acc[1], LP_LDSB);
            }
            __syncthreads();  // dG_{t_next} fully read; the warp's dh_rec tiles complete
            rx_cp_async_wait<0>();
#pragma unroll
            for (int s = 0; s < 2; ++s) {
                const int row = rr + 8 * s;
                const i64 bi = row0 + row;
                const bool ok = bi < B;
                const float* fs = st + s * LP_BWD_FIELDS * 4;
                float gi[4], gf[4], gg[4], go[4];
#pragma unroll
                for (int u = 0; u < 4; ++u) {
                    const int at = row * LP_LDSB + (lane & 3) * 4 + u;
                    const float rec =
                        has_next ? scratch[at] + scratch[LP_ROWS * LP_LDSB + at] : 0.0f;
                    const float ig = fs[u], fg = fs[4 + u], g = fs[8 + u], og = fs[12 + u],
                                tc = fs[16 + u], cp = fs[20 + u];
                    const float dh = fs[24 + u] + rec;
                    const float cg = dc[s][u] + dh * og * (1.0f - tc * tc);
                    gi[u] = cg * g * ig * (1.0f - ig);
                    gf[u] = cg * cp * fg * (1.0f - fg);
                    gg[u] = cg * ig * (1.0f - g * g);
                    go[u] = dh * tc * og * (1.0f - og);
                    dc[s][u] = cg * fg;
                }
#pragma unroll
                for (int u = 0; u < 4; ++u) {
                    unsigned short* o = dgs + row * LDG + unit0 + u;
                    o[0] = rx_f32_to_op16<Op>(ok ? gi[u] : 0.0f);
                    o[H] = rx_f32_to_op16<Op>(ok ? gf[u] : 0.0f);
                    o[2 * H] = rx_f32_to_op16<Op>(ok ? gg[u] : 0.0f);
                    o[3 * H] = rx_f32_to_op16<Op>(ok ? go[u] : 0.0f);
                }
                if (ok) {
                    float* o = DG + (t * B + bi) * H4 + unit0;
                    rx_store4(o, gi[0], gi[1], gi[2], gi[3]);
                    rx_store4(o + H, gf[0], gf[1], gf[2], gf[3]);
                    rx_store4(o + 2 * H, gg[0], gg[1], gg[2], gg[3]);
                    rx_store4(o + 3 * H, go[0], go[1], go[2], go[3]);
                }
            }
            __syncwarp();  // this thread's reads of the stage are done before the next copy
            if (k > 0) issue(k - 1);
            __syncthreads();  // dG_t complete in shared memory
        }
    }
}
__device__ void lstm_bwd_persist_f16_body(const LstmBwdPersistP& p) {
    lstm_bwd_persist<RxOp::f16>(p);
}
__device__ void lstm_bwd_persist_bf16_body(const LstmBwdPersistP& p) {
    lstm_bwd_persist<RxOp::bf16>(p);
}
RECAUX_KERNEL_F32_LB(lstm_bwd_persist_f16, LstmBwdPersistP, lstm_bwd_persist_f16_body, LP_MAX_THREADS, 1)
RECAUX_BLOCK_MULTIPLE(lstm_bwd_persist_f16, 32)
RECAUX_KERNEL_F32_LB(lstm_bwd_persist_bf16, LstmBwdPersistP, lstm_bwd_persist_bf16_body, LP_MAX_THREADS, 1)
RECAUX_BLOCK_MULTIPLE(lstm_bwd_persist_bf16, 32)
