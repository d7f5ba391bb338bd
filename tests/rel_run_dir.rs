//! Issue 11, data loss and wrong results around a run folder: a finished run is never
//! replaced silently, one writer at a time, run names stay inside out_dir, resume refuses what
//! must not change (naming it), non-finite metrics read back, evaluation and prediction use
//! only a trained replica's weights, the files beside a checkpoint follow it.

mod rel_common;

use rel_common::*;
use std::path::Path;

fn train(cfg: &Path, extra: &[&str]) -> std::process::Output {
    let mut a = vec!["train", "--config", cfg.to_str().unwrap()];
    a.extend_from_slice(extra);
    recaux(&a)
}

fn ok(o: &std::process::Output, what: &str) {
    assert!(o.status.success(), "{what}: {}", err(o));
}

#[test]
fn train_refuses_to_replace_an_existing_run_unless_resume_or_overwrite() {
    let d = tmpdir("rel_replace");
    make_store(&d.join("s.rfs"), true, 0);
    let cfg = write(&d, "c.yaml", &config_text(&d.join("s.rfs"), &d, "run", 2));
    ok(&train(&cfg, &[]), "first run");
    let ck = d.join("run/checkpoint.safetensors");
    let before = std::fs::read(&ck).unwrap();
    let metrics = std::fs::read(d.join("run/metrics.jsonl")).unwrap();
    let o = train(&cfg, &[]);
    assert_clean_failure(
        &o,
        &["run", "already holds a run", "--resume", "--overwrite"],
    );
    assert_eq!(std::fs::read(&ck).unwrap(), before, "checkpoint replaced");
    assert_eq!(std::fs::read(d.join("run/metrics.jsonl")).unwrap(), metrics);
    // explicit: --overwrite replaces it
    let cfg1 = write(&d, "c1.yaml", &config_text(&d.join("s.rfs"), &d, "run", 1));
    ok(&train(&cfg1, &["--overwrite"]), "overwrite");
    let rows = std::fs::read_to_string(d.join("run/metrics.jsonl")).unwrap();
    assert_eq!(
        rows.lines().count(),
        2,
        "one epoch x 2 replicas after --overwrite"
    );
}

#[test]
fn a_second_writer_is_refused_while_a_run_holds_the_folder() {
    let d = tmpdir("rel_lock");
    make_store(&d.join("s.rfs"), true, 0);
    let text = config_text(&d.join("s.rfs"), &d, "run", 1);
    let cfg = write(&d, "c.yaml", &text);
    let parsed: recaux::train::TrainConfig =
        recaux::train::config::parse_yaml(&text, "c.yaml").unwrap();
    // this process holds the folder, as a running `recaux train` would
    let held =
        recaux::train::run_dir::RunDir::open(&parsed, recaux::train::run_dir::Start::New).unwrap();
    let pid = std::process::id().to_string();
    for flags in [&[][..], &["--overwrite"], &["--resume"]] {
        let o = train(&cfg, flags);
        assert_clean_failure(&o, &["in use by another run", &pid, "run.lock"]);
    }
    assert!(!d.join("run/checkpoint.safetensors").exists());
    drop(held);
    ok(&train(&cfg, &[]), "after the lock is released");
}

#[test]
fn run_names_that_are_not_one_folder_are_refused() {
    let d = tmpdir("rel_names");
    make_store(&d.join("s.rfs"), true, 0);
    let out = d.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let cfg = write(&d, "c.yaml", &config_text(&d.join("s.rfs"), &out, "run", 1));
    for name in ["..", ".", "a/b", "../x", ""] {
        let o = train(&cfg, &["--name", name]);
        assert_clean_failure(&o, &["`name`"]);
    }
    // nothing was written into out_dir or its parent
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
    assert!(!d.join("checkpoint.safetensors").exists() && !d.join("config.yaml").exists());
}

#[test]
fn eval_predict_and_export_refuse_a_run_whose_best_weights_are_missing() {
    let d = tmpdir("rel_nobest");
    make_store(&d.join("s.rfs"), true, 0);
    let cfg = write(&d, "c.yaml", &config_text(&d.join("s.rfs"), &d, "run", 2));
    ok(&train(&cfg, &[]), "train");
    let run = d.join("run");
    let wav = d.join("a.wav");
    tone_wav(&wav, 16000, 1.0);
    let r = run.to_str().unwrap();
    ok(&recaux(&["eval", "--run", r]), "eval with best/");
    std::fs::remove_dir_all(run.join("best")).unwrap();
    let best0 = run.join("best/replica_0.safetensors");
    let b = best0.to_str().unwrap();
    assert_clean_failure(&recaux(&["eval", "--run", r]), &[b, "missing"]);
    assert_clean_failure(
        &recaux(&["predict", "--run", r, wav.to_str().unwrap()]),
        &[b, "missing"],
    );
    assert_clean_failure(&recaux(&["export", "--run", r]), &[b, "missing"]);
}

