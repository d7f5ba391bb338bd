// relu and clamp, forward and backward. Grid-stride over n elements; backward accumulates.
#include "common.cuh"

// relu_fwd: y = max(x, 0); NaN stays NaN (as torch.relu). x, y: [n].
template <class T>
struct UnaryP {
    const T* x;
    T* y;
    i64 n;
};
template <class T>
__device__ void relu_fwd(const UnaryP<T>& p) {
    for (i64 i = rx_gid(); i < p.n; i += rx_gstride()) {
        T v = p.x[i];
        p.y[i] = (v > T(0) || v != v) ? v : T(0);
    }
}
RECAUX_KERNEL_FT(relu_fwd, UnaryP, relu_fwd)

// relu_bwd: dx += y <= 0 ? 0 : dy (PyTorch's threshold_backward: a NaN y passes dy).
// y, dy, dx: [n].
template <class T>
struct ReluBwdP {
    const T* y;
    const T* dy;
    T* dx;
    i64 n;
};
template <class T>
__device__ void relu_bwd(const ReluBwdP<T>& p) {
    for (i64 i = rx_gid(); i < p.n; i += rx_gstride())
        if (!(p.y[i] <= T(0))) p.dx[i] += p.dy[i];
}
RECAUX_KERNEL_FT(relu_bwd, ReluBwdP, relu_bwd)

// clamp_fwd: y = min(max(x, lo), hi); NaN stays NaN (as torch.clamp). x, y: [n].
template <class T>
struct ClampP {
    const T* x;
    T* y;
    i64 n;
    double lo;
    double hi;
};
template <class T>
__device__ void clamp_fwd(const ClampP<T>& p) {
    const T lo = (T)p.lo, hi = (T)p.hi;
    for (i64 i = rx_gid(); i < p.n; i += rx_gstride()) {
        T v = p.x[i];
        p.y[i] = v < lo ? lo : (v > hi ? hi : v);
    }
}
RECAUX_KERNEL_FT(clamp_fwd, ClampP, clamp_fwd)

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
