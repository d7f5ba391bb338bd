//! The final table: each replica's best epoch, validation and test numbers, and the mean and
//! spread across seeds per λ (terminal text and `results.md`).

use super::checkpoint::Best;
use super::config::Replica;
use super::trainer::EvalResult;

/// One replica's final numbers.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ResultRow {
    pub lambda: f64,
    pub seed: u64,
    pub best_epoch: Option<usize>,
    pub val_acc: f64,
    pub test_acc: f64,
    pub test_ce: f64,
    pub test_l1: f64,
    pub stopped: Option<String>,
}

/// Mean and sample standard deviation (0 for one value).
pub fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n.max(1.0);
    if v.len() < 2 {
        return (mean, 0.0);
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// Rows from the run's replicas, best records, stop reasons and test evaluation.
pub fn rows(
    replicas: &[Replica],
    best: &[Best],
    stopped: &[Option<String>],
    test: &EvalResult,
) -> Vec<ResultRow> {
    replicas
        .iter()
        .enumerate()
        .map(|(r, rep)| ResultRow {
            lambda: rep.lambda,
            seed: rep.seed,
            best_epoch: best[r].epoch,
            val_acc: best[r].val_acc,
            test_acc: test.acc[r],
            test_ce: test.ce[r],
            test_l1: test.l1[r],
            stopped: stopped[r].clone(),
        })
        .collect()
}

/// Per-λ summary across seeds: (λ, n, mean test acc, sd).
pub fn per_lambda(rows: &[ResultRow]) -> Vec<(f64, usize, f64, f64)> {
    let mut lambdas: Vec<f64> = Vec::new();
    for r in rows {
        if !lambdas.contains(&r.lambda) {
            lambdas.push(r.lambda);
        }
    }
    lambdas
        .into_iter()
        .map(|l| {
            let accs: Vec<f64> = rows
                .iter()
                .filter(|r| r.lambda == l)
                .map(|r| r.test_acc)
                .collect();
            let (m, s) = mean_sd(&accs);
            (l, accs.len(), m, s)
        })
        .collect()
}

/// The table as Markdown (also readable in a terminal).
pub fn markdown(rows: &[ResultRow], test_clips: usize) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "Test split: {test_clips} clips. Accuracy of each replica's best-validation weights.\n\n"
    ));
    s.push_str("| λ | seed | best epoch | val acc | test acc | test CE | test L1 | note |\n");
    s.push_str("|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {:.4} | {:.4} | {:.4} | {:.4} | {} |\n",
            r.lambda,
            r.seed,
            r.best_epoch.map_or("-".into(), |e| e.to_string()),
            r.val_acc,
            r.test_acc,
            r.test_ce,
            r.test_l1,
            r.stopped.as_deref().unwrap_or("")
        ));
    }
    s.push_str("\n| λ | seeds | test acc mean | test acc sd |\n|---:|---:|---:|---:|\n");
    for (l, n, m, sd) in per_lambda(rows) {
        s.push_str(&format!("| {l} | {n} | {m:.4} | {sd:.4} |\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_sd() {
        let (m, s) = mean_sd(&[0.4, 0.5, 0.6]);
        assert!((m - 0.5).abs() < 1e-12);
        assert!((s - 0.1).abs() < 1e-12);
        assert_eq!(mean_sd(&[0.3]), (0.3, 0.0));
    }
}
