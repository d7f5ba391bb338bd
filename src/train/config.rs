//! The training config (YAML): every knob of a run, validated on load with errors that name
//! the field. All YAML parsing of the crate goes through [`parse_yaml`], so that a successor of
//! the archived serde_yaml can replace it in one place.

use crate::backend::Precision;
use crate::data::sampler::SamplerConfig;
use crate::error::{Error, Result};
use crate::model::ModelSpec;
use crate::train::AdamConfig;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Parse YAML into `T`; an error reads `<what>: <serde's message> (line, column)`, where
/// `what` names the source (a file path).
pub fn parse_yaml<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    serde_yaml::from_str(text).map_err(|e| {
        let msg = e.to_string();
        let loc = e
            .location()
            .filter(|_| !msg.contains(" at line "))
            .map(|l| format!(" (line {}, column {})", l.line(), l.column()))
            .unwrap_or_default();
        Error::Format(format!("{what}: {msg}{loc}"))
    })
}

/// Read a YAML file of at most [`crate::limits::MAX_CONFIG_BYTES`].
pub fn read_config_text(path: &Path) -> Result<String> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::Format(format!(
            "{}: is a directory, not a config file",
            path.display()
        )));
    }
    if meta.len() > crate::limits::MAX_CONFIG_BYTES {
        return Err(Error::Format(format!(
            "{}: {} bytes, above the limit of {} for a config file",
            path.display(),
            meta.len(),
            crate::limits::MAX_CONFIG_BYTES
        )));
    }
    std::fs::read_to_string(path).map_err(|e| Error::io(path, e))
}

/// Serialise to YAML.
pub fn to_yaml<T: Serialize>(v: &T) -> Result<String> {
    serde_yaml::to_string(v).map_err(|e| Error::Format(format!("yaml: {e}")))
}

/// Optimisation settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimConfig {
    /// Epochs to train (seed: 256).
    pub epochs: usize,
    /// Initial learning rate (seed: 1e-4).
    pub lr: f64,
    /// Learning rate multiplier applied after every epoch (seed: 0.97).
    pub lr_decay: f64,
    pub adam: AdamConfig,
    /// Stop a replica after this many epochs without a better validation accuracy
    /// (`None`: train all epochs). The run ends when every replica has stopped.
    pub early_stopping: Option<usize>,
    /// Cap on training batches per epoch (`None`: the whole training split); for quick runs.
    pub max_batches_per_epoch: Option<usize>,
}

impl Default for OptimConfig {
    fn default() -> Self {
        OptimConfig {
            epochs: 256,
            lr: 1e-4,
            lr_decay: 0.97,
            adam: AdamConfig::default(),
            early_stopping: None,
            max_batches_per_epoch: None,
        }
    }
}

/// Which backend to train on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BackendName {
    #[default]
    Auto,
    Cpu,
    Cuda,
    Emu,
}

/// A whole run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Run name: outputs go to `<out_dir>/<name>/`.
    pub name: String,
    /// The feature store made by `recaux prepare` (relative paths: to the config file).
    pub store: PathBuf,
    #[serde(default = "default_out_dir")]
    pub out_dir: PathBuf,
    #[serde(default)]
    pub backend: BackendName,
    /// Arithmetic of the GPU ops (`auto`, `f32`, `tf32`, `f16`, `bf16`; README "Precision").
    /// `auto` is the backend's default (bf16 on cuda and emu, f32 on the CPU); the run records
    /// the precision it resolved to, and `--resume` refuses another one.
    #[serde(default)]
    pub precision: Precision,
    #[serde(default)]
    pub model: ModelSpec,
    #[serde(default)]
    pub sampler: SamplerConfig,
    #[serde(default)]
    pub optim: OptimConfig,
    /// One replica per (seed, λ) pair: λ weights the L1 reconstruction loss.
    pub lambdas: Vec<f64>,
    /// Replica seeds (init and dropout); each λ is trained once per seed.
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
}

fn default_out_dir() -> PathBuf {
    PathBuf::from("runs")
}

fn default_seeds() -> Vec<u64> {
    vec![0]
}

/// A run name must be one normal path component (not empty, no separator, not `.` or
/// `..`): the run folder is always `<out_dir>/<name>`, never a parent or out_dir itself.
pub fn check_run_name(name: &str) -> Result<()> {
    let mut parts = Path::new(name).components();
    let one_normal = matches!(
        (parts.next(), parts.next()),
        (Some(std::path::Component::Normal(p)), None) if p == std::ffi::OsStr::new(name)
    );
    if !one_normal || name.contains(['/', '\\']) {
        return Err(Error::config(
            "name",
            format!("`{name}` must be a single folder name (no slashes, not `.` or `..`)"),
        ));
    }
    Ok(())
}

/// One replica of a run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Replica {
    pub lambda: f64,
    pub seed: u64,
}

