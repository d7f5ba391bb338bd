//! Issue 11, inputs: no panic or abort on absurd headers and sizes (each checked against a
//! stated limit, the error naming it), the prepare cache keyed by content, `prepare --out`
//! never replacing a file that is not a store, and messages that name the path or field.

mod rel_common;

use recaux::audio::{Clip, ClipError, FeatureConfig};
use recaux::data::folders;
use recaux::data::prepare::{OnError, PrepareOptions, prepare};
use recaux::data::split::SplitMethod;
use recaux::data::store::FeatureStore;
use rel_common::*;
use std::path::Path;

/// The reproducer: a 44-byte RIFF header + 1000 16-bit samples, with the given
/// sample rate and channel count in its fmt chunk.
fn wav_with_header(path: &Path, rate: u32, channels: u16) {
    let data: Vec<u8> = (0..1000).flat_map(|_| [0u8, 1u8]).collect();
    let mut b = b"RIFF".to_vec();
    b.extend((36 + data.len() as u32).to_le_bytes());
    b.extend(b"WAVEfmt ");
    b.extend(16u32.to_le_bytes());
    b.extend(1u16.to_le_bytes());
    b.extend(channels.to_le_bytes());
    b.extend(rate.to_le_bytes());
    b.extend(rate.wrapping_mul(2 * channels as u32).to_le_bytes());
    b.extend((2 * channels).to_le_bytes());
    b.extend(16u16.to_le_bytes());
    b.extend(b"data");
    b.extend((data.len() as u32).to_le_bytes());
    b.extend(data);
    std::fs::write(path, b).unwrap();
}

/// `recaux prepare` of class folders into `out`, clips of `clip_seconds`, a 60/20/20 split.
fn prepare_folders(data: &Path, out: &Path, clip_seconds: &str) -> std::process::Output {
    recaux(&[
        "prepare",
        "--folders",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
        "--clip-seconds",
        clip_seconds,
        "--split",
        "ratio",
        "--val-frac",
        "0.2",
        "--test-frac",
        "0.2",
    ])
}

