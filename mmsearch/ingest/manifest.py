"""The manifest: which documents are done, in ``data_dir/manifest.sqlite``.

One row per document, keyed by its id (``units.doc_id_for(collection, name)``, or the path-derived id a
document indexed before names existed keeps): its collection and name, ``path`` (where its bytes live on
this machine: absolute, symlinks resolved; never shown to a client), sha256, size, mtime, the
``fingerprint`` of what the stored vectors depend on besides the bytes (the caller's hash of the ingest
settings that change what the model sees + embedding model + dimension + instruction: a change re-embeds
the file), the ``text_fingerprint`` of what only the stored text depends on (OCR settings, text length,
the word-box format: a change re-reads the file's text and rewrites its points' text in place, nothing
re-embedded), status (``done`` or ``failed``), unit ids, last error, and when it was updated.

The manifest never decides anything is done: the caller (``index.pipeline``) calls ``mark_done`` only
after the file's points are stored. sqlite in WAL mode with ``synchronous=NORMAL`` makes each call
one atomic transaction: a crash or ``kill -9`` loses at most the last uncommitted mark, never corrupts
the file. Checks, cheapest first:

- ``identify(collection, name, path)``: the id of the document (collection, name): the one the manifest
  already has under that name, else the pre-name document of the same file in that collection, still
  under the name the upgrade gave it (adopted and renamed at its next commit, so re-ingesting a folder
  after the upgrade replaces its documents instead of doubling them), else ``doc_id_for(collection, name)``.
- ``is_unchanged(doc_id, name, path, fingerprint)``: that document is done with this fingerprint, under
  this name, from this file, and the file's size and mtime match, so it is skipped without hashing it.
- ``committed_versions(manifest, doc_ids)``: for each document, the sha256 of the version whose points are
  searchable, read through a read-only connection each thread keeps (a search opens none). A row's ``sha256`` moves to a new version only in ``mark_done``, after all its points are
  stored (a failure keeps the last good one), so this is the commit point of a replacement: searches
  show the points of exactly this version, and points of any other version are invisible until removed.
- ``is_done(doc_id, name, sha256, fingerprint)``: the bytes match a done row (after hashing). When only
  the mtime or the file's location moved, ``refresh_stat(source)`` records them so the next run's cheap
  check succeeds again.

Schema 1 (one row per source path) is migrated in place to schema 3 when opened, in one transaction:
each row keeps its id (``legacy_doc_id(path)``), status, hash and units, and is named as the store's
upgrade names its points: collection ``default``, name = the file name of its path. Schema 2 gains the
``text_fingerprint`` column (3). A row from before schema 3 has none (NULL): its ``fingerprint`` is the
old one over all the ingest settings, which only the caller can recognise (``index.pipeline``:
``legacy_fingerprints``); ``mark_text`` gives it both fingerprints once its text is re-read.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from mmsearch.errors import StoreError, StoreLocked
from mmsearch.ingest.names import DEFAULT_COLLECTION, Labels
from mmsearch.ingest.units import Source, doc_id_for, legacy_doc_id

SCHEMA_VERSION = 3
Status = Literal["done", "failed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id      TEXT PRIMARY KEY,
    collection  TEXT NOT NULL,
    name        TEXT NOT NULL,
    path        TEXT NOT NULL,
    sha256      TEXT,
    size        INTEGER,
    mtime       REAL,
    fingerprint TEXT,
    status      TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    unit_ids    TEXT NOT NULL DEFAULT '[]',
    error       TEXT,
    updated     REAL NOT NULL,
    labels      TEXT NOT NULL DEFAULT '{}',
    text_fingerprint TEXT
);
CREATE INDEX IF NOT EXISTS documents_by_name ON documents (collection, name);
CREATE INDEX IF NOT EXISTS documents_by_path ON documents (path);
"""
_COLUMNS = (
    "doc_id, collection, name, path, sha256, size, mtime, fingerprint, status, unit_ids, error, updated, labels, "
    "text_fingerprint"
)
_V1_COLUMNS = "path, sha256, size, mtime, fingerprint, status, unit_ids, error, updated"


