//! The sampler: determinism, epoch coverage, crop ranges, time-major layout, padding,
//! partial batches, evaluation crops.

mod data_common;

use recaux::data::Split;
use recaux::data::sampler::{EvalCrop, Sampler, SamplerConfig};
use recaux::data::store::FeatureStore;
use std::collections::HashSet;

const F: usize = 3;

/// mel 0 = frame index, mel 1 = clip index, mel 2 = 1 (marks real, unpadded data).
fn val(i: usize, t: usize, m: usize) -> f32 {
    [t as f32, i as f32, 1.0][m]
}

/// 70 clips: 50 train (frames 40..=89, clip 7 only 10 frames), 20 validation.
fn store(name: &str) -> FeatureStore {
    let dir = data_common::tmpdir(name);
    let p = dir.join("s.store");
    let n = 70;
    let frames: Vec<usize> = (0..n)
        .map(|i| if i == 7 { 10 } else { 40 + i % 50 })
        .collect();
    let labels: Vec<u32> = (0..n).map(|i| (i % 4) as u32).collect();
    let splits: Vec<Split> = (0..n)
        .map(|i| {
            if i < 50 {
                Split::Train
            } else {
                Split::Validation
            }
        })
        .collect();
    data_common::make_store(&p, F, &frames, &labels, &splits, &["a", "b", "c", "d"], val);
    FeatureStore::open(&p).unwrap()
}

fn cfg() -> SamplerConfig {
    SamplerConfig {
        batch_size: 8,
        crop_frames: 16,
        eval_crop: EvalCrop::Random,
        seed: 42,
    }
}

#[test]
fn train_batches_are_pure_functions_of_seed_epoch_index() {
    let s = store("sampler_pure");
    let a = Sampler::train(&s, Split::Train, cfg()).unwrap();
    let b = Sampler::train(&s, Split::Train, cfg()).unwrap();
    assert_eq!(a.batches_per_epoch(), 6); // 50 / 8, partial batch dropped
    let e3: Vec<_> = a.epoch(3).map(|b| b.unwrap()).collect();
    for (k, bt) in e3.iter().enumerate() {
        // random access (as after a resume) equals the sequential epoch
        assert_eq!(&b.batch(3, k).unwrap(), bt);
    }
    assert_ne!(a.batch(4, 0).unwrap(), e3[0]);
    let other = Sampler::train(&s, Split::Train, SamplerConfig { seed: 43, ..cfg() }).unwrap();
    assert_ne!(other.batch(3, 0).unwrap(), e3[0]);
    assert!(a.batch(3, 6).is_err());
}

#[test]
fn each_epoch_draws_distinct_train_clips_in_a_new_order() {
    let s = store("sampler_epoch");
    let a = Sampler::train(&s, Split::Train, cfg()).unwrap();
    let mut orders = Vec::new();
    for e in 0..3 {
        let clips: Vec<usize> = a.epoch(e).flat_map(|b| b.unwrap().clips).collect();
        assert_eq!(clips.len(), 48);
        let set: HashSet<usize> = clips.iter().copied().collect();
        assert_eq!(set.len(), 48, "no clip twice in an epoch");
        assert!(clips.iter().all(|&c| c < 50), "train clips only");
        orders.push(clips);
    }
    assert_ne!(orders[0], orders[1]);
    assert_ne!(orders[1], orders[2]);
}

#[test]
fn layout_is_time_major_and_crops_are_in_range() {
    let s = store("sampler_layout");
    let a = Sampler::train(&s, Split::Train, cfg()).unwrap();
    let mut saw_start = false;
    let mut saw_end = false;
    for e in 0..40 {
        for bt in a.epoch(e) {
            let bt = bt.unwrap();
            assert_eq!((bt.t, bt.b, bt.n_mels), (16, 8, F));
            assert_eq!(bt.x.len(), 16 * 8 * F);
            for (r, (&c, &off)) in bt.clips.iter().zip(&bt.offsets).enumerate() {
                let frames = s.frames(c);
                assert_eq!(bt.y[r], s.label(c) as i32);
                if frames >= 16 {
                    assert!(off + 16 <= frames, "clip {c} off {off} frames {frames}");
                    saw_start |= off == 0;
                    saw_end |= off + 16 == frames;
                } else {
                    assert_eq!(off, 0);
                }
                for t in 0..16 {
                    let px = &bt.x[(t * bt.b + r) * F..(t * bt.b + r + 1) * F];
                    if off + t < frames {
                        assert_eq!(px, [(off + t) as f32, c as f32, 1.0]);
                    } else {
                        assert_eq!(px, [0.0; F], "zero padding after the clip's end");
                    }
                }
            }
        }
    }
    assert!(
        saw_start && saw_end,
        "both ends of the offset range are drawn"
    );
}

#[test]
fn evaluation_keeps_the_partial_batch_and_fixed_crops() {
    let s = store("sampler_eval");
    let ev = Sampler::eval(&s, Split::Validation, cfg()).unwrap();
    assert_eq!(ev.batches_per_epoch(), 3); // 20 clips: 8 + 8 + 4
    let e0: Vec<_> = ev.epoch(0).map(|b| b.unwrap()).collect();
    assert_eq!(e0[2].b, 4);
    assert_eq!(e0[2].y.len(), 4);
    assert_eq!(e0[2].x.len(), 16 * 4 * F);
    let clips: Vec<usize> = e0.iter().flat_map(|b| b.clips.clone()).collect();
    assert_eq!(clips, (50..70).collect::<Vec<_>>(), "store order");
    let e5: Vec<_> = ev.epoch(5).map(|b| b.unwrap()).collect();
    assert_eq!(e0, e5, "evaluation is the same every epoch");

    let c = Sampler::eval(
        &s,
        Split::Validation,
        SamplerConfig {
            eval_crop: EvalCrop::Center,
            ..cfg()
        },
    )
    .unwrap();
    let b = c.batch(0, 0).unwrap();
    for (&ci, &off) in b.clips.iter().zip(&b.offsets) {
        assert_eq!(off, (s.frames(ci) - 16) / 2);
    }

    let full = Sampler::eval(
        &s,
        Split::Validation,
        SamplerConfig {
            eval_crop: EvalCrop::Full,
            ..cfg()
        },
    )
    .unwrap();
    let b = full.batch(0, 0).unwrap();
    let longest = b.clips.iter().map(|&c| s.frames(c)).max().unwrap();
    assert_eq!(b.t, longest);
    for (r, &ci) in b.clips.iter().enumerate() {
        let fr = s.frames(ci);
        assert_eq!(b.x[((fr - 1) * b.b + r) * F], (fr - 1) as f32);
        if fr < b.t {
            assert_eq!(b.x[(fr * b.b + r) * F + 2], 0.0);
        }
    }
}

#[test]
fn empty_split_and_bad_config_are_errors() {
    let s = store("sampler_errors");
    assert!(Sampler::train(&s, Split::Test, cfg()).is_err());
    assert!(
        Sampler::train(
            &s,
            Split::Train,
            SamplerConfig {
                batch_size: 0,
                ..cfg()
            }
        )
        .is_err()
    );
}
