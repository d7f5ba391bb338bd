#!/usr/bin/env bash
# Builds, on a CPU machine of the GPU host's architecture, everything a GPU host without Rust
# needs, into the git-ignored folder gpu-bundle/ (kept under 60 MiB):
#   recaux                 the release binary (kernels embedded)
#   tests/<name>           the GPU test executables (tests/gpu_*.rs and tests/ops/: every op
#                          on cuda and emu), built with --release
#   gpu-check.sh           the runner (scripts/gpu-check.sh)
#   bench/*.py             the PyTorch baseline (scripts/bench/torch_gpu_step.py and its helper)
# nvcc comes from scripts/install-nvcc.sh (CUDA 13.0 wheels) unless NVCC/CUDA_HOME point to one.
# Then copy gpu-bundle/ to the GPU host and run `bash gpu-bundle/gpu-check.sh OUTDIR` there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUNDLE="$ROOT/gpu-bundle"

if [[ -z "${NVCC:-}" && -z "${CUDA_HOME:-}" && -z "${CUDA_PATH:-}" ]] && ! command -v nvcc >/dev/null; then
    bash scripts/install-nvcc.sh >/dev/null
fi

cargo build --release --bin recaux
if ! ./target/release/recaux info | grep -q "^kernels: embedded"; then
    ./target/release/recaux info | head -n 3 >&2
    echo "gpu-build.sh: the release binary has no embedded kernels (nvcc missing?)" >&2
    exit 1
fi

TESTS=(--test ops)
for f in tests/gpu_*.rs; do TESTS+=(--test "$(basename "$f" .rs)"); done
mapfile -t EXES < <(cargo test --release --no-run "${TESTS[@]}" --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    try: m=json.loads(l)
    except Exception: continue
    if m.get("reason")=="compiler-artifact" and m.get("executable") and m.get("profile",{}).get("test"):
        print(m["target"]["name"] + "\t" + m["executable"])')
[[ ${#EXES[@]} -gt 0 ]] || { echo "gpu-build.sh: no test executables built" >&2; exit 1; }

rm -rf "$BUNDLE"
mkdir -p "$BUNDLE/tests" "$BUNDLE/bench"
cp target/release/recaux "$BUNDLE/recaux"
for line in "${EXES[@]}"; do
    name="${line%%$'\t'*}"; exe="${line#*$'\t'}"
    cp "$exe" "$BUNDLE/tests/$name"
done
cp scripts/gpu-check.sh "$BUNDLE/gpu-check.sh"
cp scripts/bench/torch_gpu_step.py scripts/bench/torch_cpu_step.py "$BUNDLE/bench/" 2>/dev/null || \
    echo "gpu-build.sh: warning: scripts/bench/torch_*_step.py missing; no PyTorch baseline in the bundle" >&2
# Debug info is not needed on the GPU host; keep the bundle small.
if command -v strip >/dev/null; then strip "$BUNDLE/recaux" "$BUNDLE"/tests/* 2>/dev/null || true; fi
git rev-parse HEAD > "$BUNDLE/COMMIT" 2>/dev/null || true
SIZE_KB=$(du -sk "$BUNDLE" | cut -f1)
echo "gpu-bundle: $(ls "$BUNDLE/tests" | tr '\n' ' ')+ recaux, $((SIZE_KB / 1024)) MiB"
if (( SIZE_KB > 60 * 1024 )); then
    echo "gpu-build.sh: bundle is over 60 MiB" >&2
    exit 1
fi
