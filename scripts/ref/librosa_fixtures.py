#!/usr/bin/env python3
"""Golden fixtures for recaux's audio pipeline (tests/audio_golden.rs).

Makes short test signals (tones, chirps, noise, silence, a synthetic music-like clip), writes
them as audio files (wav/flac/ogg by soundfile = libsndfile, mp3 by the `lame` command line
encoder), then writes librosa's features of each file:

    y, _ = librosa.load(path, sr=16000)                      # mono mean, soxr_hq resampling
    S = librosa.feature.melspectrogram(y=y, sr=16000, n_mels=128, pad_mode=PAD)
    F = ((librosa.power_to_db(S, ref=np.max) + 40) / 40).T   # [frames, 128] float32

as `<file>.<PAD>.npy` for PAD in {reflect, constant} (librosa 0.11 pads `constant` by default,
so the mode is always passed explicitly). meta.json records every file's native rate, channel
count, sample counts and the versions of everything used.

Run from the repository root:
    scripts/ref/setup_librosa_venv.sh            # once: .venv-librosa (PyPI)
    apt-get install -y lame                       # Debian package, for the mp3
    .venv-librosa/bin/python scripts/ref/librosa_fixtures.py
"""
import json
import os
import subprocess
import sys
import tempfile

import librosa
import numpy as np
import soundfile as sf
import soxr

OUT = os.path.join("tests", "fixtures", "audio")
SR = 16000
PADS = ("reflect", "constant")


def chirp(sr, dur, f0, f1, amp, log=True):
    t = np.arange(int(sr * dur)) / sr
    if log:
        k = (f1 / f0) ** (1 / dur)
        phase = 2 * np.pi * f0 * (k ** t - 1) / np.log(k)
    else:
        phase = 2 * np.pi * (f0 * t + (f1 - f0) * t * t / (2 * dur))
    return amp * np.sin(phase)


def music(sr, dur, rng, base=220.0):
    """Notes with harmonics and decaying envelopes plus noise bursts (drum-like)."""
    n = int(sr * dur)
    t = np.arange(n) / sr
    y = np.zeros(n)
    step = 0.25
    notes = [0, 3, 7, 12, 10, 7, 5, 3]
    for i, start in enumerate(np.arange(0, dur, step)):
        f = base * 2 ** (notes[i % len(notes)] / 12)
        m = (t >= start) & (t < start + step * 1.5)
        tt = t[m] - start
        env = np.exp(-tt * 6)
        for h in range(1, 8):
            if f * h < sr / 2:
                y[m] += 0.25 / h * env * np.sin(2 * np.pi * f * h * tt)
        if i % 2 == 0:
            b = (t >= start) & (t < start + 0.05)
            y[b] += 0.3 * rng.standard_normal(b.sum()) * np.exp(-(t[b] - start) * 60)
    return np.clip(y, -0.99, 0.99)


