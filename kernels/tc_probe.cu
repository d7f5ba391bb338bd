// Probes of the tensor-core / async-copy primitives (tc.cuh) and of the emulator's checks, for
// tests/ops/tc_probe.rs (launch code: src/backend/kernel/tc_probe.rs). Not an op of the
// trainer: the instruments that test the primitives the fast paths of `lstm` and `gemm` are
// built from. They run on cuda too, so that the first GPU run checks the conversions and the
// WMMA wrappers against the same expectations as emu. Each is correct for any grid (a
// grid-stride loop over its items; one item for the mma and cp.async probes).
//
// - tc_probe_convert: f32 -> f16, bf16, tf32 bit patterns (rx_f32_to_*), and f16 -> f32 back.
// - tc_probe_mma: D = 2 A B + C (two chained products, then C added element-wise) for one tile
//   of each operand type and each (A, B) layout, operands converted to the operand type
//   through shared memory, loaded with rx_load_a/b, multiplied with rx_mma, stored with
//   rx_store_c. `misalign` shifts the A tile by 2 bytes: an address the ISA forbids (the emu
//   reports a kernel fault).
// - tc_probe_smem: what static (RX_SHARED) and dynamic shared memory hold before the block
//   writes them (emu: the 0xFF poison in every block), and after.
// - tc_probe_cp_async: cp.async groups: what a thread sees before and after each wait.
#include "tc.cuh"

// tc_probe_convert: the conversions of x[0..n].
struct TcProbeConvertP {
    const float* x;
    unsigned short* f16;
    unsigned short* bf16;
    unsigned* tf32;
    float* f16_back;
    i64 n;
};
__device__ void tc_probe_convert_body(const TcProbeConvertP& p) {
    for (i64 i = rx_gid(); i < p.n; i += rx_gstride()) {
        const float x = p.x[i];
        p.f16[i] = rx_f32_to_f16(x);
        p.bf16[i] = rx_f32_to_bf16(x);
        p.tf32[i] = rx_f32_to_tf32(x);
        p.f16_back[i] = rx_f16_to_f32(p.f16[i]);
    }
}
RECAUX_KERNEL(tc_probe_convert, TcProbeConvertP, tc_probe_convert_body)

// tc_probe_mma: one tile product through the WMMA wrappers (one warp).
struct TcProbeMmaP {
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
__device__ void probe_mma(const TcProbeMmaP& p, unsigned char* smem) {
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

__device__ void tc_probe_mma_item(const TcProbeMmaP& p) {
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
__device__ void tc_probe_mma_body(const TcProbeMmaP& p) {
    // One item: the first block computes it, any other block has nothing to do.
    for (i64 it = blockIdx.x; it < 1; it += gridDim.x) tc_probe_mma_item(p);
}
RECAUX_KERNEL(tc_probe_mma, TcProbeMmaP, tc_probe_mma_body)
RECAUX_BLOCK_EXACT(tc_probe_mma, 32)

// tc_probe_smem: shared memory before and after a block writes it, per item (an item is what
// one block does; with as many blocks as items, each item is a block's first).
// Launch with blocks of at most 128 threads and 512 bytes of dynamic shared memory.
struct TcProbeSmemP {
    unsigned* before_static;   // [items, threads]
    unsigned* before_dynamic;  // [items, threads]
    unsigned* after;           // [items, threads]: static + dynamic after the item wrote them
    i64 items;
};
__device__ void tc_probe_smem_body(const TcProbeSmemP& p) {
    RX_SHARED(unsigned, st, [128]);
    unsigned* dyn = rx_dyn_shared<unsigned>();
    const unsigned t = threadIdx.x;
    for (i64 it = blockIdx.x; it < p.items; it += gridDim.x) {
        const i64 i = it * blockDim.x + t;
        // Read before this item writes (deliberately: in a block's first item this is what
        // the poison is for).
        p.before_static[i] = st[t];
        p.before_dynamic[i] = dyn[t];
        __syncthreads();
        st[t] = 1000u * (unsigned)it + t;
        dyn[t] = 7u;
        __syncthreads();
        p.after[i] = st[(t + 1) % blockDim.x] + dyn[t];
        __syncthreads();  // every read of st is done before the next item writes it
    }
}
RECAUX_KERNEL(tc_probe_smem, TcProbeSmemP, tc_probe_smem_body)
RECAUX_BLOCK_EXACT(tc_probe_smem, 128)

// tc_probe_cp_async: what each thread sees of its async copies around the waits.
struct TcProbeCpAsyncP {
    const float* src;  // [threads * 8]: each thread owns two 16-byte chunks
    float* out;        // [threads * 8 * 3]: chunk values seen at three points
    int mode;          // 0: two groups, waits in order; 1: never waits (a kernel fault on emu)
    int pad_;
};
// Dynamic shared memory = threads * 32 bytes. One item (the first block's; any other block
// has nothing to do).
__device__ void tc_probe_cp_async_item(const TcProbeCpAsyncP& p) {
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
__device__ void tc_probe_cp_async_body(const TcProbeCpAsyncP& p) {
    for (i64 it = blockIdx.x; it < 1; it += gridDim.x) tc_probe_cp_async_item(p);
}
RECAUX_KERNEL(tc_probe_cp_async, TcProbeCpAsyncP, tc_probe_cp_async_body)
