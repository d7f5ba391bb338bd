//! A minimal WAV writer (RIFF, PCM 16-bit little-endian), for the synthetic dataset. Decoding
//! is the audio side's job (`crate::audio`).

use crate::error::{Error, Result};
use std::path::Path;

/// The bytes of a WAV file holding `samples` (interleaved if `channels > 1`), each in [-1, 1]
/// (values outside are clipped), quantised to 16 bits by rounding.
pub fn wav_bytes(samples: &[f32], sample_rate: u32, channels: u16) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let block_align = channels * 2;
    let mut b = Vec::with_capacity(44 + samples.len() * 2);
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVE");
    b.extend_from_slice(b"fmt ");
    b.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    b.extend_from_slice(&1u16.to_le_bytes()); // PCM
    b.extend_from_slice(&channels.to_le_bytes());
    b.extend_from_slice(&sample_rate.to_le_bytes());
    b.extend_from_slice(&(sample_rate * block_align as u32).to_le_bytes()); // byte rate
    b.extend_from_slice(&block_align.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    for &s in samples {
        let q = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
        b.extend_from_slice(&q.to_le_bytes());
    }
    b
}

/// Writes a 16-bit PCM WAV file (see [`wav_bytes`]).
pub fn write_wav(path: &Path, samples: &[f32], sample_rate: u32, channels: u16) -> Result<()> {
    if channels == 0 || !samples.len().is_multiple_of(channels as usize) {
        return Err(Error::shape(format!(
            "wav: {} samples do not fill {channels} channel(s)",
            samples.len()
        )));
    }
    std::fs::write(path, wav_bytes(samples, sample_rate, channels)).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_follow_the_riff_spec() {
        let b = wav_bytes(&[0.0, 1.0, -1.0, 0.5, 2.0], 22050, 1);
        assert_eq!(b.len(), 44 + 10);
        assert_eq!(&b[0..4], b"RIFF");
        assert_eq!(u32::from_le_bytes(b[4..8].try_into().unwrap()), 36 + 10);
        assert_eq!(&b[8..16], b"WAVEfmt ");
        assert_eq!(u32::from_le_bytes(b[24..28].try_into().unwrap()), 22050);
        assert_eq!(u32::from_le_bytes(b[28..32].try_into().unwrap()), 44100);
        assert_eq!(&b[36..40], b"data");
        let s: Vec<i16> = b[44..]
            .chunks(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect();
        // 0.5 * 32767 = 16383.5 rounds away from zero; 2.0 clips to 1.0
        assert_eq!(s, vec![0, 32767, -32767, 16384, 32767]);
    }
}