def features(y, pad, extra=None):
    S = librosa.feature.melspectrogram(y=y, sr=SR, n_mels=128, pad_mode=pad)
    return np.ascontiguousarray(((librosa.power_to_db(S, ref=np.max) + 40) / 40).T, dtype=np.float32)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20261128)
    t16 = np.arange(3 * SR) / SR
    signals = {
        # name: (samples [n] or [n, ch], rate, format, subtype)
        "tone_16k.wav": (0.5 * np.sin(2 * np.pi * 440 * t16) + 0.25 * np.sin(2 * np.pi * 1000 * t16), SR, "WAV", "PCM_16"),
        "chirp_16k.wav": (chirp(SR, 3.0, 60, 7500, 0.6), SR, "WAV", "PCM_16"),
        "noise_16k.wav": (np.clip(0.25 * rng.standard_normal(2 * SR), -1, 1), SR, "WAV", "PCM_16"),
        "silence_16k.wav": (np.zeros(2 * SR), SR, "WAV", "PCM_16"),
        "music_16k.flac": (music(SR, 4.0, rng), SR, "FLAC", "PCM_16"),
        "chirp_8k.wav": (chirp(8000, 2.0, 100, 3900, 0.5, log=False), 8000, "WAV", "PCM_16"),
        "music_22050.ogg": (music(22050, 3.0, rng, base=330.0), 22050, "OGG", "VORBIS"),
        "music_44100_stereo.flac": (
            np.stack([music(44100, 2.0, rng), chirp(44100, 2.0, 80, 15000, 0.4)], axis=1),
            44100, "FLAC", "PCM_16"),
    }
    meta = {
        "made_by": "scripts/ref/librosa_fixtures.py",
        "versions": {
            "python": sys.version.split()[0],
            "librosa": librosa.__version__,
            "numpy": np.__version__,
            "soundfile": sf.__version__,
            "libsndfile": sf.__libsndfile_version__,
            "soxr": soxr.__version__,
            "lame": subprocess.run(["lame", "--version"], capture_output=True, text=True).stdout.splitlines()[0],
        },
        "features": "((power_to_db(melspectrogram(y, sr=16000, n_mels=128, pad_mode=PAD), ref=np.max) + 40) / 40).T, float32",
        "files": {},
    }
    for name, (y, sr, fmt, sub) in signals.items():
        sf.write(os.path.join(OUT, name), y, sr, format=fmt, subtype=sub)

    # The mp3: lame from a 44.1 kHz stereo 16-bit wav (CBR 128 kbit/s, joint stereo), the way
    # FMA's clips are 44.1 kHz stereo mp3s with a LAME/Xing header.
    src = np.stack([music(44100, 2.0, rng, base=196.0), music(44100, 2.0, rng, base=262.0)], axis=1)
    with tempfile.TemporaryDirectory() as td:
        wav = os.path.join(td, "src.wav")
        sf.write(wav, src, 44100, subtype="PCM_16")
        subprocess.run(["lame", "--quiet", "-b", "128", wav, os.path.join(OUT, "music_44100_stereo.mp3")], check=True)
    signals["music_44100_stereo.mp3"] = (src, 44100, "MP3", "lame -b 128")

    for name, (y, sr, fmt, sub) in signals.items():
        path = os.path.join(OUT, name)
        info = sf.info(path)
        y16, _ = librosa.load(path, sr=SR)
        native, nsr = librosa.load(path, sr=None)
        entry = {
            "format": fmt, "subtype": sub, "native_rate": int(nsr),
            "channels": int(info.channels), "native_samples": int(len(native)),
            "samples_16k": int(len(y16)), "source_samples": int(len(y)),
        }
        for pad in PADS:
            F = features(y16, pad)
            np.save(os.path.join(OUT, f"{name}.{pad}.npy"), F)
            entry[f"frames_{pad}"] = int(F.shape[0])
        if name.endswith(".mp3"):
            # libsndfile's (mpg123) decode at the native rate, mono mean, for the decoder test.
            np.save(os.path.join(OUT, f"{name}.native.npy"), native.astype(np.float32))
        meta["files"][name] = entry
        print(name, entry)

    # Zero-padding: tone_16k.wav (3 s) padded at its end to 4 s, as recaux's clip_seconds = 4.
    y16, _ = librosa.load(os.path.join(OUT, "tone_16k.wav"), sr=SR)
    np.save(os.path.join(OUT, "tone_16k.wav.pad4s.reflect.npy"), features(np.concatenate([y16, np.zeros(SR, np.float32)]), "reflect"))
    meta["files"]["tone_16k.wav"]["pad4s"] = "tone_16k.wav.pad4s.reflect.npy: y zero-padded at the end to 64000 samples"

    with open(os.path.join(OUT, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
    total = sum(os.path.getsize(os.path.join(OUT, p)) for p in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files, {total / 1e6:.2f} MB, in {OUT}")


if __name__ == "__main__":
    main()
