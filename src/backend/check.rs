//! The contract of every op, checked ONCE, in front of the backends: buffer lengths, replica
//! counts, label and argmax ranges, the few scalar ranges (dropout p, Adam's step). The
//! blanket `impl Backend for X: Exec` calls the function of the op's name here before it
//! dispatches, so a bad call gets the same error on every backend and no backend sees it
//! (they only `debug_assert!`). Error messages name the op and the argument, never the
//! backend.

use super::{
    AdamSpec, AdamTable, AdamTensor, Backend, DropoutSpec, GemmSpec, GuardState, IdxBounds,
    LstmGrads, LstmParams, LstmShape, MAX_REPLICAS, RECORD_COLS, Slot, StepVals,
};
use crate::error::{Error, Result};

fn len_is(op: &str, arg: &str, got: usize, want: usize) -> Result<()> {
    if got != want {
        return Err(Error::shape(format!(
            "{op}: `{arg}` has {got} elements, expected {want}"
        )));
    }
    Ok(())
}

fn buf<B: Backend + ?Sized>(be: &B, op: &str, arg: &str, b: &B::Buf, want: usize) -> Result<()> {
    len_is(op, arg, be.len(b), want)
}

/// 1 <= m <= MAX_REPLICAS.
fn replicas(op: &str, m: usize) -> Result<()> {
    if m == 0 || m > MAX_REPLICAS {
        return Err(Error::shape(format!(
            "{op}: {m} replicas; every backend takes 1..={MAX_REPLICAS}"
        )));
    }
    Ok(())
}

/// Every value of an index buffer is known to lie in `0..n`.
fn indices(op: &str, arg: &str, bounds: IdxBounds, n: usize, what: &str) -> Result<()> {
    if bounds.within(n) {
        return Ok(());
    }
    Err(Error::shape(match bounds {
        IdxBounds::Known(lo, hi) => {
            format!("{op}: `{arg}` holds values in {lo}..={hi}, outside 0..{n} ({what})")
        }
        _ => format!("{op}: `{arg}` holds values the host does not know ({what})"),
    }))
}

/// A host copy into a buffer of another length.
pub(super) fn write(got: usize, want: usize, op: &str) -> Result<()> {
    len_is(op, "data", want, got)
}

/// `need` bytes fit into `have`.
pub(super) fn fits(op: &str, arg: &str, need: usize, have: usize) -> Result<()> {
    if need > have {
        return Err(Error::shape(format!(
            "{op}: `{arg}` has {have} bytes, {need} are needed"
        )));
    }
    Ok(())
}

/// Raw memory of at least `need` bytes.
fn bytes_at_least<B: Backend + ?Sized>(
    be: &B,
    op: &str,
    arg: &str,
    b: &B::Bytes,
    need: usize,
) -> Result<()> {
    fits(op, arg, need, be.bytes_len(b))
}

/// A [`StepVals`] buffer.
fn step_vals<B: Backend + ?Sized>(be: &B, op: &str, arg: &str, b: &B::Bytes) -> Result<()> {
    bytes_at_least(be, op, arg, b, StepVals::BYTES)
}

pub fn dropout_fwd<B: Backend + ?Sized>(
    be: &B,
    d: &DropoutSpec<B>,
    n: usize,
    x: &B::Buf,
    x_shared: bool,
    y: &B::Buf,
) -> Result<()> {
    dropout_spec(be, "dropout_fwd", d)?;
    let m = d.seeds.len();
    buf(be, "dropout_fwd", "x", x, if x_shared { n } else { m * n })?;
    buf(be, "dropout_fwd", "y", y, m * n)
}

pub fn dropout_bwd<B: Backend + ?Sized>(
    be: &B,
    d: &DropoutSpec<B>,
    n: usize,
    dy: &B::Buf,
    dx: &B::Buf,
) -> Result<()> {
    dropout_spec(be, "dropout_bwd", d)?;
    let m = d.seeds.len();
    buf(be, "dropout_bwd", "dy", dy, m * n)?;
    buf(be, "dropout_bwd", "dx", dx, m * n)
}

