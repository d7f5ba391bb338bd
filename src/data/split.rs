//! Train / validation / test splits.
//!
//! - [`SplitMethod::Seed`]: the seed experiment's split, stratified by class: 20% test, then
//!   10% of the rest validation (72/8/20). The seed used scikit-learn's `train_test_split` with
//!   `random_state=1337` twice; we reproduce its proportions and stratification (test count
//!   `ceil(0.2 N)`, validation count `ceil(0.1 (N - test))`, spread over classes by largest
//!   remainder like sklearn's `_approximate_mode`), not sklearn's exact permutation (that needs
//!   NumPy's Mersenne Twister).
//! - [`SplitMethod::Official`]: the source's own split (FMA's (set, split); a manifest's split
//!   column).
//! - [`SplitMethod::Ratio`]: any stratified fractions of the whole: validation
//!   `round(val N)`, test `round(test N)`, the rest training.
//!
//! Which items of a class go where is a seeded permutation ([`super::draw::shuffle`], stream
//! `STREAM_SPLIT`, counters (stage, class)).

use super::Split;
use super::draw::{STREAM_SPLIT, shuffle};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// How to split a dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum SplitMethod {
    /// Stratified 20% test, then 10% of the rest validation.
    Seed { seed: u64 },
    /// The source's own split.
    Official,
    /// Stratified fractions of the whole (validation, test); training is the rest.
    Ratio { val: f64, test: f64, seed: u64 },
}

impl SplitMethod {
    /// The seed experiment's split with its seed (1337).
    pub fn seed_default() -> SplitMethod {
        SplitMethod::Seed { seed: 1337 }
    }

    /// One line for reports, e.g. `seed (20% test, 10% of the rest validation; seed 1337)`.
    pub fn describe(&self) -> String {
        match self {
            SplitMethod::Seed { seed } => {
                format!("seed (20% test, then 10% of the rest validation; seed {seed})")
            }
            SplitMethod::Official => "official".into(),
            SplitMethod::Ratio { val, test, seed } => {
                format!("ratio (validation {val}, test {test}; seed {seed})")
            }
        }
    }
}

/// Spreads `total` picks over classes of sizes `counts`, in proportion: each class gets the
/// floor of its share, the remaining picks go to the largest fractional parts (ties: lower
/// class index first), never more than a class holds. `total <= sum(counts)`.
pub fn allocate(counts: &[usize], total: usize) -> Vec<usize> {
    let n: usize = counts.iter().sum();
    if n == 0 {
        return vec![0; counts.len()];
    }
    let total = total.min(n);
    let mut out: Vec<usize> = counts.iter().map(|&c| c * total / n).collect();
    // remainders as exact fractions c*total mod n, compared as integers
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by(|&a, &b| {
        let ra = counts[a] * total % n;
        let rb = counts[b] * total % n;
        rb.cmp(&ra).then(a.cmp(&b))
    });
    let mut left = total - out.iter().sum::<usize>();
    while left > 0 {
        let mut progressed = false;
        for &c in &order {
            if left == 0 {
                break;
            }
            if out[c] < counts[c] {
                out[c] += 1;
                left -= 1;
                progressed = true;
            }
        }
        if !progressed {
            break;
        }
    }
    out
}

fn per_class(labels: &[u32], n_classes: usize) -> Result<Vec<Vec<usize>>> {
    let mut v = vec![Vec::new(); n_classes];
    for (i, &l) in labels.iter().enumerate() {
        let c = v
            .get_mut(l as usize)
            .ok_or_else(|| Error::Data(format!("label {l} out of range ({n_classes} classes)")))?;
        c.push(i);
    }
    Ok(v)
}

/// Assigns a split to every item. `labels[i]` in `0..n_classes`; `official[i]` is used by
/// [`SplitMethod::Official`] only.
pub fn assign(
    method: &SplitMethod,
    labels: &[u32],
    n_classes: usize,
    official: &[Option<Split>],
) -> Result<Vec<Split>> {
    let n = labels.len();
    let mut out = vec![Split::Train; n];
    match *method {
        SplitMethod::Official => {
            if official.len() != n {
                return Err(Error::shape("official split length differs from labels"));
            }
            for (i, s) in official.iter().enumerate() {
                out[i] = s.ok_or_else(|| {
                    Error::Data(format!(
                        "item {i} has no official split (use --split seed or ratio, or give a \
                         split column)"
                    ))
                })?;
            }
        }
        SplitMethod::Seed { seed } => {
            let mut classes = per_class(labels, n_classes)?;
            let counts: Vec<usize> = classes.iter().map(|c| c.len()).collect();
            let n_test = (0.2 * n as f64).ceil() as usize;
            let test = allocate(&counts, n_test);
            let mut rest: Vec<Vec<usize>> = Vec::with_capacity(n_classes);
            for (c, idx) in classes.iter_mut().enumerate() {
                shuffle(idx, seed, STREAM_SPLIT, 0, c as u32);
                for &i in &idx[..test[c]] {
                    out[i] = Split::Test;
                }
                let mut r = idx[test[c]..].to_vec();
                r.sort_unstable();
                rest.push(r);
            }
            let rest_counts: Vec<usize> = rest.iter().map(|c| c.len()).collect();
            let n_rest: usize = rest_counts.iter().sum();
            let val = allocate(&rest_counts, (0.1 * n_rest as f64).ceil() as usize);
            for (c, idx) in rest.iter_mut().enumerate() {
                shuffle(idx, seed, STREAM_SPLIT, 1, c as u32);
                for &i in &idx[..val[c]] {
                    out[i] = Split::Validation;
                }
            }
        }
        SplitMethod::Ratio { val, test, seed } => {
            let ok = |f: f64| (0.0..=1.0).contains(&f);
            if !ok(val) || !ok(test) || val + test > 1.0 + 1e-12 {
                return Err(Error::config(
                    "split ratio",
                    format!("validation {val} and test {test} must be in [0, 1] with a sum <= 1"),
                ));
            }
            let mut classes = per_class(labels, n_classes)?;
            let counts: Vec<usize> = classes.iter().map(|c| c.len()).collect();
            let t = allocate(&counts, (test * n as f64).round() as usize);
            let after: Vec<usize> = counts.iter().zip(&t).map(|(c, t)| c - t).collect();
            let v = allocate(&after, (val * n as f64).round() as usize);
            for (c, idx) in classes.iter_mut().enumerate() {
                shuffle(idx, seed, STREAM_SPLIT, 2, c as u32);
                for &i in &idx[..t[c]] {
                    out[i] = Split::Test;
                }
                for &i in &idx[t[c]..t[c] + v[c]] {
                    out[i] = Split::Validation;
                }
            }
        }
    }
    Ok(out)
}

/// Sizes `[train, validation, test]` of a split vector.
pub fn sizes(splits: &[Split]) -> [usize; 3] {
    let mut s = [0; 3];
    for &x in splits {
        s[x.code() as usize] += 1;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocate_largest_remainder() {
        assert_eq!(allocate(&[10, 10, 10], 5), vec![2, 2, 1]);
        assert_eq!(allocate(&[1, 1, 98], 10), vec![0, 0, 10]);
        assert_eq!(allocate(&[3, 0, 7], 10), vec![3, 0, 7]);
        assert_eq!(allocate(&[5, 15], 8), vec![2, 6]);
        assert_eq!(allocate(&[], 0), Vec::<usize>::new());
    }
}