#[test]
fn a_replica_that_never_validated_has_no_weights_and_stays_out_of_the_mean() {
    let d = tmpdir("rel_diverged");
    make_store(&d.join("s.rfs"), true, 0);
    // λ = 1e300: the L1 backward overflows f32 at the first step, so that replica stops
    // before its first validation; λ = 1 trains
    let text = config_text(&d.join("s.rfs"), &d, "run", 2)
        .replace("lambdas: [0, 1]", "lambdas: [1, 1e300]");
    let cfg = write(&d, "c.yaml", &text);
    let o = train(&cfg, &[]);
    ok(&o, "train");
    let md = std::fs::read_to_string(d.join("run/results.md")).unwrap();
    // λ = 1e300 prints in full: "| 1000000000000...000 | 0 | ..."
    let big: Vec<&str> = md
        .lines()
        .filter(|l| l.starts_with("| 10000000000"))
        .collect();
    assert_eq!(big.len(), 2, "its row and its mean: {md}");
    let row = big[0];
    assert!(row.contains("no weights"), "{row}");
    assert!(!row.contains("0.5000"), "{row}");
    let mean = big[1];
    assert!(
        mean.contains("no weights") && mean.contains("left out"),
        "{mean}"
    );
    let run = d.join("run");
    let e = recaux(&["eval", "--run", run.to_str().unwrap()]);
    ok(&e, "eval");
    assert!(out(&e).contains("no weights"), "{}", out(&e));
}

#[test]
fn resume_refuses_a_changed_setting_naming_the_field() {
    let d = tmpdir("rel_resume_fields");
    make_store(&d.join("s.rfs"), true, 0);
    let text = config_text(&d.join("s.rfs"), &d, "run", 2);
    let cfg = write(&d, "c.yaml", &text);
    ok(&train(&cfg, &[]), "train");
    let saved_cfg = std::fs::read(d.join("run/config.yaml")).unwrap();
    let ck = std::fs::read(d.join("run/checkpoint.safetensors")).unwrap();
    for (field, from, to) in [
        ("optim.lr", "lr: 0.01", "lr: 0.02"),
        ("sampler.crop_frames", "crop_frames: 12", "crop_frames: 10"),
        ("model.hidden", "hidden: 5", "hidden: 6"),
        ("seeds", "seeds: [0]", "seeds: [0, 1]"),
        ("lambdas", "lambdas: [0, 1]", "lambdas: [0, 2]"),
        ("optim.lr_decay", "lr_decay: 0.9", "lr_decay: 0.8"),
        ("sampler.seed", "seed: 3 }", "seed: 4 }"),
    ] {
        let changed = write(&d, "changed.yaml", &text.replace(from, to));
        let o = train(&changed, &["--resume", "--epochs", "3"]);
        let line = assert_clean_failure(&o, &[&format!("`{field}`"), "--resume"]);
        assert!(!line.contains("Replica {"), "no Debug structs: {line}");
    }
    // the run records the precision `auto` resolved to (f32 on the CPU); resuming on a
    // backend whose precision differs is refused, naming the field (before any step runs)
    let recorded = String::from_utf8(saved_cfg.clone()).unwrap();
    assert!(recorded.contains("precision: f32"), "{recorded}");
    let o = train(
        &cfg,
        &[
            "--resume",
            "--epochs",
            "3",
            "--backend",
            "emu",
            "--precision",
            "bf16",
        ],
    );
    assert_clean_failure(&o, &["`precision`", "--resume", "f32", "bf16"]);
    // training is f32: f64 is refused naming the field, and so is a mode the CPU lacks
    let f64_cfg = write(&d, "f64.yaml", &format!("{text}precision: f64\n"));
    assert_clean_failure(
        &train(&f64_cfg, &["--name", "other"]),
        &["`precision`", "f64"],
    );
    let o = train(&cfg, &["--name", "other", "--precision", "tf32"]);
    assert_clean_failure(&o, &["`precision`", "tf32", "cpu"]);
    // a refused resume changed nothing
    assert_eq!(std::fs::read(d.join("run/config.yaml")).unwrap(), saved_cfg);
    assert_eq!(
        std::fs::read(d.join("run/checkpoint.safetensors")).unwrap(),
        ck
    );
    // what may change: epochs (and early stopping)
    let more = write(
        &d,
        "more.yaml",
        &text
            .replace("epochs: 2", "epochs: 3")
            .replace("lr_decay: 0.9 }", "lr_decay: 0.9, early_stopping: 5 }"),
    );
    ok(&train(&more, &["--resume"]), "resume with more epochs");
    let rows = std::fs::read_to_string(d.join("run/metrics.jsonl")).unwrap();
    assert_eq!(rows.lines().count(), 3 * 2);
}

