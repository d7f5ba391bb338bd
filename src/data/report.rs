//! The report of a `prepare` run: printed as a table and written as JSON beside the store
//! (`<store>.report.json`).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A clip that is not in the store (or, with `--on-error zeros`, is in it as zeros).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SkippedClip {
    pub track_id: u64,
    /// FMA's zero-padded id or the path relative to the dataset root.
    pub name: String,
    pub path: String,
    /// `missing file`, `no audio`, `not audio` or `decode error`.
    pub reason: String,
    /// The decoder's message.
    pub detail: String,
}

/// Everything a prepare run did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrepareReport {
    pub source: String,
    pub store: String,
    pub config_hash: String,
    /// The cache beside the store was made with another feature config and was recomputed.
    pub config_changed: bool,
    pub clips_total: usize,
    /// Clips with features (including padded ones).
    pub clips_ok: usize,
    /// Of `clips_ok`: audio shorter than the clip length, zero-padded.
    pub clips_padded: usize,
    /// Clips that failed; with `on_error = zeros` they are in the store as zeros.
    pub clips_skipped: usize,
    pub on_error: String,
    pub skipped: Vec<SkippedClip>,
    /// Clips taken from the cache of an earlier run.
    pub clips_reused: usize,
    /// Clips decoded in this run.
    pub clips_computed: usize,
    /// Clips in the store.
    pub clips_stored: usize,
    /// Wall time of the whole run, seconds.
    pub seconds_total: f64,
    /// Mean time to decode and featurise one clip on one thread, ms (computed clips only).
    pub ms_per_clip_thread: f64,
    /// Wall time of the decode phase per computed clip, ms (all threads together).
    pub ms_per_clip_wall: f64,
    pub threads: usize,
    pub classes: Vec<String>,
    /// Stored clips per class, `[C]`.
    pub class_counts: Vec<usize>,
    /// Stored clips per split: train, validation, test.
    pub split_sizes: [usize; 3],
    /// How the split was made ([`super::split::SplitMethod::describe`]).
    pub split: String,
    /// What the dataset loader left out.
    pub notes: Vec<String>,
}

impl fmt::Display for PrepareReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "prepare: {} -> {}", self.source, self.store)?;
        if self.config_changed {
            writeln!(
                f,
                "  feature config changed (hash now {}): recomputed every clip",
                self.config_hash
            )?;
        }
        for n in &self.notes {
            writeln!(f, "  note: {n}")?;
        }
        writeln!(f, "  clips total     {:>8}", self.clips_total)?;
        writeln!(
            f,
            "  ok              {:>8}   (padded, too short: {})",
            self.clips_ok, self.clips_padded
        )?;
        writeln!(
            f,
            "  skipped         {:>8}   (on error: {})",
            self.clips_skipped, self.on_error
        )?;
        writeln!(
            f,
            "  reused / new    {:>8} / {}",
            self.clips_reused, self.clips_computed
        )?;
        writeln!(
            f,
            "  stored          {:>8}   split {}: train {} / validation {} / test {}",
            self.clips_stored,
            self.split,
            self.split_sizes[0],
            self.split_sizes[1],
            self.split_sizes[2]
        )?;
        writeln!(
            f,
            "  time            {:>8.2} s   {:.1} ms/clip on one thread, {:.1} ms/clip wall ({} threads)",
            self.seconds_total, self.ms_per_clip_thread, self.ms_per_clip_wall, self.threads
        )?;
        writeln!(f, "  classes ({}):", self.classes.len())?;
        for (c, n) in self.classes.iter().zip(&self.class_counts) {
            writeln!(f, "    {c:<24} {n:>6}")?;
        }
        if !self.skipped.is_empty() {
            writeln!(f, "  skipped clips:")?;
            for s in &self.skipped {
                writeln!(
                    f,
                    "    {:<12} {:<13} {}  ({})",
                    s.name, s.reason, s.path, s.detail
                )?;
            }
        }
        Ok(())
    }
}
