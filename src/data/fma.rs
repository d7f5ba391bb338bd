//! FMA: `fma_metadata/tracks.csv` and the audio tree `{id[:3]}/{id:06}.<ext>`.
//!
//! tracks.csv was written by pandas from a frame with two-level columns, so it has three
//! header lines: the group (`album`, `artist`, `set`, `track`), the field, and
//! `track_id,,,...`. Field names repeat across groups (`title`, `comments`, ...), so columns
//! are looked up by (group, field). Text fields may hold quoted newlines and doubled quotes;
//! the `csv` crate parses them (a record may span several lines).
//!
//! Subsets are nested (small ⊂ medium ⊂ large) and `(set, subset)` holds the smallest one a
//! track belongs to, so `--subset medium` takes the small and medium rows. The label is
//! `(track, genre_top)`; rows without one (possible outside `small`) are left out and counted.
//! The official split is `(set, split)`: training / validation / test.

use super::{AUDIO_EXTENSIONS, Dataset, RawItem, Split};
use crate::error::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

/// FMA's nested subsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Subset {
    Small,
    Medium,
    Large,
}

impl Subset {
    /// `small`, `medium` or `large`.
    pub fn parse(s: &str) -> Option<Subset> {
        match s.trim().to_ascii_lowercase().as_str() {
            "small" => Some(Subset::Small),
            "medium" => Some(Subset::Medium),
            "large" | "full" => Some(Subset::Large),
            _ => None,
        }
    }

    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Subset::Small => "small",
            Subset::Medium => "medium",
            Subset::Large => "large",
        }
    }
}

/// One data row of tracks.csv, the columns recaux uses.
#[derive(Clone, Debug, PartialEq)]
pub struct Track {
    /// Column 0.
    pub id: u64,
    /// (set, subset): the smallest subset holding the track; `None` if empty or unknown.
    pub subset: Option<Subset>,
    /// (set, split).
    pub split: Option<Split>,
    /// (track, genre_top); `None` when empty.
    pub genre_top: Option<String>,
}

/// The column positions of the fields recaux needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Columns {
    pub subset: usize,
    pub split: usize,
    pub genre_top: usize,
}

/// Finds the column whose (group, field) header is given.
pub fn find_column(
    groups: &csv::StringRecord,
    fields: &csv::StringRecord,
    group: &str,
    field: &str,
) -> Option<usize> {
    (0..groups.len().min(fields.len())).find(|&i| &groups[i] == group && &fields[i] == field)
}

/// Parses tracks.csv from any reader. Errors name the record (1-based line where it starts).
pub fn parse_tracks<R: Read>(reader: R) -> Result<Vec<Track>> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(reader);
    let mut records = rdr.records();
    let mut header = |what: &str| -> Result<csv::StringRecord> {
        match records.next() {
            Some(Ok(r)) => Ok(r),
            Some(Err(e)) => Err(Error::Format(format!(
                "tracks.csv: {what} header line: {e}"
            ))),
            None => Err(Error::Format(format!(
                "tracks.csv: missing the {what} header line"
            ))),
        }
    };
    let groups = header("group")?;
    let fields = header("field")?;
    let third = header("third (track_id)")?;
    if third.get(0) != Some("track_id") {
        return Err(Error::Format(format!(
            "tracks.csv: the third header line should start with `track_id`, found `{}` \
             (is this FMA's tracks.csv with its three header lines?)",
            third.get(0).unwrap_or("")
        )));
    }
    let col = |g: &str, f: &str| {
        find_column(&groups, &fields, g, f)
            .ok_or_else(|| Error::Format(format!("tracks.csv: no column ({g}, {f}) in the header")))
    };
    let cols = Columns {
        subset: col("set", "subset")?,
        split: col("set", "split")?,
        genre_top: col("track", "genre_top")?,
    };
    let ncol = groups.len();
    let mut out = Vec::new();
    for rec in records {
        let rec = rec.map_err(|e| Error::Format(format!("tracks.csv: {e}")))?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        if rec.len() == 1 && rec[0].trim().is_empty() {
            continue; // a blank line
        }
        if rec.len() != ncol {
            return Err(Error::Format(format!(
                "tracks.csv line {line}: {} fields, the header has {ncol}",
                rec.len()
            )));
        }
        let id: u64 = rec[0].trim().parse().map_err(|_| {
            Error::Format(format!(
                "tracks.csv line {line}: track_id `{}` is not a number",
                &rec[0]
            ))
        })?;
        let genre = rec[cols.genre_top].trim();
        out.push(Track {
            id,
            subset: Subset::parse(&rec[cols.subset]),
            split: Split::parse(&rec[cols.split]),
            genre_top: (!genre.is_empty()).then(|| genre.to_string()),
        });
    }
    Ok(out)
}

/// Reads and parses `path` (tracks.csv).
pub fn read_tracks(path: &Path) -> Result<Vec<Track>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    parse_tracks(std::io::BufReader::new(f))
}

/// `{id:06}`, FMA's file stem.
pub fn track_stem(id: u64) -> String {
    format!("{id:06}")
}

/// The folder and stem of a track's audio, `{id[:3]}/{id:06}` (without extension), under
/// `audio_dir`.
pub fn track_base(audio_dir: &Path, id: u64) -> PathBuf {
    let stem = track_stem(id);
    audio_dir.join(&stem[..3]).join(stem)
}

/// The track's audio file: the first of `{id[:3]}/{id:06}.{mp3,wav,flac,ogg}` that exists;
/// if none does, the `.mp3` path (prepare then reports the file as missing).
pub fn track_audio_path(audio_dir: &Path, id: u64) -> PathBuf {
    let base = track_base(audio_dir, id);
    for ext in AUDIO_EXTENSIONS {
        let p = base.with_extension(ext);
        if p.is_file() {
            return p;
        }
    }
    base.with_extension(AUDIO_EXTENSIONS[0])
}

/// Selects a subset's labelled tracks into a [`Dataset`] (tracks.csv order). `audio_dir` is the
/// folder holding `000/`, `001/`, ... (e.g. `fma_small`).
pub fn dataset_from_tracks(tracks: &[Track], subset: Subset, audio_dir: &Path) -> Result<Dataset> {
    let mut raw = Vec::new();
    let mut no_genre = 0usize;
    for t in tracks {
        match t.subset {
            Some(s) if s <= subset => {}
            _ => continue,
        }
        let Some(genre) = &t.genre_top else {
            no_genre += 1;
            continue;
        };
        raw.push(RawItem {
            track_id: t.id,
            name: track_stem(t.id),
            path: track_audio_path(audio_dir, t.id),
            class: genre.clone(),
            official: t.split,
        });
    }
    if raw.is_empty() {
        return Err(Error::Data(format!(
            "tracks.csv has no track with a genre_top in subset `{}`",
            subset.name()
        )));
    }
    let mut notes = Vec::new();
    if no_genre > 0 {
        notes.push(format!(
            "{no_genre} track(s) of subset `{}` have no genre_top and were left out",
            subset.name()
        ));
    }
    Dataset::from_raw(raw, notes)
}

/// Loads FMA: `meta_dir/tracks.csv` and the audio under `audio_dir`.
pub fn load(audio_dir: &Path, meta_dir: &Path, subset: Subset) -> Result<Dataset> {
    if !audio_dir.is_dir() {
        return Err(Error::Data(format!(
            "FMA audio folder {} does not exist",
            audio_dir.display()
        )));
    }
    let tracks = read_tracks(&meta_dir.join("tracks.csv"))?;
    dataset_from_tracks(&tracks, subset, audio_dir)
}
