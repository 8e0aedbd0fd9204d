#!/usr/bin/env bash
# Installs Debian's Tesseract with its English data for OCR at ingest (ingest.ocr; mmsearch/ingest/ocr.py)
# and its tests. PyMuPDF has Tesseract built in and reads only the language data (eng.traineddata); the
# tesseract-ocr package comes along for `tesseract --list-langs`. Needs root (or sudo). A no-op when
# the data is already in $TESSDATA_PREFIX or a system tessdata folder.
set -euo pipefail
for folder in "${TESSDATA_PREFIX:-}" /usr/share/tesseract-ocr/*/tessdata /usr/share/tessdata /usr/local/share/tessdata; do
    if [ -n "$folder" ] && [ -f "$folder/eng.traineddata" ]; then
        echo "install_tesseract: English data already in $folder"
        exit 0
    fi
done
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_tesseract: no apt-get here; install Tesseract's English data yourself and set TESSDATA_PREFIX" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo="sudo"
    else
        echo "install_tesseract: run as root (apt-get needs it) or install tesseract-ocr-eng yourself" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends tesseract-ocr tesseract-ocr-eng >/dev/null
echo "install_tesseract: $(tesseract --version 2>/dev/null | head -n 1 || echo tesseract) installed"
