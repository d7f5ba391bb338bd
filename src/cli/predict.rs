//! `recaux predict --run DIR FILE...`: genre probabilities of audio files from a run's best
//! weights, per replica or for one λ.

use super::backend_arg::BackendChoice;
use super::run_dir::load_run;
use crate::backend::{Backend, Elem};
use crate::data::store::FeatureStore;
use crate::model::{self, Mode, Workspace};
use crate::train::checkpoint::load_best_model;
use anyhow::Context;
use std::path::PathBuf;

/// Arguments of `recaux predict`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The run folder (`runs/<name>`).
    #[arg(long)]
    pub run: PathBuf,
    /// Only the replicas with this λ (default: every replica).
    #[arg(long = "lambda")]
    pub lambda: Option<f64>,
    /// Frames per prediction: the centred window of this many frames (default: the run's crop
    /// length); 0 = the whole clip.
    #[arg(long)]
    pub frames: Option<usize>,
    #[arg(long, value_enum, default_value = "cpu")]
    pub backend: BackendChoice,
    /// Audio files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

fn softmax(row: &[f64]) -> Vec<f64> {
    let mx = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = row.iter().map(|v| (v - mx).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

/// Frames of the window `[off, off + t)` that lie past the decoded audio (zero padding of a
/// clip shorter than `clip_seconds`).
fn padded_frames(
    clip: &crate::audio::Clip,
    fcfg: &crate::audio::FeatureConfig,
    off: usize,
    t: usize,
) -> usize {
    if !clip.padded {
        return 0;
    }
    let samples = clip.source_seconds.min(fcfg.clip_seconds) * f64::from(fcfg.sample_rate);
    let content = (samples / fcfg.hop_length as f64).ceil() as usize;
    (off + t).saturating_sub(content.max(off)).min(t)
}

/// Run the command. Every file is tried; the command fails when any file failed.
pub fn run(args: Args) -> anyhow::Result<()> {
    let cfg = load_run(&args.run)?;
    let store = FeatureStore::open(&cfg.store).context("`store`")?;
    // Features from audio with the run's own settings (resampler included).
    let fcfg = crate::train::feature_record::check_store(&args.run, &store, &cfg.store)?;
    let state = super::run_dir::run_state(&cfg, &store)?;
    let classes = store.class_names().to_vec();
    let reps = cfg.replicas();
    let chosen: Vec<usize> = (0..reps.len())
        .filter(|&r| args.lambda.is_none_or(|l| reps[r].lambda == l))
        .collect();
    if chosen.is_empty() {
        anyhow::bail!(
            "no replica of {} has λ = {:?}",
            args.run.display(),
            args.lambda
        );
    }
    if let Some(f) = args.frames {
        crate::limits::at_most("--frames", f, crate::limits::MAX_FRAMES)?;
    }
    let want = args.frames.unwrap_or(cfg.sampler.crop_frames);
    let mut failed = 0usize;
    crate::with_backend!(args.backend, f32, |be| {
        let seeds: Vec<u64> = reps.iter().map(|r| r.seed).collect();
        let init = crate::model::Model::init(&be, cfg.model, &seeds)?;
        let (model, has) = load_best_model(&be, &cfg, &state.best, &init)?;
        let usable: Vec<usize> = chosen.iter().copied().filter(|&r| has[r]).collect();
        for &r in chosen.iter().filter(|&&r| !has[r]) {
            eprintln!(
                "replica {r} (λ {}, seed {}): no weights (it stopped before its first validation), left out",
                reps[r].lambda, reps[r].seed
            );
        }
        if usable.is_empty() {
            anyhow::bail!("{}: no chosen replica has best weights", args.run.display());
        }
        for f in &args.files {
            let clip = match crate::audio::clip_features(f, &fcfg) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {}: {e}", f.display());
                    failed += 1;
                    continue;
                }
            };
            let n = clip.n_mels;
            let t = if want == 0 || want >= clip.frames {
                clip.frames
            } else {
                want
            };
            let off = (clip.frames - t) / 2;
            let pad = padded_frames(&clip, &fcfg, off, t);
            if pad > 0 {
                eprintln!(
                    "warning: {}: {:.2} s of audio, the window is {:.2} s: {:.0}% of it is zero padding{}",
                    f.display(),
                    clip.source_seconds,
                    t as f64 * fcfg.hop_length as f64 / f64::from(fcfg.sample_rate),
                    100.0 * pad as f64 / t as f64,
                    if 2 * pad > t {
                        ", so the answer is mostly about padding"
                    } else {
                        ""
                    }
                );
            }
            // [T, 1, n_mels]: one batch row
            let x: Vec<_> = clip.features[off * n..(off + t) * n]
                .iter()
                .map(|&v| Elem::of(v as f64))
                .collect();
            let xb = be.upload(&x)?;
            let yb = be.upload_idx(&[0])?;
            let mut ws = Workspace::new(&be, &cfg.model, model.m(), t, 1)?;
            model::forward(&be, &model, &mut ws, &xb, &yb, Mode::Eval)?;
            let logits: Vec<f64> = be
                .download(&ws.logits)?
                .into_iter()
                .map(|v| v.f64())
                .collect();
            println!("{} ({t} frames from {off}):", f.display());
            for &r in &usable {
                let c = classes.len();
                let p = softmax(&logits[r * c..(r + 1) * c]);
                let best = (0..c).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap_or(0);
                let probs: Vec<String> = (0..c)
                    .map(|k| format!("{} {:.3}", classes[k], p[k]))
                    .collect();
                println!(
                    "  λ={} seed={}: {} | {}",
                    reps[r].lambda,
                    reps[r].seed,
                    classes[best],
                    probs.join(", ")
                );
            }
        }
    });
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {} files could not be read (see the lines above)",
            args.files.len()
        );
    }
    Ok(())
}
