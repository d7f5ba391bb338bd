//! librosa-compatible log-mel features: the Slaney mel filterbank (`librosa.filters.mel`,
//! htk=False, norm="slaney"), applied sparsely to the power spectrum, then
//! `power_to_db(S, ref=np.max, amin, top_db)` and `(dB + db_offset) / db_scale`.
//!
//! Everything is computed in f64; the filter weights are rounded to f32 exactly as librosa
//! stores them (its `dtype=float32` default), so the filterbank itself is bit-identical.

use super::FeatureConfig;
use super::stft::StftPlan;
use crate::{Error, Result};
use std::cell::RefCell;
use std::rc::Rc;

/// Slaney's mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above.
pub fn hz_to_mel(hz: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let logstep = 6.4f64.ln() / 27.0;
    if hz >= MIN_LOG_HZ {
        min_log_mel + (hz / MIN_LOG_HZ).ln() / logstep
    } else {
        hz / F_SP
    }
}

/// Inverse of [`hz_to_mel`].
pub fn mel_to_hz(mel: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let logstep = 6.4f64.ln() / 27.0;
    if mel >= min_log_mel {
        MIN_LOG_HZ * (logstep * (mel - min_log_mel)).exp()
    } else {
        F_SP * mel
    }
}

/// One triangular band: weights for bins `start .. start + weights.len()`.
#[derive(Clone, Debug)]
pub struct MelBand {
    /// First FFT bin with a non-zero weight.
    pub start: usize,
    /// The non-zero weights (f32 values held in f64), area-normalised (Slaney).
    pub weights: Vec<f64>,
}

/// A mel filterbank stored sparsely: `n_mels` bands over `n_fft / 2 + 1` bins.
#[derive(Clone, Debug)]
pub struct MelFilterbank {
    pub bands: Vec<MelBand>,
    pub n_bins: usize,
}

impl MelFilterbank {
    /// `librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)`.
    pub fn new(sr: f64, n_fft: usize, n_mels: usize, fmin: f64, fmax: f64) -> Self {
        let n_bins = n_fft / 2 + 1;
        // np.fft.rfftfreq(n_fft, d=1/sr): k * (1 / (n_fft * (1 / sr)))
        let val = 1.0 / (n_fft as f64 * (1.0 / sr));
        let fftfreqs: Vec<f64> = (0..n_bins).map(|k| k as f64 * val).collect();
        // mel_frequencies(n_mels + 2, fmin, fmax): np.linspace in the mel domain.
        let (lo, hi) = (hz_to_mel(fmin), hz_to_mel(fmax));
        let m = n_mels + 2;
        let step = (hi - lo) / (m - 1) as f64;
        let mel_f: Vec<f64> = (0..m)
            .map(|i| {
                if i == m - 1 {
                    mel_to_hz(hi)
                } else {
                    mel_to_hz(lo + i as f64 * step)
                }
            })
            .collect();
        let bands = (0..n_mels)
            .map(|i| {
                let (f0, f1, f2) = (mel_f[i], mel_f[i + 1], mel_f[i + 2]);
                let enorm = 2.0 / (f2 - f0);
                let w: Vec<f64> = fftfreqs
                    .iter()
                    .map(|&f| {
                        let lower = -(f0 - f) / (f1 - f0);
                        let upper = (f2 - f) / (f2 - f1);
                        let tri = 0.0f64.max(lower.min(upper)) as f32;
                        // librosa: float32 weights, then `weights *= enorm` (f64 product, stored f32).
                        f64::from((f64::from(tri) * enorm) as f32)
                    })
                    .collect();
                let start = w.iter().position(|&x| x != 0.0).unwrap_or(0);
                let end = w.iter().rposition(|&x| x != 0.0).map_or(start, |e| e + 1);
                MelBand {
                    start,
                    weights: w[start..end].to_vec(),
                }
            })
            .collect();
        MelFilterbank { bands, n_bins }
    }

    /// The dense `[n_mels, n_bins]` matrix (for tests and inspection).
    pub fn dense(&self) -> Vec<f64> {
        let mut d = vec![0.0; self.bands.len() * self.n_bins];
        for (m, b) in self.bands.iter().enumerate() {
            d[m * self.n_bins + b.start..m * self.n_bins + b.start + b.weights.len()]
                .copy_from_slice(&b.weights);
        }
        d
    }

    /// `out[m] = sum_k W[m, k] * power[k]`, `power` of length `n_bins`.
    pub fn apply(&self, power: &[f64], out: &mut [f64]) {
        for (o, b) in out.iter_mut().zip(&self.bands) {
            *o = b
                .weights
                .iter()
                .zip(&power[b.start..b.start + b.weights.len()])
                .map(|(w, p)| w * p)
                .sum();
        }
    }
}

