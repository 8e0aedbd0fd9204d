"""OCR at ingest (``ingest.ocr``): scanned pages and images with text get their words and boxes; photos
get none; the modes, a missing Tesseract and a failing one. One small page or image per test."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import numpy as np
import pymupdf
import pytest
from pydantic import ValidationError

from mmsearch.errors import ConfigError, IngestError
from mmsearch.index.inputs import unit_content
from mmsearch.index.pipeline import fingerprint, text_fingerprint
from mmsearch.ingest import ocr, render
from mmsearch.ingest.reader import read_file
from mmsearch.ingest.settings import IngestSettings
from mmsearch.ingest.units import WORD_FIELDS, ImageUnit, PageUnit, Unit
from mmsearch.samples import (
    make_empty_pdf,
    make_image,
    make_landscape,
    make_pdf,
    make_scanned_pdf,
    scanned_word,
)
from tests.ocr_support import needs_tesseract

HERE = IngestSettings(render_workers=0)  # in this process: monkeypatches reach it, no pool to start
SMALL_PAGE = (300.0, 200.0)


@pytest.fixture
def tesseract() -> None:
    needs_tesseract()


@pytest.fixture
def no_tessdata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As on a machine without Tesseract's data: an empty $TESSDATA_PREFIX and no system folders."""
    monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path / "empty"))
    monkeypatch.setattr(ocr, "TESSDATA_DIRS", ())
    monkeypatch.setattr(ocr, "_warned", set())
    ocr.available.cache_clear()
    yield
    ocr.available.cache_clear()


def one(path: Path, settings: IngestSettings) -> Unit:
    [unit] = list(read_file(path, settings)[1])
    return unit


def boxes(unit: PageUnit | ImageUnit) -> list[tuple[str, tuple[int, ...]]]:
    flat = unit.words
    return [
        (unit.text[flat[i] : flat[i + 1]], tuple(flat[i + 2 : i + WORD_FIELDS]))
        for i in range(0, len(flat), WORD_FIELDS)
    ]


def test_a_scanned_pages_word_box_covers_the_words_pixels(tmp_path: Path, tesseract: None) -> None:
    token = scanned_word(1)
    make_scanned_pdf(tmp_path / "word.pdf", lines=[[token]], page_size=SMALL_PAGE)
    page = one(tmp_path / "word.pdf", HERE)
    assert isinstance(page, PageUnit)
    assert (page.text, page.text_source) == (token, "ocr")
    [(word, (x0, y0, x1, y1))] = boxes(page)
    assert word == token
    ys, xs = np.nonzero(np.asarray(page.image.convert("L")) < 128)  # the only ink: the word
    ink = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    assert (x0, y0, x1, y1) == pytest.approx(ink, abs=2), ink
    # the same page read in a render worker process, as ingest reads by default
    pooled = one(tmp_path / "word.pdf", IngestSettings(render_workers=1))
    assert (pooled.text, pooled.words, pooled.text_source) == (page.text, page.words, page.text_source)


def test_words_on_one_scanned_line_are_boxed_apart(tmp_path: Path, tesseract: None) -> None:
    token = scanned_word(2)
    make_scanned_pdf(tmp_path / "line.pdf", lines=[[f"Reference {token} end"]], page_size=SMALL_PAGE)
    page = one(tmp_path / "line.pdf", HERE)
    assert isinstance(page, PageUnit) and page.text == f"Reference {token} end"
    found = boxes(page)
    assert [w for w, _ in found] == ["Reference", token, "end"]
    grey = np.asarray(page.image.convert("L")) < 128
    top, bottom = min(b[1] for _, b in found), max(b[3] for _, b in found)
    for (_, left), (_, right) in pairwise(found):
        assert left[2] <= right[0]  # in reading order, not overlapping
        assert not grey[top:bottom, left[2] : right[0]].any()  # nothing printed between two words
    for word, (x0, y0, x1, y1) in found:
        assert grey[y0:y1, x0:x1].mean() > 0.05, word
    # the embedder reads the pixels only: OCR text never goes to the model, even when asked for text
    assert unit_content(page, with_text=True).text is None


def test_images_keep_only_the_words_a_second_reading_confirms(tmp_path: Path, tesseract: None) -> None:
    make_image(tmp_path / "sign.png", "png", (480, 320), text="flow diagram")
    make_landscape(tmp_path / "photo.jpg")  # Tesseract reads its mountains as "yw~" at this size
    make_image(tmp_path / "turned.jpg", "jpeg", (400, 300), exif_orientation=6, text="receipt 42")
    sign = one(tmp_path / "sign.png", HERE)
    assert isinstance(sign, ImageUnit)
    assert (sign.text, sign.text_source) == ("flow diagram", "ocr")
    assert [w for w, _ in boxes(sign)] == ["flow", "diagram"]
    for name in ("photo.jpg", "turned.jpg"):  # no text; text on its side (Tesseract reads garbage)
        unit = one(tmp_path / name, HERE)
        assert (unit.text, unit.words, unit.text_source) == ("", (), None), name
    assert unit_content(sign).text is None


