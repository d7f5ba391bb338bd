//! Issue 11: `kill -9` at any moment of a run, then `--resume`, gives the run an uninterrupted
//! one gives. A real `recaux train` child is killed with SIGKILL (no clean stop) several
//! times: right after it wrote its k-th checkpoint (the window between the checkpoint and the
//! best weights, metrics and TensorBoard files) and at seeded random moments; each time it is
//! started again with `--resume`. Then the checkpoint (every tensor, the run state, the
//! config), the best weights, metrics.jsonl/csv, results.md and the TensorBoard scalars must
//! equal those of the uninterrupted run (training times and wall times aside), and no
//! temporary file may be left.

mod rel_common;

use recaux::safetensors_io::TensorFile;
use rel_common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const EPOCHS: usize = 24;

fn config(d: &Path, out: &Path) -> PathBuf {
    let text = config_text(&d.join("s.rfs"), out, "run", EPOCHS)
        .replace("hidden: 5", "hidden: 16")
        .replace("seeds: [0]", "seeds: [0, 1]");
    write(
        d,
        &format!("{}.yaml", out.file_name().unwrap().to_string_lossy()),
        &text,
    )
}

fn spawn(cfg: &Path, resume: bool) -> Child {
    let mut c = Command::new(bin());
    c.args(["train", "--config"]).arg(cfg);
    if resume {
        c.arg("--resume");
    }
    c.stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn mtime(p: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Metadata of a safetensors file.
type Meta = std::collections::HashMap<String, String>;

/// The tensors of a safetensors file (name -> bits) and its metadata.
fn tensors(p: &Path) -> (Vec<(String, Vec<u64>)>, Meta) {
    let f = TensorFile::open(p).unwrap();
    let t = f
        .names()
        .into_iter()
        .map(|n| {
            let v = f.float(&n, None).unwrap().0;
            (n, v.into_iter().map(f64::to_bits).collect())
        })
        .collect();
    (t, f.metadata())
}

/// A JSON value with every `"seconds"` member set to 0 (training time differs run to run).
fn no_seconds(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            if let Some(s) = m.get_mut("seconds") {
                *s = serde_json::json!(0);
            }
            m.values_mut().for_each(no_seconds);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(no_seconds),
        _ => {}
    }
}

/// The TensorBoard records of the run's only event file, without their wall times.
fn tb_records(run: &Path) -> Vec<Vec<u8>> {
    let files: Vec<PathBuf> = std::fs::read_dir(run.join("tensorboard"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "one event file: {files:?}");
    let b = std::fs::read(&files[0]).unwrap();
    let mut out = Vec::new();
    let mut at = 0;
    while at < b.len() {
        let len = u64::from_le_bytes(b[at..at + 8].try_into().unwrap()) as usize;
        let data = &b[at + 12..at + 12 + len];
        // field 1 (wall_time, a double): key 0x09 and 8 bytes
        out.push(if data[0] == 0x09 { &data[9..] } else { data }.to_vec());
        at += 12 + len + 4;
    }
    out
}

fn temporaries(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for sub in [dir.to_path_buf(), dir.join("best")] {
        if let Ok(rd) = std::fs::read_dir(&sub) {
            for e in rd {
                let p = e.unwrap().path();
                if p.file_name().unwrap().to_string_lossy().contains(".tmp") {
                    v.push(p);
                }
            }
        }
    }
    v
}

fn compare_runs(a: &Path, b: &Path) {
    // checkpoint: every tensor bit for bit, the state and config up to times and out_dir
    let (ta, ma) = tensors(&a.join("checkpoint.safetensors"));
    let (tb, mb) = tensors(&b.join("checkpoint.safetensors"));
    assert_eq!(ta.len(), tb.len());
    for ((na, va), (nb, vb)) in ta.iter().zip(&tb) {
        assert_eq!(na, nb);
        assert!(va == vb, "checkpoint tensor {na} differs");
    }
    let state = |m: &Meta| {
        let mut v: serde_json::Value = serde_json::from_str(&m["state"]).unwrap();
        no_seconds(&mut v);
        v
    };
    assert_eq!(state(&ma), state(&mb), "run state differs");
    for k in ["adam_step", "replicas", "dtype"] {
        assert_eq!(ma[k], mb[k], "checkpoint metadata {k}");
    }
    let cfg = |m: &Meta| {
        m["config"]
            .lines()
            .filter(|l| !l.starts_with("out_dir:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(cfg(&ma), cfg(&mb));
    // best weights of every replica
    let best: Vec<_> = std::fs::read_dir(a.join("best")).unwrap().collect();
    assert_eq!(best.len(), 4);
    for r in 0..4 {
        let f = format!("best/replica_{r}.safetensors");
        assert!(tensors(&a.join(&f)) == tensors(&b.join(&f)), "{f} differs");
    }
    // metrics files
    let jsonl = |p: &Path| -> Vec<serde_json::Value> {
        std::fs::read_to_string(p.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                let mut v = serde_json::from_str(l).unwrap();
                no_seconds(&mut v);
                v
            })
            .collect()
    };
    assert_eq!(jsonl(a).len(), EPOCHS * 4);
    assert_eq!(jsonl(a), jsonl(b), "metrics.jsonl differs");
    let csv = |p: &Path| -> Vec<String> {
        std::fs::read_to_string(p.join("metrics.csv"))
            .unwrap()
            .lines()
            .map(|l| l.rsplit_once(',').unwrap().0.to_string())
            .collect()
    };
    assert_eq!(csv(a), csv(b), "metrics.csv differs");
    assert_eq!(
        std::fs::read_to_string(a.join("results.md")).unwrap(),
        std::fs::read_to_string(b.join("results.md")).unwrap()
    );
    let (ra, rb) = (tb_records(a), tb_records(b));
    assert_eq!(ra.len(), 1 + EPOCHS * 4 * 9);
    assert!(ra == rb, "TensorBoard scalars differ");
    assert_eq!(temporaries(b), Vec::<PathBuf>::new(), "temporaries left");
}

#[test]
fn kill_9_at_any_moment_then_resume_gives_the_uninterrupted_run() {
    let d = tmpdir("rel_kill");
    make_store(&d.join("s.rfs"), true, 0);
    let full_out = d.join("full");
    let cfg_full = config(&d, &full_out);
    let t0 = Instant::now();
    let o = spawn(&cfg_full, false).wait_with_output().unwrap();
    assert!(o.status.success());
    let t_full = t0.elapsed();

    let out = d.join("killed");
    let cfg = config(&d, &out);
    let run = out.join("run");
    let ck = run.join("checkpoint.safetensors");
    // kill plans: after the k-th new checkpoint of that attempt, or after a seeded delay
    // within the length of a whole run
    let mut seed = 0x4B11_u64;
    let mut random_ms = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % (t_full.as_millis() as u64 / 4 + 20)
    };
    enum Plan {
        AfterCheckpoints(usize),
        AfterMs(u64),
        /// As soon as the checkpoint of the last epoch is there (before the files after it).
        AtLastCheckpoint,
    }
    let mut plans = vec![
        Plan::AfterCheckpoints(1),
        Plan::AfterMs(random_ms()),
        Plan::AfterCheckpoints(2),
        Plan::AfterMs(random_ms()),
        Plan::AfterMs(0),
        Plan::AfterCheckpoints(1),
        Plan::AfterMs(random_ms()),
        Plan::AfterMs(random_ms()),
        Plan::AtLastCheckpoint,
    ];
    let mut killed = 0;
    let mut where_killed = Vec::new();
    let t0 = Instant::now();
    for plan in plans.drain(..) {
        let resume = recaux::train::run_dir::holds_run(&run);
        let mut child = spawn(&cfg, resume);
        match plan {
            Plan::AfterMs(ms) => std::thread::sleep(Duration::from_millis(ms)),
            Plan::AtLastCheckpoint => {
                let give_up = Instant::now() + Duration::from_secs(60);
                while child.try_wait().unwrap().is_none() && Instant::now() < give_up {
                    let done = TensorFile::open(&ck).ok().is_some_and(|f| {
                        recaux::train::checkpoint::read_state(&f).is_ok_and(|s| s.epoch == EPOCHS)
                    });
                    if done {
                        break;
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
            Plan::AfterCheckpoints(k) => {
                let mut last = mtime(&ck);
                let mut seen = 0;
                let give_up = Instant::now() + Duration::from_secs(20);
                while seen < k && Instant::now() < give_up {
                    if child.try_wait().unwrap().is_some() {
                        break;
                    }
                    let m = mtime(&ck);
                    if m != last {
                        seen += 1;
                        last = m;
                    } else {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                }
            }
        }
        // SIGKILL, not a clean stop; a child that already finished is left as it is
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            killed += 1;
            child.wait().unwrap();
            // where it died: the checkpoint's epoch, and whether the metrics lagged it
            let epoch = TensorFile::open(&ck)
                .ok()
                .map(|f| recaux::train::checkpoint::read_state(&f).unwrap().epoch);
            let rows =
                std::fs::read_to_string(run.join("metrics.jsonl")).map_or(0, |t| t.lines().count());
            let lag = epoch.is_some_and(|e| rows < 4 * e);
            where_killed.push(format!(
                "{}{}",
                epoch.map_or("before the first checkpoint".into(), |e| format!(
                    "epoch {e}"
                )),
                if lag { " (metrics behind)" } else { "" }
            ));
        }
        child.wait().unwrap();
    }
    // finish the run
    let resume = recaux::train::run_dir::holds_run(&run);
    let o = spawn(&cfg, resume).wait_with_output().unwrap();
    assert!(o.status.success(), "the last resume failed");
    eprintln!(
        "{killed} kills ({}); uninterrupted run {:.2} s, killed-and-resumed runs {:.2} s",
        where_killed.join(", "),
        t_full.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
    assert!(
        killed >= 4,
        "only {killed} attempts were killed before they finished"
    );
    compare_runs(&full_out.join("run"), &run);
}
