//! Audio: decoding (symphonia), resampling to the target rate, cropping/padding to the clip
//! length, librosa-compatible log-mel features, and .npy output.
//!
//! The one entry point the data pipeline uses is [`clip_features`]: a file path and a
//! [`FeatureConfig`] in, a `[frames, n_mels]` matrix (or the reason the file was skipped) out.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// How the centred STFT pads the signal (librosa's `pad_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PadMode {
    /// librosa 0.8 (the seed's version): reflect n_fft/2 samples at each end.
    Reflect,
    /// librosa >= 0.9: zeros.
    Constant,
}

/// Where a clip longer than `clip_seconds` is cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CropMode {
    /// Keep the first `clip_seconds`.
    Start,
    /// Keep the middle `clip_seconds`.
    Center,
}

/// Every setting of the feature pipeline; defaults are the seed's (librosa 0.8 defaults with
/// sr=16000, n_mels=128, then `(power_to_db(S, ref=max) + 40) / 40`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeatureConfig {
    /// Target sample rate in Hz.
    pub sample_rate: u32,
    /// Clip length in seconds after crop / zero-pad.
    pub clip_seconds: f64,
    /// Where to crop a longer clip.
    pub crop: CropMode,
    pub n_fft: usize,
    pub hop_length: usize,
    pub n_mels: usize,
    /// Lowest mel band edge, Hz.
    pub fmin: f64,
    /// Highest mel band edge, Hz; `None` = sample_rate / 2.
    pub fmax: Option<f64>,
    /// Exponent of the magnitude spectrogram (2 = power).
    pub power: f64,
    /// Centre frames (pad n_fft/2 each side).
    pub center: bool,
    pub pad_mode: PadMode,
    /// power_to_db's amin.
    pub amin: f64,
    /// power_to_db's top_db; `None` = no clipping.
    pub top_db: Option<f64>,
    /// Output = (dB + db_offset) / db_scale.
    pub db_offset: f64,
    pub db_scale: f64,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig {
            sample_rate: 16000,
            clip_seconds: 30.0,
            crop: CropMode::Start,
            n_fft: 2048,
            hop_length: 512,
            n_mels: 128,
            fmin: 0.0,
            fmax: None,
            power: 2.0,
            center: true,
            pad_mode: PadMode::Reflect,
            amin: 1e-10,
            top_db: Some(80.0),
            db_offset: 40.0,
            db_scale: 40.0,
        }
    }
}

/// The features of one clip.
#[derive(Clone, Debug)]
pub struct Clip {
    /// `[frames, n_mels]`, row-major.
    pub features: Vec<f32>,
    pub frames: usize,
    pub n_mels: usize,
    /// Duration of the decoded audio before crop/pad, seconds.
    pub source_seconds: f64,
    /// The audio was shorter than `clip_seconds` and was zero-padded.
    pub padded: bool,
}

/// Why a file produced no features.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClipError {
    /// The file does not exist.
    Missing,
    /// A container was recognised but it holds no audio samples (e.g. ID3 tag only).
    NoAudio(String),
    /// The file is not a recognised audio format.
    NotAudio(String),
    /// Decoding failed.
    Decode(String),
}

impl std::fmt::Display for ClipError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClipError::Missing => write!(f, "missing file"),
            ClipError::NoAudio(m) => write!(f, "no audio: {m}"),
            ClipError::NotAudio(m) => write!(f, "not audio: {m}"),
            ClipError::Decode(m) => write!(f, "decode error: {m}"),
        }
    }
}

/// Decode `path`, mix to mono, resample, crop/pad, and compute the log-mel features.
pub fn clip_features(path: &Path, cfg: &FeatureConfig) -> Result<Clip, ClipError> {
    let _ = (path, cfg);
    Err(ClipError::Decode(
        "audio pipeline not implemented yet".into(),
    ))
}
