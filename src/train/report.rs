//! The run's pictures and TensorBoard scalars, from the metrics rows and the final results.

use super::checkpoint::Metrics;
use super::plots::{Curve, LambdaPoint, lambda_plot, line_plot};
use super::results::{ResultRow, mean_sd};
use super::tensorboard::EventWriter;
use crate::error::Result;
use std::path::{Path, PathBuf};

/// The TensorBoard tag prefix of a replica.
fn tag(row: &Metrics) -> String {
    format!("lambda_{}_seed_{}", row.lambda, row.seed)
}

/// Write one epoch's rows as scalars (step = epoch).
pub fn tensorboard_epoch(w: &mut EventWriter, rows: &[Metrics]) -> Result<()> {
    for r in rows {
        let t = tag(r);
        let e = r.epoch as i64;
        for (name, v) in [
            ("train/loss", r.train_loss),
            ("train/ce", r.train_ce),
            ("train/l1", r.train_l1),
            ("train/acc", r.train_acc),
            ("val/loss", r.val_loss),
            ("val/ce", r.val_ce),
            ("val/l1", r.val_l1),
            ("val/acc", r.val_acc),
            ("lr", r.lr),
        ] {
            w.scalar(&format!("{t}/{name}"), e, v)?;
        }
    }
    w.flush()
}

/// PNG plots into `dir`: train/validation loss and accuracy per replica over epochs, and test
/// accuracy against λ (mean ± sd across seeds). Returns the files written.
pub fn plots(dir: &Path, metrics: &[Metrics], results: &[ResultRow]) -> Result<Vec<PathBuf>> {
    let mut keys: Vec<(f64, u64)> = Vec::new();
    for m in metrics {
        if !keys.contains(&(m.lambda, m.seed)) {
            keys.push((m.lambda, m.seed));
        }
    }
    let curves = |f: &dyn Fn(&Metrics) -> f64| -> Vec<Curve> {
        keys.iter()
            .map(|&(l, s)| Curve {
                label: format!("λ={l} seed={s}"),
                points: metrics
                    .iter()
                    .filter(|m| m.lambda == l && m.seed == s)
                    .map(|m| (m.epoch as f64, f(m)))
                    .collect(),
            })
            .collect()
    };
    let mut out = Vec::new();
    for (file, title, ylabel, f) in [
        (
            "train_loss.png",
            "training loss (CE + λ·L1)",
            "loss",
            &(|m: &Metrics| m.train_loss) as &dyn Fn(&Metrics) -> f64,
        ),
        (
            "val_loss.png",
            "validation loss (CE + λ·L1)",
            "loss",
            &|m: &Metrics| m.val_loss,
        ),
        (
            "train_acc.png",
            "training accuracy",
            "accuracy",
            &|m: &Metrics| m.train_acc,
        ),
        (
            "val_acc.png",
            "validation accuracy",
            "accuracy",
            &|m: &Metrics| m.val_acc,
        ),
    ] {
        let p = dir.join(file);
        line_plot(&p, title, "epoch", ylabel, &curves(f))?;
        out.push(p);
    }
    let mut lambdas: Vec<f64> = Vec::new();
    for r in results {
        if !lambdas.contains(&r.lambda) {
            lambdas.push(r.lambda);
        }
    }
    // replicas without weights have no test accuracy: they are left out (a λ with none too)
    let points: Vec<LambdaPoint> = lambdas
        .iter()
        .filter_map(|&l| {
            let accs: Vec<f64> = results
                .iter()
                .filter(|r| r.lambda == l)
                .filter_map(|r| r.test_acc)
                .collect();
            let (mean, std) = mean_sd(&accs);
            (!accs.is_empty()).then_some(LambdaPoint {
                lambda: l,
                mean,
                std,
                n: accs.len(),
            })
        })
        .collect();
    let p = dir.join("test_acc_vs_lambda.png");
    lambda_plot(
        &p,
        "test accuracy of the best-validation weights",
        "test accuracy",
        &points,
    )?;
    out.push(p);
    Ok(out)
}
