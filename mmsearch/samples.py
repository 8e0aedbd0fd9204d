"""Deterministic synthetic files for tests, benchmarks and the demo: PDFs, images, videos, bad files.

Everything is drawn from code (PyMuPDF for PDFs, Pillow for images, PyAV for videos), so the same call
always writes the same content and no binary fixture is checked in.

- ``make_pdf``: pages with a real text layer (distinct words per page, so text search can be tested),
  drawn tables and bar charts.
- ``make_scanned_pdf``: a page that is only a picture of printed text, no text layer (what a scanner
  writes), carrying a made-up word (``scanned_word``) that only OCR can find.
- ``make_image``: any supported format, optional transparency, EXIF orientation, GIF frames; an
  asymmetric picture (red block top-left) so orientation can be checked.
- ``make_video``: a coloured block moving across the frame and a big frame number, so content changes
  visibly over time; optional display rotation, faststart MP4.
- ``make_bad_files``: one file per failure ingest must report, mapped to the expected error code.
- ``mp4_atoms``, ``make_many_objects_pdf``, ``make_slow_page_pdf``: hostile files built by hand (MP4 atoms
  edited in place, PDFs written object by object): a 100,000-object PDF and a page MuPDF renders for hours.
- ``make_sample_corpus``: a small good set (3 PDFs, a scanned page, 4 images, 1 video) that ingests in
  seconds on a CPU.

``python -m mmsearch.samples FOLDER`` writes the sample corpus into FOLDER.
"""

from __future__ import annotations

import io
import random
import struct
import sys
import tempfile
import zlib
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pymupdf
from av.video.stream import VideoStream
from PIL import Image, ImageDraw, ImageFont

from mmsearch.errors import CorruptFile, UnsupportedFile

# Words per topic; each page of ``make_pdf`` draws its text from one of these.
TOPICS: dict[str, str] = {
    "finance": "quarterly revenue margin forecast dividend ledger audit liquidity earnings expenses "
    "invoice budget growth cashflow equity region",
    "birds": "heron plumage migration wingspan nesting songbird estuary falcon feather beak habitat "
    "wetland warbler talon flock molt",
    "chemistry": "reagent titration molarity beaker catalyst enzyme solvent pipette buffer oxidation "
    "precipitate spectrum reaction assay isotope valence",
}
_SYLLABLES = ("ka", "zu", "mi", "ro", "ve", "lo", "ta", "ni", "qu", "se", "do", "fa", "pe", "xi", "bo", "gu")
_PILLOW_SAVE = {
    "png": "PNG",
    "jpeg": "JPEG",
    "jpg": "JPEG",
    "webp": "WEBP",
    "tiff": "TIFF",
    "bmp": "BMP",
    "gif": "GIF",
}
_VIDEO_CODEC = {"mp4": "mpeg4", "mov": "mpeg4", "avi": "mpeg4", "mkv": "mpeg4", "webm": "libvpx"}
_VIDEO_FORMAT = {"mp4": "mp4", "mov": "mov", "avi": "avi", "mkv": "matroska", "webm": "webm"}


# -- PDFs ------------------------------------------------------------------------------------------


def marker_word(topic: str, page: int) -> str:
    """A made-up word that appears on exactly one page of ``make_pdf``'s default text."""
    rng = random.Random(f"marker:{topic}:{page}")
    return "".join(rng.choice(_SYLLABLES) for _ in range(4)) + str(page)


def page_text(topic: str, page: int, words: int = 60) -> str:
    """The default text of ``page`` (1-based): topic words in a seeded order plus its marker word."""
    vocab = TOPICS.get(topic, TOPICS["finance"]).split()
    rng = random.Random(f"text:{topic}:{page}")
    body = " ".join(rng.choice(vocab) for _ in range(words))
    return f"{topic.title()} page {page}. Keyword {marker_word(topic, page)}. {body}."


