//! Finite-difference gradient checks (f64, central differences) of every op's backward and of
//! the whole model, on any backend with f64 buffers.
//!
//! Each check draws random inputs and a random output weighting `w`, defines the scalar
//! `L = sum(w * op(inputs))`, and compares the op's backward (given `dy = w`) with
//! `(L(x + h e_j) - L(x - h e_j)) / 2h` for every input element j (or, sampled, for seeded
//! random elements of every block of every input: each replica, and each gate i, f, g, o of
//! an LSTM weight or bias; see [`Blocks`]). Backward ops accumulate,
//! so the analytic gradient buffers are pre-filled with random values that are subtracted
//! afterwards: a backward that overwrote instead of adding fails the check.
//!
//! Kinks (where the derivative jumps) are kept away from the test points: relu inputs are
//! at least 0.05 from 0, clamp inputs at least 0.05 from ±1, L1 differences at least 0.05 from
//! 0, and max-over-time columns have a gap of at least 0.01 between the largest and the next
//! value, all far above what a step of `h` moves them. The whole-model check measures those margins at the base
//! point and moves to the next seed if any is below 1e-3 (it reports the margins it used).

use crate::backend::{Backend, DropoutSpec, GemmSpec, LstmGrads, LstmParams, LstmShape};
use crate::error::Result;
use crate::model::{self, Grads, Mode, Model, ModelSpec, Workspace};
use crate::rng;

/// Finite-difference step.
pub const H: f64 = 1e-5;
/// Pass if `|analytic - numeric| <= ATOL + RTOL * |numeric|` for every element.
pub const ATOL: f64 = 1e-8;
/// See [`ATOL`].
pub const RTOL: f64 = 1e-6;

/// The result of one check.
#[derive(Clone, Debug)]
pub struct CheckResult {
    pub op: String,
    /// Elements compared.
    pub n: usize,
    pub max_abs: f64,
    /// Max relative error over elements whose numeric gradient exceeds 1e-4 in magnitude.
    pub max_rel: f64,
    pub pass: bool,
    /// Extra information (kink margins, shapes).
    pub note: String,
    /// Elements of all inputs (`n` of them were compared).
    pub total: usize,
    /// Which elements of each input were compared.
    pub sampled: Vec<Sampled>,
}

/// How an input tensor divides into the blocks a sampled check must each reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocks {
    /// `[M, ...]`: one block per replica (M = 1 for a tensor without replicas).
    Replicas(usize),
    /// An LSTM weight or bias `[M, 4H, X]` (PyTorch's layout, X = 1 for a bias): one block
    /// per gate i, f, g, o, each spanning the M replicas.
    Gates(usize),
}

impl Blocks {
    /// Number of blocks.
    pub fn count(self) -> usize {
        match self {
            Blocks::Replicas(m) => m,
            Blocks::Gates(_) => 4,
        }
    }
    /// The elements of block `k` of a tensor of `len` elements.
    pub fn members(self, len: usize, k: usize) -> Vec<usize> {
        match self {
            Blocks::Replicas(m) => {
                let per = len / m.max(1);
                (k * per..(k + 1) * per).collect()
            }
            Blocks::Gates(m) => {
                let per = len / m.max(1);
                let gate = per / 4;
                (0..m)
                    .flat_map(|r| r * per + k * gate..r * per + (k + 1) * gate)
                    .collect()
            }
        }
    }
}

/// The elements of one input that a check compared.
#[derive(Clone, Debug)]
pub struct Sampled {
    /// The input's name (a parameter's state_dict name in the model check).
    pub tensor: String,
    pub len: usize,
    pub blocks: Blocks,
    pub indices: Vec<usize>,
}

/// Counter word of the sampling shuffles (see `crate::data::draw`).
const SAMPLE_STREAM: u32 = 0x7E57_0001;

/// A deterministic uniform stream for test inputs (Philox, stream 0x7E57).
struct Draw {
    seed: u64,
    k: u32,
}

impl Draw {
    fn new(seed: u64) -> Self {
        Draw { seed, k: 0 }
    }
    fn uniform(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        self.k += 1;
        rng::init_uniform(self.seed ^ 0x7E57_0000, self.k, n, lo, hi)
    }
    /// Uniform in ±[gap, hi]: away from 0 by at least `gap`.
    fn away_from_zero(&mut self, n: usize, gap: f64, hi: f64) -> Vec<f64> {
        self.uniform(n, -1.0, 1.0)
            .into_iter()
            .map(|u| u.signum() * (gap + (hi - gap) * u.abs()))
            .collect()
    }
}

