//! The training loop: all replicas jointly on the same batches, validation every epoch,
//! best-validation weights per replica, checkpoints for exact resume, and the final test
//! evaluation of each replica's best weights.

use super::checkpoint::{self, Best, Metrics, RunState};
use super::config::{Replica, TrainConfig};
use super::feature_record;
use crate::backend::{Backend, Counters, Elem};
use crate::data::Split;
use crate::data::sampler::{Batch, Sampler};
use crate::data::store::FeatureStore;
use crate::error::{Error, Result};
use crate::model::{self, Mode, Model, Workspace};
use crate::train::Adam;
use crate::train::step::{Record, Step};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Per-replica sums over a split.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EvalResult {
    pub ce: Vec<f64>,
    pub l1: Vec<f64>,
    pub acc: Vec<f64>,
    /// Clips evaluated.
    pub n: usize,
}

/// Workspaces by batch shape (T, B): evaluation batches can differ from training ones.
pub struct Workspaces<B: Backend> {
    map: HashMap<(usize, usize), Workspace<B>>,
}

impl<B: Backend> Default for Workspaces<B> {
    fn default() -> Self {
        Workspaces {
            map: HashMap::new(),
        }
    }
}

impl<B: Backend> Workspaces<B> {
    /// The workspace for `m` replicas and a `t x b` batch.
    pub fn get(
        &mut self,
        be: &B,
        model: &Model<B>,
        t: usize,
        b: usize,
    ) -> Result<&mut Workspace<B>> {
        if !self.map.contains_key(&(t, b)) {
            if self.map.len() >= 4 {
                self.map.clear();
            }
            self.map
                .insert((t, b), Workspace::new(be, &model.spec, model.m(), t, b)?);
        }
        Ok(self.map.get_mut(&(t, b)).expect("inserted above"))
    }
}

/// Upload a sampler batch.
fn upload<B: Backend>(be: &B, batch: &Batch) -> Result<(B::Buf, B::IBuf)> {
    let x: Vec<B::T> = batch.x.iter().map(|&v| B::T::of(v as f64)).collect();
    Ok((be.upload(&x)?, be.upload_idx(&batch.y)?))
}

/// Correct predictions per replica (arg-max of the logits, first wins).
fn correct<B: Backend>(
    be: &B,
    logits: &B::Buf,
    m: usize,
    b: usize,
    c: usize,
    y: &[i32],
) -> Result<Vec<usize>> {
    let l = be.download(logits)?;
    Ok(crate::backend::cpu::correct_counts(&l, y, m, b, c))
}

/// Evaluate every replica on `split` (dropout off): mean CE, L1 and accuracy over clips.
pub fn evaluate<B: Backend>(
    be: &B,
    model: &Model<B>,
    store: &FeatureStore,
    split: Split,
    cfg: &TrainConfig,
    wss: &mut Workspaces<B>,
) -> Result<EvalResult> {
    let m = model.m();
    let c = model.spec.classes;
    let sampler = Sampler::eval(store, split, cfg.sampler.clone())?;
    let mut out = EvalResult {
        ce: vec![0.0; m],
        l1: vec![0.0; m],
        acc: vec![0.0; m],
        n: 0,
    };
    for batch in sampler.epoch(0) {
        let batch = batch?;
        let (xb, yb) = upload(be, &batch)?;
        let ws = wss.get(be, model, batch.t, batch.b)?;
        let l = model::forward(be, model, ws, &xb, &yb, Mode::Eval)?;
        let ok = correct(be, &ws.logits, m, batch.b, c, &batch.y)?;
        let bf = batch.b as f64;
        for (r, &k) in ok.iter().enumerate() {
            out.ce[r] += l.ce[r] * bf;
            out.l1[r] += l.l1[r] * bf;
            out.acc[r] += k as f64;
        }
        out.n += batch.b;
    }
    let n = out.n.max(1) as f64;
    for r in 0..m {
        out.ce[r] /= n;
        out.l1[r] /= n;
        out.acc[r] /= n;
    }
    Ok(out)
}

/// Write `v` as pretty JSON to `path`.
fn write_json(path: &Path, v: &serde_json::Value) -> Result<()> {
    let s = serde_json::to_string_pretty(v)
        .map_err(|e| Error::Data(format!("{}: {e}", path.display())))?;
    std::fs::write(path, s).map_err(|e| Error::io(path, e))
}

