#!/usr/bin/env bash
# Runs on a GPU host (NVIDIA driver, Python with PyTorch; no Rust) over the folder that
# scripts/gpu-build.sh made: `bash gpu-bundle/gpu-check.sh OUTDIR`. In well under 8 minutes:
#   recaux info; every GPU test executable; recaux gradcheck --backend cuda;
#   recaux bench --backend cuda --profile at the seed's shape (batch 32, 512 frames) with 1 and
#   8 replicas; the PyTorch/cuDNN baseline (bench/torch_gpu_step.py) with the same replicas.
# Full logs go to OUTDIR; one summary table is printed last. Exit status: 0 only when the
# preflight found a usable GPU and every test and gradcheck passed on it: a test that printed
# a SKIP line (e.g. `SKIP cuda: ...`) or left tests ignored counts as a failure, since here it
# would mean the GPU path did not run (benchmarks are reported, not judged).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${1:?usage: gpu-check.sh OUTDIR}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
PY="${PYTHON:-python3}"
REPLICAS=(1 8)
declare -a ROWS
FAILED=0

# run NAME TIMEOUT_S CMD...: log to OUT/NAME.log; echo the verdict.
run() {
    local name="$1" t="$2"; shift 2
    local log="$OUT/$name.log"
    local t0=$SECONDS
    { echo "\$ $*"; timeout "$t" "$@"; } >"$log" 2>&1
    local rc=$?
    local dt=$((SECONDS - t0))
    local verdict=PASS
    if [[ $rc == 124 ]]; then verdict="TIMEOUT(${t}s)"; elif [[ $rc != 0 ]]; then verdict="FAIL(rc=$rc)"; fi
    # A skip on the GPU host means the GPU path did not run: a failure here.
    if [[ $verdict == PASS ]] && grep -q "^SKIP" "$log"; then
        verdict="FAIL(skipped: $(grep -m1 "^SKIP" "$log" | cut -c1-60))"
    fi
    if [[ $verdict == PASS ]] && grep -Eq "test result: .* [1-9][0-9]* ignored" "$log"; then
        verdict="FAIL(tests ignored)"
    fi
    echo "[$(date -u +%H:%M:%S)] $name: $verdict (${dt}s) -> $log" >&2
    RESULT="$verdict"
}

cd "$HERE"
# Preflight: kernels embedded and the cuda backend usable. Without it nothing below would
# test the GPU, so it is a failure (the rest still runs and reports).
run info 60 ./recaux info
cat "$OUT/info.log" >&2
if [[ $RESULT == PASS ]] && ! grep -q "^kernels: embedded" "$OUT/info.log"; then
    RESULT="FAIL(no kernels embedded)"
elif [[ $RESULT == PASS ]] && ! grep -q "^cuda backend: usable" "$OUT/info.log"; then
    RESULT="FAIL(cuda backend not usable: $(grep -m1 -E "^(GPUs|cuda backend):" "$OUT/info.log" | cut -c1-60))"
fi
ROWS+=("preflight (recaux info)|$RESULT")
[[ $RESULT == PASS ]] || FAILED=1

for t in tests/*; do
    [[ -x "$t" ]] || continue
    name="test_$(basename "$t")"
    run "$name" 240 "$t" --nocapture --test-threads=4
    ROWS+=("$(basename "$t")|$RESULT")
    [[ $RESULT == PASS ]] || FAILED=1
done

run gradcheck_cuda 120 ./recaux gradcheck --backend cuda
ROWS+=("gradcheck --backend cuda|$RESULT")
[[ $RESULT == PASS ]] || FAILED=1

declare -A RECAUX_MS TORCH_MS
for m in "${REPLICAS[@]}"; do
    run "bench_cuda_m$m" 150 ./recaux bench --backend cuda --profile --batch 32 --seq 512 \
        --replicas "$m" --profile-out "$OUT/profile_cuda_m$m"
    ROWS+=("bench cuda M=$m|$RESULT")
    RECAUX_MS[$m]="$(grep -o 'median_ms_per_step: [0-9.]*' "$OUT/bench_cuda_m$m.log" | tail -n1 | cut -d' ' -f2)"
    if [[ -f bench/torch_gpu_step.py ]]; then
        run "torch_gpu_m$m" 150 "$PY" bench/torch_gpu_step.py --batch 32 --seq 512 --replicas "$m"
        ROWS+=("torch gpu M=$m|$RESULT")
        TORCH_MS[$m]="$(grep -o 'torch_gpu_ms_per_step_median: [0-9.]*' "$OUT/torch_gpu_m$m.log" | tail -n1 | cut -d' ' -f2)"
    fi
done

{
    echo
    echo "==== gpu-check summary ($(date -u +%Y-%m-%dT%H:%M:%SZ), logs in $OUT)"
    printf '%-34s %s\n' "check" "verdict"
    for r in "${ROWS[@]}"; do printf '%-34s %s\n' "${r%%|*}" "${r#*|}"; done
    echo
    printf '%-10s %16s %16s %14s\n' "replicas" "recaux ms/step" "torch ms/step" "recaux/torch"
    for m in "${REPLICAS[@]}"; do
        a="${RECAUX_MS[$m]:-}"; b="${TORCH_MS[$m]:-}"
        ratio="-"
        if [[ -n $a && -n $b ]]; then ratio="$(awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"; fi
        printf '%-10s %16s %16s %14s\n' "$m" "${a:--}" "${b:--}" "$ratio"
    done
} | tee "$OUT/summary.txt"
exit $FAILED
