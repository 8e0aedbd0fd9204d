"""Rasterise one PDF page: the part of PDF handling that a render worker process runs.

It imports PyMuPDF, Pillow and the pixel maths only (no settings, no pydantic), because every process
that ingests a PDF starts worker processes (``pool.py``) and each of them imports this module first.
``pdf.py`` opens and checks documents and hands pages here, in this process or in the workers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pymupdf
from PIL import Image

from mmsearch.errors import CorruptFile
from mmsearch.ingest.pixels import fit_size, resize

# What PyMuPDF raises for bad input: FileDataError (a RuntimeError), ValueError, and the low-level
# mupdf.FzErrorBase (a plain Exception) that some rendering paths let through.
MUPDF_ERRORS = (RuntimeError, ValueError, pymupdf.mupdf.FzErrorBase)


@dataclass(frozen=True)
class RenderOptions:
    """``ingest.pdf_dpi``, ``ingest.max_pixels`` and ``ingest.text_chars``."""

    pdf_dpi: float
    max_pixels: int
    text_chars: int


Rendered = tuple[Image.Image, str, float, float]  # the page image, its text layer, its size in points


def render_page(doc: pymupdf.Document, number: int, options: RenderOptions, name: str) -> Rendered:
    """Page ``number`` (1-based) of ``doc``: image, text layer and displayed size. Raises ``CorruptFile``."""
    try:
        page = doc.load_page(number - 1)
        image = render(page, options, name=name)
        text = page.get_text()[: options.text_chars].strip()
    except MUPDF_ERRORS as exc:
        raise CorruptFile(f"{name}: page {number} of {doc.page_count} cannot be rendered: {exc}") from exc
    rect = page.rect
    return image, text, rect.width, rect.height


# A page as a worker sends it back: the image's mode, size and raw pixels, then text and size in points.
# Raw bytes, because a pickled PIL image costs the parent twice as much to receive (on 2 cores, 38 vs
# 21 ms for a 1120x1600 page, most of it copies of its 5.4 MB): the parent's receiving is the pool's cap.
Sent = tuple[str, tuple[int, int], bytes, str, float, float]

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
