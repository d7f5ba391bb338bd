//! The batch sampler: time-major batches `x: [T, B, n_mels]` f32 and `y: [B]` i32 (the layout
//! of `crate::backend`), drawn from a [`FeatureStore`].
//!
//! **Training** ([`Sampler::train`]): each epoch visits the split's clips in a seeded order
//! (Fisher-Yates keyed by (seed, epoch)); each draw takes a `crop`-frame window at a seeded
//! offset, uniform over `0..=frames - crop`, keyed by (seed, epoch, position in the epoch). The
//! last partial batch is dropped. Any batch is a pure function of (seed, epoch, batch index):
//! the same on every run, and after a resume the state is just (epoch, batch index).
//!
//! **Evaluation** ([`Sampler::eval`]): the split's clips in store order, the last partial
//! batch kept (so `y` may be shorter than the batch size), the window chosen by [`EvalCrop`].
//! The seed experiment evaluated on a random crop too (its dataset class crops at random in
//! every mode); `EvalCrop::Random` reproduces that (seeded by (seed, position), the same
//! every epoch), `Center` and `Full` are deterministic alternatives.
//!
//! Clips shorter than the window are zero-padded at the end (offset 0). Seed defaults:
//! batch 32, crop 512 frames.

use super::Split;
use super::draw::{STREAM_CROP, STREAM_SHUFFLE, below, shuffle, word64};
use super::store::FeatureStore;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Which window evaluation takes from each clip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EvalCrop {
    /// A seeded random window (the seed experiment's behaviour), fixed across epochs.
    Random,
    /// The centred window, offset `(frames - crop) / 2`.
    Center,
    /// The whole clip: `T` is the longest clip in the batch, shorter ones zero-padded.
    Full,
}

/// Sampler settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamplerConfig {
    /// Clips per batch (seed: 32).
    pub batch_size: usize,
    /// Frames per window (seed: 512).
    pub crop_frames: usize,
    /// Window used in evaluation.
    pub eval_crop: EvalCrop,
    /// Seed of the shuffle and the crops (one for all replicas: they see the same batches).
    pub seed: u64,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            batch_size: 32,
            crop_frames: 512,
            eval_crop: EvalCrop::Random,
            seed: 1337,
        }
    }
}

/// One batch.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// `[t, b, n_mels]`, time-major, f32.
    pub x: Vec<f32>,
    /// `[b]`, class labels.
    pub y: Vec<i32>,
    /// Frames `T`.
    pub t: usize,
    /// Batch rows `B` (the batch size, or fewer for the last evaluation batch).
    pub b: usize,
    pub n_mels: usize,
    /// Store index of each row.
    pub clips: Vec<usize>,
    /// Window start of each row, frames.
    pub offsets: Vec<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Train,
    Eval,
}

/// Draws batches of one split of a store.
#[derive(Debug)]
pub struct Sampler<'a> {
    store: &'a FeatureStore,
    indices: Vec<usize>,
    cfg: SamplerConfig,
    mode: Mode,
}

impl<'a> Sampler<'a> {
    fn new(store: &'a FeatureStore, split: Split, cfg: SamplerConfig, mode: Mode) -> Result<Self> {
        if cfg.batch_size == 0 || cfg.crop_frames == 0 {
            return Err(Error::config(
                "sampler",
                "batch_size and crop_frames must be > 0",
            ));
        }
        let indices = store.indices(split);
        if indices.is_empty() {
            return Err(Error::Data(format!("the store has no {split} clips")));
        }
        Ok(Sampler {
            store,
            indices,
            cfg,
            mode,
        })
    }

    /// A training sampler over `split` (shuffled, random crops, partial batch dropped).
    pub fn train(store: &'a FeatureStore, split: Split, cfg: SamplerConfig) -> Result<Self> {
        Self::new(store, split, cfg, Mode::Train)
    }

    /// An evaluation sampler over `split` (store order, [`EvalCrop`], partial batch kept).
    pub fn eval(store: &'a FeatureStore, split: Split, cfg: SamplerConfig) -> Result<Self> {
        Self::new(store, split, cfg, Mode::Eval)
    }

