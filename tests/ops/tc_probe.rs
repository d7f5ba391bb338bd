//! The tensor-core primitives (kernels/tc.cuh, emulated by kernels/emu/tc.h) and the
//! emulator's checks around them, through the probes of kernels/tc_probe.cu
//! (src/backend/kernel/tc_probe.rs): the instruments of the fast paths of `lstm` and `gemm`,
//! not an op of the trainer.
//! - conversions f32 -> f16 / bf16 (round to nearest even) and tf32 (round to nearest, ties
//!   away: cvt.rna) against hand-computed bit patterns of the edge cases (ties, subnormals,
//!   overflow, inf, NaN) and against independent references on many values (the `half` crate,
//!   an f64 rounding for tf32);
//! - the WMMA wrappers (every operand type, every A/B layout) against an f64 product of the
//!   converted operands, and a misaligned tile reported as a kernel fault;
//! - (emu) shared memory, static and dynamic, filled with 0xFF before every block;
//! - (emu) cp.async copies performed only at the wait that retires their group, and copies
//!   never waited for reported as a kernel fault.
//!
//! Conversions and WMMA run on cuda too when a GPU is usable (the same expectations), so the
//! first GPU run checks the emulation against the hardware; the emu-only checks say so.

use crate::common::data;
use crate::common::skip::skip_notice;
use recaux::backend::cuda::{CudaBackend, cuda_available};
use recaux::backend::emu::EmuBackend;
use recaux::backend::kernel::tc_probe::{self, SMEM_PROBE_THREADS, TcOp};
use recaux::backend::kernel::{Device, KernelBackend};
use recaux::backend::{Backend, Elem};

fn f(bits: u32) -> f32 {
    f32::from_bits(bits)
}

/// Round to nearest, ties away from zero, to 10 fraction bits, computed in f64 from the f64
/// exponent (not the f32 bit trick the kernels use).
fn tf32_rna_ref(x: f32) -> u32 {
    if x.is_nan() || x.is_infinite() || x == 0.0 {
        return x.to_bits();
    }
    let ax = (x as f64).abs();
    let e = (((ax.to_bits() >> 52) & 0x7ff) as i32 - 1023).max(-126);
    let q = 2f64.powi(e - 10);
    let n = ax / q;
    let r = if n - n.floor() >= 0.5 {
        n.floor() + 1.0
    } else {
        n.floor()
    };
    let v = r * q;
    let v32 = if v > f32::MAX as f64 {
        f32::INFINITY
    } else {
        v as f32
    };
    (if x < 0.0 { -v32 } else { v32 }).to_bits()
}

/// (input bits, f16 bits, bf16 bits, tf32 bits), each worked out by hand.
const EDGES: &[(u32, u16, u16, u32)] = &[
    (0x3f80_0000, 0x3c00, 0x3f80, 0x3f80_0000), // 1
    (0xc000_0000, 0xc000, 0xc000, 0xc000_0000), // -2
    (0x8000_0000, 0x8000, 0x8000, 0x8000_0000), // -0
    // 1 + 2^-11: f16 tie -> even 1.0; bf16 rounds down; tf32 tie -> away 1 + 2^-10
    (0x3f80_1000, 0x3c00, 0x3f80, 0x3f80_2000),
    // -(1 + 2^-11)
    (0xbf80_1000, 0xbc00, 0xbf80, 0xbf80_2000),
    // 1 + 3 * 2^-11: f16 tie between 0x3c01 (odd) and 0x3c02 -> 0x3c02
    (0x3f80_3000, 0x3c02, 0x3f80, 0x3f80_4000),
    // just below the tf32 tie: down
    (0x3f80_0fff, 0x3c00, 0x3f80, 0x3f80_0000),
    // 1 + 2^-8: bf16 tie -> even 1.0; 1 + 3 * 2^-8: bf16 tie -> 0x3f82
    (0x3f80_8000, 0x3c04, 0x3f80, 0x3f80_8000),
    (0x3f81_8000, 0x3c0c, 0x3f82, 0x3f81_8000),
    // 65504 (f16 max); 65520 (f16 tie between 65504 and 2^16: even -> inf; tf32 tie -> away,
    // 2^16); 1e6
    (0x477f_e000, 0x7bff, 0x4780, 0x477f_e000),
    (0x477f_f000, 0x7c00, 0x4780, 0x4780_0000),
    (0x4974_2400, 0x7c00, 0x4974, 0x4974_2000),
    // f32 max: bf16 and tf32 round up to inf
    (0x7f7f_ffff, 0x7c00, 0x7f80, 0x7f80_0000),
    (0x7f7f_7fff, 0x7c00, 0x7f7f, 0x7f7f_8000),
    // bf16 tie at the top, 0x7f7f odd -> inf
    (0x7f7f_8000, 0x7c00, 0x7f80, 0x7f7f_8000),
    // inf, -inf
    (0x7f80_0000, 0x7c00, 0x7f80, 0x7f80_0000),
    (0xff80_0000, 0xfc00, 0xff80, 0xff80_0000),
    // f16 subnormals: 2^-24 (smallest), 2^-25 (tie with 0 -> 0), next f32 above 2^-25 -> 2^-24,
    // 3 * 2^-25 (tie between 1 and 2 units -> 2), 2^-14 (smallest normal), 1023.5 * 2^-24
    // (tie between the largest subnormal and 2^-14 -> 2^-14)
    (0x3380_0000, 0x0001, 0x3380, 0x3380_0000),
    (0x3300_0000, 0x0000, 0x3300, 0x3300_0000),
    (0x3300_0001, 0x0001, 0x3300, 0x3300_0000),
    (0x33c0_0000, 0x0002, 0x33c0, 0x33c0_0000),
    (0x3880_0000, 0x0400, 0x3880, 0x3880_0000),
    (0x387f_e000, 0x0400, 0x3880, 0x387f_e000),
    // f32 subnormals: 1 ulp; bf16 tie with 0 (0x8000 -> 0), tie with odd 1 (0x18000 -> 2),
    // just above a tie (0x8001 -> 1); tf32 tie at 0x1000 -> away
    (0x0000_0001, 0x0000, 0x0000, 0x0000_0000),
    (0x0000_8000, 0x0000, 0x0000, 0x0000_8000),
    (0x0001_8000, 0x0000, 0x0002, 0x0001_8000),
    (0x0000_8001, 0x0000, 0x0001, 0x0000_8000),
    (0x0000_1000, 0x0000, 0x0000, 0x0000_2000),
    (0x0000_0fff, 0x0000, 0x0000, 0x0000_0000),
];