/// Hooks the caller supplies: progress and per-epoch reporting.
pub trait Observer {
    /// Before an epoch of `batches` training batches.
    fn epoch_start(&mut self, _epoch: usize, _batches: usize) {}
    /// After each training batch with the mean total loss over active replicas.
    fn batch_done(&mut self, _epoch: usize, _batch: usize, _mean_loss: f64, _clips_per_s: f64) {}
    /// After validation, with the epoch's rows (one per replica).
    fn epoch_done(&mut self, _epoch: usize, _rows: &[Metrics]) {}
    /// A message worth a line (a replica stopped, a checkpoint problem...).
    fn note(&mut self, _msg: &str) {}
    /// With profiling on ([`Trainer::profile_to`]): the epoch's per-kernel table and
    /// counters, as text, and where the files went.
    fn profile(&mut self, _epoch: usize, _table: &str) {}
}

/// How many training steps of the first profiled epoch the trace covers.
pub const TRACE_STEPS: usize = 3;

/// Where a profiled run writes, and what it has written.
struct Profiling {
    dir: PathBuf,
    epochs: Vec<serde_json::Value>,
    trace_written: bool,
}

/// A run in progress.
pub struct Trainer<'a, B: Backend> {
    be: &'a B,
    cfg: &'a TrainConfig,
    store: &'a FeatureStore,
    pub replicas: Vec<Replica>,
    pub model: Model<B>,
    adam: Adam<B>,
    /// The training step (its gradients, Adam's table, the guard's state, its workspaces).
    step: Step<B>,
    wss: Workspaces<B>,
    pub state: RunState,
    profiling: Option<Profiling>,
}

/// One replica's sums over an epoch's training batches: CE, L1, correct predictions.
#[derive(Clone, Copy, Debug, Default)]
struct EpochSums {
    ce: f64,
    l1: f64,
    correct: usize,
}

/// Check that `store` fits `cfg`: its mel bands and classes are the model's, and it has
/// validation and test clips (checked before the first epoch, not after the last).
fn check_store(cfg: &TrainConfig, store: &FeatureStore) -> Result<()> {
    if store.n_mels() != cfg.model.features {
        return Err(Error::config(
            "model.features",
            format!(
                "{} but the store {} has {} mel bands",
                cfg.model.features,
                cfg.store.display(),
                store.n_mels()
            ),
        ));
    }
    if store.class_names().len() != cfg.model.classes {
        return Err(Error::config(
            "model.classes",
            format!(
                "{} but the store {} has {} classes",
                cfg.model.classes,
                cfg.store.display(),
                store.class_names().len()
            ),
        ));
    }
    for split in [Split::Validation, Split::Test] {
        if store.indices(split).is_empty() {
            return Err(Error::config(
                "store",
                format!(
                    "{} has no {split} clips: a run validates every epoch and tests at the end",
                    cfg.store.display()
                ),
            ));
        }
    }
    Ok(())
}

impl<'a, B: Backend> Trainer<'a, B> {
    /// A fresh run (or, with `resume`, the state of the run's last checkpoint: see
    /// [`checkpoint::load`] for what it refuses).
    pub fn new(
        be: &'a B,
        cfg: &'a TrainConfig,
        store: &'a FeatureStore,
        resume: bool,
    ) -> Result<Self> {
        check_store(cfg, store)?;
        // the run's precision (`auto`: the backend's default); checkpoints record it
        be.set_precision(cfg.precision)
            .map_err(|e| Error::config("precision", e.to_string()))?;
        // A new run records the store's feature settings; a resumed one must see the same.
        if resume {
            feature_record::check_store(&cfg.run_dir(), store, &cfg.store)?;
        } else {
            feature_record::write(&cfg.run_dir(), &store.header().feature_config)?;
        }
        let store_hash = store.content_hash();
        let replicas = cfg.replicas();
        let seeds: Vec<u64> = replicas.iter().map(|r| r.seed).collect();
        let mut model = Model::init(be, cfg.model, &seeds)?;
        let mut adam = Adam::new(be, &model, cfg.optim.adam)?;
        let state = if resume {
            checkpoint::load(be, cfg, store_hash, &mut model, &mut adam)?
        } else {
            RunState {
                store_xxh64: Some(format!("{store_hash:016x}")),
                ..RunState::new(replicas.len())
            }
        };
        let lambdas: Vec<f64> = replicas.iter().map(|r| r.lambda).collect();
        let step = Step::new(be, &mut model, &mut adam, &lambdas, &state.active, 1)?;
        Ok(Trainer {
            be,
            cfg,
            store,
            replicas,
            model,
            adam,
            step,
            wss: Workspaces::default(),
            state,
            profiling: None,
        })
    }