/// Compare analytic and numeric gradients element by element (see [`ATOL`], [`RTOL`]).
pub fn compare(op: &str, analytic: &[f64], numeric: &[f64], note: String) -> CheckResult {
    let mut max_abs: f64 = 0.0;
    let mut max_rel: f64 = 0.0;
    let mut pass = true;
    for (&a, &n) in analytic.iter().zip(numeric) {
        let e = (a - n).abs();
        max_abs = max_abs.max(e);
        if n.abs() > 1e-4 {
            max_rel = max_rel.max(e / n.abs());
        }
        if e > ATOL + RTOL * n.abs() || !e.is_finite() {
            pass = false;
        }
    }
    CheckResult {
        op: op.to_string(),
        n: analytic.len(),
        max_abs,
        max_rel,
        pass: pass && analytic.len() == numeric.len(),
        note,
        total: analytic.len(),
        sampled: Vec::new(),
    }
}

/// Which elements of an input of `len` elements are checked: all of them (`per_block` None),
/// or `per_block` distinct elements of every block, at positions drawn from `seed` (a
/// Philox shuffle of the block; every element of a smaller block). `tensor` separates the
/// draws of a check's inputs.
pub fn sample_indices(
    len: usize,
    blocks: Blocks,
    per_block: Option<usize>,
    seed: u64,
    tensor: u32,
) -> Vec<usize> {
    let Some(k) = per_block else {
        return (0..len).collect();
    };
    let mut idx = Vec::new();
    for b in 0..blocks.count() {
        let mut members = blocks.members(len, b);
        crate::data::draw::shuffle(&mut members, seed, SAMPLE_STREAM, tensor, b as u32);
        members.truncate(k);
        idx.extend(members);
    }
    idx.sort_unstable();
    idx.dedup();
    idx
}

/// One input of a check: its name and how it divides into blocks.
type Tensor<'a> = (&'a str, Blocks);

/// Central differences of `loss` with respect to the sampled elements of every input
/// (see [`sample_indices`]): `(indices, derivatives)` per input.
fn numeric_grads(
    inputs: &[Vec<f64>],
    tensors: &[Tensor],
    loss: &dyn Fn(&[Vec<f64>]) -> Result<f64>,
    per_block: Option<usize>,
    seed: u64,
) -> Result<Vec<(Vec<usize>, Vec<f64>)>> {
    assert_eq!(
        inputs.len(),
        tensors.len(),
        "one name and block rule per input"
    );
    let mut work = inputs.to_vec();
    let mut out = Vec::with_capacity(inputs.len());
    for k in 0..inputs.len() {
        let idx = sample_indices(inputs[k].len(), tensors[k].1, per_block, seed, k as u32);
        let mut g = Vec::with_capacity(idx.len());
        for &j in &idx {
            let x0 = work[k][j];
            work[k][j] = x0 + H;
            let lp = loss(&work)?;
            work[k][j] = x0 - H;
            let lm = loss(&work)?;
            work[k][j] = x0;
            g.push((lp - lm) / (2.0 * H));
        }
        out.push((idx, g));
    }
    Ok(out)
}

/// What was sampled, for the result.
fn sampled(
    inputs: &[Vec<f64>],
    tensors: &[Tensor],
    numeric: &[(Vec<usize>, Vec<f64>)],
) -> Vec<Sampled> {
    inputs
        .iter()
        .zip(tensors)
        .zip(numeric)
        .map(|((v, (name, blocks)), (idx, _))| Sampled {
            tensor: name.to_string(),
            len: v.len(),
            blocks: *blocks,
            indices: idx.clone(),
        })
        .collect()
}