/// Everything planned for one FeatureConfig.
struct MelPlan {
    cfg: FeatureConfig,
    stft: StftPlan,
    bank: MelFilterbank,
}

thread_local! {
    static PLAN: RefCell<Option<Rc<MelPlan>>> = const { RefCell::new(None) };
}

fn plan_for(cfg: &FeatureConfig) -> Rc<MelPlan> {
    PLAN.with(|p| {
        let mut p = p.borrow_mut();
        match p.as_ref() {
            Some(plan) if plan.cfg == *cfg => plan.clone(),
            _ => {
                let plan = Rc::new(MelPlan {
                    cfg: cfg.clone(),
                    stft: StftPlan::new(cfg.n_fft, cfg.hop_length),
                    bank: MelFilterbank::new(
                        f64::from(cfg.sample_rate),
                        cfg.n_fft,
                        cfg.n_mels,
                        cfg.fmin,
                        cfg.fmax_hz(),
                    ),
                });
                *p = Some(plan.clone());
                plan
            }
        }
    })
}

/// Mel power spectrogram, `[frames, n_mels]` row-major f64 (librosa's `melspectrogram`,
/// transposed). `y` is at `cfg.sample_rate`.
pub fn mel_power(y: &[f32], cfg: &FeatureConfig) -> Result<(Vec<f64>, usize)> {
    cfg.validate()?;
    let frames = cfg.n_frames(y.len()).ok_or_else(|| {
        Error::Audio(format!(
            "{} samples are fewer than n_fft = {} (center = false)",
            y.len(),
            cfg.n_fft
        ))
    })?;
    if y.is_empty() {
        return Err(Error::Audio("empty signal".into()));
    }
    let plan = plan_for(cfg);
    let padded = plan.stft.padded(y, cfg.center, cfg.pad_mode);
    let nm = cfg.n_mels;
    let mut s = vec![0.0f64; frames * nm];
    plan.stft
        .for_each_power_frame(&padded, cfg.power, |t, pow| {
            plan.bank.apply(pow, &mut s[t * nm..(t + 1) * nm]);
        });
    Ok((s, frames))
}

/// `(power_to_db(S, ref=np.max, amin, top_db) + db_offset) / db_scale` as f32, in place of
/// the shape of `s`.
pub fn power_to_scaled_db(s: &[f64], cfg: &FeatureConfig) -> Vec<f32> {
    let max = s.iter().copied().fold(0.0f64, f64::max);
    let ref_db = 10.0 * max.max(cfg.amin).log10();
    let mut db: Vec<f64> = s
        .iter()
        .map(|&v| 10.0 * v.max(cfg.amin).log10() - ref_db)
        .collect();
    if let Some(top) = cfg.top_db {
        let peak = db.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let floor = peak - top;
        for d in &mut db {
            *d = d.max(floor);
        }
    }
    db.iter()
        .map(|d| ((d + cfg.db_offset) / cfg.db_scale) as f32)
        .collect()
}

/// The features of a signal already at `cfg.sample_rate` (no crop/pad):
/// `[frames, n_mels]` row-major f32 and the frame count.
pub fn log_mel(y: &[f32], cfg: &FeatureConfig) -> Result<(Vec<f32>, usize)> {
    let (s, frames) = mel_power(y, cfg)?;
    Ok((power_to_scaled_db(&s, cfg), frames))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values from Slaney's definition: 1000 Hz is mel 15; 6400 Hz is 27 log-steps above.
    #[test]
    fn slaney_scale_anchor_points() {
        assert!((hz_to_mel(1000.0) - 15.0).abs() < 1e-12);
        assert!((hz_to_mel(500.0) - 7.5).abs() < 1e-12);
        assert!((hz_to_mel(6400.0) - 42.0).abs() < 1e-12);
        for hz in [0.0, 123.0, 999.0, 1000.0, 4321.0, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(hz)) - hz).abs() < 1e-9 * (1.0 + hz));
        }
    }

    /// Slaney normalisation: each triangle has area 1 in Hz (height 2/(f2-f0), base f2-f0)
    /// when sampled finely; check the sum of weights times the bin width on a fine grid.
    #[test]
    fn slaney_bands_have_unit_area() {
        let sr = 16000.0;
        let n_fft = 1 << 15;
        let fb = MelFilterbank::new(sr, n_fft, 40, 0.0, 8000.0);
        let df = sr / n_fft as f64;
        for (m, b) in fb.bands.iter().enumerate() {
            let area: f64 = b.weights.iter().sum::<f64>() * df;
            assert!((area - 1.0).abs() < 2e-2, "band {m}: area {area}");
        }
    }
}
