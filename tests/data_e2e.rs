//! End to end through the binary: `recaux synth --corrupt 3`, then `recaux prepare` on it with
//! the real audio decoder. The report must list exactly the broken files with reasons, and the
//! store must load with the right labels and split sizes.

mod data_common;

use recaux::data::Split;
use recaux::data::fma;
use recaux::data::report::PrepareReport;
use recaux::data::store::FeatureStore;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

fn recaux(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_recaux"))
        .args(args)
        .env("RAYON_NUM_THREADS", "2")
        .output()
        .unwrap();
    eprintln!(
        "$ recaux {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

// Ignored on the `data` branch only: `crate::audio::clip_features` is a stub there (every
// file is a decode error), so this test needs the audio branch. The lead removes this
// #[ignore] when merging the audio side.
#[ignore = "needs the real audio decoder (audio branch); un-ignore on merge"]
#[test]
fn synth_corrupt_then_prepare() {
    let dir = data_common::tmpdir("e2e_synth_prepare");
    let d = dir.to_str().unwrap();
    let o = recaux(&[
        "synth",
        "--out",
        d,
        "--genres",
        "8",
        "--clips-per-genre",
        "6",
        "--seconds",
        "4",
        "--corrupt",
        "3",
        "--seed",
        "5",
    ]);
    assert!(o.status.success());
    let audio = dir.join("fma_small");
    let meta = dir.join("fma_metadata");
    let store = dir.join("small.store");
    let (a, m, s) = (
        audio.to_str().unwrap(),
        meta.to_str().unwrap(),
        store.to_str().unwrap(),
    );
    let o = recaux(&[
        "prepare",
        "--fma-audio",
        a,
        "--fma-meta",
        m,
        "--split",
        "official",
        "--clip-seconds",
        "4",
        "--out",
        s,
        "--quiet",
    ]);
    assert!(o.status.success());

    // the broken tracks, from synth's own record of what it wrote
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("synth.json")).unwrap()).unwrap();
    let broken: BTreeSet<String> = summary["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| !t["corrupt"].is_null())
        .map(|t| format!("{:06}", t["id"].as_u64().unwrap()))
        .collect();
    assert_eq!(broken.len(), 3);

    let report: PrepareReport = serde_json::from_str(
        &std::fs::read_to_string(dir.join("small.store.report.json")).unwrap(),
    )
    .unwrap();
    let skipped: BTreeSet<String> = report.skipped.iter().map(|s| s.name.clone()).collect();
    assert_eq!(skipped, broken, "exactly the broken files are skipped");
    for s in &report.skipped {
        assert!(
            ["no audio", "not audio", "decode error"].contains(&s.reason.as_str()),
            "{s:?}"
        );
    }
    // (padded is not checked: whether resampling 4 s of 22.05 kHz audio gives exactly
    // 64000 samples at 16 kHz is the audio side's business)
    assert_eq!((report.clips_total, report.clips_ok), (51, 48));

    // the store: labels from tracks.csv, the official split of the good tracks
    let st = FeatureStore::open(&store).unwrap();
    assert_eq!(st.len(), 48);
    assert_eq!(st.class_names().len(), 8);
    let tracks = fma::read_tracks(&meta.join("tracks.csv")).unwrap();
    let by_id: BTreeMap<u64, &fma::Track> = tracks.iter().map(|t| (t.id, t)).collect();
    let mut want = [0usize; 3];
    for t in tracks
        .iter()
        .filter(|t| !broken.contains(&format!("{:06}", t.id)))
    {
        want[t.split.unwrap().code() as usize] += 1;
    }
    let got = [Split::Train, Split::Validation, Split::Test].map(|s| st.indices(s).len());
    assert_eq!(got, want);
    for i in 0..st.len() {
        let t = by_id[&st.track_id(i)];
        assert_eq!(
            Some(st.class_names()[st.label(i) as usize].as_str()),
            t.genre_top.as_deref()
        );
        assert_eq!(Some(st.split(i)), t.split);
        let c = st.clip(i).unwrap();
        // 4 s at 16 kHz, hop 512, centred: 1 + 64000 / 512 = 126 frames
        assert_eq!((c.frames, c.features.len()), (126, 126 * 128));
        assert!(c.features.iter().all(|x| x.is_finite()));
    }
}
