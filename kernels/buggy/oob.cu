// DELIBERATELY BROKEN (sanitizer self-test only; never in the product kernels): copies n
// elements but its bounds check is off by one, so the last thread reads and writes one past
// the end. AddressSanitizer must report a heap-buffer-overflow.
#include "../common.cuh"

struct BuggyOobP {
    const float* x;
    float* y;
    i64 n;
};
__device__ void buggy_oob_copy(const BuggyOobP& p) {
    const i64 i = rx_gid();
    if (i <= p.n) p.y[i] = p.x[i];  // should be i < n
}
RECAUX_KERNEL(buggy_oob_copy, BuggyOobP, buggy_oob_copy)
