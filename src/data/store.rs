//! The feature store: one file holding every clip's `[frames, n_mels]` f16 features with its
//! label, track id and split, the class names, the feature config and its hash. It is
//! memory-mapped on open, so loading costs a header parse, not a read of the features.
//!
//! # File layout (all integers little-endian)
//! ```text
//! 0   magic "RECAUXFS"            8 bytes
//! 8   version (1)                 u32
//! 12  reserved (0)                u32
//! 16  header JSON length          u64
//! 24  number of clips N           u64
//! 32  table offset (64-aligned)   u64
//! 40  data offset (64-aligned)    u64
//! 48  data length, f16 elements   u64
//! 64  header JSON (StoreHeader)
//! table: N x ClipRecord (32 bytes each)
//! data:  f16 features, clip after clip, each row-major [frames, n_mels]
//! ```
//! A store is written to `<path>.tmp` and renamed into place, so a reader never sees half a
//! file and a mapping held by a running trainer stays valid while prepare replaces the store.

use super::Split;
use super::split::SplitMethod;
use crate::audio::FeatureConfig;
use crate::error::{Error, Result};
use half::f16;
use serde::{Deserialize, Serialize};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"RECAUXFS";
const VERSION: u32 = 1;
const PREAMBLE: usize = 64;

/// Clip flag: the audio was shorter than the clip length and was zero-padded.
pub const FLAG_PADDED: u8 = 1;
/// Clip flag: the file could not be decoded and `--on-error zeros` stored zeros in its place.
pub const FLAG_ZEROED: u8 = 2;

/// The JSON header of a store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoreHeader {
    /// Mel bands per frame.
    pub n_mels: usize,
    /// Class names; label `l` is `class_names[l]`.
    pub class_names: Vec<String>,
    /// The feature config the features were made with.
    pub feature_config: FeatureConfig,
    /// [`super::hash::config_hash`] of `feature_config`, 16 hex digits.
    pub config_hash: String,
    /// How the split was made.
    pub split: SplitMethod,
    /// Where the data came from (a one-line description).
    pub source: String,
    /// One name per clip (FMA's zero-padded id or a relative path), in store order.
    pub names: Vec<String>,
    /// The program that wrote the store.
    pub created_by: String,
}

/// One clip's entry in the table.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ClipRecord {
    pub track_id: u64,
    /// Start of the clip's features in the data section, in f16 elements.
    pub offset: u64,
    pub frames: u32,
    pub label: u32,
    /// [`Split::code`].
    pub split: u8,
    /// [`FLAG_PADDED`], [`FLAG_ZEROED`].
    pub flags: u8,
    pub _pad: [u8; 6],
}

fn align64(x: usize) -> usize {
    x.div_ceil(64) * 64
}

/// A clip to write: its table fields; `offset` is filled in by [`write_store`].
#[derive(Clone, Debug)]
pub struct ClipEntry {
    pub track_id: u64,
    pub frames: usize,
    pub label: u32,
    pub split: Split,
    pub flags: u8,
}

/// Whether `path` is a file that starts like a feature store (its magic bytes).
pub fn is_store_file(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && &magic == MAGIC
}

