//! `recaux demo`: from nothing to a λ-sweep table — synthesise a small FMA-shaped dataset,
//! prepare its features, train λ in {0, 1, 10} x 2 seeds as replicas of one run on the best
//! backend available, and print the table.

use super::backend_arg::BackendChoice;
use crate::audio::FeatureConfig;
use crate::data::prepare::{OnError, PrepareOptions, prepare};
use crate::data::split::SplitMethod;
use crate::data::synth::{SynthConfig, synth};
use crate::train::TrainConfig;
use crate::train::config::parse_yaml;
use std::path::PathBuf;
use std::time::Instant;

/// The embedded demo config.
pub const DEMO_YAML: &str = include_str!("../../configs/demo.yaml");

/// Arguments of `recaux demo`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Output folder (data and the run).
    #[arg(long, default_value = "runs/demo")]
    pub out: PathBuf,
    /// A training config to use instead of the embedded configs/demo.yaml (its `store` is
    /// ignored: the demo's own store is used).
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[arg(long, value_enum)]
    pub backend: Option<BackendChoice>,
    /// Override the number of epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Clips per genre to synthesise.
    #[arg(long, default_value_t = 24)]
    pub clips_per_genre: usize,
    /// Seconds per clip.
    #[arg(long, default_value_t = 8.0)]
    pub seconds: f64,
}

/// Run the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let data = args.out.join("data");
    // 1. synthesise (skipped when already there: synth is deterministic)
    let marker = data.join("synth.json");
    let scfg = SynthConfig {
        genres: 8,
        clips_per_genre: args.clips_per_genre,
        seconds: args.seconds,
        sample_rate: 16000,
        corrupt: 2,
        seed: 0,
    };
    super::synth::check_limits(&scfg)?;
    if marker.exists() {
        eprintln!("[1/3] synthetic dataset already in {}", data.display());
    } else {
        eprintln!(
            "[1/3] synthesising 8 genres x {} clips x {} s into {}",
            scfg.clips_per_genre,
            scfg.seconds,
            data.display()
        );
        synth(&data, &scfg)?;
    }
    // 2. features (prepare skips clips it already did)
    let ds = crate::data::fma::load(
        &data.join("fma_small"),
        &data.join("fma_metadata"),
        crate::data::fma::Subset::Small,
    )?;
    let fcfg = FeatureConfig {
        clip_seconds: scfg.seconds,
        ..FeatureConfig::default()
    };
    let store = data.join("store.rfs");
    eprintln!(
        "[2/3] preparing log-mel features of {} files -> {}",
        ds.items.len(),
        store.display()
    );
    let opts = PrepareOptions {
        split: SplitMethod::Official,
        on_error: OnError::Skip,
        source: format!("recaux demo synthetic data in {}", data.display()),
        progress: true,
    };
    let report = prepare(&ds, &fcfg, &store, &opts, &crate::audio::clip_features)?;
    eprintln!("{report}");
    // 3. train
    let text = match &args.config {
        Some(p) => std::fs::read_to_string(p)?,
        None => DEMO_YAML.to_string(),
    };
    let mut cfg: TrainConfig = parse_yaml(&text, "demo config")?;
    cfg.store = store;
    cfg.out_dir = args.out.clone();
    cfg.name = "sweep".into();
    if let Some(e) = args.epochs {
        cfg.optim.epochs = e;
    }
    if let Some(b) = args.backend {
        cfg.backend = b.into();
    }
    cfg.validate()?;
    eprintln!(
        "[3/3] training {} replicas for {} epochs",
        cfg.replicas().len(),
        cfg.optim.epochs
    );
    // a fresh run every time: the previous demo run is replaced, not resumed
    super::train::run_config(&cfg, crate::train::run_dir::Start::Overwrite, None)?;
    println!("demo finished in {:.1} s", t0.elapsed().as_secs_f64());
    Ok(())
}
