// relu, forward and backward (the CPU twin: src/backend/cpu/relu.rs; launch code:
// src/backend/kernel/relu.rs). Grid-stride over n elements: correct for any grid, and each
// element is one thread's work, so the result does not depend on the grid.
#include "common.cuh"

// relu_fwd: y = max(x, 0). x, y: [n].
template <class T>
struct ReluFwdP {
    const T* x;
    T* y;
    i64 n;
};
template <class T>
__device__ void relu_fwd(const ReluFwdP<T>& p) {
    for (i64 i = rx_gid(); i < p.n; i += rx_gstride()) {
        T v = p.x[i];
        p.y[i] = (v > T(0) || v != v) ? v : T(0);  // NaN stays NaN (torch.relu)
    }
}
RECAUX_KERNEL_FT(relu_fwd, ReluFwdP, relu_fwd)

// relu_bwd: dx += y > 0 ? dy : 0 (PyTorch's threshold_backward). y, dy, dx: [n].
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
        if (!(p.y[i] <= T(0))) p.dx[i] += p.dy[i];  // threshold_backward: a NaN y passes dy
}
RECAUX_KERNEL_FT(relu_bwd, ReluBwdP, relu_bwd)
