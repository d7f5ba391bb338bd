//! The short-time power spectrum, as `np.abs(librosa.stft(y, n_fft, hop_length,
//! window="hann", center, pad_mode)) ** power`: periodic Hann window, optional centring by
//! `n_fft / 2` samples of reflect or zero padding at each end, real FFT in f64 (realfft).

use super::PadMode;
use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};
use std::sync::Arc;

/// A planned STFT of one size; immutable and shareable (scratch space is per call).
pub struct StftPlan {
    /// FFT length, samples.
    pub n_fft: usize,
    /// Frame step, samples.
    pub hop: usize,
    /// Periodic Hann window, `[n_fft]`: `0.5 - 0.5 cos(2 pi n / n_fft)`.
    window: Vec<f64>,
    fft: Arc<dyn RealToComplex<f64>>,
}

impl StftPlan {
    /// Plan an `n_fft`-point STFT with step `hop` (`n_fft` even, `hop` > 0; checked by
    /// `FeatureConfig::validate`).
    pub fn new(n_fft: usize, hop: usize) -> Self {
        let window = (0..n_fft)
            .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n_fft as f64).cos())
            .collect();
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n_fft);
        StftPlan {
            n_fft,
            hop,
            window,
            fft,
        }
    }

    /// Frequency bins per frame: `n_fft / 2 + 1`.
    pub fn n_bins(&self) -> usize {
        self.n_fft / 2 + 1
    }

    /// The signal the frames are cut from: `y` itself, or `y` with `n_fft / 2` samples of
    /// padding at each end when `center`.
    pub fn padded(&self, y: &[f32], center: bool, pad_mode: PadMode) -> Vec<f32> {
        if !center {
            return y.to_vec();
        }
        let pad = self.n_fft / 2;
        let n = y.len();
        let mut out = Vec::with_capacity(n + 2 * pad);
        let ext = |j: isize| -> f32 {
            match pad_mode {
                PadMode::Constant => 0.0,
                PadMode::Reflect => y[reflect_index(j, n)],
            }
        };
        out.extend((0..pad).map(|i| ext(i as isize - pad as isize)));
        out.extend_from_slice(y);
        out.extend((0..pad).map(|i| ext((n + i) as isize)));
        out
    }

    /// Call `f(frame, power)` for every frame of `padded` (from [`StftPlan::padded`]) in order,
    /// with `power[k] = |X_k|^power` for the `n_bins` bins.
    pub fn for_each_power_frame(
        &self,
        padded: &[f32],
        power: f64,
        mut f: impl FnMut(usize, &[f64]),
    ) {
        if padded.len() < self.n_fft {
            return;
        }
        let frames = 1 + (padded.len() - self.n_fft) / self.hop;
        let mut buf = vec![0.0f64; self.n_fft];
        let mut spec = vec![Complex::<f64>::new(0.0, 0.0); self.n_bins()];
        let mut scratch = self.fft.make_scratch_vec();
        let mut pow = vec![0.0f64; self.n_bins()];
        for t in 0..frames {
            let seg = &padded[t * self.hop..t * self.hop + self.n_fft];
            for ((b, &s), &w) in buf.iter_mut().zip(seg).zip(&self.window) {
                *b = f64::from(s) * w;
            }
            // Lengths are the plan's own, so the transform cannot fail.
            if self
                .fft
                .process_with_scratch(&mut buf, &mut spec, &mut scratch)
                .is_err()
            {
                return;
            }
            if power == 2.0 {
                for (p, c) in pow.iter_mut().zip(&spec) {
                    *p = c.re * c.re + c.im * c.im;
                }
            } else {
                for (p, c) in pow.iter_mut().zip(&spec) {
                    *p = (c.re * c.re + c.im * c.im).sqrt().powf(power);
                }
            }
            f(t, &pow);
        }
    }
}

/// numpy's `reflect` extension: index `j` (may be outside `[0, n)`) mirrored about the first
/// and last samples, without repeating them, periodically for pads longer than the signal.
fn reflect_index(j: isize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let m = j.rem_euclid(period);
    (if m >= n as isize { period - m } else { m }) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_matches_numpy_pad() {
        // np.pad([1,2,3,4], 3, mode="reflect") -> [4,3,2,1,2,3,4,3,2,1]
        let y = [1.0f32, 2.0, 3.0, 4.0];
        let p = StftPlan::new(6, 1).padded(&y, true, PadMode::Reflect);
        assert_eq!(p, vec![4.0, 3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 2.0, 1.0]);
        let z = StftPlan::new(4, 1).padded(&y, true, PadMode::Constant);
        assert_eq!(z, vec![0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 0.0, 0.0]);
    }

    /// A bin-centred cosine of amplitude 1 under a periodic Hann window has |X_k| = N/4.
    #[test]
    fn cosine_power_in_its_bin() {
        let n = 64;
        let k0 = 5;
        let plan = StftPlan::new(n, n);
        let y: Vec<f32> = (0..n)
            .map(|i| (2.0 * std::f64::consts::PI * (k0 * i) as f64 / n as f64).cos() as f32)
            .collect();
        let mut seen = false;
        plan.for_each_power_frame(&y, 2.0, |_, p| {
            let want = (n as f64 / 4.0).powi(2);
            assert!((p[k0] - want).abs() < 1e-4 * want, "{} vs {want}", p[k0]);
            // Hann leaks only into the two neighbours (N/8 each).
            assert!((p[k0 + 1] - (n as f64 / 8.0).powi(2)).abs() < 1e-3);
            assert!(p[k0 + 3] < 1e-8);
            seen = true;
        });
        assert!(seen);
    }
}