fn dropout_spec<B: Backend + ?Sized>(be: &B, op: &str, d: &DropoutSpec<B>) -> Result<()> {
    if !(0.0..1.0).contains(&d.p) {
        return Err(Error::config(
            "dropout.p",
            format!("{op}: {} is not in [0, 1)", d.p),
        ));
    }
    if let Some(v) = d.step_at {
        step_vals(be, op, "step_at", v)?;
    }
    replicas(op, d.seeds.len())
}

pub fn gemm<B: Backend + ?Sized>(
    be: &B,
    s: &GemmSpec,
    a: &B::Buf,
    b: &B::Buf,
    bias: Option<&B::Buf>,
    c: &B::Buf,
) -> Result<()> {
    let (mk, kn, mn) = (s.m * s.k, s.k * s.n, s.m * s.n);
    buf(
        be,
        "gemm",
        "a",
        a,
        if s.a_shared { mk } else { s.batch * mk },
    )?;
    buf(be, "gemm", "b", b, s.batch * kn)?;
    buf(be, "gemm", "c", c, s.batch * mn)?;
    if let Some(bias) = bias {
        buf(be, "gemm", "bias", bias, s.batch * s.n)?;
    }
    Ok(())
}

pub fn gemm_bias_grad<B: Backend + ?Sized>(
    be: &B,
    batch: usize,
    rows: usize,
    cols: usize,
    dy: &B::Buf,
    db: &B::Buf,
) -> Result<()> {
    buf(be, "gemm_bias_grad", "dy", dy, batch * rows * cols)?;
    buf(be, "gemm_bias_grad", "db", db, batch * cols)
}

fn lstm_params<B: Backend + ?Sized>(
    be: &B,
    op: &str,
    s: &LstmShape,
    p: &LstmParams<B>,
) -> Result<()> {
    if s.t == 0 || s.b == 0 || s.h == 0 {
        return Err(Error::shape(format!(
            "{op}: empty shape {s:?} (M, T, B and H must be at least 1)"
        )));
    }
    replicas(op, s.m)?;
    for d in 0..2 {
        buf(be, op, "w_ih", p.w_ih[d], s.m * 4 * s.h * s.i)?;
        buf(be, op, "w_hh", p.w_hh[d], s.m * 4 * s.h * s.h)?;
        buf(be, op, "b_ih", p.b_ih[d], s.m * 4 * s.h)?;
        buf(be, op, "b_hh", p.b_hh[d], s.m * 4 * s.h)?;
    }
    Ok(())
}

/// `saved` has exactly the bytes the backend asked for, `scratch` at least.
fn lstm_mem<B: Backend + ?Sized>(
    be: &B,
    op: &str,
    s: &LstmShape,
    (saved, scratch): (&B::Bytes, &B::Bytes),
) -> Result<()> {
    // No byte counts in these messages: they are the backend's own (its layout), and a bad
    // call gets the same error on every backend.
    let need = be.lstm_sizes(s);
    if be.bytes_len(saved) != need.saved {
        return Err(Error::shape(format!(
            "{op}: `saved` is not the size `lstm_sizes` gives for {s:?}"
        )));
    }
    if be.bytes_len(scratch) < need.scratch {
        return Err(Error::shape(format!(
            "{op}: `scratch` is smaller than `lstm_sizes` gives for {s:?}"
        )));
    }
    Ok(())
}

pub fn lstm_fwd<B: Backend + ?Sized>(
    be: &B,
    s: &LstmShape,
    x: &B::Buf,
    p: &LstmParams<B>,
    y: &B::Buf,
    mem: (&B::Bytes, &B::Bytes),
) -> Result<()> {
    lstm_params(be, "lstm_fwd", s, p)?;
    buf(be, "lstm_fwd", "x", x, s.x_len())?;
    buf(be, "lstm_fwd", "y", y, s.y_len())?;
    lstm_mem(be, "lstm_fwd", s, mem)
}

