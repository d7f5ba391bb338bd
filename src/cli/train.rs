//! `recaux train --config FILE`: train every (λ, seed) replica jointly, validate each epoch,
//! keep the best weights per replica, then test them and print the table.

use super::backend_arg::BackendChoice;
use crate::data::Split;
use crate::data::store::FeatureStore;
use crate::train::checkpoint::Metrics;
use crate::train::run_dir::{RunDir, Start};
use crate::train::tensorboard::EventWriter;
use crate::train::trainer::{Observer, Trainer};
use crate::train::{TrainConfig, results};
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};

/// Arguments of `recaux train`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The run's YAML config.
    #[arg(long)]
    pub config: PathBuf,
    /// Continue the run from its last checkpoint (only the settings the README lists may
    /// change).
    #[arg(long, conflicts_with = "overwrite")]
    pub resume: bool,
    /// Replace an existing run of the same name (its outputs are removed first).
    #[arg(long)]
    pub overwrite: bool,
    /// Override `optim.epochs`.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Override `backend`.
    #[arg(long, value_enum)]
    pub backend: Option<BackendChoice>,
    /// Override `precision` (auto, f32, tf32, f16, bf16).
    #[arg(long, value_enum)]
    pub precision: Option<crate::backend::Precision>,
    /// Override `lambdas` (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub lambdas: Option<Vec<f64>>,
    /// Override `seeds` (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub seeds: Option<Vec<u64>>,
    /// Override `out_dir`.
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// Override `name`.
    #[arg(long)]
    pub name: Option<String>,
    /// Override `optim.max_batches_per_epoch`.
    #[arg(long)]
    pub max_batches: Option<usize>,
    /// Profile the training steps: per epoch a per-kernel table and the counters (printed,
    /// and written as epoch-N.csv and profile.json), and a Chrome trace-event JSON of the
    /// first steps (trace.json), in the run folder's `profile/` or `--profile-out`.
    #[arg(long)]
    pub profile: bool,
    /// Where `--profile` writes (a folder; default `<run folder>/profile`).
    #[arg(long, requires = "profile")]
    pub profile_out: Option<PathBuf>,
}

/// The config with the command line's overrides applied and validated.
pub fn resolve_config(args: &Args) -> anyhow::Result<TrainConfig> {
    let p = &args.config;
    let mut cfg = TrainConfig::load(p)?;
    if let Some(e) = args.epochs {
        cfg.optim.epochs = e;
    }
    if let Some(l) = &args.lambdas {
        cfg.lambdas = l.clone();
    }
    if let Some(s) = &args.seeds {
        cfg.seeds = s.clone();
    }
    if let Some(o) = &args.out_dir {
        cfg.out_dir = o.clone();
    }
    if let Some(n) = &args.name {
        cfg.name = n.clone();
    }
    if let Some(b) = args.max_batches {
        cfg.optim.max_batches_per_epoch = Some(b);
    }
    if let Some(b) = args.backend {
        cfg.backend = b.into();
    }
    if let Some(q) = args.precision {
        cfg.precision = q;
    }
    cfg.validate()
        .with_context(|| format!("{} with the flags applied", p.display()))?;
    Ok(cfg)
}

/// Progress on stderr (a bar per epoch, a line per epoch) and TensorBoard scalars.
struct Progress {
    bar: Option<ProgressBar>,
    tb: Option<EventWriter>,
}

impl Observer for Progress {
    fn epoch_start(&mut self, epoch: usize, batches: usize) {
        let bar = ProgressBar::new(batches as u64);
        bar.set_style(
            ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(epoch.to_string());
        self.bar = Some(bar);
    }
    fn batch_done(&mut self, _epoch: usize, _batch: usize, loss: f64, cps: f64) {
        if let Some(b) = &self.bar {
            b.set_message(format!("loss {loss:.4}  {cps:.1} clips/s"));
            b.inc(1);
        }
    }
    fn epoch_done(&mut self, epoch: usize, rows: &[Metrics]) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        let accs: Vec<String> = rows.iter().map(|r| format!("{:.3}", r.val_acc)).collect();
        let secs = rows.first().map_or(0.0, |r| r.seconds);
        eprintln!(
            "epoch {epoch}: val acc per replica [{}] ({secs:.1} s)",
            accs.join(", ")
        );
        if let Some(w) = self.tb.as_mut()
            && let Err(e) = crate::train::report::tensorboard_epoch(w, rows)
        {
            eprintln!("tensorboard: {e} (no more event records this run)");
            self.tb = None;
        }
    }
    fn note(&mut self, msg: &str) {
        match &self.bar {
            Some(b) => b.println(msg),
            None => eprintln!("{msg}"),
        }
    }
    fn profile(&mut self, _epoch: usize, table: &str) {
        // printed around the bar, which hides its own lines when stderr is not a terminal
        let table = table.trim_end();
        match &self.bar {
            Some(b) => b.suspend(|| eprintln!("{table}")),
            None => eprintln!("{table}"),
        }
    }
}

