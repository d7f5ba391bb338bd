//! Run state on disk: the checkpoint (all replicas' parameters, Adam moments, counters, best
//! records and metrics, written atomically after every epoch), each replica's best weights as a
//! PyTorch-loadable state_dict file, and the metrics files.
//!
//! Layout of `<out_dir>/<name>/`:
//! - `checkpoint.safetensors`: `param.<name>`, `adam_m.<name>`, `adam_v.<name>` as
//!   `[M, ...shape]`; metadata `state` (JSON of [`RunState`]), `adam_step`, `config` (YAML),
//!   `replicas` (JSON).
//! - `best/replica_<r>.safetensors`: replica r's best-validation weights under state_dict names
//!   (`AudioClassifier.load_state_dict(safetensors.torch.load_file(...))` accepts them).
//! - `metrics.jsonl`, `metrics.csv`: one row per replica per epoch.

use super::config::{Replica, TrainConfig, to_yaml};
use crate::backend::{Backend, Elem};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::safetensors_io::{TensorFile, TensorWriter, write_atomic};
use crate::train::Adam;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The best validation accuracy so far of one replica.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct Best {
    /// Epoch of the best accuracy (`None` before the first validation).
    pub epoch: Option<usize>,
    pub val_acc: f64,
    /// Epochs since the best.
    pub stale: usize,
}

/// One replica's numbers for one epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub epoch: usize,
    pub replica: usize,
    pub lambda: f64,
    pub seed: u64,
    pub lr: f64,
    pub train_ce: f64,
    pub train_l1: f64,
    pub train_loss: f64,
    pub train_acc: f64,
    pub val_ce: f64,
    pub val_l1: f64,
    pub val_loss: f64,
    pub val_acc: f64,
    /// Whether the replica was still training after this epoch.
    pub active: bool,
    /// Training time of the epoch (all replicas together), seconds.
    pub seconds: f64,
}

/// Everything besides tensors that a resumed run needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// The next epoch to train.
    pub epoch: usize,
    /// Training steps done (the dropout counter).
    pub step: u64,
    pub active: Vec<bool>,
    pub stop_reason: Vec<Option<String>>,
    pub best: Vec<Best>,
    pub metrics: Vec<Metrics>,
}

impl RunState {
    /// The state before the first epoch.
    pub fn new(m: usize) -> Self {
        RunState {
            epoch: 0,
            step: 0,
            active: vec![true; m],
            stop_reason: vec![None; m],
            best: vec![Best::default(); m],
            metrics: Vec::new(),
        }
    }

    /// Stop replica `r` for `why`.
    pub fn stop(&mut self, r: usize, why: String) {
        self.active[r] = false;
        self.stop_reason[r] = Some(why);
    }
}

fn get<T: Elem>(f: &TensorFile, name: &str, shape: &[usize]) -> Result<Vec<T>> {
    Ok(f.float(name, Some(shape))?
        .0
        .into_iter()
        .map(T::of)
        .collect())
}

/// Path of the checkpoint.
pub fn checkpoint_path(cfg: &TrainConfig) -> PathBuf {
    cfg.run_dir().join("checkpoint.safetensors")
}

/// Path of replica r's best weights.
pub fn best_path(cfg: &TrainConfig, r: usize) -> PathBuf {
    cfg.run_dir()
        .join("best")
        .join(format!("replica_{r}.safetensors"))
}

/// Write the checkpoint atomically.
pub fn save<B: Backend>(
    be: &B,
    cfg: &TrainConfig,
    replicas: &[Replica],
    model: &Model<B>,
    adam: &Adam<B>,
    state: &RunState,
) -> Result<()> {
    let m = model.m();
    let mut w = TensorWriter::new();
    for (k, ps) in model.spec.params().iter().enumerate() {
        let mut shape = vec![m];
        shape.extend(&ps.shape);
        w.elems(
            &format!("param.{}", ps.name),
            &shape,
            &be.download(&model.params[k])?,
        );
        w.elems(
            &format!("adam_m.{}", ps.name),
            &shape,
            &be.download(&adam.m[k])?,
        );
        w.elems(
            &format!("adam_v.{}", ps.name),
            &shape,
            &be.download(&adam.v[k])?,
        );
    }
    let js = |e: serde_json::Error| Error::Format(format!("checkpoint json: {e}"));
    w.meta("state", serde_json::to_string(state).map_err(js)?)
        .meta("adam_step", adam.step.to_string())
        .meta("config", to_yaml(cfg)?)
        .meta("replicas", serde_json::to_string(replicas).map_err(js)?)
        .meta("dtype", B::T::DTYPE);
    std::fs::create_dir_all(cfg.run_dir()).map_err(|e| Error::io(cfg.run_dir(), e))?;
    w.write(&checkpoint_path(cfg))
}