/// The analytic values at the numeric check's indices, flattened, beside the numeric ones.
fn gather(analytic: &[Vec<f64>], numeric: &[(Vec<usize>, Vec<f64>)]) -> (Vec<f64>, Vec<f64>) {
    let mut a = Vec::new();
    let mut n = Vec::new();
    for (an, (idx, nu)) in analytic.iter().zip(numeric) {
        a.extend(idx.iter().map(|&i| an[i]));
        n.extend_from_slice(nu);
    }
    (a, n)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Run `bwd` on buffers pre-filled with `pre`, return what it added.
fn added<B: Backend<T = f64>>(
    be: &B,
    pre: &[f64],
    bwd: impl FnOnce(&mut B::Buf) -> Result<()>,
) -> Result<Vec<f64>> {
    let mut buf = be.upload(pre)?;
    bwd(&mut buf)?;
    Ok(be
        .download(&buf)?
        .iter()
        .zip(pre)
        .map(|(a, p)| a - p)
        .collect())
}

/// Inputs -> outputs of an op.
type FwdFn<'a> = dyn Fn(&[Vec<f64>]) -> Result<Vec<f64>> + 'a;
/// Inputs, output weights -> one gradient per input.
type BwdFn<'a> = dyn Fn(&[Vec<f64>], &[f64]) -> Result<Vec<Vec<f64>>> + 'a;

/// Check one op given its inputs (named, with their blocks), a forward (inputs -> outputs)
/// and a backward (inputs, dy, pre-filled gradient buffers -> accumulated gradients).
/// `seed` draws the sampled elements.
#[allow(clippy::too_many_arguments)]
fn check_op(
    op: &str,
    note: String,
    inputs: Vec<Vec<f64>>,
    tensors: &[Tensor],
    w: &[f64],
    fwd: &FwdFn,
    bwd: &BwdFn,
    per_block: Option<usize>,
    seed: u64,
) -> Result<CheckResult> {
    let analytic = bwd(&inputs, w)?;
    let loss = |xs: &[Vec<f64>]| Ok(dot(&fwd(xs)?, w));
    let numeric = numeric_grads(&inputs, tensors, &loss, per_block, seed)?;
    let (a, n) = gather(&analytic, &numeric);
    let mut r = compare(op, &a, &n, note);
    r.total = inputs.iter().map(Vec::len).sum();
    r.sampled = sampled(&inputs, tensors, &numeric);
    Ok(r)
}

/// Every op check plus the whole model, in table order.
pub fn run_all<B: Backend<T = f64>>(be: &B) -> Result<Vec<CheckResult>> {
    run_all_sampled(be, None)
}

/// [`run_all`] checking `per_block` seeded random elements of every block of every input
/// tensor (`None`: every element). Sampling keeps slow backends (emu runs each CUDA thread as
/// a host thread) practical; every tensor, each of its replicas and each gate of every LSTM
/// weight and bias (the model's included) is still probed.
pub fn run_all_sampled<B: Backend<T = f64>>(
    be: &B,
    per_block: Option<usize>,
) -> Result<Vec<CheckResult>> {
    Ok(vec![
        check_dropout(be, per_block)?,
        check_linear(be, per_block)?,
        check_gemm_variants(be, per_block)?,
        check_lstm(be, per_block)?,
        check_max_time(be, per_block)?,
        check_relu(be, per_block)?,
        check_clamp(be, per_block)?,
        check_l1(be, per_block)?,
        check_ce(be, per_block)?,
        check_model(be, per_block)?,
    ])
}

/// Dropout with p = 0.3, 2 replicas, odd length.
pub fn check_dropout<B: Backend<T = f64>>(be: &B, per_block: Option<usize>) -> Result<CheckResult> {
    let (m, n) = (2, 37);
    let seeds = [11u64, 12];
    let d = DropoutSpec {
        p: 0.3,
        seeds: &seeds,
        step: 5,
        tensor: 2,
        step_at: None,
    };
    let mut dr = Draw::new(1);
    let x = dr.uniform(m * n, -1.0, 1.0);
    let w = dr.uniform(m * n, -1.0, 1.0);
    let pre = dr.uniform(m * n, -1.0, 1.0);
    let fwd = |xs: &[Vec<f64>]| -> Result<Vec<f64>> {
        let xb = be.upload(&xs[0])?;
        let mut y = be.alloc(m * n)?;
        be.dropout_fwd(&d, n, &xb, false, &mut y)?;
        be.download(&y)
    };
    let bwd = |_: &[Vec<f64>], w: &[f64]| -> Result<Vec<Vec<f64>>> {
        let dy = be.upload(w)?;
        Ok(vec![added(be, &pre, |dx| be.dropout_bwd(&d, n, &dy, dx))?])
    };
    check_op(
        "dropout",
        format!("M={m} n={n} p=0.3"),
        vec![x],
        &[("x", Blocks::Replicas(m))],
        &w,
        &fwd,
        &bwd,
        per_block,
        1,
    )
}

/// The model's linear layer `y = a W^T + bias` through gemm (NT + bias) and its backward
/// through gemm (NN, TN) and gemm_bias_grad, exactly as `model::backward` wires it.
pub fn check_linear<B: Backend<T = f64>>(be: &B, per_block: Option<usize>) -> Result<CheckResult> {
    let (m, rows, out, inp) = (2, 5, 3, 7);
    let mut dr = Draw::new(2);
    let a = dr.uniform(m * rows * inp, -1.0, 1.0);
    let wt = dr.uniform(m * out * inp, -1.0, 1.0);
    let bias = dr.uniform(m * out, -1.0, 1.0);
    let w = dr.uniform(m * rows * out, -1.0, 1.0);
    let pre: Vec<Vec<f64>> = vec![
        dr.uniform(a.len(), -1.0, 1.0),
        dr.uniform(wt.len(), -1.0, 1.0),
        dr.uniform(bias.len(), -1.0, 1.0),
    ];
    let spec = |ta, tb, mm, nn, kk, acc| GemmSpec {
        batch: m,
        m: mm,
        n: nn,
        k: kk,
        trans_a: ta,
        trans_b: tb,
        a_shared: false,
        accumulate: acc,
    };
    let fwd = |xs: &[Vec<f64>]| -> Result<Vec<f64>> {
        let (ab, wb, bb) = (be.upload(&xs[0])?, be.upload(&xs[1])?, be.upload(&xs[2])?);
        let mut y = be.alloc(m * rows * out)?;
        be.gemm(
            &spec(false, true, rows, out, inp, false),
            &ab,
            &wb,
            Some(&bb),
            &mut y,
        )?;
        be.download(&y)
    };
    let bwd = |xs: &[Vec<f64>], w: &[f64]| -> Result<Vec<Vec<f64>>> {
        let (ab, wb) = (be.upload(&xs[0])?, be.upload(&xs[1])?);
        let dy = be.upload(w)?;
        let da = added(be, &pre[0], |d| {
            be.gemm(&spec(false, false, rows, inp, out, true), &dy, &wb, None, d)
        })?;
        let dw = added(be, &pre[1], |d| {
            be.gemm(&spec(true, false, out, inp, rows, true), &dy, &ab, None, d)
        })?;
        let db = added(be, &pre[2], |d| be.gemm_bias_grad(m, rows, out, &dy, d))?;
        Ok(vec![da, dw, db])
    };
    check_op(
        "gemm (linear fwd/bwd)",
        format!("M={m} rows={rows} out={out} in={inp}"),
        vec![a, wt, bias],
        &[
            ("a", Blocks::Replicas(m)),
            ("weight", Blocks::Replicas(m)),
            ("bias", Blocks::Replicas(m)),
        ],
        &w,
        &fwd,
        &bwd,
        per_block,
        2,
    )
}

/// The four transpose combinations and a shared A, each checked against the NN product of
/// explicitly transposed host matrices' derivatives: d/dA and d/dB of sum(w * op(A) op(B)).
pub fn check_gemm_variants<B: Backend<T = f64>>(
    be: &B,
    per_block: Option<usize>,
) -> Result<CheckResult> {
    let (batch, m, n, k) = (2, 3, 4, 5);
    let mut worst: Option<CheckResult> = None;
    let (mut total, mut all) = (0, 0);
    let mut sampled = Vec::new();
    for (ta, tb, shared) in [
        (false, false, false),
        (false, true, false),
        (true, false, false),
        (true, true, false),
        (false, false, true),
    ] {
        let seed = 3 + ta as u64 * 2 + tb as u64 * 4 + shared as u64 * 8;
        let mut dr = Draw::new(seed);
        let a = dr.uniform(if shared { m * k } else { batch * m * k }, -1.0, 1.0);
        let b = dr.uniform(batch * k * n, -1.0, 1.0);
        let w = dr.uniform(batch * m * n, -1.0, 1.0);
        let s = GemmSpec {
            batch,
            m,
            n,
            k,
            trans_a: ta,
            trans_b: tb,
            a_shared: shared,
            accumulate: false,
        };
        let fwd = |xs: &[Vec<f64>]| -> Result<Vec<f64>> {
            let mut c = be.alloc(batch * m * n)?;
            be.gemm(&s, &be.upload(&xs[0])?, &be.upload(&xs[1])?, None, &mut c)?;
            be.download(&c)
        };
        // analytic on the host: dA = w B^T (per batch, summed over batches when shared),
        // dB = A^T w, mapped back through the transposes.
        let bwd = |xs: &[Vec<f64>], w: &[f64]| -> Result<Vec<Vec<f64>>> {
            let (a, b) = (&xs[0], &xs[1]);
            let mut da = vec![0.0; a.len()];
            let mut db = vec![0.0; b.len()];
            for r in 0..batch {
                let ao = if shared { 0 } else { r * m * k };
                let at = |i: usize, l: usize| if ta { ao + l * m + i } else { ao + i * k + l };
                let bt = |l: usize, j: usize| {
                    if tb {
                        r * k * n + j * k + l
                    } else {
                        r * k * n + l * n + j
                    }
                };
                for i in 0..m {
                    for j in 0..n {
                        let g = w[r * m * n + i * n + j];
                        for l in 0..k {
                            da[at(i, l)] += g * b[bt(l, j)];
                            db[bt(l, j)] += g * a[at(i, l)];
                        }
                    }
                }
            }
            Ok(vec![da, db])
        };
        let tensors = [
            ("a", Blocks::Replicas(if shared { 1 } else { batch })),
            ("b", Blocks::Replicas(batch)),
        ];
        let res = check_op(
            "gemm",
            String::new(),
            vec![a, b],
            &tensors,
            &w,
            &fwd,
            &bwd,
            per_block,
            seed,
        )?;
        total += res.n;
        all += res.total;
        sampled.extend(res.sampled.iter().map(|t| Sampled {
            tensor: format!("{} ({ta}, {tb}, {shared})", t.tensor),
            ..t.clone()
        }));
        if worst
            .as_ref()
            .is_none_or(|wr| !res.pass || res.max_abs > wr.max_abs)
            && worst.as_ref().is_none_or(|wr| wr.pass)
        {
            worst = Some(res);
        }
    }
    let mut r = worst.expect("five variants");
    r.op = "gemm (NN, NT, TN, TT, shared A)".into();
    r.n = total;
    r.total = all;
    r.sampled = sampled;
    r.note = format!("batch={batch} m={m} n={n} k={k}; forward vs host-derived gradient");
    Ok(r)
}

/// A bidirectional LSTM layer: gradients of x and all eight parameter tensors.
pub fn check_lstm<B: Backend<T = f64>>(be: &B, per_block: Option<usize>) -> Result<CheckResult> {
    let s = LstmShape {
        m: 2,
        t: 5,
        b: 3,
        i: 3,
        h: 4,
    };
    let g4 = 4 * s.h;
    let mut dr = Draw::new(4);
    let bound = 0.6;
    let mut inputs = vec![dr.uniform(s.x_len(), -1.0, 1.0)];
    for _d in 0..2 {
        inputs.push(dr.uniform(s.m * g4 * s.i, -bound, bound));
        inputs.push(dr.uniform(s.m * g4 * s.h, -bound, bound));
        inputs.push(dr.uniform(s.m * g4, -bound, bound));
        inputs.push(dr.uniform(s.m * g4, -bound, bound));
    }
    let w = dr.uniform(s.y_len(), -1.0, 1.0);
    let pre: Vec<Vec<f64>> = inputs
        .iter()
        .map(|v| dr.uniform(v.len(), -1.0, 1.0))
        .collect();
    // uploads the nine inputs and runs the layer: (inputs, y, saved)
    let run = |xs: &[Vec<f64>]| -> Result<LstmRun<B>> {
        let bufs = xs
            .iter()
            .map(|v| be.upload(v))
            .collect::<Result<Vec<_>>>()?;
        let mut y = be.alloc(s.y_len())?;
        let z = be.lstm_sizes(&s);
        let mut saved = be.alloc_bytes(z.saved)?;
        let mut scratch = be.alloc_bytes(z.scratch)?;
        be.lstm_fwd(
            &s,
            &bufs[0],
            &lstm_params(&bufs),
            &mut y,
            &mut saved,
            &mut scratch,
        )?;
        Ok((bufs, y, saved))
    };
    let fwd = |xs: &[Vec<f64>]| -> Result<Vec<f64>> { be.download(&run(xs)?.1) };
    let bwd = |xs: &[Vec<f64>], w: &[f64]| -> Result<Vec<Vec<f64>>> {
        let (bufs, y, saved) = run(xs)?;
        let p = lstm_params(&bufs);
        let dy = be.upload(w)?;
        let mut g = pre
            .iter()
            .map(|v| be.upload(v))
            .collect::<Result<Vec<_>>>()?;
        let [dx, a, b, c, d, e, f, gg, h] = &mut g[..] else {
            unreachable!("nine buffers")
        };
        let mut lg = LstmGrads {
            w_ih: [a, e],
            w_hh: [b, f],
            b_ih: [c, gg],
            b_hh: [d, h],
        };
        let mut scratch = be.alloc_bytes(be.lstm_sizes(&s).scratch)?;
        be.lstm_bwd(
            &s,
            &bufs[0],
            &p,
            &y,
            &saved,
            &mut scratch,
            &dy,
            Some(dx),
            &mut lg,
        )?;
        g.iter()
            .zip(&pre)
            .map(|(b, p)| Ok(be.download(b)?.iter().zip(p).map(|(a, q)| a - q).collect()))
            .collect()
    };
    check_op(
        "lstm (x, W_ih, W_hh, b_ih, b_hh; both dirs)",
        format!("{s:?}"),
        inputs,
        &[
            ("x", Blocks::Replicas(s.m)),
            ("w_ih[0]", Blocks::Gates(s.m)),
            ("w_hh[0]", Blocks::Gates(s.m)),
            ("b_ih[0]", Blocks::Gates(s.m)),
            ("b_hh[0]", Blocks::Gates(s.m)),
            ("w_ih[1]", Blocks::Gates(s.m)),
            ("w_hh[1]", Blocks::Gates(s.m)),
            ("b_ih[1]", Blocks::Gates(s.m)),
            ("b_hh[1]", Blocks::Gates(s.m)),
        ],
        &w,
        &fwd,
        &bwd,
        per_block,
        4,
    )
}

/// A layer run of the check: its uploaded inputs, output y and saved state.
type LstmRun<B> = (
    Vec<<B as Backend>::Buf>,
    <B as Backend>::Buf,
    <B as Backend>::Bytes,
);

/// The layer's parameters among the check's inputs `[x, then per direction W_ih, W_hh, b_ih, b_hh]`.
fn lstm_params<B: Backend>(bufs: &[B::Buf]) -> LstmParams<'_, B> {
    LstmParams {
        w_ih: [&bufs[1], &bufs[5]],
        w_hh: [&bufs[2], &bufs[6]],
        b_ih: [&bufs[3], &bufs[7]],
        b_hh: [&bufs[4], &bufs[8]],
    }
}

