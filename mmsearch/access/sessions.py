"""Web sign-in state on the server: the sessions of signed-in users and the logins under way.

A **session** is what a browser's session cookie stands for: the user's name and IdP groups (as the
validated ID token gave them) and when it expires. The principal is worked out again from the groups and
the current ``access.oidc.mapping`` on every request, so a mapping changed by the administrator applies
at once. The cookie holds only a random session id; the store keeps its SHA-256, so a copy of the
database signs nobody in.

A **login** is one authorization request under way (``state`` → nonce, PKCE verifier, the hash of the
browser's login cookie, the redirect URL): short-lived and single-use, taken once by the callback.

Both sit behind small protocols (``SessionStore``, ``LoginStore``), like the manifest, so a shared
backend (PostgreSQL) for several API replicas can follow; ``SqliteSessions`` keeps both in
``data_dir/sessions.sqlite``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mmsearch.errors import StoreError

LOGIN_TTL_S = 600.0  # an authorization request must come back within ten minutes


@dataclass(frozen=True)
class Session:
    user: str  # the name claim's value
    idp_groups: tuple[str, ...]
    created: float
    expires: float


@dataclass(frozen=True)
class Login:
    nonce: str
    verifier: str  # the PKCE code verifier
    binding: str  # SHA-256 of the login cookie of the browser that started it
    redirect_url: str
    created: float


class SessionStore(Protocol):
    def create(self, session: Session) -> str:
        """Store ``session``; return its new random id (what the cookie carries)."""
        ...

    def get(self, session_id: str) -> Session | None:
        """The live session of this id, or None (unknown, expired or deleted)."""
        ...

    def delete(self, session_id: str) -> None: ...


class LoginStore(Protocol):
    def put(self, state: str, login: Login) -> None: ...

    def take(self, state: str) -> Login | None:
        """The login of ``state``, removed: a second take, or one after ``LOGIN_TTL_S``, gets None."""
        ...


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id_hash     TEXT PRIMARY KEY,
    user        TEXT NOT NULL,
    idp_groups  TEXT NOT NULL,
    created     REAL NOT NULL,
    expires     REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS logins (
    state_hash    TEXT PRIMARY KEY,
    nonce         TEXT NOT NULL,
    verifier      TEXT NOT NULL,
    binding       TEXT NOT NULL,
    redirect_url  TEXT NOT NULL,
    created       REAL NOT NULL
);
"""


class SqliteSessions:
    """``SessionStore`` and ``LoginStore`` in one SQLite file (WAL, autocommit: each statement is atomic)."""

    def __init__(self, path: Path, now: Callable[[], float] = time.time) -> None:
        self._now = now
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=30.0, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the session store {path}: {exc}") from exc

    def close(self) -> None:
        self._db.close()

    # -- sessions -------------------------------------------------------------------------------------

    def create(self, session: Session) -> str:
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE expires <= ?", (self._now(),))
            self._db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
                (digest(session_id), session.user, json.dumps(session.idp_groups), session.created,
                 session.expires),
            )  # fmt: skip
        return session_id

    def get(self, session_id: str) -> Session | None:
        with self._lock:
            row = self._db.execute(
                "SELECT user, idp_groups, created, expires FROM sessions WHERE id_hash = ? AND expires > ?",
                (digest(session_id), self._now()),
            ).fetchone()
        if row is None:
            return None
        return Session(row[0], tuple(json.loads(row[1])), row[2], row[3])

    def delete(self, session_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE id_hash = ?", (digest(session_id),))

    # -- logins under way -----------------------------------------------------------------------------

    def put(self, state: str, login: Login) -> None:
        with self._lock:
            self._db.execute("DELETE FROM logins WHERE created <= ?", (self._now() - LOGIN_TTL_S,))
            self._db.execute(
                "INSERT INTO logins VALUES (?, ?, ?, ?, ?, ?)",
                (
                    digest(state),
                    login.nonce,
                    login.verifier,
                    login.binding,
                    login.redirect_url,
                    login.created,
                ),
            )

    def take(self, state: str) -> Login | None:
        with self._lock:
            row = self._db.execute(
                "DELETE FROM logins WHERE state_hash = ? RETURNING nonce, verifier, binding, redirect_url, "
                "created",
                (digest(state),),
            ).fetchone()
        if row is None or row[4] <= self._now() - LOGIN_TTL_S:
            return None
        return Login(*row)
