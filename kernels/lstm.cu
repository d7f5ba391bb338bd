// Bidirectional LSTM layer: the per-time-step kernels, forward and backward through time.
// PyTorch's gate order i, f, g, o; zero initial state; the reverse direction runs
// t = T-1 .. 0. The input projection and all weight gradients are GEMMs (gemm.cu), launched
// by src/backend/kernel/lstm.rs (the op's launch code; the CPU twin is src/backend/cpu/lstm.rs);
// these kernels do what must happen step by step.
//
// One launch per step index k covers both directions and all replicas: item = d*M + r is
// blockIdx.y (grid-stride), and direction d processes time t = k (d = 0) or T-1-k (d = 1).
// Cells (b, j) of an item are grid-stride over blockIdx.x / threadIdx.x; each cell is one
// thread's sequential dot products, so results do not depend on the grid.
//
// Layouts (elements):
//   g, dg   [2, M, T, B, 4H]  pre-activation input projections / gate gradients, item-major
//   saved   [2, M, T, B, 6H]  i, f, g, o (activated), c, tanh(c) per step (as the CPU backend)
//   y, dy   [M, T, B, 2H]     direction d in features d*H .. d*H+H
//   w_hh    [M, 4H, H] per direction
//   dc      [2, M, B, H]      dc carried from step to step (backward; not read at k = T-1)
#include "common.cuh"

__device__ __forceinline__ float lstm_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double lstm_tanh(double x) { return tanh(x); }
template <class T>
__device__ __forceinline__ T lstm_sigmoid(T x) {
    return T(1) / (T(1) + rx_exp(-x));
}

template <class T>
struct LstmFwdStepP {
    const T* g;
    const T* w_hh0;
    const T* w_hh1;
    T* y;
    T* saved;
    i64 m;
    i64 t;
    i64 b;
    i64 h;
    i64 k;
};

// Step k of the forward pass: gates = G[t] + h_prev W_hh^T, then the cell update.
template <class T>
__device__ void lstm_fwd_step(const LstmFwdStepP<T>& p) {
    const i64 H = p.h, B = p.b, TT = p.t, H4 = 4 * H;
    const i64 cells = B * H;
    const bool has_prev = p.k > 0;
    for (i64 item = blockIdx.y; item < 2 * p.m; item += gridDim.y) {
        const int d = item >= p.m ? 1 : 0;
        const i64 r = item - d * p.m;
        const i64 t = d == 0 ? p.k : TT - 1 - p.k;
        const i64 tp = d == 0 ? t - 1 : t + 1;  // the previous step; valid when has_prev
        const T* W = (d == 0 ? p.w_hh0 : p.w_hh1) + r * H4 * H;
        const T* G = p.g + (item * TT + t) * B * H4;
        T* S = p.saved + (item * TT + t) * B * 6 * H;
        T* Y = p.y + (r * TT + t) * B * 2 * H + d * H;
        for (i64 cell = rx_gid(); cell < cells; cell += rx_gstride()) {
            const i64 bi = cell / H, j = cell - bi * H;
            const T* gr = G + bi * H4;
            T pi = gr[j], pf = gr[H + j], pg = gr[2 * H + j], po = gr[3 * H + j];
            T c_prev = T(0);
            if (has_prev) {
                const T* hp = p.y + ((r * TT + tp) * B + bi) * 2 * H + d * H;
                const T* wi = W + j * H;
                const T* wf = W + (H + j) * H;
                const T* wg = W + (2 * H + j) * H;
                const T* wo = W + (3 * H + j) * H;
                T ai = T(0), af = T(0), ag = T(0), ao = T(0);
                for (i64 q = 0; q < H; ++q) {
                    const T hv = hp[q];
                    ai += hv * wi[q];
                    af += hv * wf[q];
                    ag += hv * wg[q];
                    ao += hv * wo[q];
                }
                pi += ai;
                pf += af;
                pg += ag;
                po += ao;
                c_prev = p.saved[((item * TT + tp) * B + bi) * 6 * H + 4 * H + j];
            }
            const T ig = lstm_sigmoid(pi), fg = lstm_sigmoid(pf), gg = lstm_tanh(pg),
                    og = lstm_sigmoid(po);
            const T c = fg * c_prev + ig * gg;
            const T tc = lstm_tanh(c);
            T* sv = S + bi * 6 * H;
            sv[j] = ig;
            sv[H + j] = fg;
            sv[2 * H + j] = gg;
            sv[3 * H + j] = og;
            sv[4 * H + j] = c;
            sv[5 * H + j] = tc;
            Y[bi * 2 * H + j] = og * tc;
        }
    }
}
RECAUX_KERNEL_FT(lstm_fwd_step, LstmFwdStepP, lstm_fwd_step)
RECAUX_GRID_DIMS(lstm_fwd_step, 2)

