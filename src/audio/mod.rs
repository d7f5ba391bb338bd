//! Audio: decoding (symphonia), resampling to the target rate, cropping/padding to the clip
//! length, librosa-compatible log-mel features, and .npy output.
//!
//! The one entry point the data pipeline uses is [`clip_features`]: a file path and a
//! [`FeatureConfig`] in, a `[frames, n_mels]` matrix (or the reason the file was skipped) out.
//! It is thread-safe: FFT plans, resamplers and filterbanks are cached per thread.
//!
//! Pipeline (each step its own file): [`decode`] (any of mp3/wav/flac/ogg-vorbis to mono f32 at
//! the file's rate; mono = mean of channels, like `librosa.load`) -> [`resample`] (librosa's
//! resamplers by name, `kaiser_best` by default, to `sample_rate`) -> [`crop_or_pad`] (to `clip_seconds`) -> [`mel`] (centred STFT, Slaney
//! mel filterbank, `power_to_db(ref=max)`, `(dB + db_offset) / db_scale`). [`npy`] reads and
//! writes the matrices.

pub mod config;
pub mod decode;
pub mod mel;
pub mod npy;
pub mod resample;
pub mod stft;

pub use resample::Resampler;
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

/// Where a clip longer than `clip_seconds` is cut. Both choices are deterministic (the seed
/// drew a random offset; any fixed or seeded choice is allowed). A shorter clip is always
/// zero-padded at its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CropMode {
    /// Keep the first `clip_seconds` (offset 0).
    Start,
    /// Keep the middle `clip_seconds`: offset `(len - target) / 2` samples (integer division).
    Center,
}

/// Every setting of the feature pipeline; defaults are the seed's (librosa 0.8 defaults with
/// sr=16000, n_mels=128, then `(power_to_db(S, ref=max) + 40) / 40`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeatureConfig {
    /// Target sample rate in Hz.
    pub sample_rate: u32,
    /// How a file at another rate is brought to `sample_rate` (librosa's `res_type`).
    pub resampler: Resampler,
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
            resampler: Resampler::KaiserBest,
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
    /// Sample rate of the file, Hz.
    pub source_sample_rate: u32,
    /// Packets that failed to decode and were skipped (e.g. mp3 `main_data_begin`).
    pub skipped_packets: usize,
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

impl std::error::Error for ClipError {}

/// Target clip length in samples: `round(clip_seconds * sample_rate)` (480000 for 30 s at 16 kHz).
pub fn clip_samples(cfg: &FeatureConfig) -> usize {
    (cfg.clip_seconds * f64::from(cfg.sample_rate))
        .round()
        .max(0.0) as usize
}

/// Crop `samples` to `target` samples (where: [`CropMode`]) or zero-pad it at the end.
/// Returns the new signal and whether it was padded.
pub fn crop_or_pad(mut samples: Vec<f32>, target: usize, crop: CropMode) -> (Vec<f32>, bool) {
    let n = samples.len();
    if n >= target {
        let offset = match crop {
            CropMode::Start => 0,
            CropMode::Center => (n - target) / 2,
        };
        if offset > 0 {
            samples.copy_within(offset..offset + target, 0);
        }
        samples.truncate(target);
        (samples, false)
    } else {
        samples.resize(target, 0.0);
        (samples, true)
    }
}

/// Decode `path`, mix to mono, resample to `cfg.sample_rate`, crop/pad to `cfg.clip_seconds`
/// and compute the `[frames, n_mels]` features (938 x 128 for the defaults).
///
/// Thread-safe (per-thread caches). An invalid `cfg` (see [`FeatureConfig::validate`]) is
/// reported as `ClipError::Decode("feature config: ...")`; validate once up front to tell it apart.
pub fn clip_features(path: &Path, cfg: &FeatureConfig) -> Result<Clip, ClipError> {
    let cfg_err = |e: crate::Error| ClipError::Decode(format!("feature config: {e}"));
    cfg.validate().map_err(cfg_err)?;
    let dec = decode::decode_mono(path)?;
    let source_seconds = dec.samples.len() as f64 / f64::from(dec.sample_rate);
    let n_out = resample::output_len(dec.samples.len(), dec.sample_rate, cfg.sample_rate);
    if n_out > crate::limits::MAX_AUDIO_SAMPLES {
        return Err(ClipError::Decode(format!(
            "{source_seconds:.0} s resampled to {} Hz is {n_out} samples, above the limit of {}",
            cfg.sample_rate,
            crate::limits::MAX_AUDIO_SAMPLES
        )));
    }
    let y = resample::resample(
        &dec.samples,
        dec.sample_rate,
        cfg.sample_rate,
        cfg.resampler,
    )
    .map_err(|e| ClipError::Decode(e.to_string()))?;
    drop(dec.samples);
    let (y, padded) = crop_or_pad(y, clip_samples(cfg), cfg.crop);
    let (features, frames) = mel::log_mel(&y, cfg).map_err(cfg_err)?;
    Ok(Clip {
        features,
        frames,
        n_mels: cfg.n_mels,
        source_seconds,
        padded,
        source_sample_rate: dec.sample_rate,
        skipped_packets: dec.skipped_packets,
    })
}
