//! Synthetic FMA-shaped data: `recaux synth`.
//!
//! Writes `DIR/fma_small/{id[:3]}/{id:06}.wav` (mono, 16-bit PCM), `DIR/fma_metadata/
//! tracks.csv` in FMA's three-header-line format with FMA's 52 columns (set/subset = small,
//! set/split from a stratified 80/10/10 split, track/genre_top = the genre; one artist bio
//! holds a quoted newline and doubled quotes, every title a comma), `genres.csv`, and
//! `DIR/synth.json` (the settings, so a re-run into the same folder may replace it).
//!
//! **How a genre sounds.** Each genre draws its own parameters: pitch centre and spread, a
//! scale, a timbre (number of harmonics, their roll-off, odd/even balance, a low-pass cutoff),
//! a rhythm (tempo, a 16-step onset pattern and its density, note decay), percussion (kick and
//! hat levels) and a coloured background noise. The ranges overlap, so two genres can share a
//! tempo or a timbre but rarely everything. Each clip perturbs its genre's parameters (pitch
//! ±3 semitones, tempo ±10 %, cutoff, roll-off, noise, decay, pattern flips), so clips of a
//! genre differ and a small model can still overfit them. How hard: on 8 genres x 12 clips x
//! 10 s (seed 0), leave-one-out 1-NN on the clip-mean spectrum (32 log bands) and a nearest
//! centroid get well above chance (0.125) but far from 1 (`cargo bench --bench synth` prints
//! both; benches/synth.rs has the figures): static timbre alone does not solve it, rhythm and
//! per-clip variation matter. Notes use one wavetable per clip
//! (harmonics are not band-limited per note; a little aliasing at high pitches is accepted).
//!
//! **Broken files** (`corrupt`): extra tracks listed in tracks.csv like any other, cycling
//! through an empty `.wav`, a `.wav` truncated inside its header, an ID3-only `.mp3` (like
//! FMA's 099134) and a `.wav` holding text.
//!
//! Everything is a pure function of the seed (streams `STREAM_SYNTH_*`), computed in parallel:
//! each genre and each clip draws from its own [`Philox`] stream, through `rand_distr`'s
//! uniform and normal distributions.

use super::Split;
use super::draw::{STREAM_SYNTH_CLIP, STREAM_SYNTH_GENRE, STREAM_SYNTH_META, shuffle};
use super::fma::track_base;
use super::split::{SplitMethod, assign};
use super::wav::wav_bytes;
use crate::error::{Error, Result};
use crate::rng::Philox;
use rand::RngExt;
use rand_distr::{Distribution, StandardNormal, Uniform};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::f64::consts::TAU;
use std::path::{Path, PathBuf};

/// Settings of `recaux synth`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SynthConfig {
    pub genres: usize,
    pub clips_per_genre: usize,
    /// Clip length, seconds.
    pub seconds: f64,
    /// Hz.
    pub sample_rate: u32,
    /// Broken files added.
    pub corrupt: usize,
    pub seed: u64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            genres: 8,
            clips_per_genre: 12,
            seconds: 30.0,
            sample_rate: 22050,
            corrupt: 0,
            seed: 0,
        }
    }
}

/// The kinds of broken file, in the order `corrupt` cycles through them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CorruptKind {
    Empty,
    Truncated,
    Id3Only,
    NotAudio,
}

impl CorruptKind {
    const CYCLE: [CorruptKind; 4] = [
        CorruptKind::Empty,
        CorruptKind::Truncated,
        CorruptKind::Id3Only,
        CorruptKind::NotAudio,
    ];

    fn ext(self) -> &'static str {
        match self {
            CorruptKind::Id3Only => "mp3",
            _ => "wav",
        }
    }
}

/// One track written by synth.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SynthTrack {
    pub id: u64,
    pub genre: String,
    pub split: Split,
    pub path: PathBuf,
    /// `None` for a good clip.
    pub corrupt: Option<CorruptKind>,
}

/// What synth wrote.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SynthSummary {
    pub config: SynthConfig,
    pub genres: Vec<String>,
    pub tracks: Vec<SynthTrack>,
    pub audio_dir: PathBuf,
    pub meta_dir: PathBuf,
    pub seconds_taken: f64,
}

