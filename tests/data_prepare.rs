//! prepare with a fake extractor: the report, the store's contents, the cache (re-runs skip,
//! a changed config or source file recomputes), the error policies.
//!
//! The fake reads a text file: `GOOD <v> <frames>` gives `[frames, n_mels]` features equal to
//! v + frame index; `SHORT ...` the same, flagged padded; `NOAUDIO`, `BAD` and `PANIC` fail (the
//! last by panicking); anything else is "not audio".

mod data_common;

use recaux::audio::{Clip, ClipError, FeatureConfig, Resampler};
use recaux::data::prepare::{OnError, PrepareOptions, prepare};
use recaux::data::split::SplitMethod;
use recaux::data::store::{FLAG_PADDED, FLAG_ZEROED, FeatureStore};
use recaux::data::{Split, folders, manifest};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

static CALLS: AtomicUsize = AtomicUsize::new(0);

fn fake(path: &Path, cfg: &FeatureConfig) -> Result<Clip, ClipError> {
    // Tests run in parallel: count only the calls of the test that checks the count.
    if path.to_string_lossy().contains("prepare_folders") {
        CALLS.fetch_add(1, Ordering::SeqCst);
    }
    let text = std::fs::read_to_string(path).map_err(|_| ClipError::Missing)?;
    let w: Vec<&str> = text.split_whitespace().collect();
    match w.first().copied() {
        Some("GOOD") | Some("SHORT") => {
            let v: f32 = w[1].parse().unwrap();
            let frames: usize = w[2].parse().unwrap();
            let mut features = Vec::new();
            for t in 0..frames {
                features.extend(std::iter::repeat_n(v + t as f32, cfg.n_mels));
            }
            Ok(Clip {
                features,
                frames,
                n_mels: cfg.n_mels,
                source_seconds: 1.0,
                padded: w[0] == "SHORT",
                source_sample_rate: 16000,
                skipped_packets: 0,
            })
        }
        Some("NOAUDIO") => Err(ClipError::NoAudio("id3 tag only".into())),
        Some("BAD") => Err(ClipError::Decode("broken frame".into())),
        Some("PANIC") => panic!("fake decoder panic"),
        _ => Err(ClipError::NotAudio("unknown format".into())),
    }
}

fn cfg(n_mels: usize) -> FeatureConfig {
    FeatureConfig {
        n_mels,
        ..FeatureConfig::default()
    }
}

fn opts(split: SplitMethod, on_error: OnError) -> PrepareOptions {
    PrepareOptions {
        split,
        on_error,
        source: "test".into(),
        progress: false,
    }
}

/// Class folders: 3 classes x 10 good clips (values 10c + k), plus broken files.
fn folder_dataset(root: &Path) {
    for (c, name) in ["rock", "Jazz", "blues"].iter().enumerate() {
        let d = root.join(name);
        std::fs::create_dir_all(&d).unwrap();
        for k in 0..10 {
            let kind = if c == 1 && k == 3 { "SHORT" } else { "GOOD" };
            std::fs::write(
                d.join(format!("{k:02}.wav")),
                format!("{kind} {} 6", 10 * c + k),
            )
            .unwrap();
        }
        std::fs::write(d.join("notes.txt"), "ignored: not an audio extension").unwrap();
        std::fs::write(d.join(".hidden.wav"), "ignored: hidden").unwrap();
    }
    std::fs::write(root.join("rock/20.mp3"), "NOAUDIO").unwrap();
    std::fs::write(root.join("rock/21.wav"), "BAD").unwrap();
    std::fs::write(root.join("blues/22.ogg"), "PANIC").unwrap();
    std::fs::write(root.join("blues/23.flac"), "RIFF? no").unwrap();
}