    /// Profile the training steps into `dir` (created; `recaux train --profile` gives the run
    /// folder's `profile/`): per epoch, the per-kernel table and the counters of its training
    /// steps (validation excluded) in `epoch-<N>.csv` and `profile.json`, and the launches of
    /// the first [`TRACE_STEPS`] steps as Chrome trace-event JSON in `trace.json`.
    pub fn profile_to(&mut self, dir: PathBuf) -> Result<()> {
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        // profiled steps launch one by one (CUDA events cannot time kernels inside a graph)
        self.step.set_graphs(false);
        self.profiling = Some(Profiling {
            dir,
            epochs: Vec::new(),
            trace_written: false,
        });
        Ok(())
    }

    /// Train until the configured epochs are done (or every replica stopped), writing a
    /// checkpoint after each epoch; then return. A resumed run first brings the files beside
    /// the checkpoint back to it.
    pub fn run(&mut self, obs: &mut dyn Observer) -> Result<()> {
        let sampler = Sampler::train(self.store, Split::Train, self.cfg.sampler.clone())?;
        let n_batches = self.batches_per_epoch(&sampler)?;
        if self.state.epoch > 0 {
            checkpoint::restore_outputs(self.be, self.cfg, &self.model, &self.state)?;
        }
        while self.state.epoch < self.cfg.optim.epochs && self.state.active.iter().any(|&a| a) {
            let epoch = self.state.epoch;
            let t0 = Instant::now();
            obs.epoch_start(epoch, n_batches);
            let c0 = self.be.counters();
            if self.profiling.is_some() {
                self.be.set_profiling(true)?;
            }
            let sums = self.train_epoch(&sampler, n_batches, t0, obs)?;
            let train_s = t0.elapsed().as_secs_f64();
            if self.profiling.is_some() {
                self.write_profile(epoch, n_batches, train_s, c0, obs)?;
            }
            let val = evaluate(
                self.be,
                &self.model,
                self.store,
                Split::Validation,
                self.cfg,
                &mut self.wss,
            )?;
            let rows = self.epoch_rows(epoch, &sums, n_batches, &val, train_s);
            let improved = self.update_best(epoch, &val);
            self.state.metrics.extend(rows.iter().cloned());
            self.state.epoch += 1;
            self.commit_epoch(epoch, &improved)?;
            obs.epoch_done(epoch, &rows);
        }
        Ok(())
    }

    /// Training batches per epoch: the split's, capped by `optim.max_batches_per_epoch`.
    fn batches_per_epoch(&self, sampler: &Sampler) -> Result<usize> {
        let n = self
            .cfg
            .optim
            .max_batches_per_epoch
            .map_or(sampler.batches_per_epoch(), |c| {
                c.min(sampler.batches_per_epoch())
            });
        if n == 0 {
            return Err(Error::Data(format!(
                "the training split of {} has {} clips, fewer than one batch of {}",
                self.cfg.store.display(),
                sampler.len(),
                self.cfg.sampler.batch_size
            )));
        }
        Ok(n)
    }

