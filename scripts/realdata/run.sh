#!/usr/bin/env bash
# Real-data learning check: the Free Spoken Digit Dataset (3000 wav recordings, 8 kHz, 10
# digits, 6 speakers), upsampled to 16 kHz like the seed's features, prepared twice (recaux and
# librosa, same settings), each feature set trained with recaux (CPU backend, seeds as replicas
# of one run) and with scripts/ref's PyTorch model (train_torch.py, same protocol), then the
# test accuracies side by side (summarize.py). Speaker-independent split: one speaker is the
# test set, another the validation set, the other four train.
#
# Usage: scripts/realdata/run.sh DATASET [OUT=/tmp/recaux-fsdd]
#   DATASET: a clone of the FSDD repository (holding recordings/<digit>_<speaker>_<n>.wav)
# Settings (environment, defaults): RESAMPLER=kaiser_best SEEDS="0 1 2 3" LAMBDAS=0 EPOCHS=30
#   HIDDEN=64 FC1=64 LR=1e-3 CLIP_SECONDS=1 TEST_SPEAKER=theo VAL_SPEAKER=nicolas
# Needs: .venv-librosa (scripts/ref/setup_librosa_venv.sh), .venv-torch
# (scripts/ref/setup-torch-venv.sh). Everything runs on one thread per process. Reruns reuse
# the stores (delete OUT to start over). Not part of CI (the dataset is not in the repository).
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=$(cd "${1:?usage: scripts/realdata/run.sh DATASET [OUT]}" && pwd)
OUT=${2:-/tmp/recaux-fsdd}
RESAMPLER=${RESAMPLER:-kaiser_best}
SEEDS=${SEEDS:-0 1 2 3}
LAMBDAS=${LAMBDAS:-0}
EPOCHS=${EPOCHS:-30}
HIDDEN=${HIDDEN:-64}
FC1=${FC1:-64}
LR=${LR:-1e-3}
CLIP_SECONDS=${CLIP_SECONDS:-1}
TEST_SPEAKER=${TEST_SPEAKER:-theo}
VAL_SPEAKER=${VAL_SPEAKER:-nicolas}
# Frames per clip: 1 + samples / hop (centred STFT, hop 512 at 16 kHz); the crop is the whole clip.
CROP=$(python3 -c "print(1 + int(round($CLIP_SECONDS * 16000)) // 512)")
export RAYON_NUM_THREADS=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1
mkdir -p "$OUT"
cargo build --release --quiet
REC=target/release/recaux

# 1. Manifest: path,label,split with the split by speaker.
manifest="$OUT/manifest.csv"
ls "$DATA"/recordings/*.wav | awk -F/ -v t="$TEST_SPEAKER" -v v="$VAL_SPEAKER" '{
  n = split($NF, p, "_"); s = (p[2] == t) ? "test" : (p[2] == v) ? "validation" : "train";
  print $0 "," p[1] "," s }' > "$manifest.tmp"
mv "$manifest.tmp" "$manifest"
echo "manifest: $(wc -l < "$manifest") recordings; test speaker $TEST_SPEAKER, validation speaker $VAL_SPEAKER"

# 2. Features: recaux, then librosa on the same clips with the store's settings.
if [[ ! -f "$OUT/recaux.rfs" ]]; then
  $REC prepare --manifest "$manifest" --split official --clip-seconds "$CLIP_SECONDS" \
    --resampler "$RESAMPLER" --quiet --out "$OUT/recaux.rfs"
fi
if [[ ! -f "$OUT/librosa.rfs" ]]; then
  .venv-librosa/bin/python scripts/realdata/librosa_store.py "$OUT/recaux.rfs" "$OUT/librosa.rfs" \
    | tee "$OUT/feature_diff.txt"
fi

# 3. recaux: all seeds (and λ) as replicas of one run per feature set.
for f in recaux librosa; do
  cat > "$OUT/$f.yaml" <<EOF
name: $f
store: $OUT/$f.rfs
out_dir: $OUT/runs
backend: cpu
model: { features: 128, hidden: $HIDDEN, fc1: $FC1, classes: 10, dropout: 0.3 }
sampler: { batch_size: 32, crop_frames: $CROP, eval_crop: full, seed: 1337 }
optim: { epochs: $EPOCHS, lr: $LR, lr_decay: 0.97 }
lambdas: [$(echo $LAMBDAS | tr ' ' ',')]
seeds: [$(echo $SEEDS | tr ' ' ',')]
EOF
  echo "recaux train on $f features ($(date +%T))"
  $REC train --config "$OUT/$f.yaml" > "$OUT/recaux_$f.log" 2>&1
done

# 4. PyTorch: one process per (seed, λ).
for f in recaux librosa; do
  : > "$OUT/torch_$f.jsonl"
  for s in $SEEDS; do
    for l in $LAMBDAS; do
      echo "pytorch on $f features, seed $s, λ $l ($(date +%T))"
      .venv-torch/bin/python scripts/realdata/train_torch.py "$OUT/$f.rfs" --seed "$s" --lambda "$l" \
        --epochs "$EPOCHS" --hidden "$HIDDEN" --fc1 "$FC1" --lr "$LR" --crop "$CROP" >> "$OUT/torch_$f.jsonl"
    done
  done
done

# 5. The table.
cat "$OUT/feature_diff.txt" | tail -1
.venv-librosa/bin/python scripts/realdata/summarize.py "$OUT"