@dataclass(frozen=True)
class ManifestEntry:
    doc_id: str
    collection: str
    name: str
    path: str  # where the bytes live on this machine; never shown to a client
    sha256: str | None
    size: int | None
    mtime: float | None
    fingerprint: str | None
    status: Status
    unit_ids: tuple[str, ...]
    error: str | None
    updated: float  # unix time of the last mark
    groups: tuple[str, ...] = ()  # of the committed version (so a lost document is ingested again with them)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    # What the stored text depends on (None: a row from before schema 3, see the module docstring).
    text_fingerprint: str | None = None

    @property
    def units(self) -> int:
        return len(self.unit_ids)


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
        if version == SCHEMA_VERSION:  # made already: opening it writes nothing (it works on a full disk)
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            if not _has_column(self._db, "documents", "text_fingerprint"):  # schema 2 → 3
                self._db.execute("ALTER TABLE documents ADD COLUMN text_fingerprint TEXT")
            if _has_table(self._db, "files"):
                _migrate_v1(self._db)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- identity ----------------------------------------------------------------------------------

    def identify(self, collection: str, name: str, *paths: str | Path) -> str:
        """The id of document (collection, name) (see the module docstring); ``paths``: where a pre-name
        document of the same file may live (its location now, and any it had before)."""
        rows = self._query(
            "SELECT doc_id FROM documents WHERE collection = ? AND name = ? ORDER BY updated DESC LIMIT 1",
            (collection, name),
        )
        if rows:
            return str(rows[0][0])
        for path in paths:
            key = _key(path)
            legacy = legacy_doc_id(key)
            rows = self._query(
                "SELECT doc_id FROM documents WHERE doc_id = ? AND collection = ? AND path = ? AND name = ?",
                (legacy, collection, key, os.path.basename(key)),
            )
            if rows:
                return legacy
        return doc_id_for(collection, name)

    def find(self, collection: str, name: str) -> ManifestEntry | None:
        """The entry named (collection, name), or None."""
        rows = self._query(
            f"SELECT {_COLUMNS} FROM documents WHERE collection = ? AND name = ? ORDER BY updated DESC LIMIT 1",
            (collection, name),
        )
        return _entry(rows[0]) if rows else None

    def at_path(self, path: str | Path) -> list[ManifestEntry]:
        """The entries whose bytes live at ``path`` (a local file may be several documents)."""
        rows = self._query(
            f"SELECT {_COLUMNS} FROM documents WHERE path = ? ORDER BY collection, name", (_key(path),)
        )
        return [_entry(r) for r in rows]

    # -- checks ------------------------------------------------------------------------------------

    def is_unchanged(self, doc_id: str, name: str, path: str | Path, fingerprint: str) -> bool:
        """True when document ``doc_id`` is done with this fingerprint, under ``name``, from the file at
        ``path``, whose size and mtime have not moved."""
        key = _key(path)
        try:
            st = os.stat(key)
        except OSError:
            return False
        entry = self.get(doc_id)
        return (
            entry is not None
            and entry.status == "done"
            and (entry.name, entry.path, entry.fingerprint) == (name, key, fingerprint)
            and entry.size == st.st_size
            and entry.mtime == st.st_mtime
        )

    def is_done(self, doc_id: str, name: str, sha256: str, fingerprint: str) -> bool:
        """True when document ``doc_id`` is done under ``name`` with these bytes and this fingerprint."""
        entry = self.get(doc_id)
        return (
            entry is not None
            and entry.status == "done"
            and (entry.name, entry.sha256, entry.fingerprint) == (name, sha256, fingerprint)
        )

    def get(self, doc_id: str) -> ManifestEntry | None:
        rows = self._query(f"SELECT {_COLUMNS} FROM documents WHERE doc_id = ?", (doc_id,))
        return _entry(rows[0]) if rows else None

    def documents(self, status: Status | None = None) -> list[ManifestEntry]:
        """Every entry (or those with ``status``), sorted by collection and name."""
        where, args = ("WHERE status = ?", (status,)) if status else ("", ())
        sql = f"SELECT {_COLUMNS} FROM documents {where} ORDER BY collection, name, doc_id"
        return [_entry(r) for r in self._query(sql, args)]

    # -- marks (the caller's decisions) ------------------------------------------------------------

    def mark_done(
        self,
        source: Source,
        fingerprint: str,
        unit_ids: Sequence[str],
        labels: Labels | None = None,
        text_fingerprint: str | None = None,
    ) -> None:
        """Record that all of ``source``'s points are stored (as document ``source.doc_id``, with the
        groups and metadata of ``labels``), their vectors made under ``fingerprint`` and their text under
        ``text_fingerprint``."""
        kept = {"groups": list(labels.groups), "metadata": dict(labels.metadata)} if labels else {}
        self._execute(
            f"INSERT OR REPLACE INTO documents ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'done', ?, NULL, ?, ?, ?)",
            (source.doc_id, source.collection, source.name, _key(source.path), source.sha256, source.size,
             source.mtime, fingerprint, json.dumps(list(unit_ids)), time.time(), json.dumps(kept),
             text_fingerprint),
        )  # fmt: skip

    def mark_text(self, doc_id: str, sha256: str, fingerprint: str, text_fingerprint: str) -> bool:
        """Record that the done document ``doc_id`` (of these bytes) has its points' text rewritten under
        ``text_fingerprint`` (its vectors kept, now under ``fingerprint``: a row from before schema 3 gets
        this version's); call it only after the store has the new text. False when no such row is done."""
        changed = self._execute(
            "UPDATE documents SET fingerprint = ?, text_fingerprint = ?, updated = ? "
            "WHERE doc_id = ? AND sha256 = ? AND status = 'done'",
            (fingerprint, text_fingerprint, time.time(), doc_id, sha256),
        )
        return changed > 0

    def mark_failed(self, doc_id: str, collection: str, name: str, path: str | Path, error: str) -> None:
        """Record a failure; the document's last good hash and units are kept, but it is no longer done."""
        self._execute(
            "INSERT INTO documents (doc_id, collection, name, path, status, error, updated) "
            "VALUES (?, ?, ?, ?, 'failed', ?, ?) ON CONFLICT(doc_id) DO UPDATE SET status = 'failed', "
            "error = excluded.error, updated = excluded.updated",
            (doc_id, collection, name, _key(path), error, time.time()),
        )

    def refresh_stat(self, source: Source) -> bool:
        """Update size/mtime/location of a done entry whose bytes are unchanged; False if there is none."""
        changed = self._execute(
            "UPDATE documents SET size = ?, mtime = ?, path = ? WHERE doc_id = ? AND sha256 = ? AND status = 'done'",
            (source.size, source.mtime, _key(source.path), source.doc_id, source.sha256),
        )
        return changed > 0

    def forget(self, doc_id: str) -> bool:
        """Drop the entry; False when there was none."""
        return self._execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,)) > 0

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


