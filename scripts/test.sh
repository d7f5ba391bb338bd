#!/usr/bin/env bash
# The project's test command (README): every test, CPU and emu, then the emu kernels under
# ThreadSanitizer and AddressSanitizer when the sanitizer script is present. No GPU needed:
# tests of the cuda backend print why they skip.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --all-targets
if [ -f scripts/test-sanitizers.sh ]; then
  bash scripts/test-sanitizers.sh
fi