impl TrainConfig {
    /// Read and validate `path`; relative `store` and `out_dir` resolve against the config's
    /// folder... except `out_dir`, which resolves against the working directory (where the user
    /// expects `runs/` to appear).
    pub fn load(path: &Path) -> Result<Self> {
        let text = read_config_text(path)?;
        let mut cfg: TrainConfig = parse_yaml(&text, &path.display().to_string())?;
        if cfg.store.is_relative() {
            let base = path.parent().unwrap_or(Path::new("."));
            cfg.store = base.join(&cfg.store);
        }
        cfg.validate().map_err(|e| e.in_file(path))?;
        Ok(cfg)
    }

    /// Reject what cannot run, naming the field (including a missing store).
    pub fn validate(&self) -> Result<()> {
        self.validate_fields()?;
        if !self.store.exists() {
            return Err(Error::config(
                "store",
                format!(
                    "{} does not exist (make it with `recaux prepare`)",
                    self.store.display()
                ),
            ));
        }
        Ok(())
    }

    /// Every check of [`TrainConfig::validate`] except that the store exists.
    pub fn validate_fields(&self) -> Result<()> {
        check_run_name(&self.name)?;
        self.model.validate()?;
        if self.lambdas.is_empty() {
            return Err(Error::config("lambdas", "needs at least one λ"));
        }
        if let Some(l) = self.lambdas.iter().find(|l| !l.is_finite() || **l < 0.0) {
            return Err(Error::config(
                "lambdas",
                format!("{l} is not a finite number >= 0"),
            ));
        }
        if self.precision == Precision::F64 {
            return Err(Error::config(
                "precision",
                "f64 is gradcheck's exact path; training runs f32 elements: use auto, f32, \
                 tf32, f16 or bf16",
            ));
        }
        if self.seeds.is_empty() {
            return Err(Error::config("seeds", "needs at least one seed"));
        }
        if self.replicas().len() > crate::limits::MAX_REPLICAS {
            return Err(Error::config(
                "lambdas, seeds",
                format!(
                    "{} λ x {} seeds = {} replicas, above the limit of {} per run",
                    self.lambdas.len(),
                    self.seeds.len(),
                    self.replicas().len(),
                    crate::limits::MAX_REPLICAS
                ),
            ));
        }
        let o = &self.optim;
        if o.epochs == 0 {
            return Err(Error::config("optim.epochs", "must be at least 1"));
        }
        if !(o.lr.is_finite() && o.lr > 0.0) {
            return Err(Error::config("optim.lr", "must be > 0"));
        }
        if !(o.lr_decay.is_finite() && o.lr_decay > 0.0 && o.lr_decay <= 1.0) {
            return Err(Error::config("optim.lr_decay", "must be in (0, 1]"));
        }
        if !(0.0..1.0).contains(&o.adam.beta1)
            || !(0.0..1.0).contains(&o.adam.beta2)
            || o.adam.eps <= 0.0
        {
            return Err(Error::config(
                "optim.adam",
                "needs 0 <= beta1, beta2 < 1 and eps > 0",
            ));
        }
        if self.sampler.batch_size == 0 {
            return Err(Error::config("sampler.batch_size", "must be at least 1"));
        }
        if self.sampler.crop_frames == 0 {
            return Err(Error::config("sampler.crop_frames", "must be at least 1"));
        }
        if o.max_batches_per_epoch == Some(0) {
            return Err(Error::config(
                "optim.max_batches_per_epoch",
                "must be at least 1",
            ));
        }
        use crate::limits::{MAX_BATCH, MAX_FRAMES, at_most, check_step};
        at_most("sampler.batch_size", self.sampler.batch_size, MAX_BATCH)?;
        at_most("sampler.crop_frames", self.sampler.crop_frames, MAX_FRAMES)?;
        // training runs in f32; on the GPU (or auto, which may pick it) host memory is not
        // the limit, the device reports its own
        let host = matches!(self.backend, BackendName::Cpu | BackendName::Emu);
        check_step(
            &self.model,
            self.replicas().len(),
            self.sampler.crop_frames,
            self.sampler.batch_size,
            4,
            host,
            "model, sampler.batch_size, sampler.crop_frames",
        )?;
        Ok(())
    }

    /// The replicas, seed-major: for each seed, every λ.
    pub fn replicas(&self) -> Vec<Replica> {
        self.seeds
            .iter()
            .flat_map(|&seed| {
                self.lambdas
                    .iter()
                    .map(move |&lambda| Replica { lambda, seed })
            })
            .collect()
    }

    /// The learning rate of epoch `epoch` (0-based): lr · decay^epoch.
    pub fn lr_at(&self, epoch: usize) -> f64 {
        self.optim.lr * self.optim.lr_decay.powi(epoch as i32)
    }

    /// `<out_dir>/<name>`.
    pub fn run_dir(&self) -> PathBuf {
        self.out_dir.join(&self.name)
    }
}
