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
//!
//! The checkpoint is the truth: after each epoch it is written first, then the best weights,
//! the metrics files and the TensorBoard scalars; a resumed run rewrites the latter from it
//! ([`restore_outputs`]), so a kill at any moment leaves nothing that disagrees with it.
//! Non-finite numbers are written as the strings `"NaN"`, `"inf"`, `"-inf"` (JSON has no
//! literal for them) and read back as they were.

use super::config::{Replica, TrainConfig, to_yaml};
use crate::backend::{Backend, Elem};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::safetensors_io::{TensorFile, TensorWriter, write_atomic};
use crate::train::Adam;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Serde for f64 fields that may be non-finite: NaN and ±inf as the strings `"NaN"`, `"inf"`,
/// `"-inf"` (serde_json would write `null` and could not read it back); JSON `null` (written by
/// older versions) reads as NaN.
pub mod nonfinite {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else if v.is_nan() {
            s.serialize_str("NaN")
        } else if *v > 0.0 {
            s.serialize_str("inf")
        } else {
            s.serialize_str("-inf")
        }
    }

    /// An optional number: `None` as `null`, a non-finite one as its string.
    pub fn serialize_opt<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(x) => serialize(x, s),
            None => s.serialize_none(),
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Num(f64),
        Text(String),
        Null(()),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        match Repr::deserialize(d)? {
            Repr::Num(v) => Ok(v),
            Repr::Null(()) => Ok(f64::NAN),
            Repr::Text(t) => match t.as_str() {
                "NaN" => Ok(f64::NAN),
                "inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                other => Err(serde::de::Error::custom(format!(
                    "`{other}` is not a number (expected a number, \"NaN\", \"inf\" or \"-inf\")"
                ))),
            },
        }
    }
}

/// The best validation accuracy so far of one replica.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct Best {
    /// Epoch of the best accuracy (`None` before the first validation).
    pub epoch: Option<usize>,
    #[serde(with = "nonfinite")]
    pub val_acc: f64,
    /// Epochs since the best.
    pub stale: usize,
}

/// One replica's numbers for one epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub epoch: usize,
    pub replica: usize,
    #[serde(with = "nonfinite")]
    pub lambda: f64,
    pub seed: u64,
    #[serde(with = "nonfinite")]
    pub lr: f64,
    #[serde(with = "nonfinite")]
    pub train_ce: f64,
    #[serde(with = "nonfinite")]
    pub train_l1: f64,
    #[serde(with = "nonfinite")]
    pub train_loss: f64,
    #[serde(with = "nonfinite")]
    pub train_acc: f64,
    #[serde(with = "nonfinite")]
    pub val_ce: f64,
    #[serde(with = "nonfinite")]
    pub val_l1: f64,
    #[serde(with = "nonfinite")]
    pub val_loss: f64,
    #[serde(with = "nonfinite")]
    pub val_acc: f64,
    /// Whether the replica was still training after this epoch.
    pub active: bool,
    /// Training time of the epoch (all replicas together), seconds.
    #[serde(with = "nonfinite")]
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
    /// The identity of the feature store the run trains on: its
    /// [`crate::data::store::FeatureStore::content_hash`], 16 hex digits (`None` in
    /// checkpoints of older versions).
    #[serde(default)]
    pub store_xxh64: Option<String>,
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
            store_xxh64: None,
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
    // the precision the run trains in, not `auto` (resume compares it)
    let cfg = TrainConfig {
        precision: be.precision(),
        ..cfg.clone()
    };
    w.meta("state", serde_json::to_string(state).map_err(js)?)
        .meta("adam_step", adam.step.to_string())
        .meta("config", to_yaml(&cfg)?)
        .meta("replicas", serde_json::to_string(replicas).map_err(js)?)
        .meta("dtype", B::T::DTYPE);
    std::fs::create_dir_all(cfg.run_dir()).map_err(|e| Error::io(cfg.run_dir(), e))?;
    w.write(&checkpoint_path(&cfg))
}

/// What a resumed run may change; every other config field must be the checkpoint's.
/// `store` is the path: the store's content must be the same (checked by its hash).
pub const RESUME_MAY_CHANGE: &[&str] = &[
    "optim.epochs",
    "optim.early_stopping",
    "backend",
    "store",
    "name",
    "out_dir",
];

/// Leaves of a JSON value as (dotted path, value); arrays are leaves.
fn leaves(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, serde_json::Value)>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(&p, x, out);
            }
        }
        other => out.push((prefix.to_string(), other.clone())),
    }
}