#[test]
fn conversions_round_edge_cases_exactly() {
    // The hand table against the independent references first (so a wrong table fails here).
    for &(x, h, bf, t) in EDGES {
        assert_eq!(
            half::f16::from_f32(f(x)).to_bits(),
            h,
            "f16 table, {x:#010x}"
        );
        assert_eq!(
            half::bf16::from_f32(f(x)).to_bits(),
            bf,
            "bf16 table, {x:#010x}"
        );
        assert_eq!(tf32_rna_ref(f(x)), t, "tf32 table, {x:#010x}");
    }
    f32_kernel_backends!(edges_on);
}

fn edges_on<D: Device>(be: &KernelBackend<f32, D>) {
    let dev = be.name();
    let mut xs: Vec<f32> = EDGES.iter().map(|e| f(e.0)).collect();
    xs.push(f32::NAN);
    xs.push(-f32::NAN);
    let got = tc_probe::convert(be, &xs).expect("tc_probe_convert");
    for (i, &(x, h, bf, t)) in EDGES.iter().enumerate() {
        assert_eq!(got.f16[i], h, "{dev} f16 of {x:#010x}: {:#06x}", got.f16[i]);
        assert_eq!(
            got.bf16[i], bf,
            "{dev} bf16 of {x:#010x}: {:#06x}",
            got.bf16[i]
        );
        assert_eq!(
            got.tf32[i], t,
            "{dev} tf32 of {x:#010x}: {:#010x}",
            got.tf32[i]
        );
        let back = half::f16::from_bits(h).to_f32();
        assert_eq!(
            got.f16_back[i].to_bits(),
            back.to_bits(),
            "{dev} f16 -> f32"
        );
    }
    // NaN stays NaN (which NaN the hardware returns is not relied upon)
    for i in EDGES.len()..xs.len() {
        assert!(half::f16::from_bits(got.f16[i]).is_nan(), "{dev} f16 NaN");
        assert!(
            half::bf16::from_bits(got.bf16[i]).is_nan(),
            "{dev} bf16 NaN"
        );
        assert!(f32::from_bits(got.tf32[i]).is_nan(), "{dev} tf32 NaN");
    }
}

/// Every exponent, random mantissas, ties at the low bits.
fn many_values() -> Vec<f32> {
    let mut xs = Vec::new();
    let mut s = 0x9e37_79b9u32;
    for i in 0..20_000u32 {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        let bits = match i % 4 {
            0 => s,
            1 => s & 0xffff_e000 | 0x1000, // tf32 tie
            2 => s & 0xffff_0000 | 0x8000, // bf16 tie
            _ => (s & 0x807f_ffff) | (((i / 4) % 60 + 90) << 23), // around the f16 range
        };
        if !f32::from_bits(bits).is_nan() {
            xs.push(f32::from_bits(bits));
        }
    }
    xs
}

