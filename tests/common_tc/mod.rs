//! The tensor-core kernels and probes on tiny shapes, for the sanitizer runs of
//! tests/emu_sanitize.rs (no CPU reference: the CPU backend's rayon threads are invisible to
//! ThreadSanitizer). Each case runs twice and must agree bit for bit and be finite; the probes
//! check their own expectations (the full checks against the f64 CPU are tests/gpu_tc.rs and
//! tests/tc_emu.rs).

use crate::common::data;
use crate::common_mm::{lstm_inputs, lstm_run_with};
use recaux::backend::kernel::{Device, KernelBackend, RecPrecision, TcOp};
use recaux::backend::{Backend, GemmSpec, LstmShape};

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

fn same_and_finite(what: &str, a: &[f32], b: &[f32]) {
    assert!(a.iter().all(|v| v.is_finite()), "{what}: not finite");
    let (x, y): (&[u8], &[u8]) = (bytemuck::cast_slice(a), bytemuck::cast_slice(b));
    assert!(x == y, "{what}: two runs differ");
}

/// One product (tensor cores when eligible), downloaded.
fn gemm<D: Device>(be: &KernelBackend<f32, D>, s: &GemmSpec, seed: u32) -> Vec<f32> {
    let (mk, kn, mn) = (s.m * s.k, s.k * s.n, s.m * s.n);
    let a = be.upload(&f32s(&data(s.batch * mk, seed))).unwrap();
    let b = be.upload(&f32s(&data(s.batch * kn, seed + 1))).unwrap();
    let bias = be.upload(&f32s(&data(s.batch * s.n, seed + 2))).unwrap();
    let mut c = be.upload(&f32s(&data(s.batch * mn, seed + 3))).unwrap();
    be.gemm_tc(s, &a, &b, Some(&bias), &mut c).unwrap();
    be.download(&c).unwrap()
}

/// Fast LSTM forward (f16) + backward (bf16) on inputs from `lstm_inputs`; y, saved and every
/// gradient, concatenated.
fn lstm<D: Device>(be: &KernelBackend<f32, D>, s: &LstmShape) -> Vec<f32> {
    let out = lstm_run_with(
        be,
        s,
        &lstm_inputs(s, 3),
        true,
        |x, p, y, saved| {
            be.lstm_fwd_fast(s, x, p, y, saved, RecPrecision::F16)
                .unwrap();
        },
        |x, p, y, saved, dy, dx, g| {
            be.lstm_bwd_fast(s, x, p, y, saved, dy, dx, g, RecPrecision::Bf16)
                .unwrap();
        },
    );
    let mut v = out.y;
    v.extend(out.saved);
    for (_, g) in out.grads {
        v.extend(g);
    }
    v
}

pub fn sanitize_tc_cases<D: Device>(be: &KernelBackend<f32, D>) {
    // probes
    let conv = be.tc_convert(&[1.0, -2.5, 1e-6, 7e4]).unwrap();
    assert_eq!(conv.f16[0], 0x3c00, "tc_convert");
    let t: Vec<f32> = f32s(&data(256, 5));
    for op in [TcOp::F16, TcOp::Bf16, TcOp::Tf32] {
        let d = be.tc_mma_probe(op, op == TcOp::Bf16, op == TcOp::Tf32, false, &t, &t, &t);
        assert!(
            d.unwrap().iter().all(|v| v.is_finite()),
            "tc_mma_probe {op:?}"
        );
    }
    let sm = be.tc_smem_probe(2, 64).unwrap();
    assert!(sm.before_static.iter().all(|&v| v == 0xffff_ffff), "poison");
    let src = f32s(&data(8 * 32, 6));
    let cp = be.tc_cp_async_probe(32, &src, true).unwrap();
    assert_eq!(&cp[16..20], &src[..4], "cp.async");
    // GEMMs: split-K with a transposed A; bias with a transposed B.
    for s in [
        GemmSpec {
            batch: 2,
            m: 20,
            n: 24,
            k: 1100,
            trans_a: true,
            trans_b: false,
            a_shared: false,
            accumulate: true,
        },
        GemmSpec {
            batch: 2,
            m: 33,
            n: 16,
            k: 12,
            trans_a: false,
            trans_b: true,
            a_shared: false,
            accumulate: false,
        },
    ] {
        same_and_finite(
            &format!("gemm_tc {s:?}"),
            &gemm(be, &s, 40),
            &gemm(be, &s, 40),
        );
    }
    // Column sums over several chunks.
    let dy = be.upload(&f32s(&data(2 * 1100 * 3, 7))).unwrap();
    let sums = |_: ()| {
        let mut db = be.alloc(6).unwrap();
        be.bias_grad_par(2, 1100, 3, &dy, &mut db).unwrap();
        be.download(&db).unwrap()
    };
    same_and_finite("bias_grad_par", &sums(()), &sums(()));
    // The persistent LSTM: two batch slices (the second partial), both directions, M = 2.
    let s = LstmShape {
        m: 2,
        t: 3,
        b: 17,
        i: 8,
        h: 16,
    };
    same_and_finite("lstm fast", &lstm(be, &s), &lstm(be, &s));
}
