//! Owning a run folder: one writer at a time (a lock file), and an existing run is never
//! replaced unless asked.
//!
//! `<run>/run.lock` is locked (an advisory `flock`, released by the OS when the process ends,
//! however it ends) for as long as a run writes there, and holds the owner's pid and host for
//! the message a second writer gets. Starting a run into a folder that already holds one
//! (a config, a checkpoint, metrics or best weights) needs `--resume` (continue it) or
//! `--overwrite` (remove its outputs first); the folder's other files are never touched.

use super::TrainConfig;
use super::checkpoint::{checkpoint_path, remove_temporaries};
use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Name of the lock file in a run folder.
pub const LOCK_FILE: &str = "run.lock";

/// What a run's outputs are: removed by `--overwrite`, and their presence makes a folder a run.
pub const RUN_OUTPUTS: &[&str] = &[
    "config.yaml",
    "checkpoint.safetensors",
    "metrics.jsonl",
    "metrics.csv",
    "results.md",
    "results.json",
    "features.json",
    "best",
    "plots",
    "tensorboard",
];

/// How a run starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// A new run: the folder must not hold one.
    New,
    /// Continue the run in the folder from its checkpoint (from epoch 0 when it was stopped
    /// before its first checkpoint).
    Resume,
    /// Remove the run in the folder (its outputs only), then start a new one.
    Overwrite,
}

/// A locked run folder. The lock is released when this is dropped (or the process ends).
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    lock: File,
    /// Whether a checkpoint exists to resume from.
    pub has_checkpoint: bool,
}

/// This machine's host name (Linux: /proc; else $HOSTNAME).
fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown host".into())
}

/// Whether `dir` holds a run's outputs.
pub fn holds_run(dir: &Path) -> bool {
    RUN_OUTPUTS.iter().any(|f| dir.join(f).exists())
}

impl RunDir {
    /// Create (if needed) and lock `cfg.run_dir()`, check it against `start`, remove stale
    /// temporaries and, for [`Start::Overwrite`], the previous run's outputs.
    pub fn open(cfg: &TrainConfig, start: Start) -> Result<RunDir> {
        let path = cfg.run_dir();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
            && parent.exists()
            && !parent.is_dir()
        {
            return Err(Error::config(
                "out_dir",
                format!("{} is a file, not a folder", parent.display()),
            ));
        }
        if path.exists() && !path.is_dir() {
            return Err(Error::config(
                "name",
                format!("{} is a file, not a run folder", path.display()),
            ));
        }
        let no_run = || {
            Error::Data(format!(
                "--resume: {} holds no run (no config.yaml, no checkpoint)",
                path.display()
            ))
        };
        if start == Start::Resume && !path.exists() {
            return Err(no_run());
        }
        std::fs::create_dir_all(&path).map_err(|e| Error::io(&path, e))?;
        let lock = Self::lock(&path)?;
        if start == Start::Resume && !holds_run(&path) {
            return Err(no_run());
        }
        if start == Start::New && holds_run(&path) {
            let ck = checkpoint_path(cfg);
            let what = if ck.exists() {
                "a run (with a checkpoint)"
            } else {
                "a run (not yet checkpointed)"
            };
            return Err(Error::Data(format!(
                "{} already holds {what}: continue it with --resume, or replace it with \
                 --overwrite",
                path.display()
            )));
        }
        if start == Start::Overwrite {
            for name in RUN_OUTPUTS {
                let p = path.join(name);
                let res = if p.is_dir() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
                match res {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io(&p, e)),
                }
            }
        }
        remove_temporaries(&path)?;
        remove_temporaries(&path.join("best"))?;
        Ok(RunDir {
            has_checkpoint: checkpoint_path(cfg).is_file(),
            path,
            lock,
        })
    }

    /// Lock `<dir>/run.lock`, or say who holds it.
    fn lock(dir: &Path) -> Result<File> {
        let lp = dir.join(LOCK_FILE);
        let io = |e| Error::io(&lp, e);
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lp)
            .map_err(io)?;
        match f.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut owner = String::new();
                let _ = f.read_to_string(&mut owner);
                let owner = owner.split_whitespace().collect::<Vec<_>>().join(" ");
                return Err(Error::Data(format!(
                    "{} is in use by another run ({}; lock file {})",
                    dir.display(),
                    if owner.is_empty() {
                        "owner unknown".to_string()
                    } else {
                        owner
                    },
                    lp.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        f.set_len(0).map_err(io)?;
        f.rewind().map_err(io)?;
        writeln!(f, "pid {} host {}", std::process::id(), host()).map_err(io)?;
        f.flush().map_err(io)?;
        Ok(f)
    }

    /// The run folder.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        // the owner line goes before the lock does (closing the file releases it)
        let _ = self.lock.set_len(0);
    }
}
