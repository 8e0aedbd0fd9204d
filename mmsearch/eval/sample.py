"""A small generated eval set in the BEIR layout whose right answers are known without a trained model.

``mmsearch eval --make-sample DIR`` writes it; the tests run ``mmsearch eval`` on it with the tiny random
models. Corpus: six pictures of different sizes, a 3-page PDF (one row per page), a scanned page (a PDF
page that is only a picture of text: no text layer), and a short video. Query groups:

- ``exact``: each query *is* a corpus document — the very image file, the page rendered exactly as
  ingest renders it (a lossless PNG), the very video — embedded with the document instruction
  (``"as_document": true``). Identical input gives the identical vector, so any model, even random
  weights, must rank the document first: recall@1 = 1.0 at the vector stage. This checks the plumbing
  end to end (ingest, storage, MRL, search, id mapping, metrics).
- ``crop``: the centre 60 % of each picture, with the query instruction (needs a real model).
- ``dpi``: each page re-rasterised at 72 DPI instead of the ingest DPI (needs a real model).
- ``text``: the made-up keyword printed on one page, as a text query (needs a real model).
- ``keyword``: a made-up word that occurs on exactly one page, alone as the query: each report page's
  marker word (in its text layer) and the scanned page's word (in its pixels only, so found through OCR).
  The lexical stage must rank that page first: recall@1 = 1.0 in ``keyword`` and ``hybrid`` mode with any
  model, before reranking (``--no-rerank``; a random reranker reorders what it is given). Not in the
  vector stage's reach, nor meant to be: the ``--compare mode=vector,keyword,hybrid`` columns show it.

Everything is drawn by code (``mmsearch.samples``), so the same call writes the same files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pymupdf
from PIL import Image

from mmsearch.ingest.pdf import render_options
from mmsearch.ingest.render import render
from mmsearch.ingest.settings import IngestSettings
from mmsearch.samples import (
    make_image,
    make_landscape,
    make_pdf,
    make_scanned_pdf,
    make_video,
    marker_word,
    page_text,
    scanned_word,
)

# Small on purpose (a few hundred tokens each), so the whole set runs in about a minute on a CPU.
PICTURES: tuple[tuple[str, tuple[int, int], str], ...] = (
    ("poster", (480, 360), "annual gala"),
    ("flyer", (333, 517), "bake sale"),
    ("diagram", (400, 260), "flow diagram"),
    ("receipt", (200, 460), "receipt 42"),
    ("banner", (600, 160), "grand opening"),
    ("badge", (256, 256), "visitor"),
)
PDF_PAGES = 3
PAGE_SIZE = (216.0, 288.0)  # points: 3 × 4 inches, 432 × 576 pixels at the default 144 DPI
PAGE_WORDS = 12  # of body text: what fits the text box of a page this small (60 would not: none is drawn)
TOPIC = "finance"
CROP = 0.6
OTHER_DPI = 72.0


def make_eval_sample(folder: Path) -> dict[str, int]:
    """Write the set into ``folder``; return how many queries each group has."""
    corpus: list[dict[str, Any]] = []
    queries: list[dict[str, Any]] = []
    qrels: list[tuple[str, str]] = []
    docs, asked = folder / "corpus", folder / "queries"
    asked.mkdir(parents=True, exist_ok=True)

    def ask(group: str, doc_id: str, **query: Any) -> None:
        qid = f"{group}-{doc_id}"
        queries.append({"_id": qid, "group": group, **query})
        qrels.append((qid, doc_id))

    make_landscape(docs / "landscape.jpg", size=(400, 250))
    corpus.append({"_id": "landscape", "image": "corpus/landscape.jpg"})
    ask("exact", "landscape", image="corpus/landscape.jpg", as_document=True)
    for name, size, text in PICTURES:
        make_image(docs / f"{name}.png", "png", size, text=text)
        corpus.append({"_id": name, "image": f"corpus/{name}.png"})
        ask("exact", name, image=f"corpus/{name}.png", as_document=True)
        _crop(docs / f"{name}.png", asked / f"{name}-crop.png")
        ask("crop", name, image=f"queries/{name}-crop.png")

    texts = [page_text(TOPIC, number, words=PAGE_WORDS) for number in range(1, PDF_PAGES + 1)]
    make_pdf(docs / "report.pdf", PDF_PAGES, topic=TOPIC, page_size=PAGE_SIZE, texts=texts)
    for number in range(1, PDF_PAGES + 1):
        doc_id = f"report-p{number}"
        corpus.append({"_id": doc_id, "file": "corpus/report.pdf", "page": number})
        _page_png(docs / "report.pdf", number, asked / f"{doc_id}.png", IngestSettings())
        ask("exact", doc_id, image=f"queries/{doc_id}.png", as_document=True)
        _page_png(
            docs / "report.pdf", number, asked / f"{doc_id}-72dpi.png", IngestSettings(pdf_dpi=OTHER_DPI)
        )
        ask("dpi", doc_id, image=f"queries/{doc_id}-72dpi.png")
        ask("text", doc_id, text=f"the page with the keyword {marker_word(TOPIC, number)}")
        ask("keyword", doc_id, text=marker_word(TOPIC, number))

    make_scanned_pdf(docs / "scan.pdf")
    corpus.append({"_id": "scan-p1", "file": "corpus/scan.pdf", "page": 1})
    ask("keyword", "scan-p1", text=scanned_word(1))

    make_video(docs / "clip.mp4", 4, fps=4, size=(192, 128))
    corpus.append({"_id": "clip", "file": "corpus/clip.mp4", "segment": 0})
    ask("exact", "clip", video="corpus/clip.mp4", as_document=True)

    _write_jsonl(folder / "corpus.jsonl", corpus)
    _write_jsonl(folder / "queries.jsonl", queries)
    (folder / "qrels").mkdir(exist_ok=True)
    lines = ["query-id\tcorpus-id\tscore", *(f"{q}\t{d}\t1" for q, d in qrels)]
    (folder / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "README.md").write_text(_README, encoding="utf-8")
    counts: dict[str, int] = {}
    for query in queries:
        counts[query["group"]] = counts.get(query["group"], 0) + 1
    return counts


def _crop(source: Path, target: Path) -> None:
    with Image.open(source) as im:
        w, h = im.size
        dx, dy = round(w * (1 - CROP) / 2), round(h * (1 - CROP) / 2)
        im.crop((dx, dy, w - dx, h - dy)).save(target, format="PNG")


def _page_png(pdf: Path, number: int, target: Path, settings: IngestSettings) -> None:
    """The page as ingest renders it with ``settings`` (so with the defaults, the very pixels)."""
    with pymupdf.open(pdf) as doc:
        render(doc[number - 1], render_options(settings), name=pdf.name).save(target, format="PNG")


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


_README = """\
# mmsearch eval sample

Generated by `mmsearch eval --make-sample DIR` (see `mmsearch/eval/sample.py`). BEIR layout:
`corpus.jsonl`, `queries.jsonl`, `qrels/test.tsv`; files under `corpus/` and `queries/`.

Groups (`mmsearch eval DIR --group NAME`):
- `exact`: the query is the document itself, embedded with the document instruction: recall@1 must be
  1.0 at the vector stage with any model (the exact-copy check; the page PNGs equal ingest's rendering
  only with the default `ingest.pdf_dpi` and `ingest.max_pixels`).
- `crop`, `dpi`, `text`: a crop of a picture, a page at 72 DPI, a page's keyword as text. Only a trained
  model does well on these.
- `keyword`: a word found on exactly one page, alone: three in report.pdf's text layer, one only in the
  pixels of scan.pdf (read by OCR: `ingest.ocr`, Tesseract). `keyword` and `hybrid` mode must have
  recall@1 = 1.0 before reranking with any model (`--no-rerank --compare mode=vector,keyword,hybrid`).
"""
