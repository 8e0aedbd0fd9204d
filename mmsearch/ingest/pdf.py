"""PDF → one ``PageUnit`` per page, rendered lazily with PyMuPDF.

``open_pdf`` checks the document up front (readable, not password-protected, not truncated, has pages)
so those failures surface before any page is produced; ``pages`` then renders one page at a time, so a
2,000-page PDF never sits in memory. Each page is rasterised at ``pdf_dpi`` and brought onto the
model's grid within ``max_pixels`` (see ``pixels.fit_size``), rendered directly at that size rather than
rendered large and shrunk. A page that fails to render fails the whole file, naming the page.

``read_pages`` renders in worker processes (``pool.py``, ``ingest.render_workers``, one per core by
default), a few pages ahead of the consumer: the cores rasterise while the model embeds, a page that
takes longer than ``ingest.render_timeout_s`` fails its file, and a crash of MuPDF on a hostile file
fails that file instead of the ingest. ``render_workers: 0`` renders here, in this process.

MuPDF repairs damaged cross-reference tables silently, like PDF viewers do; we accept a repaired file
unless it also lacks the ``%%EOF`` marker at its end, which is what a cut-off download looks like:
indexing the pages that happened to survive would hide the damage.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pymupdf
from PIL import Image

from mmsearch.errors import CorruptFile, LimitExceeded
from mmsearch.ingest.pixels import fit_size, resize
from mmsearch.ingest.pool import WorkerCrashed, WorkerTimedOut, default_workers, shared_pool
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


def read_pages(path: Path, source: Source, settings: IngestSettings) -> Iterator[PageUnit]:
    """Check the PDF at ``path`` now (``open_pdf``) and return its pages, rendered lazily: in worker
    processes, or here with ``ingest.render_workers: 0``."""
    doc = open_pdf(path, settings.max_pages_per_file)
    workers = settings.render_workers if settings.render_workers is not None else default_workers()
    if workers == 0:
        return pages(doc, source, settings)
    count = doc.page_count
    doc.close()
    return _pooled_pages(path, source, settings, count, workers)


def pages(doc: pymupdf.Document, source: Source, settings: IngestSettings) -> Generator[PageUnit, None, None]:
    """Render ``doc`` page by page in this process; closes it when exhausted, closed early, or failed."""
    name = Path(source.path).name
    count = doc.page_count
    try:
        for number in range(1, count + 1):
            image, text, width, height = render_page(doc, number, settings, name)
            yield PageUnit(source, number, count, width, height, text, image)
    finally:
        doc.close()


def _pooled_pages(
    path: Path, source: Source, settings: IngestSettings, count: int, workers: int
) -> Generator[PageUnit, None, None]:
    name = Path(source.path).name
    jobs = ((str(path), number, settings, name) for number in range(1, count + 1))
    rendered = shared_pool(workers).ordered(
        render_in_worker, jobs, window=2 * workers, timeout_s=settings.render_timeout_s
    )
    try:
        for number, (image, text, width, height) in enumerate(rendered, start=1):
            yield PageUnit(source, number, count, width, height, text, image)
    except WorkerCrashed as exc:
        raise CorruptFile(
            f"{name}: page {exc.index + 1} of {count}: the PDF renderer crashed on it (its worker process "
            "died); the file is skipped"
        ) from exc
    except WorkerTimedOut as exc:
        raise LimitExceeded(
            f"{name}: page {exc.index + 1} of {count} took longer than ingest.render_timeout_s "
            f"({settings.render_timeout_s:g} s) to render; raise the limit to include it"
        ) from exc
    finally:
        rendered.close()


Rendered = tuple[Image.Image, str, float, float]  # the page image, its text layer, its size in points


def render_page(doc: pymupdf.Document, number: int, settings: IngestSettings, name: str) -> Rendered:
    """Page ``number`` (1-based) of ``doc``: image, text layer and displayed size. Raises ``CorruptFile``."""
    try:
        page = doc.load_page(number - 1)
        image = render(page, settings, name=name)
        text = page.get_text()[: settings.text_chars].strip()
    except MUPDF_ERRORS as exc:
        raise CorruptFile(f"{name}: page {number} of {doc.page_count} cannot be rendered: {exc}") from exc
    rect = page.rect
    return image, text, rect.width, rect.height


_open: tuple[tuple[str, int, int, int], pymupdf.Document] | None = None  # a worker's current document


def render_in_worker(path: str, number: int, settings: IngestSettings, name: str) -> Rendered:
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
    return render_page(_open[1], number, settings, name)


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
