"""The media store: each unit's page/image/frames as JPEG files under ``data_dir/media``.

Layout (from ``units``): ``media/<doc_id[:2]>/<doc_id>/p00001-<unit id[:8]>.jpg`` for pages,
``image-<id>.jpg`` for images, ``s0000-<id>/f000.jpg`` for a segment's frames. File names carry the
unit id, which is derived from the file's content, so an existing file is already right: ``save_media``
writes each one once, atomically (a temporary file in the same folder, then ``os.replace``), and a
crash never leaves a half-written image under a final name. JPEGs are written with 4:4:4 chroma so
small text stays legible to the reranker.

``load_media`` only opens paths that stay inside ``data_dir/media`` (payloads come from the store and
are not trusted to be paths), and ``delete_media``/``prune_media`` only take well-formed document ids.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path

from PIL import Image

from mmsearch.errors import CorruptFile, IngestError
from mmsearch.ingest.units import SegmentUnit, Unit

MEDIA = "media"


def save_media(unit: Unit, data_dir: Path, quality: int) -> tuple[Path, ...]:
    """Write the unit's images to ``data_dir / unit.media_paths[i]`` unless present; return the paths."""
    images = unit.frames if isinstance(unit, SegmentUnit) else (unit.image,)
    paths = []
    for relpath, image in zip(unit.media_paths, images, strict=True):
        path = data_dir / relpath
        if not path.exists():
            _write_jpeg(image, path, quality)
        paths.append(path)
    return tuple(paths)


def _write_jpeg(image: Image.Image, path: Path, quality: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".jpg", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            image.convert("RGB").save(fh, format="JPEG", quality=quality, subsampling=0)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_media(relpath: str, data_dir: Path) -> Image.Image:
    """Open a stored image by its path relative to ``data_dir`` (as kept in point payloads), as RGB."""
    path = _inside_media(relpath, data_dir)
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except FileNotFoundError as exc:
        raise IngestError(f"stored media {relpath} is missing from {data_dir / MEDIA}") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise CorruptFile(f"stored media {relpath} cannot be decoded ({exc})") from exc


def _inside_media(relpath: str, data_dir: Path) -> Path:
    root = (data_dir / MEDIA).resolve()
    path = (data_dir / relpath).resolve()
    if Path(relpath).is_absolute() or not path.is_relative_to(root) or path == root:
        raise IngestError(f"media path {relpath!r} is outside {root}; refusing to open it")
    return path


def media_folder(doc_id: str, data_dir: Path) -> Path:
    """The folder holding a document's media (the same as ``unit.media_dir`` under ``data_dir``)."""
    try:
        canonical = str(uuid.UUID(doc_id))
    except ValueError as exc:
        raise IngestError(f"{doc_id!r} is not a document id (a UUID)") from exc
    return data_dir / MEDIA / canonical[:2] / canonical


def delete_media(doc_id: str, data_dir: Path) -> bool:
    """Remove a document's media folder; False when it had none."""
    folder = media_folder(doc_id, data_dir)
    if not folder.exists():
        return False
    shutil.rmtree(folder)
    _remove_if_empty(folder.parent)
    return True


def prune_media(doc_id: str, data_dir: Path, keep: set[str]) -> int:
    """Delete the document's media files whose relative paths are not in ``keep`` (what an older
    version of the file left behind); returns how many were removed."""
    folder = media_folder(doc_id, data_dir)
    if not folder.exists():
        return 0
    removed = 0
    for path in sorted(folder.rglob("*"), reverse=True):  # children before their folders
        if path.is_file() and path.relative_to(data_dir).as_posix() not in keep:
            path.unlink()
            removed += 1
        elif path.is_dir():
            _remove_if_empty(path)
    return removed


_UNIT_TAG = re.compile(r"-([0-9a-f]{8})(?:\.jpg)?$")  # p00001-<id8>.jpg, image-<id8>.jpg, s0000-<id8>/


def prune_to_units(doc_id: str, data_dir: Path, unit_ids: set[str]) -> int:
    """Keep only the media of ``unit_ids`` (their file and folder names carry the id's first 8
    characters, see ``units``): drop other versions' images and half-written temporary files without
    asking the store. Returns how many entries went."""
    folder = media_folder(doc_id, data_dir)
    if not folder.is_dir():
        return 0
    tags = {unit_id[:8] for unit_id in unit_ids}
    removed = 0
    for entry in folder.iterdir():
        match = _UNIT_TAG.search(entry.name)
        if match is not None and match.group(1) in tags and not entry.name.startswith(".tmp-"):
            for stray in entry.glob(".tmp-*") if entry.is_dir() else ():
                stray.unlink(missing_ok=True)
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed += 1
    _remove_if_empty(folder)
    _remove_if_empty(folder.parent)
    return removed


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass  # not empty (or already gone): leave it
