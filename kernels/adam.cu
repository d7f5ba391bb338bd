// Adam, fused: every tensor of every replica in ONE launch (the CPU twin:
// src/backend/cpu/adam.rs; launch code: src/backend/kernel/adam.rs). The host uploads a table
// with one entry per (tensor, replica); grid-stride over the entry's elements in x and over
// entries in y (any grid gives the same result: one thread per element). The
// arithmetic is PyTorch's (torch.optim.Adam, no weight decay):
//   m = m + (g - m)(1 - b1)            (lerp)
//   v = b2 v + (1 - b2) g^2
//   denom = sqrt(v) / sqrt(1 - b2^t) + eps
//   p = p - (lr / (1 - b1^t)) * m / denom
// The bias corrections are computed on the host in double, as PyTorch does in Python floats
// (`beta ** step`: C's pow), into the entries' step sizes and `bc2_sqrt`, or, in a training
// step, into the step's values in device memory (`step_sizes`, `bc2_at`), which a recorded
// step (CUDA graph) reads when it is replayed. A step size of 0 with a zero gradient (a frozen
// replica, see guard.cu) leaves the parameters as they are.
#include "common.cuh"

// One row of the table: a (tensor, replica) slice of numel elements.
template <class T>
struct AdamEntry {
    T* param;
    const T* grad;
    T* m;
    T* v;
    i64 numel;
    double step_size;  // lr / (1 - b1^t) for this entry's replica
};

// adam: one update of every entry of the table.
template <class T>
struct AdamP {
    const AdamEntry<T>* table;
    i64 entries;
    double beta1;
    double beta2;
    double eps;
    double bc2_sqrt;  // sqrt(1 - b2^t)
    const double* step_sizes;  // when not null: the step size of replica r (entry e: r = e % m)
    const double* bc2_at;      // when not null: sqrt(1 - b2^t) is read here
    i64 m;                     // replicas (entries are tensor-major, replica-minor)
};

template <class T>
__device__ void adam(const AdamP<T>& p) {
    const T one_m_b1 = (T)(1.0 - p.beta1), b2 = (T)p.beta2, one_m_b2 = (T)(1.0 - p.beta2);
    const T eps = (T)p.eps, bc2_sqrt = (T)(p.bc2_at ? *p.bc2_at : p.bc2_sqrt);
    for (i64 e = blockIdx.y; e < p.entries; e += gridDim.y) {
        const AdamEntry<T> t = p.table[e];
        const T step = (T)(p.step_sizes ? p.step_sizes[e % p.m] : t.step_size);
        for (i64 i = rx_gid(); i < t.numel; i += rx_gstride()) {
            const T g = t.grad[i];
            T m = t.m[i], v = t.v[i];
            m = m + (g - m) * one_m_b1;
            v = v * b2 + one_m_b2 * g * g;
            const T denom = rx_sqrt(v) / bc2_sqrt + eps;
            t.param[i] = t.param[i] - step * (m / denom);
            t.m[i] = m;
            t.v[i] = v;
        }
    }
}
RECAUX_KERNEL_FT(adam, AdamP, adam)
RECAUX_GRID_DIMS(adam, 2)