    /// One epoch of training steps; the per-replica sums of the active replicas.
    fn train_epoch(
        &mut self,
        sampler: &Sampler,
        n_batches: usize,
        t0: Instant,
        obs: &mut dyn Observer,
    ) -> Result<Vec<EpochSums>> {
        let epoch = self.state.epoch;
        let lrs = vec![self.cfg.lr_at(epoch); self.replicas.len()];
        let mut sums = vec![EpochSums::default(); self.replicas.len()];
        let mut clips = 0usize;
        let mut batch = sampler.batch(epoch as u64, 0)?;
        self.stage(&batch, &lrs)?;
        for bi in 0..n_batches {
            let step = self.state.step;
            self.step.launch(self.be, &mut self.model, &mut self.adam)?;
            self.state.step += 1;
            // batch bi+1 is drawn and staged while step bi runs (the host has not waited)
            let next = if bi + 1 < n_batches {
                let nb = sampler.batch(epoch as u64, bi + 1)?;
                self.stage(&nb, &lrs)?;
                Some(nb)
            } else {
                None
            };
            let mean = self.finish_step(step, &mut sums, obs)?;
            clips += batch.b;
            if let Some(p) = self.profiling.as_mut()
                && !p.trace_written
                && bi + 1 == TRACE_STEPS.min(n_batches)
            {
                let events = self.be.take_trace()?;
                let json = crate::profile::chrome_trace(&self.be.name(), &events);
                write_json(&p.dir.join("trace.json"), &json)?;
                p.trace_written = true;
            }
            obs.batch_done(
                epoch,
                bi,
                mean,
                clips as f64 / t0.elapsed().as_secs_f64().max(1e-9),
            );
            if let Some(nb) = next {
                batch = nb;
            }
        }
        Ok(sums)
    }

    /// Stage `batch` for the next training step ([`Step::stage`]): its dropout step is the
    /// run's step count, the replicas the host keeps training are the active ones (one that
    /// went non-finite in the step still running is frozen by the device itself).
    fn stage(&mut self, batch: &Batch, lrs: &[f64]) -> Result<()> {
        let keep = self.state.active.clone();
        self.step.stage(
            self.be,
            &self.model,
            &self.adam,
            (&batch.x, &batch.y, batch.t),
            self.state.step,
            lrs,
            &keep,
        )
    }

    /// The record of training step `step` (launched by [`Step::launch`]: forward, backward,
    /// the non-finite guard that freezes a replica on the device, Adam): a replica whose loss
    /// or gradient was not finite is stopped, the others' sums grow. Returns the mean total
    /// loss of the replicas still active.
    fn finish_step(
        &mut self,
        step: u64,
        sums: &mut [EpochSums],
        obs: &mut dyn Observer,
    ) -> Result<f64> {
        let m = self.replicas.len();
        let rec = self
            .step
            .read(self.be)?
            .pop()
            .ok_or_else(|| Error::Data("training step: no record read back".to_string()))?;
        let lambdas: Vec<f64> = self.replicas.iter().map(|r| r.lambda).collect();
        let total: Vec<f64> = (0..m).map(|r| rec.total(r, lambdas[r])).collect();
        for r in 0..m {
            if !self.state.active[r] {
                continue;
            }
            if rec.nonfinite[r] {
                self.stop_nonfinite(r, step, total[r].is_finite(), &rec, obs);
                continue;
            }
            sums[r].ce += rec.ce[r];
            sums[r].l1 += rec.l1[r];
            sums[r].correct += rec.correct[r];
        }
        let act: Vec<f64> = (0..m)
            .filter(|&r| self.state.active[r])
            .map(|r| total[r])
            .collect();
        Ok(act.iter().sum::<f64>() / act.len().max(1) as f64)
    }

    /// The epoch's profile: table and counters of its training steps, to the files and `obs`.
    fn write_profile(
        &mut self,
        epoch: usize,
        steps: usize,
        train_s: f64,
        c0: Counters,
        obs: &mut dyn Observer,
    ) -> Result<()> {
        let be = self.be;
        let rows = be.take_profile()?;
        be.set_profiling(false)?;
        let counters = be.counters().since(&c0);
        let Some(p) = self.profiling.as_mut() else {
            return Ok(());
        };
        let t = crate::profile::table(&rows, steps);
        let csv = p.dir.join(format!("epoch-{epoch}.csv"));
        std::fs::write(&csv, &t.csv).map_err(|e| Error::io(&csv, e))?;
        p.epochs.push(serde_json::json!({
            "epoch": epoch,
            "steps": steps,
            "train_seconds": train_s,
            "counters": counters,
            "ops": t.ops,
        }));
        let json = serde_json::json!({ "backend": be.name(), "epochs": p.epochs });
        write_json(&p.dir.join("profile.json"), &json)?;
        obs.profile(
            epoch,
            &format!(
                "profile of epoch {epoch} ({steps} training steps, {}; {} and profile.json):\n{}counters:\n{}",
                be.name(),
                csv.display(),
                t.text,
                counters.table(steps)
            ),
        );
        Ok(())
    }