/// Max over time: values on a grid with gaps >= 0.01 (no ties), shuffled over time.
pub fn check_max_time<B: Backend<T = f64>>(
    be: &B,
    per_block: Option<usize>,
) -> Result<CheckResult> {
    let (m, t, rows, f) = (2, 6, 3, 5);
    let mut dr = Draw::new(5);
    let n = m * t * rows * f;
    // distinct values k*0.013 + jitter < 0.003: any two differ by >= 0.01
    let keys = dr.uniform(n, 0.0, 1.0);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| keys[a].total_cmp(&keys[b]));
    let jit = dr.uniform(n, 0.0, 0.003);
    let mut x = vec![0.0; n];
    for (rank, &i) in order.iter().enumerate() {
        x[i] = -1.0 + rank as f64 * 0.013 + jit[i];
    }
    let w = dr.uniform(m * rows * f, -1.0, 1.0);
    let pre = dr.uniform(n, -1.0, 1.0);
    let fwd = |xs: &[Vec<f64>]| -> Result<Vec<f64>> {
        let mut y = be.alloc(m * rows * f)?;
        let mut arg = be.alloc_idx(m * rows * f)?;
        be.max_time_fwd(m, t, rows, f, &be.upload(&xs[0])?, &mut y, &mut arg)?;
        be.download(&y)
    };
    let bwd = |xs: &[Vec<f64>], w: &[f64]| -> Result<Vec<Vec<f64>>> {
        let mut y = be.alloc(m * rows * f)?;
        let mut arg = be.alloc_idx(m * rows * f)?;
        be.max_time_fwd(m, t, rows, f, &be.upload(&xs[0])?, &mut y, &mut arg)?;
        let dy = be.upload(w)?;
        Ok(vec![added(be, &pre, |dx| {
            be.max_time_bwd(m, t, rows, f, &dy, &arg, dx)
        })?])
    };
    check_op(
        "max_time",
        format!("M={m} T={t} B={rows} F={f}; min gap 0.01"),
        vec![x],
        &[("x", Blocks::Replicas(m))],
        &w,
        &fwd,
        &bwd,
        per_block,
        5,
    )
}