/// Writes a store to `path` (via `<path>.tmp` and a rename). `features(i)` returns clip `i`'s
/// `[frames_i, n_mels]` features; it is called once per clip, in order, so the features never
/// need to be in memory all at once.
pub fn write_store(
    path: &Path,
    header: &StoreHeader,
    clips: &[ClipEntry],
    mut features: impl FnMut(usize) -> Result<Vec<f16>>,
) -> Result<()> {
    if header.names.len() != clips.len() {
        return Err(Error::shape(format!(
            "store: {} names for {} clips",
            header.names.len(),
            clips.len()
        )));
    }
    let json = serde_json::to_vec(header).map_err(|e| Error::Data(format!("store header: {e}")))?;
    let table_off = align64(PREAMBLE + json.len());
    let n = clips.len();
    let data_off = align64(table_off + n * std::mem::size_of::<ClipRecord>());
    let mut records = Vec::with_capacity(n);
    let mut off = 0u64;
    for c in clips {
        records.push(ClipRecord {
            track_id: c.track_id,
            offset: off,
            frames: c.frames as u32,
            label: c.label,
            split: c.split.code(),
            flags: c.flags,
            _pad: [0; 6],
        });
        off += (c.frames * header.n_mels) as u64;
    }
    let tmp = tmp_path(path);
    let io = |e| Error::io(&tmp, e);
    let file = std::fs::File::create(&tmp).map_err(io)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let mut pre = Vec::with_capacity(PREAMBLE);
    pre.extend_from_slice(MAGIC);
    pre.extend_from_slice(&VERSION.to_le_bytes());
    pre.extend_from_slice(&0u32.to_le_bytes());
    for v in [
        json.len() as u64,
        n as u64,
        table_off as u64,
        data_off as u64,
        off,
    ] {
        pre.extend_from_slice(&v.to_le_bytes());
    }
    pre.resize(PREAMBLE, 0);
    w.write_all(&pre).map_err(io)?;
    w.write_all(&json).map_err(io)?;
    w.write_all(&vec![0u8; table_off - PREAMBLE - json.len()])
        .map_err(io)?;
    w.write_all(bytemuck::cast_slice(&records)).map_err(io)?;
    let table_end = table_off + n * std::mem::size_of::<ClipRecord>();
    w.write_all(&vec![0u8; data_off - table_end]).map_err(io)?;
    for (i, c) in clips.iter().enumerate() {
        let f = features(i)?;
        if f.len() != c.frames * header.n_mels {
            return Err(Error::shape(format!(
                "store: clip {i} has {} values, expected {} x {}",
                f.len(),
                c.frames,
                header.n_mels
            )));
        }
        // f16 is two bytes, written in the machine's order: little-endian (open() refuses
        // big-endian machines).
        w.write_all(bytemuck::cast_slice(&f)).map_err(io)?;
    }
    w.flush().map_err(io)?;
    drop(w);
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    Ok(())
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

/// One clip of an open store.
#[derive(Clone, Copy, Debug)]
pub struct ClipRef<'a> {
    pub label: u32,
    pub track_id: u64,
    pub split: Split,
    pub frames: usize,
    /// [`FLAG_PADDED`], [`FLAG_ZEROED`].
    pub flags: u8,
    /// `[frames, n_mels]`, row-major.
    pub features: &'a [f16],
}

/// A memory-mapped feature store.
pub struct FeatureStore {
    map: memmap2::Mmap,
    header: StoreHeader,
    records: Vec<ClipRecord>,
    splits: Vec<Split>,
    config_hash: u64,
    data_off: usize,
}

impl std::fmt::Debug for FeatureStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeatureStore")
            .field("clips", &self.records.len())
            .field("n_mels", &self.header.n_mels)
            .field("classes", &self.header.class_names)
            .finish()
    }
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

impl FeatureStore {
    /// Opens and validates a store (every table entry is checked against the data section).
    pub fn open(path: &Path) -> Result<FeatureStore> {
        if cfg!(target_endian = "big") {
            return Err(Error::Unsupported(
                "feature stores are little-endian".into(),
            ));
        }
        let bad = |m: String| Error::Format(format!("{}: {m}", path.display()));
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        if file.metadata().is_ok_and(|m| m.is_dir()) {
            return Err(bad("a directory, not a feature store file".into()));
        }
        // SAFETY: the mapping is read-only. recaux never writes a store in place (it writes a
        // new file and renames it), so the mapped inode does not change under us; another
        // program truncating the file would be outside this contract.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        let b: &[u8] = &map;
        if b.len() < PREAMBLE || &b[..8] != MAGIC {
            return Err(bad("not a recaux feature store (bad magic)".into()));
        }
        let version = u32::from_le_bytes([b[8], b[9], b[10], b[11]]);
        if version != VERSION {
            return Err(bad(format!(
                "store version {version}, this recaux reads {VERSION}"
            )));
        }
        let (hlen, n, table_off, data_off, data_len) = (
            u64_at(b, 16) as usize,
            u64_at(b, 24) as usize,
            u64_at(b, 32) as usize,
            u64_at(b, 40) as usize,
            u64_at(b, 48) as usize,
        );
        let rec = std::mem::size_of::<ClipRecord>();
        let table_end = n.checked_mul(rec).and_then(|x| x.checked_add(table_off));
        let data_end = data_len
            .checked_mul(2)
            .and_then(|x| x.checked_add(data_off));
        let fits = PREAMBLE + hlen <= table_off
            && table_off % 64 == 0
            && data_off % 64 == 0
            && table_end.is_some_and(|e| e <= data_off)
            && data_end.is_some_and(|e| e <= b.len());
        if !fits {
            return Err(bad("truncated or inconsistent layout".into()));
        }
        let raw: serde_json::Value = serde_json::from_slice(&b[PREAMBLE..PREAMBLE + hlen])
            .map_err(|e| bad(format!("header: {e}")))?;
        // Stores made before the resampler was a setting used a resampler recaux no longer has
        // (rubato's FFT); their header lacks the field, which would read as the default.
        if raw["feature_config"].get("resampler").is_none() {
            return Err(bad(
                "made before the feature settings recorded the resampler: prepare it again".into(),
            ));
        }
        let header: StoreHeader =
            serde_json::from_value(raw).map_err(|e| bad(format!("header: {e}")))?;
        // Copied out of the map (32 bytes a clip) so no alignment assumption is needed.
        let records: Vec<ClipRecord> = b[table_off..table_off + n * rec]
            .chunks_exact(rec)
            .map(bytemuck::pod_read_unaligned)
            .collect();
        let config_hash = u64::from_str_radix(&header.config_hash, 16)
            .map_err(|_| bad(format!("config hash `{}` is not hex", header.config_hash)))?;
        if header.names.len() != n {
            return Err(bad(format!("{} names for {n} clips", header.names.len())));
        }
        let mut splits = Vec::with_capacity(n);
        for (i, r) in records.iter().enumerate() {
            let end = (r.frames as u64)
                .checked_mul(header.n_mels as u64)
                .and_then(|x| x.checked_add(r.offset));
            if end.is_none_or(|e| e > data_len as u64) {
                return Err(bad(format!("clip {i} lies outside the data section")));
            }
            if r.label as usize >= header.class_names.len() {
                return Err(bad(format!(
                    "clip {i} has label {} of {} classes",
                    r.label,
                    header.class_names.len()
                )));
            }
            splits.push(Split::from_code(r.split).map_err(|e| bad(format!("clip {i}: {e}")))?);
        }
        Ok(FeatureStore {
            map,
            header,
            records,
            splits,
            config_hash,
            data_off,
        })
    }

