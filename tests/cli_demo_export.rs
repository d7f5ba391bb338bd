//! The demo command end to end at a small size, then `recaux eval` and `recaux export` on its
//! run; and the export format against PyTorch: weights written the way a run writes its best
//! checkpoint give PyTorch's logits (tests/fixtures/torch, seed widths).

use recaux::backend::cpu::CpuBackend;
use recaux::interop;
use recaux::model::Model;
use recaux::safetensors_io::TensorFile;
use recaux::train::TrainConfig;
use recaux::train::checkpoint::{best_path, save_best};
use std::path::Path;
use std::process::Command;

fn recaux(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_recaux"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn demo_then_eval_and_export() {
    let out = std::env::temp_dir().join(format!("recaux-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let o = out.to_str().unwrap();
    let r = recaux(&[
        "demo",
        "--out",
        o,
        "--backend",
        "cpu",
        "--clips-per-genre",
        "6",
        "--seconds",
        "3",
        "--epochs",
        "2",
    ]);
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert!(
        r.status.success(),
        "demo failed: {}\n{stdout}",
        String::from_utf8_lossy(&r.stderr)
    );
    // the table has one row per replica (3 λ x 2 seeds) and the per-λ summary
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("| 10 | 1 |"))
            .count(),
        1,
        "{stdout}"
    );
    assert!(stdout.contains("test acc mean"), "{stdout}");
    let run = out.join("sweep");
    for f in [
        "results.md",
        "metrics.csv",
        "metrics.jsonl",
        "checkpoint.safetensors",
        "plots/test_acc_vs_lambda.png",
    ] {
        assert!(run.join(f).exists(), "{f} missing");
    }
    assert!(std::fs::read_dir(run.join("tensorboard")).unwrap().count() >= 1);
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        1 + 2 * 6,
        "header + 2 epochs x 6 replicas"
    );
    let r = recaux(&[
        "eval",
        "--run",
        run.to_str().unwrap(),
        "--split",
        "validation",
    ]);
    assert!(
        r.status.success(),
        "eval: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    let r = recaux(&["export", "--run", run.to_str().unwrap()]);
    assert!(
        r.status.success(),
        "export: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    let wav = out.join("data/fma_small/000/000002.wav");
    let r = recaux(&[
        "predict",
        "--run",
        run.to_str().unwrap(),
        "--lambda",
        "1",
        wav.to_str().unwrap(),
    ]);
    let p = String::from_utf8_lossy(&r.stdout);
    assert!(
        r.status.success(),
        "predict: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(
        p.contains("λ=1 seed=0:") && p.contains("λ=1 seed=1:") && !p.contains("λ=10"),
        "{p}"
    );
    let f = TensorFile::open(&run.join("export/lambda_1_seed_0.safetensors")).unwrap();
    assert_eq!(f.names().len(), 22);
    assert_eq!(
        f.shape("lstm2.weight_ih_l0_reverse").unwrap(),
        vec![128, 64]
    );
    store_with_another_resampler_is_refused(&out, &run);
}

/// The run recorded its feature settings (kaiser_best); the store re-prepared in place with
/// soxr_hq (all else equal) is refused by eval, predict and train --resume, each naming the
/// setting on one line.
fn store_with_another_resampler_is_refused(out: &Path, run: &Path) {
    let rec = std::fs::read_to_string(run.join("features.json")).unwrap();
    assert!(rec.contains("\"resampler\": \"kaiser_best\""), "{rec}");
    let data = out.join("data");
    let r = recaux(&[
        "prepare",
        "--fma-audio",
        data.join("fma_small").to_str().unwrap(),
        "--fma-meta",
        data.join("fma_metadata").to_str().unwrap(),
        "--split",
        "official",
        "--clip-seconds",
        "3",
        "--resampler",
        "soxr_hq",
        "--quiet",
        "--out",
        data.join("store.rfs").to_str().unwrap(),
    ]);
    assert!(
        r.status.success(),
        "prepare: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    let wav = out.join("data/fma_small/000/000002.wav");
    let config = run.join("config.yaml");
    let runs = [
        vec!["eval", "--run", run.to_str().unwrap()],
        vec![
            "predict",
            "--run",
            run.to_str().unwrap(),
            wav.to_str().unwrap(),
        ],
        vec!["train", "--config", config.to_str().unwrap(), "--resume"],
    ];
    for args in runs {
        let r = recaux(&args);
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success(), "{} accepted the store", args[0]);
        let line = err
            .lines()
            .find(|l| l.contains("features."))
            .unwrap_or_else(|| panic!("{}: {err}", args[0]));
        assert!(
            line.contains(
                "features.resampler: the run used \"kaiser_best\", the store has \"soxr_hq\""
            ) && !line.contains("features.n_mels"),
            "{}: {line}",
            args[0]
        );
    }
}

#[test]
fn exported_weights_give_pytorchs_logits() {
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torch");
    let wf = TensorFile::open(&fx.join("seed32_weights.safetensors")).unwrap();
    let (spec, weights) = interop::load_weights(&wf, true).unwrap();
    let be = CpuBackend::<f32>::new();
    let host: Vec<Vec<f32>> = weights
        .iter()
        .map(|w| w.iter().map(|&v| v as f32).collect())
        .collect();
    let model = Model::from_host(&be, spec, &[0], &host).unwrap();
    let dir = std::env::temp_dir().join(format!("recaux-export-{}", std::process::id()));
    let cfg = TrainConfig {
        name: "exp".into(),
        store: dir.join("unused.rfs"),
        out_dir: dir.clone(),
        backend: Default::default(),
        model: spec,
        sampler: Default::default(),
        optim: Default::default(),
        lambdas: vec![2.0],
        seeds: vec![0],
    };
    save_best(&be, &cfg, &model, 0, 0).unwrap();
    // the exported file reads as a state_dict and reproduces PyTorch's logits
    let exported = TensorFile::open(&best_path(&cfg, 0)).unwrap();
    let (spec2, w2) = interop::load_weights(&exported, true).unwrap();
    assert_eq!(spec2.features, 128);
    let inp = TensorFile::open(&fx.join("seed32_input.safetensors")).unwrap();
    let batch = interop::load_batch(&inp, &spec2, true).unwrap();
    let out = interop::step(&be, spec2, &w2, &batch, 2.0).unwrap();
    let want = TensorFile::open(&fx.join("seed32_expected.safetensors"))
        .unwrap()
        .float("logits", None)
        .unwrap()
        .0;
    for (g, w) in out.logits.iter().zip(&want) {
        assert!(
            (*g as f64 - w).abs() <= 1e-5 + 1e-4 * w.abs(),
            "logit {g} vs torch {w}"
        );
    }
}
