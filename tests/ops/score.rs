//! score (`score`): kernels/score.cu, src/backend/{kernel,cpu}/score.rs: a step's record
//! per replica (CE, L1, correct predictions, flag 0) into one row of a ring.

use crate::common::*;
use recaux::backend::{Backend, RECORD_COLS, StepVals};

const M: usize = 3;
const B: usize = 5;
const C: usize = 4;
const ROWS: usize = 2;
/// What the record's other cells hold before the op (they must stay).
const SENTINEL: f64 = 7.5;

/// Logits with a tie (row 1: classes 1 and 3 equal: the first wins) and a NaN (row 2 of
/// replica 1: NaN compares false, so its arg-max is the best of the rest before it).
fn logits() -> Vec<f64> {
    let mut v = data(M * B * C, 21);
    v[(B + 1) * C + 1] = 2.0;
    v[(B + 1) * C + 3] = 2.0;
    v[(B + 2) * C + 2] = f64::NAN;
    v
}
const LABELS: [i32; B] = [0, 1, 3, 2, 1];

/// The record ring after `score` writing row `row mod ROWS`.
fn run<Bk: Backend>(be: &Bk, row: u64) -> Vec<Bk::T> {
    let lg = be.upload(&tv(&logits())).unwrap();
    let lab = be.upload_idx(&LABELS).unwrap();
    let ce = be.upload(&tv(&[0.5, 1.5, 2.5])).unwrap();
    let l1 = be.upload(&tv(&[0.25, 0.125, 4.0])).unwrap();
    let sv = StepVals {
        record_row: row,
        ..bytemuck::Zeroable::zeroed()
    };
    let mut vals = be.alloc_bytes(StepVals::BYTES).unwrap();
    be.write_bytes(&mut vals, bytemuck::bytes_of(&sv)).unwrap();
    let mut rec = be.upload(&tv(&[SENTINEL; ROWS * M * RECORD_COLS])).unwrap();
    be.score(M, B, C, &lg, &lab, [&ce, &l1], &vals, &mut rec)
        .unwrap();
    be.download(&rec).unwrap()
}

/// The formula, written out: correct = rows whose first arg-max is the label.
fn want(row: usize) -> Vec<f64> {
    let lg = logits();
    let mut w = vec![SENTINEL; ROWS * M * RECORD_COLS];
    let (ce, l1) = ([0.5, 1.5, 2.5], [0.25, 0.125, 4.0]);
    for r in 0..M {
        let mut ok = 0;
        for i in 0..B {
            let x = &lg[(r * B + i) * C..(r * B + i + 1) * C];
            let mut best = 0;
            for j in 1..C {
                if x[j] > x[best] {
                    best = j;
                }
            }
            ok += (best as i32 == LABELS[i]) as usize;
        }
        w[(row * M + r) * RECORD_COLS..(row * M + r + 1) * RECORD_COLS]
            .copy_from_slice(&[ce[r], l1[r], ok as f64, 0.0]);
    }
    w
}

fn exact<Bk: Backend>(be: &Bk) {
    // row 3 of a 2-row ring is row 1
    check(be, "score row 3", &run(be, 3), &want(1), EXACT, EXACT);
    check(be, "score row 0", &run(be, 0), &want(0), EXACT, EXACT);
}

#[test]
fn score_reference_is_the_formula() {
    exact(&reference());
}

#[test]
fn score_matches_the_formula_on_every_backend() {
    every_backend!(exact);
}

pub fn outputs<Bk: Backend>(be: &Bk) -> Vec<Vec<Bk::T>> {
    vec![run(be, 1)]
}
