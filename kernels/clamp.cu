// clamp, forward and backward (the CPU twin: src/backend/cpu/clamp.rs; launch code:
// src/backend/kernel/clamp.rs). Grid-stride over n elements: correct for any grid, one
// thread per element.
#include "common.cuh"

// clamp_fwd: y = min(max(x, lo), hi); NaN stays NaN (as torch.clamp). x, y: [n].
template <class T>
struct ClampFwdP {
    const T* x;
    T* y;
    i64 n;
    double lo;
    double hi;
};
template <class T>
__device__ void clamp_fwd(const ClampFwdP<T>& p) {
    const T lo = (T)p.lo, hi = (T)p.hi;
    for (i64 i = rx_gid(); i < p.n; i += rx_gstride()) {
        T v = p.x[i];
        p.y[i] = v < lo ? lo : (v > hi ? hi : v);
    }
}
RECAUX_KERNEL_FT(clamp_fwd, ClampFwdP, clamp_fwd)

// clamp_bwd: dx += (lo <= x <= hi) ? dy : 0 (inclusive bounds, as PyTorch). x, dy, dx: [n].
template <class T>
struct ClampBwdP {
    const T* x;
    const T* dy;
    T* dx;
    i64 n;
    double lo;
    double hi;
};
template <class T>
__device__ void clamp_bwd(const ClampBwdP<T>& p) {
    const T lo = (T)p.lo, hi = (T)p.hi;
    for (i64 i = rx_gid(); i < p.n; i += rx_gstride()) {
        T v = p.x[i];
        if (lo <= v && v <= hi) p.dx[i] += p.dy[i];
    }
}
RECAUX_KERNEL_FT(clamp_bwd, ClampBwdP, clamp_bwd)
