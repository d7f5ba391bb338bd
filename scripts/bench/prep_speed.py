#!/usr/bin/env python3
"""Helper of prep_speed.sh: `make DIR N` writes N 30 s 44.1 kHz stereo mp3 clips (lame -b 320,
like FMA's) from generated signals; `time DIR RES [REPS]` times librosa's preparation of each
clip on one core (load(sr=16000, res_type=RES) + melspectrogram(n_mels=128) +
power_to_db(ref=max)), after one warm-up pass, and prints the mean ms per clip."""
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def make(d, n):
    import soundfile as sf
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(7)
    sr, dur = 44100, 30.0
    t = np.arange(int(sr * dur)) / sr
    for i in range(n):
        out = os.path.join(d, f"{i:06d}.mp3")
        if os.path.exists(out):
            continue
        chans = []
        for c in range(2):
            f0 = 110 * 2 ** (rng.integers(0, 24) / 12)
            y = np.zeros_like(t)
            for h in range(1, 10):
                y += 0.2 / h * np.sin(2 * np.pi * f0 * h * t * (1 + 0.001 * c) + rng.uniform(0, 6.28))
            y *= 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.5, 4) * t)
            y += 0.05 * rng.standard_normal(len(t))
            chans.append(np.clip(y, -0.99, 0.99))
        with tempfile.TemporaryDirectory() as td:
            wav = os.path.join(td, "a.wav")
            sf.write(wav, np.stack(chans, axis=1), sr, subtype="PCM_16")
            subprocess.run(["lame", "--quiet", "-b", "320", wav, out], check=True)
    print(f"{n} clips in {d}")


def timeit(d, res_type, reps):
    import librosa
    files = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".mp3"))

    def prep(f):
        y, _ = librosa.load(f, sr=16000, res_type=res_type)
        S = librosa.feature.melspectrogram(y=y, sr=16000, n_mels=128)
        return librosa.power_to_db(S, ref=np.max)

    for f in files:  # warm-up: imports, numba/caches, page cache
        prep(f)
    t0 = time.perf_counter()
    c0 = time.process_time()
    for _ in range(reps):
        for f in files:
            prep(f)
    n = reps * len(files)
    ms = (time.perf_counter() - t0) * 1e3 / n
    cpu = (time.process_time() - c0) * 1e3 / n
    print(f"librosa_ms_per_clip {ms:.3f} cpu_ms_per_clip {cpu:.3f} clips {n} librosa {librosa.__version__} res_type {res_type}")


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], int(sys.argv[3]))
    else:
        timeit(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 3)
