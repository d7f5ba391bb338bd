//! The feature settings a run was trained on, recorded in the run folder (`features.json`:
//! the store's whole [`FeatureConfig`], resampler included, and its hash), so that nothing
//! later mixes features made another way into the run:
//! - `recaux train` records them when a run starts, and `--resume` refuses a store whose
//!   settings differ from the record;
//! - `recaux eval` refuses such a store too;
//! - `recaux predict` computes features from audio with the recorded settings (and refuses a
//!   store that no longer matches them).
//!
//! The error names every setting that differs (`features.resampler: the run used kaiser_best,
//! the store has soxr_hq`).

use crate::audio::FeatureConfig;
use crate::data::hash::config_hash;
use crate::data::store::FeatureStore;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What `features.json` holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureRecord {
    /// The store's feature settings when the run started.
    pub feature_config: FeatureConfig,
    /// [`config_hash`] of `feature_config`, 16 hex digits.
    pub config_hash: String,
}

/// `<run>/features.json`.
pub fn record_path(run_dir: &Path) -> PathBuf {
    run_dir.join("features.json")
}

/// Write the record of a new run.
pub fn write(run_dir: &Path, cfg: &FeatureConfig) -> Result<()> {
    let rec = FeatureRecord {
        feature_config: cfg.clone(),
        config_hash: format!("{:016x}", config_hash(cfg)?),
    };
    let json = serde_json::to_string_pretty(&rec)
        .map_err(|e| Error::Format(format!("features.json: {e}")))?;
    std::fs::create_dir_all(run_dir).map_err(|e| Error::io(run_dir, e))?;
    let p = record_path(run_dir);
    std::fs::write(&p, json + "\n").map_err(|e| Error::io(&p, e))
}

/// Read a run's record; an error if the run has none (made before settings were recorded).
pub fn read(run_dir: &Path) -> Result<FeatureConfig> {
    let p = record_path(run_dir);
    let text = std::fs::read_to_string(&p).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::Data(format!(
            "{}: missing: the run's feature settings are unknown (a run made before they were \
             recorded); train it anew",
            p.display()
        )),
        _ => Error::io(&p, e),
    })?;
    let rec: FeatureRecord =
        serde_json::from_str(&text).map_err(|e| Error::Format(format!("{}: {e}", p.display())))?;
    Ok(rec.feature_config)
}

/// The settings in which `a` (the run's) and `b` (the store's) differ, as
/// `features.<field>: the run used X, the store has Y`.
pub fn differences(a: &FeatureConfig, b: &FeatureConfig) -> Vec<String> {
    let (Ok(serde_json::Value::Object(va)), Ok(serde_json::Value::Object(vb))) =
        (serde_json::to_value(a), serde_json::to_value(b))
    else {
        return vec!["features: not comparable".into()];
    };
    va.iter()
        .filter(|(k, v)| vb.get(k.as_str()) != Some(v))
        .map(|(k, v)| {
            let other = vb.get(k.as_str()).unwrap_or(&serde_json::Value::Null);
            format!("features.{k}: the run used {v}, the store has {other}")
        })
        .collect()
}

/// Refuse `store` unless its settings are the run's recorded ones; returns the record.
pub fn check_store(
    run_dir: &Path,
    store: &FeatureStore,
    store_path: &Path,
) -> Result<FeatureConfig> {
    let run = read(run_dir)?;
    let diffs = differences(&run, &store.header().feature_config);
    if diffs.is_empty() {
        return Ok(run);
    }
    Err(Error::Data(format!(
        "{} was made with other feature settings than run {}: {} (prepare a store with the \
         run's settings, in {})",
        store_path.display(),
        run_dir.display(),
        diffs.join("; "),
        record_path(run_dir).display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::Resampler;

    #[test]
    fn differences_name_each_changed_setting() {
        let a = FeatureConfig::default();
        assert!(differences(&a, &a.clone()).is_empty());
        let b = FeatureConfig {
            resampler: Resampler::SoxrHq,
            n_mels: 64,
            ..a.clone()
        };
        let d = differences(&a, &b);
        assert_eq!(
            d,
            vec![
                "features.n_mels: the run used 128, the store has 64".to_string(),
                "features.resampler: the run used \"kaiser_best\", the store has \"soxr_hq\""
                    .to_string(),
            ]
        );
    }

    #[test]
    fn record_round_trips_and_a_missing_one_is_an_error() {
        let dir = std::env::temp_dir().join(format!("recaux-featrec-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(read(&dir).is_err());
        let cfg = FeatureConfig {
            resampler: Resampler::KaiserFast,
            ..FeatureConfig::default()
        };
        write(&dir, &cfg).unwrap();
        assert_eq!(read(&dir).unwrap(), cfg);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
