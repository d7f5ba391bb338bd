//! Resampling a mono signal between two integer rates, with librosa's resamplers by their
//! librosa names (the `resampler` feature setting, librosa's `res_type`):
//!
//! | name | what | librosa |
//! |---|---|---|
//! | `kaiser_best` (default) | resampy's Kaiser-windowed sinc, 50 zero crossings ([`kaiser`]) | 0.8's `load` default (the seed's) |
//! | `kaiser_fast` | the same, 24 zero crossings | `res_type="kaiser_fast"` |
//! | `soxr_hq` | libsoxr's HQ quality, built from source ([`soxr`], Cargo feature `soxr`) | >= 0.10's default |
//!
//! (rubato's FFT resampler, used before these, is gone: it was not librosa-equal and saved
//! only ~5 ms per 30 s clip over `soxr_hq`, measured with scripts/bench/prep_speed.sh.)
//!
//! Every resampler returns `ceil(len * to / from)` samples, what `librosa.resample` returns
//! (`fix_length` pads with zeros or cuts). Equal rates return a copy.

pub mod kaiser;
#[cfg(feature = "soxr")]
pub mod soxr;

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Which resampler brings a file to the target rate.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Resampler {
    /// resampy `kaiser_best` (librosa 0.8's default, the seed's).
    #[default]
    KaiserBest,
    /// resampy `kaiser_fast`.
    KaiserFast,
    /// libsoxr HQ (librosa >= 0.10's default).
    SoxrHq,
}

impl Resampler {
    /// The name used in configs, on the command line and by librosa.
    pub fn name(self) -> &'static str {
        match self {
            Resampler::KaiserBest => "kaiser_best",
            Resampler::KaiserFast => "kaiser_fast",
            Resampler::SoxrHq => "soxr_hq",
        }
    }
}

impl std::fmt::Display for Resampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Number of output samples for `n` input samples: `ceil(n * to / from)` (librosa's
/// `n_samples = int(np.ceil(len(y) * target_sr / orig_sr))`).
pub fn output_len(n: usize, from: u32, to: u32) -> usize {
    (n as u64 * u64::from(to)).div_ceil(u64::from(from)) as usize
}

/// Resample `input` (mono, `from` Hz) to `to` Hz with `kind`.
pub fn resample(input: &[f32], from: u32, to: u32, kind: Resampler) -> Result<Vec<f32>> {
    if from == 0 || to == 0 {
        return Err(Error::Audio(format!("invalid sample rates {from} -> {to}")));
    }
    if from == to {
        return Ok(input.to_vec());
    }
    match kind {
        Resampler::KaiserBest => kaiser::resample(&kaiser::KAISER_BEST, input, from, to),
        Resampler::KaiserFast => kaiser::resample(&kaiser::KAISER_FAST, input, from, to),
        #[cfg(feature = "soxr")]
        Resampler::SoxrHq => soxr::resample(input, from, to),
        #[cfg(not(feature = "soxr"))]
        Resampler::SoxrHq => Err(Error::Unsupported(
            "resampler soxr_hq: this recaux was built without the `soxr` feature".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_length_is_ceil_of_ratio() {
        // librosa: n_samples = int(np.ceil(len(y) * target_sr / orig_sr))
        assert_eq!(output_len(1321967, 44100, 16000), 479626);
        assert_eq!(output_len(44100, 44100, 16000), 16000);
        assert_eq!(output_len(3, 44100, 16000), 2);
        assert_eq!(output_len(7, 8000, 16000), 14);
    }

    #[test]
    fn names_round_trip_through_serde() {
        for r in [
            Resampler::KaiserBest,
            Resampler::KaiserFast,
            Resampler::SoxrHq,
        ] {
            let s = serde_json::to_string(&r).unwrap();
            assert_eq!(s, format!("\"{}\"", r.name()));
            assert_eq!(serde_json::from_str::<Resampler>(&s).unwrap(), r);
        }
    }

    /// Every resampler keeps a passband sine, in phase and at its gain (the analytic sine is
    /// the expected value), and returns librosa's length.
    #[test]
    fn sine_survives_every_resampler_in_phase() {
        for kind in [
            Resampler::KaiserBest,
            Resampler::KaiserFast,
            Resampler::SoxrHq,
        ] {
            for &(from, to, f) in &[
                (44100u32, 16000u32, 1000.0f64),
                (8000, 16000, 440.0),
                (22050, 16000, 3000.0),
            ] {
                let n = from as usize; // 1 s
                let x: Vec<f32> = (0..n)
                    .map(|i| {
                        (2.0 * std::f64::consts::PI * f * i as f64 / f64::from(from)).sin() as f32
                    })
                    .collect();
                let y = match resample(&x, from, to, kind) {
                    Ok(y) => y,
                    Err(Error::Unsupported(m)) if kind == Resampler::SoxrHq => {
                        eprintln!("skipped: {m}");
                        continue;
                    }
                    Err(e) => panic!("{kind}: {e}"),
                };
                assert_eq!(y.len(), output_len(n, from, to));
                // Skip 50 ms at each end, where the zero continuation outside the signal is seen.
                let edge = (to / 20) as usize;
                let mut max_err = 0.0f64;
                for (i, v) in y.iter().enumerate().take(y.len() - edge).skip(edge) {
                    let want = (2.0 * std::f64::consts::PI * f * i as f64 / f64::from(to)).sin();
                    max_err = max_err.max((f64::from(*v) - want).abs());
                }
                // Passband ripple of the filters plus f32 rounding. kaiser_fast's wider
                // transition band costs 0.25 dB at 1 kHz when downsampling 44.1 kHz (resampy
                // itself: max err 2.87e-3 on this signal).
                let tol = if kind == Resampler::KaiserFast {
                    4e-3
                } else {
                    2e-3
                };
                assert!(
                    max_err < tol,
                    "{kind} {from}->{to} {f} Hz: max err {max_err}"
                );
            }
        }
    }
}
