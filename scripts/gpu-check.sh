#!/usr/bin/env bash
# Runs on a GPU host (NVIDIA driver, compute-sanitizer, Python with PyTorch; no Rust) over the
# folder that scripts/gpu-build.sh made: `bash gpu-bundle/gpu-check.sh OUTDIR`. It runs:
#   recaux info; every GPU test executable; recaux gradcheck --backend cuda;
#   recaux bench --backend cuda at the seed's shape (batch 32, 512 frames) with 1 and 8
#   replicas in every precision (f32, tf32, f16, bf16), with a per-kernel profile (--profile);
#   the PyTorch/cuDNN baseline at its defaults (bench/torch_gpu_step.py): 1 model, 8 models one
#   after another, and 8 models as 8 concurrent processes on the card;
#   compute-sanitizer memcheck, racecheck, initcheck and synccheck over training steps of a
#   small shape in f32 (per-step kernels) and bf16 (persistent kernels, tensor-core GEMMs).
# Full logs go to OUTDIR; one summary table is printed last, with the ratios against the goals
# of issue 10. Exit status: 0 only when the preflight found a usable GPU and compute-sanitizer,
# and every test, gradcheck and sanitizer run passed: a test that printed a SKIP line (e.g.
# `SKIP cuda: ...`) or left tests ignored counts as a failure, since here it would mean the GPU
# path did not run. Benchmarks are reported against the goals, not judged in the exit status.
# SANITIZER (default: compute-sanitizer on PATH) and PYTHON may be set.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${1:?usage: gpu-check.sh OUTDIR}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
PY="${PYTHON:-python3}"
REPLICAS=(1 8)
PRECISIONS=(f32 tf32 f16 bf16)
SANITIZER="${SANITIZER:-compute-sanitizer}"
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

cd "$HERE" || exit 1
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
    run "$name" 420 "$t" --nocapture --test-threads=4
    ROWS+=("$(basename "$t")|$RESULT")
    [[ $RESULT == PASS ]] || FAILED=1
done

run gradcheck_cuda 120 ./recaux gradcheck --backend cuda
ROWS+=("gradcheck --backend cuda|$RESULT")
[[ $RESULT == PASS ]] || FAILED=1

# compute-sanitizer over a few training steps of a small shape: both recurrences (per-step at
# f32, persistent at bf16) and both GEMM paths. Missing compute-sanitizer is a failure.
if command -v "$SANITIZER" >/dev/null 2>&1; then
    for tool in memcheck racecheck initcheck synccheck; do
        for q in f32 bf16; do
            run "sanitize_${tool}_$q" 300 "$SANITIZER" --tool "$tool" --error-exitcode 3 \
                ./recaux bench --backend cuda --precision "$q" --batch 20 --seq 6 --replicas 2 \
                --hidden 32 --warmup 0 --steps 1
            ROWS+=("compute-sanitizer $tool $q|$RESULT")
            [[ $RESULT == PASS ]] || FAILED=1
        done
    done
else
    ROWS+=("compute-sanitizer|FAIL(not found: $SANITIZER)")
    FAILED=1
fi

# recaux: every precision at M=1 and M=8, each with its per-kernel profile.
declare -A RECAUX_MS
for q in "${PRECISIONS[@]}"; do
    for m in "${REPLICAS[@]}"; do
        run "bench_cuda_${q}_m$m" 150 ./recaux bench --backend cuda --precision "$q" --profile \
            --batch 32 --seq 512 --replicas "$m" --profile-out "$OUT/profile_cuda_${q}_m$m"
        ROWS+=("bench cuda $q M=$m|$RESULT")
        RECAUX_MS[$q,$m]="$(grep -o 'median_ms_per_step: [0-9.]*' "$OUT/bench_cuda_${q}_m$m.log" | tail -n1 | cut -d' ' -f2)"
    done
done