#[test]
fn folders_prepare_report_store_and_cache() {
    let dir = data_common::tmpdir("prepare_folders");
    let data = dir.join("data");
    folder_dataset(&data);
    let ds = folders::load(&data).unwrap();
    // byte order: uppercase first
    assert_eq!(ds.classes, vec!["Jazz", "blues", "rock"]);
    assert_eq!(ds.items.len(), 34);
    assert_eq!(ds.notes.len(), 1, "{:?}", ds.notes);
    let out = dir.join("out/f.store");
    let o = opts(SplitMethod::Seed { seed: 1337 }, OnError::Skip);

    let r = prepare(&ds, &cfg(4), &out, &o, &fake).unwrap();
    assert_eq!(
        (r.clips_total, r.clips_ok, r.clips_padded, r.clips_skipped),
        (34, 30, 1, 4)
    );
    assert_eq!(
        (r.clips_stored, r.clips_computed, r.clips_reused),
        (30, 30, 0)
    );
    assert!(!r.config_changed);
    let mut why: Vec<(String, String)> = r
        .skipped
        .iter()
        .map(|s| (s.name.clone(), s.reason.clone()))
        .collect();
    why.sort();
    assert_eq!(
        why,
        vec![
            ("blues/22.ogg".to_string(), "decode error".to_string()),
            ("blues/23.flac".into(), "not audio".into()),
            ("rock/20.mp3".into(), "no audio".into()),
            ("rock/21.wav".into(), "decode error".into()),
        ]
    );
    assert!(r.skipped.iter().any(|s| s.detail.contains("panicked")));
    // 30 clips: test ceil(6) = 6, validation ceil(2.4) = 3
    assert_eq!(r.split_sizes, [21, 3, 6]);
    assert_eq!(r.class_counts, vec![10, 10, 10]);
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("out/f.store.report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(json["clips_skipped"], 4);

    let s = FeatureStore::open(&out).unwrap();
    assert_eq!(s.len(), 30);
    assert_eq!(s.class_names(), ["Jazz", "blues", "rock"]);
    assert_eq!(s.n_mels(), 4);
    for i in 0..s.len() {
        let name = s.name(i).to_string();
        let c = s.clip(i).unwrap();
        // the file's value: 10 * (folder position in ["rock", "Jazz", "blues"]) + k
        let folder = name.split('/').next().unwrap();
        let pos = ["rock", "Jazz", "blues"]
            .iter()
            .position(|&f| f == folder)
            .unwrap();
        let k: usize = name[name.len() - 6..name.len() - 4].parse().unwrap();
        assert_eq!(s.class_names()[c.label as usize], folder);
        assert_eq!(c.frames, 6);
        assert_eq!(c.features[4 * 5 + 2].to_f32(), (10 * pos + k + 5) as f32);
        assert_eq!(c.flags & FLAG_PADDED != 0, name == "Jazz/03.wav");
    }
    let counts = [Split::Train, Split::Validation, Split::Test].map(|sp| s.indices(sp).len());
    assert_eq!(counts, [21, 3, 6]);

    // Re-run: nothing decoded again except the 4 failures (failures are not cached).
    CALLS.store(0, Ordering::SeqCst);
    let r2 = prepare(&ds, &cfg(4), &out, &o, &fake).unwrap();
    assert_eq!((r2.clips_reused, r2.clips_computed), (30, 0));
    assert_eq!(CALLS.load(Ordering::SeqCst), 4);
    assert_eq!(r2.split_sizes, r.split_sizes);
    let s2 = FeatureStore::open(&out).unwrap();
    assert_eq!(s2.indices(Split::Test), s.indices(Split::Test));

    // Another spelling of the same files shares the cache (keys are canonical paths).
    let ds_alias = folders::load(&data.join("rock/..")).unwrap();
    assert_ne!(ds_alias.items[0].path, ds.items[0].path);
    let ra = prepare(&ds_alias, &cfg(4), &out, &o, &fake).unwrap();
    assert_eq!((ra.clips_reused, ra.clips_computed), (30, 0));

    // A changed source file is recomputed.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(data.join("rock/00.wav"), "GOOD 500 6 ").unwrap();
    let r3 = prepare(&ds, &cfg(4), &out, &o, &fake).unwrap();
    assert_eq!((r3.clips_reused, r3.clips_computed), (29, 1));
    let s3 = FeatureStore::open(&out).unwrap();
    let i = (0..s3.len())
        .find(|&i| s3.name(i) == "rock/00.wav")
        .unwrap();
    assert_eq!(s3.clip(i).unwrap().features[0].to_f32(), 500.0);

    // A changed feature config recomputes everything and says so.
    let r4 = prepare(&ds, &cfg(2), &out, &o, &fake).unwrap();
    assert!(r4.config_changed);
    assert_eq!((r4.clips_reused, r4.clips_computed), (0, 30));
    let s4 = FeatureStore::open(&out).unwrap();
    assert_eq!(s4.n_mels(), 2);
    assert_ne!(s4.config_hash(), s3.config_hash());
}

#[test]
fn zeros_policy_keeps_broken_clips_as_flagged_zeros() {
    let dir = data_common::tmpdir("prepare_zeros");
    let data = dir.join("data");
    folder_dataset(&data);
    let ds = folders::load(&data).unwrap();
    let out = dir.join("z.store");
    let c = FeatureConfig {
        n_mels: 4,
        clip_seconds: 2.0,
        ..FeatureConfig::default()
    };
    let r = prepare(
        &ds,
        &c,
        &out,
        &opts(SplitMethod::Seed { seed: 1 }, OnError::Zeros),
        &fake,
    )
    .unwrap();
    assert_eq!((r.clips_ok, r.clips_skipped, r.clips_stored), (30, 4, 34));
    let s = FeatureStore::open(&out).unwrap();
    let zeroed: Vec<usize> = (0..s.len())
        .filter(|&i| s.clip(i).unwrap().flags & FLAG_ZEROED != 0)
        .collect();
    assert_eq!(zeroed.len(), 4);
    for i in zeroed {
        let c = s.clip(i).unwrap();
        // 2 s at 16 kHz, hop 512, centred: 1 + 32000 / 512 = 63 frames
        assert_eq!(c.frames, 63);
        assert!(c.features.iter().all(|x| x.to_f32() == 0.0));
    }
}

#[test]
fn manifest_with_official_split_and_a_missing_file() {
    let dir = data_common::tmpdir("prepare_manifest");
    std::fs::create_dir_all(dir.join("a")).unwrap();
    for k in 0..6 {
        std::fs::write(dir.join(format!("a/{k}.wav")), format!("GOOD {k} 3")).unwrap();
    }
    let csv = "path,label,split\n\
               a/0.wav,cat,train\na/1.wav,dog,training\na/2.wav,cat,val\n\
               a/3.wav,dog,test\na/4.wav,cat,train\na/5.wav,dog,train\nmissing.wav,cat,test\n";
    std::fs::write(dir.join("m.csv"), csv).unwrap();
    let ds = manifest::load(&dir.join("m.csv")).unwrap();
    assert_eq!(ds.items.len(), 7);
    assert_eq!(ds.items[6].path, dir.join("missing.wav"));
    let out = dir.join("m.store");
    let r = prepare(
        &ds,
        &cfg(2),
        &out,
        &opts(SplitMethod::Official, OnError::Skip),
        &fake,
    )
    .unwrap();
    assert_eq!(r.skipped.len(), 1);
    assert_eq!(r.skipped[0].reason, "missing file");
    assert_eq!(r.split_sizes, [4, 1, 1]);
    let s = FeatureStore::open(&out).unwrap();
    assert_eq!(s.indices(Split::Validation), vec![2]);
    assert_eq!(s.class_names(), ["cat", "dog"]);
    assert_eq!(
        (0..6).map(|i| s.label(i)).collect::<Vec<_>>(),
        vec![0, 1, 0, 1, 0, 1]
    );
}

#[test]
fn manifest_errors() {
    let base = Path::new("/data");
    let mixed = "a.wav,x,train\nb.wav,y\n";
    assert!(manifest::parse(mixed.as_bytes(), base).is_err());
    let bad = "a.wav,x,later\n";
    assert!(
        manifest::parse(bad.as_bytes(), base)
            .unwrap_err()
            .to_string()
            .contains("later")
    );
    let ok = "a.wav,x\n/abs/b.wav,y\n";
    let ds = manifest::parse(ok.as_bytes(), base).unwrap();
    assert_eq!(ds.items[0].path, Path::new("/data/a.wav"));
    assert_eq!(ds.items[1].path, Path::new("/abs/b.wav"));
    assert_eq!(ds.items[1].official, None);
}

#[test]
fn nothing_decodable_is_an_error_with_a_report() {
    let dir = data_common::tmpdir("prepare_none");
    std::fs::create_dir_all(dir.join("data/x")).unwrap();
    std::fs::write(dir.join("data/x/a.wav"), "BAD").unwrap();
    let ds = folders::load(&dir.join("data")).unwrap();
    let out = dir.join("n.store");
    let e = prepare(
        &ds,
        &cfg(2),
        &out,
        &opts(SplitMethod::Seed { seed: 1 }, OnError::Skip),
        &fake,
    );
    assert!(e.is_err());
    assert!(dir.join("n.store.report.json").exists());
    assert!(!out.exists());
}

/// The resampler is a feature setting like the others: a store prepared again with another
/// resampler recomputes every clip (the cache is never reused across resamplers) and its
/// header records the new one.
#[test]
fn a_changed_resampler_recomputes_every_clip() {
    let dir = data_common::tmpdir("prepare_resampler");
    let data = dir.join("data");
    folder_dataset(&data);
    let ds = folders::load(&data).unwrap();
    let out = dir.join("r.store");
    let o = opts(SplitMethod::Seed { seed: 1337 }, OnError::Skip);
    let r = prepare(&ds, &cfg(4), &out, &o, &fake).unwrap();
    assert_eq!((r.clips_reused, r.clips_computed), (0, 30));
    let soxr = FeatureConfig {
        resampler: Resampler::SoxrHq,
        ..cfg(4)
    };
    let r2 = prepare(&ds, &soxr, &out, &o, &fake).unwrap();
    assert!(r2.config_changed);
    assert_eq!((r2.clips_reused, r2.clips_computed), (0, 30));
    let s = FeatureStore::open(&out).unwrap();
    assert_eq!(s.header().feature_config.resampler, Resampler::SoxrHq);
    let r3 = prepare(&ds, &soxr, &out, &o, &fake).unwrap();
    assert_eq!((r3.clips_reused, r3.clips_computed), (30, 0));
}
