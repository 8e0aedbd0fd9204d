"""The managed keys in ``data_dir/access.sqlite`` (WAL): the ``KeyStore`` of one server and its CLI.

Each call opens its own short connection, so the server (reading on every request) and ``mmsearch
keys`` (writing) never hold the file between calls, and a server already running sees a new or revoked
key at its next request. Until a key is created the file does not exist, and reads find no keys.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mmsearch.access.keys import KeyRefused, ManagedKey
from mmsearch.access.principal import Role
from mmsearch.errors import StoreError

FILE_NAME = "access.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id      TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    key_hash    TEXT NOT NULL,
    role        TEXT NOT NULL,
    collections TEXT,
    groups_     TEXT,
    created     REAL NOT NULL,
    expires     REAL,
    revoked     REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS api_keys_live_name ON api_keys (name) WHERE revoked IS NULL;
"""
_COLUMNS = "key_id, name, key_hash, role, collections, groups_, created, expires, revoked"


class SqliteKeyStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    def add(self, key: ManagedKey) -> None:
        row = (
            key.key_id, key.name, key.key_hash, key.role.label, _json(key.collections), _json(key.groups),
            key.created, key.expires, key.revoked,
        )  # fmt: skip
        try:
            with self._connect(create=True) as db:
                db.execute(f"INSERT INTO api_keys ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
        except sqlite3.IntegrityError as exc:
            raise KeyRefused(
                f"a key named {key.name!r} exists: revoke it first (mmsearch keys revoke {key.name}) "
                "or choose another name"
            ) from exc

    def find(self, key_id: str) -> ManagedKey | None:
        rows = self._select("WHERE key_id = ?", (key_id,))
        return rows[0] if rows else None

    def records(self) -> list[ManagedKey]:
        return self._select("ORDER BY created, name", ())

    def revoke(self, name: str, when: float) -> ManagedKey | None:
        with self._connect(create=True) as db:
            row = db.execute(
                "SELECT key_id FROM api_keys WHERE name = ? AND revoked IS NULL", (name,)
            ).fetchone()
            if row is None:
                return None
            db.execute("UPDATE api_keys SET revoked = ? WHERE key_id = ?", (when, row[0]))
        return self.find(row[0])

    def _select(self, where: str, args: tuple[object, ...]) -> list[ManagedKey]:
        if not self.path.exists():
            return []
        with self._connect(create=False) as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM api_keys {where}", args).fetchall()
        return [_record(r) for r in rows]

    @contextmanager
    def _connect(self, create: bool) -> Iterator[sqlite3.Connection]:
        """One transaction on a fresh connection (committed on leaving, rolled back on an error)."""
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=10.0)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"the key store {self.path} cannot be opened: {exc}") from exc
        try:
            with db:
                if create:  # the mode is kept in the file: readers need not set it
                    db.execute("PRAGMA journal_mode=WAL")
                    db.executescript(_SCHEMA)
                yield db
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise StoreError(f"the key store {self.path} failed: {exc}") from exc
        finally:
            db.close()


def _json(values: frozenset[str] | None) -> str | None:
    return None if values is None else json.dumps(sorted(values))


def _set(text: str | None) -> frozenset[str] | None:
    return None if text is None else frozenset(json.loads(text))


def _record(row: tuple[object, ...]) -> ManagedKey:
    key_id, name, key_hash, role, collections, groups, created, expires, revoked = row
    return ManagedKey(
        str(key_id), str(name), str(key_hash), Role.parse(str(role)), _set(collections),  # type: ignore[arg-type]
        _set(groups), float(created), expires, revoked,  # type: ignore[arg-type]
    )  # fmt: skip