fn many_on<D: Device>(be: &KernelBackend<f32, D>) {
    let xs = many_values();
    let got = tc_probe::convert(be, &xs).expect("tc_probe_convert");
    for (i, &x) in xs.iter().enumerate() {
        let b = x.to_bits();
        let dev = be.name();
        assert_eq!(
            got.f16[i],
            half::f16::from_f32(x).to_bits(),
            "{dev} f16 of {b:#010x}"
        );
        assert_eq!(
            got.bf16[i],
            half::bf16::from_f32(x).to_bits(),
            "{dev} bf16 of {b:#010x}"
        );
        assert_eq!(got.tf32[i], tf32_rna_ref(x), "{dev} tf32 of {b:#010x}");
    }
}

#[test]
fn conversions_match_references_on_many_values() {
    f32_kernel_backends!(many_on);
}

/// The operand as the tensor core sees it (reference conversions).
fn rounded(op: TcOp, x: f32) -> f64 {
    match op {
        TcOp::F16 => half::f16::from_f32(x).to_f64(),
        TcOp::Bf16 => half::bf16::from_f32(x).to_f64(),
        TcOp::Tf32 => f32::from_bits(tf32_rna_ref(x)) as f64,
    }
}

fn wmma_on<D: Device>(be: &KernelBackend<f32, D>) {
    let dev = be.name();
    let a: Vec<f32> = data(256, 1).iter().map(|&v| v as f32).collect();
    let b: Vec<f32> = data(256, 2).iter().map(|&v| v as f32 * 3.0).collect();
    let c: Vec<f32> = data(256, 3).iter().map(|&v| v as f32).collect();
    for op in [TcOp::F16, TcOp::Bf16, TcOp::Tf32] {
        let k = op.k();
        for (a_col, b_col) in [(false, false), (false, true), (true, false), (true, true)] {
            let d = tc_probe::mma(be, op, a_col, b_col, false, &a, &b, &c).expect("tc_probe_mma");
            let mut worst = 0.0f64;
            for i in 0..16 {
                for j in 0..16 {
                    let (mut s, mut mag) = (0.0f64, 0.0f64);
                    for kk in 0..k {
                        let p = rounded(op, a[i * 16 + kk]) * rounded(op, b[kk * 16 + j]);
                        s += p;
                        mag += p.abs();
                    }
                    let want = 2.0 * s + c[i * 16 + j] as f64;
                    let err = (d[i * 16 + j] as f64 - want).abs();
                    let bound = 1e-5 * (2.0 * mag + (c[i * 16 + j] as f64).abs());
                    assert!(
                        err <= bound,
                        "{dev} {op:?} a_col {a_col} b_col {b_col} ({i}, {j}): got {}, want \
                             {want}, err {err:e} > {bound:e}",
                        d[i * 16 + j]
                    );
                    worst = worst.max(err / (2.0 * mag).max(1e-30));
                }
            }
            println!("{dev} {op:?} a_col {a_col} b_col {b_col}: worst err {worst:.2e} x sum|ab|");
        }
    }
}

#[test]
fn wmma_tiles_match_f64_products_for_every_type_and_layout() {
    f32_kernel_backends!(wmma_on);
}

#[test]
fn misaligned_wmma_tile_is_a_kernel_fault_on_emu() {
    let be = EmuBackend::<f32>::new().expect("emu backend");
    let t = vec![0.5f32; 256];
    for op in [TcOp::F16, TcOp::Bf16, TcOp::Tf32] {
        let e = tc_probe::mma(&be, op, false, false, true, &t, &t, &t)
            .expect_err("a tile 2 bytes off its alignment must fault");
        assert!(e.to_string().contains("not aligned"), "{op:?}: {e}");
    }
    skip_notice("SKIP cuda: misalignment is undefined behaviour on the GPU, checked on emu only");
}

#[test]
fn shared_memory_is_poisoned_before_every_block_on_emu() {
    let be = EmuBackend::<f32>::new().expect("emu backend");
    let (blocks, threads) = (3u32, SMEM_PROBE_THREADS);
    let got = tc_probe::smem(&be, blocks).expect("tc_probe_smem");
    for blk in 0..blocks {
        for t in 0..threads {
            let i = (blk * threads + t) as usize;
            assert_eq!(
                got.before_static[i], 0xffff_ffff,
                "static, block {blk} thread {t}"
            );
            assert_eq!(
                got.before_dynamic[i], 0xffff_ffff,
                "dynamic, block {blk} thread {t}"
            );
            assert_eq!(
                got.after[i],
                1000 * blk + (t + 1) % threads + 7,
                "after, block {blk}"
            );
        }
    }
    skip_notice("SKIP cuda: uninitialised shared memory is arbitrary on the GPU, emu only");
}

