//! `recaux predict --run DIR FILE...`: genre probabilities of audio files from a run's best
//! weights, per replica or for one λ.

use super::backend_arg::BackendChoice;
use super::run_dir::load_run;
use crate::backend::{Backend, Elem};
use crate::data::store::FeatureStore;
use crate::model::{self, Mode, Workspace};
use crate::train::checkpoint::load_best_model;
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

/// Run the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    let cfg = load_run(&args.run)?;
    let store = FeatureStore::open(&cfg.store)?;
    // Features from audio with the run's own settings (resampler included).
    let fcfg = crate::train::feature_record::check_store(&args.run, &store, &cfg.store)?;
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
    let want = args.frames.unwrap_or(cfg.sampler.crop_frames);
    crate::with_backend!(args.backend, f32, |be| {
        let seeds: Vec<u64> = reps.iter().map(|r| r.seed).collect();
        let init = crate::model::Model::init(&be, cfg.model, &seeds)?;
        let model = load_best_model(&be, &cfg, &reps, &init)?;
        for f in &args.files {
            let clip = match crate::audio::clip_features(f, &fcfg) {
                Ok(c) => c,
                Err(e) => {
                    println!("{}: {e}", f.display());
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
            for &r in &chosen {
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
    Ok(())
}
