//! The final table: each replica's best epoch, validation and test numbers, and the mean and
//! spread across seeds per λ (terminal text and `results.md`).

use super::checkpoint::{Best, nonfinite};
use super::config::Replica;
use super::trainer::EvalResult;
use crate::data::Split;

/// One replica's final numbers. The numbers are `None` (JSON `null`) for a replica without
/// best weights (it never validated: it stopped in its first epoch); a non-finite number is
/// written as `"NaN"`, `"inf"` or `"-inf"`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ResultRow {
    pub lambda: f64,
    pub seed: u64,
    pub best_epoch: Option<usize>,
    #[serde(serialize_with = "nonfinite::serialize_opt")]
    pub val_acc: Option<f64>,
    #[serde(serialize_with = "nonfinite::serialize_opt")]
    pub test_acc: Option<f64>,
    #[serde(serialize_with = "nonfinite::serialize_opt")]
    pub test_ce: Option<f64>,
    #[serde(serialize_with = "nonfinite::serialize_opt")]
    pub test_l1: Option<f64>,
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

/// Rows from the run's replicas, best records, stop reasons and test evaluation; `has[r]`
/// says whether replica r had best weights (else its evaluation is not reported).
pub fn rows(
    replicas: &[Replica],
    best: &[Best],
    stopped: &[Option<String>],
    test: &EvalResult,
    has: &[bool],
) -> Vec<ResultRow> {
    replicas
        .iter()
        .enumerate()
        .map(|(r, rep)| {
            let ok = has[r] && best[r].epoch.is_some();
            let keep = |v: f64| ok.then_some(v);
            ResultRow {
                lambda: rep.lambda,
                seed: rep.seed,
                best_epoch: best[r].epoch,
                val_acc: keep(best[r].val_acc),
                test_acc: keep(test.acc[r]),
                test_ce: keep(test.ce[r]),
                test_l1: keep(test.l1[r]),
                stopped: stopped[r].clone(),
            }
        })
        .collect()
}

/// Per-λ summary across seeds: (λ, replicas with weights, mean test acc, sd, replicas left
/// out for having no weights). The mean is NaN when no replica of that λ has weights.
pub fn per_lambda(rows: &[ResultRow]) -> Vec<(f64, usize, f64, f64, usize)> {
    let mut lambdas: Vec<f64> = Vec::new();
    for r in rows {
        if !lambdas.contains(&r.lambda) {
            lambdas.push(r.lambda);
        }
    }
    lambdas
        .into_iter()
        .map(|l| {
            let of_l: Vec<&ResultRow> = rows.iter().filter(|r| r.lambda == l).collect();
            let accs: Vec<f64> = of_l.iter().filter_map(|r| r.test_acc).collect();
            let (m, s) = if accs.is_empty() {
                (f64::NAN, f64::NAN)
            } else {
                mean_sd(&accs)
            };
            (l, accs.len(), m, s, of_l.len() - accs.len())
        })
        .collect()
}

/// The table as Markdown (also readable in a terminal), for the clips of `split`.
pub fn markdown(rows: &[ResultRow], split: Split, clips: usize) -> String {
    let num = |v: Option<f64>| v.map_or("no weights".to_string(), |x| format!("{x:.4}"));
    let mut s = String::new();
    let title = match split {
        Split::Train => "Training",
        Split::Validation => "Validation",
        Split::Test => "Test",
    };
    s.push_str(&format!(
        "{title} split: {clips} clips. Accuracy of each replica's best-validation weights \
         ({split} acc, CE and L1 below).\n\n"
    ));
    s.push_str(&format!(
        "| λ | seed | best epoch | val acc | {split} acc | {split} CE | {split} L1 | note |\n"
    ));
    s.push_str("|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.lambda,
            r.seed,
            r.best_epoch.map_or("-".into(), |e| e.to_string()),
            num(r.val_acc),
            num(r.test_acc),
            num(r.test_ce),
            num(r.test_l1),
            r.stopped.as_deref().unwrap_or("")
        ));
    }
    s.push_str(&format!(
        "\n| λ | seeds | {split} acc mean | {split} acc sd |\n|---:|---:|---:|---:|\n"
    ));
    let mut left_out = 0;
    for (l, n, m, sd, out) in per_lambda(rows) {
        let (m, sd) = if n == 0 {
            ("no weights".to_string(), "-".to_string())
        } else {
            (format!("{m:.4}"), format!("{sd:.4}"))
        };
        let note = if out > 0 {
            format!(" ({out} without weights left out)")
        } else {
            String::new()
        };
        s.push_str(&format!("| {l} | {n}{note} | {m} | {sd} |\n"));
        left_out += out;
    }
    if left_out > 0 {
        s.push_str(&format!(
            "\n{left_out} replica(s) have no weights (they stopped before their first \
             validation): they are left out of the means.\n"
        ));
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

    fn row(lambda: f64, acc: Option<f64>) -> ResultRow {
        ResultRow {
            lambda,
            seed: 0,
            best_epoch: acc.map(|_| 3),
            val_acc: acc,
            test_acc: acc,
            test_ce: acc,
            test_l1: acc,
            stopped: None,
        }
    }

    #[test]
    fn a_replica_without_weights_shows_no_weights_and_stays_out_of_the_mean() {
        let rows = vec![row(1.0, Some(0.9)), row(1.0, None), row(1.0, Some(0.7))];
        let pl = per_lambda(&rows);
        assert_eq!(pl.len(), 1);
        let (l, n, m, _, out) = pl[0];
        assert_eq!((l, n, out), (1.0, 2, 1));
        assert!(
            (m - 0.8).abs() < 1e-12,
            "mean of 0.9 and 0.7, not of 0.9, 0.5?, 0.7: {m}"
        );
        let md = markdown(&rows, Split::Test, 10);
        assert!(md.contains("| no weights |"), "{md}");
        assert!(md.contains("1 without weights left out"), "{md}");
        assert!(!md.contains("0.5000"), "{md}");
    }

    #[test]
    fn results_json_tells_no_weights_from_a_nan() {
        let mut nan = row(1.0, Some(0.5));
        nan.test_ce = Some(f64::NAN);
        let js = serde_json::to_string(&[nan, row(2.0, None)]).unwrap();
        assert!(js.contains(r#""test_ce":"NaN""#), "{js}");
        assert!(js.contains(r#""test_acc":null"#), "{js}");
    }

    #[test]
    fn the_table_is_titled_by_its_split() {
        let md = markdown(&[row(0.0, Some(0.5))], Split::Validation, 4);
        assert!(md.starts_with("Validation split: 4 clips"), "{md}");
        assert!(
            md.contains("validation acc") && !md.contains("Test"),
            "{md}"
        );
    }
}
