"""The audit trail: what each principal did (searched, opened, uploaded, deleted, signed in, was refused).

The seam is ``AuditLog`` (``record`` an entry, ``read`` entries back); ``JsonlAuditLog`` is the one
backend today: append-only JSON lines under ``data_dir/audit/``, one line per event. Each line is written
with one ``os.write`` on a file opened ``O_APPEND`` (no user-space buffer: the line is in the kernel when
``record`` returns), under a lock file held by one writer at a time across threads and processes (the
server, ``mmsearch keys``), so lines never interleave, and a crash leaves at most a torn last line, which ``read`` skips (the next line begins
after it). A line is at most
``MAX_LINE_BYTES``: long strings and lists are cut (the entry says ``"truncated": true``). At
``access.audit.max_file_mb`` the file is renamed to ``audit-<UTC time>.jsonl`` and a new one begun; the
oldest beyond ``access.audit.keep_files`` are deleted.

One entry (a line)::

    {"time": "2026-12-04T19:48:18.123456Z", "unix": 1796327298.123456, "action": "search",
     "principal": {"name": "key:finance-app", "role": "reader", "via": "key"}, "client": "10.0.0.7",
     "details": {"collections": ["finance"], "query": "q3 revenue", "modalities": ["text"], "hits": 2,
                 "doc_ids": ["…", "…"]}}

Never a key, token or signature: the helpers below take names, not secrets.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, get_args

from mmsearch.access.principal import Principal, Role
from mmsearch.access.settings import AuditSettings

log = logging.getLogger(__name__)

Action = Literal[
    "search",  # collections, query (text, sha256 or nothing), modalities, hits, doc_ids
    "file",  # an original opened: doc_id, collection, name
    "image",  # a page/frame image opened: doc_id, collection, name, point_id
    "upload",  # job_id, collection, names
    "delete",  # doc_id, collection, name
    "key_created",  # key name, role, collections, groups, expires (never the key)
    "key_revoked",  # key name
    "sign_in",  # a web sign-in that succeeded
    "sign_in_failed",  # who (as far as known), why
    "denied",  # a 401/403: status, code, method, path (no query), why (api/services/audit_trail.py)
]
ACTIONS: tuple[str, ...] = get_args(Action)
QueryMode = Literal["text", "hash", "none"]

FOLDER = "audit"
CURRENT = "audit.jsonl"
MAX_LINE_BYTES = 64 * 1024
MAX_STRING_CHARS = 4096  # the longest query text is server.max_query_chars (4000 by default)
MAX_LIST_ITEMS = 1000  # top_k is at most 1000


@dataclass(frozen=True)
class Actor:
    """Who an entry is about: a principal's name, role and how it signed in (``via``); ``role`` is None
    when unknown (a failed sign-in, a refused key)."""

    name: str
    role: str | None
    via: str

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        return cls(principal.name, principal.role.label, principal.via)

    def matches(self, name: str) -> bool:
        """``--principal alice`` finds ``oidc:alice``; ``--principal oidc:alice`` only that one."""
        return name in (self.name, self.name.partition(":")[2])


UNKNOWN = Actor("unknown", None, "none")  # a request refused before any principal was known (401)


@dataclass(frozen=True)
class AuditEntry:
    action: Action
    actor: Actor
    details: Mapping[str, Any] = field(default_factory=dict)
    client: str | None = None  # the client's address, when a request did it
    time: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {
            "time": iso_time(self.time),
            "unix": round(self.time, 6),
            "action": self.action,
            "principal": {"name": self.actor.name, "role": self.actor.role, "via": self.actor.via},
            "client": self.client,
            "details": dict(self.details),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuditEntry:
        who = data["principal"]
        return cls(
            action=data["action"],
            actor=Actor(str(who["name"]), who.get("role"), str(who.get("via", ""))),
            details=dict(data.get("details") or {}),
            client=data.get("client"),
            time=float(data["unix"]),
        )


class AuditLog(Protocol):
    """Where entries go and come back from (a PostgreSQL table for several replicas can follow)."""

    def record(self, entry: AuditEntry) -> None: ...

    def read(
        self, since: float | None = None, principal: str | None = None, action: str | None = None
    ) -> Iterator[AuditEntry]:
        """Entries at or after ``since`` (unix time), oldest first, of ``principal`` (``Actor.matches``)
        and ``action`` when given."""
        ...

    def recent(self, limit: int, principal: str | None = None, action: str | None = None) -> list[AuditEntry]:
        """The newest ``limit`` entries, newest first (read from the end: the cost is the entries
        returned, not the length of the trail), of ``principal`` and ``action`` when given."""
        ...


class NullAuditLog:
    """``access.audit.enabled: false``: nothing is kept."""

    def record(self, entry: AuditEntry) -> None:
        return None

    def read(
        self, since: float | None = None, principal: str | None = None, action: str | None = None
    ) -> Iterator[AuditEntry]:
        return iter(())

    def recent(self, limit: int, principal: str | None = None, action: str | None = None) -> list[AuditEntry]:
        return []


class JsonlAuditLog:
    """Append-only JSON lines in ``folder``, rotated by size; safe across threads and processes. Each
    record opens the file, writes its line in one ``os.write`` and closes it: nothing stays open, and a
    rotation by another process needs no reopening."""

    def __init__(self, folder: Path, max_bytes: int, keep_files: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.keep_files = keep_files
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self.folder / CURRENT

    def record(self, entry: AuditEntry) -> None:
        line = encode(entry)
        with self._lock, self._across_processes():
            # Under the lock file, so the last byte read below is not another writer's line half-copied
            # (a file's size grows page by page during a write): a torn line is only ever a crash's.
            if self._full(len(line)):
                self.path.rename(self._rotated_name())
                self._prune()
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    line = b"\n" + line  # after a torn line (a crash mid-write): begin a line of its own
                os.write(fd, line)
            finally:
                os.close(fd)

    def read(
        self, since: float | None = None, principal: str | None = None, action: str | None = None
    ) -> Iterator[AuditEntry]:
        for path in self.files():
            with contextlib.suppress(FileNotFoundError):  # not begun yet, or rotated away meanwhile
                if since is not None and path.stat().st_mtime < since:
                    continue  # its last line is older than since
                yield from _select(_entries(path), since, principal, action)

    def recent(self, limit: int, principal: str | None = None, action: str | None = None) -> list[AuditEntry]:
        found: list[AuditEntry] = []
        for path in reversed(self.files()):
            with contextlib.suppress(FileNotFoundError):  # not begun yet, or rotated away meanwhile
                for entry in _select(_entries_backwards(path), None, principal, action):
                    found.append(entry)
                    if len(found) >= limit:
                        return found
        return found

    def files(self) -> list[Path]:
        """The rotated files, oldest first, then the current one."""
        rotated = sorted(self.folder.glob("audit-*.jsonl")) if self.folder.is_dir() else []
        return [*rotated, self.path]

    def _full(self, incoming: int) -> bool:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            return False
        return size > 0 and size + incoming > self.max_bytes

    @contextlib.contextmanager
    def _across_processes(self) -> Iterator[None]:
        """Hold ``audit/.lock``: one writer at a time across processes (the server, ``mmsearch keys``),
        and so one rotation at a time."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = os.open(self.folder / ".lock", os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
        finally:
            os.close(lock)  # and with it the lock

    def _rotated_name(self) -> Path:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        path = self.folder / f"audit-{stamp}.jsonl"
        n = 0
        while path.exists():  # two rotations in one microsecond
            n += 1
            path = self.folder / f"audit-{stamp}.{n}.jsonl"
        return path

    def _prune(self) -> None:
        rotated = self.files()[:-1]
        for old in rotated[: max(0, len(rotated) - self.keep_files)]:
            old.unlink(missing_ok=True)


