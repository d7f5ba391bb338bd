#!/usr/bin/env bash
# Creates the git-ignored venv .venv-librosa/ (repo root) used by scripts/ref/librosa_fixtures.py
# and scripts/bench/prep_speed.sh: librosa 0.11 + resampy 0.4 (kaiser_best/kaiser_fast) + soundfile + soxr + numpy from PyPI.
# The fixture script also needs `lame` (Debian: apt-get install -y lame) to make the mp3.
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 -m venv .venv-librosa
.venv-librosa/bin/pip install -q 'librosa==0.11.*' 'resampy==0.4.*' soundfile soxr numpy
.venv-librosa/bin/python -c 'import librosa, resampy, soundfile, soxr, numpy; print("librosa", librosa.__version__, "resampy", resampy.__version__, "soundfile", soundfile.__version__, "libsndfile", soundfile.__libsndfile_version__, "soxr", soxr.__version__, "numpy", numpy.__version__)'