#[test]
fn cp_async_copies_land_only_at_their_wait_on_emu() {
    let be = EmuBackend::<f32>::new().expect("emu backend");
    let threads = 64u32;
    let src: Vec<f32> = data(8 * threads as usize, 9)
        .iter()
        .map(|&v| v as f32)
        .collect();
    let out = tc_probe::cp_async(&be, threads, &src, true).expect("probe");
    let poison = |v: f32| v.to_bits() == 0xffff_ffff;
    for t in 0..threads as usize {
        let (o, s) = (&out[24 * t..24 * t + 24], &src[8 * t..8 * t + 8]);
        assert!(
            o[..8].iter().all(|&v| poison(v)),
            "thread {t}: data before any wait {o:?}"
        );
        assert_eq!(&o[8..12], &s[..4], "thread {t}: group 0 after wait_group 1");
        assert!(
            o[12..16].iter().all(|&v| poison(v)),
            "thread {t}: group 1 before its wait"
        );
        assert_eq!(
            &o[16..20],
            &s[..4],
            "thread {t}: group 0 after wait_group 0"
        );
        assert_eq!(&o[20..22], &s[4..6], "thread {t}: group 1 (8 bytes read)");
        assert_eq!(
            &o[22..24],
            &[0.0, 0.0],
            "thread {t}: zero fill past src-size"
        );
    }
    let e = tc_probe::cp_async(&be, threads, &src, false)
        .expect_err("copies never waited for must fault");
    assert!(e.to_string().contains("never waited"), "{e}");
    match cuda_available() {
        Ok(_) => {
            let cu = CudaBackend::<f32>::new(0).expect("cuda backend");
            let out = tc_probe::cp_async(&cu, threads, &src, true).expect("probe");
            for t in 0..threads as usize {
                let (o, s) = (&out[24 * t..24 * t + 24], &src[8 * t..8 * t + 8]);
                assert_eq!(
                    &o[16..22],
                    &[s[0], s[1], s[2], s[3], s[4], s[5]][..],
                    "cuda {t}"
                );
                assert_eq!(&o[22..24], &[0.0, 0.0], "cuda {t}: zero fill");
            }
        }
        Err(why) => skip_notice(&format!("SKIP cuda: {why}")),
    }
}

/// Outputs of the four probes that do not depend on what uninitialised memory holds, for the
/// any-grid check and the sanitizer runs: conversions, one tile product per operand type (each
/// with another A/B layout pair), shared memory after each item wrote it, and the cp.async
/// data after the waits. (What a block reads before writing is poison on emu and arbitrary on
/// the GPU.)
pub fn outputs<T: Elem, D: Device>(be: &KernelBackend<T, D>) -> Vec<Vec<T>> {
    let back = |v: &[f32]| v.iter().map(|&x| T::of(x as f64)).collect::<Vec<T>>();
    let x: Vec<f32> = data(3000, 4).iter().map(|&v| (v * 1e3) as f32).collect();
    let c = tc_probe::convert(be, &x).expect("tc_probe_convert");
    let mut out = vec![
        c.f16.iter().map(|&h| T::of(h as f64)).collect(),
        c.bf16.iter().map(|&h| T::of(h as f64)).collect(),
        c.tf32
            .iter()
            .map(|&u| T::of(f32::from_bits(u) as f64))
            .collect(),
        back(&c.f16_back),
    ];
    let t: Vec<f32> = data(256, 5).iter().map(|&v| v as f32).collect();
    for (op, a_col, b_col) in [
        (TcOp::F16, false, true),
        (TcOp::Bf16, true, false),
        (TcOp::Tf32, true, true),
    ] {
        out.push(back(
            &tc_probe::mma(be, op, a_col, b_col, false, &t, &t, &t).expect("tc_probe_mma"),
        ));
    }
    let sm = tc_probe::smem(be, 3).expect("tc_probe_smem");
    out.push(sm.after.iter().map(|&v| T::of(v as f64)).collect());
    let src: Vec<f32> = data(8 * 32, 6).iter().map(|&v| v as f32).collect();
    let cp = tc_probe::cp_async(be, 32, &src, true).expect("tc_probe_cp_async");
    out.push(back(
        &cp.chunks(24)
            .flat_map(|o| o[16..].to_vec())
            .collect::<Vec<f32>>(),
    ));
    out
}