    /// Stop replica `r` after a non-finite loss (or, when `loss_finite`, gradient).
    fn stop_nonfinite(
        &mut self,
        r: usize,
        step: u64,
        loss_finite: bool,
        l: &Record,
        obs: &mut dyn Observer,
    ) {
        let why = format!(
            "non-finite {} at epoch {}, step {} (ce {}, l1 {})",
            if loss_finite { "gradient" } else { "loss" },
            self.state.epoch,
            step,
            l.ce[r],
            l.l1[r]
        );
        obs.note(&format!(
            "replica {r} (λ {}, seed {}) stopped: {why}",
            self.replicas[r].lambda, self.replicas[r].seed
        ));
        self.state.stop(r, why);
    }

    /// The epoch's metrics rows, one per replica.
    fn epoch_rows(
        &self,
        epoch: usize,
        sums: &[EpochSums],
        n_batches: usize,
        val: &EvalResult,
        train_s: f64,
    ) -> Vec<Metrics> {
        let nb = n_batches as f64;
        let lr = self.cfg.lr_at(epoch);
        self.replicas
            .iter()
            .zip(sums)
            .enumerate()
            .map(|(r, (rep, s))| Metrics {
                epoch,
                replica: r,
                lambda: rep.lambda,
                seed: rep.seed,
                lr,
                train_ce: s.ce / nb,
                train_l1: s.l1 / nb,
                train_loss: (s.ce + rep.lambda * s.l1) / nb,
                train_acc: s.correct as f64 / (nb * self.cfg.sampler.batch_size as f64),
                val_ce: val.ce[r],
                val_l1: val.l1[r],
                val_loss: val.ce[r] + rep.lambda * val.l1[r],
                val_acc: val.acc[r],
                active: self.state.active[r],
                seconds: train_s,
            })
            .collect()
    }

    /// Record each active replica's validation: a better accuracy is its new best (returned
    /// as `true`), else it grows stale and may stop early.
    fn update_best(&mut self, epoch: usize, val: &EvalResult) -> Vec<bool> {
        let mut improved = vec![false; self.replicas.len()];
        for (r, imp) in improved.iter_mut().enumerate() {
            if !self.state.active[r] {
                continue;
            }
            let best = &mut self.state.best[r];
            if best.epoch.is_none() || val.acc[r] > best.val_acc {
                *best = Best {
                    epoch: Some(epoch),
                    val_acc: val.acc[r],
                    stale: 0,
                };
                *imp = true;
            } else {
                best.stale += 1;
                if let Some(p) = self.cfg.optim.early_stopping
                    && best.stale >= p
                {
                    self.state
                        .stop(r, format!("early stopping after epoch {epoch}"));
                }
            }
        }
        improved
    }

    /// Write the epoch out, the checkpoint first (it is the truth a resume restores the
    /// others from), then the new best weights, then the metrics files.
    fn commit_epoch(&self, epoch: usize, improved: &[bool]) -> Result<()> {
        let (be, cfg) = (self.be, self.cfg);
        checkpoint::save(
            be,
            cfg,
            &self.replicas,
            &self.model,
            &self.adam,
            &self.state,
        )?;
        for r in (0..improved.len()).filter(|&r| improved[r]) {
            checkpoint::save_best(be, cfg, &self.model, r, epoch)?;
        }
        checkpoint::write_metrics(cfg, &self.state.metrics)
    }

    /// Evaluate each replica's best-validation weights on `split`; and which replicas have
    /// such weights (one that never validated has none: its numbers must not be reported).
    pub fn evaluate_best(&mut self, split: Split) -> Result<(EvalResult, Vec<bool>)> {
        let (best, has) =
            checkpoint::load_best_model(self.be, self.cfg, &self.state.best, &self.model)?;
        let res = evaluate(self.be, &best, self.store, split, self.cfg, &mut self.wss)?;
        Ok((res, has))
    }
}