#[allow(clippy::too_many_arguments)]
pub fn lstm_bwd<B: Backend + ?Sized>(
    be: &B,
    s: &LstmShape,
    x: &B::Buf,
    p: &LstmParams<B>,
    y: &B::Buf,
    mem: (&B::Bytes, &B::Bytes),
    dy: &B::Buf,
    dx: Option<&B::Buf>,
    g: &LstmGrads<B>,
) -> Result<()> {
    let op = "lstm_bwd";
    lstm_params(be, op, s, p)?;
    buf(be, op, "x", x, s.x_len())?;
    buf(be, op, "y", y, s.y_len())?;
    buf(be, op, "dy", dy, s.y_len())?;
    lstm_mem(be, op, s, mem)?;
    for d in 0..2 {
        buf(be, op, "dw_ih", g.w_ih[d], s.m * 4 * s.h * s.i)?;
        buf(be, op, "dw_hh", g.w_hh[d], s.m * 4 * s.h * s.h)?;
        buf(be, op, "db_ih", g.b_ih[d], s.m * 4 * s.h)?;
        buf(be, op, "db_hh", g.b_hh[d], s.m * 4 * s.h)?;
    }
    if let Some(dx) = dx {
        buf(be, op, "dx", dx, s.x_len())?;
    }
    Ok(())
}

fn max_time_t(op: &str, t: usize) -> Result<()> {
    if t == 0 || t > i32::MAX as usize {
        return Err(Error::shape(format!(
            "{op}: T = {t} steps; it must be in 1..={}",
            i32::MAX
        )));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub fn max_time_fwd<B: Backend + ?Sized>(
    be: &B,
    m: usize,
    t: usize,
    rows: usize,
    f: usize,
    x: &B::Buf,
    y: &B::Buf,
    arg_len: usize,
) -> Result<()> {
    let op = "max_time_fwd";
    max_time_t(op, t)?;
    buf(be, op, "x", x, m * t * rows * f)?;
    buf(be, op, "y", y, m * rows * f)?;
    len_is(op, "arg", arg_len, m * rows * f)
}

#[allow(clippy::too_many_arguments)]
pub fn max_time_bwd<B: Backend + ?Sized>(
    be: &B,
    m: usize,
    t: usize,
    rows: usize,
    f: usize,
    dy: &B::Buf,
    arg: (usize, IdxBounds),
    dx: &B::Buf,
) -> Result<()> {
    let op = "max_time_bwd";
    max_time_t(op, t)?;
    buf(be, op, "dy", dy, m * rows * f)?;
    buf(be, op, "dx", dx, m * t * rows * f)?;
    len_is(op, "arg", arg.0, m * rows * f)?;
    indices(op, "arg", arg.1, t, "the argmax max_time_fwd writes")
}

/// Every buffer of an elementwise op has `n` elements.
fn all_n<B: Backend + ?Sized>(be: &B, op: &str, n: usize, bufs: &[(&str, &B::Buf)]) -> Result<()> {
    bufs.iter().try_for_each(|(arg, b)| buf(be, op, arg, b, n))
}

pub fn relu_fwd<B: Backend + ?Sized>(be: &B, n: usize, x: &B::Buf, y: &B::Buf) -> Result<()> {
    all_n(be, "relu_fwd", n, &[("x", x), ("y", y)])
}

pub fn relu_bwd<B: Backend + ?Sized>(
    be: &B,
    n: usize,
    y: &B::Buf,
    dy: &B::Buf,
    dx: &B::Buf,
) -> Result<()> {
    all_n(be, "relu_bwd", n, &[("y", y), ("dy", dy), ("dx", dx)])
}

pub fn clamp_fwd<B: Backend + ?Sized>(be: &B, n: usize, x: &B::Buf, y: &B::Buf) -> Result<()> {
    all_n(be, "clamp_fwd", n, &[("x", x), ("y", y)])
}

pub fn clamp_bwd<B: Backend + ?Sized>(
    be: &B,
    n: usize,
    x: &B::Buf,
    dy: &B::Buf,
    dx: &B::Buf,
) -> Result<()> {
    all_n(be, "clamp_bwd", n, &[("x", x), ("dy", dy), ("dx", dx)])
}

fn l1_n(op: &str, n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::shape(format!(
            "{op}: n = 0 elements (the mean needs at least one)"
        )));
    }
    Ok(())
}

