// DELIBERATELY BROKEN (sanitizer self-test only; never in the product kernels): a block sum
// through shared memory with the __syncthreads() between the writes and the reads removed.
// ThreadSanitizer must report a data race on `buf`.
#include "../common.cuh"

struct BuggyP {
    const float* x;
    float* out;
    i64 n;
};
__device__ void buggy_racy_sum(const BuggyP& p) {
    RX_SHARED(float, buf, [256]);
    buf[threadIdx.x] = threadIdx.x < p.n ? p.x[threadIdx.x] : 0.0f;
    // __syncthreads();  <- missing on purpose
    if (threadIdx.x == 0) {
        float s = 0.0f;
        for (unsigned i = 0; i < blockDim.x; ++i) s += buf[i];
        p.out[0] = s;
    }
}
RECAUX_KERNEL(buggy_racy_sum, BuggyP, buggy_racy_sum)