    /// Clips in the split.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// Whether the split is empty (never: construction refuses it).
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// Batches per epoch: `floor(n / B)` in training, `ceil(n / B)` in evaluation.
    pub fn batches_per_epoch(&self) -> usize {
        let (n, b) = (self.indices.len(), self.cfg.batch_size);
        match self.mode {
            Mode::Train => n / b,
            Mode::Eval => n.div_ceil(b),
        }
    }

    /// The store indices in epoch `epoch`'s order.
    pub fn epoch_order(&self, epoch: u64) -> Vec<usize> {
        let mut v = self.indices.clone();
        if self.mode == Mode::Train {
            shuffle(
                &mut v,
                self.cfg.seed,
                STREAM_SHUFFLE,
                epoch as u32,
                (epoch >> 32) as u32,
            );
        }
        v
    }

    /// Batch `batch` of epoch `epoch`.
    pub fn batch(&self, epoch: u64, batch: usize) -> Result<Batch> {
        let order = self.epoch_order(epoch);
        self.batch_in(&order, epoch, batch)
    }

    /// All batches of an epoch, in order (the order is computed once).
    pub fn epoch(&self, epoch: u64) -> impl Iterator<Item = Result<Batch>> + '_ {
        let order = self.epoch_order(epoch);
        (0..self.batches_per_epoch()).map(move |b| self.batch_in(&order, epoch, b))
    }

    fn batch_in(&self, order: &[usize], epoch: u64, batch: usize) -> Result<Batch> {
        let nb = self.batches_per_epoch();
        if batch >= nb {
            return Err(Error::Data(format!(
                "batch {batch} of an epoch of {nb} batches"
            )));
        }
        let bs = self.cfg.batch_size;
        let start = batch * bs;
        let rows = &order[start..(start + bs).min(order.len())];
        let f = self.store.n_mels();
        let crop = self.cfg.crop_frames;
        let mut clips = Vec::with_capacity(rows.len());
        let mut offsets = Vec::with_capacity(rows.len());
        let mut windows = Vec::with_capacity(rows.len());
        for (r, &ci) in rows.iter().enumerate() {
            let clip = self.store.clip(ci)?;
            let pos = (start + r) as u32;
            let (off, len) = match (self.mode, self.cfg.eval_crop) {
                (Mode::Eval, EvalCrop::Full) => (0, clip.frames),
                (Mode::Eval, EvalCrop::Center) => (clip.frames.saturating_sub(crop) / 2, crop),
                (mode, _) => {
                    // Training keys the crop by (epoch, position); evaluation by position only,
                    // so an evaluation set is the same every epoch.
                    let e = if mode == Mode::Train { epoch } else { u64::MAX };
                    let span = clip.frames.saturating_sub(crop) as u64 + 1;
                    let w = word64(self.cfg.seed, STREAM_CROP, e as u32, (e >> 32) as u32, pos);
                    (below(w, span) as usize, crop)
                }
            };
            clips.push(ci);
            offsets.push(off);
            windows.push((clip, len));
        }
        let t = windows.iter().map(|w| w.1).max().unwrap_or(0);
        let b = rows.len();
        let mut x = vec![0f32; t * b * f];
        let mut y = Vec::with_capacity(b);
        for (r, (clip, _)) in windows.iter().enumerate() {
            y.push(clip.label as i32);
            let off = offsets[r];
            let avail = clip.frames.saturating_sub(off).min(t);
            for tt in 0..avail {
                let src = &clip.features[(off + tt) * f..(off + tt + 1) * f];
                let dst = &mut x[(tt * b + r) * f..(tt * b + r + 1) * f];
                for (d, s) in dst.iter_mut().zip(src) {
                    *d = s.to_f32();
                }
            }
        }
        Ok(Batch {
            x,
            y,
            t,
            b,
            n_mels: f,
            clips,
            offsets,
        })
    }
}
