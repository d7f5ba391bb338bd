//! An LSTM layer's forward and backward on any backend, from host inputs: shared by
//! tests/ops/lstm.rs (against the reference, any grid), tests/ops/lstm_persist.rs (the op's
//! fast path) and tests/gpu_model.rs (determinism).

use super::{data, tv};
use recaux::backend::{Backend, LstmGrads, LstmParams, LstmShape};

/// H not a multiple of the block or tile, B = 1, T = 1, M = 1..3, and one with more cells
/// than the emu step grid (8 x 128) so that the grid-stride loops run.
pub const SHAPES: &[LstmShape] = &[
    LstmShape {
        m: 2,
        t: 4,
        b: 3,
        i: 5,
        h: 7,
    },
    LstmShape {
        m: 1,
        t: 1,
        b: 1,
        i: 3,
        h: 2,
    },
    LstmShape {
        m: 3,
        t: 3,
        b: 1,
        i: 2,
        h: 5,
    },
    LstmShape {
        m: 2,
        t: 5,
        b: 2,
        i: 4,
        h: 33,
    },
    LstmShape {
        m: 1,
        t: 2,
        b: 9,
        i: 3,
        h: 130,
    },
];

/// x, per direction w_ih, w_hh, b_ih, b_hh, then dy, dx0 and the gradients' initial values
/// (the backward accumulates into them).
pub fn inputs(s: &LstmShape, seed: u32) -> Vec<Vec<f64>> {
    let g4 = 4 * s.h;
    let bound = 1.0 / (s.h as f64).sqrt();
    let scaled = |n: usize, sd: u32| data(n, sd).into_iter().map(|v| v * bound).collect();
    let mut v = vec![data(s.x_len(), seed)];
    for d in 0..2u32 {
        let sd = seed + 10 * (d + 1);
        v.push(scaled(s.m * g4 * s.i, sd));
        v.push(scaled(s.m * g4 * s.h, sd + 1));
        v.push(scaled(s.m * g4, sd + 2));
        v.push(scaled(s.m * g4, sd + 3));
    }
    v.push(data(s.y_len(), seed + 40));
    v.push(data(s.x_len(), seed + 41));
    for d in 0..2u32 {
        let sd = seed + 50 + 10 * d;
        v.push(data(s.m * g4 * s.i, sd));
        v.push(data(s.m * g4 * s.h, sd + 1));
        v.push(data(s.m * g4, sd + 2));
        v.push(data(s.m * g4, sd + 3));
    }
    v
}

/// Names of [`run`]'s outputs.
pub const OUTPUTS: [&str; 10] = [
    "y", "dx", "dw_ih[0]", "dw_hh[0]", "db_ih[0]", "db_hh[0]", "dw_ih[1]", "dw_hh[1]", "db_ih[1]",
    "db_hh[1]",
];

/// lstm_fwd then lstm_bwd: y, dx, then per direction dw_ih, dw_hh, db_ih, db_hh.
pub fn run<B: Backend>(be: &B, s: &LstmShape, inp: &[Vec<f64>], with_dx: bool) -> Vec<Vec<B::T>> {
    run_saved(be, s, inp, with_dx).0
}

/// [`run`]'s outputs, and the forward's `saved` read as elements of `B::T`.
pub fn run_saved<B: Backend>(
    be: &B,
    s: &LstmShape,
    inp: &[Vec<f64>],
    with_dx: bool,
) -> (Vec<Vec<B::T>>, Vec<B::T>) {
    run_with(be, s, inp, with_dx, || {})
}

/// [`run_saved`] with `between` called after the forward pass and before the backward pass
/// (e.g. to change the backend's precision).
pub fn run_with<B: Backend>(
    be: &B,
    s: &LstmShape,
    inp: &[Vec<f64>],
    with_dx: bool,
    between: impl FnOnce(),
) -> (Vec<Vec<B::T>>, Vec<B::T>) {
    let up = |v: &Vec<f64>| be.upload(&tv(v)).unwrap();
    let x = up(&inp[0]);
    let w: Vec<B::Buf> = inp[1..9].iter().map(up).collect();
    let p = LstmParams {
        w_ih: [&w[0], &w[4]],
        w_hh: [&w[1], &w[5]],
        b_ih: [&w[2], &w[6]],
        b_hh: [&w[3], &w[7]],
    };
    let mut y = be.alloc(s.y_len()).unwrap();
    let z = be.lstm_sizes(s);
    let mut saved = be.alloc_bytes(z.saved).unwrap();
    // The scratch starts as all-ones bytes (NaN in f32 and f64): an op that read scratch it
    // had not written would show it in every output.
    let mut scratch = be.alloc_bytes(z.scratch).unwrap();
    be.write_bytes(&mut scratch, &vec![0xFF; z.scratch])
        .unwrap();
    be.lstm_fwd(s, &x, &p, &mut y, &mut saved, &mut scratch)
        .unwrap();
    between();
    let dy = up(&inp[9]);
    let mut dx = up(&inp[10]);
    let mut gb: Vec<B::Buf> = inp[11..19].iter().map(up).collect();
    {
        let [g0, g1, g2, g3, g4, g5, g6, g7] = &mut gb[..] else {
            unreachable!("eight gradient buffers")
        };
        let mut g = LstmGrads {
            w_ih: [g0, g4],
            w_hh: [g1, g5],
            b_ih: [g2, g6],
            b_hh: [g3, g7],
        };
        let dxo = if with_dx { Some(&mut dx) } else { None };
        be.write_bytes(&mut scratch, &vec![0xFF; z.scratch])
            .unwrap();
        be.lstm_bwd(s, &x, &p, &y, &saved, &mut scratch, &dy, dxo, &mut g)
            .unwrap();
    }
    let mut out = vec![be.download(&y).unwrap(), be.download(&dx).unwrap()];
    out.extend(gb.iter().map(|b| be.download(b).unwrap()));
    let saved: Vec<B::T> = bytemuck::pod_collect_to_vec(&be.read_bytes(&saved).unwrap());
    (out, saved)
}
