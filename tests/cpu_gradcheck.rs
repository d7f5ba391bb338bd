//! f64 finite differences of every op and the whole model on the CPU backend
//! (the same checks as `recaux gradcheck --backend cpu`).

use recaux::backend::cpu::CpuBackend;
use recaux::gradcheck;

#[test]
fn every_op_and_the_model_pass_finite_differences() {
    let be = CpuBackend::<f64>::new();
    let results = gradcheck::run_all(&be).expect("gradcheck runs");
    assert_eq!(results.len(), 10, "one row per op plus the model");
    for r in &results {
        assert!(
            r.pass,
            "{} failed: max abs {:e}, max rel {:e} ({})",
            r.op, r.max_abs, r.max_rel, r.note
        );
        // The bar: relative errors around 1e-7 or better in f64. Central differences
        // with h = 1e-5 leave ~1e-10 absolute error, so entries of ~1e-4 reach ~1e-6.
        assert!(r.max_rel < 2e-6, "{}: max rel {:e}", r.op, r.max_rel);
        assert!(r.max_abs < 1e-9, "{}: max abs {:e}", r.op, r.max_abs);
        assert!(r.n > 0);
    }
}

#[test]
fn the_verdict_can_fail() {
    // A gradient off by 1e-4 relative, or off by 1e-7 absolute near zero, must be rejected.
    let numeric = [0.5, -0.25, 1e-9];
    let good = gradcheck::compare("x", &numeric, &numeric, String::new());
    assert!(good.pass);
    let scaled: Vec<f64> = numeric.iter().map(|v| v * (1.0 + 1e-4)).collect();
    assert!(!gradcheck::compare("x", &scaled, &numeric, String::new()).pass);
    let shifted = [0.5, -0.25, 1e-7];
    assert!(!gradcheck::compare("x", &shifted, &numeric, String::new()).pass);
}

/// The sampled check (what `recaux gradcheck --backend emu` and CI run) compares elements in
/// every gate block (i, f, g, o) of every LSTM weight and bias, in the LSTM op's check and in
/// the whole model's, and in every replica of every other input. The gate of element j of a
/// `[M, 4H, X]` tensor is worked out here from the layout, not taken from the sampler.
#[test]
fn sampled_check_reaches_every_gate_of_every_lstm_tensor() {
    let be = CpuBackend::<f64>::new();
    let m = 2; // both checks run two replicas
    for r in [
        gradcheck::check_lstm(&be, Some(1)).unwrap(),
        gradcheck::check_model(&be, Some(1)).unwrap(),
    ] {
        assert!(r.pass, "{}: {}", r.op, r.note);
        let (n, total): (usize, usize) = (r.n, r.total);
        println!("{}: {n} of {total} elements compared", r.op);
        assert!(n < total, "{}: not sampled", r.op);
        let mut lstm_tensors = 0;
        for t in &r.sampled {
            assert!(!t.indices.is_empty(), "{} {}: no element", r.op, t.tensor);
            let per = t.len / m;
            let replicas: std::collections::BTreeSet<usize> =
                t.indices.iter().map(|j| j / per).collect();
            let is_lstm = ["w_ih", "w_hh", "b_ih", "b_hh"]
                .iter()
                .any(|w| t.tensor.starts_with(w))
                || t.tensor.starts_with("lstm");
            if is_lstm {
                lstm_tensors += 1;
                let gates: std::collections::BTreeSet<usize> =
                    t.indices.iter().map(|j| (j % per) / (per / 4)).collect();
                assert_eq!(
                    gates.len(),
                    4,
                    "{} {}: gates reached {gates:?} (i f g o = 0 1 2 3) at {:?}",
                    r.op,
                    t.tensor,
                    t.indices
                );
            } else {
                assert_eq!(
                    replicas.len(),
                    m,
                    "{} {}: replicas {replicas:?}",
                    r.op,
                    t.tensor
                );
            }
        }
        let want = if r.op.starts_with("lstm") { 8 } else { 16 };
        assert_eq!(lstm_tensors, want, "{}: LSTM tensors sampled", r.op);
    }
}
