"""What a file is, decided by its first bytes; the name's extension is only a hint for messages.

``sniff(head, name)`` reads the magic numbers of the formats ingest supports (PDF, PNG, JPEG, WebP, TIFF,
BMP, GIF; MP4/MOV ``ftyp``, Matroska/WebM EBML, AVI ``RIFF``) and returns a ``Format``. Anything else is
``UnsupportedFile``, with a message that says what the content looks like ("x.pdf: not a PDF (content
looks like text)"). Signatures are from the format specs (PNG §5.2, JFIF, RIFF, TIFF 6.0 §2, ISO/IEC
14496-12 §4.3 ``ftyp``, EBML RFC 8794 §8).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mmsearch.errors import UnsupportedFile
from mmsearch.ingest.units import SourceKind

HEAD_BYTES = 4096  # enough for every signature below, and for PDF's "%PDF-" after leading junk
PDF_SEARCH_BYTES = 1024  # readers accept "%PDF-" anywhere in the first KiB (PDF 32000-1 Annex H.3)

# ISO base media brands that are still images (HEIF/AVIF), not videos.
_IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}

_EXTENSION_KIND: dict[str, str] = {
    ".pdf": "a PDF",
    **{ext: "an image" for ext in (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif")},
    **{ext: "a video" for ext in (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi")},
}


@dataclass(frozen=True)
class Format:
    """A recognised file format: the source kind and the concrete format name (``"png"``, ``"mp4"``)."""

    kind: SourceKind
    name: str


def sniff_file(path: Path) -> Format:
    """Read the head of ``path`` and sniff it. OS errors are left to the caller."""
    with path.open("rb") as fh:
        return sniff(fh.read(HEAD_BYTES), path.name)


def sniff(head: bytes, name: str) -> Format:
    """The format of a file whose first bytes are ``head``; ``name`` is used in the error message only."""
    found = _image(head) or _video(head) or _pdf(head)
    if found is None:
        raise UnsupportedFile(_refusal(head, name))
    return found


def _pdf(head: bytes) -> Format | None:
    return Format("pdf", "pdf") if b"%PDF-" in head[:PDF_SEARCH_BYTES] else None


def _image(head: bytes) -> Format | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Format("image", "png")
    if head.startswith(b"\xff\xd8\xff"):
        return Format("image", "jpeg")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Format("image", "webp")
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return Format("image", "tiff")
    if head[:2] == b"BM" and len(head) >= 26 and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES:
        return Format("image", "bmp")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Format("image", "gif")
    return None


# BITMAPCOREHEADER, OS/2 v2, BITMAPINFOHEADER, v2, v3, v4, v5: "BM" alone is too weak a signature.
_BMP_HEADER_SIZES = {12, 16, 40, 52, 56, 64, 108, 124}


def _video(head: bytes) -> Format | None:
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _IMAGE_BRANDS:
            return None  # HEIF/AVIF stills: reported as unsupported images by _refusal
        return Format("video", "mov" if brand == b"qt  " else "mp4")
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip") and int.from_bytes(head[:4], "big") >= 8:
        return Format("video", "mov")  # old QuickTime files start with an atom other than ftyp
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return Format("video", "webm" if b"webm" in head[:64] else "mkv")
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return Format("video", "avi")
    return None


def _refusal(head: bytes, name: str) -> str:
    looks = describe(head)
    claimed = _EXTENSION_KIND.get(Path(name).suffix.lower())
    if claimed:
        return f"{name}: not {claimed} (content looks like {looks})"
    return (
        f"{name}: unsupported file type (content looks like {looks}); mmsearch reads PDFs, images and videos"
    )


def describe(head: bytes) -> str:
    """A short human description of unrecognised content, for error messages."""
    if not head:
        return "nothing: the file is empty"
    if head[4:8] == b"ftyp" and head[8:12] in _IMAGE_BRANDS:
        return "a HEIF/AVIF image, which is not supported; convert it to JPEG or PNG"
    for magic, what in _OTHER_MAGIC:
        if head.startswith(magic):
            return what
    if _is_text(head):
        sample = head[:200].decode("utf-8", errors="replace").lstrip().lower()
        if sample.startswith(("<!doctype html", "<html")):
            return "HTML"
        return "text"
    return "unknown binary data"


_OTHER_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive or an Office document"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"\xd0\xcf\x11\xe0", "a legacy Office document"),
    (b"\x7fELF", "an executable"),
    (b"ID3", "MP3 audio"),
    (b"OggS", "Ogg media"),
    (b"fLaC", "FLAC audio"),
    (b"%!PS", "PostScript"),
)


def _is_text(head: bytes) -> bool:
    """True when the bytes decode as UTF-8 (a cut multi-byte char at the end is fine) without NULs."""
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # only the last, truncated character failed
    return True