/// FMA's 16 top-level genres and their genre ids: the 8 of fma_small first (sorted), then
/// the others.
const FMA_GENRES: [(&str, u32); 16] = [
    ("Electronic", 15),
    ("Experimental", 38),
    ("Folk", 17),
    ("Hip-Hop", 21),
    ("Instrumental", 1235),
    ("International", 2),
    ("Pop", 10),
    ("Rock", 12),
    ("Blues", 3),
    ("Classical", 5),
    ("Country", 9),
    ("Easy Listening", 13),
    ("Jazz", 4),
    ("Old-Time / Historic", 8),
    ("Soul-RnB", 14),
    ("Spoken", 20),
];

/// Name and id of genre `g`.
pub fn genre(g: usize) -> (String, u32) {
    match FMA_GENRES.get(g) {
        Some(&(n, id)) => (n.to_string(), id),
        None => (format!("Synth-{:02}", g + 1), 2000 + g as u32),
    }
}

/// FMA's tracks.csv header: line 1 (group) and line 2 (field) of its 52 columns after
/// track_id (53 fields a line).
const GROUPS: [&str; 52] = [
    "album", "album", "album", "album", "album", "album", "album", "album", "album", "album",
    "album", "album", "album", "artist", "artist", "artist", "artist", "artist", "artist",
    "artist", "artist", "artist", "artist", "artist", "artist", "artist", "artist", "artist",
    "artist", "artist", "set", "set", "track", "track", "track", "track", "track", "track",
    "track", "track", "track", "track", "track", "track", "track", "track", "track", "track",
    "track", "track", "track", "track",
];
const FIELDS: [&str; 52] = [
    "comments",
    "date_created",
    "date_released",
    "engineer",
    "favorites",
    "id",
    "information",
    "listens",
    "producer",
    "tags",
    "title",
    "tracks",
    "type",
    "active_year_begin",
    "active_year_end",
    "associated_labels",
    "bio",
    "comments",
    "date_created",
    "favorites",
    "id",
    "latitude",
    "location",
    "longitude",
    "members",
    "name",
    "related_projects",
    "tags",
    "website",
    "wikipedia_page",
    "split",
    "subset",
    "bit_rate",
    "comments",
    "composer",
    "date_created",
    "date_recorded",
    "duration",
    "favorites",
    "genre_top",
    "genres",
    "genres_all",
    "information",
    "interest",
    "language_code",
    "license",
    "listens",
    "lyricist",
    "number",
    "publisher",
    "tags",
    "title",
];

/// Per-genre sound parameters.
#[derive(Clone, Debug)]
struct GenreSound {
    pitch: f64,
    spread: f64,
    scale: &'static [i32],
    n_harm: usize,
    rolloff: f64,
    even: f64,
    cutoff: f64,
    tempo: f64,
    density: f64,
    pattern: u16,
    decay: f64,
    kick: f64,
    hat: f64,
    noise: f64,
    noise_color: f64,
}

const SCALES: [&[i32]; 4] = [
    &[0, 2, 4, 5, 7, 9, 11], // major
    &[0, 3, 5, 7, 10],       // minor pentatonic
    &[0, 2, 4, 6, 8, 10],    // whole tone
    &[0, 1, 3, 5, 6, 8, 10], // locrian-ish
];

/// Uniform in [lo, hi) (lo < hi: the constants of this file).
fn range(r: &mut Philox, lo: f64, hi: f64) -> f64 {
    Uniform::new(lo, hi).map_or(lo, |u| u.sample(r))
}

/// Standard normal.
fn normal(r: &mut Philox) -> f64 {
    StandardNormal.sample(r)
}

fn genre_sound(seed: u64, g: usize) -> GenreSound {
    let mut r = Philox::new(seed, STREAM_SYNTH_GENRE, g as u32, 0);
    let density = range(&mut r, 0.15, 0.7);
    let mut pattern = 0u16;
    for s in 0..16 {
        // downbeats are likelier
        let p = if s % 4 == 0 { density + 0.3 } else { density };
        if r.random_bool(p.clamp(0.0, 1.0)) {
            pattern |= 1 << s;
        }
    }
    GenreSound {
        pitch: range(&mut r, 42.0, 74.0),
        spread: range(&mut r, 3.0, 14.0),
        scale: SCALES[r.random_range(0..SCALES.len() as u64) as usize],
        n_harm: 1 + r.random_range(0..10) as usize,
        rolloff: range(&mut r, 0.6, 2.5),
        even: range(&mut r, 0.0, 1.0),
        cutoff: range(&mut r, 900.0, 7000.0),
        tempo: range(&mut r, 70.0, 170.0),
        density,
        pattern: pattern.max(1),
        decay: range(&mut r, 0.06, 0.7),
        kick: if r.random_bool(0.6) {
            range(&mut r, 0.2, 0.9)
        } else {
            0.0
        },
        hat: if r.random_bool(0.5) {
            range(&mut r, 0.05, 0.4)
        } else {
            0.0
        },
        noise: range(&mut r, 0.0, 0.25),
        noise_color: range(&mut r, 0.0, 0.95),
    }
}