/// The config fields that differ between `saved` (the checkpoint's) and `now`, as
/// (field, saved value, new value), in field order.
pub fn config_changes(
    saved: &TrainConfig,
    now: &TrainConfig,
) -> Result<Vec<(String, String, String)>> {
    let js = |e: serde_json::Error| Error::Format(format!("config to JSON: {e}"));
    let (mut a, mut b) = (Vec::new(), Vec::new());
    leaves("", &serde_json::to_value(saved).map_err(js)?, &mut a);
    leaves("", &serde_json::to_value(now).map_err(js)?, &mut b);
    let get = |v: &[(String, serde_json::Value)], k: &str| {
        v.iter()
            .find(|(p, _)| p == k)
            .map_or("(absent)".to_string(), |(_, x)| x.to_string())
    };
    let mut keys: Vec<String> = a.iter().map(|(p, _)| p.clone()).collect();
    for (p, _) in &b {
        if !keys.contains(p) {
            keys.push(p.clone());
        }
    }
    Ok(keys
        .into_iter()
        .filter_map(|k| {
            let (x, y) = (get(&a, &k), get(&b, &k));
            (x != y).then_some((k, x, y))
        })
        .collect())
}

/// Refuse to resume with a config that changes anything but [`RESUME_MAY_CHANGE`].
pub fn check_resume_config(path: &Path, saved: &TrainConfig, now: &TrainConfig) -> Result<()> {
    let changed: Vec<_> = config_changes(saved, now)?
        .into_iter()
        .filter(|(k, _, _)| !RESUME_MAY_CHANGE.contains(&k.as_str()))
        .collect();
    if let Some((field, was, is)) = changed.first() {
        let others: Vec<&str> = changed[1..].iter().map(|c| c.0.as_str()).collect();
        return Err(Error::config(
            field.clone(),
            format!(
                "--resume: {was} in the checkpoint {}, {is} now{}; only {} may change on resume \
                 (start a new run to change it)",
                path.display(),
                if others.is_empty() {
                    String::new()
                } else {
                    format!(" (also changed: {})", others.join(", "))
                },
                RESUME_MAY_CHANGE.join(", ")
            ),
        ));
    }
    Ok(())
}

/// Refuse a store whose content is not the one recorded in `state` (field `store`).
pub fn check_store_identity(
    state: &RunState,
    ckpt: &Path,
    store_path: &Path,
    store_hash: u64,
) -> Result<()> {
    let now = format!("{store_hash:016x}");
    match &state.store_xxh64 {
        Some(was) if *was == now => Ok(()),
        Some(was) => Err(Error::config(
            "store",
            format!(
                "{} has changed: its content hash is {now}, the run in {} was trained on {was} \
                 (re-prepared or replaced); use the store the run was trained on, or start a new run",
                store_path.display(),
                ckpt.display()
            ),
        )),
        None => Err(Error::config(
            "store",
            format!(
                "the checkpoint {} records no store identity (written by an older recaux): \
                 cannot check that {} is the store it was trained on; start a new run",
                ckpt.display(),
                store_path.display()
            ),
        )),
    }
}

/// The run state of a checkpoint file.
pub fn read_state(f: &TensorFile) -> Result<RunState> {
    let path = f.path().display();
    let text = f
        .metadata()
        .get("state")
        .cloned()
        .ok_or_else(|| Error::Format(format!("{path}: no run state in the metadata")))?;
    serde_json::from_str(&text).map_err(|e| Error::Format(format!("{path}: run state: {e}")))
}

/// The config a checkpoint was written with.
pub fn read_config(f: &TensorFile) -> Result<TrainConfig> {
    let path = f.path().display().to_string();
    let text = f
        .metadata()
        .get("config")
        .cloned()
        .ok_or_else(|| Error::Format(format!("{path}: no config in the metadata")))?;
    super::config::parse_yaml(&text, &format!("{path} (config)"))
}

/// Restore parameters, moments and state from the run's checkpoint. Refuses (naming the
/// field) a config that changes more than [`RESUME_MAY_CHANGE`] and a store whose content hash
/// is not the checkpoint's.
pub fn load<B: Backend>(
    be: &B,
    cfg: &TrainConfig,
    store_hash: u64,
    model: &mut Model<B>,
    adam: &mut Adam<B>,
) -> Result<RunState> {
    let path = checkpoint_path(cfg);
    if !path.is_file() {
        return Err(Error::Data(format!(
            "--resume: no checkpoint at {}",
            path.display()
        )));
    }
    let f = TensorFile::open(&path)?;
    let mut saved = read_config(&f)?;
    if saved.precision == crate::backend::Precision::Auto {
        // a checkpoint from before the `precision` field: every backend then ran exact f32
        saved.precision = crate::backend::Precision::F32;
    }
    // `be` runs the precision `cfg` asked for (resolved by Trainer::new)
    let now = TrainConfig {
        precision: be.precision(),
        ..cfg.clone()
    };
    check_resume_config(&path, &saved, &now)?;
    let state = read_state(&f)?;
    check_store_identity(&state, &path, &cfg.store, store_hash)?;
    let meta = f.metadata();
    let m = model.m();
    if state.active.len() != m || state.best.len() != m || state.stop_reason.len() != m {
        return Err(Error::Format(format!(
            "{}: the run state holds {} replicas, the config {m}",
            path.display(),
            state.active.len()
        )));
    }
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
    Ok(state)
}