/// relu with inputs at least 0.05 from 0.
pub fn check_relu<B: Backend<T = f64>>(be: &B, per_block: Option<usize>) -> Result<CheckResult> {
    let n = 41;
    let mut dr = Draw::new(6);
    let x = dr.away_from_zero(n, 0.05, 1.0);
    let w = dr.uniform(n, -1.0, 1.0);
    let pre = dr.uniform(n, -1.0, 1.0);
    let fwd = |xs: &[Vec<f64>]| -> Result<Vec<f64>> {
        let mut y = be.alloc(n)?;
        be.relu_fwd(n, &be.upload(&xs[0])?, &mut y)?;
        be.download(&y)
    };
    let bwd = |xs: &[Vec<f64>], w: &[f64]| -> Result<Vec<Vec<f64>>> {
        let mut y = be.alloc(n)?;
        be.relu_fwd(n, &be.upload(&xs[0])?, &mut y)?;
        let dy = be.upload(w)?;
        Ok(vec![added(be, &pre, |dx| be.relu_bwd(n, &y, &dy, dx))?])
    };
    check_op(
        "relu",
        format!("n={n}; |x| >= 0.05"),
        vec![x],
        &[("x", Blocks::Replicas(1))],
        &w,
        &fwd,
        &bwd,
        per_block,
        6,
    )
}

