//! What a backend did, counted by the code that does it: kernel launches, replays of recorded
//! steps, memsets, host<->device synchronisations, bytes copied each way, device allocations.
//!
//! Each backend keeps one [`Tally`] and bumps it at the one place where the thing happens:
//! the cuda device where it calls the driver (`cuLaunchKernel`, `cuMemcpy*`,
//! `cuStreamSynchronize`, `cuEventSynchronize`, `cuMemAlloc*`, `cuGraphLaunch`), the emu device
//! at the same calls of the same [`crate::backend::kernel::Device`] trait (so emu's counts are
//! what cuda's would be for the same work, and they are exact: nothing runs behind the host's
//! back), and the CPU backend in its memory functions and around every op.
//! [`crate::backend::Backend::counters`] reads the running totals; the difference of two
//! readings ([`Counters::since`]) is what happened in between (a step, an epoch).
//!
//! On the CPU backend there is no device: an op call counts as a launch, a buffer it creates
//! (alloc, upload, scratch) as an allocation, `upload`/`write` and `download` as copies, and a
//! `download` or `sync` as a synchronisation (where a GPU backend would wait). Temporaries
//! inside an op (a few small `Vec`s, the gemm crate's packing buffers) are not counted.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Running totals (or, from [`Counters::since`], the difference of two readings).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counters {
    /// Kernels launched one by one by the host (the CPU backend: op calls).
    pub launches: u64,
    /// Replays of a recorded step (cuda: `cuGraphLaunch`; emu: a recorded launch list).
    pub graph_launches: u64,
    /// Kernels run inside those replays.
    pub graph_kernels: u64,
    /// Buffers set to zero by the device (`cuMemsetD8Async`; emu and CPU: `zero`).
    pub memsets: u64,
    /// Times the host waited for the device: a stream or event synchronisation, or a copy to
    /// the host that blocks until it is done.
    pub syncs: u64,
    /// Copies from the host to the device, and their bytes.
    pub htod_copies: u64,
    pub htod_bytes: u64,
    /// Copies from the device to the host, and their bytes.
    pub dtoh_copies: u64,
    pub dtoh_bytes: u64,
    /// Device allocations (cuda: `cuMemAlloc*`, pinned host memory included), and their bytes.
    pub allocs: u64,
    pub alloc_bytes: u64,
}

impl Counters {
    /// What happened between `earlier` and `self` (both readings of one backend).
    pub fn since(&self, earlier: &Counters) -> Counters {
        let d = |a: u64, b: u64| a.saturating_sub(b);
        Counters {
            launches: d(self.launches, earlier.launches),
            graph_launches: d(self.graph_launches, earlier.graph_launches),
            graph_kernels: d(self.graph_kernels, earlier.graph_kernels),
            memsets: d(self.memsets, earlier.memsets),
            syncs: d(self.syncs, earlier.syncs),
            htod_copies: d(self.htod_copies, earlier.htod_copies),
            htod_bytes: d(self.htod_bytes, earlier.htod_bytes),
            dtoh_copies: d(self.dtoh_copies, earlier.dtoh_copies),
            dtoh_bytes: d(self.dtoh_bytes, earlier.dtoh_bytes),
            allocs: d(self.allocs, earlier.allocs),
            alloc_bytes: d(self.alloc_bytes, earlier.alloc_bytes),
        }
    }

    /// Kernels run, one by one or inside replays.
    pub fn kernels(&self) -> u64 {
        self.launches + self.graph_kernels
    }

