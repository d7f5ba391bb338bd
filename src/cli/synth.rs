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
