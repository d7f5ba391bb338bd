//! CSV manifest: rows `path,label[,split]`, paths relative to the CSV's folder (absolute paths
//! are kept). An optional first row `path,label[,split]` (case-insensitive) is a header. The
//! split column, when present, must be set on every row (train/training, val/valid/validation,
//! test) and is the `official` split. Track ids are row positions (0-based, data rows only).

use super::{Dataset, RawItem, Split};
use crate::error::{Error, Result};
use std::io::Read;
use std::path::Path;

/// Parses a manifest from a reader; `base` is the folder relative paths start from.
pub fn parse<R: Read>(reader: R, base: &Path) -> Result<Dataset> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(reader);
    let mut raw = Vec::new();
    let mut with_split: Option<bool> = None;
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| Error::Format(format!("manifest: {e}")))?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        if rec.iter().all(|f| f.is_empty()) {
            continue;
        }
        if i == 0 && rec.get(0).is_some_and(|f| f.eq_ignore_ascii_case("path")) {
            continue;
        }
        if rec.len() < 2 || rec.len() > 3 {
            return Err(Error::Format(format!(
                "manifest line {line}: expected `path,label[,split]`, found {} field(s)",
                rec.len()
            )));
        }
        let (path, label) = (&rec[0], &rec[1]);
        if path.is_empty() || label.is_empty() {
            return Err(Error::Format(format!(
                "manifest line {line}: empty path or label"
            )));
        }
        let split_field = rec.get(2).filter(|s| !s.is_empty());
        let has = split_field.is_some();
        if *with_split.get_or_insert(has) != has {
            return Err(Error::Format(format!(
                "manifest line {line}: the split column must be set on every row or on none"
            )));
        }
        let official = match split_field {
            None => None,
            Some(s) => Some(Split::parse(s).ok_or_else(|| {
                Error::Format(format!(
                    "manifest line {line}: split `{s}` is not train, validation or test"
                ))
            })?),
        };
        raw.push(RawItem {
            track_id: raw.len() as u64,
            name: path.to_string(),
            path: base.join(path),
            class: label.to_string(),
            official,
        });
    }
    Dataset::from_raw(raw, Vec::new())
}

/// Reads the manifest at `path`.
pub fn load(path: &Path) -> Result<Dataset> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse(std::io::BufReader::new(f), base)
}
