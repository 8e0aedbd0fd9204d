"""Rasterise one PDF page, with its text and word boxes: the part of ingest that a render worker runs.

It imports PyMuPDF, Pillow, the pixel maths and OCR only (no settings, no pydantic), because every
process that ingests a PDF starts worker processes (``pool.py``) and each of them imports this module
first. ``pdf.py`` opens and checks documents and hands pages here, in this process or in the workers;
``image.py`` hands an image here to be read by OCR (``ocr.py``), in a worker too.

A page's text is its text layer, cut at ``ingest.text_chars``, and its words' boxes come from the same
PyMuPDF text page, scaled from PDF points (unrotated, as PyMuPDF gives them) to the stored image; where
OCR reads the page instead (``ocr.py``), both come from the words Tesseract found (``words.py``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

import pymupdf
from PIL import Image

from mmsearch.errors import CorruptFile, IngestError
from mmsearch.ingest.ocr import OcrOptions, has_ink, layer_is_empty, read_image, read_page
from mmsearch.ingest.pixels import fit_size, resize
from mmsearch.ingest.words import NO_TEXT, UnitText, aligned

log = logging.getLogger(__name__)

# What PyMuPDF raises for bad input: FileDataError (a RuntimeError), ValueError, and the low-level
# mupdf.FzErrorBase (a plain Exception) that some rendering paths let through.
MUPDF_ERRORS = (RuntimeError, ValueError, pymupdf.mupdf.FzErrorBase)


@dataclass(frozen=True)
class RenderOptions:
    """``ingest.pdf_dpi``, ``ingest.max_pixels`` and ``ingest.text_chars``, and the OCR to do (None:
    none; ``ocr.ocr_options``)."""

    pdf_dpi: float
    max_pixels: int
    text_chars: int
    ocr: OcrOptions | None = None


Rendered = tuple[Image.Image, UnitText, float, float]  # the page image, its text, its size in points


def render_page(doc: pymupdf.Document, number: int, options: RenderOptions, name: str) -> Rendered:
    """Page ``number`` (1-based) of ``doc``: image, text (layer or OCR) and displayed size. Raises
    ``CorruptFile``; a failed OCR raises ``IngestError`` under ``always`` and is logged under ``auto``."""
    try:
        page = doc.load_page(number - 1)
        image = render(page, options, name=name)
        text = layer_text(page, image.size, options.text_chars)
    except MUPDF_ERRORS as exc:
        raise CorruptFile(f"{name}: page {number} of {doc.page_count} cannot be rendered: {exc}") from exc
    ocr = options.ocr
    if ocr is not None and (ocr.always or layer_is_empty(text.text)) and has_ink(image):
        where = f"{name}: page {number} of {doc.page_count}"
        read = read_text(lambda: read_page(page, ocr, image.size, options.text_chars), ocr, where)
        text = read if read.words else text
    rect = page.rect
    return image, text, rect.width, rect.height


def layer_text(page: pymupdf.Page, size: tuple[int, int], limit: int) -> UnitText:
    """The text layer (``page.get_text()``, cut at ``limit`` and stripped) and its words' boxes on a
    ``size`` image of the page, both from one text page."""
    textpage = page.get_textpage(flags=pymupdf.TEXTFLAGS_TEXT)  # what page.get_text() uses
    text = page.get_text("text", textpage=textpage)
    to_pixels = page.rotation_matrix * pymupdf.Matrix(size[0] / page.rect.width, size[1] / page.rect.height)
    placed = []
    for word in page.get_text("words", textpage=textpage):
        box = pymupdf.Rect(word[:4]) * to_pixels
        placed.append(((box.x0, box.y0, box.x1, box.y1), word[4]))
    return aligned(text, placed, size, limit, "layer")


def read_text(read: Callable[[], UnitText], ocr: OcrOptions, where: str) -> UnitText:
    """``read()`` (an OCR): a failure is the file's under ``always``, a warning under ``auto``."""
    try:
        return read()
    except MUPDF_ERRORS as exc:
        if ocr.always:
            raise IngestError(
                f"{where}: OCR failed ({exc}); set ingest.ocr: auto to keep it without"
            ) from exc
        log.warning("%s: OCR failed (%s); kept without its text", where, exc)
        return NO_TEXT


def ocr_image_in_worker(mode: str, size: tuple[int, int], pixels: bytes, ocr: OcrOptions, limit: int,
                        where: str) -> UnitText:  # fmt: skip
    """An image's text by OCR (``ocr.read_image``), in a worker process: sent as raw pixels (see ``Sent``)."""
    return read_text(lambda: read_image(Image.frombytes(mode, size, pixels), ocr, limit), ocr, where)


# A page as a worker sends it back: the image's mode, size and raw pixels, then its text and its size in
# points. Raw bytes, because a pickled PIL image costs the parent twice as much to receive (on 2 cores, 38
# vs 21 ms for a 1120x1600 page, most of it copies of its 5.4 MB): the parent's receiving is the pool's cap.
Sent = tuple[str, tuple[int, int], bytes, UnitText, float, float]

_open: tuple[tuple[str, int, int, int], pymupdf.Document] | None = None  # a worker's current document


def render_in_worker(path: str, number: int, options: RenderOptions, name: str) -> Sent:
    """``render_page`` in a worker process, which keeps the file it is rendering open between pages
    (keyed by its path, inode, size and mtime, so a new file under an old name is opened afresh)."""
    global _open
    try:
        stat = os.stat(path)
        key = (path, stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if _open is None or _open[0] != key:
            if _open is not None:
                _open[1].close()
                _open = None
            _open = (key, pymupdf.open(path, filetype="pdf"))
    except (OSError, *MUPDF_ERRORS) as exc:
        raise CorruptFile(f"{name}: cannot be opened to render page {number}: {exc}") from exc
    image, text, width, height = render_page(_open[1], number, options, name)
    return image.mode, image.size, image.tobytes(), text, width, height


def received(sent: Sent) -> Rendered:
    """What ``render_in_worker`` sent, as ``render_page`` returns it."""
    mode, size, pixels, text, width, height = sent
    return Image.frombytes(mode, size, pixels), text, width, height


def render(page: pymupdf.Page, options: RenderOptions, *, name: str) -> Image.Image:
    """The page as an RGB image at ``pdf_dpi``, fitted onto the model grid within ``max_pixels``."""
    rect = page.rect
    zoom = options.pdf_dpi / 72.0
    size = fit_size(
        rect.width * zoom, rect.height * zoom, options.max_pixels, name=f"{name} page {page.number + 1}"
    )
    matrix = pymupdf.Matrix(size[0] / rect.width, size[1] / rect.height)
    pix = page.get_pixmap(matrix=matrix, colorspace=pymupdf.csRGB, alpha=False, annots=True)
    image = Image.frombytes("RGB", (pix.width, pix.height), pix.samples)
    return resize(image, size)  # MuPDF may round the pixmap one pixel off the target