# PyTorch + cuDNN at its defaults: M=1, M=8 one after another, M=8 as 8 concurrent processes
# (the slowest process's median step is the time the 8 models took together).
declare -A TORCH_MS
if [[ -f bench/torch_gpu_step.py ]]; then
    for m in "${REPLICAS[@]}"; do
        run "torch_gpu_m$m" 150 "$PY" bench/torch_gpu_step.py --batch 32 --seq 512 --replicas "$m"
        ROWS+=("torch gpu M=$m sequential|$RESULT")
        TORCH_MS[$m]="$(grep -o 'torch_gpu_ms_per_step_median: [0-9.]*' "$OUT/torch_gpu_m$m.log" | tail -n1 | cut -d' ' -f2)"
    done
    t0=$SECONDS
    pids=()
    for k in 0 1 2 3 4 5 6 7; do
        timeout 300 "$PY" bench/torch_gpu_step.py --batch 32 --seq 512 --replicas 1 \
            >"$OUT/torch_gpu_concurrent_$k.log" 2>&1 &
        pids+=("$!")
    done
    conc_fail=0
    for p in "${pids[@]}"; do wait "$p" || conc_fail=1; done
    echo "[$(date -u +%H:%M:%S)] torch_gpu_concurrent: 8 processes ($((SECONDS - t0))s)" >&2
    TORCH_MS[conc]="$(cat "$OUT"/torch_gpu_concurrent_*.log | grep -o 'torch_gpu_ms_per_step_median: [0-9.]*' | cut -d' ' -f2 | sort -g | tail -n1)"
    n_ok="$(cat "$OUT"/torch_gpu_concurrent_*.log | grep -c 'torch_gpu_ms_per_step_median')"
    if [[ $conc_fail == 0 && $n_ok == 8 ]]; then
        ROWS+=("torch gpu M=8 concurrent processes|PASS")
    else
        ROWS+=("torch gpu M=8 concurrent processes|FAIL($n_ok of 8 reported)")
    fi
else
    ROWS+=("torch baseline|FAIL(bench/torch_gpu_step.py missing)")
fi

# ratio A B: A / B to 3 decimals, or - when either is missing.
ratio() {
    if [[ -n ${1:-} && -n ${2:-} ]]; then
        awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }'
    else
        echo "-"
    fi
}
# meets VALUE LIMIT: yes / NO / -.
meets() {
    if [[ $1 == - ]]; then echo "-"; else awk -v r="$1" -v l="$2" 'BEGIN { print (r <= l) ? "yes" : "NO" }'; fi
}

{
    echo
    echo "==== gpu-check summary ($(date -u +%Y-%m-%dT%H:%M:%SZ), logs in $OUT)"
    printf '%-40s %s\n' "check" "verdict"
    for r in "${ROWS[@]}"; do printf '%-40s %s\n' "${r%%|*}" "${r#*|}"; done
    echo
    echo "PyTorch + cuDNN (defaults), ms per step: M=1 ${TORCH_MS[1]:--}, M=8 sequential ${TORCH_MS[8]:--}, M=8 as 8 concurrent processes ${TORCH_MS[conc]:--}"
    echo "goals: G1 ours(M=1) / torch(M=1) <= 0.333; G2a ours(M=8) / ours(M=1) <= 1.3; G2b ours(M=8) / torch(M=8 sequential) <= 0.125"
    printf '%-6s %10s %10s %8s %5s %8s %5s %8s %5s %12s\n' "prec" "M=1 ms" "M=8 ms" "G1" "ok" "G2a" "ok" "G2b" "ok" "vs conc."
    for q in "${PRECISIONS[@]}"; do
        a="${RECAUX_MS[$q,1]:-}"; b="${RECAUX_MS[$q,8]:-}"
        g1="$(ratio "$a" "${TORCH_MS[1]:-}")"
        g2a="$(ratio "$b" "$a")"
        g2b="$(ratio "$b" "${TORCH_MS[8]:-}")"
        gc="$(ratio "$b" "${TORCH_MS[conc]:-}")"
        printf '%-6s %10s %10s %8s %5s %8s %5s %8s %5s %12s\n' "$q" "${a:--}" "${b:--}" \
            "$g1" "$(meets "$g1" 0.333)" "$g2a" "$(meets "$g2a" 1.3)" "$g2b" "$(meets "$g2b" 0.125)" "$gc"
    done
    echo "per-kernel profiles: $OUT/profile_cuda_<precision>_m<M>.{json,csv}"
} | tee "$OUT/summary.txt"
exit $FAILED
