//! Profiles for people: the per-kernel table (`recaux bench --profile`, `recaux train
//! --profile`) and the Chrome trace-event JSON of launches (`recaux train --profile`), from
//! what a backend collected ([`crate::backend::Backend::take_profile`],
//! [`crate::backend::Backend::take_trace`]).
//!
//! Rows are grouped by op (the `Backend` method that launched them), with the op's kernels
//! under it: the CPU has one row per op (`<op>_<dtype>`), a GPU one per kernel, so CPU and GPU
//! tables line up by op.

use crate::backend::{KernelTiming, LaunchEvent};

/// One op's rows of a profile: its kernels, most expensive first.
pub struct OpRows<'a> {
    pub op: &'a str,
    pub total_ms: f64,
    pub kernels: Vec<&'a KernelTiming>,
}

/// Profile rows grouped by op, ops and kernels by total time.
pub fn group_by_op(rows: &[KernelTiming]) -> Vec<OpRows<'_>> {
    let mut ops: Vec<OpRows> = Vec::new();
    for k in rows {
        let op = if k.op.is_empty() { "-" } else { k.op.as_str() };
        match ops.iter_mut().find(|o| o.op == op) {
            Some(o) => {
                o.total_ms += k.total_ms;
                o.kernels.push(k);
            }
            None => ops.push(OpRows {
                op,
                total_ms: k.total_ms,
                kernels: vec![k],
            }),
        }
    }
    for o in &mut ops {
        o.kernels.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
    }
    ops.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
    ops
}

/// A profile over `steps` steps as a text table, CSV and JSON (the `ops` array).
pub struct Table {
    pub text: String,
    pub csv: String,
    pub ops: serde_json::Value,
}

/// The table of `rows` over `steps` steps: per op and kernel, calls, total ms, mean µs per
/// call, share of the total, ms per step.
pub fn table(rows: &[KernelTiming], steps: usize) -> Table {
    let steps = steps.max(1) as f64;
    let total: f64 = rows.iter().map(|k| k.total_ms).sum();
    let share = |ms: f64| if total > 0.0 { ms / total } else { 0.0 };
    let mut text = format!(
        "{:<34} {:>8} {:>11} {:>10} {:>7} {:>10}\n",
        "op / kernel", "calls", "total ms", "mean us", "share", "ms/step"
    );
    let mut csv = String::from("op,kernel,calls,total_ms,mean_us,share,ms_per_step\n");
    let mut ops = Vec::new();
    for o in group_by_op(rows) {
        text.push_str(&format!(
            "{:<34} {:>8} {:>11.3} {:>10} {:>6.1}% {:>10.3}\n",
            o.op,
            "",
            o.total_ms,
            "",
            100.0 * share(o.total_ms),
            o.total_ms / steps
        ));
        for k in &o.kernels {
            let mean_us = k.total_ms * 1e3 / k.calls.max(1) as f64;
            text.push_str(&format!(
                "  {:<32} {:>8} {:>11.3} {:>10.2} {:>6.1}% {:>10.3}\n",
                k.kernel,
                k.calls,
                k.total_ms,
                mean_us,
                100.0 * share(k.total_ms),
                k.total_ms / steps
            ));
            csv.push_str(&format!(
                "{},{},{},{:.6},{:.3},{:.6},{:.6}\n",
                o.op,
                k.kernel,
                k.calls,
                k.total_ms,
                mean_us,
                share(k.total_ms),
                k.total_ms / steps
            ));
        }
        ops.push(serde_json::json!({
            "op": o.op,
            "total_ms": o.total_ms,
            "kernels": o.kernels,
        }));
    }
    Table {
        text,
        csv,
        ops: serde_json::Value::Array(ops),
    }
}

/// The launches as Chrome trace-event JSON (opens in Perfetto or chrome://tracing): one
/// complete event (`"ph": "X"`) per launch, named after its kernel, its op as the category
/// and in `args`, times in microseconds.
pub fn chrome_trace(backend: &str, events: &[LaunchEvent]) -> serde_json::Value {
    let t0 = events
        .iter()
        .map(|e| e.start_us)
        .fold(f64::INFINITY, f64::min);
    let t0 = if t0.is_finite() { t0 } else { 0.0 };
    let evs: Vec<serde_json::Value> = events
        .iter()
        .map(|e| {
            serde_json::json!({
                "name": e.kernel,
                "cat": e.op,
                "ph": "X",
                "ts": e.start_us - t0,
                "dur": e.dur_us,
                "pid": 1,
                "tid": 1,
                "args": { "op": e.op },
            })
        })
        .collect();
    serde_json::json!({
        "traceEvents": evs,
        "displayTimeUnit": "ms",
        "otherData": { "backend": backend },
    })
}