def make_pdf(
    path: Path,
    pages: int,
    *,
    with_tables: bool = True,
    with_charts: bool = True,
    texts: Sequence[str] | None = None,
    topic: str = "finance",
    page_size: tuple[float, float] = (595.0, 842.0),
) -> list[str]:
    """Write a ``pages``-page PDF; return the text drawn on each page (``texts`` or ``page_text``)."""
    if texts is not None and len(texts) != pages:
        raise ValueError(f"texts has {len(texts)} entries for {pages} pages")
    drawn = list(texts) if texts is not None else [page_text(topic, i) for i in range(1, pages + 1)]
    doc = pymupdf.open()
    for number, text in enumerate(drawn, start=1):
        page = doc.new_page(width=page_size[0], height=page_size[1])
        _draw_page(page, number, text, topic, with_tables, with_charts)
    doc.set_metadata(_PDF_METADATA)  # fixed dates and no new /ID: the same call writes the same bytes
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(path, garbage=1, deflate=True, no_new_id=True)
    doc.close()
    return drawn


_PDF_METADATA = {
    "title": "mmsearch sample",
    "producer": "mmsearch.samples",
    "creator": "mmsearch.samples",
    "creationDate": "D:20240101000000Z",
    "modDate": "D:20240101000000Z",
}


def _draw_page(page: pymupdf.Page, number: int, text: str, topic: str, tables: bool, charts: bool) -> None:
    w, h = page.rect.width, page.rect.height
    if w < 200 or h < 200:  # too small for the layout (stamps, strips): one line of text
        page.insert_text((1, h * 0.8), text, fontsize=max(1.0, min(h * 0.6, 10.0)))
        return
    margin = w * 0.08
    page.insert_text((margin, margin), f"{topic.title()} - page {number}", fontsize=18, fontname="hebo")
    page.insert_textbox(pymupdf.Rect(margin, margin + 14, w - margin, h * 0.42), text, fontsize=10)
    rng = random.Random(f"figures:{topic}:{number}")
    if tables:
        _draw_table(page, pymupdf.Rect(margin, h * 0.44, w - margin, h * 0.64), rng)
    if charts:
        _draw_chart(page, pymupdf.Rect(margin, h * 0.68, w - margin, h * 0.94), rng)


def _draw_table(page: pymupdf.Page, box: pymupdf.Rect, rng: random.Random) -> None:
    header = ("Region", "Q1", "Q2", "Q3", "Q4")
    rows = [header] + [
        (name, *(f"{rng.randint(10, 999)}" for _ in range(4))) for name in ("North", "South", "East", "West")
    ]
    cell_w, cell_h = box.width / len(header), box.height / len(rows)
    shape = page.new_shape()
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            cell = pymupdf.Rect(
                box.x0 + c * cell_w, box.y0 + r * cell_h, box.x0 + (c + 1) * cell_w, box.y0 + (r + 1) * cell_h
            )
            shape.draw_rect(cell)
            page.insert_text(
                (cell.x0 + 4, cell.y1 - cell_h * 0.3),
                value,
                fontsize=9,
                fontname="hebo" if r == 0 else "helv",
            )
    shape.finish(color=(0, 0, 0), fill=None, width=0.6)
    shape.commit()


def _draw_chart(page: pymupdf.Page, box: pymupdf.Rect, rng: random.Random) -> None:
    shape = page.new_shape()
    shape.draw_line(box.bl, box.tl)
    shape.draw_line(box.bl, box.br)
    shape.finish(color=(0, 0, 0), width=1)
    bars = 6
    slot = box.width / bars
    for i in range(bars):
        height = box.height * rng.uniform(0.15, 0.95)
        bar = pymupdf.Rect(
            box.x0 + i * slot + slot * 0.2, box.y1 - height, box.x0 + (i + 1) * slot - slot * 0.2, box.y1
        )
        shape.draw_rect(bar)
        shape.finish(color=None, fill=(0.2 + 0.12 * i, 0.4, 0.8 - 0.1 * i))
        page.insert_text((bar.x0, box.y1 + 10), f"M{i + 1}", fontsize=8)
    shape.commit()


def scanned_word(page: int = 1) -> str:
    """The made-up word printed (as pixels only) on ``page`` of ``make_scanned_pdf``'s default text:
    letters only, since Tesseract reads the ``1`` of Pillow's default font as ``’``."""
    rng = random.Random(f"scanned:{page}")
    return "".join(rng.choice(_SYLLABLES) for _ in range(5))


def scanned_lines(page: int = 1) -> list[str]:
    """The default lines of ``make_scanned_pdf``'s ``page``: its ``scanned_word`` on the second."""
    return ["Scanned memo from the records office", f"Reference {scanned_word(page)} for page {page}",
            "Filed on paper and scanned"]  # fmt: skip


