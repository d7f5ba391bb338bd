//! The embedded ptxas report: no kernel may spill registers or use a stack frame / local
//! memory on any architecture (a spill in a hot kernel is a silent slowdown). Skips, with the
//! reason printed, only when the binary was built without nvcc.

#[path = "common/skip.rs"]
mod skip;
use skip::skip_notice;

use recaux::backend::cuda::embedded;

#[test]
fn no_kernel_spills_or_uses_local_memory() {
    if !embedded::embedded() {
        skip_notice(&format!("SKIP ptxas report: {}", embedded::STATUS));
        return;
    }
    let res = embedded::resources();
    let archs = embedded::archs();
    assert!(!archs.is_empty(), "kernels embedded but no arch recorded");
    // Every product kernel the emu library knows is in the report for every arch.
    for name in recaux::backend::emu::kernel_names() {
        if name.starts_with("buggy_") {
            continue;
        }
        for a in &archs {
            let arch = format!("sm_{a}");
            assert!(
                res.iter().any(|r| r.kernel == name && r.arch == arch),
                "{name} missing from the ptxas report for {arch}"
            );
        }
    }
    let bad: Vec<String> = res
        .iter()
        .filter(|r| r.spill_stores + r.spill_loads + r.stack_bytes + r.local_bytes > 0)
        .map(|r| format!("{r:?}"))
        .collect();
    assert!(
        bad.is_empty(),
        "kernels with spills/stack/local memory:\n{}",
        bad.join("\n")
    );
    assert!(
        res.iter().all(|r| r.registers > 0 && r.registers <= 255),
        "register counts out of range"
    );
}
