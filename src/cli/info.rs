//! `recaux info`: version, the embedded kernels (architectures, per-kernel registers, shared
//! memory, stack and spills from ptxas), the emu library, and the GPUs visible (or why none).

use crate::backend::cuda::{self, embedded};
use crate::backend::emu;
use crate::backend::kernel::{lstm_persist, table};

/// Dynamic shared memory of a kernel's launch, bytes (the persistent LSTM at its widest H).
fn dynamic_smem(kernel: &str) -> usize {
    let h = lstm_persist::PERSIST_MAX_H;
    if kernel.starts_with("lstm_fwd_persist") {
        lstm_persist::fwd_smem(h)
    } else if kernel.starts_with("lstm_bwd_persist") {
        lstm_persist::bwd_smem(h)
    } else {
        0
    }
}

/// Arguments of `recaux info`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Show the resource table for every architecture (default: the newest only).
    #[arg(long)]
    pub all_archs: bool,
}

/// Run the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    println!("recaux {}", env!("CARGO_PKG_VERSION"));
    println!("kernels: {}", embedded::STATUS);
    if !embedded::embedded() {
        println!("  -> {}", embedded::HOW_TO_INSTALL);
    }
    let names = emu::kernel_names();
    println!(
        "kernel table: {} kernels from kernels/*.cu; emu library: {} kernels ({})",
        table::ALL.len(),
        names.len(),
        emu::FLAVOUR
    );

    let res = embedded::resources();
    if !res.is_empty() {
        let newest = embedded::archs()
            .into_iter()
            .max()
            .map(|a| format!("sm_{a}"));
        println!();
        println!(
            "{:<8} {:<26} {:<24} {:>5} {:>10} {:>12} {:>8} {:>12} {:>11} {:>8}",
            "arch",
            "kernel",
            "file",
            "regs",
            "smem_B",
            "dyn_smem_B",
            "stack_B",
            "spill_st_B",
            "spill_ld_B",
            "local_B"
        );
        for r in res
            .iter()
            .filter(|r| args.all_archs || Some(&r.arch) == newest.as_ref())
        {
            let file = table::ALL
                .iter()
                .find(|k| k.name == r.kernel)
                .map_or("?", |k| k.file);
            println!(
                "{:<8} {:<26} {:<24} {:>5} {:>10} {:>12} {:>8} {:>12} {:>11} {:>8}",
                r.arch,
                r.kernel,
                file,
                r.registers,
                r.shared_bytes,
                dynamic_smem(&r.kernel),
                r.stack_bytes,
                r.spill_stores,
                r.spill_loads,
                r.local_bytes
            );
        }
        let spilling = res
            .iter()
            .filter(|r| r.spill_stores + r.spill_loads + r.stack_bytes + r.local_bytes > 0)
            .count();
        println!("kernels with spills, stack or local memory (all archs): {spilling}");
        println!(
            "dyn_smem_B: dynamic shared memory per block at launch (the persistent LSTM's at \
             H = {}; it scales with H)",
            lstm_persist::PERSIST_MAX_H
        );
    }

    println!();
    println!(
        "precisions (--precision, config `precision`): f32 exact (per-step LSTM, SIMT GEMMs); \
         tf32 (GEMMs on gemm_tc); f16, bf16 (tf32 GEMMs and lstm_*_persist_f16/bf16 for H a \
         multiple of 16 in 16..={}, else the per-step LSTM); auto = bf16 on cuda and emu, f32 \
         on the CPU; f64 for gradcheck",
        lstm_persist::PERSIST_MAX_H
    );
    println!();
    match cuda::list_gpus() {
        Ok(g) if g.is_empty() => println!("GPUs: none visible"),
        Ok(g) => {
            println!("GPUs:");
            let built = embedded::archs();
            for d in g {
                let cc = d.compute_capability.0 as u32 * 10 + d.compute_capability.1 as u32;
                let fit = if built.contains(&cc) {
                    "SASS in fatbin"
                } else if built.iter().max().is_some_and(|&m| cc > m) {
                    "runs the PTX (JIT)"
                } else {
                    "NOT supported by the fatbin"
                };
                println!(
                    "  {}: {}  sm_{}  {:.1} GiB  ({fit})",
                    d.ordinal,
                    d.name,
                    cc,
                    d.total_mem_bytes as f64 / (1u64 << 30) as f64
                );
            }
            match cuda::cuda_available() {
                Ok(_) => println!("cuda backend: usable"),
                Err(why) => println!("cuda backend: not usable: {why}"),
            }
        }
        Err(why) => println!("GPUs: none usable: {why}"),
    }
    Ok(())
}
