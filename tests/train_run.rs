//! The trainer end to end on a small synthetic feature store (no audio): it learns, a resumed
//! run equals an uninterrupted one bit for bit, each replica of a joint run equals its solo run,
//! and a replica whose loss goes non-finite stops alone.

use half::f16;
use recaux::audio::{FeatureConfig, Resampler};
use recaux::backend::cpu::CpuBackend;
use recaux::data::Split;
use recaux::data::split::SplitMethod;
use recaux::data::store::{ClipEntry, FeatureStore, StoreHeader, write_store};
use recaux::model::ModelSpec;
use recaux::safetensors_io::TensorFile;
use recaux::train::TrainConfig;
use recaux::train::config::{BackendName, OptimConfig};
use recaux::train::trainer::{Observer, Trainer};
use std::path::{Path, PathBuf};

const N_MELS: usize = 6;
const CLASSES: usize = 3;

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("recaux-train-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// 60 clips of 20 frames: class k has a bump in band 2k..2k+1 plus noise; 36/12/12 split.
fn make_store(dir: &Path) -> PathBuf {
    make_store_with(dir, Resampler::KaiserBest)
}

/// [`make_store`] with its header claiming `resampler`.
fn make_store_with(dir: &Path, resampler: Resampler) -> PathBuf {
    let n = 60;
    let frames = 20;
    let clips: Vec<ClipEntry> = (0..n)
        .map(|i| ClipEntry {
            track_id: i as u64,
            frames,
            label: (i % CLASSES) as u32,
            split: match i % 5 {
                0 => Split::Test,
                1 => Split::Validation,
                _ => Split::Train,
            },
            flags: 0,
        })
        .collect();
    let header = StoreHeader {
        n_mels: N_MELS,
        class_names: (0..CLASSES).map(|k| format!("class{k}")).collect(),
        feature_config: FeatureConfig {
            n_mels: N_MELS,
            resampler,
            ..FeatureConfig::default()
        },
        config_hash: "0".repeat(16),
        split: SplitMethod::Official,
        source: "tests/train_run.rs synthetic".into(),
        names: (0..n).map(|i| format!("{i:06}")).collect(),
        created_by: "test".into(),
    };
    let path = dir.join("store.rfs");
    write_store(&path, &header, &clips, |i| {
        let k = i % CLASSES;
        Ok((0..frames * N_MELS)
            .map(|j| {
                let band = j % N_MELS;
                let noise = ((i * 131 + j * 17) % 23) as f32 / 23.0 - 0.5;
                let v = if band / 2 == k { 0.6 } else { -0.3 } + 0.5 * noise;
                f16::from_f32(v)
            })
            .collect())
    })
    .unwrap();
    path
}

fn config(
    store: &Path,
    out: &Path,
    name: &str,
    lambdas: Vec<f64>,
    seeds: Vec<u64>,
    epochs: usize,
) -> TrainConfig {
    let mut c = TrainConfig {
        name: name.into(),
        store: store.to_path_buf(),
        out_dir: out.to_path_buf(),
        backend: BackendName::Cpu,
        precision: Default::default(),
        model: ModelSpec {
            features: N_MELS,
            hidden: 5,
            fc1: 7,
            classes: CLASSES,
            dropout: 0.1,
        },
        sampler: Default::default(),
        optim: OptimConfig {
            epochs,
            lr: 1e-2,
            lr_decay: 0.9,
            ..Default::default()
        },
        lambdas,
        seeds,
    };
    c.sampler.batch_size = 8;
    c.sampler.crop_frames = 12;
    c.validate().unwrap();
    c
}

struct Quiet(Vec<String>);
impl Observer for Quiet {
    fn note(&mut self, m: &str) {
        self.0.push(m.to_string());
    }
}

fn train(cfg: &TrainConfig, resume: bool) -> Trainer<'static, CpuBackend<f32>> {
    // leak the backend/store/config: tests only
    let be: &'static CpuBackend<f32> = Box::leak(Box::new(CpuBackend::new()));
    let cfg: &'static TrainConfig = Box::leak(Box::new(cfg.clone()));
    let store: &'static FeatureStore = Box::leak(Box::new(FeatureStore::open(&cfg.store).unwrap()));
    let mut t = Trainer::new(be, cfg, store, resume).unwrap();
    t.run(&mut Quiet(Vec::new())).unwrap();
    t
}

fn params(dir: &Path, name: &str) -> Vec<(String, Vec<f64>)> {
    let f = TensorFile::open(&dir.join(name).join("checkpoint.safetensors")).unwrap();
    f.names()
        .into_iter()
        .map(|n| {
            let v = f.float(&n, None).unwrap().0;
            (n, v)
        })
        .collect()
}

