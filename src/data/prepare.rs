//! `prepare`: decode a dataset in parallel into a feature store.
//!
//! Flow: every item is decoded on the rayon pool (`RAYON_NUM_THREADS` is respected) through an
//! injectable extractor (the CLI passes [`crate::audio::clip_features`]; tests pass fakes), its
//! features rounded to f16 and written to the per-clip cache beside the store; clips already in
//! the cache (same config hash, same source size and content hash) are not decoded again. Then the
//! split is drawn over the clips that have features, and the store is written by streaming the
//! cached clips into one file. A bad file never stops the run: it is reported with its reason
//! and left out (`OnError::Skip`, the default) or stored as zeros, flagged, when asked
//! (`OnError::Zeros`). A panicking decoder counts as a decode error.

use super::Dataset;
use super::cache::{Cache, CacheState, ClipMeta, SourceStamp};
use super::hash::{canonical_json, config_hash};
use super::report::{PrepareReport, SkippedClip};
use super::split::{SplitMethod, assign, sizes};
use super::store::{ClipEntry, FLAG_PADDED, FLAG_ZEROED, StoreHeader, write_store};
use crate::audio::{Clip, ClipError, FeatureConfig};
use crate::error::{Error, Result};
use half::f16;
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A feature extractor: a file and a config in, a clip or the reason for none out.
pub type Extractor<'a> = &'a (dyn Fn(&Path, &FeatureConfig) -> Result<Clip, ClipError> + Sync);

/// What to do with a clip that cannot be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OnError {
    /// Leave it out of the store (and report it).
    #[default]
    Skip,
    /// Store zeros in its place, flagged `FLAG_ZEROED` (and report it).
    Zeros,
}

