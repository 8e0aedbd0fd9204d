"""Turning stored references into files, safely.

No path a client sends ever reaches the filesystem: images are found by point id → stored payload →
``media_paths`` (relative to ``data_dir``), and even those are resolved and checked to stay inside
``data_dir/media``, so a tampered payload cannot read ``/etc/passwd`` either.
"""

from __future__ import annotations

from pathlib import Path

from mmsearch.api.errors import not_found


def media_file(data_dir: Path, relpath: str) -> Path:
    """The stored image ``relpath`` under ``data_dir/media``, or 404."""
    root = (data_dir / "media").resolve()
    try:
        path = (data_dir / relpath).resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # a loop, or a NUL byte
        raise not_found("the stored image is missing") from exc
    if not path.is_relative_to(root) or not path.is_file():
        raise not_found(f"the stored image of this hit is missing under {root.name}/: re-ingest its file")
    return path


MAX_UPLOAD_DEPTH = 8


def safe_upload_name(name: str | None) -> str:
    """A client's file name reduced to a safe relative path under ``uploads/``.

    Folders are kept (``docs/q3/report.pdf``: ``mmsearch ingest --server`` sends paths relative to
    the folder it was given, so two ``report.pdf`` in different folders stay two documents), but every
    part is cleaned: no ``..`` or ``.``, no leading dots (hidden), no control or reserved characters,
    at most 8 folders deep and 200 characters a part. What is left is never empty.
    """
    parts = [_safe_part(p) for p in (name or "").replace("\\", "/").split("/")]
    parts = [p for p in parts if p][-MAX_UPLOAD_DEPTH:]
    return "/".join(parts) if parts else "upload"


def _safe_part(part: str) -> str:
    cleaned = "".join(ch for ch in part if ch.isprintable() and ch not in '<>:"|?*').lstrip(". ").rstrip()
    stem, dot, ext = cleaned.rpartition(".")
    if dot and stem and len(ext) <= 16:
        return stem[: 200 - len(ext) - 1] + "." + ext
    return cleaned[:200]
