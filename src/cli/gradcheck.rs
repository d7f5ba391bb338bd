//! `recaux gradcheck`: f64 finite-difference checks of every op and the whole model.

use super::backend_arg::BackendChoice;
use crate::gradcheck::{self, ATOL, CheckResult, H, RTOL};

/// Arguments of `recaux gradcheck`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Backend whose f64 ops are checked.
    #[arg(long, value_enum, default_value = "cpu")]
    pub backend: BackendChoice,
    /// Check N seeded random elements of every block of every input tensor: each replica,
    /// and each gate i, f, g, o of an LSTM weight or bias (default: every element, except 1
    /// per block on emu, whose host-thread launches make the exhaustive check take minutes).
    #[arg(long)]
    pub sample: Option<usize>,
    /// Check every element even on emu.
    #[arg(long, conflicts_with = "sample")]
    pub all: bool,
}

/// Print the table; fail if any check fails.
pub fn run(args: Args) -> anyhow::Result<()> {
    let (name, results) = crate::with_backend!(args.backend, f64, |be| {
        let name = crate::backend::Backend::name(&be);
        let per_block = if args.all {
            None
        } else {
            args.sample.or(if name.starts_with("emu") {
                Some(1)
            } else {
                None
            })
        };
        if let Some(k) = per_block {
            eprintln!(
                "checking {k} seeded random element(s) of every block of every input tensor \
                 (each replica; each gate i, f, g, o of an LSTM weight or bias); --all for every element"
            );
        }
        (name, gradcheck::run_all_sampled(&be, per_block)?)
    });
    print_table(&name, &results);
    let failed: Vec<&str> = results
        .iter()
        .filter(|r| !r.pass)
        .map(|r| r.op.as_str())
        .collect();
    if !failed.is_empty() {
        anyhow::bail!("gradcheck failed on {}: {}", name, failed.join(", "));
    }
    Ok(())
}

/// The table: op, elements, max abs error, max rel error, verdict, notes.
pub fn print_table(backend: &str, results: &[CheckResult]) {
    println!(
        "gradcheck on {backend}: central differences, h = {H:e}; pass if |analytic - numeric| <= {ATOL:e} + {RTOL:e}·|numeric|"
    );
    println!(
        "{:<44} {:>6} {:>12} {:>12}  verdict",
        "op", "n", "max abs err", "max rel err"
    );
    for r in results {
        println!(
            "{:<44} {:>6} {:>12.3e} {:>12.3e}  {}",
            r.op,
            r.n,
            r.max_abs,
            r.max_rel,
            if r.pass { "PASS" } else { "FAIL" }
        );
    }
    for r in results {
        if !r.note.is_empty() {
            println!("  {}: {}", r.op, r.note);
        }
    }
    let (n, total): (usize, usize) = results
        .iter()
        .map(|r| (r.n, r.total))
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    println!("elements compared: {n} of {total}");
}
