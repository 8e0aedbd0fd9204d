"""The manifest: which source files are done, in ``data_dir/manifest.sqlite``.

One row per source path (absolute, symlinks resolved): sha256, size, mtime, the ``fingerprint`` of
what the stored points depend on besides the bytes (the caller's hash of ingest settings + embedding
model + dimension + instruction, so changing any of them re-processes the file), status (``done`` or
``failed``), unit ids, last error, and when it was updated.

The manifest never decides anything is done: the caller (``index.pipeline``) calls ``mark_done`` only
after the file's points are stored. sqlite in WAL mode with ``synchronous=NORMAL`` makes each call
one atomic transaction: a crash or ``kill -9`` loses at most the last uncommitted mark, never corrupts
the file. Checks, cheapest first:

- ``is_unchanged(path, fingerprint)``: the file's current size and mtime match a done row with
  this fingerprint, so it is skipped without even hashing it.
- ``committed_versions(manifest, paths)``: for each path, the sha256 of the version whose points are searchable. A row's
  ``sha256`` moves to a new version only in ``mark_done``, after all its points are stored (a failure
  keeps the last good one), so this is the commit point of a replacement: searches show the points of
  exactly this version, and points of any other version are invisible until they are removed.
- ``is_done(path, sha256, fingerprint)``: the bytes match a done row (after hashing). When only the
  mtime moved (a ``touch``), ``refresh_stat(source)`` records the new stat so the next run's cheap
  check succeeds again.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

from mmsearch.errors import StoreError, StoreLocked
from mmsearch.ingest.units import Source, doc_id_for

SCHEMA_VERSION = 1
Status = Literal["done", "failed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path        TEXT PRIMARY KEY,
    sha256      TEXT,
    size        INTEGER,
    mtime       REAL,
    fingerprint TEXT,
    status      TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    unit_ids    TEXT NOT NULL DEFAULT '[]',
    error       TEXT,
    updated     REAL NOT NULL
)
"""
_COLUMNS = "path, sha256, size, mtime, fingerprint, status, unit_ids, error, updated"


@dataclass(frozen=True)
class ManifestEntry:
    path: str
    sha256: str | None
    size: int | None
    mtime: float | None
    fingerprint: str | None
    status: Status
    unit_ids: tuple[str, ...]
    error: str | None
    updated: float  # unix time of the last mark

    @property
    def units(self) -> int:
        return len(self.unit_ids)

    @property
    def doc_id(self) -> str:
        return doc_id_for(self.path)