def committed_versions(manifest: Path, doc_ids: Collection[str]) -> dict[str, str]:
    """For each of ``doc_ids``, the sha256 of its committed version (rows with one), read through this
    thread's read-only connection to ``manifest`` (``_reader``: for the query path, it never writes, never
    creates the file, and never waits on a writer, thanks to WAL). No manifest: {}. A manifest still at
    schema 1 is read by path id."""
    if not doc_ids:
        return {}
    try:
        reader = _reader(Path(manifest))
        if reader is None:
            return {}
        if not reader.current:  # schema 1 until a writer opens it; once at 2, it stays there
            reader.current = _has_table(reader.db, "documents")
            if not reader.current:
                return _committed_v1(reader.db, doc_ids)
        found: dict[str, str] = {}
        wanted = sorted(set(doc_ids))
        for start in range(0, len(wanted), 500):
            batch = wanted[start : start + 500]
            sql = f"SELECT doc_id, sha256 FROM documents WHERE sha256 IS NOT NULL AND doc_id IN ({','.join('?' * len(batch))})"
            found.update((str(d), str(sha)) for d, sha in reader.db.execute(sql, batch).fetchall())
        return found
    except sqlite3.Error as exc:
        _forget_reader(Path(manifest))  # a damaged or replaced file: the next call opens it afresh
        raise _translate(exc, Path(manifest)) from exc


