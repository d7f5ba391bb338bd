// guard: the non-finite guard of a training step, between the backward pass and Adam, on the
// device (launch code: src/backend/kernel/guard.rs; the CPU twin: src/backend/cpu/guard.rs).
// Replica r is bad when its loss ce + λ l1 or any element of its gradients is NaN or infinite;
// a replica that is bad, or that the host stopped (StepVals.keep), is frozen for good: its
// gradients are zeroed and its Adam step size set to 0, so Adam leaves its parameters as they
// are, while the other replicas go on untouched. The gradients are found through Adam's table
// (AdamEntry, kernels/adam.cu, in the same translation unit): tensor-major, replica-minor.
#include "common.cuh"

// guard_scan, one block per table entry (grid-stride over entries in x), blockDim a multiple
// of 32: bad[e] = 1 when an element of entry e's gradient is NaN or infinite, else 0.
template <class T>
struct GuardScanP {
    const AdamEntry<T>* table;  // [entries]
    int* bad;                   // [entries]
    i64 entries;
};
template <class T>
__device__ void guard_scan(const GuardScanP<T>& p) {
    for (i64 e = blockIdx.x; e < p.entries; e += gridDim.x) {
        const AdamEntry<T> t = p.table[e];
        i64 n_bad = 0;
        for (i64 i = threadIdx.x; i < t.numel; i += blockDim.x) n_bad += rx_finite(t.grad[i]) ? 0 : 1;
        n_bad = rx_block_sum(n_bad);
        if (threadIdx.x == 0) p.bad[e] = n_bad > 0 ? 1 : 0;
    }
}
RECAUX_KERNEL_FT(guard_scan, GuardScanP, guard_scan)
RECAUX_BLOCK_MULTIPLE(guard_scan, 32)

// guard_apply, one thread per replica (grid-stride): bad = any bad[k * m + r] or ce + λ l1
// not finite; record[row, r, 3] = bad; active[r] = active[r] && keep[r] && !bad; a replica
// not active gets step_size[r] = 0.
template <class T>
struct GuardApplyP {
    const T* ce;         // [M]
    const T* l1;         // [M]
    const int* bad;      // [entries], from guard_scan
    int* active;         // [M], kept across steps
    const int* keep;     // the step's StepVals.keep
    double* step_size;   // the step's StepVals.step_size
    const u64* row_at;   // the step's StepVals.record_row
    T* record;           // [rows, M, 4]
    i64 m;
    i64 tensors;
    i64 rows;
    double lambda[RX_MAX_REPLICAS];
};
template <class T>
__device__ void guard_apply(const GuardApplyP<T>& p) {
    const i64 row = (i64)(*p.row_at % (u64)p.rows);
    for (i64 r = rx_gid(); r < p.m; r += rx_gstride()) {
        bool bad = false;
        for (i64 k = 0; k < p.tensors; ++k) bad = bad || p.bad[k * p.m + r] != 0;
        const double ce = (double)p.ce[r], l1 = (double)p.l1[r];
        bad = bad || !rx_finite(ce) || !rx_finite(l1) || !rx_finite(ce + p.lambda[r] * l1);
        p.record[(row * p.m + r) * 4 + 3] = bad ? T(1) : T(0);
        const bool act = p.active[r] != 0 && p.keep[r] != 0 && !bad;
        p.active[r] = act ? 1 : 0;
        if (!act) p.step_size[r] = 0.0;
    }
}
RECAUX_KERNEL_FT(guard_apply, GuardApplyP, guard_apply)

// guard_zero, grid-stride over an entry's elements in x and over entries in y: the gradient
// of an entry whose replica is not active is set to 0.
template <class T>
struct GuardZeroP {
    const AdamEntry<T>* table;  // [entries]
    const int* active;          // [M]
    i64 entries;
    i64 m;
};
template <class T>
__device__ void guard_zero(const GuardZeroP<T>& p) {
    for (i64 e = blockIdx.y; e < p.entries; e += gridDim.y) {
        if (p.active[e % p.m] != 0) continue;
        const AdamEntry<T> t = p.table[e];
        T* g = const_cast<T*>(t.grad);
        for (i64 i = rx_gid(); i < t.numel; i += rx_gstride()) g[i] = T(0);
    }
}
RECAUX_KERNEL_FT(guard_zero, GuardZeroP, guard_zero)
RECAUX_GRID_DIMS(guard_zero, 2)
