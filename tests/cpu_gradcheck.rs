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