/// clamp(-1, 1) with inputs in ±[0, 2] at least 0.05 from ±1.
pub fn check_clamp<B: Backend<T = f64>>(be: &B, per_block: Option<usize>) -> Result<CheckResult> {
    let n = 43;
    let mut dr = Draw::new(7);
    let x: Vec<f64> = dr
        .away_from_zero(n, 0.05, 1.0)
        .into_iter()
        .map(|v| v.signum() + v)
        .collect();
    let w = dr.uniform(n, -1.0, 1.0);
    let pre = dr.uniform(n, -1.0, 1.0);
    let fwd = |xs: &[Vec<f64>]| -> Result<Vec<f64>> {
        let mut y = be.alloc(n)?;
        be.clamp_fwd(n, -1.0, 1.0, &be.upload(&xs[0])?, &mut y)?;
        be.download(&y)
    };
    let bwd = |xs: &[Vec<f64>], w: &[f64]| -> Result<Vec<Vec<f64>>> {
        let dy = be.upload(w)?;
        let xb = be.upload(&xs[0])?;
        Ok(vec![added(be, &pre, |dx| {
            be.clamp_bwd(n, -1.0, 1.0, &xb, &dy, dx)
        })?])
    };
    check_op(
        "clamp",
        format!("n={n}; ||x|-1| >= 0.05"),
        vec![x],
        &[("x", Blocks::Replicas(1))],
        &w,
        &fwd,
        &bwd,
        per_block,
        7,
    )
}