@dataclass
class _Reader:
    """One thread's read-only connection to one manifest file (``identity``: its device and inode)."""

    db: sqlite3.Connection
    identity: tuple[int, int]
    current: bool = False  # the file is at schema 2 (has ``documents``)


READERS_PER_THREAD = 4  # manifests one thread keeps a connection to (a server reads one)
_readers = threading.local()  # .held: dict path -> _Reader, least recently used first


def _reader(path: Path) -> _Reader | None:
    """This thread's read-only connection to the manifest at ``path``, opened at its first use and kept
    (a connection costs more than the query); None when there is no manifest file.

    Autocommit, so each query reads the latest commit and holds no read transaction after it (the writer's
    checkpoints are never held back). A file replaced at ``path`` (another inode) gets a new connection;
    at most ``READERS_PER_THREAD`` are kept per thread, the least recently used closed first, and a
    thread's are closed when it ends."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    held: dict[str, _Reader] = getattr(_readers, "held", None) or {}
    _readers.held = held
    key, identity = str(path), (st.st_dev, st.st_ino)
    reader = held.pop(key, None)
    if reader is not None and reader.identity != identity:
        reader.db.close()
        reader = None
    if reader is None:
        uri = f"{path.resolve().as_uri()}?mode=ro"
        reader = _Reader(sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None), identity)
        while len(held) >= READERS_PER_THREAD:
            held.pop(next(iter(held))).db.close()
    held[key] = reader  # most recently used last
    return reader


def _forget_reader(path: Path) -> None:
    reader = (getattr(_readers, "held", None) or {}).pop(str(path), None)
    if reader is not None:
        reader.db.close()


def _committed_v1(db: sqlite3.Connection, doc_ids: Collection[str]) -> dict[str, str]:
    """A schema-1 manifest not yet opened for writing (a reader started first): its rows by path id."""
    if not _has_table(db, "files"):
        return {}
    wanted = set(doc_ids)
    rows = db.execute("SELECT path, sha256 FROM files WHERE sha256 IS NOT NULL").fetchall()
    return {legacy_doc_id(str(p)): str(sha) for p, sha in rows if legacy_doc_id(str(p)) in wanted}


def _has_table(db: sqlite3.Connection, table: str) -> bool:
    return (
        db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
        is not None
    )


def _has_column(db: sqlite3.Connection, table: str, column: str) -> bool:
    return any(row[1] == column for row in db.execute(f"PRAGMA table_info({table})").fetchall())


def _migrate_v1(db: sqlite3.Connection) -> None:
    """Schema 1 → 3, inside the caller's transaction: every row kept under its old id, named by its file
    (and without a text fingerprint, as a schema-2 row)."""
    for row in db.execute(f"SELECT {_V1_COLUMNS} FROM files").fetchall():
        path = str(row[0])
        db.execute(
            f"INSERT OR IGNORE INTO documents ({_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{}', NULL)",
            (legacy_doc_id(path), DEFAULT_COLLECTION, os.path.basename(path), *row),
        )
    db.execute("DROP TABLE files")


def _key(path: str | Path) -> str:
    """A file's location: absolute with symlinks resolved, like ``Source.path``."""
    return os.path.realpath(os.fspath(path))


def _entry(row: tuple[object, ...]) -> ManifestEntry:
    (
        doc_id,
        collection,
        name,
        path,
        sha,
        size,
        mtime,
        fingerprint,
        status,
        unit_ids,
        error,
        updated,
        labels,
        text_fingerprint,
    ) = row
    kept = json.loads(str(labels))
    return ManifestEntry(
        doc_id=str(doc_id),
        collection=str(collection),
        name=str(name),
        path=str(path),
        sha256=None if sha is None else str(sha),
        size=None if size is None else int(str(size)),
        mtime=None if mtime is None else float(str(mtime)),
        fingerprint=None if fingerprint is None else str(fingerprint),
        status="done" if status == "done" else "failed",
        unit_ids=tuple(json.loads(str(unit_ids))),
        error=None if error is None else str(error),
        updated=float(str(updated)),
        groups=tuple(kept.get("groups", ())),
        metadata=dict(kept.get("metadata", {})),
        text_fingerprint=None if text_fingerprint is None else str(text_fingerprint),
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
