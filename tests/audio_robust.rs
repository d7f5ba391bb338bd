//! Bad files never panic and are classified (missing, empty, ID3-only, random bytes,
//! truncated files of every format, corrupted mp3 packets); `clip_features` is thread-safe.

use rayon::prelude::*;
use recaux::audio::{self, ClipError, FeatureConfig, decode};
use recaux::rng::{philox4x32_10, seed_key};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/audio")
        .join(name)
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("recaux-audio-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn random_bytes(seed: u64, n: usize) -> Vec<u8> {
    let key = seed_key(seed);
    (0..n)
        .map(|i| (philox4x32_10([i as u32, 0, 0, 0], key)[0] & 0xff) as u8)
        .collect()
}

fn small_cfg() -> FeatureConfig {
    FeatureConfig {
        clip_seconds: 1.0,
        ..FeatureConfig::default()
    }
}

#[test]
fn missing_file_is_missing() {
    let r = audio::clip_features(Path::new("/nonexistent/dir/000000.mp3"), &small_cfg());
    assert_eq!(r.unwrap_err(), ClipError::Missing);
}

#[test]
fn empty_file_has_no_audio() {
    let d = tmpdir("empty");
    let p = d.join("empty.mp3");
    std::fs::write(&p, b"").unwrap();
    assert!(matches!(
        audio::clip_features(&p, &small_cfg()),
        Err(ClipError::NoAudio(_))
    ));
}

/// Like FMA's 099134/108925/133297: an ID3v2 tag (here 4 KiB of frames/padding) and nothing else.
#[test]
fn id3_only_file_has_no_audio() {
    let d = tmpdir("id3");
    let body = 4096u32;
    let mut b = b"ID3\x03\x00\x00".to_vec();
    b.extend(
        [
            (body >> 21) & 0x7f,
            (body >> 14) & 0x7f,
            (body >> 7) & 0x7f,
            body & 0x7f,
        ]
        .map(|x| x as u8),
    );
    let mut frame = b"TIT2\x00\x00\x00\x06\x00\x00\x00title".to_vec();
    frame.resize(body as usize, 0);
    b.extend(frame);
    let p = d.join("099134.mp3");
    std::fs::write(&p, &b).unwrap();
    let r = audio::clip_features(&p, &small_cfg());
    assert!(matches!(r, Err(ClipError::NoAudio(_))), "{r:?}");
}

#[test]
fn random_bytes_are_rejected_without_panic() {
    let d = tmpdir("random");
    for (i, ext) in ["mp3", "wav", "flac", "ogg", "bin"].iter().enumerate() {
        for n in [1usize, 10, 100, 4096, 100_000] {
            let p = d.join(format!("r{n}.{ext}"));
            std::fs::write(&p, random_bytes(1000 * i as u64 + n as u64, n)).unwrap();
            match audio::clip_features(&p, &small_cfg()) {
                Err(ClipError::NotAudio(_) | ClipError::Decode(_) | ClipError::NoAudio(_)) => {}
                // Random bytes may hold valid-looking mp3 frame headers; then a few decoded
                // frames are fine, but the result must still be well-formed.
                Ok(c) => assert_eq!(c.features.len(), c.frames * c.n_mels),
                Err(e) => panic!("{}: unexpected {e}", p.display()),
            }
        }
    }
}

#[test]
fn truncated_files_never_panic() {
    let d = tmpdir("trunc");
    for name in [
        "music_44100_stereo.mp3",
        "tone_16k.wav",
        "music_16k.flac",
        "music_22050.ogg",
    ] {
        let full = std::fs::read(fixture(name)).unwrap();
        let ext = name.rsplit('.').next().unwrap();
        for cut in [
            1usize,
            4,
            12,
            44,
            100,
            417,
            1000,
            full.len() / 3,
            full.len() - 1,
        ] {
            let p = d.join(format!("cut{cut}.{ext}"));
            std::fs::write(&p, &full[..cut.min(full.len())]).unwrap();
            match audio::clip_features(&p, &small_cfg()) {
                Ok(c) => assert!(c.frames > 0 && c.features.iter().all(|v| v.is_finite())),
                Err(e) => eprintln!("{name} cut at {cut}: {e}"),
            }
        }
        // A third of the file decodes to roughly a third of the audio.
        let p = d.join(format!("third.{ext}"));
        std::fs::write(&p, &full[..full.len() / 3]).unwrap();
        let whole = decode::decode_mono(&fixture(name)).unwrap().samples.len() as f64;
        if ext == "ogg" {
            // symphonia's ogg reader (0.5 and 0.6.1) reads the last page at open; a file cut mid-page is
            // reported as a decode error (documented in decode.rs), not partially decoded.
            let r = decode::decode_mono(&p);
            assert!(matches!(r, Err(ClipError::Decode(_))), "{r:?}");
            continue;
        }
        let part = decode::decode_mono(&p).expect(name).samples.len() as f64;
        assert!(
            part > 0.2 * whole && part < 0.5 * whole,
            "{name}: {part} of {whole}"
        );
    }
}

