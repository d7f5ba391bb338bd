//! recaux synth: layout, tracks.csv in FMA's format (parsed by our FMA reader), WAV headers,
//! the broken files, determinism.

mod data_common;

use recaux::data::Split;
use recaux::data::fma::{self, Subset};
use recaux::data::synth::{CorruptKind, SynthConfig, clip_samples, synth};

fn small(seed: u64, corrupt: usize) -> SynthConfig {
    SynthConfig {
        genres: 4,
        clips_per_genre: 5,
        seconds: 1.0,
        sample_rate: 8000,
        corrupt,
        seed,
    }
}

#[test]
fn writes_fma_layout_and_metadata() {
    let dir = data_common::tmpdir("synth_layout");
    let s = synth(&dir, &small(7, 5)).unwrap();
    assert_eq!(s.tracks.len(), 25);
    assert_eq!(
        s.genres,
        vec!["Electronic", "Experimental", "Folk", "Hip-Hop"]
    );
    let kinds: Vec<CorruptKind> = s.tracks.iter().filter_map(|t| t.corrupt).collect();
    assert_eq!(kinds.len(), 5);
    for k in [
        CorruptKind::Empty,
        CorruptKind::Truncated,
        CorruptKind::Id3Only,
        CorruptKind::NotAudio,
    ] {
        assert!(kinds.contains(&k), "{k:?} in {kinds:?}");
    }
    for t in &s.tracks {
        let stem = format!("{:06}", t.id);
        let rel = t.path.strip_prefix(dir.join("fma_small")).unwrap();
        let ext = if t.corrupt == Some(CorruptKind::Id3Only) {
            "mp3"
        } else {
            "wav"
        };
        assert_eq!(
            rel,
            std::path::Path::new(&stem[..3]).join(format!("{stem}.{ext}"))
        );
        let b = std::fs::read(&t.path).unwrap();
        match t.corrupt {
            None => {
                // RIFF/WAVE, PCM, mono, 8000 Hz, 16 bit, 8000 samples
                assert_eq!(&b[0..4], b"RIFF");
                assert_eq!(&b[8..12], b"WAVE");
                assert_eq!(u16::from_le_bytes([b[20], b[21]]), 1);
                assert_eq!(u16::from_le_bytes([b[22], b[23]]), 1);
                assert_eq!(u32::from_le_bytes(b[24..28].try_into().unwrap()), 8000);
                assert_eq!(u16::from_le_bytes([b[34], b[35]]), 16);
                assert_eq!(b.len(), 44 + 2 * 8000);
                let peak = b[44..]
                    .chunks(2)
                    .map(|c| i16::from_le_bytes([c[0], c[1]]).unsigned_abs())
                    .max()
                    .unwrap();
                assert!(peak > 8000, "audible: peak {peak}");
            }
            Some(CorruptKind::Empty) => assert!(b.is_empty()),
            Some(CorruptKind::Truncated) => assert!(b.starts_with(b"RIFF") && b.len() < 44),
            Some(CorruptKind::Id3Only) => assert!(b.starts_with(b"ID3") && b.len() < 100),
            Some(CorruptKind::NotAudio) => assert!(b.starts_with(b"this is a text file")),
        }
    }
    // tracks.csv reads back through the FMA parser with the same ids, genres and splits
    let csv_path = dir.join("fma_metadata/tracks.csv");
    let tracks = fma::read_tracks(&csv_path).unwrap();
    assert_eq!(tracks.len(), 25);
    assert_eq!(s.tracks.len(), tracks.len());
    for (t, w) in tracks.iter().zip(&s.tracks) {
        assert_eq!(t.id, w.id);
        assert_eq!(t.genre_top.as_deref(), Some(w.genre.as_str()));
        assert_eq!(t.split, Some(w.split));
        assert_eq!(t.subset, Some(Subset::Small));
    }
    // official-like 80/10/10 over 25 tracks: round(2.5) = 3 test and 3 validation
    // (f64::round takes ties away from zero), 19 training
    let n = |sp: Split| tracks.iter().filter(|t| t.split == Some(sp)).count();
    assert_eq!(
        [n(Split::Train), n(Split::Validation), n(Split::Test)],
        [19, 3, 3]
    );
    // header shape and a quoted newline
    let text = std::fs::read_to_string(&csv_path).unwrap();
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/data/tracks_example.csv"
    ))
    .unwrap();
    let head = |t: &str| t.lines().take(3).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(
        head(&text),
        head(&example),
        "the same three header lines as FMA's"
    );
    assert!(
        text.lines().count() > 3 + 25,
        "a quoted newline adds a physical line"
    );
    assert!(dir.join("fma_metadata/genres.csv").exists());
    // the dataset view sees every track; the FMA loader finds the .mp3 of the ID3-only one
    let ds = fma::load(
        &dir.join("fma_small"),
        &dir.join("fma_metadata"),
        Subset::Small,
    )
    .unwrap();
    assert_eq!(ds.items.len(), 25);
    assert_eq!(ds.items.len(), s.tracks.len());
    for (it, t) in ds.items.iter().zip(&s.tracks) {
        assert_eq!(it.path, t.path);
    }
}

