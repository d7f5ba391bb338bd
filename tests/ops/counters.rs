//! Counters are bumped where the work happens, on every backend: an upload is one allocation
//! and one host-to-device copy of its bytes, an op is its launches (one on the CPU), a
//! download is one copy back and one synchronisation.

use crate::common::*;
use recaux::backend::{Backend, Counters};

fn counts<B: Backend>(be: &B) {
    let n = 100;
    let bytes = (n * size_of::<B::T>()) as u64;
    let c0 = be.counters();
    let x = be.upload(&tv::<B::T>(&data(n, 3))).unwrap();
    let mut y = be.alloc(n).unwrap();
    let up = be.counters().since(&c0);
    assert_eq!(
        up,
        Counters {
            allocs: 2,
            alloc_bytes: if be.name() == "cuda" {
                up.alloc_bytes
            } else {
                2 * bytes
            },
            htod_copies: 1,
            htod_bytes: bytes,
            ..Counters::default()
        },
        "{}: upload + alloc",
        be.name()
    );
    let c1 = be.counters();
    be.relu_fwd(n, &x, &mut y).unwrap();
    be.zero(&mut y).unwrap();
    let op = be.counters().since(&c1);
    assert_eq!(
        (op.launches, op.memsets, op.syncs, op.allocs),
        (1, 1, 0, 0),
        "{}: one relu_fwd launch and one memset: {op:?}",
        be.name()
    );
    let c2 = be.counters();
    let h = be.download(&y).unwrap();
    assert_eq!(h.len(), n);
    let down = be.counters().since(&c2);
    assert_eq!(
        (down.dtoh_copies, down.dtoh_bytes, down.syncs, down.launches),
        (1, bytes, 1, 0),
        "{}: download",
        be.name()
    );
}

#[test]
fn counters_count_allocations_copies_launches_and_syncs() {
    every_backend!(counts);
}
