"""Managed API keys: what one is (``ManagedKey``), the ``KeyStore`` seam that keeps them, and the work
every backend shares — minting a key, finding the record a presented key belongs to, parsing an expiry.

A key reads ``mms_<id>_<secret>``: ``id`` (12 hex digits) is public and finds the record; the secret is
32 random bytes. Only the key's sha256 is stored (a random 256-bit secret needs no slow hash), and it is
compared with ``hmac.compare_digest``. The plain key is shown once, by ``mmsearch keys create``.

A store is read on every request, so a key created or revoked with the CLI counts on a server already
running at its next request. ``key_sqlite.SqliteKeyStore`` keeps them in ``data_dir/access.sqlite``; a
PostgreSQL store for several API replicas would implement the same four methods.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

from mmsearch.access.principal import Principal, Role
from mmsearch.errors import MmsearchError

PREFIX = "mms_"
ID_CHARS = 12
MAX_KEY_CHARS = 128  # a presented key longer than this is not one of ours (never hashed)
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
COLLECTION_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
GROUP_PATTERN = re.compile(r"[^\s,]{1,128}")
ALL = "*"
_ID = re.compile(rf"{PREFIX}([0-9a-f]{{{ID_CHARS}}})_[A-Za-z0-9_-]{{20,100}}")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

KeyState = Literal["active", "expired", "revoked"]


class KeyRefused(MmsearchError):
    """A key cannot be created or revoked as asked (a bad name, a duplicate, none of that name)."""

    code = "key_refused"
    http_status = 400


@dataclass(frozen=True)
class ManagedKey:
    """One key's record (never the key itself)."""

    key_id: str
    name: str
    key_hash: str  # sha256 hex of the whole key
    role: Role
    collections: frozenset[str] | None  # None: every collection
    groups: frozenset[str] | None  # None: every document of its collections
    created: float
    expires: float | None = None
    revoked: float | None = None

    def state(self, now: float | None = None) -> KeyState:
        if self.revoked is not None:
            return "revoked"
        if self.expires is not None and self.expires <= (time.time() if now is None else now):
            return "expired"
        return "active"

    def matches(self, presented: str) -> bool:
        return hmac.compare_digest(_hash(presented).encode(), self.key_hash.encode())

    def principal(self) -> Principal:
        return Principal(f"key:{self.name}", self.role, self.collections, self.groups, "key")


class KeyStore(Protocol):
    """Where managed keys are kept. ``add`` refuses (``KeyRefused``) a name an unrevoked key has."""

    def add(self, key: ManagedKey) -> None: ...

    def find(self, key_id: str) -> ManagedKey | None:
        """The record with this public id, whatever its state; None when there is none."""
        ...

    def records(self) -> list[ManagedKey]:
        """Every record, oldest first."""
        ...

    def revoke(self, name: str, when: float) -> ManagedKey | None:
        """Revoke the unrevoked key of this name; None when there is none."""
        ...


def mint(
    name: str,
    role: Role,
    collections: Iterable[str] | None,
    groups: Iterable[str] | None,
    expires: float | None = None,
    now: float | None = None,
) -> tuple[str, ManagedKey]:
    """A new key (shown once) and its record; names checked, ``*`` among collections = all of them."""
    if not NAME_PATTERN.fullmatch(name):
        raise KeyRefused(
            f"key name {name[:80]!r} not allowed: 1-64 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    created = time.time() if now is None else now
    if expires is not None and expires <= created:
        raise KeyRefused("the key would expire before it is used: give an expiry in the future")
    key_id = secrets.token_hex(ID_CHARS // 2)
    plain = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    record = ManagedKey(
        key_id, name, _hash(plain), role, _collections(collections), _groups(groups), created, expires
    )
    return plain, record


def key_id_of(presented: str) -> str | None:
    """The public id of something shaped like one of our keys, else None (not ours: another source's)."""
    if len(presented) > MAX_KEY_CHARS:
        return None
    found = _ID.fullmatch(presented)
    return found.group(1) if found else None


def authenticate(store: KeyStore, presented: str, now: float | None = None) -> ManagedKey | None:
    """The active record ``presented`` is the key of, or None (unknown, wrong secret, expired, revoked)."""
    key_id = key_id_of(presented)
    if key_id is None:
        return None
    record = store.find(key_id)
    if record is None or not record.matches(presented) or record.state(now) != "active":
        return None
    return record


def parse_expiry(value: str, now: float | None = None) -> float:
    """``30d``, ``12h``, ``90m``, ``2w``, ``45s`` from now as a unix time."""
    text = value.strip().lower()
    unit = _UNITS.get(text[-1:]) if text else None
    amount = text[:-1]
    if unit is None or not amount.isascii() or not amount.isdigit() or not 0 < int(amount) <= 10**6:
        raise KeyRefused(f"expiry {value[:40]!r} not understood: give a number and a unit, like 30d, 12h, 2w")
    return (time.time() if now is None else now) + int(amount) * unit


def _collections(values: Iterable[str] | None) -> frozenset[str] | None:
    names = _split(values)
    if names is None or ALL in names:
        return None
    if not names:
        raise KeyRefused("give at least one collection (or * for all of them)")
    bad = [n for n in names if not COLLECTION_PATTERN.fullmatch(n)]
    if bad:
        raise KeyRefused(f"collection name {bad[0][:80]!r} not allowed: letters, digits, '.', '_', '-'")
    return frozenset(names)


def _groups(values: Iterable[str] | None) -> frozenset[str] | None:
    names = _split(values)
    if names is None:
        return None
    bad = [n for n in names if not GROUP_PATTERN.fullmatch(n)]
    if bad:
        raise KeyRefused(
            f"group name {bad[0][:80]!r} not allowed: no spaces or commas, at most 128 characters"
        )
    return frozenset(names)


def _split(values: Iterable[str] | None) -> list[str] | None:
    if values is None:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