#[test]
fn learns_and_resume_equals_an_uninterrupted_run() {
    let dir = tmp("resume");
    let store = make_store(&dir);
    let full = config(&store, &dir, "full", vec![0.0, 1.0], vec![1], 4);
    let t = train(&full, false);
    let last: Vec<_> = t.state.metrics.iter().filter(|m| m.epoch == 3).collect();
    let first: Vec<_> = t.state.metrics.iter().filter(|m| m.epoch == 0).collect();
    assert_eq!(first.len(), 2, "one row per replica in epoch 0");
    assert_eq!(last.len(), first.len(), "one row per replica in epoch 3");
    for (a, b) in first.iter().zip(&last) {
        assert!(
            b.train_ce < a.train_ce,
            "training CE should fall: {} -> {}",
            a.train_ce,
            b.train_ce
        );
    }
    // interrupted after 2 epochs, resumed to 4
    let part = config(&store, &dir, "part", vec![0.0, 1.0], vec![1], 2);
    train(&part, false);
    let mut rest = part.clone();
    rest.optim.epochs = 4;
    let t2 = train(&rest, true);
    assert_eq!(t2.state.metrics.len(), t.state.metrics.len());
    for (a, b) in t.state.metrics.iter().zip(&t2.state.metrics) {
        let (mut a, mut b) = (a.clone(), b.clone());
        a.seconds = 0.0;
        b.seconds = 0.0;
        assert_eq!(a, b, "metrics after resume differ");
    }
    let (p1, p2) = (params(&dir, "full"), params(&dir, "part"));
    assert_eq!(p1.len(), p2.len());
    for ((n1, v1), (n2, v2)) in p1.iter().zip(&p2) {
        assert_eq!(n1, n2);
        assert_eq!(v1.len(), v2.len(), "{n1}: length");
        assert!(
            v1.iter().zip(v2).all(|(a, b)| a.to_bits() == b.to_bits()),
            "{n1} differs after resume"
        );
    }
    // the best weights load under PyTorch's names
    let best = TensorFile::open(&dir.join("full/best/replica_1.safetensors")).unwrap();
    assert_eq!(best.shape("lstm1.weight_ih_l0").unwrap(), vec![20, N_MELS]);
    assert!(dir.join("full/metrics.csv").exists() && dir.join("full/metrics.jsonl").exists());
}

#[test]
fn joint_run_of_three_replicas_equals_solo_runs() {
    let dir = tmp("joint");
    let store = make_store(&dir);
    let joint = train(
        &config(&store, &dir, "joint", vec![0.0, 0.5, 5.0], vec![3], 2),
        false,
    );
    for (r, lam) in [0.0, 0.5, 5.0].into_iter().enumerate() {
        let solo = train(
            &config(&store, &dir, &format!("solo{r}"), vec![lam], vec![3], 2),
            false,
        );
        let js: Vec<_> = joint
            .state
            .metrics
            .iter()
            .filter(|m| m.replica == r)
            .collect();
        assert_eq!(js.len(), 2, "replica {r}: one row per epoch");
        assert_eq!(
            js.len(),
            solo.state.metrics.len(),
            "replica {r}: rows of its solo run"
        );
        for (a, b) in js.iter().zip(&solo.state.metrics) {
            let key = |m: &recaux::train::checkpoint::Metrics| {
                [
                    m.train_ce,
                    m.train_l1,
                    m.train_acc,
                    m.val_ce,
                    m.val_l1,
                    m.val_acc,
                ]
                .map(f64::to_bits)
            };
            assert_eq!(
                key(a),
                key(b),
                "replica {r} epoch {} differs from its solo run",
                a.epoch
            );
        }
    }
}

#[test]
fn config_errors_name_the_field() {
    let dir = tmp("cfg");
    let store = make_store(&dir);
    let mut c = config(&store, &dir, "x", vec![1.0], vec![0], 1);
    c.lambdas = vec![-1.0];
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("lambdas"), "{e}");
    let yaml = format!(
        "name: x\nstore: {}\nlambdas: [1]\nbogus: 3\n",
        store.display()
    );
    let p = dir.join("c.yaml");
    std::fs::write(&p, yaml).unwrap();
    let e = TrainConfig::load(&p).unwrap_err().to_string();
    assert!(e.contains("bogus"), "{e}");
    std::fs::write(&p, "name: x\nstore: nowhere.rfs\nlambdas: [1]\n").unwrap();
    let e = TrainConfig::load(&p).unwrap_err().to_string();
    assert!(e.contains("store"), "{e}");
}