/// L1 loss of 3 replicas against a shared target; |r - target| >= 0.05.
pub fn check_l1<B: Backend<T = f64>>(be: &B, per_block: Option<usize>) -> Result<CheckResult> {
    let (m, n) = (3, 29);
    let mut dr = Draw::new(8);
    let target = dr.uniform(n, -1.0, 1.0);
    let diff = dr.away_from_zero(m * n, 0.05, 1.0);
    let r: Vec<f64> = (0..m * n).map(|i| target[i % n] + diff[i]).collect();
    let w = dr.uniform(m, 0.5, 2.0);
    let pre = dr.uniform(m * n, -1.0, 1.0);
    let tb = be.upload(&target)?;
    let fwd = |xs: &[Vec<f64>]| -> Result<Vec<f64>> {
        let mut loss = be.alloc(m)?;
        let mut scratch = be.alloc_bytes(be.l1_scratch(m, n))?;
        be.l1_fwd(m, n, &tb, &be.upload(&xs[0])?, &mut loss, &mut scratch)?;
        be.download(&loss)
    };
    let bwd = |xs: &[Vec<f64>], w: &[f64]| -> Result<Vec<Vec<f64>>> {
        let rb = be.upload(&xs[0])?;
        Ok(vec![added(be, &pre, |dr| be.l1_bwd(n, w, &tb, &rb, dr))?])
    };
    check_op(
        "l1",
        format!("M={m} n={n}; |r-x| >= 0.05"),
        vec![r],
        &[("r", Blocks::Replicas(m))],
        &w,
        &fwd,
        &bwd,
        per_block,
        8,
    )
}

/// Cross entropy of 2 replicas, B=4, C=5.
pub fn check_ce<B: Backend<T = f64>>(be: &B, per_block: Option<usize>) -> Result<CheckResult> {
    let (m, b, c) = (2, 4, 5);
    let mut dr = Draw::new(9);
    let logits = dr.uniform(m * b * c, -3.0, 3.0);
    let labels = be.upload_idx(&[0, 4, 2, 2])?;
    let w = dr.uniform(m, 0.5, 2.0);
    let pre = dr.uniform(m * b * c, -1.0, 1.0);
    let fwd = |xs: &[Vec<f64>]| -> Result<Vec<f64>> {
        let mut loss = be.alloc(m)?;
        be.ce_fwd(m, b, c, &be.upload(&xs[0])?, &labels, &mut loss)?;
        be.download(&loss)
    };
    let bwd = |xs: &[Vec<f64>], w: &[f64]| -> Result<Vec<Vec<f64>>> {
        let lb = be.upload(&xs[0])?;
        Ok(vec![added(be, &pre, |d| {
            be.ce_bwd(b, c, w, &lb, &labels, d)
        })?])
    };
    check_op(
        "ce",
        format!("M={m} B={b} C={c}"),
        vec![logits],
        &[("logits", Blocks::Replicas(m))],
        &w,
        &fwd,
        &bwd,
        per_block,
        9,
    )
}

/// The tiny model used by the whole-model check.
pub fn tiny_spec() -> ModelSpec {
    ModelSpec {
        features: 6,
        hidden: 4,
        fc1: 5,
        classes: 3,
        dropout: 0.3,
    }
}

/// Smallest distance of the base point to a kink of the model (relu at 0, clamp at ±1,
/// max ties, L1 at r = x); exact zeros from dropout stay zero under perturbation and are
/// skipped.
fn kink_margins<B: Backend<T = f64>>(
    be: &B,
    ws: &Workspace<B>,
    x: &[f64],
    spec: &ModelSpec,
) -> Result<[f64; 4]> {
    let (m, t, b) = (ws.m, ws.t, ws.b);
    let h2 = 2 * spec.hidden;
    let z1d = be.download(ws.relu_input())?;
    let relu = z1d
        .iter()
        .filter(|v| **v != 0.0)
        .fold(f64::INFINITY, |a, v| a.min(v.abs()));
    let rpre = be.download(ws.clamp_input())?;
    let clamp = rpre
        .iter()
        .fold(f64::INFINITY, |a, v| a.min((v.abs() - 1.0).abs()));
    let rec = be.download(&ws.rec)?;
    let n = x.len();
    let l1 = rec
        .iter()
        .enumerate()
        .fold(f64::INFINITY, |a, (i, v)| a.min((v - x[i % n]).abs()));
    let xs_p = be.download(ws.pool_input())?;
    let mut gap = f64::INFINITY;
    for r in 0..m {
        for j in 0..b * h2 {
            let mut col: Vec<f64> = (0..t).map(|ti| xs_p[(r * t + ti) * b * h2 + j]).collect();
            col.sort_by(|a, b| b.total_cmp(a));
            let top = col[0];
            if t > 1 && col[1] == top && top != 0.0 {
                gap = 0.0;
            }
            if let Some(next) = col.iter().find(|&&v| v < top) {
                gap = gap.min(top - next);
            }
        }
    }
    Ok([relu, clamp, gap, l1])
}