const TABLE: usize = 2048;

/// One clip's samples, `[round(seconds * sample_rate)]` in [-1, 1].
fn render_clip(seed: u64, g: &GenreSound, clip_key: u32, seconds: f64, sr: u32) -> Vec<f32> {
    let mut r = Philox::new(seed, STREAM_SYNTH_CLIP, clip_key, 0);
    let srf = sr as f64;
    let n = (seconds * srf).round() as usize;
    // per-clip variation
    let pitch = g.pitch + 3.0 * normal(&mut r);
    let tempo = g.tempo * range(&mut r, 0.9, 1.1);
    let cutoff = (g.cutoff * (0.25 * normal(&mut r)).exp()).clamp(300.0, 0.45 * srf);
    let rolloff = (g.rolloff + 0.3 * normal(&mut r)).max(0.3);
    let noise = (g.noise * (0.3 * normal(&mut r)).exp()).min(0.4);
    let decay = (g.decay * (0.3 * normal(&mut r)).exp()).clamp(0.03, 1.5);
    let mut pattern = g.pattern;
    for _ in 0..2 {
        if r.random_bool(0.5) {
            pattern ^= 1 << r.random_range(0..16);
        }
    }
    let keep = (0.75 + 0.5 * (g.density - 0.15)).min(0.98);
    // wavetable
    let mut table = vec![0f32; TABLE + 1];
    let mut amps: Vec<f64> = (1..=g.n_harm)
        .map(|k| (k as f64).powf(-rolloff) * if k % 2 == 0 { g.even } else { 1.0 })
        .collect();
    amps[0] = 1.0;
    let phases: Vec<f64> = (0..g.n_harm).map(|_| range(&mut r, 0.0, TAU)).collect();
    for (i, t) in table.iter_mut().enumerate().take(TABLE) {
        let x = TAU * i as f64 / TABLE as f64;
        *t = amps
            .iter()
            .zip(&phases)
            .enumerate()
            .map(|(k, (a, p))| a * ((k + 1) as f64 * x + p).sin())
            .sum::<f64>() as f32;
    }
    let peak = table.iter().fold(0f32, |m, &v| m.max(v.abs())).max(1e-6);
    for t in table.iter_mut() {
        *t /= peak;
    }
    table[TABLE] = table[0];

    let mut tonal = vec![0f32; n];
    let step = 60.0 / tempo / 4.0;
    let nsteps = (seconds / step).ceil() as usize;
    let note_len = ((4.0 * decay).min(1.2) * srf) as usize;
    let attack = (0.005 * srf) as usize;
    for s in 0..nsteps {
        let start = (s as f64 * step * srf) as usize;
        if start >= n {
            break;
        }
        if pattern & (1 << (s % 16)) != 0 && r.random_bool(keep.clamp(0.0, 1.0)) {
            let deg = ((normal(&mut r) * g.spread / 2.0).round() as i32).clamp(-24, 24);
            let octave = deg.div_euclid(g.scale.len() as i32);
            let idx = deg.rem_euclid(g.scale.len() as i32) as usize;
            let midi = (pitch + (12 * octave + g.scale[idx]) as f64).clamp(28.0, 90.0);
            let freq = 440.0 * 2f64.powf((midi - 69.0) / 12.0);
            let vel = range(&mut r, 0.5, 1.0) as f32;
            let inc = freq / srf * TABLE as f64;
            let mut ph = range(&mut r, 0.0, TABLE as f64);
            let k_dec = (-1.0 / (decay * srf)).exp() as f32;
            let mut env = vel;
            let end = (start + note_len).min(n);
            for (j, out) in tonal[start..end].iter_mut().enumerate() {
                let i = ph as usize;
                let fr = (ph - i as f64) as f32;
                let v = table[i] + fr * (table[i + 1] - table[i]);
                let a = if j < attack {
                    j as f32 / attack as f32
                } else {
                    1.0
                };
                *out += v * env * a;
                env *= k_dec;
                ph += inc;
                if ph >= TABLE as f64 {
                    ph -= TABLE as f64;
                }
            }
        }
        // percussion on beats (kick) and off-beat eighths (hat)
        if s % 4 == 0 && g.kick > 0.0 && r.random_bool(0.85) {
            let len = ((0.12 * srf) as usize).min(n - start);
            let mut ph = 0.0f64;
            for j in 0..len {
                let t = j as f64 / srf;
                let f = 50.0 + 70.0 * (-t / 0.03).exp();
                ph += TAU * f / srf;
                tonal[start + j] += (g.kick * ph.sin() * (-t / 0.08).exp()) as f32;
            }
        }
        if s % 4 == 2 && g.hat > 0.0 {
            let len = ((0.05 * srf) as usize).min(n - start);
            let mut prev = 0.0;
            for j in 0..len {
                let w = range(&mut r, -1.0, 1.0);
                let hp = w - prev; // crude high-pass: a hat is bright
                prev = w;
                tonal[start + j] += (g.hat * hp * (-(j as f64) / (0.012 * srf)).exp()) as f32;
            }
        }
    }
    // two one-pole low-passes (12 dB/octave) on the tonal part
    let a = (-TAU * cutoff / srf).exp() as f32;
    for _ in 0..2 {
        let mut y = 0f32;
        for v in tonal.iter_mut() {
            y = a * y + (1.0 - a) * *v;
            *v = y;
        }
    }
    // coloured background noise
    let c = g.noise_color as f32;
    let mut y = 0f32;
    let norm = ((1.0 - c * c) / ((1.0 - c) * (1.0 - c))).sqrt(); // unit-ish variance after filtering
    // uniform white noise in [-1, 1) scaled to unit variance (sqrt 3)
    let amp = noise as f32 * 0.3 * norm * 3f32.sqrt();
    if let Ok(white) = Uniform::new(-1.0f32, 1.0f32) {
        for v in tonal.iter_mut() {
            y = c * y + (1.0 - c) * white.sample(&mut r);
            *v += amp * y;
        }
    }
    let peak = tonal.iter().fold(0f32, |m, &v| m.max(v.abs())).max(1e-6);
    let gain = range(&mut r, 0.4, 0.9) as f32 / peak;
    for v in tonal.iter_mut() {
        *v *= gain;
    }
    tonal
}