def open_audit_log(settings: AuditSettings, data_dir: Path) -> AuditLog:
    """The configured audit log: JSON lines under ``data_dir/audit/``, or none at all."""
    if not settings.enabled:
        return NullAuditLog()
    return JsonlAuditLog(data_dir / FOLDER, int(settings.max_file_mb * 2**20), settings.keep_files)


def iso_time(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def encode(entry: AuditEntry) -> bytes:
    """One line of at most ``MAX_LINE_BYTES``: long strings and lists cut, and if still too long, only
    the details' short scalars kept; either way marked ``"truncated": true``."""
    data = entry.to_json()
    details, cut = _bounded(data["details"], MAX_STRING_CHARS, MAX_LIST_ITEMS)
    line = _line({**data, "details": {**details, "truncated": True} if cut else details})
    if len(line) > MAX_LINE_BYTES:
        scalars = {k: v for k, v in details.items() if not isinstance(v, list | dict)}
        small, _ = _bounded(scalars, 200, 0)
        line = _line({**data, "details": {**small, "truncated": True}})
    return line


def _line(data: Mapping[str, Any]) -> bytes:
    return (json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str) + "\n").encode()


def _bounded(value: Any, max_chars: int, max_items: int) -> tuple[Any, bool]:
    """``value`` with strings cut to ``max_chars`` and lists to ``max_items``; and whether anything was."""
    if isinstance(value, str):
        return (value[:max_chars], True) if len(value) > max_chars else (value, False)
    if isinstance(value, Mapping):
        out, cut = {}, False
        for key, item in list(value.items())[: max(max_items, 64)]:
            out[str(key)[:200]], was = _bounded(item, max_chars, max_items)
            cut |= was
        return out, cut or len(value) > max(max_items, 64)
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value) if isinstance(value, set | frozenset) else list(value)
        bounded = [_bounded(item, max_chars, max_items) for item in items[:max_items]]
        return [b[0] for b in bounded], len(items) > max_items or any(b[1] for b in bounded)
    return value, False


def _entries(path: Path) -> Iterator[AuditEntry]:
    """Each whole, well-formed line of ``path``; a torn or foreign line is skipped."""
    with path.open("rb") as lines:
        for raw in lines:
            if not raw.endswith(b"\n"):
                continue  # torn: a crash in the middle of the last write
            entry = _entry(raw)
            if entry is not None:
                yield entry


