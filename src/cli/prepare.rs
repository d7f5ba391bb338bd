//! `recaux prepare`: decode a dataset (FMA, class folders or a manifest) into a feature store
//! (see `recaux::data::prepare`).

use crate::audio::{CropMode, FeatureConfig, PadMode, Resampler};
use crate::data::fma::Subset;
use crate::data::prepare::{OnError, PrepareOptions, prepare};
use crate::data::split::SplitMethod;
use crate::data::{Dataset, fma, folders, manifest};
use anyhow::{Context, bail};
use std::path::PathBuf;

/// How to split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SplitArg {
    /// Stratified 20% test, then 10% of the rest validation (the seed experiment's).
    Seed,
    /// The source's own split (FMA's set/split, a manifest's split column).
    Official,
    /// Stratified fractions given by --val-frac and --test-frac.
    Ratio,
}

/// The feature config: a file and flags that override it.
#[derive(clap::Args, Debug)]
pub struct FeatureArgs {
    /// Feature config file (YAML or JSON): FeatureConfig fields, or a file with a `features:`
    /// section. Flags below override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Target sample rate, Hz.
    #[arg(long)]
    pub sample_rate: Option<u32>,
    /// Resampler (librosa's res_type): kaiser_best (default, librosa 0.8's), kaiser_fast,
    /// soxr_hq (librosa >= 0.10's).
    #[arg(long, value_enum)]
    pub resampler: Option<Resampler>,
    /// Clip length after crop / zero-pad, seconds.
    #[arg(long)]
    pub clip_seconds: Option<f64>,
    #[arg(long)]
    pub n_mels: Option<usize>,
    #[arg(long)]
    pub n_fft: Option<usize>,
    #[arg(long)]
    pub hop_length: Option<usize>,
    /// Highest mel band edge, Hz (default: sample_rate / 2).
    #[arg(long)]
    pub fmax: Option<f64>,
    /// STFT padding: reflect (librosa 0.8, the seed's) or constant (librosa >= 0.9).
    #[arg(long, value_parser = ["reflect", "constant"])]
    pub pad_mode: Option<String>,
    /// Where to cut a long clip: start or center.
    #[arg(long, value_parser = ["start", "center"])]
    pub crop: Option<String>,
}

/// Arguments of `recaux prepare`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// FMA audio folder (e.g. fma_small, holding 000/ ... 155/).
    #[arg(long, requires = "fma_meta", conflicts_with_all = ["folders", "manifest"])]
    pub fma_audio: Option<PathBuf>,
    /// FMA metadata folder (holding tracks.csv).
    #[arg(long, requires = "fma_audio")]
    pub fma_meta: Option<PathBuf>,
    /// FMA subset: small, medium or large (nested: medium includes small).
    #[arg(long, default_value = "small")]
    pub subset: String,
    /// Class folders: DIR/<class>/<audio files>.
    #[arg(long, conflicts_with = "manifest")]
    pub folders: Option<PathBuf>,
    /// CSV manifest of path,label[,split] (paths relative to the CSV).
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    /// The store file to write (an existing folder gets DIR/features.store).
    #[arg(long)]
    pub out: PathBuf,
    /// Split method.
    #[arg(long, value_enum, default_value_t = SplitArg::Seed)]
    pub split: SplitArg,
    /// Seed of the seed and ratio splits (the seed experiment: 1337).
    #[arg(long, default_value_t = 1337)]
    pub split_seed: u64,
    /// Validation fraction of the whole, for --split ratio.
    #[arg(long, default_value_t = 0.1)]
    pub val_frac: f64,
    /// Test fraction of the whole, for --split ratio.
    #[arg(long, default_value_t = 0.1)]
    pub test_frac: f64,
    /// What to do with a file that cannot be decoded.
    #[arg(long, value_enum, default_value_t = OnError::Skip)]
    pub on_error: OnError,
    /// Feature settings (boxed: keeps the CLI enum small).
    #[command(flatten)]
    pub features: Box<FeatureArgs>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

fn feature_config(a: &FeatureArgs) -> anyhow::Result<FeatureConfig> {
    let mut c = match &a.config {
        // YAML is a superset of JSON: one parser reads both
        Some(p) => FeatureConfig::from_yaml_file(p)?,
        None => FeatureConfig::default(),
    };
    if let Some(x) = a.sample_rate {
        c.sample_rate = x;
    }
    if let Some(x) = a.resampler {
        c.resampler = x;
    }
    if let Some(x) = a.clip_seconds {
        c.clip_seconds = x;
    }
    if let Some(x) = a.n_mels {
        c.n_mels = x;
    }
    if let Some(x) = a.n_fft {
        c.n_fft = x;
    }
    if let Some(x) = a.hop_length {
        c.hop_length = x;
    }
    if a.fmax.is_some() {
        c.fmax = a.fmax;
    }
    match a.pad_mode.as_deref() {
        Some("reflect") => c.pad_mode = PadMode::Reflect,
        Some("constant") => c.pad_mode = PadMode::Constant,
        _ => {}
    }
    match a.crop.as_deref() {
        Some("start") => c.crop = CropMode::Start,
        Some("center") => c.crop = CropMode::Center,
        _ => {}
    }
    c.validate()?;
    Ok(c)
}

fn dataset(a: &Args) -> anyhow::Result<(Dataset, String)> {
    if let (Some(audio), Some(meta)) = (&a.fma_audio, &a.fma_meta) {
        let subset = Subset::parse(&a.subset)
            .with_context(|| format!("--subset `{}`: expected small, medium or large", a.subset))?;
        let ds = fma::load(audio, meta, subset)?;
        let src = format!(
            "fma subset {} (audio {}, metadata {})",
            subset.name(),
            audio.display(),
            meta.display()
        );
        return Ok((ds, src));
    }
    if let Some(d) = &a.folders {
        return Ok((folders::load(d)?, format!("class folders {}", d.display())));
    }
    if let Some(m) = &a.manifest {
        return Ok((manifest::load(m)?, format!("manifest {}", m.display())));
    }
    bail!("give a source: --fma-audio DIR --fma-meta DIR, --folders DIR or --manifest CSV")
}

/// Run the command.
pub fn run(a: Args) -> anyhow::Result<()> {
    let cfg = feature_config(&a.features)?;
    let (ds, source) = dataset(&a)?;
    let split = match a.split {
        SplitArg::Seed => SplitMethod::Seed { seed: a.split_seed },
        SplitArg::Official => SplitMethod::Official,
        SplitArg::Ratio => SplitMethod::Ratio {
            val: a.val_frac,
            test: a.test_frac,
            seed: a.split_seed,
        },
    };
    let out = if a.out.is_dir() {
        a.out.join("features.store")
    } else {
        a.out.clone()
    };
    let opts = PrepareOptions {
        split,
        on_error: a.on_error,
        source,
        progress: !a.quiet,
    };
    let report = prepare(&ds, &cfg, &out, &opts, &crate::audio::clip_features)?;
    let text = format!(
        "{report}  report: {}\n",
        crate::data::prepare::beside(&out, ".report.json").display()
    );
    // A closed stdout (e.g. `| head`) is not an error of the command.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
    Ok(())
}
