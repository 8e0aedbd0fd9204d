#!/usr/bin/env bash
# The main job: install, make the sample corpus, ingest it, and run queries end to end on the embedded
# defaults (in-process Qwen3-VL-Embedding-2B + Qwen3-VL-Reranker-2B, embedded Qdrant under ./data/demo).
#
#   bash scripts/demo.sh          real models from the Hugging Face Hub (first run downloads ~9 GB;
#                                 a GPU is used when present, else the CPU — slow but correct)
#   bash scripts/demo.sh --tiny   offline: tiny RANDOM-weight models built locally. Rankings are
#                                 meaningless; this only proves the whole pipeline runs on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export MMSEARCH_DATA_DIR="${MMSEARCH_DATA_DIR:-$PWD/data/demo}"
if [ "${1:-}" = "--tiny" ]; then
    .venv/bin/python scripts/make_tiny_models.py data/tiny-models
    export MMSEARCH_EMBEDDING__MODEL="$PWD/data/tiny-models/embedding"
    export MMSEARCH_RERANKER__MODEL="$PWD/data/tiny-models/reranker"
    export HF_HUB_OFFLINE=1
    echo "demo: using tiny random-weight models from data/tiny-models (scores are meaningless)" >&2
fi
.venv/bin/python -m mmsearch.samples data/samples
.venv/bin/mmsearch ingest data/samples
.venv/bin/mmsearch stats
.venv/bin/mmsearch -v query "quarterly revenue table"
.venv/bin/mmsearch query --image data/samples/photo-landscape.jpg --top-k 3
.venv/bin/mmsearch query "moving coloured block" --filter modality=video --top-k 3 --json
