//! Decoding an audio file (mp3, wav, flac, ogg/vorbis, through symphonia) to mono f32 at the
//! file's own sample rate, and classifying every failure into a [`ClipError`].
//!
//! Mono is the mean of the channels, summed in channel order in f32 and divided by the channel
//! count, which is what numpy's `mean(axis=0)` in `librosa.load` computes. MP3 encoder delay and
//! padding are trimmed from the LAME/Xing header (symphonia's gapless mode, as ffmpeg and
//! mpg123 do), so a 30 s FMA clip gives 1321967 samples. Decoded samples are not clamped (an
//! mp3 can overshoot full scale; libsndfile/mpg123, which librosa reads through, keep the
//! overshoot too). A packet that fails to decode in the middle of a stream (e.g. mp3
//! `main_data_begin` after a cut) is skipped and counted.

use super::ClipError;
use crate::limits;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use symphonia::core::audio::{Audio, GenericAudioBufferRef};
use symphonia::core::codecs::CodecParameters;
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::formats::probe::Hint;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

/// A decoded file: mono samples at the file's rate.
#[derive(Clone, Debug)]
pub struct Decoded {
    /// Mono samples in [-1, 1] (integer PCM is scaled by 1/2^(bits-1), like libsndfile).
    pub samples: Vec<f32>,
    /// Sample rate of the file, Hz.
    pub sample_rate: u32,
    /// Channels in the file before the mono mix.
    pub channels: usize,
    /// Packets that failed to decode and were skipped.
    pub skipped_packets: usize,
}

/// Decode `path` to mono f32 at its own rate.
///
/// Errors: [`ClipError::Missing`] (no such file), [`ClipError::NoAudio`] (empty file, ID3 tag
/// only, a container without samples), [`ClipError::NotAudio`] (no known format),
/// [`ClipError::Decode`] (the stream is recognised but nothing decodes, headers are cut short,
/// or an I/O failure). Known limit (symphonia's ogg reader, 0.5 and 0.6.1): an ogg file cut in the
/// middle of a page fails at open with "end of stream" instead of giving its first part.
///
/// Header fields are checked against [`crate::limits`] before symphonia sees the file (a WAV
/// `fmt ` chunk's sample rate and channel count) and after it parsed them (every format's
/// track parameters): a rate outside [`limits::SAMPLE_RATE_RANGE`], more than
/// [`limits::MAX_CHANNELS`] channels or more than [`limits::MAX_AUDIO_SAMPLES`] samples is a
/// [`ClipError::Decode`] naming the field. A panic inside the decoder is caught and reported
/// the same way.
pub fn decode_mono(path: &Path) -> Result<Decoded, ClipError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ClipError::Missing),
        Err(e) => return Err(ClipError::Decode(format!("cannot open: {e}"))),
    };
    let meta = file.metadata().ok();
    if meta.as_ref().is_some_and(|m| m.is_dir()) {
        return Err(ClipError::NotAudio("a directory, not a file".into()));
    }
    let len = meta.map(|m| m.len()).unwrap_or(0);
    if len == 0 {
        return Err(ClipError::NoAudio("empty file".into()));
    }
    check_wav_header(path)?;
    catch_decoder_panic(|| decode_file(path, file, len))
}

/// Run a decoder; a panic inside it becomes `ClipError::Decode("decoder panicked: ...")`.
pub fn catch_decoder_panic<T>(f: impl FnOnce() -> Result<T, ClipError>) -> Result<T, ClipError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(ClipError::Decode(format!("decoder panicked: {msg}")))
    })
}

/// A sample rate and channel count from a header, checked against the limits.
fn check_format(rate: Option<u32>, channels: Option<usize>) -> Result<(), ClipError> {
    let (lo, hi) = limits::SAMPLE_RATE_RANGE;
    if let Some(r) = rate
        && !(lo..=hi).contains(&r)
    {
        return Err(ClipError::Decode(format!(
            "sample rate {r} Hz in the header is outside the supported {lo}..={hi} Hz"
        )));
    }
    if let Some(c) = channels
        && !(1..=limits::MAX_CHANNELS).contains(&c)
    {
        return Err(ClipError::Decode(format!(
            "{c} channels in the header, supported: 1..={}",
            limits::MAX_CHANNELS
        )));
    }
    Ok(())
}

