#!/usr/bin/env python3
"""librosa's features of the clips of a recaux store, written as a second store.

    librosa_store.py RECAUX_STORE OUT_STORE

Reads RECAUX_STORE (made by `recaux prepare --manifest` with absolute paths, so each clip's
name is its audio file), computes each clip with librosa using the store's own feature
settings:

    y, _ = librosa.load(path, sr=sample_rate, res_type=resampler)      # mono mean, resample
    y = crop (start or center) or zero-pad to round(clip_seconds * sample_rate) samples
    S = librosa.feature.melspectrogram(y=y, sr, n_fft, hop_length, n_mels, fmin, fmax,
                                       center, pad_mode, power)
    F = ((power_to_db(S, ref=np.max, amin, top_db) + db_offset) / db_scale).T

and writes OUT_STORE with the same header (split, classes, clip order, settings) and the same
table, only the features replaced. Prints how far the two stores' features are apart
(overall and per mel band). Needs .venv-librosa (scripts/ref/setup_librosa_venv.sh).
"""
import os
import sys
import time

import librosa
import numpy as np
import resampy
import soxr

sys.path.insert(0, os.path.dirname(__file__))
from store_io import read_store, write_store  # noqa: E402


def features(path, c):
    sr = c["sample_rate"]
    y, _ = librosa.load(path, sr=sr, res_type=c["resampler"])
    n = int(round(c["clip_seconds"] * sr))
    if len(y) >= n:
        off = 0 if c["crop"] == "start" else (len(y) - n) // 2
        y = y[off:off + n]
    else:
        y = np.concatenate([y, np.zeros(n - len(y), dtype=y.dtype)])
    S = librosa.feature.melspectrogram(
        y=y, sr=sr, n_fft=c["n_fft"], hop_length=c["hop_length"], n_mels=c["n_mels"],
        fmin=c["fmin"], fmax=c["fmax"], center=c["center"], pad_mode=c["pad_mode"], power=c["power"])
    db = librosa.power_to_db(S, ref=np.max, amin=c["amin"], top_db=c["top_db"])
    return np.ascontiguousarray(((db + c["db_offset"]) / c["db_scale"]).T, dtype=np.float32)


def main():
    src, out = sys.argv[1], sys.argv[2]
    header, records, ours = read_store(src)
    c = header["feature_config"]
    t0 = time.time()
    theirs = []
    for i, name in enumerate(header["names"]):
        theirs.append(features(name, c))
        if (i + 1) % 500 == 0:
            print(f"  librosa: {i + 1}/{len(records)} clips ({time.time() - t0:.0f} s)", flush=True)
    h = dict(header)
    h["source"] = header["source"] + " | features by librosa " + librosa.__version__
    h["created_by"] = (f"scripts/realdata/librosa_store.py: librosa {librosa.__version__}, resampy "
                       f"{resampy.__version__}, soxr {soxr.__version__}, numpy {np.__version__}")
    write_store(out, h, records, theirs)
    # Compare in f16, as both stores hold them.
    a = np.stack([x.astype(np.float16).astype(np.float32) for x in ours])
    b = np.stack([x.astype(np.float16).astype(np.float32) for x in theirs])
    d = np.abs(a - b)
    band = d.max(axis=(0, 1))
    top = np.argsort(band)[::-1][:5]
    print(f"librosa store: {out} ({len(records)} clips, {time.time() - t0:.0f} s)")
    print(f"features recaux vs librosa ({c['resampler']}), f16 as stored: max {d.max():.2e}, "
          f"mean {d.mean():.2e}; largest per-band max: "
          + ", ".join(f"band {k} {band[k]:.1e}" for k in top))


if __name__ == "__main__":
    main()
