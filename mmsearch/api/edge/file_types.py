"""What a stored file is served as: a media type from its sniffed content, never from its name.

A write-key holder names an upload; a name like ``report.html`` must not make the server answer
``text/html`` on its own origin, where a script in the file would run with the page's rights. So the
type comes from the bytes (``ingest.sniff``): only PDF, image and video types are ever sent, each with
``X-Content-Type-Options: nosniff`` and a sandboxing Content-Security-Policy (``headers.file_headers``).
Anything else (a file changed on disk since it was ingested) goes out as ``application/octet-stream``
with ``Content-Disposition: attachment``: downloaded, never rendered.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mmsearch.errors import UnsupportedFile
from mmsearch.ingest.sniff import sniff_file

# ingest.sniff format names -> the media types browsers render them by.
MEDIA_TYPES: dict[str, str] = {
    "pdf": "application/pdf",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "tiff": "image/tiff",
    "bmp": "image/bmp",
    "gif": "image/gif",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "webm": "video/webm",
    "mkv": "video/x-matroska",
    "avi": "video/x-msvideo",
}
OPAQUE = "application/octet-stream"


@dataclass(frozen=True)
class ServedType:
    media_type: str
    inline: bool  # False: Content-Disposition attachment (download, never render)


def served_type(path: Path) -> ServedType:
    """How to serve ``path``: its sniffed media type inline, or opaque bytes as an attachment."""
    try:
        fmt = sniff_file(path)
    except (UnsupportedFile, OSError):
        return ServedType(OPAQUE, inline=False)
    return ServedType(MEDIA_TYPES[fmt.name], inline=True)
