//! `recaux bench`: median time of the training step `recaux train` runs; `--counters` adds what
//! the backend did per step, `--profile` per-kernel times.

use super::backend_arg::BackendChoice;
use crate::bench::{self, BenchConfig, BenchResult};
use crate::model::ModelSpec;
use anyhow::Context;
use std::path::PathBuf;

/// Arguments of `recaux bench`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: BackendChoice,
    /// Batch rows B.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Sequence length T (frames).
    #[arg(long, default_value_t = 512)]
    pub seq: usize,
    /// Replicas M trained jointly.
    #[arg(long, default_value_t = 1)]
    pub replicas: usize,
    /// Untimed warm-up steps.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Per-kernel profile of the timed steps (CUDA events on cuda; op timers elsewhere).
    #[arg(long)]
    pub profile: bool,
    /// Where the profile's JSON and CSV go (PREFIX.json, PREFIX.csv); default
    /// `runs/bench/profile-<backend>-b<B>-t<T>-m<M>`.
    #[arg(long)]
    pub profile_out: Option<PathBuf>,
    /// Print what the backend did per timed step: kernel launches, graph launches, memsets,
    /// host<->device syncs, copies and bytes each way, allocations.
    #[arg(long)]
    pub counters: bool,
    /// Arithmetic of the ops (README "Precision"): auto is the backend's default (bf16 on
    /// cuda and emu, f32 on the CPU).
    #[arg(long, value_enum, default_value = "auto")]
    pub precision: crate::backend::Precision,
    /// Hidden units per direction (default: the seed's 128).
    #[arg(long, default_value_t = 128)]
    pub hidden: usize,
}

/// Run the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.batch == 0 || args.seq == 0 || args.replicas == 0 || args.steps == 0 {
        anyhow::bail!("--batch, --seq, --replicas and --steps must be at least 1");
    }
    use crate::limits::{MAX_BATCH, MAX_FRAMES, MAX_REPLICAS, MAX_WIDTH, at_most, check_step};
    at_most("--batch", args.batch, MAX_BATCH)?;
    at_most("--seq", args.seq, MAX_FRAMES)?;
    at_most("--replicas", args.replicas, MAX_REPLICAS)?;
    at_most("--hidden", args.hidden, MAX_WIDTH)?;
    at_most("--steps", args.steps, 1_000_000)?;
    at_most("--warmup", args.warmup, 1_000_000)?;
    if args.hidden == 0 {
        anyhow::bail!("--hidden must be at least 1");
    }
    let spec = ModelSpec {
        hidden: args.hidden,
        ..ModelSpec::seed()
    };
    check_step(
        &spec,
        args.replicas,
        args.seq,
        args.batch,
        4,
        args.backend != BackendChoice::Cuda,
        "--batch, --seq, --replicas, --hidden",
    )?;
    let cfg = BenchConfig {
        spec,
        batch: args.batch,
        seq: args.seq,
        replicas: args.replicas,
        warmup: args.warmup,
        steps: args.steps,
        profile: args.profile,
    };
    let warm = args.warmup;
    let res = crate::with_backend!(args.backend, f32, |be| {
        crate::backend::Backend::set_precision(&be, args.precision).context("--precision")?;
        eprintln!(
            "bench on {}: B={} T={} M={} H={}, {} warm-up + {} timed steps (the training step: batch staged, forward with dropout, backward, guard, Adam, record read)",
            crate::backend::Backend::name(&be),
            cfg.batch,
            cfg.seq,
            cfg.replicas,
            spec.hidden,
            cfg.warmup,
            cfg.steps
        );
        bench::run(&be, &cfg, |s, ms| {
            let tag = if s < warm { "warm-up" } else { "timed" };
            eprintln!("  step {s:>3} ({tag}): {ms:.1} ms");
        })?
    });
    if args.profile {
        let prefix = args.profile_out.clone().unwrap_or_else(|| {
            PathBuf::from("runs/bench").join(format!(
                "profile-{}-b{}-t{}-m{}",
                res.backend, args.batch, args.seq, args.replicas
            ))
        });
        print_profile(&res, &prefix)?;
    }
    println!("backend: {}", res.backend);
    println!("precision: {}", res.precision);
    for (k, words) in res.lstm.iter().enumerate() {
        println!("lstm layer {}: {words}", k + 1);
    }
    println!("steps: {}", res.mode);
    println!(
        "shape: batch {} seq {} replicas {} hidden {}",
        args.batch, args.seq, args.replicas, args.hidden
    );
    println!("median_ms_per_step: {:.3}", res.median_ms());
    println!(
        "median_ms_per_replica_step: {:.3}",
        res.median_ms() / args.replicas as f64
    );
    if args.counters {
        println!(
            "counters over {} timed steps (after {} warm-up):",
            res.step_ms.len(),
            args.warmup
        );
        print!("{}", res.counters.table(res.step_ms.len()));
    }
    Ok(())
}

fn print_profile(res: &BenchResult, prefix: &std::path::Path) -> anyhow::Result<()> {
    if res.profile.is_empty() {
        println!(
            "profile: backend {} recorded no kernel timings",
            res.backend
        );
        return Ok(());
    }
    let t = crate::profile::table(&res.profile, res.step_ms.len());
    print!("{}", t.text);
    let json = serde_json::json!({
        "backend": res.backend,
        "steps": res.step_ms.len(),
        "step_ms": res.step_ms,
        "ops": t.ops,
    });
    let jp = prefix.with_extension("json");
    let cp = prefix.with_extension("csv");
    if let Some(dir) = jp.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("{}: cannot create the folder: {e}", dir.display()))?;
    }
    std::fs::write(&jp, serde_json::to_string_pretty(&json)?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", jp.display()))?;
    std::fs::write(&cp, t.csv).map_err(|e| anyhow::anyhow!("{}: {e}", cp.display()))?;
    println!("profile written to {} and {}", jp.display(), cp.display());
    Ok(())
}