#[test]
fn wav_headers_with_absurd_rates_or_channels_fail_cleanly_in_mel_predict_and_prepare() {
    let d = tmpdir("rel_wav_headers");
    let cases = [
        ("rate0.wav", 0, 1, "sample rate"),
        ("rate1.wav", 1, 1, "sample rate"),
        ("rate999.wav", 999, 1, "sample rate"),
        ("rate_huge.wav", u32::MAX, 1, "sample rate"),
        ("rate800k.wav", 800_000, 1, "sample rate"),
        ("ch0.wav", 16000, 0, "channels"),
        ("ch33.wav", 16000, 33, "channel"),
    ];
    for (file, rate, ch, why) in cases {
        let p = d.join(file);
        wav_with_header(&p, rate, ch);
        let o = recaux(&[
            "mel",
            p.to_str().unwrap(),
            "-o",
            d.join("x.npy").to_str().unwrap(),
        ]);
        assert_clean_failure(&o, &[p.to_str().unwrap(), why]);
    }
    // predict: the file's failure is reported on one line and makes the command fail
    make_store(&d.join("s.rfs"), true, 0);
    let cfg = write(&d, "c.yaml", &config_text(&d.join("s.rfs"), &d, "run", 1));
    let o = recaux(&["train", "--config", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", err(&o));
    let p0 = d.join("rate0.wav");
    let o = recaux(&[
        "predict",
        "--run",
        d.join("run").to_str().unwrap(),
        p0.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(!err(&o).contains("panicked"), "{}", err(&o));
    assert!(
        err(&o).contains("rate0.wav: decode error: sample rate 0 Hz"),
        "{}",
        err(&o)
    );
    // prepare skips them with their reason, and prints no panic or backtrace
    let data = d.join("data");
    for class in ["a", "b"] {
        std::fs::create_dir_all(data.join(class)).unwrap();
        for k in 0..3 {
            tone_wav(&data.join(format!("{class}/good{k}.wav")), 16000, 0.5);
        }
    }
    for (file, rate, ch, _) in cases {
        wav_with_header(&data.join("a").join(file), rate, ch);
    }
    let o = prepare_folders(&data, &d.join("p.rfs"), "0.5");
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        !err(&o).contains("panicked") && !err(&o).contains("backtrace"),
        "{}",
        err(&o)
    );
    let report = std::fs::read_to_string(d.join("p.rfs.report.json")).unwrap();
    assert_eq!(report.matches("sample rate").count(), 5, "{report}");
}

#[test]
fn sizes_from_flags_and_configs_above_the_limits_are_refused_naming_them() {
    let d = tmpdir("rel_limits");
    let bench = |extra: &[&str]| {
        let mut a = vec!["bench", "--backend", "cpu", "--steps", "1", "--warmup", "0"];
        a.extend_from_slice(extra);
        recaux(&a)
    };
    assert_clean_failure(
        &bench(&["--batch", "4", "--seq", "4611686018427387904"]),
        &["`--seq`", "limit"],
    );
    assert_clean_failure(
        &bench(&["--batch", "100000", "--seq", "100000"]),
        &["`--batch`", "limit"],
    );
    // each within its own limit, together too big for one buffer
    assert_clean_failure(
        &bench(&["--batch", "60000", "--seq", "1000000"]),
        &["--batch, --seq", "limit"],
    );
    let sx = d.join("synth");
    let sx = sx.to_str().unwrap();
    assert_clean_failure(
        &recaux(&["synth", "--out", sx, "--clips-per-genre", "1000000000000"]),
        &["`--clips-per-genre`", "limit"],
    );
    assert_clean_failure(
        &recaux(&["synth", "--out", sx, "--sample-rate", "4000000000"]),
        &["--sample-rate"],
    );
    make_store(&d.join("s.rfs"), true, 0);
    let base = config_text(&d.join("s.rfs"), &d, "run", 1);
    for (from, to, field) in [
        ("hidden: 5", "hidden: 100000000", "`model.hidden`"),
        (
            "batch_size: 8",
            "batch_size: 4611686018427387904",
            "`sampler.batch_size`",
        ),
        (
            "crop_frames: 12",
            "crop_frames: 1000000000",
            "`sampler.crop_frames`",
        ),
        (
            "batch_size: 8, crop_frames: 12",
            "batch_size: 60000, crop_frames: 1000000",
            "sampler.batch_size, sampler.crop_frames",
        ),
    ] {
        let cfg = write(&d, "c.yaml", &base.replace(from, to));
        let o = recaux(&["train", "--config", cfg.to_str().unwrap()]);
        assert_clean_failure(&o, &[field, "c.yaml"]);
    }
    let wav = d.join("t.wav");
    tone_wav(&wav, 16000, 0.2);
    let w = wav.to_str().unwrap();
    let x = d.join("x.npy");
    let x = x.to_str().unwrap();
    for (flags, field) in [
        (&["--n-fft", "2147483648"][..], "`features.n_fft`"),
        (&["--clip-seconds", "1e6"], "`features.clip_seconds`"),
        (&["--sample-rate", "1000000000"], "`features.sample_rate`"),
        (
            &["--clip-seconds", "3600", "--hop-length", "1"],
            "`features.hop_length`",
        ),
        (&["--n-mels", "100000"], "`features.n_mels`"),
    ] {
        let mut a = vec!["mel", w, "-o", x];
        a.extend_from_slice(flags);
        assert_clean_failure(&recaux(&a), &[field]);
    }
}

/// A fake extractor: a text file `GOOD <v> <frames>` gives features equal to v.
fn fake(path: &Path, cfg: &FeatureConfig) -> Result<Clip, ClipError> {
    let text = std::fs::read_to_string(path).map_err(|_| ClipError::Missing)?;
    let w: Vec<&str> = text.split_whitespace().collect();
    let v: f32 = w[1].parse().unwrap();
    let frames: usize = w[2].parse().unwrap();
    Ok(Clip {
        features: vec![v; frames * cfg.n_mels],
        frames,
        n_mels: cfg.n_mels,
        source_seconds: 1.0,
        padded: false,
        source_sample_rate: 16000,
        skipped_packets: 0,
    })
}

#[test]
fn prepare_recomputes_a_clip_whose_content_changed_with_the_same_size_and_mtime() {
    let d = tmpdir("rel_cache_content");
    let data = d.join("data");
    for c in ["a", "b"] {
        std::fs::create_dir_all(data.join(c)).unwrap();
        for k in 0..5 {
            std::fs::write(data.join(format!("{c}/{k}.wav")), format!("GOOD {k} 4")).unwrap();
        }
    }
    let ds = folders::load(&data).unwrap();
    let cfg = FeatureConfig {
        n_mels: 2,
        ..FeatureConfig::default()
    };
    let opts = PrepareOptions {
        split: SplitMethod::Ratio {
            val: 0.2,
            test: 0.2,
            seed: 1,
        },
        on_error: OnError::Skip,
        source: "test".into(),
        progress: false,
    };
    let out = d.join("s.rfs");
    prepare(&ds, &cfg, &out, &opts, &fake).unwrap();
    // same size, same modification time, other content
    let victim = data.join("a/3.wav");
    let mtime = std::fs::metadata(&victim).unwrap().modified().unwrap();
    std::fs::write(&victim, "GOOD 7 4").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&victim)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    assert_eq!(
        std::fs::metadata(&victim).unwrap().modified().unwrap(),
        mtime
    );
    let r = prepare(&ds, &cfg, &out, &opts, &fake).unwrap();
    assert_eq!((r.clips_reused, r.clips_computed), (9, 1));
    let s = FeatureStore::open(&out).unwrap();
    let i = (0..s.len()).find(|&i| s.name(i) == "a/3.wav").unwrap();
    assert_eq!(
        s.clip(i).unwrap().features[0].to_f32(),
        7.0,
        "stale features reused"
    );
}

#[test]
fn prepare_refuses_to_replace_a_file_or_folder_that_is_not_its_own() {
    let d = tmpdir("rel_prepare_out");
    let data = d.join("data");
    for class in ["a", "b"] {
        std::fs::create_dir_all(data.join(class)).unwrap();
        for k in 0..3 {
            tone_wav(&data.join(format!("{class}/{k}.wav")), 16000, 0.3);
        }
    }
    let prep = |out: &Path| prepare_folders(&data, out, "0.3");
    let victim = d.join("victim.mp3");
    std::fs::write(&victim, b"ID3 my music").unwrap();
    assert_clean_failure(
        &prep(&victim),
        &[victim.to_str().unwrap(), "not a recaux feature store"],
    );
    assert_eq!(std::fs::read(&victim).unwrap(), b"ID3 my music");
    // a folder named like the cache that is not one is not emptied
    let store = d.join("s.rfs");
    std::fs::create_dir_all(d.join("s.rfs.cache")).unwrap();
    std::fs::write(d.join("s.rfs.cache/notes.clip"), b"mine").unwrap();
    assert_clean_failure(&prep(&store), &["s.rfs.cache", "not a prepare cache"]);
    assert_eq!(
        std::fs::read(d.join("s.rfs.cache/notes.clip")).unwrap(),
        b"mine"
    );
    // a store is replaced, as before
    std::fs::remove_dir_all(d.join("s.rfs.cache")).unwrap();
    let o = prep(&store);
    assert!(o.status.success(), "{}", err(&o));
    let o = prep(&store);
    assert!(o.status.success(), "re-run over its own store: {}", err(&o));
}

#[test]
fn messages_name_the_path_or_field() {
    let d = tmpdir("rel_messages");
    make_store(&d.join("s.rfs"), true, 0);
    // a store path that is a directory
    std::fs::create_dir_all(d.join("dir.rfs")).unwrap();
    let cfg = write(&d, "c.yaml", &config_text(&d.join("dir.rfs"), &d, "run", 1));
    let o = recaux(&["train", "--config", cfg.to_str().unwrap()]);
    assert_clean_failure(&o, &["dir.rfs", "a directory"]);
    // an out_dir under a file
    std::fs::write(d.join("afile"), b"x").unwrap();
    let under = d.join("afile/runs");
    let cfg = write(
        &d,
        "c.yaml",
        &config_text(&d.join("s.rfs"), &under, "run", 1),
    );
    let o = recaux(&["train", "--config", cfg.to_str().unwrap()]);
    assert_clean_failure(&o, &["afile"]);
    // a directory given as an audio file
    let o = recaux(&[
        "mel",
        d.to_str().unwrap(),
        "-o",
        d.join("x.npy").to_str().unwrap(),
    ]);
    assert_clean_failure(&o, &[d.to_str().unwrap(), "a directory"]);
    // config syntax errors name the file, not a "config field"
    let cfg = write(
        &d,
        "bad.yaml",
        &(config_text(&d.join("s.rfs"), &d, "run", 1) + "bogus: 3\n"),
    );
    let o = recaux(&["train", "--config", cfg.to_str().unwrap()]);
    let line = assert_clean_failure(&o, &["bad.yaml", "unknown field `bogus`", "line"]);
    assert!(!line.contains("config field `"), "{line}");
    // a rank-3 fc1.weight is reported as fc1.weight
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torch");
    let src =
        recaux::safetensors_io::TensorFile::open(&fx.join("seed32_weights.safetensors")).unwrap();
    let mut w = recaux::safetensors_io::TensorWriter::new();
    for n in src.names() {
        let (v, shape) = src.f32(&n, None).unwrap();
        let shape = if n == "fc1.weight" {
            vec![1, shape[0], shape[1]]
        } else {
            shape
        };
        w.f32(&n, &shape, &v);
    }
    let wp = d.join("rank3.safetensors");
    w.write(&wp).unwrap();
    let o = recaux(&[
        "step",
        "--weights",
        wp.to_str().unwrap(),
        "--input",
        fx.join("seed32_input.safetensors").to_str().unwrap(),
        "--out",
        d.join("o.safetensors").to_str().unwrap(),
    ]);
    let line = assert_clean_failure(&o, &["fc1.weight", "rank 3", "rank3.safetensors"]);
    assert!(!line.contains("lstm1.weight_ih_l0"), "{line}");
}
