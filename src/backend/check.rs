//! The contract of every op, checked ONCE, in front of the backends: buffer lengths, replica
//! counts, label and argmax ranges, the few scalar ranges (dropout p, Adam's step). The
//! blanket `impl Backend for X: Exec` calls the function of the op's name here before it
//! dispatches, so a bad call gets the same error on every backend and no backend sees it
//! (they only `debug_assert!`). Error messages name the op and the argument, never the
//! backend.

use super::{
    AdamSpec, AdamTensor, Backend, DropoutSpec, GemmSpec, IdxBounds, LstmGrads, LstmParams,
    LstmShape, MAX_REPLICAS,
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

pub fn dropout_fwd<B: Backend + ?Sized>(
    be: &B,
    d: &DropoutSpec,
    n: usize,
    x: &B::Buf,
    x_shared: bool,
    y: &B::Buf,
) -> Result<()> {
    dropout_spec("dropout_fwd", d)?;
    let m = d.seeds.len();
    buf(be, "dropout_fwd", "x", x, if x_shared { n } else { m * n })?;
    buf(be, "dropout_fwd", "y", y, m * n)
}

pub fn dropout_bwd<B: Backend + ?Sized>(
    be: &B,
    d: &DropoutSpec,
    n: usize,
    dy: &B::Buf,
    dx: &B::Buf,
) -> Result<()> {
    dropout_spec("dropout_bwd", d)?;
    let m = d.seeds.len();
    buf(be, "dropout_bwd", "dy", dy, m * n)?;
    buf(be, "dropout_bwd", "dx", dx, m * n)
}

fn dropout_spec(op: &str, d: &DropoutSpec) -> Result<()> {
    if !(0.0..1.0).contains(&d.p) {
        return Err(Error::config(
            "dropout.p",
            format!("{op}: {} is not in [0, 1)", d.p),
        ));
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

pub fn lstm_fwd<B: Backend + ?Sized>(
    be: &B,
    s: &LstmShape,
    x: &B::Buf,
    p: &LstmParams<B>,
    y: &B::Buf,
    saved: &B::Buf,
) -> Result<()> {
    lstm_params(be, "lstm_fwd", s, p)?;
    buf(be, "lstm_fwd", "x", x, s.x_len())?;
    buf(be, "lstm_fwd", "y", y, s.y_len())?;
    buf(be, "lstm_fwd", "saved", saved, s.saved_len())
}

#[allow(clippy::too_many_arguments)]
pub fn lstm_bwd<B: Backend + ?Sized>(
    be: &B,
    s: &LstmShape,
    x: &B::Buf,
    p: &LstmParams<B>,
    y: &B::Buf,
    saved: &B::Buf,
    dy: &B::Buf,
    dx: Option<&B::Buf>,
    g: &LstmGrads<B>,
) -> Result<()> {
    let op = "lstm_bwd";
    lstm_params(be, op, s, p)?;
    buf(be, op, "x", x, s.x_len())?;
    buf(be, op, "y", y, s.y_len())?;
    buf(be, op, "dy", dy, s.y_len())?;
    buf(be, op, "saved", saved, s.saved_len())?;
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
) -> Result<()> {
    let op = "l1_fwd";
    replicas(op, m)?;
    l1_n(op, n)?;
    buf(be, op, "target", target, n)?;
    buf(be, op, "r", r, m * n)?;
    buf(be, op, "loss", loss, m)
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

pub fn adam<B: Backend + ?Sized>(be: &B, s: &AdamSpec, tensors: &[AdamTensor<B>]) -> Result<()> {
    let m = s.lr.len();
    replicas("adam", m)?;
    if s.step == 0 {
        return Err(Error::config(
            "adam.step",
            "adam: the step number starts at 1",
        ));
    }
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
