#!/usr/bin/env bash
# Create .venv-tb/ in the repo root (git-ignored) with the pinned TensorBoard from PyPI that
# scripts/ref/tensorboard_fixture.py needs (exact set: scripts/ref/requirements-tb.txt).
# Idempotent: when the venv already holds the pinned set (a stamp of the requirements file)
# it only checks the import and exits.
#
# Usage: scripts/ref/setup-tb-venv.sh        (PYTHON=python3.11 to pick the interpreter)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="$root/.venv-tb"
req="$root/scripts/ref/requirements-tb.txt"
stamp="$venv/.requirements-tb.sha256"
python="${PYTHON:-python3}"

want="$(sha256sum "$req" | cut -d' ' -f1)"
check='import tensorboard, google.protobuf; print("tensorboard", tensorboard.__version__, "protobuf", google.protobuf.__version__)'

if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    if "$venv/bin/python" -c "$check"; then
        echo "setup-tb-venv: $venv is up to date"
        exit 0
    fi
    echo "setup-tb-venv: $venv is broken; reinstalling" >&2
fi

if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
rm -f "$stamp"
"$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$req"
"$venv/bin/python" -c "$check"
echo "$want" > "$stamp"
echo "setup-tb-venv: ready: $venv"
