"""OCR of pages and images without a text layer: Tesseract through PyMuPDF's integration (``ingest.ocr``).

MuPDF has Tesseract built in (``Pixmap.pdfocr_tobytes``, what ``Page.get_textpage_ocr`` runs): it needs
only Tesseract's language data (``eng.traineddata``, Debian's ``tesseract-ocr-eng``), looked for in
``$TESSDATA_PREFIX`` and then where Linux distributions and Homebrew put it (``find_tessdata``). A
pixmap goes in; a one-page PDF with the recognised words as invisible text comes out, and its words are
read back with ``get_text("words")``, each with its box. Recognised words are text for BM25, snippets,
highlights and the returned text, never for the embedder (``index/inputs.py``: the model reads pixels).

What is read, and when (``ingest.ocr``):

- ``auto`` (the default): a PDF page whose text layer has fewer than ``MIN_LAYER_CHARS`` letters and
  digits (a scan, or a page that is one picture), read at ``ingest.ocr_dpi``; and every image file. An
  image keeps only the words that survive a second reading. Tesseract reads almost anything as *some*
  letters (the sample landscape photo gives ``yw~``, a receipt photographed sideways ``aS``, random
  noise a dozen "words"); what it reads on real text it reads again at another scale, in the same place,
  while what it makes of texture changes. So the image is read at its stored size and, when that found
  anything, at ``CHECK_SCALE`` times it; a word is kept when the second reading has the same word
  (ignoring case) on a box overlapping its own by at least ``MIN_OVERLAP`` (intersection over union),
  and has a letter or digit. An image "contains text" when a word is kept. (At 1.5 times, the landscape
  still read ``yw~``; at 2 times it reads nothing, and the samples' printed words read the same at 0.75,
  1, 1.5 and 2 times.) Pages are read once and keep every word: a page with no text layer is, far more
  often than an image, a scan of text, and reading it twice would double the dearest part of ingesting it.
- ``always``: every page and image, once, every word kept; the OCR text replaces a page's text layer
  where it found words (for PDFs whose text layer is wrong: mis-encoded fonts).
- ``off``: never.

Either way a page or image with no ink (fewer than ``MIN_INK`` grey levels between its darkest and
lightest pixel: a blank page) is not read, and a reading that finds no word leaves the text layer as it
was. Without the language data ``auto`` warns once per process and ingests without OCR, while ``always``
is a ``ConfigError`` that names the package to install. A page is read in the render worker that
rasterised it (``render.py``), so ``ingest.render_timeout_s`` bounds its rendering and OCR together; an
image file is read in a worker too, under the same bound.
"""

from __future__ import annotations

import functools
import glob
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pymupdf
from PIL import Image

from mmsearch.errors import ConfigError
from mmsearch.ingest.words import NO_TEXT, Box, UnitText, joined

if TYPE_CHECKING:
    from mmsearch.ingest.settings import IngestSettings

log = logging.getLogger(__name__)

MIN_LAYER_CHARS = 16  # letters and digits: a text layer with fewer is "empty or nearly so" (a page number)
MIN_INK = 32  # grey levels between the darkest and lightest pixel; fewer: nothing printed to read
MAX_PIXELS = 25_000_000  # one page's OCR raster at most (75 MB as RGB); a larger page is read at lower DPI
CHECK_SCALE = 2.0  # an image's second reading, at twice its stored size
MIN_OVERLAP = 0.5  # intersection over union of a word's boxes in the two readings
# Where Tesseract's language data lives when $TESSDATA_PREFIX does not say: Debian and Ubuntu (one folder
# per Tesseract major version; the newest is taken), Fedora and Arch, builds from source, Homebrew.
TESSDATA_DIRS = (
    "/usr/share/tesseract-ocr/*/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
    "/opt/homebrew/share/tessdata",
)
INSTALL = "apt-get install tesseract-ocr tesseract-ocr-eng"

Lines = list[list[tuple[Box, str]]]  # words in reading order, grouped by line


@dataclass(frozen=True)
class OcrOptions:
    """What reading needs, as plain values a worker process receives: ``always`` (else ``auto``),
    Tesseract's ``languages`` (``eng+deu``), the folder of their data, and the DPI pages are read at."""

    always: bool
    languages: str
    tessdata: str
    dpi: float


def ocr_options(settings: IngestSettings) -> OcrOptions | None:
    """The OCR ingest does under ``settings``; None when it does none (``off``, or ``auto`` without
    Tesseract's language data: warned once). ``always`` without it raises ``ConfigError``."""
    if settings.ocr == "off":
        return None
    tessdata, problem = available(settings.ocr_languages, os.environ.get("TESSDATA_PREFIX", ""))
    if tessdata is None:
        if settings.ocr == "always":
            raise ConfigError(f"ingest.ocr is always, but {problem}")
        _warn_once(f"{problem}; ingesting without OCR (ingest.ocr: auto)")
        return None
    return OcrOptions(settings.ocr == "always", settings.ocr_languages, tessdata, settings.ocr_dpi)


def ocr_state(settings: IngestSettings) -> str:
    """What OCR ingest does under ``settings`` here, for the fingerprints of what it produced: ``off``,
    ``always``, ``auto``, or ``auto-without-tesseract`` (so installing Tesseract re-reads what ``auto``
    read without it). ``always`` without Tesseract raises ``ConfigError``."""
    if settings.ocr == "auto" and ocr_options(settings) is None:
        return "auto-without-tesseract"
    if settings.ocr == "always":
        ocr_options(settings)
    return settings.ocr


