// Probes of the tensor-core / async-copy primitives (tc.cuh) and of the emulator's checks, for
// tests/tc_emu.rs. Not used by the trainer. They run on cuda too, so that the first GPU run
// checks the conversions and the WMMA wrappers against the same expectations as emu.
//
// - tc_convert: f32 -> f16, bf16, tf32 bit patterns (rx_f32_to_*), and f16 -> f32 back.
// - tc_mma_probe: D = 2 A B + C (two chained products, then C added element-wise) for one tile of each operand type and each (A, B) layout,
//   operands converted to the operand type through shared memory, loaded with rx_load_a/b,
//   multiplied with rx_mma, stored with rx_store_c. `misalign` shifts the A tile by 2 bytes:
//   an address the ISA forbids (the emu reports a kernel fault).
// - tc_smem_probe: what static (RX_SHARED) and dynamic shared memory hold before the block
//   writes them (emu: the 0xFF poison in every block), and after.
// - tc_cp_async_probe: cp.async groups: what a thread sees before and after each wait.
#include "tc.cuh"

struct TcConvertP {
    const float* x;
    unsigned short* f16;
    unsigned short* bf16;
    unsigned* tf32;
    float* f16_back;
    i64 n;
};
__device__ void tc_convert_body(const TcConvertP& p) {
    for (i64 i = rx_gid(); i < p.n; i += rx_gstride()) {
        const float x = p.x[i];
        p.f16[i] = rx_f32_to_f16(x);
        p.bf16[i] = rx_f32_to_bf16(x);
        p.tf32[i] = rx_f32_to_tf32(x);
        p.f16_back[i] = rx_f16_to_f32(p.f16[i]);
    }
}
RECAUX_KERNEL(tc_convert, TcConvertP, tc_convert_body)

struct TcMmaProbeP {
    const float* a;  // [16][16] row-major (tf32: the first 8 columns are A)
    const float* b;  // [16][16] row-major (tf32: the first 8 rows are B)
    const float* c;  // [16][16]
    float* d;        // [16][16]
    int op;          // 0 f16, 1 bf16, 2 tf32
    int a_col;       // A loaded column-major
    int b_col;       // B loaded column-major
    int misalign;    // shift the A tile by 2 bytes (must fault on emu)
};

// Stages a rows x cols f32 tile (row-major, ld 16) into shared memory in the operand type,
// row- or column-major with stride `ld`; elements are 16-bit except tf32 (32-bit f32 bits).
template <RxOp Op>
__device__ void probe_stage(unsigned char* s, const float* src, int rows, int cols, bool col,
                            unsigned ld) {
    for (int e = threadIdx.x; e < rows * cols; e += blockDim.x) {
        const int r = e / cols, c = e % cols;
        const unsigned at = col ? c * ld + r : r * ld + c;
        const float v = src[r * 16 + c];
        if constexpr (Op == RxOp::tf32)
            reinterpret_cast<float*>(s)[at] = v;
        else
            reinterpret_cast<unsigned short*>(s)[at] = rx_f32_to_op16<Op>(v);
    }
}

template <RxOp Op, RxLay LA, RxLay LB>
__device__ void probe_mma(const TcMmaProbeP& p, unsigned char* smem) {
    constexpr int K = Op == RxOp::tf32 ? 8 : 16;
    constexpr unsigned eb = Op == RxOp::tf32 ? 4 : 2;
    // Strides: 16 elements + padding that keeps the ISA's alignment (32 bytes for f16).
    constexpr unsigned ld = Op == RxOp::f16 ? 32 : 24;
    unsigned char* sa = smem + 64;
    unsigned char* sb = sa + 16 * ld * eb + 64;
    float* sc = reinterpret_cast<float*>(sb + 16 * ld * eb + 64);
    probe_stage<Op>(sa, p.a, 16, K, LA == RxLay::col, ld);
    probe_stage<Op>(sb, p.b, K, 16, LB == RxLay::col, ld);
    for (int e = threadIdx.x; e < 256; e += blockDim.x) sc[(e / 16) * 24 + e % 16] = p.c[e];
    __syncthreads();
    RxFragA<Op, LA> fa;
    RxFragB<Op, LB> fb;
    RxFragC<Op> fc;
    rx_load_a(fa, sa + (p.misalign ? 2 : 0), ld);
    rx_load_b(fb, sb, ld);
    if constexpr (Op == RxOp::tf32) {
        rx_round_tf32(fa);
        rx_round_tf32(fb);
    }
    // Two chained products (the accumulator as the C operand, as the kernels use it): 2 a b.
    rx_fill_zero(fc);
    RxFragC<Op> fd;
    rx_mma(fd, fa, fb, fc);
    rx_mma(fd, fa, fb, fd);
    rx_store_c(sc + 16 * 24, fd, 24);
    __syncthreads();
    for (int e = threadIdx.x; e < 256; e += blockDim.x) {
        const int i = e / 16, j = e % 16;
        p.d[e] = sc[16 * 24 + i * 24 + j] + sc[i * 24 + j];
    }
}