/// Options of a prepare run.
#[derive(Clone, Debug)]
pub struct PrepareOptions {
    pub split: SplitMethod,
    pub on_error: OnError,
    /// One line saying where the data came from (goes into the store and the report).
    pub source: String,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

/// The frames of a clip of exactly `clip_seconds`: `1 + samples / hop` when centred, else
/// `1 + (samples - n_fft) / hop` (librosa's count; 938 for the defaults).
pub fn expected_frames(cfg: &FeatureConfig) -> usize {
    let samples = (cfg.clip_seconds * cfg.sample_rate as f64).round() as usize;
    if cfg.center {
        1 + samples / cfg.hop_length.max(1)
    } else {
        1 + samples.saturating_sub(cfg.n_fft) / cfg.hop_length.max(1)
    }
}

/// `<store><suffix>`, beside the store.
pub fn beside(store: &Path, suffix: &str) -> PathBuf {
    let mut s = store.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

enum Outcome {
    Ok {
        meta: ClipMeta,
        /// The cache key: the canonical source path (so a relative and an absolute spelling
        /// of one file share a cache entry).
        key: PathBuf,
        stamp: SourceStamp,
        reused: bool,
        secs: f64,
    },
    Failed(ClipError),
}

fn reason(e: &ClipError) -> (&'static str, String) {
    match e {
        ClipError::Missing => ("missing file", String::new()),
        ClipError::NoAudio(m) => ("no audio", m.clone()),
        ClipError::NotAudio(m) => ("not audio", m.clone()),
        ClipError::Decode(m) => ("decode error", m.clone()),
    }
}

fn check_clip(c: &Clip, cfg: &FeatureConfig) -> Result<(), ClipError> {
    if c.n_mels != cfg.n_mels || c.features.len() != c.frames * c.n_mels || c.frames == 0 {
        return Err(ClipError::Decode(format!(
            "extractor returned {} values as [{}, {}] (config n_mels {})",
            c.features.len(),
            c.frames,
            c.n_mels,
            cfg.n_mels
        )));
    }
    if c.features.iter().any(|x| !x.is_finite()) {
        return Err(ClipError::Decode("non-finite feature values".into()));
    }
    Ok(())
}

fn process(path: &Path, cfg: &FeatureConfig, cache: &Cache, extract: Extractor) -> Result<Outcome> {
    let Some(stamp) = SourceStamp::of(path) else {
        return Ok(Outcome::Failed(ClipError::Missing));
    };
    let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if let Some(meta) = cache.meta(&key, stamp).filter(|m| m.n_mels == cfg.n_mels) {
        return Ok(Outcome::Ok {
            meta,
            key,
            stamp,
            reused: true,
            secs: 0.0,
        });
    }
    let t0 = Instant::now();
    let res = crate::audio::decode::catch_decoder_panic(|| extract(path, cfg))
        .and_then(|c| check_clip(&c, cfg).map(|()| c));
    let clip = match res {
        Ok(c) => c,
        Err(e) => return Ok(Outcome::Failed(e)),
    };
    let feats: Vec<f16> = clip.features.iter().map(|&x| f16::from_f32(x)).collect();
    let meta = ClipMeta {
        frames: clip.frames,
        n_mels: clip.n_mels,
        padded: clip.padded,
        source_seconds: clip.source_seconds,
    };
    cache.put(&key, stamp, &meta, &feats)?;
    Ok(Outcome::Ok {
        meta,
        key,
        stamp,
        reused: false,
        secs: t0.elapsed().as_secs_f64(),
    })
}

/// Refuse an `out` that is something else than a store (a store is replaced; any other file
/// or folder is not), and a cache folder beside it that is not a prepare cache.
fn check_out(out: &Path) -> Result<()> {
    if out.is_dir() {
        return Err(Error::Data(format!(
            "--out {}: a folder, not a feature store file",
            out.display()
        )));
    }
    if out.exists() && !super::store::is_store_file(out) {
        return Err(Error::Data(format!(
            "--out {}: exists and is not a recaux feature store; refusing to replace it \
             (choose another path, or remove it yourself)",
            out.display()
        )));
    }
    Ok(())
}

/// The decode phase's results: one outcome per dataset item, and its wall time.
struct Decoded {
    outcomes: Vec<Outcome>,
    secs: f64,
}

/// Decode (or take from the cache) every item on the rayon pool, with a progress bar.
fn decode_all(
    ds: &Dataset,
    cfg: &FeatureConfig,
    cache: &Cache,
    extract: Extractor,
    progress: bool,
) -> Result<Decoded> {
    let pb = if progress {
        indicatif::ProgressBar::new(ds.items.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} decoding [{bar:40}] {pos}/{len} clips, {per_sec}, eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let t0 = Instant::now();
    let outcomes: Vec<Outcome> = ds
        .items
        .par_iter()
        .map(|it| {
            let o = process(&it.path, cfg, cache, extract);
            pb.inc(1);
            o
        })
        .collect::<Result<_>>()?;
    pb.finish_and_clear();
    Ok(Decoded {
        outcomes,
        secs: t0.elapsed().as_secs_f64(),
    })
}

/// What goes into the store, in dataset order, and what was left out.
#[derive(Default)]
struct Collected<'a> {
    /// (dataset index, frames, flags) per stored clip.
    entries: Vec<(usize, usize, u8)>,
    /// Per stored clip: its cache key and stamp, or `None` for zeros.
    stored: Vec<Option<(&'a Path, SourceStamp)>>,
    skipped: Vec<SkippedClip>,
    ok: usize,
    padded: usize,
    reused: usize,
    computed: usize,
    /// Decode time of the computed clips, summed over threads, seconds.
    secs: f64,
}

/// Sort the outcomes into stored clips (zeros for failures with `OnError::Zeros`) and
/// skipped ones.
fn collect<'a>(
    ds: &Dataset,
    outcomes: &'a [Outcome],
    on_error: OnError,
    zero_frames: usize,
) -> Collected<'a> {
    let mut c = Collected::default();
    for (i, (it, o)) in ds.items.iter().zip(outcomes).enumerate() {
        match o {
            Outcome::Ok {
                meta,
                key,
                stamp,
                reused,
                secs,
            } => {
                c.ok += 1;
                c.padded += meta.padded as usize;
                if *reused {
                    c.reused += 1;
                } else {
                    c.computed += 1;
                    c.secs += secs;
                }
                c.entries
                    .push((i, meta.frames, if meta.padded { FLAG_PADDED } else { 0 }));
                c.stored.push(Some((key.as_path(), *stamp)));
            }
            Outcome::Failed(e) => {
                let (why, detail) = reason(e);
                c.skipped.push(SkippedClip {
                    track_id: it.track_id,
                    name: it.name.clone(),
                    path: it.path.display().to_string(),
                    reason: why.to_string(),
                    detail,
                });
                if on_error == OnError::Zeros {
                    c.entries.push((i, zero_frames, FLAG_ZEROED));
                    c.stored.push(None);
                }
            }
        }
    }
    c
}

/// The split of each collected clip, and the clips per class.
fn split_clips(
    ds: &Dataset,
    method: &super::split::SplitMethod,
    c: &Collected,
) -> Result<(Vec<super::Split>, Vec<usize>)> {
    let labels: Vec<u32> = c.entries.iter().map(|e| ds.items[e.0].label).collect();
    let official: Vec<_> = c.entries.iter().map(|e| ds.items[e.0].official).collect();
    let splits = if c.entries.is_empty() {
        Vec::new()
    } else {
        assign(method, &labels, ds.classes.len(), &official)?
    };
    let mut class_counts = vec![0usize; ds.classes.len()];
    for &l in &labels {
        class_counts[l as usize] += 1;
    }
    Ok((splits, class_counts))
}

/// Stream the collected clips (from the cache, or zeros) into the store file at `out`.
#[allow(clippy::too_many_arguments)]
fn write_collected(
    out: &Path,
    ds: &Dataset,
    cfg: &FeatureConfig,
    hash: u64,
    opts: &PrepareOptions,
    c: &Collected,
    splits: &[super::Split],
    cache: &Cache,
) -> Result<()> {
    let zero_frames = expected_frames(cfg);
    let header = StoreHeader {
        n_mels: cfg.n_mels,
        class_names: ds.classes.clone(),
        feature_config: cfg.clone(),
        config_hash: format!("{hash:016x}"),
        split: opts.split.clone(),
        source: opts.source.clone(),
        names: c
            .entries
            .iter()
            .map(|e| ds.items[e.0].name.clone())
            .collect(),
        created_by: format!("recaux {}", env!("CARGO_PKG_VERSION")),
    };
    let clips: Vec<ClipEntry> = c
        .entries
        .iter()
        .zip(splits)
        .map(|(e, &s)| ClipEntry {
            track_id: ds.items[e.0].track_id,
            frames: e.1,
            label: ds.items[e.0].label,
            split: s,
            flags: e.2,
        })
        .collect();
    write_store(out, &header, &clips, |k| match c.stored[k] {
        Some((key, stamp)) => cache.features(key, stamp),
        None => Ok(vec![f16::ZERO; zero_frames * cfg.n_mels]),
    })
}

/// Decodes `ds` into a store at `out`, writes `<out>.report.json`, and returns the report.
/// Fails (after writing the report) if no clip could be stored. `out` must be absent or a
/// feature store (which is replaced).
pub fn prepare(
    ds: &Dataset,
    cfg: &FeatureConfig,
    out: &Path,
    opts: &PrepareOptions,
    extract: Extractor,
) -> Result<PrepareReport> {
    let t_start = Instant::now();
    check_out(out)?;
    let json = canonical_json(cfg)?;
    let hash = config_hash(cfg)?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let (cache, state) = Cache::open(out, &json, hash)?;
    let config_changed = matches!(state, CacheState::Changed(_));
    if let CacheState::Changed(old) = state {
        let old = old
            .map(|h| format!("{h:016x}"))
            .unwrap_or_else(|| "unknown".into());
        eprintln!(
            "prepare: feature config changed (hash {old} -> {hash:016x}): recomputing all clips"
        );
    }
    let decoded = decode_all(ds, cfg, &cache, extract, opts.progress)?;
    let c = collect(ds, &decoded.outcomes, opts.on_error, expected_frames(cfg));
    let (splits, class_counts) = split_clips(ds, &opts.split, &c)?;
    if !c.entries.is_empty() {
        write_collected(out, ds, cfg, hash, opts, &c, &splits, &cache)?;
    }
    let per_clip = |secs: f64| {
        if c.computed > 0 {
            1e3 * secs / c.computed as f64
        } else {
            0.0
        }
    };
    let report = PrepareReport {
        source: opts.source.clone(),
        store: out.display().to_string(),
        config_hash: format!("{hash:016x}"),
        config_changed,
        clips_total: ds.items.len(),
        clips_ok: c.ok,
        clips_padded: c.padded,
        clips_skipped: c.skipped.len(),
        on_error: match opts.on_error {
            OnError::Skip => "skip",
            OnError::Zeros => "zeros",
        }
        .into(),
        skipped: c.skipped.clone(),
        clips_reused: c.reused,
        clips_computed: c.computed,
        clips_stored: c.entries.len(),
        seconds_total: t_start.elapsed().as_secs_f64(),
        ms_per_clip_thread: per_clip(c.secs),
        ms_per_clip_wall: per_clip(decoded.secs),
        threads: rayon::current_num_threads(),
        classes: ds.classes.clone(),
        class_counts,
        split_sizes: sizes(&splits),
        split: opts.split.describe(),
        notes: ds.notes.clone(),
    };
    write_report(out, &report)?;
    if c.entries.is_empty() {
        // An older store at `out` would no longer match this dataset.
        let _ = std::fs::remove_file(out);
        return Err(Error::Data(format!(
            "no clip of {} could be decoded; see {}",
            ds.items.len(),
            beside(out, ".report.json").display()
        )));
    }
    Ok(report)
}

/// Write `<out>.report.json`.
fn write_report(out: &Path, report: &PrepareReport) -> Result<()> {
    let rpath = beside(out, ".report.json");
    let body = serde_json::to_string_pretty(report)
        .map_err(|e| Error::Data(format!("report to JSON: {e}")))?;
    std::fs::write(&rpath, body + "\n").map_err(|e| Error::io(&rpath, e))
}
