#!/usr/bin/env bash
# Per-clip feature preparation time on ONE core: recaux (decode + resample + crop/pad + log-mel,
# `recaux mel --time`) against librosa 0.11 (load(sr=16000, res_type=RES) + melspectrogram +
# power_to_db, warm), with the same resampler on both sides, on the same 30 s 44.1 kHz stereo
# 320 kbit/s mp3 clips made by lame from generated signals. The two are timed alternately,
# ROUNDS times, and every round prints its ratio (side by side in one run: both see the same
# machine load). Needs: .venv-librosa (scripts/ref/setup_librosa_venv.sh), lame
# (apt-get install lame).
# Usage: scripts/bench/prep_speed.sh [DIR=/tmp/recaux-prep-bench] [N=8] [RES=kaiser_best] [ROUNDS=3]
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${1:-/tmp/recaux-prep-bench}
N=${2:-8}
RES=${3:-kaiser_best}
ROUNDS=${4:-3}
PY=.venv-librosa/bin/python
$PY scripts/bench/prep_speed.py make "$DIR" "$N"
cargo build --release --quiet
export RAYON_NUM_THREADS=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1
echo "machine: $(getconf _NPROCESSORS_ONLN) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
# CPU time (user + system of the process) is the fair measure on a shared machine; wall time
# is printed too and agrees with it only when core 0 is otherwise idle.
for r in $(seq 1 "$ROUNDS"); do
  lib=$(taskset -c 0 $PY scripts/bench/prep_speed.py time "$DIR" "$RES" 2)
  rec=$(taskset -c 0 target/release/recaux mel --resampler "$RES" --time 2 "$DIR"/*.mp3)
  echo "round $r: $lib"
  echo "round $r: $rec"
  for col in 2:wall 4:cpu; do
    i=${col%%:*}; name=${col##*:}
    awk -v a="$(echo "$lib" | awk -v i=$i '{print $i}')" -v b="$(echo "$rec" | awk -v i=$i '{print $i}')" -v n=$name -v r=$r -v res="$RES" \
      'BEGIN { printf "round %d: recaux/librosa %s time per clip, one core, %s: %.3f (%.1f ms vs %.1f ms)\n", r, n, res, b / a, b, a }'
  done
done
