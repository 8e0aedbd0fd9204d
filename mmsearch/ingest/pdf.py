"""PDF → one ``PageUnit`` per page, rendered lazily with PyMuPDF.

``open_pdf`` checks the document up front (readable, not password-protected, not truncated, has pages)
so those failures surface before any page is produced; ``pages`` then renders one page at a time, so a
2,000-page PDF never sits in memory. Each page is rasterised at ``pdf_dpi`` and brought onto the
model's grid within ``max_pixels`` (see ``pixels.fit_size``), rendered directly at that size rather than
rendered large and shrunk. A page that fails to render fails the whole file, naming the page.

``read_pages`` renders (``render.py``) in worker processes (``pool.py``, ``ingest.render_workers``, one
per core but one by default), a few pages ahead of the consumer: the cores rasterise while the model
embeds, a page that takes longer than ``ingest.render_timeout_s`` fails its file, and a crash of MuPDF
on a hostile file fails that file instead of the ingest. ``render_workers: 0`` renders here, in this process.

MuPDF repairs damaged cross-reference tables silently, like PDF viewers do; we accept a repaired file
unless it also lacks the ``%%EOF`` marker at its end, which is what a cut-off download looks like:
indexing the pages that happened to survive would hide the damage.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator
from pathlib import Path

import pymupdf
from PIL import Image

from mmsearch.errors import CorruptFile, LimitExceeded
from mmsearch.ingest.ocr import ocr_options
from mmsearch.ingest.pool import WorkerCrashed, WorkerTimedOut, default_workers, shared_pool
from mmsearch.ingest.render import MUPDF_ERRORS, RenderOptions, received, render_in_worker, render_page
from mmsearch.ingest.settings import IngestSettings
from mmsearch.ingest.units import PageUnit, Source
from mmsearch.ingest.words import UnitText

log = logging.getLogger(__name__)

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
    """Check the PDF at ``path`` now (``open_pdf``, and that the OCR asked for can run) and return its
    pages, rendered lazily: in worker processes, or here with ``ingest.render_workers: 0``."""
    doc = open_pdf(path, settings.max_pages_per_file)
    try:
        options = render_options(settings, ocr=True)
    except BaseException:
        doc.close()
        raise
    workers = settings.render_workers if settings.render_workers is not None else default_workers()
    if workers == 0:
        return pages(doc, source, settings, options)
    count = doc.page_count
    doc.close()
    return _pooled_pages(path, source, settings, count, workers, options)


def pages(
    doc: pymupdf.Document, source: Source, settings: IngestSettings, options: RenderOptions | None = None
) -> Generator[PageUnit, None, None]:
    """Render ``doc`` page by page in this process; closes it when exhausted, closed early, or failed.
    ``options``: ``render_options(settings)`` (no OCR) unless given."""
    name = Path(source.path).name
    count = doc.page_count
    options = options or render_options(settings)
    try:
        for number in range(1, count + 1):
            image, text, width, height = render_page(doc, number, options, name)
            yield page_unit(source, number, count, width, height, text, image)
    finally:
        doc.close()


def _pooled_pages(
    path: Path, source: Source, settings: IngestSettings, count: int, workers: int, options: RenderOptions
) -> Generator[PageUnit, None, None]:
    name = Path(source.path).name
    jobs = ((str(path), number, options, name) for number in range(1, count + 1))
    rendered = shared_pool(workers).ordered(
        render_in_worker, jobs, window=2 * workers, timeout_s=settings.render_timeout_s
    )
    try:
        for number, sent in enumerate(rendered, start=1):
            image, text, width, height = received(sent)
            yield page_unit(source, number, count, width, height, text, image)
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


def render_options(settings: IngestSettings, *, ocr: bool = False) -> RenderOptions:
    """What rendering needs from the settings: plain values, cheap to send to a worker; with ``ocr``, the
    OCR ``ingest.ocr`` asks for (``ocr.ocr_options``: may warn, or raise ``ConfigError``)."""
    return RenderOptions(
        settings.pdf_dpi, settings.max_pixels, settings.text_chars, ocr_options(settings) if ocr else None
    )


def page_unit(
    source: Source, number: int, count: int, width: float, height: float, text: UnitText, image: Image.Image
) -> PageUnit:
    return PageUnit(
        source, number, count, width, height, text.text, image, words=text.words, text_source=text.source
    )
