#!/usr/bin/env bash
# Create .venv-torch/ in the repo root (git-ignored) with the pinned PyTorch, numpy and
# safetensors from PyPI that the fixture and baseline scripts need:
#   scripts/ref/torch_fixtures.py, scripts/bench/torch_cpu_step.py, scripts/bench/torch_gpu_step.py
#
# Exact versions (the full resolved set, CUDA wheels included) are in
# scripts/ref/requirements-torch.txt. PyPI's Linux torch wheel brings its CUDA libraries
# (a multi-GB venv); it runs on the CPU too. Idempotent: when the venv already holds the
# pinned set (a stamp of the requirements file) it only checks the imports and exits.
#
# Usage: scripts/ref/setup-torch-venv.sh        (PYTHON=python3.11 to pick the interpreter)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="$root/.venv-torch"
req="$root/scripts/ref/requirements-torch.txt"
stamp="$venv/.requirements-torch.sha256"
python="${PYTHON:-python3}"

want="$(sha256sum "$req" | cut -d' ' -f1)"
check='import torch, numpy, safetensors; print("torch", torch.__version__, "numpy", numpy.__version__, "safetensors", safetensors.__version__)'

if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    if "$venv/bin/python" -c "$check"; then
        echo "setup-torch-venv: $venv is up to date"
        exit 0
    fi
    echo "setup-torch-venv: $venv is broken; reinstalling" >&2
fi

if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
rm -f "$stamp"
"$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$req"
"$venv/bin/python" -c "$check"
echo "$want" > "$stamp"
echo "setup-torch-venv: ready: $venv"
