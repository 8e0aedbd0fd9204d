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