__device__ void tc_mma_probe_body(const TcMmaProbeP& p) {
    unsigned char* smem = rx_dyn_shared<unsigned char>();
    const int lay = (p.a_col ? 2 : 0) + (p.b_col ? 1 : 0);
#define PROBE_LAYOUTS(OP)                                                     \
    switch (lay) {                                                            \
        case 0: probe_mma<OP, RxLay::row, RxLay::row>(p, smem); break;      \
        case 1: probe_mma<OP, RxLay::row, RxLay::col>(p, smem); break;      \
        case 2: probe_mma<OP, RxLay::col, RxLay::row>(p, smem); break;      \
        default: probe_mma<OP, RxLay::col, RxLay::col>(p, smem); break;     \
    }
    if (p.op == 0) {
        PROBE_LAYOUTS(RxOp::f16)
    } else if (p.op == 1) {
        PROBE_LAYOUTS(RxOp::bf16)
    } else {
        PROBE_LAYOUTS(RxOp::tf32)
    }
#undef PROBE_LAYOUTS
}
RECAUX_KERNEL(tc_mma_probe, TcMmaProbeP, tc_mma_probe_body)

struct TcSmemProbeP {
    unsigned* before_static;   // [blocks, threads]
    unsigned* before_dynamic;  // [blocks, threads]
    unsigned* after;           // [blocks, threads]: static + dynamic after the block wrote them
};
// Launch with 1-D blocks of at most 128 threads and 512 bytes of dynamic shared memory.
__device__ void tc_smem_probe_body(const TcSmemProbeP& p) {
    RX_SHARED(unsigned, st, [128]);
    unsigned* dyn = rx_dyn_shared<unsigned>();
    const unsigned t = threadIdx.x, i = blockIdx.x * blockDim.x + t;
    // Read before any write (deliberately: this is what the poison is for).
    p.before_static[i] = st[t];
    p.before_dynamic[i] = dyn[t];
    __syncthreads();
    st[t] = 1000u * blockIdx.x + t;
    dyn[t] = 7u;
    __syncthreads();
    p.after[i] = st[(t + 1) % blockDim.x] + dyn[t];
}
RECAUX_KERNEL(tc_smem_probe, TcSmemProbeP, tc_smem_probe_body)

struct TcCpAsyncProbeP {
    const float* src;  // [threads * 8]: each thread owns two 16-byte chunks
    float* out;        // [threads * 8 * 3]: chunk values seen at three points
    int mode;          // 0: two groups, waits in order; 1: never waits (a kernel fault on emu)
    int pad_;
};
// Launch with one block; dynamic shared memory = threads * 32 bytes.
__device__ void tc_cp_async_probe_body(const TcCpAsyncProbeP& p) {
    float* s = rx_dyn_shared<float>();
    const unsigned t = threadIdx.x;
    float* mine = s + 8 * t;
    const float* src = p.src + 8 * t;
    float* out = p.out + 24 * t;
    rx_cp_async16(mine, src, 16);  // group 0: chunk 0
    rx_cp_async_commit();
    rx_cp_async16(mine + 4, src + 4, 8);  // group 1: chunk 1, half of it (rest zero-filled)
    rx_cp_async_commit();
    for (int e = 0; e < 8; ++e) out[e] = mine[e];  // before any wait
    if (p.mode == 0) {
        rx_cp_async_wait<1>();
        for (int e = 0; e < 8; ++e) out[8 + e] = mine[e];  // group 0 done, group 1 may not be
        rx_cp_async_wait<0>();
        for (int e = 0; e < 8; ++e) out[16 + e] = mine[e];  // both done
    }
}
RECAUX_KERNEL(tc_cp_async_probe, TcCpAsyncProbeP, tc_cp_async_probe_body)
