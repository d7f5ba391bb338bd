//! The per-clip cache beside a store (`<store>.cache/`): what makes a re-run of prepare skip
//! the clips already done.
//!
//! `config.json` records the feature config hash the cached clips were made with; a different
//! hash empties the cache (prepare says so). Each clip is one file named by the FNV-1a 64 of
//! its source path, holding the path, the source file's size and content hash (XXH64 of its
//! bytes: a source whose content changed is recomputed, whatever its size and modification
//! time), the clip's shape and flags, and its f16 features:
//! ```text
//! "RXCLIP02", path length u32, path bytes, source size u64, source XXH64 u64,
//! frames u32, n_mels u32, padded u8, source seconds f64, [frames * n_mels] f16
//! ```
//! Files of the older format (`RXCLIP01`, keyed by modification time) are not trusted: their
//! clips are recomputed.
//! Files are written to a temporary name and renamed, so an interrupted run leaves no half
//! clip. Failures are not cached: a bad file is tried again on the next run.

use super::hash::fnv1a64;
use crate::error::{Error, Result};
use half::f16;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"RXCLIP02";

/// What the cache held when opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CacheState {
    /// No cache existed.
    New,
    /// A cache with the same config hash.
    Same,
    /// A cache made with another config (its hash, if readable): emptied.
    Changed(Option<u64>),
}

/// A source file's identity: its size and the XXH64 of its content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SourceStamp {
    pub size: u64,
    pub xxh64: u64,
}

impl SourceStamp {
    /// The stamp of a regular file (`None` for anything else or an unreadable file).
    pub fn of(path: &Path) -> Option<SourceStamp> {
        let m = std::fs::metadata(path).ok()?;
        if !m.is_file() {
            return None;
        }
        Some(SourceStamp {
            size: m.len(),
            xxh64: super::hash::file_xxh64(path).ok()?,
        })
    }
}

/// A cached clip's description (without its features).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ClipMeta {
    pub frames: usize,
    pub n_mels: usize,
    pub padded: bool,
    pub source_seconds: f64,
}

pub(crate) struct Cache {
    dir: PathBuf,
    /// Makes temporary names unique when one source is listed twice.
    tmp_counter: std::sync::atomic::AtomicU64,
}

fn cache_dir(store: &Path) -> PathBuf {
    let mut s = store.as_os_str().to_owned();
    s.push(".cache");
    PathBuf::from(s)
}