def test_off_reads_nothing_and_always_reads_a_text_layer_page_too(tmp_path: Path, tesseract: None) -> None:
    make_scanned_pdf(tmp_path / "scan.pdf", page_size=SMALL_PAGE)
    off = one(tmp_path / "scan.pdf", IngestSettings(render_workers=0, ocr="off"))
    assert (off.text, off.words, off.text_source) == ("", (), None)
    make_pdf(tmp_path / "layer.pdf", 1, page_size=(360.0, 300.0), with_tables=False, with_charts=False,
             texts=["Quarterly ledger audit for the northern region"])  # fmt: skip
    layer = one(tmp_path / "layer.pdf", HERE)
    assert layer.text_source == "layer"
    read = one(tmp_path / "layer.pdf", IngestSettings(render_workers=0, ocr="always"))
    assert read.text_source == "ocr" and "ledger audit" in read.text
    assert isinstance(layer, PageUnit) and unit_content(layer, with_text=True).text == layer.text


def test_a_blank_page_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(render, "read_page", lambda *args: calls.append(1))
    make_empty_pdf(tmp_path / "blank.pdf", 1)
    page = one(tmp_path / "blank.pdf", IngestSettings(render_workers=0, ocr="always"))
    assert calls == [] and page.text_source is None


def test_without_tesseract_auto_warns_once_and_always_names_the_package(
    tmp_path: Path, no_tessdata: None, caplog: pytest.LogCaptureFixture
) -> None:
    make_scanned_pdf(tmp_path / "scan.pdf", page_size=SMALL_PAGE)
    make_image(tmp_path / "sign.png", "png", (240, 160), text="sign")
    with caplog.at_level(logging.WARNING, logger="mmsearch.ingest.ocr"):
        page = one(tmp_path / "scan.pdf", HERE)
        image = one(tmp_path / "sign.png", HERE)
    assert (page.text, image.text) == ("", "")
    warned = [r.getMessage() for r in caplog.records if r.name == "mmsearch.ingest.ocr"]
    assert len(warned) == 1, warned
    assert "eng.traineddata" in warned[0] and "apt-get install tesseract-ocr tesseract-ocr-eng" in warned[0]
    assert warned[0].endswith("ingesting without OCR (ingest.ocr: auto)")
    for path in (tmp_path / "scan.pdf", tmp_path / "sign.png"):
        with pytest.raises(ConfigError, match=r"ingest\.ocr is always, but OCR needs Tesseract's language data "
                           r"\(eng\.traineddata\).*apt-get install tesseract-ocr tesseract-ocr-eng"):  # fmt: skip
            read_file(path, IngestSettings(render_workers=0, ocr="always"))
    assert one(tmp_path / "scan.pdf", IngestSettings(render_workers=0, ocr="off")).text == ""


def test_installing_tesseract_changes_the_fingerprint_of_what_auto_reads(
    tesseract: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A file ingested by ``auto`` without Tesseract has its text read again once it is there (the
    manifest compares text fingerprints; its vectors are kept), and ``always`` without it fails before any
    file."""
    with_it = text_fingerprint(IngestSettings())
    vectors = fingerprint(IngestSettings(), "model", 64, "instruction")
    assert ocr.ocr_state(IngestSettings()) == "auto"
    monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path / "empty"))
    monkeypatch.setattr(ocr, "TESSDATA_DIRS", ())
    monkeypatch.setattr(ocr, "_warned", set())
    ocr.available.cache_clear()
    try:
        assert ocr.ocr_state(IngestSettings()) == "auto-without-tesseract"
        assert text_fingerprint(IngestSettings()) != with_it
        assert fingerprint(IngestSettings(), "model", 64, "instruction") == vectors
        assert ocr.ocr_state(IngestSettings(ocr="off")) == "off"
        with pytest.raises(ConfigError, match="apt-get install tesseract-ocr tesseract-ocr-eng"):
            text_fingerprint(IngestSettings(ocr="always"))
    finally:
        ocr.available.cache_clear()


def test_a_language_without_data_is_named(tmp_path: Path) -> None:
    make_scanned_pdf(tmp_path / "scan.pdf", page_size=SMALL_PAGE)
    with pytest.raises(ConfigError, match=r"\(eng\.traineddata, zzz\.traineddata\)"):
        read_file(
            tmp_path / "scan.pdf", IngestSettings(render_workers=0, ocr="always", ocr_languages="eng+zzz")
        )


def test_a_failing_ocr_fails_the_file_only_under_always(
    tmp_path: Path, tesseract: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    make_scanned_pdf(tmp_path / "scan.pdf", page_size=SMALL_PAGE)
    ocr.available("eng", "")  # probed before the patch: Tesseract is there, it fails on this page

    def broken(self: pymupdf.Pixmap, *args: object, **kwargs: object) -> bytes:
        raise RuntimeError("code=3: Tesseract recognition failed")

    monkeypatch.setattr(pymupdf.Pixmap, "pdfocr_tobytes", broken)
    with caplog.at_level(logging.WARNING, logger="mmsearch.ingest.render"):
        page = one(tmp_path / "scan.pdf", HERE)
    assert page.text == ""
    assert (
        "scan.pdf: page 1 of 1: OCR failed (code=3: Tesseract recognition failed); kept without its text"
        in (caplog.text)
    )
    with pytest.raises(
        IngestError, match=r"scan\.pdf: page 1 of 1: OCR failed \(code=3: .*ingest\.ocr: auto"
    ):
        one(tmp_path / "scan.pdf", IngestSettings(render_workers=0, ocr="always"))


@pytest.mark.parametrize(
    ("field", "value"),
    [("ocr", "sometimes"), ("ocr_languages", "eng;rm -rf /"), ("ocr_languages", ""), ("ocr_dpi", 10)],
)
def test_bad_ocr_settings_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        IngestSettings.model_validate({field: value})
