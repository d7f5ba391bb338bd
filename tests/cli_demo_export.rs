//! The demo command end to end at a small size, then `recaux eval`, `recaux export` and
//! `recaux predict` on its run; and `recaux export` against PyTorch: the file it writes is the
//! state_dict PyTorch loaded, whose logits PyTorch computed (tests/fixtures/torch/export_*,
//! scripts/ref/export_fixture.py).

use recaux::backend::cpu::CpuBackend;
use recaux::interop;
use recaux::model::Model;
use recaux::safetensors_io::TensorFile;
use recaux::train::TrainConfig;
use recaux::train::checkpoint::{Best, RunState, save, save_best};
use recaux::train::config::to_yaml;
use recaux::train::{Adam, AdamConfig};
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

/// `recaux export` writes what PyTorch loads, and the logits PyTorch computes from it are
/// recaux's. The fixture (tests/fixtures/torch/export_*.safetensors, made by
/// scripts/ref/export_fixture.py) holds a file `recaux export` wrote, the logits PyTorch
/// computed from it after `load_state_dict(load_file(..), strict=True)`, and the input. Here
/// those weights become a run's best checkpoint the way training writes it (`save_best`),
/// the `recaux export` binary runs on the run, and its file must hold the tensors PyTorch
/// loaded (names, shapes, f32, bit for bit); recaux's forward pass on that file must give
/// PyTorch's logits.
#[test]
fn export_writes_what_pytorch_loads_and_gives_its_logits() {
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torch");
    let loaded_by_torch = TensorFile::open(&fx.join("export_weights.safetensors")).unwrap();
    let (spec, weights) = interop::load_weights(&loaded_by_torch, true).unwrap();
    // a run of λ [0, 1] x seed 0 whose replica 1 (λ 1) has these best weights (replica 0
    // holds other values, so exporting the wrong replica cannot pass)
    let be = CpuBackend::<f32>::new();
    let host: Vec<Vec<f32>> = weights
        .iter()
        .map(|w| {
            let other = w.iter().map(|&v| 0.5 * v as f32 - 0.01);
            other.chain(w.iter().map(|&v| v as f32)).collect()
        })
        .collect();
    let model = Model::from_host(&be, spec, &[0, 0], &host).unwrap();
    let dir = std::env::temp_dir().join(format!("recaux-export-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = TrainConfig {
        name: "exp".into(),
        store: dir.join("unused.rfs"),
        out_dir: dir.clone(),
        backend: Default::default(),
        precision: Default::default(),
        model: spec,
        sampler: Default::default(),
        optim: Default::default(),
        lambdas: vec![0.0, 1.0],
        seeds: vec![0],
    };
    std::fs::create_dir_all(cfg.run_dir()).unwrap();
    std::fs::write(cfg.run_dir().join("config.yaml"), to_yaml(&cfg).unwrap()).unwrap();
    // the checkpoint of a run after one epoch in which only replica 1 validated
    let mut state = RunState::new(2);
    state.epoch = 1;
    state.best[1] = Best {
        epoch: Some(0),
        val_acc: 1.0,
        stale: 0,
    };
    let adam = Adam::new(&be, &model, AdamConfig::default()).unwrap();
    save(&be, &cfg, &cfg.replicas(), &model, &adam, &state).unwrap();
    save_best(&be, &cfg, &model, 1, 0).unwrap();
    let out = dir.join("export");
    let r = recaux(&[
        "export",
        "--run",
        cfg.run_dir().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        r.status.success(),
        "export: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    let exported = TensorFile::open(&out.join("lambda_1_seed_0.safetensors")).unwrap();
    assert!(
        !out.join("lambda_0_seed_0.safetensors").exists(),
        "replica 0 has no best weights"
    );
    // the same state_dict PyTorch loaded strictly: names, shapes, dtype and bits
    let mut names = exported.names();
    names.sort();
    let mut want_names = loaded_by_torch.names();
    want_names.sort();
    assert_eq!(names, want_names);
    for n in &names {
        assert_eq!(exported.shape(n), loaded_by_torch.shape(n), "{n}: shape");
        let (got, _) = exported.f32(n, None).unwrap();
        let (want, _) = loaded_by_torch.f32(n, None).unwrap();
        assert_eq!(got.len(), want.len(), "{n}: length");
        assert!(
            got.iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{n}: values differ from the file PyTorch loaded"
        );
    }
    // recaux's logits from the exported file against PyTorch's from the same file
    let (spec2, w2) = interop::load_weights(&exported, true).unwrap();
    let inp = TensorFile::open(&fx.join("export_input.safetensors")).unwrap();
    let batch = interop::load_batch(&inp, &spec2, true).unwrap();
    let got = interop::step(&be, spec2, &w2, &batch, 1.0).unwrap().logits;
    let want = TensorFile::open(&fx.join("export_expected.safetensors"))
        .unwrap()
        .float("logits", None)
        .unwrap()
        .0;
    assert_eq!(got.len(), want.len(), "logits: length");
    assert_eq!(got.len(), batch.b * spec2.classes);
    // f32 through 16 LSTM steps in another summation order than PyTorch's: as
    // tests/torch_parity.rs, |Δ| <= 1e-5 + 1e-4 |torch|
    let mut worst = 0.0f64;
    for (g, w) in got.iter().zip(&want) {
        let e = (*g as f64 - w).abs();
        worst = worst.max(e);
        assert!(e <= 1e-5 + 1e-4 * w.abs(), "logit {g} vs torch {w}");
    }
    println!("export: logits vs PyTorch's, max |Δ| = {worst:e}");
}
