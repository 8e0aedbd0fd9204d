#!/usr/bin/env bash
# Creates ./.venv (Python >= 3.11) and installs mmsearch with its test/dev extras at the tested versions
# pinned in constraints.txt (refreshed by scripts/refresh_pins.sh). Safe to re-run: a venv whose packages
# drifted is brought back to the pins. PYTHON picks the interpreter (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -c constraints.txt -e '.[dev]'
echo "setup: $(.venv/bin/python -c 'import torch, transformers; print(f"torch {torch.__version__}, transformers {transformers.__version__}")')"
