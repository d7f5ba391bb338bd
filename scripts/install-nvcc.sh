#!/usr/bin/env bash
# Installs CUDA 13.0's compiler (nvcc, ptxas, fatbinary, headers) from PyPI's NVIDIA wheels into
# the git-ignored folder .cuda/ at the repo root (a Python venv), so build.rs can compile
# kernels/*.cu on machines without the CUDA toolkit. Idempotent: returns at once when present.
# Prints the nvcc path on its last line.
#
# Pins: 13.0 matches driver 580 on the GPU hosts. nvidia-nvvm is pinned too: newer nvvm emits a
# PTX ISA that ptxas 13.0 rejects.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.cuda"
PKGS=(nvidia-cuda-nvcc==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-cuda-runtime==13.0.96 nvidia-nvvm==13.0.88)
STAMP="$VENV/.recaux-installed"
WANT="${PKGS[*]}"

find_nvcc() {
    ls "$VENV"/lib/python3*/site-packages/nvidia/cu13/bin/nvcc 2>/dev/null | head -n1
}

nvcc_path="$(find_nvcc || true)"
if [[ -n "$nvcc_path" && -x "$nvcc_path" && -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
    echo "nvcc already installed" >&2
    echo "$nvcc_path"
    exit 0
fi

PY="${PYTHON:-python3}"
command -v "$PY" >/dev/null || { echo "install-nvcc.sh: $PY not found (need Python >= 3.8 with venv)" >&2; exit 1; }
if [[ ! -x "$VENV/bin/python" ]]; then
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PKGS[@]}"
nvcc_path="$(find_nvcc || true)"
if [[ -z "$nvcc_path" || ! -x "$nvcc_path" ]]; then
    echo "install-nvcc.sh: wheels installed but no nvcc under $VENV/lib/python3*/site-packages/nvidia/cu13/bin" >&2
    exit 1
fi
echo "$WANT" > "$STAMP"
echo "CUDA_HOME=$(dirname "$(dirname "$nvcc_path")")" >&2
"$nvcc_path" --version | tail -n2 >&2
echo "$nvcc_path"