    /// The counters as (name, value) rows, in a fixed order (tables, CSV, JSON).
    pub fn rows(&self) -> [(&'static str, u64); 11] {
        [
            ("kernel launches", self.launches),
            ("graph launches", self.graph_launches),
            ("kernels in graphs", self.graph_kernels),
            ("memsets", self.memsets),
            ("host<->device syncs", self.syncs),
            ("host->device copies", self.htod_copies),
            ("host->device bytes", self.htod_bytes),
            ("device->host copies", self.dtoh_copies),
            ("device->host bytes", self.dtoh_bytes),
            ("device allocations", self.allocs),
            ("allocated bytes", self.alloc_bytes),
        ]
    }

    /// A table of the counters per step over `steps` steps (and their totals), one row each.
    pub fn table(&self, steps: usize) -> String {
        let n = steps.max(1) as f64;
        let mut s = format!("{:<22} {:>14} {:>14}\n", "counter", "per step", "total");
        for (name, v) in self.rows() {
            s.push_str(&format!("{name:<22} {:>14.2} {v:>14}\n", v as f64 / n));
        }
        s
    }
}

/// The running totals a backend bumps (atomics: a backend is `Sync`).
#[derive(Debug, Default)]
pub struct Tally {
    launches: AtomicU64,
    graph_launches: AtomicU64,
    graph_kernels: AtomicU64,
    memsets: AtomicU64,
    syncs: AtomicU64,
    htod_copies: AtomicU64,
    htod_bytes: AtomicU64,
    dtoh_copies: AtomicU64,
    dtoh_bytes: AtomicU64,
    allocs: AtomicU64,
    alloc_bytes: AtomicU64,
}

impl Tally {
    /// One kernel launched by the host.
    pub fn launch(&self) {
        self.launches.fetch_add(1, Relaxed);
    }
    /// One replay of a recorded step of `kernels` kernels.
    pub fn graph(&self, kernels: u64) {
        self.graph_launches.fetch_add(1, Relaxed);
        self.graph_kernels.fetch_add(kernels, Relaxed);
    }
    /// One buffer zeroed by the device.
    pub fn memset(&self) {
        self.memsets.fetch_add(1, Relaxed);
    }
    /// The host waited for the device once.
    pub fn sync(&self) {
        self.syncs.fetch_add(1, Relaxed);
    }
    /// A host-to-device copy of `bytes`.
    pub fn htod(&self, bytes: usize) {
        self.htod_copies.fetch_add(1, Relaxed);
        self.htod_bytes.fetch_add(bytes as u64, Relaxed);
    }
    /// A device-to-host copy of `bytes`.
    pub fn dtoh(&self, bytes: usize) {
        self.dtoh_copies.fetch_add(1, Relaxed);
        self.dtoh_bytes.fetch_add(bytes as u64, Relaxed);
    }
    /// A device allocation of `bytes`.
    pub fn alloc(&self, bytes: usize) {
        self.allocs.fetch_add(1, Relaxed);
        self.alloc_bytes.fetch_add(bytes as u64, Relaxed);
    }
    /// The totals so far.
    pub fn read(&self) -> Counters {
        Counters {
            launches: self.launches.load(Relaxed),
            graph_launches: self.graph_launches.load(Relaxed),
            graph_kernels: self.graph_kernels.load(Relaxed),
            memsets: self.memsets.load(Relaxed),
            syncs: self.syncs.load(Relaxed),
            htod_copies: self.htod_copies.load(Relaxed),
            htod_bytes: self.htod_bytes.load(Relaxed),
            dtoh_copies: self.dtoh_copies.load(Relaxed),
            dtoh_bytes: self.dtoh_bytes.load(Relaxed),
            allocs: self.allocs.load(Relaxed),
            alloc_bytes: self.alloc_bytes.load(Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_the_difference_of_two_readings() {
        let t = Tally::default();
        t.launch();
        t.htod(10);
        let a = t.read();
        t.launch();
        t.launch();
        t.dtoh(16);
        t.sync();
        t.alloc(64);
        t.graph(7);
        let d = t.read().since(&a);
        assert_eq!(
            d,
            Counters {
                launches: 2,
                graph_launches: 1,
                graph_kernels: 7,
                syncs: 1,
                dtoh_copies: 1,
                dtoh_bytes: 16,
                allocs: 1,
                alloc_bytes: 64,
                ..Counters::default()
            }
        );
        assert_eq!(d.kernels(), 9);
    }
}