fn corrupt_bytes(kind: CorruptKind, sr: u32) -> Vec<u8> {
    match kind {
        CorruptKind::Empty => Vec::new(),
        CorruptKind::Truncated => {
            // a valid WAV cut inside its fmt chunk
            let full = wav_bytes(&vec![0.25f32; sr as usize], sr, 1);
            full[..24].to_vec()
        }
        CorruptKind::Id3Only => {
            // ID3v2.4 tag with one TIT2 frame, then nothing
            let title = b"\x03synthetic ID3-only file";
            let mut frame = Vec::new();
            frame.extend_from_slice(b"TIT2");
            frame.extend_from_slice(&(title.len() as u32).to_be_bytes()); // < 128: syncsafe too
            frame.extend_from_slice(&[0, 0]);
            frame.extend_from_slice(title);
            let mut b = b"ID3\x04\x00\x00".to_vec();
            let size = frame.len() as u32; // < 128: syncsafe form is the same
            b.extend_from_slice(&[0, 0, 0, size as u8]);
            b.extend_from_slice(&frame);
            b
        }
        CorruptKind::NotAudio => {
            b"this is a text file named like audio; it holds no samples\n".repeat(20)
        }
    }
}

struct Plan {
    genre: usize,
    /// index within the genre for a good clip, or the corrupt index
    k: usize,
    corrupt: Option<CorruptKind>,
}

