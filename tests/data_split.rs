//! Splits: sizes worked out by hand from the rules in src/data/split.rs, stratification,
//! determinism.

use recaux::data::Split;
use recaux::data::split::{SplitMethod, assign, sizes};

fn labels(counts: &[usize]) -> Vec<u32> {
    // interleaved, so that class membership is not a block of indices
    let mut v = Vec::new();
    let mut left = counts.to_vec();
    while left.iter().any(|&c| c > 0) {
        for (c, l) in left.iter_mut().enumerate() {
            if *l > 0 {
                v.push(c as u32);
                *l -= 1;
            }
        }
    }
    v
}

fn per_class(l: &[u32], s: &[Split], c: usize) -> Vec<[usize; 3]> {
    let mut out = vec![[0; 3]; c];
    assert_eq!(l.len(), s.len(), "one split per label");
    for (&l, &s) in l.iter().zip(s) {
        out[l as usize][s.code() as usize] += 1;
    }
    out
}

#[test]
fn seed_split_of_fma_small_is_72_8_20_per_class() {
    let l = labels(&[1000; 8]);
    let s = assign(&SplitMethod::Seed { seed: 1337 }, &l, 8, &[]).unwrap();
    // test = ceil(0.2 * 8000) = 1600; validation = ceil(0.1 * 6400) = 640
    assert_eq!(sizes(&s), [5760, 640, 1600]);
    for c in per_class(&l, &s, 8) {
        assert_eq!(c, [720, 80, 200]);
    }
}

#[test]
fn seed_split_small_set() {
    let l = labels(&[12; 8]);
    let s = assign(&SplitMethod::Seed { seed: 1337 }, &l, 8, &[]).unwrap();
    // test = ceil(19.2) = 20 (2 per class + 4 by remainder); val = ceil(0.1 * 76) = 8
    assert_eq!(sizes(&s), [68, 8, 20]);
    for c in per_class(&l, &s, 8) {
        assert!((2..=3).contains(&c[2]), "{c:?}");
        assert_eq!(c[1], 1, "{c:?}");
    }
}

#[test]
fn unbalanced_classes_keep_their_proportions() {
    let counts = [500, 50, 7, 300];
    let l = labels(&counts);
    let s = assign(&SplitMethod::Seed { seed: 3 }, &l, 4, &[]).unwrap();
    let n = l.len() as f64;
    assert_eq!(sizes(&s)[2], (0.2 * n).ceil() as usize);
    for (c, got) in per_class(&l, &s, 4).iter().enumerate() {
        let want = 0.2 * counts[c] as f64;
        assert!((got[2] as f64 - want).abs() <= 1.0, "class {c}: {got:?}");
    }
}

#[test]
fn seeded_and_deterministic() {
    let l = labels(&[40; 5]);
    let a = assign(&SplitMethod::Seed { seed: 1337 }, &l, 5, &[]).unwrap();
    let b = assign(&SplitMethod::Seed { seed: 1337 }, &l, 5, &[]).unwrap();
    let c = assign(&SplitMethod::Seed { seed: 1338 }, &l, 5, &[]).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(sizes(&a), sizes(&c));
}

#[test]
fn ratio_split() {
    let l = labels(&[100, 60, 40]);
    let m = SplitMethod::Ratio {
        val: 0.15,
        test: 0.25,
        seed: 1,
    };
    let s = assign(&m, &l, 3, &[]).unwrap();
    // test round(0.25 * 200) = 50, val round(0.15 * 200) = 30
    assert_eq!(sizes(&s), [120, 30, 50]);
    assert_eq!(
        per_class(&l, &s, 3),
        vec![[60, 15, 25], [36, 9, 15], [24, 6, 10]]
    );
    let bad = SplitMethod::Ratio {
        val: 0.6,
        test: 0.5,
        seed: 1,
    };
    assert!(assign(&bad, &l, 3, &[]).is_err());
}

#[test]
fn official_split_passes_through_and_needs_every_item() {
    let l = vec![0, 1, 0];
    let off = vec![
        Some(Split::Test),
        Some(Split::Train),
        Some(Split::Validation),
    ];
    let s = assign(&SplitMethod::Official, &l, 2, &off).unwrap();
    assert_eq!(s, vec![Split::Test, Split::Train, Split::Validation]);
    let off = vec![Some(Split::Test), None, Some(Split::Validation)];
    assert!(assign(&SplitMethod::Official, &l, 2, &off).is_err());
}
