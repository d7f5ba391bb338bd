//! The contracts every op checks in front of the backends (src/backend/check.rs): a bad call
//! gets an error, never a crash or a NaN, and the SAME error on every backend.

use crate::common::skip::skip_notice;
use recaux::backend::cpu::CpuBackend;
use recaux::backend::cuda::{CudaBackend, cuda_available};
use recaux::backend::emu::EmuBackend;
use recaux::backend::{
    AdamSpec, AdamTensor, Backend, DropoutSpec, GemmSpec, LstmParams, LstmShape,
};

/// Each bad call on `be`, as (what, error text). Every call must fail.
fn bad_calls<B: Backend>(be: &B) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let mut err = |what: &'static str, r: recaux::Result<()>| match r {
        Err(e) => out.push((what, e.to_string())),
        Ok(()) => panic!("{}: `{what}` was accepted", be.name()),
    };
    let x = be.alloc(10).unwrap();
    let mut y = be.alloc(9).unwrap();
    err("relu_fwd y too short", be.relu_fwd(10, &x, &mut y));
    let s = GemmSpec {
        batch: 1,
        m: 1,
        n: 1,
        k: 1,
        trans_a: false,
        trans_b: false,
        a_shared: false,
        accumulate: false,
    };
    let mut c = be.alloc(1).unwrap();
    err("gemm a too long", be.gemm(&s, &x, &x, None, &mut c));
    let mut db = be.alloc(3).unwrap();
    err(
        "gemm_bias_grad dy too short",
        be.gemm_bias_grad(1, 2, 3, &be.alloc(5).unwrap(), &mut db),
    );
    let seeds = vec![1u64; 65];
    let d = DropoutSpec {
        p: 0.1,
        seeds: &seeds,
        step: 0,
        tensor: 0,
        step_at: None,
    };
    let xb = be.alloc(65).unwrap();
    let mut yb = be.alloc(65).unwrap();
    err(
        "dropout 65 replicas",
        be.dropout_fwd(&d, 1, &xb, false, &mut yb),
    );
    let d1 = DropoutSpec { p: 1.0, ..d };
    let d1 = DropoutSpec {
        seeds: &seeds[..1],
        ..d1
    };
    let mut y1 = be.alloc(1).unwrap();
    err("dropout p = 1", be.dropout_fwd(&d1, 1, &xb, true, &mut y1));
    // labels outside 0..C: uploaded, and written over good ones
    let (m, b, cc) = (2, 3, 4);
    let logits = be.alloc(m * b * cc).unwrap();
    let mut loss = be.alloc(m).unwrap();
    let bad = be.upload_idx(&[0, 4, 1]).unwrap();
    err(
        "ce_fwd label = C",
        be.ce_fwd(m, b, cc, &logits, &bad, &mut loss),
    );
    let mut lab = be.upload_idx(&[0, 1, 2]).unwrap();
    be.ce_fwd(m, b, cc, &logits, &lab, &mut loss).unwrap();
    be.write_idx(&mut lab, &[0, -1, 2]).unwrap();
    let mut dl = be.alloc(m * b * cc).unwrap();
    err(
        "ce_bwd label = -1",
        be.ce_bwd(b, cc, &[1.0, 1.0], &logits, &lab, &mut dl),
    );
    err(
        "ce_fwd labels too short",
        be.ce_fwd(m, 2, cc, &logits, &bad, &mut loss),
    );
    // an argmax the host did not get from max_time_fwd over T steps
    let (t, rows, f) = (3, 1, 2);
    let dy = be.alloc(rows * f).unwrap();
    let mut dx = be.alloc(t * rows * f).unwrap();
    let arg = be.upload_idx(&[0, 3]).unwrap();
    err(
        "max_time_bwd arg = T",
        be.max_time_bwd(1, t, rows, f, &dy, &arg, &mut dx),
    );
    let mut arg = be.alloc_idx(rows * f).unwrap();
    let mut ym = be.alloc(rows * f).unwrap();
    let xm = be.alloc(5 * rows * f).unwrap();
    be.max_time_fwd(1, 5, rows, f, &xm, &mut ym, &mut arg)
        .unwrap();
    err(
        "max_time_bwd arg from T = 5 used with T = 3",
        be.max_time_bwd(1, t, rows, f, &dy, &arg, &mut dx),
    );
    err(
        "max_time_fwd T = 0",
        be.max_time_fwd(1, 0, rows, f, &xm, &mut ym, &mut arg),
    );
    // lstm: an empty shape, and an x of the wrong length
    let ls = LstmShape {
        m: 1,
        t: 2,
        b: 1,
        i: 3,
        h: 2,
    };
    let w: Vec<B::Buf> = [24, 16, 8, 8, 24, 16, 8, 8]
        .iter()
        .map(|&n| be.alloc(n).unwrap())
        .collect();
    let p = LstmParams {
        w_ih: [&w[0], &w[4]],
        w_hh: [&w[1], &w[5]],
        b_ih: [&w[2], &w[6]],
        b_hh: [&w[3], &w[7]],
    };
    let mut ly = be.alloc(ls.y_len()).unwrap();
    let z = be.lstm_sizes(&ls);
    let mut saved = be.alloc_bytes(z.saved).unwrap();
    let mut scratch = be.alloc_bytes(z.scratch).unwrap();
    let lx = be.alloc(ls.x_len() + 1).unwrap();
    err(
        "lstm_fwd x too long",
        be.lstm_fwd(&ls, &lx, &p, &mut ly, &mut saved, &mut scratch),
    );
    let empty = LstmShape { t: 0, ..ls };
    err(
        "lstm_fwd T = 0",
        be.lstm_fwd(&empty, &lx, &p, &mut ly, &mut saved, &mut scratch),
    );
    let lx = be.alloc(ls.x_len()).unwrap();
    let mut small = be.alloc_bytes(z.saved - 1).unwrap();
    err(
        "lstm_fwd saved of another size than the backend asked",
        be.lstm_fwd(&ls, &lx, &p, &mut ly, &mut small, &mut scratch),
    );
    if z.scratch > 0 {
        let mut small = be.alloc_bytes(z.scratch - 1).unwrap();
        err(
            "lstm_fwd scratch too small",
            be.lstm_fwd(&ls, &lx, &p, &mut ly, &mut saved, &mut small),
        );
    }
    let mut l1s = be.alloc_bytes(be.l1_scratch(1, 1)).unwrap();
    err(
        "l1_fwd n = 0",
        be.l1_fwd(
            1,
            0,
            &be.alloc(0).unwrap(),
            &be.alloc(0).unwrap(),
            &mut loss,
            &mut l1s,
        ),
    );
    // adam: step 0, and a gradient of another length
    let mut pa = be.alloc(4).unwrap();
    let (mut ma, mut va) = (be.alloc(4).unwrap(), be.alloc(4).unwrap());
    let ga = be.alloc(3).unwrap();
    let mut spec = AdamSpec {
        lr: &[1e-3, 1e-3],
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        step: 1,
        vals: None,
        table: None,
    };
    err(
        "adam grad too short",
        be.adam(
            &spec,
            &mut [AdamTensor {
                param: &mut pa,
                grad: &ga,
                m: &mut ma,
                v: &mut va,
            }],
        ),
    );
    spec.step = 0;
    err("adam step 0", be.adam(&spec, &mut []));
    out
}

#[test]
fn bad_calls_get_the_same_error_on_every_backend() {
    let want = bad_calls(&CpuBackend::<f64>::new());
    for (what, e) in &want {
        println!("{what}: {e}");
        assert!(
            !e.contains("cpu") && !e.contains("emu") && !e.contains("cuda"),
            "{what}: the error names a backend: {e}"
        );
    }
    let same = |name: &str, got: Vec<(&'static str, String)>| {
        assert_eq!(got, want, "{name}: errors differ from the f64 CPU's");
    };
    same("cpu-f32", bad_calls(&CpuBackend::<f32>::new()));
    same("emu f32", bad_calls(&EmuBackend::<f32>::new().unwrap()));
    same("emu f64", bad_calls(&EmuBackend::<f64>::new().unwrap()));
    match cuda_available() {
        Ok(_) => {
            same("cuda f32", bad_calls(&CudaBackend::<f32>::new(0).unwrap()));
            same("cuda f64", bad_calls(&CudaBackend::<f64>::new(0).unwrap()));
        }
        Err(why) => skip_notice(&format!("SKIP cuda: {why}")),
    }
}
