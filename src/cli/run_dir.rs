//! `recaux eval --run DIR` and `recaux export --run DIR`: using a finished (or running) run.

use super::backend_arg::BackendChoice;
use crate::data::Split;
use crate::data::store::FeatureStore;
use crate::train::checkpoint::{self, best_path};
use crate::train::config::{Replica, parse_yaml};
use crate::train::trainer::{Workspaces, evaluate};
use crate::train::{TrainConfig, results};
use std::path::{Path, PathBuf};

/// The run's resolved config (`<run>/config.yaml`).
pub fn load_run(run: &Path) -> anyhow::Result<TrainConfig> {
    let p = run.join("config.yaml");
    let text = std::fs::read_to_string(&p).map_err(|e| {
        anyhow::anyhow!("{}: {e} (is {} a run folder?)", p.display(), run.display())
    })?;
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

/// Evaluate each replica's best weights on a split and print the table.
pub fn eval(args: EvalArgs) -> anyhow::Result<()> {
    let cfg = load_run(&args.run)?;
    cfg.validate()?;
    let split =
        Split::parse(&args.split).ok_or_else(|| anyhow::anyhow!("unknown split {}", args.split))?;
    let store = FeatureStore::open(&cfg.store)?;
    crate::train::feature_record::check_store(&args.run, &store, &cfg.store)?;
    let reps = cfg.replicas();
    let ck = checkpoint::checkpoint_path(&cfg);
    let state: checkpoint::RunState = {
        let f = crate::safetensors_io::TensorFile::open(&ck)?;
        serde_json::from_str(
            f.metadata()
                .get("state")
                .map(String::as_str)
                .unwrap_or("null"),
        )
        .map_err(|e| anyhow::anyhow!("{}: run state: {e}", ck.display()))?
    };
    let (rows, n) = crate::with_backend!(args.backend, f32, |be| {
        let seeds: Vec<u64> = reps.iter().map(|r| r.seed).collect();
        let init = crate::model::Model::init(&be, cfg.model, &seeds)?;
        let model = checkpoint::load_best_model(&be, &cfg, &reps, &init)?;
        let res = evaluate(&be, &model, &store, split, &cfg, &mut Workspaces::default())?;
        (
            results::rows(&reps, &state.best, &state.stop_reason, &res),
            res.n,
        )
    });
    println!("split: {split}");
    println!("{}", results::markdown(&rows, n));
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
    let out = args.out.unwrap_or_else(|| args.run.join("export"));
    std::fs::create_dir_all(&out)?;
    let mut n = 0;
    for (r, rep) in cfg.replicas().iter().enumerate() {
        let src = best_path(&cfg, r);
        if !src.exists() {
            eprintln!(
                "replica {r} (λ {}, seed {}): no best weights yet, skipped",
                rep.lambda, rep.seed
            );
            continue;
        }
        let dst = out.join(export_name(rep));
        std::fs::copy(&src, &dst)?;
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
