//! `recaux synth`: write a synthetic FMA-shaped dataset (see `recaux::data::synth`).

use crate::data::synth::{SynthConfig, synth};
use std::path::PathBuf;

/// Arguments of `recaux synth`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Output folder: gets fma_small/, fma_metadata/ and synth.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Number of genres (the first 8 are fma_small's names).
    #[arg(long, default_value_t = 8)]
    pub genres: usize,
    /// Good clips per genre.
    #[arg(long, default_value_t = 12)]
    pub clips_per_genre: usize,
    /// Clip length in seconds.
    #[arg(long, default_value_t = 30.0)]
    pub seconds: f64,
    /// Sample rate of the WAV files, Hz.
    #[arg(long, default_value_t = 22050)]
    pub sample_rate: u32,
    /// Broken files to add (cycling: empty, truncated, ID3-only, not audio).
    #[arg(long, default_value_t = 0)]
    pub corrupt: usize,
    /// Seed: the same seed writes the same files.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Check the sizes a synthetic dataset takes from flags against the limits
/// ([`crate::limits::MAX_SYNTH_CLIPS`], [`crate::limits::SAMPLE_RATE_RANGE`]).
pub fn check_limits(cfg: &SynthConfig) -> anyhow::Result<()> {
    use crate::limits::{MAX_SYNTH_CLIPS, SAMPLE_RATE_RANGE, at_most};
    at_most("--genres", cfg.genres, MAX_SYNTH_CLIPS)?;
    at_most("--clips-per-genre", cfg.clips_per_genre, MAX_SYNTH_CLIPS)?;
    at_most("--corrupt", cfg.corrupt, MAX_SYNTH_CLIPS)?;
    let total = cfg.genres * cfg.clips_per_genre + cfg.corrupt;
    at_most(
        "--genres x --clips-per-genre + --corrupt",
        total,
        MAX_SYNTH_CLIPS,
    )?;
    let (lo, hi) = SAMPLE_RATE_RANGE;
    if !(lo..=hi).contains(&cfg.sample_rate) {
        anyhow::bail!(
            "--sample-rate {} is outside {lo}..={hi} Hz",
            cfg.sample_rate
        );
    }
    Ok(())
}

/// Run the command.
pub fn run(a: Args) -> anyhow::Result<()> {
    let cfg = SynthConfig {
        genres: a.genres,
        clips_per_genre: a.clips_per_genre,
        seconds: a.seconds,
        sample_rate: a.sample_rate,
        corrupt: a.corrupt,
        seed: a.seed,
    };
    check_limits(&cfg)?;
    let s = synth(&a.out, &cfg)?;
    let good = s.tracks.iter().filter(|t| t.corrupt.is_none()).count();
    let mut o = format!(
        "synth: {} tracks ({} clips of {} s at {} Hz, {} broken) in {:.2} s\n",
        s.tracks.len(),
        good,
        cfg.seconds,
        cfg.sample_rate,
        s.tracks.len() - good,
        s.seconds_taken
    );
    o += &format!("  audio:    {}\n", s.audio_dir.display());
    o += &format!("  metadata: {}\n", s.meta_dir.join("tracks.csv").display());
    for t in &s.tracks {
        if let Some(k) = t.corrupt {
            o += &format!("  broken:   {} ({k:?})\n", t.path.display());
        }
    }
    o += &format!(
        "next: recaux prepare --fma-audio {} --fma-meta {} --split official --out STORE\n",
        s.audio_dir.display(),
        s.meta_dir.display()
    );
    // A closed stdout (e.g. `| head`) is not an error of the command.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), o.as_bytes());
    Ok(())
}
