"""A unit's text and the box of each of its words on the stored image, kept at ingest for highlights.

The words come from PyMuPDF (``page.get_text("words")`` of the text layer, or of the page Tesseract
read: ``ocr.py``), each a box and a string; here they become ``words``, ``WORD_FIELDS`` ints per word:
``(start, end)`` such that ``text[start:end]`` is the word, and ``(x0, y0, x1, y1)`` its box in whole
pixels of the stored image (the page as rasterised and capped to the pixel budget, so boxes are scaled
from PDF points to that image's size; outward to whole pixels, clipped to the image). ``text`` is cut at
``ingest.text_chars``; a word that does not lie wholly inside the kept text is dropped, and so is one
whose box falls outside the image.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from mmsearch.ingest.units import TextSource

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels of the stored image


@dataclass(frozen=True)
class UnitText:
    """What a unit stores of its words: ``text``, ``words`` (flat, see the module docstring), and where
    the text came from (None: there is none)."""

    text: str = ""
    words: tuple[int, ...] = ()
    source: TextSource | None = None


NO_TEXT = UnitText()


def aligned(
    text: str, words: Iterable[tuple[Box, str]], size: tuple[int, int], limit: int, source: TextSource
) -> UnitText:
    """``text`` cut at ``limit`` characters and stripped, with ``words`` (in reading order, as PyMuPDF
    lists them from the same text page) found in it one after another."""
    cut = text[:limit]
    kept = cut.strip()
    if not kept:
        return NO_TEXT
    lead = len(cut) - len(cut.lstrip())
    flat: list[int] = []
    cursor = lead
    for box, word in words:
        at = cut.find(word, cursor) if word else -1
        if at < 0:  # not in the kept text (cut off), or a word the text spells otherwise
            continue
        cursor = at + len(word)
        pixels = pixel_box(box, size)
        if pixels is not None:
            flat += (at - lead, cursor - lead, *pixels)
    return UnitText(kept, tuple(flat), source)


def joined(lines: Iterable[Iterable[tuple[Box, str]]], size: tuple[int, int], limit: int) -> UnitText:
    """OCR'd words as text: one line of the page per line, its words joined by spaces."""
    listed = [[(box, word) for box, word in line if word.strip()] for line in lines]
    text = "\n".join(" ".join(word for _, word in line) for line in listed if line)
    return aligned(text, (item for line in listed for item in line), size, limit, "ocr")


def pixel_box(box: Box, size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """``box`` widened to whole pixels and clipped to a ``size`` image; None when nothing is left."""
    x0, y0, x1, y1 = box
    if not all(math.isfinite(v) for v in box):
        return None
    width, height = size
    left, top = max(0, math.floor(min(x0, x1))), max(0, math.floor(min(y0, y1)))
    right, bottom = min(width, math.ceil(max(x0, x1))), min(height, math.ceil(max(y0, y1)))
    if right <= left or bottom <= top:
        return None
    return left, top, right, bottom