/// A RIFF/WAVE file's `fmt ` chunk, read from the first 64 KiB: its sample rate and channel
/// count must be within the limits (symphonia's WAV reader panics on a zero rate and plans
/// buffers from the rate it is given). Other files pass unchecked here.
fn check_wav_header(path: &Path) -> Result<(), ClipError> {
    let mut head = Vec::with_capacity(1 << 16);
    let read = File::open(path).and_then(|f| f.take(1 << 16).read_to_end(&mut head));
    if read.is_err() || head.len() < 12 || &head[0..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return Ok(());
    }
    let mut at = 12usize;
    while at + 8 <= head.len() {
        let id = &head[at..at + 4];
        let size = u32::from_le_bytes([head[at + 4], head[at + 5], head[at + 6], head[at + 7]]);
        let body = at + 8;
        if id == b"fmt " {
            if body + 8 > head.len() {
                return Err(ClipError::Decode("truncated WAV fmt chunk".into()));
            }
            let channels = u16::from_le_bytes([head[body + 2], head[body + 3]]);
            let rate = u32::from_le_bytes([
                head[body + 4],
                head[body + 5],
                head[body + 6],
                head[body + 7],
            ]);
            return check_format(Some(rate), Some(channels as usize));
        }
        // chunks are padded to an even length
        at = body.saturating_add(size as usize + (size as usize & 1));
    }
    Ok(())
}

fn decode_file(path: &Path, file: File, len: u64) -> Result<Decoded, ClipError> {
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let probed = match symphonia::default::get_probe().probe(
        &hint,
        mss,
        FormatOptions::default(),
        MetadataOptions::default(),
    ) {
        Ok(p) => p,
        Err(e) => return Err(classify_probe_failure(path, len, &e)),
    };
    let mut format = probed;
    let (track_id, params, n_frames) = format
        .tracks()
        .iter()
        .find_map(|t| match &t.codec_params {
            Some(CodecParameters::Audio(p)) => Some((t.id, p.clone(), t.num_frames)),
            _ => None,
        })
        .ok_or_else(|| ClipError::NoAudio("no audio track".into()))?;
    check_format(
        params.sample_rate,
        params.channels.as_ref().map(|c| c.count()),
    )?;
    // Gapless (the default): encoder delay and padding are trimmed.
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|e| ClipError::NotAudio(format!("unsupported codec: {e}")))?;
    let mut sample_rate = params.sample_rate.unwrap_or(0);
    let mut channels = 0usize;
    let mut samples: Vec<f32> = Vec::with_capacity(n_frames.map_or(0, |n| n.min(1 << 26) as usize));
    let mut skipped = 0usize;
    let mut first_error: Option<String> = None;
    let mut convert_buf: Vec<Vec<f32>> = Vec::new();

    loop {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            // A chained stream (new logical bitstream): keep what we have.
            Err(SymError::ResetRequired) => break,
            Err(e) => {
                // A broken container past this point: keep what decoded so far.
                first_error.get_or_insert_with(|| e.to_string());
                break;
            }
        };
        if packet.track_id != track_id {
            continue;
        }
        match decoder.decode(&packet) {
            Ok(buf) => {
                let spec = buf.spec();
                check_format(Some(spec.rate()), Some(spec.channels().count()))?;
                if sample_rate == 0 {
                    sample_rate = spec.rate();
                }
                channels = spec.channels().count();
                if samples.len() + buf.frames() > limits::MAX_AUDIO_SAMPLES {
                    return Err(ClipError::Decode(format!(
                        "more than {} samples ({:.1} hours at {sample_rate} Hz): above the \
                         limit for one file",
                        limits::MAX_AUDIO_SAMPLES,
                        limits::MAX_AUDIO_SAMPLES as f64 / f64::from(sample_rate.max(1)) / 3600.0
                    )));
                }
                mix_to_mono(&buf, &mut convert_buf, &mut samples);
            }
            Err(SymError::DecodeError(m)) => {
                skipped += 1;
                first_error.get_or_insert_with(|| format!("malformed stream: {m}"));
            }
            Err(SymError::IoError(e)) => {
                skipped += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
            Err(e) => {
                first_error.get_or_insert_with(|| e.to_string());
                break;
            }
        }
    }
    if samples.is_empty() {
        return Err(match first_error {
            Some(m) => ClipError::Decode(m),
            None => ClipError::NoAudio("the stream holds no samples".into()),
        });
    }
    if sample_rate == 0 {
        return Err(ClipError::Decode("unknown sample rate".into()));
    }
    Ok(Decoded {
        samples,
        sample_rate,
        channels,
        skipped_packets: skipped,
    })
}

