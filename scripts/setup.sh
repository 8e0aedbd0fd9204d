#!/usr/bin/env bash
# Creates ./.venv (Python >= 3.11) and installs mmsearch with its test/dev extras. Safe to re-run.
# PYTHON picks the interpreter (default python3). pip resolves torch>=2.8 to your platform's build;
# on a GPU machine that is the CUDA build, on others the CPU one.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'
echo "setup: $(.venv/bin/python -c 'import torch, transformers; print(f"torch {torch.__version__}, transformers {transformers.__version__}")')"