def _entries_backwards(path: Path, block: int = 64 * 1024) -> Iterator[AuditEntry]:
    """As ``_entries``, last line first: the file is read from its end, ``block`` bytes at a time."""
    with path.open("rb") as file:
        end = file.seek(0, os.SEEK_END)
        tail = b""  # the start of a line whose beginning is in an earlier block
        torn = True  # the file's last bytes, until a newline ends them, are a torn line
        while end > 0:
            start = max(0, end - block)
            file.seek(start)
            chunk = file.read(end - start) + tail
            end = start
            lines = chunk.split(b"\n")
            tail = lines.pop(0) if start > 0 else b""
            for raw in reversed(lines):
                if torn:
                    torn = False  # what follows the last newline (b"" when the file ends in one)
                    continue
                entry = _entry(raw)
                if entry is not None:
                    yield entry


def _entry(raw: bytes) -> AuditEntry | None:
    """One whole line (without its newline) as an entry, or None when it is not one of ours."""
    try:
        return AuditEntry.from_json(json.loads(raw))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _select(
    entries: Iterable[AuditEntry], since: float | None, principal: str | None, action: str | None
) -> Iterator[AuditEntry]:
    for entry in entries:
        if since is not None and entry.time < since:
            continue
        if principal is not None and not entry.actor.matches(principal):
            continue
        if action is not None and entry.action != action:
            continue
        yield entry


# What each event records: the API routes, `mmsearch keys` and the web sign-in call these.


def query_field(text: str | None, mode: QueryMode) -> dict[str, Any]:
    """What a search entry keeps of its query text (``access.audit.query``)."""
    if text is None or mode == "none":
        return {}
    if mode == "hash":
        return {"query_sha256": hashlib.sha256(text.encode()).hexdigest()}
    return {"query": text}


def search_entry(
    principal: Principal,
    *,
    text: str | None,
    query_mode: QueryMode,
    modalities: Sequence[str],
    collections: Iterable[str] | None,
    doc_ids: Sequence[str],
    client: str | None = None,
) -> AuditEntry:
    """A search: the collections searched (None: every one), its query, the hits' documents in rank
    order (each once)."""
    details: dict[str, Any] = {
        "collections": sorted(collections) if collections is not None else None,
        **query_field(text, query_mode),
        "modalities": list(modalities),
        "hits": len(doc_ids),
        "doc_ids": list(dict.fromkeys(doc_ids)),
    }
    return AuditEntry("search", Actor.of(principal), details, client)


def local_operator() -> Principal:
    """Who runs a command on the server's machine (``mmsearch keys``): whoever can read its data_dir and
    config is its administrator; named after the OS user (``config:alice``)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container's arbitrary uid)
        user = f"uid{os.getuid()}"
    return Principal(f"config:{user}", Role.ADMIN, None, None, "config")


def audit_key_created(
    log: AuditLog,
    by: Principal,
    *,
    name: str,
    role: str,
    collections: Iterable[str] | None,
    groups: Iterable[str] | None = None,
    expires: float | None = None,
    client: str | None = None,
) -> None:
    """``mmsearch keys create`` or ``POST /v1/keys``: the key's name and what it grants (never the key
    itself); ``client``: the address of the request that made it."""
    details = {
        "key": name,
        "role": role,
        "collections": sorted(collections) if collections is not None else None,
        "groups": sorted(groups) if groups is not None else None,
        "expires": iso_time(expires) if expires is not None else None,
    }
    log.record(AuditEntry("key_created", Actor.of(by), details, client))


def audit_key_revoked(log: AuditLog, by: Principal, *, name: str, client: str | None = None) -> None:
    """``mmsearch keys revoke`` or ``DELETE /v1/keys/{name}``."""
    log.record(AuditEntry("key_revoked", Actor.of(by), {"key": name}, client))


def audit_sign_in(log: AuditLog, principal: Principal, *, client: str | None = None) -> None:
    """A web sign-in that succeeded: the principal it resolved to, and what it may use."""
    collections = sorted(principal.collections) if principal.collections is not None else None
    log.record(AuditEntry("sign_in", Actor.of(principal), {"collections": collections}, client))


def audit_sign_in_failed(
    log: AuditLog, *, who: str | None, via: str, why: str, client: str | None = None
) -> None:
    """A sign-in (or a bearer token) refused: ``who`` as far as known (a token's subject, or None),
    ``why`` in words (``"token expired"``, ``"no mapped group"``); never the token."""
    actor = Actor(who or UNKNOWN.name, None, via)
    log.record(AuditEntry("sign_in_failed", actor, {"why": why}, client))


def safe_record(trail: AuditLog, entry: AuditEntry) -> None:
    """Record, but a full disk or a lost folder must not fail the request: say so in the log instead."""
    try:
        trail.record(entry)
    except OSError as exc:
        log.error("audit trail: could not record a %s by %s: %s", entry.action, entry.actor.name, exc)
