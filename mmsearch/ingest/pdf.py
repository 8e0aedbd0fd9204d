"""PDF → one ``PageUnit`` per page, rendered lazily with PyMuPDF.

``open_pdf`` checks the document up front (readable, not password-protected, not truncated, has pages)
so those failures surface before any page is produced; ``pages`` then renders one page at a time, so a
2,000-page PDF never sits in memory. Each page is rasterised at ``pdf_dpi`` and brought onto the
model's grid within ``max_pixels`` (see ``pixels.fit_size``), rendered directly at that size rather than
rendered large and shrunk. A page that fails to render fails the whole file, naming the page.

MuPDF repairs damaged cross-reference tables silently, like PDF viewers do; we accept a repaired file
unless it also lacks the ``%%EOF`` marker at its end, which is what a cut-off download looks like:
indexing the pages that happened to survive would hide the damage.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from pathlib import Path

import pymupdf
from PIL import Image

from mmsearch.errors import CorruptFile, LimitExceeded
from mmsearch.ingest.pixels import fit_size, resize
from mmsearch.ingest.settings import IngestSettings
from mmsearch.ingest.units import PageUnit, Source

log = logging.getLogger(__name__)

# What PyMuPDF raises for bad input: FileDataError (a RuntimeError), ValueError, and the low-level
# mupdf.FzErrorBase (a plain Exception) that some rendering paths let through.
MUPDF_ERRORS = (RuntimeError, ValueError, pymupdf.mupdf.FzErrorBase)
EOF_WINDOW = 1024  # "%%EOF" must appear within the last KiB (PDF 32000-1 §7.5.5, as readers accept it)


def open_pdf(path: Path, max_pages: int | None = None) -> pymupdf.Document:
    """Open and validate a PDF; the caller owns the document (``pages`` closes it when done).
    ``max_pages`` (``ingest.max_pages_per_file``) is checked against the page tree's count, before
    any page is rendered."""
    try:
        doc = pymupdf.open(path, filetype="pdf")
    except MUPDF_ERRORS as exc:
        raise CorruptFile(f"{path.name}: not a readable PDF ({exc}); re-save or re-export it") from exc
    try:
        _validate(doc, path)
        if max_pages is not None and doc.page_count > max_pages:
            raise LimitExceeded(
                f"{path.name}: {doc.page_count:,} pages is over ingest.max_pages_per_file ({max_pages:,}); "
                "raise the limit to include it, or split the PDF"
            )
    except BaseException:
        doc.close()
        raise
    return doc


def _validate(doc: pymupdf.Document, path: Path) -> None:
    if doc.needs_pass:
        raise CorruptFile(
            f"{path.name}: the PDF is password-protected; decrypt it first (e.g. `qpdf --decrypt "
            f"--password=... {path.name} out.pdf`)"
        )
    if doc.is_repaired and not _has_eof_marker(path):
        raise CorruptFile(
            f"{path.name}: the PDF is truncated (no %%EOF at its end; {doc.page_count} page(s) were "
            "recoverable); download or export it again"
        )
    if doc.page_count == 0:
        raise CorruptFile(f"{path.name}: the PDF has no pages")
    if doc.is_repaired:
        log.warning("%s: damaged cross-reference table, repaired by MuPDF", path.name)


def _has_eof_marker(path: Path) -> bool:
    with path.open("rb") as fh:
        fh.seek(0, 2)
        fh.seek(max(0, fh.tell() - EOF_WINDOW))
        return b"%%EOF" in fh.read()


def pages(doc: pymupdf.Document, source: Source, settings: IngestSettings) -> Generator[PageUnit, None, None]:
    """Render ``doc`` page by page; closes it when exhausted, closed early, or failed."""
    name = Path(source.path).name
    count = doc.page_count
    try:
        for number in range(1, count + 1):
            try:
                page = doc.load_page(number - 1)
                image = render(page, settings, name=name)
                text = page.get_text()[: settings.text_chars].strip()
            except MUPDF_ERRORS as exc:
                raise CorruptFile(f"{name}: page {number} of {count} cannot be rendered: {exc}") from exc
            rect = page.rect
            yield PageUnit(source, number, count, rect.width, rect.height, text, image)
    finally:
        doc.close()


def render(page: pymupdf.Page, settings: IngestSettings, *, name: str) -> Image.Image:
    """The page as an RGB image at ``pdf_dpi``, fitted onto the model grid within ``max_pixels``."""
    rect = page.rect
    zoom = settings.pdf_dpi / 72.0
    size = fit_size(
        rect.width * zoom, rect.height * zoom, settings.max_pixels, name=f"{name} page {page.number + 1}"
    )
    matrix = pymupdf.Matrix(size[0] / rect.width, size[1] / rect.height)
    pix = page.get_pixmap(matrix=matrix, colorspace=pymupdf.csRGB, alpha=False, annots=True)
    image = Image.frombytes("RGB", (pix.width, pix.height), pix.samples)
    return resize(image, size)  # MuPDF may round the pixmap one pixel off the target
