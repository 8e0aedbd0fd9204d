#!/usr/bin/env bash
# The test command (README and CI): install into ./.venv, lint (ruff, mypy), then run the whole suite.
# Tests build tiny random Qwen3-VL models offline (scripts/make_tiny_models.py); no weights are downloaded.
# The browser test needs Debian's chromium, the OCR tests Tesseract's English data: both installed here
# when we are root (or have sudo); without them those tests skip locally and fail under CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# transformers 5.24.0 (inside 5.10-5.24, which wrap a whole video in an extra pair of vision markers) beside
# .venv's own, for the subprocess test in tests/index/test_official_golden.py (--no-deps: .venv's hub and
# tokenizers serve it). Without it that test skips locally and fails under CI=true.
[ -d .cache/transformers-5.24.0/transformers ] || .venv/bin/python -m pip install --quiet --no-deps \
    --target .cache/transformers-5.24.0 transformers==5.24.0 ||
    echo "test: could not install transformers 5.24.0 into .cache/; its test will skip" >&2
# The generated-client tests (tests/api/test_openapi.py), apart from .venv: openapi-python-client 0.29.1
# (it pins httpx<0.29 and typer<0.28, below .venv's) with the generated client's python-dateutil, and
# openapi-typescript with TypeScript 5 (npm). Without them those two tests skip locally and fail under CI=true.
[ -d .cache/openapi-python-client-0.29.1/openapi_python_client ] || .venv/bin/python -m pip install --quiet \
    --target .cache/openapi-python-client-0.29.1 openapi-python-client==0.29.1 python-dateutil==2.9.0.post0 ||
    echo "test: could not install openapi-python-client into .cache/; its test will skip" >&2
[ -x .cache/openapi-typescript-7.13.0/node_modules/.bin/tsc ] || npm install --silent --no-audit --no-fund \
    --prefix .cache/openapi-typescript-7.13.0 openapi-typescript@7.13.0 typescript@5.9.3 ||
    echo "test: could not install openapi-typescript and typescript (npm) into .cache/; its test will skip" >&2
if ! bash scripts/install_chromium.sh; then
    if [ -n "${CI:-}" ]; then
        echo "test: chromium is required in CI" >&2
        exit 1
    fi
    echo "test: no chromium; the browser test will be skipped" >&2
fi
if ! bash scripts/install_tesseract.sh; then
    if [ -n "${CI:-}" ]; then
        echo "test: Tesseract (tesseract-ocr-eng) is required in CI" >&2
        exit 1
    fi
    echo "test: no Tesseract; the OCR tests will be skipped" >&2
fi
export HF_HUB_OFFLINE=1
if [ "$#" -eq 0 ]; then  # the full run also checks style and types (a subset run goes straight to pytest)
    .venv/bin/ruff check .
    .venv/bin/ruff format --check .
    .venv/bin/mypy mmsearch tests bench scripts
fi
exec .venv/bin/python -m pytest "$@"
