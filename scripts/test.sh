#!/usr/bin/env bash
# The test command (README and CI): install into ./.venv, then run the whole suite.
# Tests build tiny random Qwen3-VL models offline (scripts/make_tiny_models.py); no weights are downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
exec .venv/bin/python -m pytest "$@"
