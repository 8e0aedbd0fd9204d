"""Tesseract for the OCR tests (imported as ``ocr_support``): ``needs_tesseract()`` skips a test where
Tesseract's English data is missing, and fails it under CI (``CI=true``), where ``scripts/test.sh``
installs it (``scripts/install_tesseract.sh``: ``apt-get install tesseract-ocr tesseract-ocr-eng``)."""

from __future__ import annotations

import os

import pytest

from mmsearch.ingest.ocr import available


def needs_tesseract(languages: str = "eng") -> None:
    tessdata, problem = available(languages, os.environ.get("TESSDATA_PREFIX", ""))
    if tessdata is not None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"the OCR test cannot run in CI: {problem}")
    pytest.skip(f"no Tesseract here (run scripts/install_tesseract.sh): {problem}")
