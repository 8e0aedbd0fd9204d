"""Uploaded files on disk: ``data_dir/uploads/<name>``, written so a failure never loses the old version.

Each upload is streamed into ``uploads/.incoming/`` first and then moved into place atomically; a file
already under that name is kept aside until the new one has been ingested, and put back if it fails.
Names reach here already cleaned by ``paths.safe_upload_name``.
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from mmsearch.config import Settings

INCOMING = ".incoming"


@dataclass
class Saved:
    name: str  # as the uploader named it (cleaned)
    path: Path  # where it now is
    backup: Path | None  # the version it replaced, until settled

    def settle(self, ok: bool) -> None:
        """Keep the new file if it was ingested; else put the previous version back (or remove it)."""
        if ok:
            if self.backup is not None:
                self.backup.unlink(missing_ok=True)
        elif self.backup is not None:
            os.replace(self.backup, self.path)
        else:
            self.path.unlink(missing_ok=True)


def uploads_dir(settings: Settings) -> Path:
    folder = settings.data_dir.resolve() / "uploads"
    (folder / INCOMING).mkdir(parents=True, exist_ok=True)
    return folder


def save_upload(folder: Path, name: str, source: BinaryIO) -> Saved:
    """Write the upload beside its final place, then move it in (keeping any old version aside)."""
    final = folder / name
    incoming = folder / INCOMING / uuid.uuid4().hex
    backup = None
    try:
        if final.is_dir():
            raise IsADirectoryError(errno.EISDIR, "a folder of earlier uploads has this name")
        final.parent.mkdir(parents=True, exist_ok=True)
        with open(incoming, "wb") as out:
            shutil.copyfileobj(source, out, length=1 << 20)
        if final.exists():
            backup = incoming.with_suffix(".previous")
            os.replace(final, backup)
        os.replace(incoming, final)
    except OSError:
        if backup is not None:
            os.replace(backup, final)
        incoming.unlink(missing_ok=True)
        raise
    return Saved(name, final, backup)