/// The whole model (tiny widths, 2 replicas with different λ, dropout on at a fixed step):
/// gradient of sum_r (ce_r + λ_r l1_r) with respect to every parameter.
pub fn check_model<B: Backend<T = f64>>(be: &B, per_block: Option<usize>) -> Result<CheckResult> {
    let spec = tiny_spec();
    let (t, b) = (6, 3);
    let lambdas = [0.7, 3.0];
    let mode = Mode::Train { step: 3 };
    let y = be.upload_idx(&[2, 0, 1])?;
    let mut chosen = None;
    for attempt in 0..20u64 {
        let seeds = [100 + 2 * attempt, 101 + 2 * attempt];
        let mut dr = Draw::new(1000 + attempt);
        let x = dr.uniform(t * b * spec.features, -1.0, 1.0);
        // larger fc2 weights so that some reconstructions are clamped
        let mut params = uniform_params(&spec, &seeds);
        for v in params[model::p::FC2_W].iter_mut() {
            *v *= 6.0;
        }
        let model = Model::from_host(be, spec, &seeds, &params)?;
        let mut ws = Workspace::new(be, &spec, 2, t, b)?;
        let xb = be.upload(&x)?;
        model::forward(be, &model, &mut ws, &xb, &y, mode)?;
        let margins = kink_margins(be, &ws, &x, &spec)?;
        if margins.iter().all(|&v| v >= 1e-3) {
            chosen = Some((seeds, x, params, margins, attempt));
            break;
        }
    }
    let Some((seeds, x, params, margins, attempt)) = chosen else {
        return Err(crate::Error::Numeric(
            "gradcheck: no base point away from kinks in 20 tries".into(),
        ));
    };
    let xb = be.upload(&x)?;
    let loss = |ps: &[Vec<f64>]| -> Result<f64> {
        let model = Model::from_host(be, spec, &seeds, ps)?;
        let mut ws = Workspace::new(be, &spec, 2, t, b)?;
        let l = model::forward(be, &model, &mut ws, &xb, &y, mode)?;
        Ok(l.total(&lambdas).iter().sum())
    };
    let model = Model::from_host(be, spec, &seeds, &params)?;
    let mut ws = Workspace::new(be, &spec, 2, t, b)?;
    model::forward(be, &model, &mut ws, &xb, &y, mode)?;
    let mut grads = Grads::new(be, &model)?;
    model::backward(be, &model, &mut ws, &xb, &y, mode, &lambdas, &mut grads)?;
    let analytic: Vec<Vec<f64>> = grads
        .bufs
        .iter()
        .map(|g| be.download(g))
        .collect::<Result<Vec<_>>>()?;
    // every parameter; an LSTM one `[M, 4H, X]` in gate blocks
    let names: Vec<(String, Blocks)> = spec
        .params()
        .iter()
        .map(|ps| {
            let blocks = if ps.name.starts_with("lstm") {
                Blocks::Gates(seeds.len())
            } else {
                Blocks::Replicas(seeds.len())
            };
            (ps.name.clone(), blocks)
        })
        .collect();
    let tensors: Vec<Tensor> = names.iter().map(|(n, b)| (n.as_str(), *b)).collect();
    let numeric = numeric_grads(&params, &tensors, &loss, per_block, 1000 + attempt)?;
    let note = format!(
        "F=6 H=4 D=5 C=3 T={t} B={b} M=2 λ={lambdas:?} dropout 0.3 on; base point #{attempt}; kink margins relu {:.1e} clamp {:.1e} max-gap {:.1e} l1 {:.1e}",
        margins[0], margins[1], margins[2], margins[3]
    );
    let op = if per_block.is_some() {
        "model (every parameter, sampled)"
    } else {
        "model (all parameters)"
    };
    let samples = sampled(&params, &tensors, &numeric);
    let (analytic, numeric) = gather(&analytic, &numeric);
    let mut r = compare(op, &analytic, &numeric, note);
    r.total = params.iter().map(Vec::len).sum();
    r.sampled = samples;
    Ok(r)
}

/// Parameters uniform in ±(the spec's init bound), per replica from its seed, drawn from the
/// Philox test stream (`rng::init_uniform`): the check's weights do not change when the
/// model's initialisation does.
fn uniform_params(spec: &ModelSpec, seeds: &[u64]) -> Vec<Vec<f64>> {
    spec.params()
        .iter()
        .enumerate()
        .map(|(k, ps)| {
            seeds
                .iter()
                .flat_map(|&s| rng::init_uniform(s, k as u32, ps.numel(), -ps.bound, ps.bound))
                .collect()
        })
        .collect()
}