#[test]
fn shipped_configs_parse_and_validate() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    let mut seen = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yaml") {
            let text = std::fs::read_to_string(&p).unwrap();
            let c: TrainConfig =
                recaux::train::config::parse_yaml(&text, &p.display().to_string()).unwrap();
            c.validate_fields()
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            seen += 1;
        }
    }
    assert!(
        seen >= 3,
        "configs/ has the seed's, the official-split and the tiny config"
    );
    let seed: TrainConfig = recaux::train::config::parse_yaml(
        &std::fs::read_to_string(dir.join("fma_small.yaml")).unwrap(),
        "fma_small",
    )
    .unwrap();
    assert_eq!(
        seed.lambdas,
        vec![100.0, 10.0, 5.0, 2.0, 1.0, 0.1, 0.01, 0.0]
    );
    assert_eq!(
        (
            seed.sampler.batch_size,
            seed.sampler.crop_frames,
            seed.optim.epochs
        ),
        (32, 512, 256)
    );
    assert_eq!((seed.optim.lr, seed.optim.lr_decay), (1e-4, 0.97));
}

#[test]
fn a_replica_with_non_finite_gradients_stops_alone() {
    let dir = tmp("nan");
    let store = make_store(&dir);
    // λ = 1e300 makes λ/n overflow f32 in the L1 backward: every gradient of that replica is
    // infinite at the first step.
    let both = train(
        &config(&store, &dir, "both", vec![1.0, 1e300], vec![2], 2),
        false,
    );
    assert!(both.state.active[0]);
    assert!(!both.state.active[1]);
    let why = both.state.stop_reason[1].clone().unwrap();
    assert!(why.contains("non-finite gradient"), "{why}");
    // the healthy replica is untouched: equal to its solo run
    let solo = train(&config(&store, &dir, "solo", vec![1.0], vec![2], 2), false);
    let a: Vec<_> = both
        .state
        .metrics
        .iter()
        .filter(|m| m.replica == 0)
        .map(|m| (m.train_ce.to_bits(), m.val_acc.to_bits()))
        .collect();
    let b: Vec<_> = solo
        .state
        .metrics
        .iter()
        .map(|m| (m.train_ce.to_bits(), m.val_acc.to_bits()))
        .collect();
    assert_eq!(a, b);
    // the checkpoint holds finite parameters for both replicas and resumes
    let f = TensorFile::open(&dir.join("both/checkpoint.safetensors")).unwrap();
    for n in f.names() {
        assert!(
            f.float(&n, None).unwrap().0.iter().all(|v| v.is_finite()),
            "{n} not finite"
        );
    }
}

/// A run records its store's feature settings; resuming it on a store made with another
/// resampler is refused with the setting named, while the same settings resume.
#[test]
fn resume_on_a_store_with_another_resampler_is_refused() {
    let dir = tmp("resampler");
    let store = make_store(&dir);
    let cfg = config(&store, &dir, "r", vec![0.0], vec![0], 1);
    train(&cfg, false);
    let rec = recaux::train::feature_record::read(&dir.join("r")).unwrap();
    assert_eq!(rec.resampler, Resampler::KaiserBest);
    let be = CpuBackend::<f32>::new();
    let same = FeatureStore::open(&store).unwrap();
    assert!(Trainer::new(&be, &cfg, &same, true).is_ok());
    make_store_with(&dir, Resampler::SoxrHq);
    let other = FeatureStore::open(&store).unwrap();
    let err = match Trainer::new(&be, &cfg, &other, true) {
        Ok(_) => panic!("resumed on a store made with another resampler"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("features.resampler: the run used \"kaiser_best\", the store has \"soxr_hq\""),
        "{err}"
    );
}

/// Runs a profiled training of `epochs` epochs on `be` into `<dir>/<name>/prof`; the parsed
/// trace.json and profile.json.
fn profiled<B: recaux::backend::Backend>(
    be: &B,
    dir: &Path,
    name: &str,
    max_batches: Option<usize>,
    epochs: usize,
) -> (serde_json::Value, serde_json::Value, PathBuf) {
    let store = make_store(dir);
    let mut cfg = config(&store, dir, name, vec![1.0, 3.0], vec![2], epochs);
    cfg.optim.max_batches_per_epoch = max_batches;
    let fs = FeatureStore::open(&cfg.store).unwrap();
    let mut t = Trainer::new(be, &cfg, &fs, false).unwrap();
    let prof = dir.join(name).join("prof");
    t.profile_to(prof.clone()).unwrap();
    t.run(&mut Quiet(Vec::new())).unwrap();
    let read = |f: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(prof.join(f)).unwrap()).unwrap()
    };
    (read("trace.json"), read("profile.json"), prof)
}