impl Cache {
    /// Opens (creating if needed) the cache of `store` for config hash `hash`; empties it if
    /// it was made with another config.
    pub fn open(store: &Path, config_json: &str, hash: u64) -> Result<(Cache, CacheState)> {
        let dir = cache_dir(store);
        let cfg_path = dir.join("config.json");
        let foreign = dir.is_dir()
            && !cfg_path.is_file()
            && std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some());
        if foreign {
            return Err(Error::Data(format!(
                "{}: a folder that is not a prepare cache (no config.json); refusing to empty it",
                dir.display()
            )));
        }
        let state = if !dir.exists() {
            CacheState::New
        } else {
            let old = std::fs::read_to_string(&cfg_path)
                .ok()
                .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
                .and_then(|v| v.get("config_hash")?.as_str().map(str::to_string))
                .and_then(|h| u64::from_str_radix(&h, 16).ok());
            if old == Some(hash) {
                CacheState::Same
            } else {
                CacheState::Changed(old)
            }
        };
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        // Leftovers of an interrupted run (*.tmp) always go; clips go when the config changed.
        let changed = matches!(state, CacheState::Changed(_));
        for e in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            let p = e.map_err(|e| Error::io(&dir, e))?.path();
            let ours = p
                .extension()
                .is_some_and(|x| x == "tmp" || (changed && x == "clip"));
            if ours {
                std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
            }
        }
        if state != CacheState::Same {
            let body =
                format!("{{\"config_hash\":\"{hash:016x}\",\"feature_config\":{config_json}}}\n");
            std::fs::write(&cfg_path, body).map_err(|e| Error::io(&cfg_path, e))?;
        }
        Ok((
            Cache {
                dir,
                tmp_counter: std::sync::atomic::AtomicU64::new(0),
            },
            state,
        ))
    }

    fn file(&self, src: &Path) -> PathBuf {
        let key = fnv1a64(src.as_os_str().as_encoded_bytes());
        self.dir.join(format!("{key:016x}.clip"))
    }

    fn read_head(r: &mut impl Read, src: &Path, stamp: SourceStamp) -> Option<ClipMeta> {
        let mut magic = [0u8; 8];
        r.read_exact(&mut magic).ok()?;
        if &magic != MAGIC {
            return None;
        }
        let mut u4 = [0u8; 4];
        let mut u8b = [0u8; 8];
        r.read_exact(&mut u4).ok()?;
        let plen = u32::from_le_bytes(u4) as usize;
        if plen > 1 << 16 {
            return None;
        }
        let mut p = vec![0u8; plen];
        r.read_exact(&mut p).ok()?;
        if p != src.as_os_str().as_encoded_bytes() {
            return None;
        }
        r.read_exact(&mut u8b).ok()?;
        let size = u64::from_le_bytes(u8b);
        r.read_exact(&mut u8b).ok()?;
        let xxh64 = u64::from_le_bytes(u8b);
        if (SourceStamp { size, xxh64 }) != stamp {
            return None;
        }
        r.read_exact(&mut u4).ok()?;
        let frames = u32::from_le_bytes(u4) as usize;
        r.read_exact(&mut u4).ok()?;
        let n_mels = u32::from_le_bytes(u4) as usize;
        let mut flag = [0u8; 1];
        r.read_exact(&mut flag).ok()?;
        r.read_exact(&mut u8b).ok()?;
        Some(ClipMeta {
            frames,
            n_mels,
            padded: flag[0] != 0,
            source_seconds: f64::from_le_bytes(u8b),
        })
    }

    /// The cached clip of `src` if present, complete and made from the same source file.
    pub fn meta(&self, src: &Path, stamp: SourceStamp) -> Option<ClipMeta> {
        let path = self.file(src);
        let f = std::fs::File::open(&path).ok()?;
        let len = f.metadata().ok()?.len();
        let mut r = std::io::BufReader::with_capacity(4096, f);
        let m = Self::read_head(&mut r, src, stamp)?;
        let head = 8 + 4 + src.as_os_str().len() as u64 + 8 + 8 + 4 + 4 + 1 + 8;
        (len == head + 2 * (m.frames * m.n_mels) as u64).then_some(m)
    }

    /// The features of a cached clip, `[frames, n_mels]`.
    pub fn features(&self, src: &Path, stamp: SourceStamp) -> Result<Vec<f16>> {
        let path = self.file(src);
        let bad = || {
            Error::Data(format!(
                "cache file {} changed during prepare",
                path.display()
            ))
        };
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let mut r = &bytes[..];
        let m = Self::read_head(&mut r, src, stamp).ok_or_else(bad)?;
        let n = m.frames * m.n_mels;
        if r.len() != 2 * n {
            return Err(bad());
        }
        Ok(r.chunks_exact(2)
            .map(|c| f16::from_bits(u16::from_le_bytes([c[0], c[1]])))
            .collect())
    }

    /// Stores a clip.
    pub fn put(
        &self,
        src: &Path,
        stamp: SourceStamp,
        m: &ClipMeta,
        features: &[f16],
    ) -> Result<()> {
        let path = self.file(src);
        let n = self
            .tmp_counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = path.with_extension(format!("{n}.tmp"));
        let p = src.as_os_str().as_encoded_bytes();
        let mut buf = Vec::with_capacity(64 + p.len() + 2 * features.len());
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&(p.len() as u32).to_le_bytes());
        buf.extend_from_slice(p);
        buf.extend_from_slice(&stamp.size.to_le_bytes());
        buf.extend_from_slice(&stamp.xxh64.to_le_bytes());
        buf.extend_from_slice(&(m.frames as u32).to_le_bytes());
        buf.extend_from_slice(&(m.n_mels as u32).to_le_bytes());
        buf.push(m.padded as u8);
        buf.extend_from_slice(&m.source_seconds.to_le_bytes());
        for x in features {
            buf.extend_from_slice(&x.to_bits().to_le_bytes());
        }
        let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        f.write_all(&buf).map_err(|e| Error::io(&tmp, e))?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))
    }
}