/// Write replica r's current weights as its best of `epoch`, under state_dict names (f32);
/// the file's metadata records the epoch.
pub fn save_best<B: Backend>(
    be: &B,
    cfg: &TrainConfig,
    model: &Model<B>,
    r: usize,
    epoch: usize,
) -> Result<()> {
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
    w.meta("producer", format!("recaux {}", env!("CARGO_PKG_VERSION")))
        .meta("epoch", epoch.to_string());
    let path = best_path(cfg, r);
    let dir = path.parent().expect("best/ folder");
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    w.write(&path)
}

/// Replica r's best weights file, checked against its best record: `None` when it never
/// validated (it has no best weights); an error naming the file when the file is missing or
/// holds another epoch than the record says (those weights are not the run's).
pub fn checked_best_file(cfg: &TrainConfig, r: usize, best: &Best) -> Result<Option<TensorFile>> {
    let Some(epoch) = best.epoch else {
        return Ok(None);
    };
    let p = best_path(cfg, r);
    if !p.is_file() {
        return Err(Error::Data(format!(
            "{}: replica {r}'s best weights (epoch {epoch}) are missing; the run's checkpoint \
             says they exist (resume the run to rewrite them if its best epoch is the last \
             one, else they are lost)",
            p.display()
        )));
    }
    let f = TensorFile::open(&p)?;
    if let Some(e) = f.metadata().get("epoch")
        && *e != epoch.to_string()
    {
        return Err(Error::Data(format!(
            "{}: weights of epoch {e}, but the checkpoint says replica {r}'s best epoch is \
             {epoch} (resume the run to rewrite them)",
            p.display()
        )));
    }
    Ok(Some(f))
}

/// A model whose replica r holds replica r's best weights, and which replicas have them.
/// A replica that never validated has none (its slot holds `current`'s weights, which must
/// not be reported); see [`checked_best_file`] for what is refused.
pub fn load_best_model<B: Backend>(
    be: &B,
    cfg: &TrainConfig,
    best: &[Best],
    current: &Model<B>,
) -> Result<(Model<B>, Vec<bool>)> {
    let m = current.m();
    if best.len() != m {
        return Err(Error::shape(format!(
            "{} best records for {m} replicas",
            best.len()
        )));
    }
    let specs = current.spec.params();
    let mut host: Vec<Vec<B::T>> = (0..specs.len())
        .map(|k| be.download(&current.params[k]))
        .collect::<Result<_>>()?;
    let mut has = vec![false; m];
    for (r, b) in best.iter().enumerate() {
        let Some(f) = checked_best_file(cfg, r, b)? else {
            continue;
        };
        for (k, ps) in specs.iter().enumerate() {
            let v = get::<B::T>(&f, &ps.name, &ps.shape)?;
            let n = ps.numel();
            host[k][r * n..(r + 1) * n].copy_from_slice(&v);
        }
        has[r] = true;
    }
    Ok((
        Model::from_host(be, current.spec, &current.seeds, &host)?,
        has,
    ))
}

/// Bring the files beside the checkpoint back to what it says (after a kill, these may lag
/// it): the best weights of replicas whose best epoch is the checkpoint's last epoch are
/// rewritten from its parameters (a kill may have come between the checkpoint and them), and
/// the metrics files are rewritten from its rows. Any other best file the checkpoint counts on
/// must exist.
pub fn restore_outputs<B: Backend>(
    be: &B,
    cfg: &TrainConfig,
    model: &Model<B>,
    state: &RunState,
) -> Result<()> {
    for (r, b) in state.best.iter().enumerate() {
        match b.epoch {
            Some(e) if e + 1 == state.epoch => save_best(be, cfg, model, r, e)?,
            Some(e) if !best_path(cfg, r).is_file() => {
                return Err(Error::Data(format!(
                    "{}: replica {r}'s best weights (epoch {e}) are missing",
                    best_path(cfg, r).display()
                )));
            }
            _ => {}
        }
    }
    write_metrics(cfg, &state.metrics)
}

/// Remove temporaries a killed writer left in `dir` (`.<name>.tmp<pid>` from
/// [`write_atomic`]). Call only while holding the run's lock.
pub fn remove_temporaries(dir: &Path) -> Result<()> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    for e in rd {
        let p = e.map_err(|e| Error::io(dir, e))?.path();
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') && name.contains(".tmp") && p.is_file() {
            std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
        }
    }
    Ok(())
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
