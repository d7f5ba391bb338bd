//! `recaux eval --run DIR` and `recaux export --run DIR`: using a finished (or running) run.

use super::backend_arg::BackendChoice;
use crate::data::Split;
use crate::data::store::FeatureStore;
use crate::train::checkpoint::{self, RunState, best_path};
use crate::train::config::{Replica, parse_yaml};
use crate::train::trainer::{Workspaces, evaluate};
use crate::train::{TrainConfig, results};
use anyhow::Context;
use std::path::{Path, PathBuf};

/// The run's resolved config (`<run>/config.yaml`).
pub fn load_run(run: &Path) -> anyhow::Result<TrainConfig> {
    let p = run.join("config.yaml");
    let text = crate::train::config::read_config_text(&p)
        .map_err(|e| anyhow::anyhow!("{e} (is {} a run folder?)", run.display()))?;
    let mut cfg: TrainConfig = parse_yaml(&text, &p.display().to_string())?;
    // outputs live where the run is now, wherever it was made
    cfg.out_dir = run.parent().map(Path::to_path_buf).unwrap_or_default();
    cfg.name = run
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or(cfg.name);
    Ok(cfg)
}

/// Arguments of `recaux eval`.
#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// The run folder (`runs/<name>`).
    #[arg(long)]
    pub run: PathBuf,
    /// Which split to evaluate.
    #[arg(long, default_value = "test", value_parser = ["test", "validation", "train"])]
    pub split: String,
    #[arg(long, value_enum, default_value = "cpu")]
    pub backend: BackendChoice,
}

/// The checkpoint's run state, with the store checked to be the one the run trained on (a
/// checkpoint of an older recaux records none: a warning says it cannot be checked).
/// Without a checkpoint nothing was validated, so there are no best weights to use.
pub fn run_state(cfg: &TrainConfig, store: &FeatureStore) -> anyhow::Result<RunState> {
    let ck = checkpoint::checkpoint_path(cfg);
    if !ck.is_file() {
        anyhow::bail!(
            "{}: no checkpoint: the run has not finished an epoch, it has no best weights",
            ck.display()
        );
    }
    let state = checkpoint::read_state(&crate::safetensors_io::TensorFile::open(&ck)?)?;
    if state.store_xxh64.is_none() {
        // a run of an older recaux: nothing to compare with (resume refuses it)
        eprintln!(
            "warning: {} records no store identity (older recaux): cannot check that {} is the \
             store the run was trained on",
            ck.display(),
            cfg.store.display()
        );
    } else {
        checkpoint::check_store_identity(&state, &ck, &cfg.store, store.content_hash())?;
    }
    Ok(state)
}

/// Evaluate each replica's best weights on a split and print the table.
pub fn eval(args: EvalArgs) -> anyhow::Result<()> {
    let cfg = load_run(&args.run)?;
    cfg.validate()?;
    let split =
        Split::parse(&args.split).ok_or_else(|| anyhow::anyhow!("unknown split {}", args.split))?;
    let store = FeatureStore::open(&cfg.store).context("`store`")?;
    crate::train::feature_record::check_store(&args.run, &store, &cfg.store)?;
    let state = run_state(&cfg, &store)?;
    let reps = cfg.replicas();
    let (rows, n) = crate::with_backend!(args.backend, f32, |be| {
        let seeds: Vec<u64> = reps.iter().map(|r| r.seed).collect();
        let init = crate::model::Model::init(&be, cfg.model, &seeds)?;
        let (model, has) = checkpoint::load_best_model(&be, &cfg, &state.best, &init)?;
        if !has.contains(&true) {
            anyhow::bail!(
                "{}: no replica has best weights (every replica stopped before its first \
                 validation)",
                args.run.display()
            );
        }
        let res = evaluate(&be, &model, &store, split, &cfg, &mut Workspaces::default())?;
        (
            results::rows(&reps, &state.best, &state.stop_reason, &res, &has),
            res.n,
        )
    });
    println!("{}", results::markdown(&rows, split, n));
    Ok(())
}

/// Arguments of `recaux export`.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The run folder (`runs/<name>`).
    #[arg(long)]
    pub run: PathBuf,
    /// Where to write (default `<run>/export`).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// File name of a replica's export.
pub fn export_name(r: &Replica) -> String {
    format!("lambda_{}_seed_{}.safetensors", r.lambda, r.seed)
}

/// Write each replica's best weights under PyTorch's state_dict names.
pub fn export(args: ExportArgs) -> anyhow::Result<()> {
    let cfg = load_run(&args.run)?;
    let ck = checkpoint::checkpoint_path(&cfg);
    if !ck.is_file() {
        anyhow::bail!(
            "{}: no checkpoint: the run has not finished an epoch, it has no best weights",
            ck.display()
        );
    }
    let state = checkpoint::read_state(&crate::safetensors_io::TensorFile::open(&ck)?)?;
    let out = args.out.unwrap_or_else(|| args.run.join("export"));
    std::fs::create_dir_all(&out).with_context(|| out.display().to_string())?;
    let mut n = 0;
    for (r, rep) in cfg.replicas().iter().enumerate() {
        let best = state.best.get(r).cloned().unwrap_or_default();
        if checkpoint::checked_best_file(&cfg, r, &best)?.is_none() {
            eprintln!(
                "replica {r} (λ {}, seed {}): no best weights (it never validated), skipped",
                rep.lambda, rep.seed
            );
            continue;
        }
        let src = best_path(&cfg, r);
        let dst = out.join(export_name(rep));
        std::fs::copy(&src, &dst)
            .with_context(|| format!("{} -> {}", src.display(), dst.display()))?;
        println!("{}", dst.display());
        n += 1;
    }
    if n == 0 {
        anyhow::bail!("{}: no replica has best weights yet", args.run.display());
    }
    eprintln!(
        "{n} files: load with AudioClassifier().load_state_dict(safetensors.torch.load_file(PATH))"
    );
    Ok(())
}
