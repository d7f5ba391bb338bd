#!/usr/bin/env bash
# Side by side on this machine: recaux's CPU training step and PyTorch's CPU twin
# (scripts/bench/torch_cpu_step.py), same shape, one after the other, then their ratio.
# Needs .venv-torch (scripts/ref/setup-torch-venv.sh). Usage: cpu_vs_torch.sh [BATCH] [SEQ] [STEPS]
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-32}; T=${2:-512}; N=${3:-5}
PY=${PYTHON:-.venv-torch/bin/python}
[ -x "$PY" ] || { echo "no $PY: run scripts/ref/setup-torch-venv.sh first" >&2; exit 2; }
cargo build --release --quiet
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
r=$(./target/release/recaux bench --backend cpu --batch "$B" --seq "$T" --steps "$N" --warmup 2 2>/dev/null)
echo "$r"
t=$("$PY" scripts/bench/torch_cpu_step.py --batch "$B" --seq "$T" --steps "$N" --warmup 2)
echo "$t"
rm=$(echo "$r" | awk '/^median_ms_per_step:/ {print $2}')
tm=$(echo "$t" | awk '/^torch_cpu_ms_per_step_median:/ {print $2}')
echo "recaux_cpu_ms: $rm  torch_cpu_ms: $tm  ratio recaux/torch: $(awk -v a="$rm" -v b="$tm" 'BEGIN {printf "%.2f", a/b}')"