pub fn l1_fwd<B: Backend + ?Sized>(
    be: &B,
    m: usize,
    n: usize,
    target: &B::Buf,
    r: &B::Buf,
    loss: &B::Buf,
    scratch: &B::Bytes,
) -> Result<()> {
    let op = "l1_fwd";
    replicas(op, m)?;
    l1_n(op, n)?;
    buf(be, op, "target", target, n)?;
    buf(be, op, "r", r, m * n)?;
    buf(be, op, "loss", loss, m)?;
    bytes_at_least(be, op, "scratch", scratch, be.l1_scratch(m, n))
}

pub fn l1_bwd<B: Backend + ?Sized>(
    be: &B,
    n: usize,
    scale: &[f64],
    target: &B::Buf,
    r: &B::Buf,
    dr: &B::Buf,
) -> Result<()> {
    let op = "l1_bwd";
    let m = scale.len();
    replicas(op, m)?;
    l1_n(op, n)?;
    buf(be, op, "target", target, n)?;
    buf(be, op, "r", r, m * n)?;
    buf(be, op, "dr", dr, m * n)
}

fn ce_shape(op: &str, b: usize, c: usize, labels_len: usize, bounds: IdxBounds) -> Result<()> {
    if b == 0 || c == 0 {
        return Err(Error::shape(format!(
            "{op}: B = {b}, C = {c} (both must be at least 1)"
        )));
    }
    len_is(op, "labels", labels_len, b)?;
    indices(op, "labels", bounds, c, "class indices")
}

#[allow(clippy::too_many_arguments)]
pub fn ce_fwd<B: Backend + ?Sized>(
    be: &B,
    m: usize,
    b: usize,
    c: usize,
    logits: &B::Buf,
    labels: (usize, IdxBounds),
    loss: &B::Buf,
) -> Result<()> {
    let op = "ce_fwd";
    replicas(op, m)?;
    ce_shape(op, b, c, labels.0, labels.1)?;
    buf(be, op, "logits", logits, m * b * c)?;
    buf(be, op, "loss", loss, m)
}

#[allow(clippy::too_many_arguments)]
pub fn ce_bwd<B: Backend + ?Sized>(
    be: &B,
    b: usize,
    c: usize,
    scale: &[f64],
    logits: &B::Buf,
    labels: (usize, IdxBounds),
    dlogits: &B::Buf,
) -> Result<()> {
    let op = "ce_bwd";
    let m = scale.len();
    replicas(op, m)?;
    ce_shape(op, b, c, labels.0, labels.1)?;
    buf(be, op, "logits", logits, m * b * c)?;
    buf(be, op, "dlogits", dlogits, m * b * c)
}

/// Adam's tensors: `[M, numel]` each, the four buffers of one tensor of equal length.
pub fn adam_tensors<B: Backend + ?Sized>(
    be: &B,
    m: usize,
    tensors: &[AdamTensor<B>],
) -> Result<()> {
    replicas("adam", m)?;
    for (k, t) in tensors.iter().enumerate() {
        let n = be.len(t.param);
        if n % m != 0 {
            return Err(Error::shape(format!(
                "adam: tensor {k}: {n} elements is not a multiple of M = {m}"
            )));
        }
        len_is("adam", &format!("tensors[{k}].grad"), be.len(t.grad), n)?;
        len_is("adam", &format!("tensors[{k}].m"), be.len(t.m), n)?;
        len_is("adam", &format!("tensors[{k}].v"), be.len(t.v), n)?;
    }
    Ok(())
}