@functools.lru_cache(maxsize=8)
def available(languages: str, prefix: str) -> tuple[str | None, str]:
    """(the tessdata folder, "") when Tesseract reads ``languages`` here, else (None, what is wrong and
    how to fix it). ``prefix``: ``$TESSDATA_PREFIX`` (a cache key: tests change it)."""
    wanted = languages.split("+")
    tessdata = find_tessdata(wanted, prefix)
    if tessdata is None:
        files = ", ".join(f"{lang}.traineddata" for lang in wanted)
        where = ", ".join((*(["$TESSDATA_PREFIX"] if prefix else []), *TESSDATA_DIRS))
        return None, (
            f"OCR needs Tesseract's language data ({files}), found in none of {where}: install it "
            f"(Debian/Ubuntu: {INSTALL}; another language: tesseract-ocr-<lang>), set TESSDATA_PREFIX to "
            "its tessdata folder, or set ingest.ocr: off"
        )
    try:  # a blank stamp: checks that this PyMuPDF has Tesseract built in and that the data loads
        _read(blank_pixmap(), languages, tessdata)
    except (RuntimeError, ValueError, pymupdf.mupdf.FzErrorBase) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, f"Tesseract cannot read {languages!r} with the data in {tessdata} ({first})"
    return tessdata, ""


def find_tessdata(languages: list[str], prefix: str = "") -> str | None:
    """The first folder holding ``<lang>.traineddata`` for every language: ``prefix`` (or its
    ``tessdata`` subfolder, as older Tesseracts read the variable), then ``TESSDATA_DIRS``."""
    candidates = [prefix, os.path.join(prefix, "tessdata")] if prefix else []
    for pattern in TESSDATA_DIRS:
        candidates += sorted(glob.glob(pattern), key=_version_key, reverse=True)
    for folder in candidates:
        if all(Path(folder, f"{lang}.traineddata").is_file() for lang in languages):
            return folder
    return None


def _version_key(path: str) -> tuple[int, ...]:
    """``/usr/share/tesseract-ocr/5/tessdata`` sorts after ``.../4.00/tessdata``."""
    parts = Path(path).parent.name.split(".")
    return tuple(int(p) for p in parts if p.isdigit())


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning(message)


def layer_is_empty(text: str) -> bool:
    """A text layer with fewer than ``MIN_LAYER_CHARS`` letters and digits (none, or a page number)."""
    return sum(ch.isalnum() for ch in text) < MIN_LAYER_CHARS


def has_ink(image: Image.Image) -> bool:
    """Anything printed at all: at least ``MIN_INK`` grey levels between darkest and lightest."""
    grey = np.asarray(image.convert("L"))
    return int(grey.max()) - int(grey.min()) >= MIN_INK


def read_page(page: pymupdf.Page, options: OcrOptions, size: tuple[int, int], limit: int) -> UnitText:
    """The page as shown (rotation applied) read at ``options.dpi`` (less for a page over
    ``MAX_PIXELS``), with its words' boxes on a ``size`` image of the page (the stored one)."""
    rect = page.rect
    zoom = options.dpi / 72.0
    zoom = min(zoom, math.sqrt(MAX_PIXELS / max(1.0, rect.width * rect.height)))
    # RGB: MuPDF's OCR finds no words at all in a grey pixmap (PyMuPDF 2.0), without an error.
    pix = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), colorspace=pymupdf.csRGB, alpha=False)
    lines = _read(pix, options.languages, options.tessdata)
    return joined(_scaled(lines, size[0] / pix.width, size[1] / pix.height), size, limit)


def read_image(image: Image.Image, options: OcrOptions, limit: int) -> UnitText:
    """An image's words (on the image itself); under ``auto``, only those a second reading confirms."""
    lines = _read(_pixmap(image), options.languages, options.tessdata)
    if not options.always and any(lines):
        bigger = image.resize(
            (round(image.width * CHECK_SCALE), round(image.height * CHECK_SCALE)), Image.Resampling.BICUBIC
        )
        again = [w for line in _scaled(_read(_pixmap(bigger), options.languages, options.tessdata),
                                       1 / CHECK_SCALE, 1 / CHECK_SCALE) for w in line]  # fmt: skip
        lines = [[w for w in line if _confirmed(w, again)] for line in lines]
    if not any(lines):
        return NO_TEXT
    return joined(lines, image.size, limit)


def _confirmed(word: tuple[Box, str], again: list[tuple[Box, str]]) -> bool:
    box, text = word
    if not any(ch.isalnum() for ch in text):
        return False
    return any(other.casefold() == text.casefold() and _overlap(box, b) >= MIN_OVERLAP for b, other in again)


def _overlap(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _read(pix: pymupdf.Pixmap, languages: str, tessdata: str) -> Lines:
    """Tesseract over ``pix``: its words by line, boxes in ``pix``'s pixels."""
    data = pix.pdfocr_tobytes(compress=False, language=languages, tessdata=tessdata)
    with pymupdf.open(stream=data, filetype="pdf") as doc:
        page = doc[0]
        sx, sy = pix.width / page.rect.width, pix.height / page.rect.height
        lines: Lines = []
        at: tuple[int, int] | None = None
        for x0, y0, x1, y1, word, block, line, _ in page.get_text("words"):
            if (block, line) != at:
                lines.append([])
                at = (block, line)
            lines[-1].append(((x0 * sx, y0 * sy, x1 * sx, y1 * sy), word))
    return lines


def _scaled(lines: Lines, sx: float, sy: float) -> Lines:
    return [[((b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy), w) for b, w in line] for line in lines]


def _pixmap(image: Image.Image) -> pymupdf.Pixmap:
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return pymupdf.Pixmap(pymupdf.csRGB, rgb.width, rgb.height, rgb.tobytes(), 0)


def blank_pixmap() -> pymupdf.Pixmap:
    pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 32, 32), 0)
    pix.clear_with(255)
    return pix