SCAN_DPI = 150  # the pixels per inch the picture of a scanned page is drawn at


def make_scanned_pdf(
    path: Path,
    pages: int = 1,
    *,
    lines: Sequence[Sequence[str]] | None = None,
    page_size: tuple[float, float] = (420.0, 298.0),
    font_pt: float = 14.0,
) -> list[list[str]]:
    """Write a PDF whose ``pages`` pages are each one picture (a PNG drawn with Pillow at ``SCAN_DPI``) of
    black text on white, with no text layer: only OCR can read them. Returns the lines on each page
    (``lines``, else ``scanned_lines``)."""
    drawn = (
        [list(page) for page in lines]
        if lines is not None
        else [scanned_lines(n) for n in range(1, pages + 1)]
    )
    if len(drawn) != pages:
        raise ValueError(f"lines has {len(drawn)} pages for {pages} pages")
    doc = pymupdf.open()
    for page_lines in drawn:
        page = doc.new_page(width=page_size[0], height=page_size[1])
        page.insert_image(page.rect, stream=_scan_png(page_lines, page_size, font_pt))
    doc.set_metadata(_PDF_METADATA)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(path, garbage=1, deflate=True, no_new_id=True)
    doc.close()
    return drawn


def _scan_png(lines: Sequence[str], page_size: tuple[float, float], font_pt: float) -> bytes:
    zoom = SCAN_DPI / 72.0
    size = (round(page_size[0] * zoom), round(page_size[1] * zoom))
    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=round(font_pt * zoom))
    margin, step = round(36 * zoom), round(font_pt * 2 * zoom)
    for i, line in enumerate(lines):
        draw.text((margin, margin + i * step), line, fill=(0, 0, 0), font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# -- images ----------------------------------------------------------------------------------------


def make_image(
    path: Path,
    fmt: str = "png",
    size: tuple[int, int] = (320, 240),
    *,
    exif_orientation: int | None = None,
    text: str | None = None,
    alpha: bool = False,
    frames: int = 1,
) -> Path:
    """Write a picture: gradient background, a red block in the top-left corner, a blue disc, text.

    ``alpha`` makes the background transparent (shapes stay opaque); ``frames`` > 1 (GIF/WebP/TIFF)
    writes an animation whose frame ``i`` has a different background; ``exif_orientation`` (1-8)
    is stored as the EXIF Orientation tag, the pixels left as they are.
    """
    pillow_format = _PILLOW_SAVE[fmt.lower()]
    images = [_picture(size, text, alpha, frame) for frame in range(frames)]
    options: dict[str, object] = {}
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        options["exif"] = exif
    if pillow_format == "JPEG":
        images = [im.convert("RGB") for im in images]
        options["quality"] = 92
    if frames > 1:
        options.update(save_all=True, append_images=images[1:], duration=100, loop=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, format=pillow_format, **options)
    return path


def _picture(size: tuple[int, int], text: str | None, alpha: bool, frame: int) -> Image.Image:
    w, h = size
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    channels = np.broadcast_arrays((60 + 120 * x + frame * 80) % 256, 90 + 100 * y, 200 - 80 * x * y)
    rgb = np.stack(channels, axis=-1)
    image = Image.fromarray(rgb.astype(np.uint8), "RGB").convert("RGBA")
    if alpha:
        image.putalpha(0)
    draw = ImageDraw.Draw(image)
    block = max(4, min(w, h) // 4)
    draw.rectangle((0, 0, block, block), fill=(230, 20, 20, 255))
    r = min(w, h) // 5
    draw.ellipse((w - 2 * r - 4, h - 2 * r - 4, w - 4, h - 4), fill=(20, 40, 220, 255))
    if text:
        font = ImageFont.load_default(size=max(10, h // 8))
        draw.text((block + 6, h // 3), text, fill=(0, 0, 0, 255), font=font)
    return image if alpha else image.convert("RGB")


def make_landscape(path: Path, size: tuple[int, int] = (800, 500)) -> Path:
    """A drawn landscape photo stand-in: sky, sun, mountains, lake (for image-query demos)."""
    w, h = size
    sky = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    rgb = (np.array([70, 130, 230]) * (1 - sky) + np.array([250, 200, 150]) * sky) * np.ones((1, w, 1))
    image = Image.fromarray(rgb.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    draw.ellipse((w * 0.7, h * 0.1, w * 0.82, h * 0.1 + w * 0.12), fill=(255, 230, 80))
    draw.polygon([(0, h * 0.75), (w * 0.25, h * 0.3), (w * 0.5, h * 0.75)], fill=(90, 90, 110))
    draw.polygon([(w * 0.3, h * 0.75), (w * 0.6, h * 0.35), (w, h * 0.75)], fill=(70, 80, 95))
    draw.polygon([(w * 0.2, h * 0.42), (w * 0.25, h * 0.3), (w * 0.3, h * 0.42)], fill=(245, 245, 250))
    draw.rectangle((0, h * 0.75, w, h), fill=(40, 110, 170))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="JPEG", quality=90)
    return path


# -- videos ----------------------------------------------------------------------------------------


def make_video(
    path: Path,
    seconds: float,
    fps: int = 10,
    size: tuple[int, int] = (160, 120),
    container: str | None = None,
    *,
    rotation: int = 0,
    faststart: bool = False,
) -> Path:
    """Write a video of ``seconds`` at ``fps``: a coloured block moving left to right over a
    background whose hue drifts, and the frame number in big digits.

    ``container`` defaults to the file's suffix (mp4, mov, mkv, webm, avi). ``rotation`` stores a
    counter-clockwise display rotation (as phones do); ``faststart`` puts an MP4's index first.
    """
    kind = (container or path.suffix.lstrip(".")).lower()
    if kind not in _VIDEO_CODEC:
        raise ValueError(f"unknown video container {kind!r}; use one of {sorted(_VIDEO_CODEC)}")
    options = {"fflags": "+bitexact"}  # no random Matroska UIDs or encoder dates: same call, same bytes
    if faststart:
        options["movflags"] = "faststart"
    path.parent.mkdir(parents=True, exist_ok=True)
    font = ImageFont.load_default(size=max(10, size[1] // 2))
    with av.open(str(path), mode="w", format=_VIDEO_FORMAT[kind], options=options) as out:
        stream = out.add_stream(_VIDEO_CODEC[kind], rate=Fraction(fps))
        if not isinstance(stream, VideoStream):
            raise TypeError(f"{_VIDEO_CODEC[kind]} did not give a video stream")
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = 400_000
        if rotation:
            stream.set_display_rotation(rotation)
        for i in range(round(seconds * fps)):
            frame = av.VideoFrame.from_image(_video_frame(i, i / fps, seconds, size, font))
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _video_frame(
    index: int,
    t: float,
    seconds: float,
    size: tuple[int, int],
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
) -> Image.Image:
    w, h = size
    hue = t / max(seconds, 1e-9)
    background = (int(40 + 180 * hue), 60, int(220 - 180 * hue))
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    block = max(8, h // 4)
    x = int((w - block) * hue)
    draw.rectangle((x, h - block - 2, x + block, h - 2), fill=(250, 220, 0))
    draw.text((4, 2), str(index), fill=(255, 255, 255), font=font)
    return image


def make_audio_only(path: Path, seconds: float = 2.0) -> Path:
    """A Matroska file with one PCM audio stream and no video."""
    rate = 8000
    with av.open(str(path), mode="w", format="matroska", options={"fflags": "+bitexact"}) as out:
        stream = out.add_stream("pcm_s16le", rate=rate, layout="mono")
        samples = (np.sin(np.arange(int(seconds * rate)) * 0.05) * 8000).astype(np.int16)[None, :]
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = rate
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


# -- bad files -------------------------------------------------------------------------------------


def png_header(width: int, height: int) -> bytes:
    """A PNG signature and a valid IHDR chunk claiming ``width`` x ``height``, then an empty IDAT and
    IEND: a few dozen bytes that promise a huge image (PNG spec §11.2.2, CRC-32 over type + data)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit truecolour
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


def zero_page_pdf() -> bytes:
    """A syntactically valid PDF whose page tree is empty."""
    return (
        b"%PDF-1.7\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )


def make_bad_files(folder: Path) -> dict[str, str]:
    """Write one file per failure ingest must report; returns ``{file name: expected error code}``."""
    folder.mkdir(parents=True, exist_ok=True)
    corrupt, unsupported = CorruptFile.code, UnsupportedFile.code
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        make_pdf(scratch / "good.pdf", 3, with_charts=False)
        pdf_bytes = (scratch / "good.pdf").read_bytes()
        jpeg = make_image(scratch / "good.jpg", "jpeg", (320, 240)).read_bytes()
        video = make_video(scratch / "good.mp4", 6, fps=5).read_bytes()  # index (moov) at the end
        webm = make_video(scratch / "good.webm", 6, fps=5).read_bytes()
    with pymupdf.open(stream=pdf_bytes, filetype="pdf") as doc:
        aes256 = pymupdf.PDF_ENCRYPT_AES_256  # type: ignore[attr-defined]  # missing from the stubs
        encrypted = doc.tobytes(encryption=aes256, user_pw="secret", owner_pw="owner")
    files: dict[str, tuple[bytes, str]] = {
        "encrypted.pdf": (encrypted, corrupt),
        "truncated.pdf": (pdf_bytes[: len(pdf_bytes) * 9 // 10], corrupt),
        "zero-pages.pdf": (zero_page_pdf(), corrupt),
        "empty.pdf": (b"", unsupported),
        "notes.pdf": (b"Meeting notes\nThis is plain text, not a PDF.\n" * 20, unsupported),
        "bomb.png": (png_header(30000, 30000), unsupported),
        "too-thin.png": (_png_bytes((4000, 10)), unsupported),
        "truncated.jpg": (jpeg[: len(jpeg) // 2], corrupt),
        "truncated.mp4": (video[: len(video) // 2], corrupt),
        "truncated-moov.mp4": (truncated_moov(video), corrupt),
        "huge-stsz-count.mp4": (patch_stsz(video, count=0xFFFF_FFF0), corrupt),
        "huge-stsz-size.mp4": (patch_stsz(video, size=0x7FFF_FFFF), corrupt),
        "truncated.webm": (webm[: len(webm) // 2], corrupt),
        "random.bin": (random.Random(7).randbytes(4096), unsupported),
        "archive.png": (b"PK\x03\x04" + bytes(200), unsupported),
    }
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    make_audio_only(folder / "audio-only.mkv")
    return {name: code for name, (_, code) in files.items()} | {"audio-only.mkv": corrupt}


# MP4 boxes that hold other boxes, down to the sample table (ISO/IEC 14496-12 §8).
_MP4_CONTAINERS = (b"moov", b"trak", b"mdia", b"minf", b"stbl")


def mp4_atoms(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[bytes, int, int]]:
    """Every box of an MP4 down to ``stbl``'s children, as (type, offset, size), in file order."""
    end = len(data) if end is None else end
    found: list[tuple[bytes, int, int]] = []
    offset = start
    while offset + 8 <= end:
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size < 8:  # 0 (to the end) or 1 (64-bit size): not written by make_video
            break
        found.append((kind, offset, size))
        if kind in _MP4_CONTAINERS:
            found += mp4_atoms(data, offset + 8, offset + size)
        offset += size
    return found


def _atom(data: bytes, kind: bytes) -> tuple[int, int]:
    for found, offset, size in mp4_atoms(data):
        if found == kind:
            return offset, size
    raise ValueError(f"no {kind.decode()} box in this MP4")


def truncated_moov(mp4: bytes) -> bytes:
    """An MP4 whose index (``moov``, written last by ``make_video``) is cut in half: a download that
    stopped inside the index, every frame present."""
    offset, size = _atom(mp4, b"moov")
    if offset + size != len(mp4):
        raise ValueError("the moov box is not last (a faststart file?)")
    return mp4[: offset + size // 2]


def patch_stsz(mp4: bytes, *, count: int | None = None, size: int | None = None) -> bytes:
    """The MP4 with its sample-size box (``stsz``: version/flags, sample_size, sample_count, sizes…)
    claiming ``count`` samples and/or a constant ``size`` per sample: a few bytes that ask a demuxer for
    gigabytes (``count`` 0xFFFFFFF0 of 4 bytes each; ``size`` 2 GiB per frame)."""
    offset, _ = _atom(mp4, b"stsz")
    out = bytearray(mp4)
    if size is not None:
        out[offset + 12 : offset + 16] = struct.pack(">I", size)
    if count is not None:
        out[offset + 16 : offset + 20] = struct.pack(">I", count)
    return bytes(out)


def _write_pdf_objects(path: Path, objects: Sequence[bytes]) -> Path:
    """A PDF of ``objects`` (object 1 is the catalog) with an exact cross-reference table."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out))
    return path


def _pdf_stream(content: bytes, extra: bytes = b"") -> bytes:
    packed = zlib.compress(content)
    return b"<< /Length %d /Filter /FlateDecode %s >>\nstream\n%s\nendstream" % (len(packed), extra, packed)


_FORM = b"/Type /XObject /Subtype /Form /BBox [0 0 200 200]"


def _one_page_pdf(path: Path, resources: bytes, content: bytes, more: Sequence[bytes]) -> Path:
    """Catalog, page tree, one 200x200 pt page (object 3) drawing ``content`` (object 4), then ``more``."""
    return _write_pdf_objects(
        path,
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Resources << %s >> /Contents 4 0 R >>"
            % resources,
            _pdf_stream(content),
            *more,
        ],
    )


def make_many_objects_pdf(path: Path, objects: int = 100_000) -> Path:
    """A one-page PDF of ``objects`` + 4 objects (about 180 bytes each): the page draws ``objects`` form
    XObjects, each a one-point square. Every object is reachable, so a reader must parse them all."""
    names = b" ".join(b"/X%d %d 0 R" % (i, 5 + i) for i in range(objects))
    content = b"".join(b"/X%d Do\n" % i for i in range(objects))
    forms = [_pdf_stream(b"%d %d 1 1 re f" % (i % 200, i // 200 % 200), _FORM) for i in range(objects)]
    return _one_page_pdf(path, b"/XObject << %s >>" % names, content, forms)


def make_slow_page_pdf(path: Path, depth: int = 40) -> Path:
    """A one-page PDF of a few KB that takes MuPDF hours to render: form ``k`` draws form ``k + 1``
    twice, down ``depth`` levels, so the page paints 2**(depth - 1) squares (depth 20 takes seconds;
    the default, about half a trillion). No cycle, no error: only a render deadline stops it."""
    forms = [
        _pdf_stream(b"/X Do /X Do", _FORM + b" /Resources << /XObject << /X %d 0 R >> >>" % (6 + k))
        for k in range(depth - 1)
    ]
    forms.append(_pdf_stream(b"0 0 1 1 re f", _FORM))
    return _one_page_pdf(path, b"/XObject << /X 5 0 R >>", b"/X Do", forms)


def _png_bytes(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


# -- the sample corpus -----------------------------------------------------------------------------


def make_sample_corpus(folder: Path) -> list[Path]:
    """A small good corpus on distinct topics; returns the files written, sorted."""
    folder.mkdir(parents=True, exist_ok=True)
    make_pdf(folder / "quarterly-report.pdf", 4, topic="finance")
    make_pdf(folder / "field-guide-birds.pdf", 3, topic="birds", with_tables=False)
    make_pdf(folder / "lab-manual.pdf", 3, topic="chemistry", with_charts=False)
    make_scanned_pdf(folder / "scanned-memo.pdf")
    make_landscape(folder / "photo-landscape.jpg")
    make_image(folder / "diagram.png", "png", (480, 320), alpha=True, text="flow diagram")
    make_image(folder / "scan-rotated.jpg", "jpeg", (400, 300), exif_orientation=6, text="receipt 42")
    make_image(folder / "animation.gif", "gif", (200, 150), frames=3, text="gif")
    make_video(folder / "moving-block.mp4", 12, fps=10, size=(320, 240))
    return sorted(p for p in folder.iterdir() if p.is_file())


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        sys.stderr.write("usage: python -m mmsearch.samples FOLDER\n")
        return 2
    for path in make_sample_corpus(Path(args[0])):
        sys.stdout.write(f"{path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def make_empty_pdf(path: Path, pages: int, size: tuple[float, float] = (200.0, 200.0)) -> Path:
    """A PDF of ``pages`` blank pages, written directly (a 5000-page file in milliseconds; PyMuPDF's
    ``new_page`` takes seconds): the hostile "many pages, few bytes" upload."""
    kids = " ".join(f"{3 + i} 0 R" for i in range(pages))
    page = f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {size[0]:g} {size[1]:g}] >>"
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>"]
    objects += [page] * pages
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out))
    return path
