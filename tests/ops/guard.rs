//! guard (`guard`): kernels/guard.cu, src/backend/{kernel,cpu}/guard.rs: the non-finite
//! guard of a training step, on the device: flags, freezes, zeroes.

use crate::common::*;
use recaux::backend::{AdamTensor, Backend, GuardState, REC_NONFINITE, RECORD_COLS, StepVals};

const M: usize = 4;
/// Elements per replica of each gradient tensor (one larger than the emu grid's threads).
const SIZES: [usize; 3] = [5, 3000, 1];
const ROWS: usize = 2;
const SENTINEL: f64 = 7.5;
/// Replica 2's λ makes λ·l1 overflow: its loss is not finite.
const LAMBDAS: [f64; M] = [1.0, 2.0, 1e300, 1.0];

/// Gradients: replica 1 has a NaN in tensor 1, the others are finite.
fn grads() -> Vec<Vec<f64>> {
    SIZES
        .iter()
        .enumerate()
        .map(|(k, &n)| {
            let mut g = data(M * n, 60 + k as u32);
            if k == 1 {
                g[n + 17] = f64::NAN;
            }
            g
        })
        .collect()
}

struct Out<T> {
    grads: Vec<Vec<T>>,
    record: Vec<T>,
    active: Vec<i32>,
    vals: StepVals,
}

/// guard with replica 3 stopped by the host (keep 0), writing row `3 mod ROWS` = 1.
fn run<B: Backend>(be: &B) -> Out<B::T> {
    let mut g: Vec<B::Buf> = grads().iter().map(|v| be.upload(&tv(v)).unwrap()).collect();
    let mut other: Vec<[B::Buf; 3]> = SIZES
        .iter()
        .map(|&n| [(); 3].map(|_| be.alloc(M * n).unwrap()))
        .collect();
    let table = {
        let ts: Vec<AdamTensor<B>> = other
            .iter_mut()
            .zip(&g)
            .map(|([p, m, v], g)| AdamTensor {
                param: p,
                grad: g,
                m,
                v,
            })
            .collect();
        be.adam_table(M, &ts).unwrap()
    };
    let ce = be.upload(&tv(&[0.5, 0.5, 0.5, 0.5])).unwrap();
    let l1 = be.upload(&tv(&[0.25, 0.25, 1e10, 0.25])).unwrap();
    let mut sv = StepVals {
        record_row: 3,
        ..bytemuck::Zeroable::zeroed()
    };
    sv.step_size[..M].copy_from_slice(&[0.1, 0.2, 0.3, 0.4]);
    sv.keep[..M].copy_from_slice(&[1, 1, 1, 0]);
    let mut vals = be.alloc_bytes(StepVals::BYTES).unwrap();
    be.write_bytes(&mut vals, bytemuck::bytes_of(&sv)).unwrap();
    let mut active = be.alloc_bytes(4 * M).unwrap();
    be.write_bytes(&mut active, bytemuck::cast_slice(&[1i32; M]))
        .unwrap();
    let mut scratch = be.alloc_bytes(be.guard_scratch(table.entries())).unwrap();
    let mut record = be
        .upload(&tv(&vec![SENTINEL; ROWS * M * RECORD_COLS]))
        .unwrap();
    {
        let mut gm: Vec<&mut B::Buf> = g.iter_mut().collect();
        be.guard(
            &LAMBDAS,
            [&ce, &l1],
            &mut gm,
            &table,
            GuardState {
                active: &mut active,
                scratch: &mut scratch,
                vals: &mut vals,
                record: &mut record,
            },
        )
        .unwrap();
    }
    Out {
        grads: g.iter().map(|b| be.download(b).unwrap()).collect(),
        record: be.download(&record).unwrap(),
        active: bytemuck::cast_slice(&be.read_bytes(&active).unwrap()).to_vec(),
        vals: StepVals::from_bytes(&be.read_bytes(&vals).unwrap()),
    }
}

/// What guard must do, written out: replicas 1 (NaN gradient) and 2 (infinite loss) are
/// flagged and frozen, 3 (stopped by the host) is frozen unflagged, 0 goes on untouched.
fn expected<B: Backend>(be: &B) {
    let o = run(be);
    let name = be.name();
    let mut want_rec = vec![SENTINEL; ROWS * M * RECORD_COLS];
    for (r, flag) in [0.0, 1.0, 1.0, 0.0].into_iter().enumerate() {
        want_rec[(M + r) * RECORD_COLS + REC_NONFINITE] = flag;
    }
    check(be, "guard record", &o.record, &want_rec, EXACT, EXACT);
    assert_eq!(o.active, vec![1, 0, 0, 0], "{name}: active");
    assert_eq!(
        &o.vals.step_size[..M],
        &[0.1, 0.0, 0.0, 0.0],
        "{name}: step sizes"
    );
    let g0 = grads();
    for (k, (got, was)) in o.grads.iter().zip(&g0).enumerate() {
        let n = SIZES[k];
        let want: Vec<f64> = (0..M * n)
            .map(|i| if i / n == 0 { was[i] } else { 0.0 })
            .collect();
        check(
            be,
            &format!("guard gradient {k}"),
            got,
            &rounded::<B::T>(&want),
            EXACT,
            EXACT,
        );
    }
}

#[test]
fn guard_reference_flags_freezes_and_zeroes() {
    expected(&reference());
}

#[test]
fn guard_matches_on_every_backend() {
    every_backend!(expected);
}

/// The kernels find the gradients through the table: a table built for other gradients is
/// refused (the CPU walks the gradients it is given and keeps no table).
fn other_table<B: Backend>(be: &B) {
    let mk = || -> [B::Buf; 4] { [(); 4].map(|_| be.alloc(2 * 3).unwrap()) };
    let (mut a, b) = (mk(), mk());
    let table = {
        let [p, g, m, v] = &mut a;
        be.adam_table(
            2,
            &[AdamTensor {
                param: p,
                grad: &*g,
                m,
                v,
            }],
        )
        .unwrap()
    };
    let mut gb = be.upload(&tv(&[0.0; 6])).unwrap();
    let _ = b;
    let ce = be.alloc(2).unwrap();
    let mut vals = be.alloc_bytes(StepVals::BYTES).unwrap();
    let mut active = be.alloc_bytes(8).unwrap();
    let mut scratch = be.alloc_bytes(be.guard_scratch(2)).unwrap();
    let mut record = be.alloc(2 * RECORD_COLS).unwrap();
    let r = be.guard(
        &[1.0, 1.0],
        [&ce, &ce],
        &mut [&mut gb],
        &table,
        GuardState {
            active: &mut active,
            scratch: &mut scratch,
            vals: &mut vals,
            record: &mut record,
        },
    );
    if be.name().starts_with("cpu") {
        assert!(r.is_ok(), "{r:?}");
    } else {
        let e = r.expect_err("a table of other gradients").to_string();
        assert!(e.contains("other buffers"), "{}: {e}", be.name());
    }
}

#[test]
fn guard_refuses_a_table_built_for_other_gradients() {
    every_backend!(other_table);
}

pub fn outputs<B: Backend>(be: &B) -> Vec<Vec<B::T>> {
    use recaux::backend::Elem;
    let o = run(be);
    let mut all = o.grads;
    all.push(o.record);
    all.push(o.active.iter().map(|&a| B::T::of(a as f64)).collect());
    all.push(o.vals.step_size.iter().map(|&s| B::T::of(s)).collect());
    all
}
