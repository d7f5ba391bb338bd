//! TensorBoard scalar sink: an event file that TensorBoard reads, written without TensorFlow.
//!
//! Owns the file format only (plain data in, a file out):
//! - TFRecord framing: `u64 LE length`, `u32 LE masked crc32c(length bytes)`, `data`,
//!   `u32 LE masked crc32c(data)`.
//! - The few protobuf fields used (proto3 wire format, hand-encoded):
//!   `Event { double wall_time = 1; int64 step = 2; oneof what { string file_version = 3;
//!   Summary summary = 5; } }`, `Summary { repeated Value value = 1; }`,
//!   `Value { string tag = 1; oneof value { float simple_value = 2; } }`.
//!
//! Encoding follows what TensorBoard's own Python protobuf code emits (checked byte for byte
//! against `tests/fixtures/tensorboard/scalars.tfevents`): fields in number order,
//! `wall_time` and `step` left out when zero (proto3 implicit presence), `file_version`,
//! `summary` and `simple_value` always written (they sit in a oneof).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::crc32c::masked_crc32c;
use crate::{Error, Result};

/// The first record of every event file names this format version.
pub const FILE_VERSION: &str = "brain.Event:2";

// Protobuf wire types.
const WIRE_VARINT: u32 = 0;
const WIRE_I64: u32 = 1;
const WIRE_LEN: u32 = 2;
const WIRE_I32: u32 = 5;

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn put_key(buf: &mut Vec<u8>, field: u32, wire: u32) {
    put_varint(buf, u64::from((field << 3) | wire));
}

fn put_bytes(buf: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(buf, field, WIRE_LEN);
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// `wall_time` (field 1) and `step` (field 2) of an Event; each left out when zero, as
/// proto3 does (a `-0.0` wall time has a non-zero bit pattern and is written).
fn put_event_header(buf: &mut Vec<u8>, wall_time: f64, step: i64) {
    if wall_time.to_bits() != 0 {
        put_key(buf, 1, WIRE_I64);
        buf.extend_from_slice(&wall_time.to_le_bytes());
    }
    if step != 0 {
        put_key(buf, 2, WIRE_VARINT);
        // int64 is encoded as its two's-complement u64 (negative steps take 10 bytes).
        put_varint(buf, step as u64);
    }
}

/// Serialised `Event { wall_time, file_version: "brain.Event:2" }`: the first record of a file.
pub fn encode_version_event(wall_time: f64) -> Vec<u8> {
    let mut buf = Vec::with_capacity(32);
    put_event_header(&mut buf, wall_time, 0);
    put_bytes(&mut buf, 3, FILE_VERSION.as_bytes());
    buf
}

/// Serialised `Event { wall_time (s since the Unix epoch), step, summary: { value: [{ tag,
/// simple_value: value }] } }`. The tag's length is counted in UTF-8 bytes.
pub fn encode_scalar_event(wall_time: f64, step: i64, tag: &str, value: f32) -> Vec<u8> {
    let mut val = Vec::with_capacity(tag.len() + 8);
    put_bytes(&mut val, 1, tag.as_bytes());
    put_key(&mut val, 2, WIRE_I32);
    val.extend_from_slice(&value.to_le_bytes());

    let mut summary = Vec::with_capacity(val.len() + 4);
    put_bytes(&mut summary, 1, &val);

    let mut buf = Vec::with_capacity(summary.len() + 24);
    put_event_header(&mut buf, wall_time, step);
    put_bytes(&mut buf, 5, &summary);
    buf
}

/// One TFRecord: `len: u64 LE`, `masked_crc32c(len bytes): u32 LE`, `data`,
/// `masked_crc32c(data): u32 LE` (16 bytes of framing around `data`).
pub fn frame_record(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc32c(data).to_le_bytes());
    out
}

/// Seconds since the Unix epoch, as TensorBoard's `wall_time`.
fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The host name for the file name (Linux: /proc; else $HOSTNAME; else "localhost"), with
/// anything but `[A-Za-z0-9._-]` replaced by `_` so it is safe in a file name.
fn hostname() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let name: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() {
        "localhost".to_string()
    } else {
        name
    }
}

/// Appends scalar events to one TensorBoard event file. Buffered: call [`EventWriter::flush`]
/// to make the events visible to a running TensorBoard (dropping the writer also flushes, but
/// ignores errors).
pub struct EventWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl EventWriter {
    /// Creates `dir` if needed and a new file `events.out.tfevents.<unix secs>.<hostname>.recaux`
    /// in it, and writes (and flushes) the file_version record. If that name is taken (two
    /// writers in one second), `.1`, `.2`, ... is appended; TensorBoard reads any file whose
    /// name contains `tfevents`. An existing file is never overwritten.
    pub fn create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let wall_time = now_secs();
        let base = format!(
            "events.out.tfevents.{:010}.{}.recaux",
            wall_time as u64,
            hostname()
        );
        let mut n = 0u32;
        let (path, file) = loop {
            let name = if n == 0 {
                base.clone()
            } else {
                format!("{base}.{n}")
            };
            let path = dir.join(name);
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(f) => break (path, f),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => return Err(Error::io(path, e)),
            }
        };
        let mut w = EventWriter {
            path,
            out: BufWriter::new(file),
        };
        w.write_record(&encode_version_event(wall_time))?;
        w.flush()?;
        Ok(w)
    }

    /// The event file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one scalar event at the current wall time. `value` is stored as f32 (the
    /// protobuf field is a float); NaN and ±inf are written as they are.
    pub fn scalar(&mut self, tag: &str, step: i64, value: f64) -> Result<()> {
        let data = encode_scalar_event(now_secs(), step, tag, value as f32);
        self.write_record(&data)
    }

    /// Writes buffered events to the file.
    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| Error::io(&self.path, e))
    }

    fn write_record(&mut self, data: &[u8]) -> Result<()> {
        self.out
            .write_all(&frame_record(data))
            .map_err(|e| Error::io(&self.path, e))
    }
}
