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
bash "$(dirname "$0")/apt_install.sh" install_tesseract tesseract-ocr tesseract-ocr-eng
echo "install_tesseract: $(tesseract --version 2>/dev/null | head -n 1 || echo tesseract) installed"
