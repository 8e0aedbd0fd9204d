"""Word boxes kept at ingest from a page's text layer: each box lies on its word in the stored image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pymupdf
import pytest

from mmsearch.ingest.reader import read_file
from mmsearch.ingest.settings import IngestSettings
from mmsearch.ingest.units import WORD_FIELDS, PageUnit
from mmsearch.ingest.words import aligned, joined, pixel_box
from mmsearch.samples import make_pdf, marker_word

IN_PROCESS = IngestSettings(render_workers=0, ocr="off")


def words_of(unit: PageUnit) -> dict[str, tuple[int, int, int, int]]:
    """The first box of each word, by the word as ``text`` spells it (checking the offsets on the way)."""
    flat = unit.words
    assert len(flat) % WORD_FIELDS == 0 and flat
    out: dict[str, tuple[int, int, int, int]] = {}
    for i in range(0, len(flat), WORD_FIELDS):
        start, end, x0, y0, x1, y1 = flat[i : i + WORD_FIELDS]
        word = unit.text[start:end]
        assert word and not any(ch.isspace() for ch in word), (start, end)
        assert 0 <= x0 < x1 <= unit.image.width and 0 <= y0 < y1 <= unit.image.height
        out.setdefault(word, (x0, y0, x1, y1))
    return out


def ink(image: np.ndarray, box: tuple[int, int, int, int]) -> float:
    x0, y0, x1, y1 = box
    return float((image[y0:y1, x0:x1] < 128).mean())


def test_a_text_layer_word_box_is_pymupdfs_own_box_scaled_to_the_stored_image(tmp_path: Path) -> None:
    make_pdf(tmp_path / "report.pdf", 1, page_size=(612, 792))  # letter: the pixel cap scales it
    [unit] = list(read_file(tmp_path / "report.pdf", IN_PROCESS)[1])
    assert isinstance(unit, PageUnit) and unit.text_source == "layer"
    boxes = words_of(unit)
    marker = marker_word("finance", 1) + "."  # PyMuPDF's words keep the sentence's full stop
    with pymupdf.open(tmp_path / "report.pdf") as doc:
        page = doc[0]
        assert unit.text == page.get_text()[: IN_PROCESS.text_chars].strip()  # the text as before
        theirs = next(w for w in page.get_text("words") if w[4] == marker)
        sx, sy = unit.image.width / page.rect.width, unit.image.height / page.rect.height
    expected = (theirs[0] * sx, theirs[1] * sy, theirs[2] * sx, theirs[3] * sy)
    assert boxes[marker] == pytest.approx(expected, abs=1.0)
    grey = np.asarray(unit.image.convert("L"))
    assert ink(grey, boxes[marker]) > 0.05  # dark pixels of the word under its box
    word_count = len(unit.words) // WORD_FIELDS
    assert word_count == len(unit.text.split())  # every word of the kept text has its box


def test_boxes_follow_a_rotated_page_onto_its_upright_image(tmp_path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page(width=400, height=200)
    page.insert_text((40, 80), "sideways heading", fontsize=24)
    page.set_rotation(90)  # shown (and stored) 200 wide, 400 tall: the words run down the page
    doc.save(tmp_path / "turned.pdf")
    [unit] = list(read_file(tmp_path / "turned.pdf", IN_PROCESS)[1])
    assert isinstance(unit, PageUnit) and unit.image.height > unit.image.width
    grey = np.asarray(unit.image.convert("L"))
    for word, (x0, y0, x1, y1) in words_of(unit).items():
        assert y1 - y0 > x1 - x0, word  # taller than wide: turned with the page
        assert ink(grey, (x0, y0, x1, y1)) > 0.05, word
    ys, xs = np.nonzero(grey < 128)
    boxes = list(words_of(unit).values())
    assert min(b[0] for b in boxes) <= xs.min() and max(b[2] for b in boxes) >= xs.max()
    assert min(b[1] for b in boxes) <= ys.min() and max(b[3] for b in boxes) >= ys.max()


def test_words_beyond_the_kept_text_are_dropped(tmp_path: Path) -> None:
    make_pdf(tmp_path / "a.pdf", 1)
    settings = IngestSettings(render_workers=0, ocr="off", text_chars=40)
    [unit] = list(read_file(tmp_path / "a.pdf", settings)[1])
    assert isinstance(unit, PageUnit) and 0 < len(unit.text) <= 40
    starts, ends = unit.words[0::WORD_FIELDS], unit.words[1::WORD_FIELDS]
    kept = [unit.text[a:b] for a, b in zip(starts, ends, strict=True)]
    tokens = unit.text.split()
    assert kept in (tokens, tokens[:-1])  # the last word may be cut off mid-word, and is then dropped
    empty = next(read_file(tmp_path / "a.pdf", IngestSettings(render_workers=0, text_chars=0))[1])
    assert (empty.text, empty.words, empty.text_source) == ("", (), None)


def test_offsets_point_into_the_stripped_text() -> None:
    words = [((1.0, 2.0, 3.0, 4.0), "alpha"), ((5.0, 2.0, 9.5, 4.0), "beta"), ((0.0, 0.0, 1.0, 1.0), "gone")]
    text = aligned("  \n alpha  beta\n", words, (10, 10), 100, "layer")
    assert text.text == "alpha  beta" and text.source == "layer"
    assert text.words == (0, 5, 1, 2, 3, 4, 7, 11, 5, 2, 10, 4)  # "gone" is not in the text
    lines = [
        [((0.0, 0.0, 2.0, 1.0), "one"), ((3.0, 0.0, 4.0, 1.0), "two")],
        [((0.0, 2.0, 2.0, 3.0), "three")],
    ]
    read = joined(lines, (10, 10), 9)
    assert (read.text, read.source) == (
        "one two\nt",
        "ocr",
    )  # cut at 9, as a text layer is: "three" has no box
    assert read.words == (0, 3, 0, 0, 2, 1, 4, 7, 3, 0, 4, 1)


def test_boxes_are_whole_pixels_inside_the_image() -> None:
    assert pixel_box((1.2, 2.7, 3.1, 4.0), (10, 10)) == (1, 2, 4, 4)
    assert pixel_box((-5.0, -1.0, 20.0, 3.5), (10, 10)) == (0, 0, 10, 4)
    assert pixel_box((12.0, 1.0, 15.0, 3.0), (10, 10)) is None  # wholly off the image
    assert pixel_box((2.0, 2.0, 2.0, 5.0), (10, 10)) is None  # no width
    assert pixel_box((float("nan"), 0.0, 1.0, 1.0), (10, 10)) is None