class Manifest:
    """Thread-safe handle on the manifest database; use as a context manager or call ``close``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False, isolation_level=None)
            self._setup()
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc
        except OSError as exc:
            raise StoreError(f"cannot create the manifest {self.path}: {exc.strerror or exc}") from exc

    def _setup(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the manifest {self.path} was written by a newer mmsearch (schema {version}); upgrade mmsearch"
            )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- checks ------------------------------------------------------------------------------------

    def is_unchanged(self, path: str | Path, fingerprint: str) -> bool:
        """True when ``path`` is done with this fingerprint and its size and mtime have not moved."""
        key = _key(path)
        try:
            st = os.stat(key)
        except OSError:
            return False
        entry = self.get(key)
        return (
            entry is not None
            and entry.status == "done"
            and entry.fingerprint == fingerprint
            and entry.size == st.st_size
            and entry.mtime == st.st_mtime
        )

    def is_done(self, path: str | Path, sha256: str, fingerprint: str) -> bool:
        """True when ``path`` is done with these bytes and this fingerprint."""
        entry = self.get(path)
        return (
            entry is not None
            and entry.status == "done"
            and (entry.sha256, entry.fingerprint) == (sha256, fingerprint)
        )

    def get(self, path: str | Path) -> ManifestEntry | None:
        rows = self._query(f"SELECT {_COLUMNS} FROM files WHERE path = ?", (_key(path),))
        return _entry(rows[0]) if rows else None

    def documents(self, status: Status | None = None) -> list[ManifestEntry]:
        """Every entry (or those with ``status``), sorted by path."""
        where, args = ("WHERE status = ?", (status,)) if status else ("", ())
        return [_entry(r) for r in self._query(f"SELECT {_COLUMNS} FROM files {where} ORDER BY path", args)]

    # -- marks (the caller's decisions) ------------------------------------------------------------

    def mark_done(self, source: Source, fingerprint: str, unit_ids: Sequence[str]) -> None:
        """Record that all of ``source``'s points are stored."""
        self._execute(
            f"INSERT OR REPLACE INTO files ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, 'done', ?, NULL, ?)",
            (_key(source.path), source.sha256, source.size, source.mtime, fingerprint,
             json.dumps(list(unit_ids)), time.time()),
        )  # fmt: skip

    def mark_failed(self, path: str | Path, error: str) -> None:
        """Record a failure; the file's last good hash and units are kept, but it is no longer done."""
        self._execute(
            "INSERT INTO files (path, status, error, updated) VALUES (?, 'failed', ?, ?) "
            "ON CONFLICT(path) DO UPDATE SET status = 'failed', error = excluded.error, updated = excluded.updated",
            (_key(path), error, time.time()),
        )

    def refresh_stat(self, source: Source) -> bool:
        """Update size/mtime of a done entry whose bytes are unchanged; False if there is none."""
        changed = self._execute(
            "UPDATE files SET size = ?, mtime = ? WHERE path = ? AND sha256 = ? AND status = 'done'",
            (source.size, source.mtime, _key(source.path), source.sha256),
        )
        return changed > 0

    def forget(self, path: str | Path) -> bool:
        """Drop the entry; False when there was none."""
        return self._execute("DELETE FROM files WHERE path = ?", (_key(path),)) > 0

    # -- plumbing ----------------------------------------------------------------------------------

    def _query(self, sql: str, args: tuple[object, ...]) -> list[tuple[object, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise _translate(exc, self.path) from exc

    def _execute(self, sql: str, args: tuple[object, ...]) -> int:
        with self._lock:
            try:
                return self._db.execute(sql, args).rowcount
            except sqlite3.Error as exc:
                raise _translate(exc, self.path) from exc


def committed_versions(manifest: Path, paths: Collection[str]) -> dict[str, str]:
    """For each of ``paths``, the sha256 of its committed version (rows with one), read through a short
    read-only connection (for the query path: it never writes, never creates the file, and never waits
    on a writer, thanks to WAL). No manifest: {}."""
    if not paths or not Path(manifest).is_file():
        return {}
    try:
        db = sqlite3.connect(f"{Path(manifest).resolve().as_uri()}?mode=ro", uri=True, timeout=30.0)
    except sqlite3.Error as exc:
        raise _translate(exc, Path(manifest)) from exc
    try:
        found: dict[str, str] = {}
        wanted = sorted(set(paths))
        for start in range(0, len(wanted), 500):
            batch = wanted[start : start + 500]
            sql = f"SELECT path, sha256 FROM files WHERE sha256 IS NOT NULL AND path IN ({','.join('?' * len(batch))})"
            found.update((str(p), str(sha)) for p, sha in db.execute(sql, batch).fetchall())
        return found
    except sqlite3.Error as exc:
        raise _translate(exc, Path(manifest)) from exc
    finally:
        db.close()


def _key(path: str | Path) -> str:
    """Rows are keyed by absolute path with symlinks resolved, like ``Source.path``."""
    return os.path.realpath(os.fspath(path))


def _entry(row: tuple[object, ...]) -> ManifestEntry:
    path, sha, size, mtime, fingerprint, status, unit_ids, error, updated = row
    return ManifestEntry(
        path=str(path),
        sha256=None if sha is None else str(sha),
        size=None if size is None else int(str(size)),
        mtime=None if mtime is None else float(str(mtime)),
        fingerprint=None if fingerprint is None else str(fingerprint),
        status="done" if status == "done" else "failed",
        unit_ids=tuple(json.loads(str(unit_ids))),
        error=None if error is None else str(error),
        updated=float(str(updated)),
    )


def _translate(exc: sqlite3.Error, path: Path) -> StoreError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return StoreLocked(
            f"the manifest {path} is locked by another process ({text}); wait for it or stop it"
        )
    if "not a database" in text or "malformed" in text:
        return StoreError(
            f"the manifest {path} is damaged ({text}); delete it to rebuild (every file is re-hashed and "
            "re-embedded once, replacing its points)"
        )
    return StoreError(f"the manifest {path} failed: {text}")