template <class T>
struct LstmBwdStepP {
    const T* w_hh0;
    const T* w_hh1;
    const T* saved;
    const T* dy;
    T* dg;
    T* dc;
    i64 m;
    i64 t;
    i64 b;
    i64 h;
    i64 k;
};

// Step k of the backward pass (launched for k = T-1 down to 0): dh = dy[t] + dG[t_next] W_hh
// (t_next: the step after t in the direction's order, absent at k = T-1), the cell backward
// with dc carried in `dc`, and dG[t] written.
template <class T>
__device__ void lstm_bwd_step(const LstmBwdStepP<T>& p) {
    const i64 H = p.h, B = p.b, TT = p.t, H4 = 4 * H;
    const i64 cells = B * H;
    const bool has_prev = p.k > 0, has_next = p.k + 1 < TT;
    for (i64 item = blockIdx.y; item < 2 * p.m; item += gridDim.y) {
        const int d = item >= p.m ? 1 : 0;
        const i64 r = item - d * p.m;
        const i64 t = d == 0 ? p.k : TT - 1 - p.k;
        const i64 tp = d == 0 ? t - 1 : t + 1;  // valid when has_prev
        const i64 tn = d == 0 ? t + 1 : t - 1;  // valid when has_next
        const T* W = (d == 0 ? p.w_hh0 : p.w_hh1) + r * H4 * H;
        for (i64 cell = rx_gid(); cell < cells; cell += rx_gstride()) {
            const i64 bi = cell / H, j = cell - bi * H;
            T dh_rec = T(0);
            if (has_next) {
                const T* dgn = p.dg + ((item * TT + tn) * B + bi) * H4;
                for (i64 q = 0; q < H4; ++q) dh_rec += dgn[q] * W[q * H + j];
            }
            const T* sv = p.saved + ((item * TT + t) * B + bi) * 6 * H;
            const T ig = sv[j], fg = sv[H + j], gg = sv[2 * H + j], og = sv[3 * H + j],
                    tc = sv[5 * H + j];
            const T c_prev =
                has_prev ? p.saved[((item * TT + tp) * B + bi) * 6 * H + 4 * H + j] : T(0);
            const T dh = p.dy[((r * TT + t) * B + bi) * 2 * H + d * H + j] + dh_rec;
            const T d_o = dh * tc;
            T* dcp = p.dc + (item * B + bi) * H + j;
            // dc carried from the step after t; the first step launched (k = T-1) starts from 0
            // (the scratch holding dc is not zeroed in between)
            const T dc = (has_next ? *dcp : T(0)) + dh * og * (T(1) - tc * tc);
            const T di = dc * gg, dgg = dc * ig, df = dc * c_prev;
            *dcp = dc * fg;
            T* dgr = p.dg + ((item * TT + t) * B + bi) * H4;
            dgr[j] = di * ig * (T(1) - ig);
            dgr[H + j] = df * fg * (T(1) - fg);
            dgr[2 * H + j] = dgg * (T(1) - gg * gg);
            dgr[3 * H + j] = d_o * og * (T(1) - og);
        }
    }
}
RECAUX_KERNEL_FT(lstm_bwd_step, LstmBwdStepP, lstm_bwd_step)
RECAUX_GRID_DIMS(lstm_bwd_step, 2)