/// Restore parameters, moments and state from the run's checkpoint. The replicas (λ, seed)
/// and widths must be the checkpoint's.
pub fn load<B: Backend>(
    be: &B,
    cfg: &TrainConfig,
    replicas: &[Replica],
    model: &mut Model<B>,
    adam: &mut Adam<B>,
) -> Result<RunState> {
    let path = checkpoint_path(cfg);
    if !path.exists() {
        return Err(Error::Data(format!(
            "--resume: no checkpoint at {}",
            path.display()
        )));
    }
    let f = TensorFile::open(&path)?;
    let meta = f.metadata();
    let saved: Vec<Replica> = meta
        .get("replicas")
        .and_then(|s| serde_json::from_str(s).ok())
        .ok_or_else(|| Error::Format(format!("{}: no replicas in the metadata", path.display())))?;
    if saved != replicas {
        return Err(Error::config(
            "lambdas",
            format!(
                "the checkpoint was made for replicas {saved:?}, the config asks for {replicas:?}"
            ),
        ));
    }
    let m = replicas.len();
    for (k, ps) in model.spec.params().iter().enumerate() {
        let mut shape = vec![m];
        shape.extend(&ps.shape);
        be.write(
            &mut model.params[k],
            &get::<B::T>(&f, &format!("param.{}", ps.name), &shape)?,
        )?;
        be.write(
            &mut adam.m[k],
            &get::<B::T>(&f, &format!("adam_m.{}", ps.name), &shape)?,
        )?;
        be.write(
            &mut adam.v[k],
            &get::<B::T>(&f, &format!("adam_v.{}", ps.name), &shape)?,
        )?;
    }
    adam.step = meta
        .get("adam_step")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::Format(format!("{}: no adam_step", path.display())))?;
    meta.get("state")
        .and_then(|s| serde_json::from_str(s).ok())
        .ok_or_else(|| Error::Format(format!("{}: no run state", path.display())))
}

/// Write replica r's current weights as its best, under state_dict names (f32).
pub fn save_best<B: Backend>(be: &B, cfg: &TrainConfig, model: &Model<B>, r: usize) -> Result<()> {
    let m = model.m();
    let mut w = TensorWriter::new();
    for (k, ps) in model.spec.params().iter().enumerate() {
        let all = be.download(&model.params[k])?;
        let n = ps.numel();
        let v: Vec<f32> = all[r * n..(r + 1) * n]
            .iter()
            .map(|x| x.f64() as f32)
            .collect();
        w.f32(&ps.name, &ps.shape, &v);
    }
    debug_assert!(r < m);
    w.meta("producer", format!("recaux {}", env!("CARGO_PKG_VERSION")));
    let path = best_path(cfg, r);
    let dir = path.parent().expect("best/ folder");
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    w.write(&path)
}

/// A model whose replica r holds replica r's best weights (its current weights when it never
/// validated).
pub fn load_best_model<B: Backend>(
    be: &B,
    cfg: &TrainConfig,
    replicas: &[Replica],
    current: &Model<B>,
) -> Result<Model<B>> {
    let m = replicas.len();
    let specs = current.spec.params();
    let mut host: Vec<Vec<B::T>> = (0..specs.len())
        .map(|k| be.download(&current.params[k]))
        .collect::<Result<_>>()?;
    for r in 0..m {
        let p = best_path(cfg, r);
        if !p.exists() {
            continue;
        }
        let f = TensorFile::open(&p)?;
        for (k, ps) in specs.iter().enumerate() {
            let v = get::<B::T>(&f, &ps.name, &ps.shape)?;
            let n = ps.numel();
            host[k][r * n..(r + 1) * n].copy_from_slice(&v);
        }
    }
    let seeds: Vec<u64> = replicas.iter().map(|r| r.seed).collect();
    Model::from_host(be, current.spec, &seeds, &host)
}

/// Rewrite `metrics.jsonl` and `metrics.csv` from all rows so far.
pub fn write_metrics(cfg: &TrainConfig, rows: &[Metrics]) -> Result<()> {
    let dir = cfg.run_dir();
    let mut jsonl = String::new();
    let mut csv = String::from(
        "epoch,replica,lambda,seed,lr,train_ce,train_l1,train_loss,train_acc,val_ce,val_l1,val_loss,val_acc,active,seconds\n",
    );
    for r in rows {
        jsonl.push_str(
            &serde_json::to_string(r).map_err(|e| Error::Format(format!("metrics: {e}")))?,
        );
        jsonl.push('\n');
        csv.push_str(&format!(
            "{},{},{},{},{:e},{},{},{},{},{},{},{},{},{},{:.3}\n",
            r.epoch,
            r.replica,
            r.lambda,
            r.seed,
            r.lr,
            r.train_ce,
            r.train_l1,
            r.train_loss,
            r.train_acc,
            r.val_ce,
            r.val_l1,
            r.val_loss,
            r.val_acc,
            r.active,
            r.seconds
        ));
    }
    write_atomic(&dir.join("metrics.jsonl"), jsonl.as_bytes())?;
    write_atomic(&dir.join("metrics.csv"), csv.as_bytes())
}
