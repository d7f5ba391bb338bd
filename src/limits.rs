//! Size limits on everything that comes from input (config files, flags, file headers). Every
//! size a user can influence is checked against one of these before anything is allocated,
//! and the error names the field, flag or file; the README lists them.
//!
//! The limits are far above any real use (the seed's run: widths 128, batch 32, crop 512, 30 s
//! clips at 16 kHz) and far below what would overflow an index or make an allocation fail.

use crate::error::{Error, Result};
use crate::model::ModelSpec;

/// Elements in one buffer (parameters of all replicas, one activation tensor, one batch).
pub const MAX_BUFFER_ELEMS: usize = 1 << 31;
/// Each model width (`model.features`, `hidden`, `fc1`, `classes`).
pub const MAX_WIDTH: usize = 16384;
/// `sampler.batch_size`, `recaux bench --batch`.
pub const MAX_BATCH: usize = 65536;
/// `sampler.crop_frames`, `recaux bench --seq`, `recaux predict --frames` (about 9 hours of
/// frames at the default hop).
pub const MAX_FRAMES: usize = 1 << 20;
/// Replicas (λ x seeds) per run.
pub const MAX_REPLICAS: usize = 64;
/// Sample rate of an audio file and the target `features.sample_rate`, Hz.
pub const SAMPLE_RATE_RANGE: (u32, u32) = (1000, 768_000);
/// Channels of an audio file.
pub const MAX_CHANNELS: usize = 32;
/// Decoded samples of one audio file (mono, per channel), before and after resampling
/// (about 6 hours at 48 kHz; 4 GiB as f32).
pub const MAX_AUDIO_SAMPLES: usize = 1 << 30;
/// `features.clip_seconds`.
pub const MAX_CLIP_SECONDS: f64 = 3600.0;
/// `features.n_fft` (even, at least 2).
pub const MAX_N_FFT: usize = 1 << 16;
/// `features.hop_length`.
pub const MAX_HOP: usize = 1 << 16;
/// `features.n_mels`.
pub const MAX_N_MELS: usize = 4096;
/// Values in one clip's feature matrix (frames x n_mels).
pub const MAX_FEATURE_VALUES: usize = 1 << 27;
/// Clips of a synthetic dataset (`recaux synth`, `recaux demo`), broken ones included.
pub const MAX_SYNTH_CLIPS: usize = 100_000;
/// A YAML config file, bytes.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// A safetensors file read into memory (weights, checkpoint, step input), bytes.
pub const MAX_TENSOR_FILE_BYTES: u64 = 16 << 30;

/// `what` (a field or flag) is at most `max`.
pub fn at_most(what: &str, v: usize, max: usize) -> Result<()> {
    if v > max {
        return Err(Error::config(
            what,
            format!("{v} is above the limit of {max}"),
        ));
    }
    Ok(())
}

/// Elements of every buffer a training step allocates besides the parameters (activations,
/// saved LSTM state and scratch, activation gradients) for `m` replicas, `t` frames and `b`
/// rows, summed; and the largest one. `None` on overflow. Mirrors
/// [`crate::model::Workspace::new`] on the CPU backend (a test there checks the two agree);
/// the kernel backends' LSTM scratch is smaller (`8H` per row and item plus the carried dc,
/// against the CPU's `10H`), their L1 partial sums a few KiB more.
pub fn workspace_elems(spec: &ModelSpec, m: usize, t: usize, b: usize) -> Option<(usize, usize)> {
    let (f, h, d, c) = (spec.features, spec.hidden, spec.fc1, spec.classes);
    let seq = m.checked_mul(t)?.checked_mul(b)?;
    let mb = m.checked_mul(b)?;
    let saved = seq.checked_mul(12)?.checked_mul(h)?;
    let scratch = seq.checked_mul(10)?.checked_mul(h)?;
    let seq_f = seq.checked_mul(f)?;
    let seq_2h = seq.checked_mul(2)?.checked_mul(h)?;
    let mb_2h = mb.checked_mul(2)?.checked_mul(h)?;
    let mb_d = mb.checked_mul(d)?;
    let mb_c = mb.checked_mul(c)?;
    let largest = saved
        .max(scratch)
        .max(seq_f)
        .max(seq_2h)
        .max(mb_2h)
        .max(mb_d)
        .max(mb_c);
    let total = [
        (saved, 2),
        (scratch, 1),
        (seq_f, 5),
        (seq_2h, 7),
        (mb_2h, 3),
        (mb_d, 6),
        (mb_c, 2),
        (m, 2),
    ]
    .iter()
    .try_fold(0usize, |acc, &(n, k)| acc.checked_add(n.checked_mul(k)?))?;
    Some((largest, total))
}