fn tracks_csv(
    tracks: &[(u64, &Plan, Split)],
    names: &[(String, u32)],
    cfg: &SynthConfig,
) -> Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let err = |e: csv::Error| Error::Data(format!("tracks.csv: {e}"));
    let mut line: Vec<&str> = vec![""];
    line.extend(GROUPS);
    w.write_record(&line).map_err(err)?;
    let mut line: Vec<&str> = vec![""];
    line.extend(FIELDS);
    w.write_record(&line).map_err(err)?;
    let mut line = vec![""; 53];
    line[0] = "track_id";
    w.write_record(&line).map_err(err)?;
    let col = |g: &str, f: &str| {
        1 + (0..52)
            .find(|&i| GROUPS[i] == g && FIELDS[i] == f)
            .unwrap_or(0)
    };
    let duration = format!("{}", cfg.seconds.round() as u64);
    let bit_rate = format!("{}", cfg.sample_rate as u64 * 16);
    for (row, &(id, plan, split)) in tracks.iter().enumerate() {
        let (gname, gid) = &names[plan.genre];
        let mut v: Vec<String> = vec![String::new(); 53];
        v[0] = id.to_string();
        let album = 1 + id / 10;
        let artist = 1 + id / 25;
        let set = |v: &mut Vec<String>, g: &str, f: &str, x: String| v[col(g, f)] = x;
        set(&mut v, "album", "comments", "0".into());
        set(
            &mut v,
            "album",
            "date_created",
            "2008-11-26 01:44:45".into(),
        );
        set(&mut v, "album", "favorites", "0".into());
        set(&mut v, "album", "id", album.to_string());
        set(&mut v, "album", "listens", "100".into());
        set(&mut v, "album", "tags", "[]".into());
        set(&mut v, "album", "title", format!("Synthetic Album {album}"));
        set(&mut v, "album", "tracks", "10".into());
        set(&mut v, "album", "type", "Album".into());
        if row == 0 {
            set(
                &mut v,
                "artist",
                "bio",
                "<p>A synthetic artist,\nwith a \"quoted\" line</p>".into(),
            );
        }
        set(&mut v, "artist", "comments", "0".into());
        set(&mut v, "artist", "favorites", "0".into());
        set(&mut v, "artist", "id", artist.to_string());
        set(
            &mut v,
            "artist",
            "name",
            format!("Synthetic Artist {artist}"),
        );
        set(&mut v, "artist", "tags", "[]".into());
        let split_name = match split {
            Split::Train => "training",
            Split::Validation => "validation",
            Split::Test => "test",
        };
        set(&mut v, "set", "split", split_name.into());
        set(&mut v, "set", "subset", "small".into());
        set(&mut v, "track", "bit_rate", bit_rate.clone());
        set(&mut v, "track", "comments", "0".into());
        set(
            &mut v,
            "track",
            "date_created",
            "2008-11-26 01:48:12".into(),
        );
        set(&mut v, "track", "duration", duration.clone());
        set(&mut v, "track", "favorites", "0".into());
        set(&mut v, "track", "genre_top", gname.clone());
        set(&mut v, "track", "genres", format!("[{gid}]"));
        set(&mut v, "track", "genres_all", format!("[{gid}]"));
        set(&mut v, "track", "interest", "1000".into());
        set(&mut v, "track", "language_code", "en".into());
        set(
            &mut v,
            "track",
            "license",
            "Attribution-NonCommercial-ShareAlike 3.0 International".into(),
        );
        set(&mut v, "track", "listens", "500".into());
        set(&mut v, "track", "number", (1 + id % 10).to_string());
        set(&mut v, "track", "tags", "[]".into());
        set(
            &mut v,
            "track",
            "title",
            format!("{gname} study {}, take {}", plan.k + 1, id % 7),
        );
        w.write_record(&v).map_err(err)?;
    }
    w.into_inner()
        .map_err(|e| Error::Data(format!("tracks.csv: {e}")))
}

fn genres_csv(names: &[(String, u32)], counts: &[usize]) -> String {
    let mut s = String::from("genre_id,#tracks,parent,title,top_level\n");
    for ((n, id), c) in names.iter().zip(counts) {
        let title = if n.contains(',') || n.contains('"') {
            format!("\"{}\"", n.replace('"', "\"\""))
        } else {
            n.clone()
        };
        s.push_str(&format!("{id},{c},0,{title},{id}\n"));
    }
    s
}