    /// Number of clips.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the store holds no clip.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Mel bands per frame.
    pub fn n_mels(&self) -> usize {
        self.header.n_mels
    }

    /// Class names, indexed by label.
    pub fn class_names(&self) -> &[String] {
        &self.header.class_names
    }

    /// The feature config hash ([`super::hash::config_hash`]).
    pub fn config_hash(&self) -> u64 {
        self.config_hash
    }

    /// The store's identity: XXH64 of the whole file's bytes ([`super::hash::xxh64`]). Two
    /// stores with the same hash hold the same clips, labels, splits and features. Reads the
    /// whole file (several GB/s once it is in the page cache).
    pub fn content_hash(&self) -> u64 {
        super::hash::xxh64(&self.map)
    }

    /// The whole header (feature config, split method, source, clip names).
    pub fn header(&self) -> &StoreHeader {
        &self.header
    }

    /// Store indices of the clips in `split`, ascending.
    pub fn indices(&self, split: Split) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.splits[i] == split)
            .collect()
    }

    /// Clip `i`; an error if `i >= len()`.
    pub fn clip(&self, i: usize) -> Result<ClipRef<'_>> {
        let r = self
            .records
            .get(i)
            .ok_or_else(|| Error::Data(format!("clip {i} of a store with {} clips", self.len())))?;
        let start = self.data_off + 2 * r.offset as usize;
        let bytes = &self.map[start..start + 2 * r.frames as usize * self.header.n_mels];
        let features: &[f16] = bytemuck::try_cast_slice(bytes)
            .map_err(|e| Error::Format(format!("store clip {i}: {e:?}")))?;
        Ok(ClipRef {
            label: r.label,
            track_id: r.track_id,
            split: self.splits[i],
            frames: r.frames as usize,
            flags: r.flags,
            features,
        })
    }

    /// Label of clip `i` (panics if out of range, like slice indexing).
    pub fn label(&self, i: usize) -> u32 {
        self.records[i].label
    }

    /// Track id of clip `i` (panics if out of range).
    pub fn track_id(&self, i: usize) -> u64 {
        self.records[i].track_id
    }

    /// Split of clip `i` (panics if out of range).
    pub fn split(&self, i: usize) -> Split {
        self.splits[i]
    }

    /// Frames of clip `i` (panics if out of range).
    pub fn frames(&self, i: usize) -> usize {
        self.records[i].frames as usize
    }

    /// Name of clip `i` (panics if out of range).
    pub fn name(&self, i: usize) -> &str {
        &self.header.names[i]
    }
}
