// input: the batch a training step reads, from its staging slot (src/backend/slot.rs; launch
// code: src/backend/kernel/input.rs; the CPU twin: src/backend/cpu/input.rs). The features
// travel as f16 (half the bytes of f32) and are widened here, exactly; the labels and the
// step's values (StepVals, src/backend/mod.rs) are copied beside them, so that everything a
// recorded step reads is in buffers that do not change from one step to the next.
#include "common.cuh"

// IEEE binary16 -> binary32, exact (every f16 is a float). A NaN keeps its payload and gets
// the quiet bit, as the `half` crate (and x86's F16C) does on the host.
__device__ __forceinline__ float rx_half_to_float(unsigned int h) {
    const unsigned int sign = (h & 0x8000u) << 16;
    const unsigned int exp = (h >> 10) & 0x1fu;
    unsigned int mant = h & 0x3ffu;
    unsigned int bits;
    if (exp == 0x1fu) {
        bits = sign | 0x7f800000u | (mant << 13) | (mant != 0 ? 0x400000u : 0u);
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign;
    } else {
        // subnormal: shift the leading one into the implicit bit
        unsigned int e = 113u;  // 127 - 15 + 1
        while ((mant & 0x400u) == 0) {
            mant <<= 1;
            --e;
        }
        bits = sign | (e << 23) | ((mant & 0x3ffu) << 13);
    }
    return rx_uint_as_float(bits);
}

// input, grid-stride over max(n, b, words) in x: x[i] = half x16[i] as T; labels[i] =
// labels_in[i]; vals[i] = vals_in[i] (u64 words).
template <class T>
struct InputP {
    const unsigned short* x16;  // [n] f16 bits
    T* x;                       // [n]
    const int* labels_in;       // [b]
    int* labels;                // [b]
    const u64* vals_in;         // [words]
    u64* vals;                  // [words]
    i64 n;
    i64 b;
    i64 words;
};
template <class T>
__device__ void input(const InputP<T>& p) {
    i64 all = p.n > p.b ? p.n : p.b;
    all = all > p.words ? all : p.words;
    for (i64 i = rx_gid(); i < all; i += rx_gstride()) {
        if (i < p.n) p.x[i] = (T)rx_half_to_float(p.x16[i]);
        if (i < p.b) p.labels[i] = p.labels_in[i];
        if (i < p.words) p.vals[i] = p.vals_in[i];
    }
}
RECAUX_KERNEL_FT(input, InputP, input)
