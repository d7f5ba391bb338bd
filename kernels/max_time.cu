// Max over time, forward (value and argmax, first maximum wins; a NaN wins and stays, as
// torch.max over a dim) and backward (scatter through the argmax) (the CPU twin:
// src/backend/cpu/max_time.rs; launch code: src/backend/kernel/max_time.rs). One thread per
// output element (replica, row, feature), grid-stride; it walks t in order, so the result does
// not depend on the launch. The backward is deterministic without atomics: each dx element is
// written by at most one thread, the one whose argmax points at it.
#include "common.cuh"

// x: [M, T, rows, F]; y, arg: [M, rows, F]; total = M * rows * F.
template <class T>
struct MaxTimeFwdP {
    const T* x;
    T* y;
    int* arg;
    i64 t;
    i64 rows;
    i64 f;
    i64 total;
};
template <class T>
__device__ void max_time_fwd(const MaxTimeFwdP<T>& p) {
    const i64 plane = p.rows * p.f;
    for (i64 o = rx_gid(); o < p.total; o += rx_gstride()) {
        const i64 r = o / plane, within = o - r * plane;
        const T* x = p.x + r * p.t * plane + within;
        T best = x[0];
        int arg = 0;
        for (i64 t = 1; t < p.t; ++t) {
            T v = x[t * plane];
            if (v > best || (v != v && best == best)) {
                best = v;
                arg = (int)t;
            }
        }
        p.y[o] = best;
        p.arg[o] = arg;
    }
}
RECAUX_KERNEL_FT(max_time_fwd, MaxTimeFwdP, max_time_fwd)

// dy, arg: [M, rows, F]; dx: [M, T, rows, F] (accumulated). Every arg is in [0, T): the host
// checks that `arg` holds max_time_fwd's output before launching.
template <class T>
struct MaxTimeBwdP {
    const T* dy;
    const int* arg;
    T* dx;
    i64 t;
    i64 rows;
    i64 f;
    i64 total;
};
template <class T>
__device__ void max_time_bwd(const MaxTimeBwdP<T>& p) {
    const i64 plane = p.rows * p.f;
    for (i64 o = rx_gid(); o < p.total; o += rx_gstride()) {
        const i64 r = o / plane, within = o - r * plane;
        p.dx[(r * p.t + p.arg[o]) * plane + within] += p.dy[o];
    }
}
RECAUX_KERNEL_FT(max_time_bwd, MaxTimeBwdP, max_time_bwd)