#[test]
fn deterministic_from_the_seed_and_rerunnable() {
    let a = data_common::tmpdir("synth_det_a");
    let b = data_common::tmpdir("synth_det_b");
    let sa = synth(&a, &small(3, 2)).unwrap();
    let sb = synth(&b, &small(3, 2)).unwrap();
    assert_eq!(sa.tracks.len(), sb.tracks.len());
    for (x, y) in sa.tracks.iter().zip(&sb.tracks) {
        assert_eq!(x.id, y.id);
        assert_eq!(
            std::fs::read(&x.path).unwrap(),
            std::fs::read(&y.path).unwrap()
        );
    }
    assert_eq!(
        std::fs::read(a.join("fma_metadata/tracks.csv")).unwrap(),
        std::fs::read(b.join("fma_metadata/tracks.csv")).unwrap()
    );
    // a second run into the same folder replaces it
    let sa2 = synth(&a, &small(4, 0)).unwrap();
    assert_eq!(sa2.tracks.len(), 20);
    assert_ne!(
        clip_samples(&small(3, 0), 0, 0),
        clip_samples(&small(4, 0), 0, 0)
    );
    // a folder with foreign FMA data is not touched
    let c = data_common::tmpdir("synth_foreign");
    std::fs::create_dir_all(c.join("fma_small")).unwrap();
    assert!(synth(&c, &small(1, 0)).is_err());
}

#[test]
fn cli_synth_writes_the_dataset() {
    let dir = data_common::tmpdir("synth_cli");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_recaux"))
        .args([
            "synth",
            "--out",
            dir.to_str().unwrap(),
            "--genres",
            "3",
            "--clips-per-genre",
            "2",
        ])
        .args([
            "--seconds",
            "0.5",
            "--sample-rate",
            "8000",
            "--corrupt",
            "2",
            "--seed",
            "9",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("8 tracks (6 clips"), "{stdout}");
    let tracks = fma::read_tracks(&dir.join("fma_metadata/tracks.csv")).unwrap();
    assert_eq!(tracks.len(), 8);
    // a bad argument is one error line and a failure exit
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_recaux"))
        .args(["synth", "--out", dir.to_str().unwrap(), "--genres", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("genres"), "{err}");
}

/// Simple per-clip descriptors: zero-crossing rate, RMS of the first difference over RMS
/// (brightness), and the spread of the 50 ms RMS envelope (rhythm).
fn descriptors(x: &[f32], sr: usize) -> [f64; 3] {
    let zc = x
        .windows(2)
        .filter(|w| (w[0] >= 0.0) != (w[1] >= 0.0))
        .count() as f64
        / x.len() as f64;
    let rms = (x.iter().map(|&v| (v * v) as f64).sum::<f64>() / x.len() as f64).sqrt();
    let drms = (x
        .windows(2)
        .map(|w| ((w[1] - w[0]) as f64).powi(2))
        .sum::<f64>()
        / x.len() as f64)
        .sqrt();
    let win = sr / 20;
    let env: Vec<f64> = x
        .chunks(win)
        .map(|c| (c.iter().map(|&v| (v * v) as f64).sum::<f64>() / c.len() as f64).sqrt())
        .collect();
    let m = env.iter().sum::<f64>() / env.len() as f64;
    let sd = (env.iter().map(|e| (e - m) * (e - m)).sum::<f64>() / env.len() as f64).sqrt();
    [zc, drms / rms.max(1e-9), sd / m.max(1e-9)]
}

#[test]
fn genres_are_learnable_but_clips_vary() {
    // Leave-one-out nearest centroid on 3 crude descriptors (z-scored): well above chance (so
    // genres differ), while clips of one genre are not identical.
    let cfg = SynthConfig {
        genres: 8,
        clips_per_genre: 8,
        seconds: 4.0,
        sample_rate: 16000,
        corrupt: 0,
        seed: 0,
    };
    let mut feats = Vec::new();
    for g in 0..8 {
        for k in 0..8 {
            let x = clip_samples(&cfg, g, k);
            assert_eq!(x.len(), 64000);
            feats.push((g, descriptors(&x, 16000)));
        }
    }
    assert_ne!(clip_samples(&cfg, 0, 0), clip_samples(&cfg, 0, 1));
    let n = feats.len() as f64;
    let mut mean = [0.0; 3];
    let mut sd = [0.0; 3];
    for d in 0..3 {
        mean[d] = feats.iter().map(|f| f.1[d]).sum::<f64>() / n;
        sd[d] = (feats
            .iter()
            .map(|f| (f.1[d] - mean[d]).powi(2))
            .sum::<f64>()
            / n)
            .sqrt();
    }
    let z: Vec<(usize, [f64; 3])> = feats
        .iter()
        .map(|(g, f)| (*g, [0, 1, 2].map(|d| (f[d] - mean[d]) / sd[d].max(1e-12))))
        .collect();
    let mut correct = 0;
    for (i, (gi, fi)) in z.iter().enumerate() {
        let mut best = (f64::MAX, 0);
        for g in 0..8 {
            let others: Vec<&[f64; 3]> = z
                .iter()
                .enumerate()
                .filter(|(j, (gj, _))| *j != i && *gj == g)
                .map(|(_, (_, f))| f)
                .collect();
            let c =
                [0, 1, 2].map(|d| others.iter().map(|f| f[d]).sum::<f64>() / others.len() as f64);
            let dist: f64 = (0..3).map(|d| (fi[d] - c[d]).powi(2)).sum();
            if dist < best.0 {
                best = (dist, g);
            }
        }
        correct += (best.1 == *gi) as usize;
    }
    let acc = correct as f64 / n;
    eprintln!("nearest-centroid accuracy on 3 descriptors: {acc:.3} (chance 0.125)");
    assert!(acc > 0.35, "genres should be separable: {acc}");
}
