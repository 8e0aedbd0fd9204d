"""``mmsearch ingest`` then ``mmsearch query`` on a scanned page (a picture of text, no text layer): the
word Tesseract read is the hit's text and snippet, and its highlight box lies on the word's pixels in
the stored page image."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmsearch.samples import make_scanned_pdf, scanned_word
from tests.ocr_support import needs_tesseract
from tests.support import run_cli, tiny_env

pytestmark = pytest.mark.slow


def test_a_word_only_in_a_scans_pixels_is_the_hits_text_and_highlight(
    tiny_models: Path, tmp_path: Path
) -> None:
    needs_tesseract()
    token = scanned_word(3)
    make_scanned_pdf(tmp_path / "corpus" / "memo.pdf", lines=[[f"Reference {token} filed"]])
    env = tiny_env(tmp_path / "data", tiny_models)
    (tmp_path / "cwd").mkdir()
    done = run_cli(["ingest", str(tmp_path / "corpus"), "--json"], env, tmp_path / "cwd")
    assert done.returncode == 0, done.stderr
    done = run_cli(["query", token, "--no-rerank", "--include-text", "--json"], env, tmp_path / "cwd")
    assert done.returncode == 0, done.stderr
    [hit] = json.loads(done.stdout)["hits"]
    assert hit["text"] == f"Reference {token} filed"
    assert [hit["snippet"][a:b] for a, b in hit["snippet_ranges"]] == [token]
    [(x0, y0, x1, y1)] = hit["highlights"]
    with Image.open(tmp_path / "data" / hit["image_path"]) as stored:
        ink = np.asarray(stored.convert("L")) < 128
    assert ink[y0:y1, x0:x1].mean() > 0.05  # on the word
    line = ink[y0:y1]  # the line the word is on: nothing printed right beside the box (the spaces)
    assert not line[:, max(0, x0 - 4) : x0].any() and not line[:, x1 : x1 + 4].any()


def test_turning_ocr_on_re_reads_the_text_of_an_indexed_scan_without_embedding_it_again(
    tiny_models: Path, tmp_path: Path
) -> None:
    needs_tesseract()
    token = scanned_word(4)
    make_scanned_pdf(tmp_path / "corpus" / "memo.pdf", lines=[[f"Invoice {token} paid"]])
    env = tiny_env(tmp_path / "data", tiny_models, MMSEARCH_INGEST__OCR="off")
    (tmp_path / "cwd").mkdir()
    done = run_cli(["ingest", str(tmp_path / "corpus"), "--json"], env, tmp_path / "cwd")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["summary"]["units"] == 1
    env["MMSEARCH_INGEST__OCR"] = "auto"
    done = run_cli(["ingest", str(tmp_path / "corpus")], env, tmp_path / "cwd")
    assert done.returncode == 0, done.stderr
    assert "re-read text" in done.stdout and "1 files (1 text re-read), 0 units" in done.stdout
    done = run_cli(["query", token, "--no-rerank", "--include-text", "--json"], env, tmp_path / "cwd")
    assert done.returncode == 0, done.stderr
    [hit] = json.loads(done.stdout)["hits"]
    assert hit["text"] == f"Invoice {token} paid" and hit["highlights"]
    done = run_cli(["ingest", str(tmp_path / "corpus"), "--json"], env, tmp_path / "cwd")
    assert json.loads(done.stdout)["summary"] == json.loads(done.stdout)["summary"] | {
        "unchanged": 1,
        "units": 0,
    }