/// The events of a trace: (name, category) of each, checked to be complete events with a
/// duration, the op also in `args`.
fn trace_events(trace: &serde_json::Value) -> Vec<(String, String)> {
    let evs = trace["traceEvents"].as_array().expect("traceEvents array");
    evs.iter()
        .map(|e| {
            assert_eq!(e["ph"], "X", "{e}");
            assert!(e["ts"].as_f64().unwrap() >= 0.0, "{e}");
            assert!(e["dur"].as_f64().unwrap() >= 0.0, "{e}");
            assert_eq!(e["args"]["op"], e["cat"], "{e}");
            let s = |k: &str| e[k].as_str().unwrap().to_string();
            (s("name"), s("cat"))
        })
        .collect()
}

#[test]
fn train_profile_writes_a_kernel_table_per_epoch_and_a_chrome_trace_of_the_first_steps_cpu() {
    use recaux::train::trainer::TRACE_STEPS;
    let dir = tmp("profile");
    let be = CpuBackend::<f32>::new();
    let (trace, profile, prof) = profiled(&be, &dir, "p", None, 2);
    // the trace: one event per op call (the CPU's launch) of the first TRACE_STEPS steps,
    // named `<op>_f32` as the CPU profile names them
    let evs = trace_events(&trace);
    let count = |op: &str| evs.iter().filter(|(_, c)| c == op).count();
    for (name, cat) in &evs {
        assert_eq!(name, &format!("{cat}_f32"));
    }
    let steps0 = profile["epochs"][0]["steps"].as_u64().unwrap() as usize;
    assert!(steps0 >= TRACE_STEPS, "{steps0} steps in the first epoch");
    for (op, per_step) in [("input", 1), ("lstm_fwd", 2), ("lstm_bwd", 2), ("score", 1)] {
        assert_eq!(count(op), per_step * TRACE_STEPS, "{op} events");
    }
    assert_eq!(count("guard"), TRACE_STEPS);
    assert_eq!(count("adam"), TRACE_STEPS);
    // the table: per epoch, every op's calls, and launches counted = calls profiled
    let epochs = profile["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 2);
    for (e, ep) in epochs.iter().enumerate() {
        let steps = ep["steps"].as_u64().unwrap();
        let ops = ep["ops"].as_array().unwrap();
        let calls = |op: &str| -> u64 {
            ops.iter()
                .filter(|o| o["op"] == op)
                .flat_map(|o| o["kernels"].as_array().unwrap())
                .map(|k| k["calls"].as_u64().unwrap())
                .sum()
        };
        assert_eq!(calls("adam"), steps, "epoch {e}");
        assert_eq!(calls("lstm_bwd"), 2 * steps, "epoch {e}");
        let all: u64 = ops
            .iter()
            .flat_map(|o| o["kernels"].as_array().unwrap())
            .map(|k| k["calls"].as_u64().unwrap())
            .sum();
        assert_eq!(
            ep["counters"]["launches"].as_u64().unwrap(),
            all,
            "epoch {e}"
        );
        let csv = std::fs::read_to_string(prof.join(format!("epoch-{e}.csv"))).unwrap();
        assert!(csv.starts_with("op,kernel,calls,total_ms,mean_us,share,ms_per_step\n"));
        assert!(
            csv.lines().any(|l| l.starts_with("adam,adam_f32,")),
            "{csv}"
        );
    }
}

#[test]
fn train_profile_on_emu_traces_every_kernel_launch_of_the_first_steps() {
    use recaux::backend::emu::EmuBackend;
    use recaux::train::trainer::TRACE_STEPS;
    let dir = tmp("profile-emu");
    let be = EmuBackend::<f32>::new().unwrap();
    let (trace, profile, _) = profiled(&be, &dir, "p", Some(TRACE_STEPS), 1);
    let evs = trace_events(&trace);
    let count = |k: &str| evs.iter().filter(|(n, _)| n == k).count();
    // one event per launch, under the kernel's name and its op
    assert_eq!(count("adam_f32"), TRACE_STEPS);
    assert_eq!(count("input_f32"), TRACE_STEPS);
    assert_eq!(count("score_f32"), TRACE_STEPS);
    assert!(
        evs.iter()
            .any(|(n, c)| n.starts_with("guard_") && c == "guard")
    );
    assert!(
        evs.iter()
            .any(|(n, c)| n.starts_with("lstm_fwd_step") && c == "lstm_fwd")
    );
    // the whole epoch is the traced steps: launches counted = events traced
    let ep = &profile["epochs"][0];
    assert_eq!(ep["steps"].as_u64().unwrap() as usize, TRACE_STEPS);
    assert_eq!(
        ep["counters"]["launches"].as_u64().unwrap() as usize,
        evs.len()
    );
}
