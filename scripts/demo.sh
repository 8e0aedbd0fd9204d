#!/usr/bin/env bash
# The main job: install, make the sample corpus, ingest it, and run queries end to end on the embedded
# defaults (in-process Qwen3-VL-Embedding-2B + Qwen3-VL-Reranker-2B, embedded Qdrant under ./data/demo).
# The two runs keep separate indexes (data/demo, data/demo-tiny): vectors of the tiny random models must
# never meet the real ones' (a collection is tied to one model; see `mmsearch ingest --reindex`).
#
#   bash scripts/demo.sh          real models from the Hugging Face Hub (first run downloads ~9 GB;
#                                 a GPU is used when present, else the CPU — slow but correct)
#   bash scripts/demo.sh --tiny   offline: tiny RANDOM-weight models built locally. Rankings are
#                                 meaningless; this only proves the whole pipeline runs on this machine.
#   bash scripts/demo.sh [--tiny] --data-dir-only   print the data directory that run uses, and stop.
set -euo pipefail
cd "$(dirname "$0")/.."
tiny=false
[ "${1:-}" = "--tiny" ] && tiny=true && shift
if $tiny; then default_data="$PWD/data/demo-tiny"; else default_data="$PWD/data/demo"; fi
export MMSEARCH_DATA_DIR="${MMSEARCH_DATA_DIR:-$default_data}"
if [ "${1:-}" = "--data-dir-only" ]; then
    echo "$MMSEARCH_DATA_DIR"
    exit 0
elif [ -n "${1:-}" ]; then
    echo "usage: bash scripts/demo.sh [--tiny] [--data-dir-only]" >&2
    exit 2
fi
bash scripts/setup.sh
echo "demo: data in $MMSEARCH_DATA_DIR" >&2
if $tiny; then
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
# a made-up word printed only in the pixels of scanned-memo.pdf (no text layer): found through OCR
.venv/bin/mmsearch query "$(.venv/bin/python -c 'from mmsearch.samples import scanned_word; print(scanned_word())')" --top-k 3
