"""The one entry point: a file → its ``Source`` and a lazy iterator of units.

``read_file`` = ``identify`` (stat, size limits, sha256 streamed in 1 MiB chunks, content sniffing) then
``read_units`` (checks what can be checked up front — a PDF's password, truncation and page count, an
image's header and pixels, a video's container — and returns the units as an iterator that
renders/decodes on demand). Callers that may skip a file (the manifest says its bytes are done) call
the two halves themselves and skip the opening.

The bytes hashed are the bytes rendered: ``snapshot`` copies a file once into a private file (hashing
it as it copies) and the units are read from that copy, so a file rewritten during ingest can never
give pages of one version under another version's hash. ``identify_staged`` does the same for bytes
that are already private (an upload waiting in the server's staging folder).

Every failure is an ``IngestError`` subclass whose message starts with the file's name; failures of
one page or one stretch of video surface while iterating, also as ``IngestError``.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from stat import S_ISREG

from mmsearch.errors import CorruptFile, IngestError, UnsupportedFile
from mmsearch.ingest import image, pdf, video
from mmsearch.ingest.settings import IngestSettings
from mmsearch.ingest.sniff import HEAD_BYTES, sniff, sniff_file
from mmsearch.ingest.units import SegmentUnit, Source, Unit

CHUNK = 1 << 20


def read_file(path: Path, settings: IngestSettings) -> tuple[Source, Iterator[Unit]]:
    """Read ``path`` into its ``Source`` and units. Raises ``IngestError`` (see module docstring)."""
    source = identify(path, settings)
    return source, read_units(source, settings)


def identify(path: Path, settings: IngestSettings) -> Source:
    """Stat, size-check, hash and sniff ``path``, without opening it as a document: enough to ask
    the manifest whether these bytes are already done before paying for ``read_units``."""
    path = Path(path).resolve()
    try:
        stat = path.stat()
        if not S_ISREG(stat.st_mode):
            raise UnsupportedFile(f"{path.name}: not a regular file")
        check_size(path.name, stat.st_size, settings)
        head, digest, _ = _head_and_hash(path, None)
    except OSError as exc:
        raise IngestError(f"{path.name}: cannot be read ({exc.strerror or exc})") from exc
    fmt = sniff(head, path.name)
    return Source(str(path), digest, stat.st_size, stat.st_mtime, fmt.kind)


@contextmanager
def snapshot(path: Path, settings: IngestSettings, scratch: Path) -> Iterator[tuple[Source, Path]]:
    """``path``'s ``Source`` and a private copy of exactly the bytes hashed for it (under ``scratch``,
    same file name, removed on exit). Read the units from the copy: ``read_units(source, settings, copy)``."""
    path = Path(path).resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="snap-", dir=scratch))
    try:
        copy = folder / path.name
        yield _source(path, path, settings, copy_to=copy), copy
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def identify_staged(final: Path, staged: Path, settings: IngestSettings) -> Source:
    """The ``Source`` of private bytes at ``staged`` that will live at ``final`` once committed."""
    return _source(Path(final).resolve(), Path(staged), settings, copy_to=None)


def _source(named: Path, data: Path, settings: IngestSettings, copy_to: Path | None) -> Source:
    try:
        stat = data.stat()
        if not S_ISREG(stat.st_mode):
            raise UnsupportedFile(f"{named.name}: not a regular file")
        check_size(named.name, stat.st_size, settings)
        head, digest, size = _head_and_hash(data, copy_to)
    except OSError as exc:
        raise IngestError(f"{named.name}: cannot be read ({exc.strerror or exc})") from exc
    if copy_to is not None:
        check_size(named.name, size, settings)  # it may have grown while being copied
    fmt = sniff(head, named.name)
    return Source(str(named), digest, size, stat.st_mtime, fmt.kind)


def read_units(source: Source, settings: IngestSettings, data: Path | None = None) -> Iterator[Unit]:
    """Open ``source`` (checking what can be checked up front) and return its units, lazily. ``data``:
    where its bytes are read from when not at ``source.path`` (a ``snapshot`` copy, a staged upload)."""
    path = Path(data) if data is not None else Path(source.path)
    try:
        fmt = sniff_file(path)
    except OSError as exc:
        raise IngestError(f"{path.name}: cannot be read ({exc.strerror or exc})") from exc
    if fmt.kind != source.kind:
        raise IngestError(f"{path.name}: changed while being read (was {source.kind}, now {fmt.kind}); retry")
    if fmt.kind == "pdf":
        return pdf.read_pages(path, source, settings)
    if fmt.kind == "image":
        return image.read_image(path, source, fmt.name, settings)
    return video.segments(path, source, video.probe(path, settings.max_video_seconds), settings)


def check_size(name: str, size: int, settings: IngestSettings) -> None:
    """Refuse empty files and files over ``max_file_mb``."""
    if size == 0:
        raise UnsupportedFile(f"{name}: the file is empty (0 bytes)")
    limit = settings.max_file_mb * 1024 * 1024
    if size > limit:
        raise UnsupportedFile(
            f"{name}: {size / 1024 / 1024:,.1f} MB is over ingest.max_file_mb ({settings.max_file_mb:g} MB); "
            "raise the limit to include it"
        )


def _head_and_hash(path: Path, copy_to: Path | None) -> tuple[bytes, str, int]:
    """First bytes, sha256 and length of one read of ``path`` (written to ``copy_to`` as it is read)."""
    digest = hashlib.sha256()
    head = b""
    size = 0
    with ExitStack() as files:
        fh = files.enter_context(path.open("rb"))
        out = files.enter_context(copy_to.open("xb")) if copy_to is not None else None
        while chunk := fh.read(CHUNK):
            if not head:
                head = chunk[:HEAD_BYTES]
            digest.update(chunk)
            if out is not None:
                out.write(chunk)
            size += len(chunk)
    return head, digest.hexdigest(), size


def read_query_video(path: Path, settings: IngestSettings) -> SegmentUnit:
    """A query clip: the first segment (``video_segment_seconds``) of a video file, sampled exactly as
    ingest samples videos. Anything that is not a readable video raises ``IngestError``."""
    source, units = read_file(path, settings)
    if source.kind != "video":
        raise UnsupportedFile(f"{Path(path).name}: not a video (it is {source.kind!r} content)")
    first = next(units, None)
    if not isinstance(first, SegmentUnit):
        raise CorruptFile(f"{Path(path).name}: no frames could be read")
    return first
