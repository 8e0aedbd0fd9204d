"""The web sign-in's server-side state (``SqliteSessions``): sessions expire and can be deleted, only a
hash of their id is stored, and a login under way is taken once and only while it is fresh."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mmsearch.access.sessions import LOGIN_TTL_S, Login, Session, SqliteSessions
from mmsearch.errors import StoreError


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> SqliteSessions:
    return SqliteSessions(tmp_path / "sessions.sqlite", now=clock)


def test_a_session_lives_until_it_expires(store: SqliteSessions, clock: Clock) -> None:
    session_id = store.create(Session("alice", ("finance-staff",), clock.t, clock.t + 3600))
    assert store.get(session_id) == Session("alice", ("finance-staff",), clock.t, clock.t + 3600)
    assert store.get(session_id + "x") is None and store.get("") is None
    clock.t += 3599
    assert store.get(session_id) is not None
    clock.t += 1
    assert store.get(session_id) is None


def test_a_deleted_session_is_gone_and_others_stay(store: SqliteSessions, clock: Clock) -> None:
    first = store.create(Session("alice", (), clock.t, clock.t + 60))
    second = store.create(Session("bob", (), clock.t, clock.t + 60))
    assert first != second and len(first) >= 43  # 32 random bytes
    store.delete(first)
    assert store.get(first) is None
    assert store.get(second) is not None


def test_only_the_hash_of_a_session_id_is_stored(store: SqliteSessions, clock: Clock, tmp_path: Path) -> None:
    session_id = store.create(Session("alice", ("g",), clock.t, clock.t + 60))
    with sqlite3.connect(tmp_path / "sessions.sqlite") as db:
        rows = db.execute("SELECT * FROM sessions").fetchall()
    assert len(rows) == 1 and session_id not in repr(rows)


def test_expired_sessions_are_purged_when_new_ones_are_made(
    store: SqliteSessions, clock: Clock, tmp_path: Path
) -> None:
    store.create(Session("old", (), clock.t, clock.t + 10))
    clock.t += 20
    store.create(Session("new", (), clock.t, clock.t + 10))
    with sqlite3.connect(tmp_path / "sessions.sqlite") as db:
        assert [r[0] for r in db.execute("SELECT user FROM sessions")] == ["new"]


def test_a_login_is_taken_once(store: SqliteSessions, clock: Clock) -> None:
    login = Login("nonce", "verifier", "binding-hash", "http://localhost/auth/callback", clock.t)
    store.put("state-1", login)
    assert store.take("state-2") is None
    assert store.take("state-1") == login
    assert store.take("state-1") is None  # single use


def test_a_login_expires(store: SqliteSessions, clock: Clock) -> None:
    store.put("state-1", Login("n", "v", "b", "http://localhost/auth/callback", clock.t))
    store.put("state-2", Login("n", "v", "b", "http://localhost/auth/callback", clock.t))
    clock.t += LOGIN_TTL_S - 1
    assert store.take("state-1") is not None
    clock.t += 1
    assert store.take("state-2") is None


def test_a_store_that_cannot_be_opened_says_where(tmp_path: Path) -> None:
    (tmp_path / "sessions.sqlite").mkdir()
    with pytest.raises(StoreError, match="session store"):
        SqliteSessions(tmp_path / "sessions.sqlite")
