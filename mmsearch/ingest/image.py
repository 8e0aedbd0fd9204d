"""Image files → one ``ImageUnit``: PNG, JPEG, WebP, TIFF, BMP, GIF (first frame).

Decoding order matters for safety: the header is read first and its pixel count is checked against
``max_decode_pixels`` before a single pixel is decoded, so a 30000×30000 "decompression bomb" fails in
microseconds. Pillow's own guard (``Image.MAX_IMAGE_PIXELS``, a process-wide global we never change)
still refuses images above twice its value; both refusals give the same message. Then: EXIF orientation
applied, converted to RGB (transparency composited on white, 16-bit scaled to 8-bit), and fitted onto
the model grid within ``max_pixels`` (JPEGs are DCT-downscaled while decoding when much larger).
Multi-frame files (animated GIF/WebP, multi-page TIFF) contribute their first frame.

The fitted image is then read by OCR (``ingest.ocr``, ``ocr.py``) in a render worker process, under
``ingest.render_timeout_s``: its words become the unit's text, with their boxes on the stored image.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

from mmsearch.errors import CorruptFile, LimitExceeded, UnsupportedFile
from mmsearch.ingest.ocr import OcrOptions, has_ink, ocr_options
from mmsearch.ingest.pixels import fit_size, resize
from mmsearch.ingest.pool import WorkerCrashed, WorkerTimedOut, default_workers, shared_pool
from mmsearch.ingest.render import ocr_image_in_worker
from mmsearch.ingest.settings import IngestSettings
from mmsearch.ingest.sniff import HEAD_BYTES, sniff
from mmsearch.ingest.units import ImageUnit, Source
from mmsearch.ingest.words import NO_TEXT, UnitText

# Pillow format names for the formats sniff() recognises; opening is restricted to the sniffed one.
PILLOW_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP", "tiff": "TIFF", "bmp": "BMP", "gif": "GIF"}
_TRANSPOSED = {5, 6, 7, 8}  # EXIF orientations that swap width and height
_TURNED = {2, 3, 4, 5, 6, 7, 8}  # EXIF orientations other than "as stored"
_EXIF_ORIENTATION = 0x0112
log = logging.getLogger(__name__)
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)


def read_image(path: Path, source: Source, fmt: str, settings: IngestSettings) -> Iterator[ImageUnit]:
    """The one unit of an image file (a generator, like the other readers, but decoded and read eagerly)."""
    ocr = ocr_options(settings)
    with path.open("rb") as fh:
        image, original = load_image(fh, fmt, settings, name=path.name)
    text = read_text(image, ocr, settings, name=path.name) if ocr is not None and has_ink(image) else NO_TEXT
    unit = ImageUnit(source, image, original, text=text.text, words=text.words, text_source=text.source)
    return iter([unit])


def read_text(image: Image.Image, ocr: OcrOptions, settings: IngestSettings, *, name: str) -> UnitText:
    """OCR of ``image`` in a render worker (here with ``render_workers: 0``). A worker that runs past
    ``render_timeout_s`` or dies fails the file under ``ingest.ocr: always``; under ``auto`` the image is
    kept without its text, with a warning."""
    job = (image.mode, image.size, image.tobytes(), ocr, settings.text_chars, name)
    workers = settings.render_workers if settings.render_workers is not None else default_workers()
    if workers == 0:
        return ocr_image_in_worker(*job)
    read = shared_pool(workers).ordered(
        ocr_image_in_worker, [job], window=1, timeout_s=settings.render_timeout_s
    )
    try:
        return next(read)
    except WorkerTimedOut as exc:
        problem = f"{name}: OCR took longer than ingest.render_timeout_s ({settings.render_timeout_s:g} s)"
        if ocr.always:
            raise LimitExceeded(f"{problem}; raise the limit to include it") from exc
    except WorkerCrashed as exc:
        problem = f"{name}: OCR crashed (its worker process died)"
        if ocr.always:
            raise CorruptFile(f"{problem}; the file is skipped") from exc
    finally:
        read.close()
    log.warning("%s; kept without its text (ingest.ocr: auto)", problem)
    return NO_TEXT


def load_query_image(
    image: Path | bytes, settings: IngestSettings, *, name: str | None = None
) -> Image.Image:
    """A query image (file or uploaded bytes), prepared exactly like an ingested one."""
    if isinstance(image, Path):
        label = name or image.name
        try:
            data = image.read_bytes()
        except OSError as exc:
            raise UnsupportedFile(f"{label}: cannot read the image ({exc.strerror or exc})") from exc
    else:
        label, data = name or "image", image
    fmt = sniff(data[:HEAD_BYTES], label)
    if fmt.kind != "image":
        raise UnsupportedFile(f"{label}: not an image (it is a {fmt.name.upper()} file)")
    return load_image(io.BytesIO(data), fmt.name, settings, name=label)[0]


def load_image(
    fh: BinaryIO, fmt: str, settings: IngestSettings, *, name: str
) -> tuple[Image.Image, tuple[int, int]]:
    """Decode ``fh`` (already sniffed as ``fmt``) into an RGB image within the pixel budget.

    Returns the image and its original ``(width, height)`` after EXIF orientation, before scaling.
    """
    try:
        return _decode(fh, fmt, settings, name)
    except (CorruptFile, UnsupportedFile):
        raise
    except Image.DecompressionBombError as exc:
        detail = str(exc).rstrip(".")
        raise UnsupportedFile(f"{name}: refused as a possible decompression bomb ({detail})") from exc
    except _DECODE_ERRORS as exc:
        raise CorruptFile(f"{name}: the {fmt.upper()} image cannot be decoded ({exc}); re-save it") from exc


def _decode(
    fh: BinaryIO, fmt: str, settings: IngestSettings, name: str
) -> tuple[Image.Image, tuple[int, int]]:
    with warnings.catch_warnings():  # we do our own bomb check below, against our own limit
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        im = Image.open(fh, formats=[PILLOW_FORMATS[fmt]])
    with im:
        _check_decode_size(im, settings.max_decode_pixels, name)
        orientation = int(im.getexif().get(_EXIF_ORIENTATION, 1) or 1)
        original = (im.height, im.width) if orientation in _TRANSPOSED else im.size
        target = fit_size(*original, settings.max_pixels, name=name)
        if fmt == "jpeg":  # let the JPEG decoder downscale by 1/2..1/8 when the target is much smaller
            im.draft("RGB", target[::-1] if orientation in _TRANSPOSED else target)
        im.load()
        # exif_transpose copies the whole image even when there is nothing to turn: at the decode limit
        # that is 256 MiB more at the peak, so it is only called to turn.
        rgb = to_rgb(ImageOps.exif_transpose(im) if orientation in _TURNED else im)
        fitted = resize(rgb, target)
        return (fitted.copy() if fitted is im else fitted), original  # ``im`` is closed on leaving


def _check_decode_size(im: Image.Image, limit: int, name: str) -> None:
    pixels = im.width * im.height
    if pixels > limit:
        raise UnsupportedFile(
            f"{name}: refused as a possible decompression bomb (the header claims {im.width} x "
            f"{im.height} = {pixels:,} pixels, over ingest.max_decode_pixels = {limit:,})"
        )


def to_rgb(im: Image.Image) -> Image.Image:
    """8-bit RGB; any transparency composited on white (what a viewer shows on a white page)."""
    if im.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        im = _to_8bit(im)
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        canvas = Image.new("RGB", im.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return im if im.mode == "RGB" else im.convert("RGB")


def _to_8bit(im: Image.Image) -> Image.Image:
    """Scale a 16-bit or float grey image into 0..255 by its own range (Pillow would just clip)."""
    values = np.asarray(im, dtype=np.float64)
    lo, span = float(values.min()), float(values.max() - values.min()) or 1.0
    return Image.fromarray(((values - lo) * (255.0 / span)).astype(np.uint8), "L")