/// Total physical memory of this machine, bytes (Linux `/proc/meminfo`; `None` elsewhere).
pub fn host_memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Check that a training step of `m` replicas on `t x b` batches fits the limits: each buffer
/// at most [`MAX_BUFFER_ELEMS`], and (when `host` memory holds the buffers) parameters,
/// gradients, Adam moments and activations together within the machine's memory.
/// `what` names the inputs the sizes came from (e.g. `sampler.batch_size, sampler.crop_frames`).
pub fn check_step(
    spec: &ModelSpec,
    m: usize,
    t: usize,
    b: usize,
    elem_bytes: usize,
    host: bool,
    what: &str,
) -> Result<()> {
    check_model(spec, m, elem_bytes, host)?;
    let too_big = || {
        Error::config(
            what,
            format!(
                "{m} replicas x {t} frames x {b} rows with hidden {}: an activation buffer would \
                 exceed the limit of {MAX_BUFFER_ELEMS} elements",
                spec.hidden
            ),
        )
    };
    let (largest, total) = workspace_elems(spec, m, t, b).ok_or_else(too_big)?;
    if largest > MAX_BUFFER_ELEMS {
        return Err(too_big());
    }
    let params = spec.n_params().saturating_mul(m).saturating_mul(4);
    let bytes = (total as u64)
        .saturating_add(params as u64)
        .saturating_mul(elem_bytes as u64);
    if host
        && let Some(mem) = host_memory_bytes()
        && bytes > mem
    {
        return Err(Error::config(
            what,
            format!(
                "{m} replicas x {t} frames x {b} rows need {:.1} GiB, this machine has {:.1} GiB",
                bytes as f64 / (1u64 << 30) as f64,
                mem as f64 / (1u64 << 30) as f64
            ),
        ));
    }
    Ok(())
}

/// Check that `m` replicas of `spec` fit: each parameter tensor `[M, ...]` at most
/// [`MAX_BUFFER_ELEMS`] elements, and (on `host` memory) parameters, gradients and Adam
/// moments within the machine's memory.
pub fn check_model(spec: &ModelSpec, m: usize, elem_bytes: usize, host: bool) -> Result<()> {
    spec.validate()?;
    at_most("replicas (lambdas x seeds)", m, MAX_REPLICAS)?;
    // with every width <= MAX_WIDTH no product below overflows u64
    for ps in spec.params() {
        if (ps.numel() as u64) * (m as u64) > MAX_BUFFER_ELEMS as u64 {
            return Err(Error::config(
                "model",
                format!(
                    "{} x {m} replicas = {} elements is above the limit of {MAX_BUFFER_ELEMS} \
                     per tensor",
                    ps.name,
                    ps.numel() as u64 * m as u64
                ),
            ));
        }
    }
    let bytes = spec.n_params() as u64 * m as u64 * 4 * elem_bytes as u64;
    if host
        && let Some(mem) = host_memory_bytes()
        && bytes > mem
    {
        return Err(Error::config(
            "model",
            format!(
                "{m} replicas of this model need {:.1} GiB for parameters, gradients and Adam \
                 moments, this machine has {:.1} GiB",
                bytes as f64 / (1u64 << 30) as f64,
                mem as f64 / (1u64 << 30) as f64
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_step_sizes_are_refused_naming_the_input() {
        let s = ModelSpec::seed();
        let e = check_step(&s, 1, 4611686018427387904, 4, 4, true, "--batch, --seq")
            .unwrap_err()
            .to_string();
        assert!(e.contains("--batch, --seq") && e.contains("limit"), "{e}");
        let e = check_step(&s, 1, 100_000, 100_000, 4, true, "--batch, --seq")
            .unwrap_err()
            .to_string();
        assert!(e.contains("--batch, --seq"), "{e}");
        assert!(check_step(&s, 1, 512, 32, 4, true, "x").is_ok());
    }
}