/// Append the mean of the channels of `buf` to `out`.
fn mix_to_mono(
    buf: &GenericAudioBufferRef<'_>,
    convert_buf: &mut Vec<Vec<f32>>,
    out: &mut Vec<f32>,
) {
    match buf {
        GenericAudioBufferRef::F32(b) => {
            let planes: Vec<&[f32]> = b.iter_planes().collect();
            mean_planes(&planes, out);
        }
        other => {
            other.copy_to_vecs_planar::<f32>(convert_buf);
            let planes: Vec<&[f32]> = convert_buf.iter().map(Vec::as_slice).collect();
            mean_planes(&planes, out);
        }
    }
}

fn mean_planes(planes: &[&[f32]], out: &mut Vec<f32>) {
    match planes {
        [] => {}
        [m] => out.extend_from_slice(m),
        [l, r] => out.extend(l.iter().zip(r.iter()).map(|(a, b)| (a + b) / 2.0)),
        many => {
            let n = many.len() as f32;
            let start = out.len();
            out.extend_from_slice(many[0]);
            for p in &many[1..] {
                for (o, s) in out[start..].iter_mut().zip(p.iter()) {
                    *o += s;
                }
            }
            for o in &mut out[start..] {
                *o /= n;
            }
        }
    }
}

/// Tell an ID3-only file (no audio after the tag) apart from a file in no known format.
fn classify_probe_failure(path: &Path, len: u64, e: &SymError) -> ClipError {
    let mut head = [0u8; 10];
    let id3_len = File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .ok()
        .and_then(|_| id3v2_total_len(&head));
    match id3_len {
        Some(tag) if tag + 128 >= len => {
            ClipError::NoAudio(format!("ID3 tag only ({len} bytes, tag {tag} bytes)"))
        }
        Some(_) => ClipError::Decode(format!("ID3 tag then no decodable audio: {e}")),
        // A format was recognised but its headers are cut short.
        None if matches!(e, SymError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof) => {
            ClipError::Decode(format!("truncated file: {e}"))
        }
        None => ClipError::NotAudio(e.to_string()),
    }
}

/// Total size in bytes of an ID3v2 tag whose 10-byte header is `h` (header, body, footer).
fn id3v2_total_len(h: &[u8; 10]) -> Option<u64> {
    if &h[0..3] != b"ID3" || h[6..10].iter().any(|b| b & 0x80 != 0) {
        return None;
    }
    let body = h[6..10]
        .iter()
        .fold(0u64, |acc, b| (acc << 7) | u64::from(*b));
    let footer = if h[5] & 0x10 != 0 { 10 } else { 0 };
    Some(10 + body + footer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id3_header_size_is_syncsafe() {
        // 0x00 0x00 0x02 0x01 syncsafe = 2*128 + 1 = 257 body bytes, plus the 10-byte header.
        let h = *b"ID3\x04\x00\x00\x00\x00\x02\x01";
        assert_eq!(id3v2_total_len(&h), Some(267));
        let with_footer = *b"ID3\x04\x00\x10\x00\x00\x02\x01";
        assert_eq!(id3v2_total_len(&with_footer), Some(277));
        assert_eq!(id3v2_total_len(b"RIFF\x00\x00\x00\x00\x00\x00"), None);
    }
}
