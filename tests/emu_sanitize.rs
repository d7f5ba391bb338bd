//! Every kernel op on the emu backend, without libtest's harness (`harness = false`: libtest's
//! own threads give false ThreadSanitizer reports). scripts/test-sanitizers.sh runs it with the
//! emu library built under TSan and ASan, and also with `--buggy-race` / `--buggy-oob`, which
//! launch the deliberately broken kernels of kernels/buggy/ (present only in sanitizer builds)
//! and MUST make the sanitizer fail the process.
//!
//! The ops run through their tests' bodies (tests/ops/<op>.rs): each op's outputs with the
//! op's own grid, one block and an oversized grid (so the sanitizers also see every kernel's
//! idle and boundary threads), compared bit for bit. In a plain build it simply runs them
//! once more on emu.

#[allow(unused_macros)]
#[macro_use]
mod common;

#[path = "ops/adam.rs"]
#[allow(unused_imports, dead_code)]
mod adam;
#[path = "ops/ce.rs"]
#[allow(unused_imports, dead_code)]
mod ce;
#[path = "ops/clamp.rs"]
#[allow(unused_imports, dead_code)]
mod clamp;
#[path = "ops/dropout.rs"]
#[allow(unused_imports, dead_code)]
mod dropout;
#[path = "ops/gemm.rs"]
#[allow(unused_imports, dead_code)]
mod gemm;
#[path = "ops/gemm_tc.rs"]
#[allow(unused_imports, dead_code)]
mod gemm_tc;
#[path = "ops/guard.rs"]
#[allow(unused_imports, dead_code)]
mod guard;
#[path = "ops/input.rs"]
#[allow(unused_imports, dead_code)]
mod input;
#[path = "ops/l1.rs"]
#[allow(unused_imports, dead_code)]
mod l1;
#[path = "ops/lstm.rs"]
#[allow(unused_imports, dead_code)]
mod lstm;
#[path = "ops/lstm_persist.rs"]
#[allow(unused_imports, dead_code)]
mod lstm_persist;
#[path = "ops/max_time.rs"]
#[allow(unused_imports, dead_code)]
mod max_time;
#[path = "ops/relu.rs"]
#[allow(unused_imports, dead_code)]
mod relu;
#[path = "ops/score.rs"]
#[allow(unused_imports, dead_code)]
mod score;
#[path = "ops/tc_probe.rs"]
#[allow(unused_imports, dead_code)]
mod tc_probe;

use common::grid::{Forced, ForcedGrid, same_for_any_grid};
use recaux::backend::Backend;
use recaux::backend::emu::{EmuBackend, EmuDevice};
use recaux::backend::kernel::{LaunchCfg, table};
use std::collections::BTreeSet;

/// The params of the broken kernels (kernels/buggy/*.cu: `BuggyP`, `BuggyOobP`), which are
/// compiled only into sanitizer builds and so have no generated mirror.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct BuggyP {
    x: u64,
    y: u64,
    n: i64,
}

/// Every op's outputs (and the fast paths' and probes', tiny shapes) with three grids; the
/// kernels launched.
fn all_ops<T: recaux::backend::Elem>() -> BTreeSet<String> {
    let mut launched = BTreeSet::new();
    macro_rules! op {
        ($m:ident) => {
            launched.extend(same_for_any_grid::<T, _>(
                stringify!($m),
                EmuDevice::default,
                |b| $m::outputs::<Forced<T, EmuDevice>>(b),
            ));
        };
        (kernel $m:ident) => {
            launched.extend(same_for_any_grid::<T, _>(
                stringify!($m),
                EmuDevice::default,
                |b| $m::outputs::<T, ForcedGrid<EmuDevice>>(b),
            ));
        };
    }
    op!(relu);
    op!(clamp);
    op!(dropout);
    op!(max_time);
    op!(l1);
    op!(ce);
    op!(adam);
    op!(gemm);
    op!(lstm);
    op!(guard);
    op!(input);
    op!(score);
    op!(kernel gemm_tc);
    op!(kernel lstm_persist);
    op!(kernel tc_probe);
    launched
}

/// Launches a broken kernel `launches` times: TSan keeps a few recent accesses per word and
/// drops one at random when they are full, so one launch of the racy kernel is reported only
/// most of the time (seen missed in 1 of 3 runs); repeated launches make a miss unlikely.
fn buggy(kernel: &str, threads: u32, launches: usize) -> recaux::Result<()> {
    let be = EmuBackend::<f32>::new()?;
    let n = 64usize;
    let x = be.upload(&vec![1.0f32; n])?;
    let y = be.alloc(n)?;
    let p = BuggyP {
        x: be.ptr(&x),
        y: be.ptr(&y),
        n: n as i64,
    };
    for _ in 0..launches {
        be.launch_by_name(kernel, LaunchCfg::new(1, 1, threads), &p)?;
    }
    println!("emu_sanitize: {kernel} ran (a sanitizer should have stopped it)");
    Ok(())
}

fn main() {
    let arg = std::env::args().nth(1).unwrap_or_default();
    let res = match arg.as_str() {
        "--buggy-race" => buggy("buggy_racy_sum", 64, 50),
        // One thread more than elements: the off-by-one check lets it through.
        "--buggy-oob" => buggy("buggy_oob_copy", 65, 1),
        _ => {
            let mut launched = all_ops::<f32>();
            launched.extend(all_ops::<f64>());
            let missed: Vec<&str> = table::ALL
                .iter()
                .map(|k| k.name)
                .filter(|n| !launched.contains(*n))
                .collect();
            assert!(missed.is_empty(), "kernels no op launched: {missed:?}");
            println!(
                "emu_sanitize: all kernels ran ({})",
                recaux::backend::emu::FLAVOUR
            );
            Ok(())
        }
    };
    if let Err(e) = res {
        eprintln!("emu_sanitize: {e}");
        std::process::exit(1);
    }
}
