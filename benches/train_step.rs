//! `cargo bench --bench train_step`: the median time of the training step `recaux train` runs
//! (`recaux::train::step::Step`: forward with dropout, backward, guard, Adam) on the CPU backend at the seed's shape (B=32, T=512), the same
//! measurement as `recaux bench --backend cpu`. Under `cargo test` (no `--bench` argument) it
//! runs one tiny step as a smoke test instead.
//!
//! Environment: RECAUX_BENCH_BATCH, RECAUX_BENCH_SEQ, RECAUX_BENCH_REPLICAS, RECAUX_BENCH_STEPS.

use recaux::backend::cpu::CpuBackend;
use recaux::bench::{BenchConfig, run};
use recaux::model::ModelSpec;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let real = std::env::args().any(|a| a == "--bench");
    let cfg = if real {
        BenchConfig {
            spec: ModelSpec::seed(),
            batch: env("RECAUX_BENCH_BATCH", 32),
            seq: env("RECAUX_BENCH_SEQ", 512),
            replicas: env("RECAUX_BENCH_REPLICAS", 1),
            warmup: 2,
            steps: env("RECAUX_BENCH_STEPS", 5),
            profile: false,
        }
    } else {
        BenchConfig {
            spec: ModelSpec {
                features: 8,
                hidden: 4,
                fc1: 4,
                classes: 3,
                dropout: 0.3,
            },
            batch: 2,
            seq: 3,
            replicas: 2,
            warmup: 0,
            steps: 1,
            profile: false,
        }
    };
    let be = CpuBackend::<f32>::new();
    let res = run(&be, &cfg, |_, _| {}).expect("bench step runs");
    assert!(res.median_ms().is_finite());
    println!(
        "train_step cpu-f32 B={} T={} M={}: median {:.1} ms/step over {} steps",
        cfg.batch,
        cfg.seq,
        cfg.replicas,
        res.median_ms(),
        res.step_ms.len()
    );
}