/// Run the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    let cfg = resolve_config(&args)?;
    let start = match (args.resume, args.overwrite) {
        (true, _) => Start::Resume,
        (_, true) => Start::Overwrite,
        _ => Start::New,
    };
    let profile = args.profile.then(|| {
        args.profile_out
            .clone()
            .unwrap_or_else(|| cfg.run_dir().join("profile"))
    });
    run_config(&cfg, start, profile)
}

/// Remove the run's TensorBoard event files and start one holding the checkpoint's rows: a
/// resumed run has one event file that agrees with its checkpoint, however it was stopped.
fn tensorboard_from(dir: &Path, rows: &[Metrics]) -> anyhow::Result<EventWriter> {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_file()
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().contains("tfevents"))
            {
                std::fs::remove_file(&p).with_context(|| p.display().to_string())?;
            }
        }
    }
    let mut w = EventWriter::create(dir)?;
    let epochs: std::collections::BTreeSet<usize> = rows.iter().map(|r| r.epoch).collect();
    for e in epochs {
        let of_e: Vec<Metrics> = rows.iter().filter(|r| r.epoch == e).cloned().collect();
        crate::train::report::tensorboard_epoch(&mut w, &of_e)?;
    }
    Ok(w)
}

/// Train `cfg` (see [`Start`]), test, print and write the results. The run folder is locked
/// for the whole command. With `profile`, the training steps are profiled into that folder
/// ([`Trainer::profile_to`]).
pub fn run_config(cfg: &TrainConfig, start: Start, profile: Option<PathBuf>) -> anyhow::Result<()> {
    let run = RunDir::open(cfg, start)?;
    let run_dir = run.path().to_path_buf();
    let resume = start == Start::Resume && run.has_checkpoint;
    if start == Start::Resume && !run.has_checkpoint {
        eprintln!(
            "{}: no checkpoint yet (stopped during its first epoch): starting from epoch 0",
            run_dir.display()
        );
    }
    let store = FeatureStore::open(&cfg.store).context("`store`")?;
    let reps = cfg.replicas();
    eprintln!(
        "run {}: {} replicas (λ {:?} x seeds {:?}), {} train / {} validation / {} test clips, up to {} epochs",
        cfg.name,
        reps.len(),
        cfg.lambdas,
        cfg.seeds,
        store.indices(Split::Train).len(),
        store.indices(Split::Validation).len(),
        store.indices(Split::Test).len(),
        cfg.optim.epochs
    );
    let rows = crate::with_backend!(BackendChoice::from(cfg.backend), f32, |be| {
        // the run records the precision `auto` resolved to (resume compares it)
        let mut resolved = cfg.clone();
        resolved.precision = crate::backend::Backend::set_precision(&be, cfg.precision)
            .map_err(|e| crate::error::Error::config("precision", e.to_string()))?;
        let cfg = &resolved;
        eprintln!(
            "precision {} on {}",
            cfg.precision,
            crate::backend::Backend::name(&be)
        );
        let mut tr = Trainer::new(&be, cfg, &store, resume)?;
        if let Some(dir) = &profile {
            tr.profile_to(dir.clone())?;
            eprintln!("profiling the training steps into {}", dir.display());
        }
        // written once the resume checks passed: it then only differs in what may change
        let cp = run_dir.join("config.yaml");
        crate::safetensors_io::write_atomic(&cp, crate::train::config::to_yaml(cfg)?.as_bytes())?;
        if resume {
            eprintln!(
                "resuming at epoch {} (step {})",
                tr.state.epoch, tr.state.step
            );
        }
        let tb = tensorboard_from(&run_dir.join("tensorboard"), &tr.state.metrics)?;
        tr.run(&mut Progress {
            bar: None,
            tb: Some(tb),
        })?;
        let (test, has) = tr.evaluate_best(Split::Test)?;
        (
            results::rows(
                &tr.replicas,
                &tr.state.best,
                &tr.state.stop_reason,
                &test,
                &has,
            ),
            test.n,
            tr.state.metrics.clone(),
        )
    });
    let (rows, n_test, metrics) = rows;
    let md = results::markdown(&rows, Split::Test, n_test);
    println!("{md}");
    let write =
        |name: &str, body: &[u8]| crate::safetensors_io::write_atomic(&run_dir.join(name), body);
    write("results.md", md.as_bytes())?;
    write(
        "results.json",
        serde_json::to_string_pretty(&rows)?.as_bytes(),
    )?;
    let pngs = crate::train::report::plots(&run_dir.join("plots"), &metrics, &rows)?;
    println!(
        "outputs in {}: results.md, metrics.csv, metrics.jsonl, checkpoint.safetensors, best/, tensorboard/",
        run_dir.display()
    );
    for p in pngs {
        println!("  {}", p.display());
    }
    Ok(())
}
