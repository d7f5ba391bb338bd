// score: a training step's record, per replica: the cross entropy, the L1 loss and the number
// of correct predictions (launch code: src/backend/kernel/score.rs; the CPU twin:
// src/backend/cpu/score.rs). The host reads these few values once per step (or per N steps)
// instead of the logits and the losses one by one.
#include "common.cuh"

// score, one block per replica (grid-stride over replicas in x), blockDim a multiple of 32:
// record[row, r, :] = [ce[r], l1[r], correct, 0], row = *row_at mod rows; correct = rows b
// whose first arg-max of logits[r, b, :] is labels[b] (an integer count: the same for any
// grid and block).
template <class T>
struct ScoreP {
    const T* logits;     // [M, B, C]
    const int* labels;   // [B]
    const T* ce;         // [M]
    const T* l1;         // [M]
    const u64* row_at;   // the step's StepVals.record_row
    T* record;           // [rows, M, 4]
    i64 m;
    i64 b;
    i64 c;
    i64 rows;
};
template <class T>
__device__ void score(const ScoreP<T>& p) {
    const i64 row = (i64)(*p.row_at % (u64)p.rows);
    for (i64 r = blockIdx.x; r < p.m; r += gridDim.x) {
        i64 ok = 0;
        for (i64 i = threadIdx.x; i < p.b; i += blockDim.x) {
            const T* x = p.logits + (r * p.b + i) * p.c;
            i64 best = 0;
            for (i64 j = 1; j < p.c; ++j)
                if (x[j] > x[best]) best = j;
            ok += best == (i64)p.labels[i] ? 1 : 0;
        }
        ok = rx_block_sum(ok);
        if (threadIdx.x == 0) {
            T* out = p.record + (row * p.m + r) * 4;
            out[0] = p.ce[r];
            out[1] = p.l1[r];
            out[2] = (T)ok;
            out[3] = T(0);
        }
    }
}
RECAUX_KERNEL_FT(score, ScoreP, score)
RECAUX_BLOCK_MULTIPLE(score, 32)
