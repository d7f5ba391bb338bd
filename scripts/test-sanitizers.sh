#!/usr/bin/env bash
# Runs the kernels on the emu backend under ThreadSanitizer and AddressSanitizer, and proves
# that each sanitizer catches what it should: the deliberately broken kernels of kernels/buggy/
# (a missing __syncthreads under TSan, an off-by-one read/write under ASan) MUST be reported.
#
# Uses the normal target dir: switching RECAUX_EMU_SANITIZE re-runs build.rs and rebuilds the
# recaux crate only (dependencies are reused). Exit status 0 only if the clean runs are clean
# and both broken kernels are caught.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

fail() { echo "test-sanitizers: FAIL: $*" >&2; exit 1; }

test_binary() {
    # The emu_sanitize test executable that the last `cargo test --no-run` built.
    cargo test --release --test emu_sanitize --no-run --message-format=json 2>/dev/null |
        python3 -c 'import json,sys
for l in sys.stdin:
    try: m=json.loads(l)
    except Exception: continue
    if m.get("reason")=="compiler-artifact" and m.get("target",{}).get("name")=="emu_sanitize" and m.get("executable"): print(m["executable"])' | tail -n1
}

# Some kernels map memory where TSan does not expect it under high ASLR entropy; running
# without address randomisation avoids "unexpected memory mapping" aborts of gcc 12's TSan.
norand() { if setarch "$(uname -m)" -R true 2>/dev/null; then setarch "$(uname -m)" -R "$@"; else "$@"; fi; }

run_expect() { # name expected_rc pattern cmd...
    local name="$1" want="$2" pat="$3"; shift 3
    local log; log="$(mktemp)"
    set +e; norand "$@" >"$log" 2>&1; local rc=$?; set -e
    if [[ "$rc" != "$want" ]] || ! grep -q -- "$pat" "$log"; then
        tail -n 40 "$log" >&2
        fail "$name: exit $rc (want $want), pattern '$pat' $(grep -q -- "$pat" "$log" && echo found || echo missing)"
    fi
    echo "ok: $name (exit $rc, '$pat')"
    rm -f "$log"
}

export TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1"
export ASAN_OPTIONS="halt_on_error=1 exitcode=67 detect_leaks=0 verify_asan_link_order=0"

for san in thread address; do
    echo "== emu kernels under -fsanitize=$san"
    RECAUX_EMU_SANITIZE=$san cargo test --release --test emu_sanitize --no-run
    BIN="$(RECAUX_EMU_SANITIZE=$san test_binary)"
    [[ -x "$BIN" ]] || fail "no emu_sanitize test binary found"
    run_expect "all kernels, $san, clean" 0 "emu_sanitize: all kernels ran" "$BIN"
    if [[ $san == thread ]]; then
        run_expect "racy kernel caught by TSan" 66 "data race" "$BIN" --buggy-race
    else
        run_expect "out-of-bounds kernel caught by ASan" 67 "heap-buffer-overflow" "$BIN" --buggy-oob
    fi
done
echo "test-sanitizers: all checks passed"
