#!/usr/bin/env python3
"""Golden fixtures for recaux's audio pipeline (tests/audio_golden.rs).

Makes short test signals (tones, chirps, noise, silence, a synthetic music-like clip), writes
them as audio files (wav/flac/ogg by soundfile = libsndfile, mp3 by the `lame` command line
encoder), then writes librosa's features of each file:

    y, _ = librosa.load(path, sr=16000, res_type=RES)         # mono mean, then resampling
    S = librosa.feature.melspectrogram(y=y, sr=16000, n_mels=128, pad_mode=PAD)
    F = ((librosa.power_to_db(S, ref=np.max) + 40) / 40).T   # [frames, 128] float32

- files at 16 kHz (no resampling): `<file>.<PAD>.npy` for PAD in {reflect, constant}
  (librosa 0.11 pads `constant` by default, so the mode is always passed explicitly);
- files at other rates: `<file>.<RES>.reflect.npy` for RES in {kaiser_best, kaiser_fast}
  (resampy, librosa 0.8's default and its fast variant) and soxr_hq (libsoxr, librosa >= 0.10's
  default); for two of them also the resampled signal itself, `<file>.<RES>.y16.npy`;
- `resampy_<filter>.table.npy`: every STRIDE-th value of resampy's published filter table
  (its data/<filter>.npz `half_window`), float64, to check the table recaux computes.

meta.json records every file's native rate, channel count, sample counts and the versions of
everything used; README.md beside the fixtures repeats the versions.

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
import numba
import numpy as np
import resampy
import scipy
import soundfile as sf
import soxr

OUT = os.path.join("tests", "fixtures", "audio")
SR = 16000
PADS = ("reflect", "constant")
RES_TYPES = ("kaiser_best", "kaiser_fast", "soxr_hq")
# Files whose resampled signal is stored too (the others only as features).
SIGNAL_FIXTURES = ("chirp_8k.wav", "music_44100_stereo.flac")
# Table subsampling: every STRIDE-th entry (and the last).
TABLE_STRIDE = {"kaiser_best": 61, "kaiser_fast": 7}


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
            "libsoxr": soxr.__libsoxr_version__,
            "resampy": resampy.__version__,
            "scipy": scipy.__version__,
            "numba": numba.__version__,
            "lame": subprocess.run(["lame", "--version"], capture_output=True, text=True).stdout.splitlines()[0],
        },
        "features": "((power_to_db(melspectrogram(y, sr=16000, n_mels=128, pad_mode=PAD), ref=np.max) + 40) / 40).T, float32, y = load(path, sr=16000, res_type=RES)",
        "res_types": list(RES_TYPES),
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

    # Added after the mp3 so that the random draws of the files above are unchanged.
    extra = {
        # 48 kHz: notes plus a chirp up to 20 kHz (above the 8 kHz target Nyquist).
        "music_48000.wav": (np.clip(music(48000, 2.0, rng, base=247.0) + chirp(48000, 2.0, 200, 20000, 0.3), -0.99, 0.99), 48000, "WAV", "PCM_16"),
        # 8 kHz white noise: full energy up to its 4 kHz Nyquist, the bands the issue saw differ.
        "noise_8k.wav": (np.clip(0.3 * rng.standard_normal(2 * 8000), -1, 1), 8000, "WAV", "PCM_16"),
    }
    for name, (y, sr, fmt, sub) in extra.items():
        sf.write(os.path.join(OUT, name), y, sr, format=fmt, subtype=sub)
    signals.update(extra)

    for name, (y, sr, fmt, sub) in signals.items():
        path = os.path.join(OUT, name)
        info = sf.info(path)
        native, nsr = librosa.load(path, sr=None)
        entry = {
            "format": fmt, "subtype": sub, "native_rate": int(nsr),
            "channels": int(info.channels), "native_samples": int(len(native)),
            "source_samples": int(len(y)),
        }
        if nsr == SR:
            y16, _ = librosa.load(path, sr=SR)
            entry["samples_16k"] = int(len(y16))
            for pad in PADS:
                F = features(y16, pad)
                np.save(os.path.join(OUT, f"{name}.{pad}.npy"), F)
                entry[f"frames_{pad}"] = int(F.shape[0])
        else:
            for res in RES_TYPES:
                y16, _ = librosa.load(path, sr=SR, res_type=res)
                entry["samples_16k"] = int(len(y16))
                F = features(y16, "reflect")
                np.save(os.path.join(OUT, f"{name}.{res}.reflect.npy"), F)
                entry["frames_reflect"] = int(F.shape[0])
                if name in SIGNAL_FIXTURES:
                    np.save(os.path.join(OUT, f"{name}.{res}.y16.npy"), y16.astype(np.float32))
        if name.endswith(".mp3"):
            # libsndfile's (mpg123) decode at the native rate, mono mean, for the decoder test.
            np.save(os.path.join(OUT, f"{name}.native.npy"), native.astype(np.float32))
        meta["files"][name] = entry
        print(name, entry)

    for filt, stride in TABLE_STRIDE.items():
        d = np.load(os.path.join(os.path.dirname(resampy.__file__), "data", f"{filt}.npz"))
        hw = d["half_window"]
        idx = np.unique(np.append(np.arange(0, len(hw), stride), len(hw) - 1))
        np.save(os.path.join(OUT, f"resampy_{filt}.table.npy"), hw[idx].astype(np.float64))
        meta[f"resampy_{filt}"] = {
            "table_len": int(len(hw)), "stride": stride, "stored": int(len(idx)),
            "precision": int(d["precision"]), "rolloff": float(d["rolloff"]),
            "file": f"resampy_{filt}.table.npy: half_window[0::{stride}] and its last value",
        }

    # Zero-padding: tone_16k.wav (3 s) padded at its end to 4 s, as recaux's clip_seconds = 4.
    y16, _ = librosa.load(os.path.join(OUT, "tone_16k.wav"), sr=SR)
    np.save(os.path.join(OUT, "tone_16k.wav.pad4s.reflect.npy"), features(np.concatenate([y16, np.zeros(SR, np.float32)]), "reflect"))
    meta["files"]["tone_16k.wav"]["pad4s"] = "tone_16k.wav.pad4s.reflect.npy: y zero-padded at the end to 64000 samples"

    with open(os.path.join(OUT, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write("# Audio fixtures\n\nMade by `scripts/ref/librosa_fixtures.py` (see its docstring for what each file is)"
                " with:\n\n")
        for k, v in sorted(meta["versions"].items()):
            f.write(f"- {k} {v}\n")
        f.write("\nPer-file details (rates, channels, sample and frame counts) are in meta.json.\n")
    total = sum(os.path.getsize(os.path.join(OUT, p)) for p in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files, {total / 1e6:.2f} MB, in {OUT}")


if __name__ == "__main__":
    main()
