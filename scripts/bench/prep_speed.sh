#!/usr/bin/env bash
# Per-clip feature preparation time on ONE core: recaux (decode + resample + crop/pad + log-mel,
# `recaux mel --time`) against librosa 0.11 (load(sr=16000) + melspectrogram + power_to_db,
# warm), on the same 30 s 44.1 kHz stereo 320 kbit/s mp3 clips made by lame from generated
# signals. Needs: .venv-librosa (scripts/ref/setup_librosa_venv.sh), lame (apt-get install lame).
# Usage: scripts/bench/prep_speed.sh [DIR=/tmp/recaux-prep-bench] [N=8]
# Measured 2026-11-28 on the shared 2-core dev VM (load ~15): CPU time per clip recaux 62.9 ms,
# librosa 129.4 ms, ratio 0.486 (wall times are dominated by other jobs there). Profile: mp3
# decoding (symphonia Layer3::decode) is ~63% of recaux's time, resampling ~12%, STFT+mel ~12%.
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${1:-/tmp/recaux-prep-bench}
N=${2:-8}
PY=.venv-librosa/bin/python
$PY scripts/bench/prep_speed.py make "$DIR" "$N"
cargo build --release --quiet
export RAYON_NUM_THREADS=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1
lib=$(taskset -c 0 $PY scripts/bench/prep_speed.py time "$DIR")
echo "$lib"
rec=$(taskset -c 0 target/release/recaux mel --time 3 "$DIR"/*.mp3)
echo "$rec"
# CPU time (user + system of the process) is the fair measure on a shared machine; wall time
# is printed too and agrees with it only when core 0 is otherwise idle.
for col in 2:wall 4:cpu; do
  i=${col%%:*}; name=${col##*:}
  awk -v a="$(echo "$lib" | awk -v i=$i '{print $i}')" -v b="$(echo "$rec" | awk -v i=$i '{print $i}')" -v n=$name \
    'BEGIN { printf "recaux/librosa %s time per clip, one core: %.3f (%.1f ms vs %.1f ms)\n", n, b / a, b, a }'
done
