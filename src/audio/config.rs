//! Checking a [`FeatureConfig`] and reading it from YAML (a `features:` section of a run
//! config, or a bare FeatureConfig mapping). The only YAML in the audio module lives here.

use super::FeatureConfig;
use crate::{Error, Result};
use std::path::Path;

impl FeatureConfig {
    /// Check every field; the error names the offending field.
    pub fn validate(&self) -> Result<()> {
        use crate::limits as lim;
        let bad = |f: &str, m: String| Err(Error::config(format!("features.{f}"), m));
        let (lo, hi) = lim::SAMPLE_RATE_RANGE;
        if !(lo..=hi).contains(&self.sample_rate) {
            return bad(
                "sample_rate",
                format!("must be in {lo}..={hi} Hz, got {}", self.sample_rate),
            );
        }
        if !(self.clip_seconds.is_finite()
            && self.clip_seconds > 0.0
            && self.clip_seconds <= lim::MAX_CLIP_SECONDS)
        {
            return bad(
                "clip_seconds",
                format!(
                    "must be in (0, {}], got {}",
                    lim::MAX_CLIP_SECONDS,
                    self.clip_seconds
                ),
            );
        }
        if self.n_fft < 2 || !self.n_fft.is_multiple_of(2) || self.n_fft > lim::MAX_N_FFT {
            return bad(
                "n_fft",
                format!(
                    "must be even and in 2..={}, got {}",
                    lim::MAX_N_FFT,
                    self.n_fft
                ),
            );
        }
        if self.hop_length == 0 || self.hop_length > lim::MAX_HOP {
            return bad(
                "hop_length",
                format!("must be in 1..={}, got {}", lim::MAX_HOP, self.hop_length),
            );
        }
        if self.n_mels == 0 || self.n_mels > lim::MAX_N_MELS {
            return bad(
                "n_mels",
                format!("must be in 1..={}, got {}", lim::MAX_N_MELS, self.n_mels),
            );
        }
        // clip_seconds x sample_rate <= 3600 x 768000 fits in usize; frames x n_mels might not
        let samples = (self.clip_seconds * f64::from(self.sample_rate)).round() as usize;
        let values = self
            .n_frames(samples)
            .and_then(|f| f.checked_mul(self.n_mels));
        if values.is_none_or(|v| v > lim::MAX_FEATURE_VALUES) {
            return bad(
                "hop_length",
                format!(
                    "clip_seconds {} at {} Hz with hop_length {} and n_mels {} gives more than \
                     {} feature values per clip",
                    self.clip_seconds,
                    self.sample_rate,
                    self.hop_length,
                    self.n_mels,
                    lim::MAX_FEATURE_VALUES
                ),
            );
        }
        let nyq = f64::from(self.sample_rate) / 2.0;
        let fmax = self.fmax_hz();
        if !(self.fmin.is_finite() && self.fmin >= 0.0 && self.fmin < fmax) {
            return bad(
                "fmin",
                format!("must be in [0, fmax={fmax}), got {}", self.fmin),
            );
        }
        if !(fmax.is_finite() && fmax <= nyq) {
            return bad(
                "fmax",
                format!("must be <= sample_rate/2 = {nyq}, got {fmax}"),
            );
        }
        if !(self.power.is_finite() && self.power > 0.0) {
            return bad("power", format!("must be > 0, got {}", self.power));
        }
        if !(self.amin.is_finite() && self.amin > 0.0) {
            return bad("amin", format!("must be > 0, got {}", self.amin));
        }
        if let Some(t) = self.top_db
            && !(t.is_finite() && t >= 0.0)
        {
            return bad("top_db", format!("must be >= 0, got {t}"));
        }
        if !self.db_offset.is_finite() {
            return bad("db_offset", "must be finite".into());
        }
        if !(self.db_scale.is_finite() && self.db_scale != 0.0) {
            return bad("db_scale", "must be finite and non-zero".into());
        }
        Ok(())
    }

    /// `fmax`, or `sample_rate / 2` when unset (librosa's default).
    pub fn fmax_hz(&self) -> f64 {
        self.fmax.unwrap_or(f64::from(self.sample_rate) / 2.0)
    }

    /// Number of STFT frames for `n_samples` input samples (938 for 480000 with the defaults);
    /// `None` when an uncentred STFT gets fewer than `n_fft` samples.
    pub fn n_frames(&self, n_samples: usize) -> Option<usize> {
        if self.center {
            Some(1 + n_samples / self.hop_length)
        } else if n_samples >= self.n_fft {
            Some(1 + (n_samples - self.n_fft) / self.hop_length)
        } else {
            None
        }
    }

    /// Parse YAML text: a mapping with a `features:` section (a run config; other keys are
    /// ignored here) or a bare FeatureConfig mapping. Missing fields take their defaults;
    /// unknown fields inside the FeatureConfig are errors. The result is validated.
    pub fn from_yaml_str(text: &str) -> Result<Self> {
        let v: serde_yaml::Value =
            serde_yaml::from_str(text).map_err(|e| Error::Format(format!("yaml: {e}")))?;
        let section = match v.get("features") {
            Some(f) => f.clone(),
            None if v.is_null() => serde_yaml::Value::Mapping(Default::default()),
            None => v,
        };
        let cfg: FeatureConfig = serde_yaml::from_value(section)
            .map_err(|e| Error::config("features", e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Read a YAML file (see [`FeatureConfig::from_yaml_str`]).
    pub fn from_yaml_file(path: &Path) -> Result<Self> {
        let text = crate::train::config::read_config_text(path)?;
        Self::from_yaml_str(&text).map_err(|e| Error::Format(format!("{}: {e}", path.display())))
    }
}
