//! `recaux mel FILE -o out.npy`: the `[frames, n_mels]` float32 features of one audio file,
//! with the feature config from `--config` (a `features:` section or a bare FeatureConfig) and
//! flags on top. A hidden `--time` mode computes many files without writing anything and prints
//! the time per clip (used by scripts/bench/prep_speed.sh).

use crate::audio::{self, CropMode, FeatureConfig, PadMode, Resampler};
use anyhow::{Context, bail};
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `recaux mel`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Audio file (mp3, wav, flac, ogg/vorbis); several only with --time.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Output .npy ([frames, n_mels] float32).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// YAML with a `features:` section (a run config) or a bare feature config.
    #[arg(long)]
    config: Option<PathBuf>,
    /// STFT centre padding: reflect (librosa 0.8, default) or constant (librosa >= 0.9).
    #[arg(long, value_parser = parse_pad_mode)]
    pad_mode: Option<PadMode>,
    /// Number of mel bands.
    #[arg(long)]
    n_mels: Option<usize>,
    /// Target sample rate, Hz.
    #[arg(long)]
    sample_rate: Option<u32>,
    /// Resampler (librosa's res_type): kaiser_best (default, librosa 0.8's), kaiser_fast,
    /// soxr_hq (librosa >= 0.10's).
    #[arg(long, value_enum)]
    resampler: Option<Resampler>,
    /// Clip length after crop/zero-pad, seconds.
    #[arg(long)]
    clip_seconds: Option<f64>,
    /// Where a longer clip is cut: start or center.
    #[arg(long, value_parser = parse_crop)]
    crop: Option<CropMode>,
    /// FFT length, samples.
    #[arg(long)]
    n_fft: Option<usize>,
    /// STFT hop, samples.
    #[arg(long)]
    hop_length: Option<usize>,
    /// Benchmark: compute every file (repeated N times), write nothing, print ms per clip.
    #[arg(long, hide = true, value_name = "N")]
    time: Option<usize>,
}

fn parse_pad_mode(s: &str) -> Result<PadMode, String> {
    match s {
        "reflect" => Ok(PadMode::Reflect),
        "constant" => Ok(PadMode::Constant),
        _ => Err(format!("`{s}`: expected reflect or constant")),
    }
}

fn parse_crop(s: &str) -> Result<CropMode, String> {
    match s {
        "start" => Ok(CropMode::Start),
        "center" => Ok(CropMode::Center),
        _ => Err(format!("`{s}`: expected start or center")),
    }
}

impl Args {
    fn feature_config(&self) -> anyhow::Result<FeatureConfig> {
        let mut cfg = match &self.config {
            Some(p) => FeatureConfig::from_yaml_file(p)?,
            None => FeatureConfig::default(),
        };
        if let Some(v) = self.pad_mode {
            cfg.pad_mode = v;
        }
        if let Some(v) = self.n_mels {
            cfg.n_mels = v;
        }
        if let Some(v) = self.sample_rate {
            cfg.sample_rate = v;
        }
        if let Some(v) = self.resampler {
            cfg.resampler = v;
        }
        if let Some(v) = self.clip_seconds {
            cfg.clip_seconds = v;
        }
        if let Some(v) = self.crop {
            cfg.crop = v;
        }
        if let Some(v) = self.n_fft {
            cfg.n_fft = v;
        }
        if let Some(v) = self.hop_length {
            cfg.hop_length = v;
        }
        cfg.validate()?;
        Ok(cfg)
    }
}

/// Run the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    let cfg = args.feature_config()?;
    if let Some(repeat) = args.time {
        return time_files(&args.files, &cfg, repeat.max(1));
    }
    let [file] = args.files.as_slice() else {
        bail!("give one audio file (several are accepted only with --time)");
    };
    let Some(out) = &args.output else {
        bail!("missing -o/--output FILE.npy");
    };
    let clip = audio::clip_features(file, &cfg).with_context(|| file.display().to_string())?;
    audio::npy::write_npy_f32(out, &clip.features, &[clip.frames, clip.n_mels])?;
    eprintln!(
        "{}: {:.2} s at {} Hz{} -> {} [{}, {}]",
        file.display(),
        clip.source_seconds,
        clip.source_sample_rate,
        if clip.padded { " (zero-padded)" } else { "" },
        out.display(),
        clip.frames,
        clip.n_mels
    );
    Ok(())
}

/// Decode and featurise every file `repeat` times on the calling thread; print the time per clip.
fn time_files(files: &[PathBuf], cfg: &FeatureConfig, repeat: usize) -> anyhow::Result<()> {
    // One untimed pass warms the caches (FFT plans, resamplers, page cache).
    for f in files {
        audio::clip_features(f, cfg).with_context(|| f.display().to_string())?;
    }
    let t0 = Instant::now();
    let c0 = process_cpu_seconds();
    let mut checksum = 0.0f64;
    for _ in 0..repeat {
        for f in files {
            let c = audio::clip_features(f, cfg).with_context(|| f.display().to_string())?;
            checksum += c.features.iter().map(|&v| f64::from(v)).sum::<f64>();
        }
    }
    let n = (files.len() * repeat) as f64;
    let ms = t0.elapsed().as_secs_f64() * 1e3 / n;
    let cpu_ms = match (c0, process_cpu_seconds()) {
        (Some(a), Some(b)) => format!("{:.3}", (b - a) * 1e3 / n),
        _ => "n/a".into(),
    };
    println!(
        "recaux_ms_per_clip {ms:.3} cpu_ms_per_clip {cpu_ms} clips {n} checksum {checksum:.3}"
    );
    Ok(())
}

/// User + system CPU time of this process from /proc/self/stat (Linux; 10 ms ticks), seconds.
/// On a shared machine this is the fair measure of one core's work; wall time counts waiting.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the ")" that ends the command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
