//! Band-limited resampling of a mono signal between two integer rates (rubato's synchronous
//! FFT resampler: the spectrum of each chunk is multiplied by a Blackman-Harris windowed sinc
//! low-pass, cut just below the lower Nyquist, then inverse-transformed at the new length).
//!
//! The output is aligned with the input (the resampler's delay is removed) and has
//! `ceil(n * to / from)` samples, the length `librosa.resample` returns. It is NOT librosa's:
//! neither resampy's kaiser filters nor libsoxr HQ nor librosa's own `fft` (scipy's
//! whole-signal FFT resampling); the features differ near the lower Nyquist frequency (see
//! the golden tests). Resamplers are cached per thread and per rate pair; building one plans
//! its FFTs.

use super::output_len;
use crate::{Error, Result};
use rubato::{FftFixedInOut, Resampler};
use std::cell::RefCell;
use std::collections::HashMap;

/// Input chunk length aimed for, samples. The anti-aliasing filter is as long as one chunk
/// (rounded up to an even multiple of `from / gcd`), so longer chunks give a sharper cut-off;
/// 2048 gives 2646 taps at 44.1 kHz.
const CHUNK_IN: usize = 2048;

thread_local! {
    static CACHE: RefCell<HashMap<(u32, u32), FftFixedInOut<f32>>> = RefCell::new(HashMap::new());
}

/// The input chunk length: a whole number of `from / gcd` periods, and an even number of
/// them, so that both chunk lengths are even. rubato's filter is centred on input sample
/// `chunk_in / 2`, which then falls exactly on output sample `chunk_out / 2`, the delay it
/// reports: the output is aligned to the input with no fractional-sample offset.
fn chunk_in(from: u32, to: u32) -> usize {
    let (mut a, mut b) = (from as usize, to as usize);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    let period = from as usize / a;
    let mut periods = CHUNK_IN.div_ceil(period);
    if !periods.is_multiple_of(2) {
        periods += 1;
    }
    periods * period
}

/// Resample `input` (mono, `from` Hz) to `to` Hz (rates checked by the caller, unequal).
pub fn resample(input: &[f32], from: u32, to: u32) -> Result<Vec<f32>> {
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        let r = match cache.entry((from, to)) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => v.insert(
                FftFixedInOut::<f32>::new(from as usize, to as usize, chunk_in(from, to), 1)
                    .map_err(|e| Error::Audio(format!("resampler {from} -> {to}: {e}")))?,
            ),
        };
        r.reset();
        run(r, input, output_len(input.len(), from, to))
    })
}

fn run(r: &mut FftFixedInOut<f32>, input: &[f32], n_out: usize) -> Result<Vec<f32>> {
    let chunk_in = r.input_frames_next();
    let chunk_out = r.output_frames_next();
    let delay = r.output_delay();
    let chunks = (delay + n_out).div_ceil(chunk_out);
    let mut out = vec![0.0f32; chunks * chunk_out];
    let mut tail = vec![0.0f32; chunk_in];
    for (c, o) in out.chunks_exact_mut(chunk_out).enumerate() {
        let start = c * chunk_in;
        let src: &[f32] = if start + chunk_in <= input.len() {
            &input[start..start + chunk_in]
        } else {
            // The last partial chunk and the flush of the filter's delay: zeros past the end.
            tail.fill(0.0);
            if start < input.len() {
                tail[..input.len() - start].copy_from_slice(&input[start..]);
            }
            &tail
        };
        r.process_into_buffer(&[src], &mut [o], None)
            .map_err(|e| Error::Audio(format!("resampling: {e}")))?;
    }
    out.copy_within(delay..delay + n_out, 0);
    out.truncate(n_out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_even_periods() {
        assert_eq!(chunk_in(44100, 16000), 6 * 441);
        assert_eq!(chunk_in(22050, 16000), 6 * 441);
        assert_eq!(chunk_in(8000, 16000), 2048);
        assert_eq!(chunk_in(48000, 16000), 684 * 3);
    }
}
