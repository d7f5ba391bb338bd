//! Class folders: `DIR/<class name>/<audio files>`.
//!
//! Every visible sub-folder of DIR is a class; its visible files with an audio extension
//! (mp3, wav, flac, ogg; case-insensitive) are the items, sorted by file name. Sub-folders of a
//! class folder are not searched. Other files are counted in the dataset's notes. Track ids are
//! the items' positions in this order; names are the paths relative to DIR.

use super::{Dataset, RawItem, has_audio_extension};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

fn sorted_entries(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut v = Vec::new();
    for e in rd {
        let e = e.map_err(|e| Error::io(dir, e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        v.push((name, e.path()));
    }
    v.sort();
    Ok(v)
}

/// Loads a class-folder dataset.
pub fn load(dir: &Path) -> Result<Dataset> {
    let mut raw = Vec::new();
    let mut ignored = 0usize;
    for (class, cdir) in sorted_entries(dir)? {
        if !cdir.is_dir() {
            continue;
        }
        for (fname, path) in sorted_entries(&cdir)? {
            if !path.is_file() {
                continue;
            }
            if !has_audio_extension(&path) {
                ignored += 1;
                continue;
            }
            raw.push(RawItem {
                track_id: raw.len() as u64,
                name: format!("{class}/{fname}"),
                path,
                class: class.clone(),
                official: None,
            });
        }
    }
    if raw.is_empty() {
        return Err(Error::Data(format!(
            "{}: no audio files in class folders (expected DIR/<class>/<file>.wav|mp3|flac|ogg)",
            dir.display()
        )));
    }
    let mut notes = Vec::new();
    if ignored > 0 {
        notes.push(format!(
            "{ignored} file(s) without an audio extension were ignored"
        ));
    }
    Dataset::from_raw(raw, notes)
}