/// A table built for `m` replicas of `tensors` tensors.
fn table_for<B: Backend + ?Sized>(
    op: &str,
    t: &AdamTable<B>,
    m: usize,
    tensors: usize,
) -> Result<()> {
    if t.m != m || t.tensors != tensors {
        return Err(Error::shape(format!(
            "{op}: the table was built for {} tensors of {} replicas, not {tensors} of {m}",
            t.tensors, t.m
        )));
    }
    Ok(())
}

pub fn adam<B: Backend + ?Sized>(be: &B, s: &AdamSpec<B>, tensors: &[AdamTensor<B>]) -> Result<()> {
    let m = s.lr.len();
    if s.step == 0 {
        return Err(Error::config(
            "adam.step",
            "adam: the step number starts at 1",
        ));
    }
    adam_tensors(be, m, tensors)?;
    if let Some(v) = s.vals {
        step_vals(be, "adam", "vals", v)?;
    }
    if let Some(t) = s.table {
        table_for("adam", t, m, tensors.len())?;
    }
    Ok(())
}

pub fn input<B: Backend + ?Sized>(
    be: &B,
    slot: &Slot<B>,
    x: &B::Buf,
    y_len: usize,
    vals: &B::Bytes,
) -> Result<()> {
    let op = "input";
    if slot.labels == IdxBounds::Unknown {
        return Err(Error::shape(format!(
            "{op}: the slot holds no staged batch"
        )));
    }
    buf(be, op, "x", x, slot.layout.n)?;
    len_is(op, "y", y_len, slot.layout.b)?;
    step_vals(be, op, "vals", vals)
}

/// A record ring for `m` replicas: `[rows, M, RECORD_COLS]`, rows >= 1.
fn record<B: Backend + ?Sized>(be: &B, op: &str, m: usize, rec: &B::Buf) -> Result<()> {
    let n = be.len(rec);
    if n == 0 || n % (m * RECORD_COLS) != 0 {
        return Err(Error::shape(format!(
            "{op}: `record` has {n} elements, not rows x {m} replicas x {RECORD_COLS}"
        )));
    }
    Ok(())
}

pub fn score<B: Backend + ?Sized>(
    be: &B,
    (m, b, c): (usize, usize, usize),
    logits: &B::Buf,
    labels: (usize, IdxBounds),
    loss: [&B::Buf; 2],
    vals: &B::Bytes,
    rec: &B::Buf,
) -> Result<()> {
    let op = "score";
    replicas(op, m)?;
    ce_shape(op, b, c, labels.0, labels.1)?;
    buf(be, op, "logits", logits, m * b * c)?;
    buf(be, op, "ce", loss[0], m)?;
    buf(be, op, "l1", loss[1], m)?;
    step_vals(be, op, "vals", vals)?;
    record(be, op, m, rec)
}

pub fn guard<B: Backend + ?Sized>(
    be: &B,
    lambdas: &[f64],
    loss: [&B::Buf; 2],
    grads: &[&mut B::Buf],
    table: &AdamTable<B>,
    st: &GuardState<'_, B>,
) -> Result<()> {
    let op = "guard";
    let m = lambdas.len();
    replicas(op, m)?;
    buf(be, op, "ce", loss[0], m)?;
    buf(be, op, "l1", loss[1], m)?;
    table_for(op, table, m, grads.len())?;
    for (k, g) in grads.iter().enumerate() {
        let n = be.len(g);
        if n % m != 0 {
            return Err(Error::shape(format!(
                "{op}: gradient {k}: {n} elements is not a multiple of M = {m}"
            )));
        }
    }
    bytes_at_least(be, op, "active", st.active, 4 * m)?;
    let need = be.guard_scratch(table.entries());
    bytes_at_least(be, op, "scratch", st.scratch, need)?;
    step_vals(be, op, "vals", st.vals)?;
    record(be, op, m, st.record)
}