#[test]
fn resume_eval_and_predict_refuse_a_store_whose_content_changed() {
    let d = tmpdir("rel_resume_store");
    let store = d.join("s.rfs");
    make_store(&store, true, 0);
    let cfg = write(&d, "c.yaml", &config_text(&store, &d, "run", 1));
    ok(&train(&cfg, &[]), "train");
    // re-made in place: same path, same shape, other features
    make_store(&store, true, 1);
    let s = store.to_str().unwrap();
    let o = train(&cfg, &["--resume", "--epochs", "2"]);
    assert_clean_failure(&o, &["`store`", s, "changed"]);
    let run = d.join("run");
    let r = run.to_str().unwrap();
    assert_clean_failure(&recaux(&["eval", "--run", r]), &["`store`", s]);
    let wav = d.join("a.wav");
    tone_wav(&wav, 16000, 1.0);
    assert_clean_failure(
        &recaux(&["predict", "--run", r, wav.to_str().unwrap()]),
        &["`store`", s],
    );
    // the original content is accepted again
    make_store(&store, true, 0);
    ok(&train(&cfg, &["--resume", "--epochs", "2"]), "same content");
}

#[test]
fn non_finite_metrics_are_written_readably_so_resume_and_eval_still_work() {
    let d = tmpdir("rel_nonfinite");
    make_store(&d.join("s.rfs"), true, 0);
    let text = config_text(&d.join("s.rfs"), &d, "run", 1).replace("lr: 0.01", "lr: 1.0e30");
    let cfg = write(&d, "c.yaml", &text);
    ok(&train(&cfg, &[]), "train");
    let jsonl = std::fs::read_to_string(d.join("run/metrics.jsonl")).unwrap();
    assert!(!jsonl.contains("null"), "{jsonl}");
    assert!(
        jsonl.contains("\"NaN\""),
        "a NaN metric is expected here: {jsonl}"
    );
    // the state reads back (old code: `--resume` said "no run state")
    let o = train(&cfg, &["--resume", "--epochs", "2"]);
    ok(&o, "resume");
    assert!(err(&o).contains("resuming at epoch 1"), "{}", err(&o));
    // eval reads the state; it refuses for a reason about weights, not a parse error
    let e = recaux(&["eval", "--run", d.join("run").to_str().unwrap()]);
    assert!(!err(&e).contains("invalid type"), "{}", err(&e));
}

#[test]
fn metrics_rows_with_nan_and_inf_round_trip_through_json() {
    use recaux::train::checkpoint::{Metrics, RunState};
    let mut st = RunState::new(1);
    st.best[0].val_acc = f64::NAN;
    st.metrics.push(Metrics {
        epoch: 0,
        replica: 0,
        lambda: 1.0,
        seed: 0,
        lr: f64::INFINITY,
        train_ce: f64::NAN,
        train_l1: f64::NEG_INFINITY,
        train_loss: 1.5,
        train_acc: 0.25,
        val_ce: f64::NAN,
        val_l1: 0.0,
        val_loss: f64::NAN,
        val_acc: 0.5,
        active: false,
        seconds: 0.1,
    });
    let js = serde_json::to_string(&st).unwrap();
    let back: RunState = serde_json::from_str(&js).unwrap();
    let m = &back.metrics[0];
    assert!(m.train_ce.is_nan() && m.val_ce.is_nan() && back.best[0].val_acc.is_nan());
    assert_eq!((m.lr, m.train_l1), (f64::INFINITY, f64::NEG_INFINITY));
    assert_eq!((m.train_loss, m.val_acc), (1.5, 0.5));
    // what older versions wrote (null) reads as NaN
    let old = js.replacen("\"NaN\"", "null", 1);
    let back: RunState = serde_json::from_str(&old).unwrap();
    assert!(back.best[0].val_acc.is_nan());
}

#[test]
fn eval_on_the_validation_split_is_titled_validation() {
    let d = tmpdir("rel_title");
    make_store(&d.join("s.rfs"), true, 0);
    let cfg = write(&d, "c.yaml", &config_text(&d.join("s.rfs"), &d, "run", 1));
    ok(&train(&cfg, &[]), "train");
    let r = d.join("run");
    let o = recaux(&[
        "eval",
        "--run",
        r.to_str().unwrap(),
        "--split",
        "validation",
    ]);
    ok(&o, "eval");
    let text = out(&o);
    assert!(text.starts_with("Validation split: 12 clips"), "{text}");
    assert!(!text.contains("Test"), "{text}");
}

