//! Datasets, splits, the feature store, the training sampler and the synthetic FMA-shaped
//! generator.
//!
//! Three sources share one shape, a [`Dataset`]: FMA (`tracks.csv` + audio tree, [`fma`]),
//! class folders (`DIR/<class>/<file>`, [`folders`]) and a CSV manifest (`path,label[,split]`,
//! [`manifest`]). [`prepare`] turns a dataset into a [`store::FeatureStore`] (one memory-mapped
//! file of f16 features with labels, track ids, class names and the split); [`sampler`] draws
//! time-major batches from it.
//!
//! **Class indices.** Classes are sorted by name (byte-wise on UTF-8, which is Unicode code
//! point order, the same as Python's `sorted()` on `str`) and numbered `0..C-1`. FMA's small
//! subset gives 8 classes: Electronic 0, Experimental 1, Folk 2, Hip-Hop 3, Instrumental 4,
//! International 5, Pop 6, Rock 7.
//!
//! **Random streams.** Every random choice here is a pure function of a seed and a counter
//! through [`crate::rng::philox4x32_10`]; the data streams set bit 30 of counter word 1
//! ([`draw`]), apart from dropout (small tensor ids) and init (bit 31).

pub mod draw;
pub mod fma;
pub mod folders;
pub mod hash;
pub mod manifest;
pub mod prepare;
pub mod report;
pub mod sampler;
pub mod split;
pub mod store;
pub mod synth;
pub mod wav;

mod cache;

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Which part of the data a clip belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train = 0,
    Validation = 1,
    Test = 2,
}

impl Split {
    /// All three, in code order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Validation, Split::Test];

    /// The byte stored in the feature store.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The split of a stored byte.
    pub fn from_code(c: u8) -> Result<Split> {
        match c {
            0 => Ok(Split::Train),
            1 => Ok(Split::Validation),
            2 => Ok(Split::Test),
            _ => Err(Error::Data(format!("invalid split code {c}"))),
        }
    }

    /// Parses FMA's and common manifest spellings: `training`/`train`, `validation`/`val`/
    /// `valid`, `test` (case-insensitive, surrounding spaces ignored).
    pub fn parse(s: &str) -> Option<Split> {
        match s.trim().to_ascii_lowercase().as_str() {
            "training" | "train" => Some(Split::Train),
            "validation" | "val" | "valid" => Some(Split::Validation),
            "test" => Some(Split::Test),
            _ => None,
        }
    }

    /// `train`, `validation` or `test`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One labelled audio file of a dataset, before feature extraction.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// FMA's track id; for folders and manifests, the item's index in the dataset order.
    pub track_id: u64,
    /// A short human name: FMA's zero-padded id, or the path relative to the dataset root.
    pub name: String,
    /// Where the audio is (may not exist: prepare reports it as a missing file).
    pub path: PathBuf,
    /// Class index into [`Dataset::classes`].
    pub label: u32,
    /// The source's own split (FMA's (set, split), a manifest's split column), if any.
    pub official: Option<Split>,
}

/// A labelled list of audio files from any source.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Class names, sorted; a label is an index into this.
    pub classes: Vec<String>,
    /// The items in the source's order (FMA: tracks.csv order; folders: class then file name;
    /// manifest: row order).
    pub items: Vec<Item>,
    /// What the loader left out and why (e.g. "12 tracks without genre_top").
    pub notes: Vec<String>,
}

/// An item whose class is still a name (what the loaders produce).
#[derive(Clone, Debug)]
pub(crate) struct RawItem {
    pub track_id: u64,
    pub name: String,
    pub path: PathBuf,
    pub class: String,
    pub official: Option<Split>,
}

impl Dataset {
    /// Sorts the class names and numbers them 0..C-1 (see the module doc).
    pub(crate) fn from_raw(raw: Vec<RawItem>, notes: Vec<String>) -> Result<Dataset> {
        let mut classes: Vec<String> = raw.iter().map(|r| r.class.clone()).collect();
        classes.sort();
        classes.dedup();
        if classes.is_empty() {
            return Err(Error::Data("the dataset has no labelled items".into()));
        }
        let items = raw
            .into_iter()
            .map(|r| {
                // The class is in `classes` by construction.
                let label = classes.binary_search(&r.class).unwrap_or(0) as u32;
                Item {
                    track_id: r.track_id,
                    name: r.name,
                    path: r.path,
                    label,
                    official: r.official,
                }
            })
            .collect();
        Ok(Dataset {
            classes,
            items,
            notes,
        })
    }

    /// Number of items per class, `[C]`.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut c = vec![0usize; self.classes.len()];
        for it in &self.items {
            c[it.label as usize] += 1;
        }
        c
    }
}

/// The audio file extensions recognised when looking for a track's audio, in lookup order.
pub const AUDIO_EXTENSIONS: [&str; 4] = ["mp3", "wav", "flac", "ogg"];

/// Whether a path has one of [`AUDIO_EXTENSIONS`] (case-insensitive).
pub fn has_audio_extension(p: &std::path::Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .map(|e| AUDIO_EXTENSIONS.iter().any(|a| a.eq_ignore_ascii_case(e)))
        .unwrap_or(false)
}