/// Writes a synthetic FMA-shaped dataset under `out`.
pub fn synth(out: &Path, cfg: &SynthConfig) -> Result<SynthSummary> {
    let t0 = std::time::Instant::now();
    if cfg.genres < 2 || cfg.clips_per_genre == 0 {
        return Err(Error::config(
            "genres",
            "need at least 2 genres and 1 clip per genre",
        ));
    }
    if !(cfg.seconds > 0.0 && cfg.seconds <= 600.0) || cfg.sample_rate < 4000 {
        return Err(Error::config(
            "seconds",
            "seconds must be in (0, 600] and sample_rate >= 4000",
        ));
    }
    let audio_dir = out.join("fma_small");
    let meta_dir = out.join("fma_metadata");
    let marker = out.join("synth.json");
    if audio_dir.exists() || meta_dir.exists() {
        if !marker.exists() {
            return Err(Error::Data(format!(
                "{} already holds fma_small/ or fma_metadata/ not made by synth; choose an empty folder",
                out.display()
            )));
        }
        for d in [&audio_dir, &meta_dir] {
            if d.exists() {
                std::fs::remove_dir_all(d).map_err(|e| Error::io(d, e))?;
            }
        }
    }
    std::fs::create_dir_all(&meta_dir).map_err(|e| Error::io(&meta_dir, e))?;

    let names: Vec<(String, u32)> = (0..cfg.genres).map(genre).collect();
    let sounds: Vec<GenreSound> = (0..cfg.genres).map(|g| genre_sound(cfg.seed, g)).collect();
    let mut plans: Vec<Plan> = Vec::new();
    for g in 0..cfg.genres {
        for k in 0..cfg.clips_per_genre {
            plans.push(Plan {
                genre: g,
                k,
                corrupt: None,
            });
        }
    }
    for c in 0..cfg.corrupt {
        plans.push(Plan {
            genre: c % cfg.genres,
            k: c,
            corrupt: Some(CorruptKind::CYCLE[c % 4]),
        });
    }
    shuffle(&mut plans, cfg.seed, STREAM_SYNTH_META, 0, 0);
    // FMA-like ids: increasing with small gaps, starting at 2 like FMA's
    let mut r = Philox::new(cfg.seed, STREAM_SYNTH_META, 1, 0);
    let mut id = 2u64;
    let mut ids = Vec::with_capacity(plans.len());
    for _ in &plans {
        ids.push(id);
        id += 1 + r.random_range(0..6);
    }
    let labels: Vec<u32> = plans.iter().map(|p| p.genre as u32).collect();
    let splits = assign(
        &SplitMethod::Ratio {
            val: 0.1,
            test: 0.1,
            seed: cfg.seed,
        },
        &labels,
        cfg.genres,
        &vec![None; plans.len()],
    )?;

    let tracks: Vec<SynthTrack> = plans
        .par_iter()
        .zip(&ids)
        .zip(&splits)
        .map(|((p, &id), &split)| -> Result<SynthTrack> {
            let base = track_base(&audio_dir, id);
            let path = base.with_extension(p.corrupt.map(|c| c.ext()).unwrap_or("wav"));
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
            let bytes = match p.corrupt {
                Some(kind) => corrupt_bytes(kind, cfg.sample_rate),
                None => {
                    let key = (p.genre * cfg.clips_per_genre + p.k) as u32;
                    let s = render_clip(
                        cfg.seed,
                        &sounds[p.genre],
                        key,
                        cfg.seconds,
                        cfg.sample_rate,
                    );
                    wav_bytes(&s, cfg.sample_rate, 1)
                }
            };
            std::fs::write(&path, bytes).map_err(|e| Error::io(&path, e))?;
            Ok(SynthTrack {
                id,
                genre: names[p.genre].0.clone(),
                split,
                path,
                corrupt: p.corrupt,
            })
        })
        .collect::<Result<_>>()?;

    let rows: Vec<(u64, &Plan, Split)> = ids
        .iter()
        .zip(&plans)
        .zip(&splits)
        .map(|((&i, p), &s)| (i, p, s))
        .collect();
    let csv = tracks_csv(&rows, &names, cfg)?;
    let tpath = meta_dir.join("tracks.csv");
    std::fs::write(&tpath, csv).map_err(|e| Error::io(&tpath, e))?;
    let mut counts = vec![0usize; cfg.genres];
    for p in &plans {
        counts[p.genre] += 1;
    }
    let gpath = meta_dir.join("genres.csv");
    std::fs::write(&gpath, genres_csv(&names, &counts)).map_err(|e| Error::io(&gpath, e))?;
    let summary = SynthSummary {
        config: cfg.clone(),
        genres: names.into_iter().map(|n| n.0).collect(),
        tracks,
        audio_dir,
        meta_dir,
        seconds_taken: t0.elapsed().as_secs_f64(),
    };
    let body = serde_json::to_string_pretty(&summary)
        .map_err(|e| Error::Data(format!("synth.json: {e}")))?;
    std::fs::write(&marker, body + "\n").map_err(|e| Error::io(&marker, e))?;
    Ok(summary)
}

/// The samples synth writes for good clip `k` of genre `g` (for tests and inspection).
pub fn clip_samples(cfg: &SynthConfig, g: usize, k: usize) -> Vec<f32> {
    let s = genre_sound(cfg.seed, g);
    render_clip(
        cfg.seed,
        &s,
        (g * cfg.clips_per_genre + k) as u32,
        cfg.seconds,
        cfg.sample_rate,
    )
}