#[test]
fn a_store_without_test_clips_is_refused_before_the_first_epoch() {
    let d = tmpdir("rel_notest");
    make_store(&d.join("s.rfs"), false, 0);
    let cfg = write(&d, "c.yaml", &config_text(&d.join("s.rfs"), &d, "run", 50));
    let t0 = std::time::Instant::now();
    let o = train(&cfg, &[]);
    assert_clean_failure(&o, &["`store`", "s.rfs", "no test clips"]);
    assert!(
        !d.join("run/checkpoint.safetensors").exists(),
        "trained anyway"
    );
    assert!(t0.elapsed().as_secs_f64() < 30.0);
}

#[test]
fn resume_removes_stale_temporaries_and_rewrites_metrics_and_tensorboard_from_the_checkpoint() {
    let d = tmpdir("rel_restore");
    make_store(&d.join("s.rfs"), true, 0);
    let cfg = write(&d, "c.yaml", &config_text(&d.join("s.rfs"), &d, "run", 2));
    ok(&train(&cfg, &[]), "train");
    let run = d.join("run");
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    // what a kill leaves: temporaries, metrics lagging the checkpoint, a second event file
    for t in [
        ".checkpoint.safetensors.tmp4242",
        ".metrics.csv.tmp4242",
        "best/.replica_0.safetensors.tmp4242",
    ] {
        std::fs::write(run.join(t), b"partial").unwrap();
    }
    let header = csv.lines().next().unwrap().to_string() + "\n";
    std::fs::write(run.join("metrics.csv"), &header).unwrap();
    std::fs::write(run.join("metrics.jsonl"), "").unwrap();
    std::fs::write(
        run.join("tensorboard/events.out.tfevents.1.host.recaux"),
        b"stale",
    )
    .unwrap();
    ok(&train(&cfg, &["--resume"]), "resume of a finished run");
    for t in [
        ".checkpoint.safetensors.tmp4242",
        ".metrics.csv.tmp4242",
        "best/.replica_0.safetensors.tmp4242",
    ] {
        assert!(!run.join(t).exists(), "{t} left behind");
    }
    let strip = |s: &str| -> Vec<String> {
        s.lines()
            .map(|l| l.rsplit_once(',').map_or(l, |(a, _)| a).to_string())
            .collect()
    };
    let csv2 = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert_eq!(
        strip(&csv2),
        strip(&csv),
        "metrics.csv not rewritten from the checkpoint"
    );
    let tb: Vec<_> = std::fs::read_dir(run.join("tensorboard"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(tb.len(), 1, "one event file: {tb:?}");
    // 2 epochs x 2 replicas x 9 scalars, plus the version record
    let bytes = std::fs::read(&tb[0]).unwrap();
    let mut records = 0;
    let mut at = 0;
    while at + 12 <= bytes.len() {
        let len = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
        at += 12 + len + 4;
        records += 1;
    }
    assert_eq!(at, bytes.len());
    assert_eq!(records, 1 + 2 * 2 * 9);
}

#[test]
fn predict_fails_when_a_file_failed_and_warns_about_a_window_of_padding() {
    let d = tmpdir("rel_predict");
    make_store(&d.join("s.rfs"), true, 0);
    let cfg = write(&d, "c.yaml", &config_text(&d.join("s.rfs"), &d, "run", 1));
    ok(&train(&cfg, &[]), "train");
    let r = d.join("run");
    let good = d.join("good.wav");
    tone_wav(&good, 16000, 1.0);
    let short = d.join("short.wav");
    tone_wav(&short, 16000, 0.05);
    let missing = d.join("missing.wav");
    let o = recaux(&[
        "predict",
        "--run",
        r.to_str().unwrap(),
        good.to_str().unwrap(),
        missing.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(out(&o).contains("good.wav"), "the good file is answered");
    assert!(
        err(&o).contains("missing.wav") && err(&o).contains("1 of 2 files"),
        "{}",
        err(&o)
    );
    // a 0.05 s clip in a 12-frame (0.38 s) window: mostly padding, said so
    let o = recaux(&[
        "predict",
        "--run",
        r.to_str().unwrap(),
        short.to_str().unwrap(),
    ]);
    ok(&o, "predict short");
    let e = err(&o);
    assert!(
        e.contains("warning: ") && e.contains("short.wav") && e.contains("mostly about padding"),
        "{e}"
    );
    // the full-length clip gets no warning
    let o = recaux(&[
        "predict",
        "--run",
        r.to_str().unwrap(),
        good.to_str().unwrap(),
    ]);
    ok(&o, "predict good");
    assert!(!err(&o).contains("warning"), "{}", err(&o));
}
