//! Every kernel op on the emu backend, without libtest's harness (`harness = false`: libtest's
//! own threads give false ThreadSanitizer reports). scripts/test-sanitizers.sh runs it with the
//! emu library built under TSan and ASan, and also with `--buggy-race` / `--buggy-oob`, which
//! launch the deliberately broken kernels of kernels/buggy/ (present only in sanitizer builds)
//! and MUST make the sanitizer fail the process.
//! In a plain build it simply runs the kernels once more on emu.

#[allow(unused_macros)]
#[macro_use]
mod common;
mod common_mm;
mod common_tc;

use common::ops;
use recaux::backend::Backend;
use recaux::backend::emu::EmuBackend;
use recaux::backend::kernel::LaunchCfg;
use recaux::backend::kernel::params::BuggyP;

fn run_all<B: Backend>(be: &B)
where
    B::T: recaux::backend::cpu::CellMath,
{
    ops::relu(be);
    ops::clamp(be);
    ops::dropout(be);
    ops::max_time(be);
    ops::l1(be);
    ops::ce(be);
    ops::adam(be);
    ops::errors(be);
    ops::profile(be);
    common_mm::sanitize_cases(be);
}

fn buggy(kernel: &str, threads: u32) -> recaux::Result<()> {
    let be = EmuBackend::<f32>::new()?;
    let n = 64usize;
    let x = be.upload(&vec![1.0f32; n])?;
    let y = be.alloc(n)?;
    let p = BuggyP {
        x: be.ptr(&x),
        y: be.ptr(&y),
        n: n as i64,
    };
    be.launch(kernel, LaunchCfg::new(1, 1, threads), &p)?;
    println!("emu_sanitize: {kernel} ran (a sanitizer should have stopped it)");
    Ok(())
}

fn main() {
    let arg = std::env::args().nth(1).unwrap_or_default();
    let res = match arg.as_str() {
        "--buggy-race" => buggy("buggy_racy_sum", 64),
        // One thread more than elements: the off-by-one check lets it through.
        "--buggy-oob" => buggy("buggy_oob_copy", 65),
        _ => {
            run_all(&EmuBackend::<f32>::new().expect("emu backend"));
            run_all(&EmuBackend::<f64>::new().expect("emu backend"));
            common_tc::sanitize_tc_cases(&EmuBackend::<f32>::new().expect("emu backend"));
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