/// Garbage over two packets in the middle of an mp3: the broken packets are skipped (or decode
/// to noise) and decoding goes on to the end, as ffmpeg/mpg123 do.
#[test]
fn corrupt_mp3_packets_are_skipped() {
    let d = tmpdir("corrupt");
    let mut b = std::fs::read(fixture("music_44100_stereo.mp3")).unwrap();
    let mid = b.len() / 2;
    let junk = random_bytes(7, 800);
    b[mid..mid + 800].copy_from_slice(&junk);
    let p = d.join("corrupt.mp3");
    std::fs::write(&p, &b).unwrap();
    let dec = decode::decode_mono(&p).unwrap();
    eprintln!(
        "corrupt mp3: {} samples, {} packets skipped",
        dec.samples.len(),
        dec.skipped_packets
    );
    // A frame is 1152 samples; losing up to ~4 frames is fine, going on to the end is required.
    assert!(
        dec.samples.len() > 88200 - 6 * 1152,
        "{} samples",
        dec.samples.len()
    );
    let c = audio::clip_features(&p, &small_cfg()).unwrap();
    assert!(c.features.iter().all(|v| v.is_finite()));
}

#[test]
fn parallel_calls_equal_sequential() {
    let names = [
        "tone_16k.wav",
        "music_16k.flac",
        "music_22050.ogg",
        "music_44100_stereo.flac",
        "music_44100_stereo.mp3",
        "chirp_8k.wav",
    ];
    let cfg = small_cfg();
    let seq: Vec<Vec<f32>> = names
        .iter()
        .map(|n| audio::clip_features(&fixture(n), &cfg).unwrap().features)
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap();
    let par: Vec<Vec<f32>> = pool.install(|| {
        names
            .par_iter()
            .flat_map(|n| [n, n, n])
            .map(|n| audio::clip_features(&fixture(n), &cfg).unwrap().features)
            .collect()
    });
    for (i, p) in par.iter().enumerate() {
        assert_eq!(p, &seq[i / 3], "{}", names[i / 3]);
    }
}

#[test]
fn invalid_config_is_an_error_not_a_panic() {
    for cfg in [
        FeatureConfig {
            n_fft: 0,
            ..FeatureConfig::default()
        },
        FeatureConfig {
            hop_length: 0,
            ..FeatureConfig::default()
        },
        FeatureConfig {
            fmax: Some(9000.0),
            ..FeatureConfig::default()
        },
        FeatureConfig {
            clip_seconds: -1.0,
            ..FeatureConfig::default()
        },
        FeatureConfig {
            sample_rate: 0,
            ..FeatureConfig::default()
        },
    ] {
        assert!(cfg.validate().is_err(), "{cfg:?}");
        assert!(matches!(
            audio::clip_features(&fixture("tone_16k.wav"), &cfg),
            Err(ClipError::Decode(_))
        ));
    }
}

#[test]
fn yaml_config_with_section_or_bare() {
    let a =
        FeatureConfig::from_yaml_str("features:\n  pad_mode: constant\n  n_mels: 64\nother: 3\n")
            .unwrap();
    assert_eq!(
        (a.pad_mode, a.n_mels, a.sample_rate),
        (audio::PadMode::Constant, 64, 16000)
    );
    let b = FeatureConfig::from_yaml_str("n_mels: 40\nfmax: 4000\n").unwrap();
    assert_eq!((b.n_mels, b.fmax), (40, Some(4000.0)));
    assert!(FeatureConfig::from_yaml_str("n_melz: 40\n").is_err());
    assert!(FeatureConfig::from_yaml_str("features:\n  n_fft: 3\n").is_err());
}
