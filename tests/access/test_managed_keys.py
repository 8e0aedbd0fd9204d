"""Managed API keys: minting, the SQLite store (hashed, revocable, expiring), and what a presented key finds."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from mmsearch.access.key_sqlite import SqliteKeyStore
from mmsearch.access.keys import KeyRefused, authenticate, key_id_of, mint, parse_expiry
from mmsearch.access.principal import Role


@pytest.fixture
def store(tmp_path: Path) -> SqliteKeyStore:
    return SqliteKeyStore(tmp_path / "access.sqlite")


def test_a_minted_key_finds_its_record_and_only_its_hash_is_stored(store: SqliteKeyStore) -> None:
    plain, record = mint("finance-app", Role.READER, ["finance"], ["finance"])
    store.add(record)
    assert plain.startswith("mms_") and len(plain) > 50 and key_id_of(plain) == record.key_id
    found = authenticate(store, plain)
    assert found is not None and found.name == "finance-app"
    principal = found.principal()
    assert (principal.name, principal.role, principal.via) == ("key:finance-app", Role.READER, "key")
    assert principal.collections == frozenset({"finance"}) and principal.groups == frozenset({"finance"})
    raw = (store.path).read_bytes() + b"".join(p.read_bytes() for p in store.path.parent.glob("*-wal"))
    assert plain.encode() not in raw and plain[len("mms_") + 13 :].encode() not in raw


def test_a_wrong_secret_under_a_known_id_is_refused(store: SqliteKeyStore) -> None:
    plain, record = mint("a", Role.WRITER, ["*"], None)
    store.add(record)
    prefix, secret = plain[: len("mms_") + 13], plain[len("mms_") + 13 :]
    forged = prefix + ("A" if secret[0] != "A" else "B") + secret[1:]
    assert key_id_of(forged) == record.key_id
    assert authenticate(store, forged) is None
    assert authenticate(store, plain + "x") is None
    assert authenticate(store, "mms_000000000000_" + "a" * 43) is None  # no such id


@pytest.mark.parametrize(
    "presented",
    ["", "mms_", "mms_abc_def", "Bearer mms_x", "x" * 24, "mms_" + "g" * 12 + "_" + "a" * 43, "a.b.c"],
)
def test_things_not_shaped_like_our_keys_have_no_id(presented: str) -> None:
    assert key_id_of(presented) is None


def test_revoked_and_expired_keys_stop_working(store: SqliteKeyStore) -> None:
    now = time.time()
    short, short_record = mint("short", Role.READER, None, None, expires=now + 60, now=now)
    kept, kept_record = mint("kept", Role.READER, None, None)
    store.add(short_record)
    store.add(kept_record)
    assert authenticate(store, short, now=now + 59) is not None
    assert authenticate(store, short, now=now + 60) is None
    assert store.revoke("kept", time.time()) is not None
    assert authenticate(store, kept) is None
    assert {r.name: r.state(now) for r in store.records()} == {"short": "active", "kept": "revoked"}
    assert store.revoke("kept", time.time()) is None  # nothing unrevoked of that name
    assert store.revoke("nobody", time.time()) is None


def test_a_name_is_taken_until_its_key_is_revoked(store: SqliteKeyStore) -> None:
    store.add(mint("app", Role.READER, None, None)[1])
    with pytest.raises(KeyRefused, match="revoke it first"):
        store.add(mint("app", Role.WRITER, None, None)[1])
    store.revoke("app", time.time())
    plain, again = mint("app", Role.WRITER, None, None)
    store.add(again)
    found = authenticate(store, plain)
    assert found is not None and found.role == Role.WRITER


def test_collections_and_groups_are_parsed(store: SqliteKeyStore) -> None:
    _, everything = mint("all", Role.ADMIN, ["*"], None)
    _, split = mint("split", Role.READER, ["finance, legal", "hr"], ["finance,execs"])
    _, no_groups = mint("none", Role.READER, ["finance"], [""])
    for record in (everything, split, no_groups):
        store.add(record)
    by_name = {r.name: r for r in store.records()}
    assert by_name["all"].collections is None and by_name["all"].groups is None
    assert by_name["split"].collections == frozenset({"finance", "legal", "hr"})
    assert by_name["split"].groups == frozenset({"finance", "execs"})
    assert by_name["none"].groups == frozenset()  # in no group: only documents without groups


@pytest.mark.parametrize(
    ("name", "collections", "groups", "needle"),
    [
        ("", ["x"], None, "key name"),
        ("has space", ["x"], None, "key name"),
        ("x" * 65, ["x"], None, "key name"),
        ("ok", [""], None, "at least one collection"),
        ("ok", ["bad/name"], None, "collection name"),
        ("ok", ["x"], ["a b"], "group name"),
    ],
)
def test_bad_names_are_refused(
    name: str, collections: list[str], groups: list[str] | None, needle: str
) -> None:
    with pytest.raises(KeyRefused, match=needle):
        mint(name, Role.READER, collections, groups)


def test_an_expiry_in_the_past_is_refused() -> None:
    with pytest.raises(KeyRefused, match="expire before"):
        mint("old", Role.READER, None, None, expires=time.time() - 1)


@pytest.mark.parametrize(
    ("text", "seconds"), [("30d", 30 * 86400), ("12h", 43200), ("2w", 14 * 86400), ("90m", 5400), ("45s", 45)]
)
def test_expiry_durations(text: str, seconds: int) -> None:
    assert parse_expiry(text, now=1000.0) == 1000.0 + seconds


@pytest.mark.parametrize("text", ["", "30", "d", "-1d", "0d", "1.5d", "30y", "３0d", "99999999d"])
def test_bad_expiry_durations(text: str) -> None:
    with pytest.raises(KeyRefused, match="expiry"):
        parse_expiry(text)


def test_reads_of_a_store_never_written_find_nothing_and_create_nothing(tmp_path: Path) -> None:
    store = SqliteKeyStore(tmp_path / "sub" / "access.sqlite")
    assert store.records() == [] and store.find("0" * 12) is None
    assert not (tmp_path / "sub").exists()


def test_the_store_is_in_wal_mode(store: SqliteKeyStore) -> None:
    store.add(mint("a", Role.READER, None, None)[1])
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
