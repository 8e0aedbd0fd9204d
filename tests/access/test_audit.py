"""The audit trail's JSON-lines log: one line per entry, rotation by size, torn lines, filters, bounded
lines, query hashing, writers in several threads and processes."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import threading
import time
from pathlib import Path

import pytest

from mmsearch.access.audit import (
    MAX_LINE_BYTES,
    Action,
    Actor,
    AuditEntry,
    JsonlAuditLog,
    NullAuditLog,
    audit_key_created,
    audit_key_revoked,
    audit_sign_in,
    audit_sign_in_failed,
    local_operator,
    open_audit_log,
    search_entry,
)
from mmsearch.access.principal import Principal, Role
from mmsearch.access.settings import AuditSettings

ALICE = Principal("oidc:alice", Role.READER, frozenset({"finance"}), frozenset({"finance"}), "oidc")
ADMIN = Principal("key:ops", Role.ADMIN, None, None, "key")


def entry(
    action: Action = "file", who: Actor | None = None, at: float | None = None, **details: object
) -> AuditEntry:
    return AuditEntry(
        action, who or Actor.of(ALICE), details, "10.0.0.7", at if at is not None else time.time()
    )


def test_an_entry_is_one_line_and_reads_back(tmp_path: Path) -> None:
    trail = JsonlAuditLog(tmp_path / "audit", max_bytes=2**20, keep_files=3)
    trail.record(entry("delete", doc_id="d1", collection="finance", name="q3.pdf"))
    lines = (tmp_path / "audit" / "audit.jsonl").read_bytes().splitlines(keepends=True)
    assert len(lines) == 1 and lines[0].endswith(b"\n")
    data = json.loads(lines[0])
    assert data["action"] == "delete" and data["client"] == "10.0.0.7"
    assert data["principal"] == {"name": "oidc:alice", "role": "reader", "via": "oidc"}
    assert data["details"] == {"doc_id": "d1", "collection": "finance", "name": "q3.pdf"}
    assert data["time"].endswith("Z") and abs(data["unix"] - time.time()) < 60
    assert time.strftime("%Y-%m-%dT%H:%M", time.gmtime(data["unix"])) == data["time"][:16]
    (back,) = trail.read()
    assert back.action == "delete" and back.actor == Actor.of(ALICE) and back.details["name"] == "q3.pdf"
    assert oct((tmp_path / "audit" / "audit.jsonl").stat().st_mode & 0o777) == "0o600"  # not world-readable


def test_a_torn_last_line_and_foreign_lines_are_skipped(tmp_path: Path) -> None:
    trail = JsonlAuditLog(tmp_path, max_bytes=2**20, keep_files=3)
    trail.record(entry(name="a"))
    trail.record(entry(name="b"))
    with (tmp_path / "audit.jsonl").open("ab") as out:
        out.write(b'not json at all\n{"action": "file"}\n[1, 2]\n')
        out.write(b'{"time": "2026-12-04T19:48:18Z", "unix": 1.0, "action": "fi')  # a crash mid-write
    assert [e.details["name"] for e in trail.read()] == ["a", "b"]
    trail.record(entry(name="c"))  # after a restart: on a line of its own, not glued to the torn one
    assert [e.details["name"] for e in trail.read()] == ["a", "b", "c"]


def test_rotation_by_size_keeps_the_newest_files(tmp_path: Path) -> None:
    one = len(json.dumps(entry(n=0).to_json())) + 1
    trail = JsonlAuditLog(tmp_path, max_bytes=one * 3, keep_files=2)
    for n in range(20):
        trail.record(entry(n=n))
    files = trail.files()
    assert len(files) == 3 and files[-1].name == "audit.jsonl"  # two rotated ones and the current
    assert all(f.stat().st_size <= one * 3 + 8 for f in files)
    numbers = [e.details["n"] for e in trail.read()]
    assert numbers == list(range(numbers[0], 20)) and len(numbers) >= 7  # the newest, in order
    assert 0 not in numbers  # the oldest files went


def test_filters_since_principal_and_action(tmp_path: Path) -> None:
    trail = JsonlAuditLog(tmp_path, max_bytes=2**20, keep_files=3)
    bob = Actor("key:bob", "writer", "key")
    trail.record(entry("search", at=1000.0, n=1))
    trail.record(entry("file", at=2000.0, n=2))
    trail.record(entry("delete", who=bob, at=3000.0, n=3))
    assert [e.details["n"] for e in trail.read(since=1500.0)] == [2, 3]
    assert [e.details["n"] for e in trail.read(principal="alice")] == [1, 2]  # without its via
    assert [e.details["n"] for e in trail.read(principal="oidc:alice")] == [1, 2]
    assert [e.details["n"] for e in trail.read(principal="key:alice")] == []
    assert [e.details["n"] for e in trail.read(principal="bob", action="delete")] == [3]
    assert [e.details["n"] for e in trail.read(action="search", since=1500.0)] == []


def test_a_rotated_file_older_than_since_is_not_read(tmp_path: Path) -> None:
    trail = JsonlAuditLog(tmp_path, max_bytes=10, keep_files=5)
    trail.record(entry(n=1, at=100.0))
    trail.record(entry(n=2))
    old = trail.files()[0]
    os.utime(old, (100.0, 100.0))
    old.write_text("garbage that would fail a parse is never opened\n")
    assert [e.details["n"] for e in trail.read(since=time.time() - 60)] == [2]


def test_query_text_its_hash_or_nothing() -> None:
    common = {
        "modalities": ["text"],
        "collections": frozenset({"legal", "finance"}),
        "doc_ids": ["a", "b", "a"],
    }
    text = search_entry(ALICE, text="nda acme", query_mode="text", **common)  # type: ignore[arg-type]
    assert text.details["query"] == "nda acme" and "query_sha256" not in text.details
    assert text.details["collections"] == ["finance", "legal"]
    assert text.details["hits"] == 3 and text.details["doc_ids"] == ["a", "b"]  # each document once
    hashed = search_entry(ALICE, text="nda acme", query_mode="hash", **common)  # type: ignore[arg-type]
    assert hashed.details["query_sha256"] == hashlib.sha256(b"nda acme").hexdigest()
    assert "query" not in hashed.details and "nda" not in json.dumps(hashed.to_json())
    nothing = search_entry(ALICE, text="nda acme", query_mode="none", **common)  # type: ignore[arg-type]
    assert "nda" not in json.dumps(nothing.to_json()) and "query_sha256" not in nothing.details
    image_only = search_entry(
        ADMIN, text=None, query_mode="text", modalities=["image"], collections=None, doc_ids=[]
    )
    assert image_only.details["collections"] is None and "query" not in image_only.details


def test_lines_are_bounded(tmp_path: Path) -> None:
    trail = JsonlAuditLog(tmp_path, max_bytes=2**24, keep_files=3)
    trail.record(entry("search", query="x" * 100_000, doc_ids=[f"{i:036d}" for i in range(5000)]))
    trail.record(
        entry("upload", names=["n" * 4000] * 1000, job_id="j1")
    )  # within each bound, too long in all
    raw = (tmp_path / "audit.jsonl").read_bytes().splitlines()
    assert len(raw) == 2 and all(len(line) <= MAX_LINE_BYTES for line in raw)
    first, second = list(trail.read())
    assert first.details["truncated"] is True and len(first.details["query"]) == 4096
    assert len(first.details["doc_ids"]) == 1000
    assert second.details == {"job_id": "j1", "truncated": True}  # only the short scalars are kept


def test_threads_and_processes_never_interleave(tmp_path: Path) -> None:
    """Writers in 4 threads here and 2 other processes, with rotation: every line whole, none lost
    (keep_files is large enough to keep them all)."""
    folder = tmp_path / "audit"
    trail = JsonlAuditLog(folder, max_bytes=20_000, keep_files=1000)

    def write(tag: str) -> None:
        for n in range(100):
            trail.record(entry(tag=tag, n=n, pad="p" * 200))

    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_write_from_process, args=(str(folder), f"p{i}")) for i in range(2)]
    for process in processes:
        process.start()
    threads = [threading.Thread(target=write, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0
    raw = b"".join(f.read_bytes() for f in trail.files())
    assert all(json.loads(line) for line in raw.splitlines())  # no torn or merged line
    seen: dict[str, list[int]] = {}
    for found in trail.read():
        seen.setdefault(found.details["tag"], []).append(found.details["n"])
    assert sorted(seen) == ["p0", "p1", "t0", "t1", "t2", "t3"]
    assert all(sorted(ns) == list(range(100)) for ns in seen.values())
    assert len(trail.files()) > 5  # it did rotate, under all those writers


def _write_from_process(folder: str, tag: str) -> None:
    trail = JsonlAuditLog(Path(folder), max_bytes=20_000, keep_files=1000)
    for n in range(100):
        trail.record(entry(tag=tag, n=n, pad="p" * 200))


def test_keys_and_sign_ins_are_recorded_without_secrets(tmp_path: Path) -> None:
    trail = open_audit_log(AuditSettings(), tmp_path)
    audit_key_created(trail, ADMIN, name="finance-app", role="reader", collections={"finance"},
                      groups={"finance"}, expires=2_000_000_000.0)  # fmt: skip
    audit_key_revoked(trail, ADMIN, name="finance-app")
    audit_sign_in(trail, ALICE, client="10.0.0.9")
    audit_sign_in_failed(trail, who=None, via="oidc", why="token expired", client="10.0.0.9")
    created, revoked, signed_in, failed = trail.read()
    assert created.action == "key_created" and created.actor.name == "key:ops"
    assert created.details == {"key": "finance-app", "role": "reader", "collections": ["finance"],
                               "groups": ["finance"], "expires": "2033-05-18T03:33:20.000000Z"}  # fmt: skip
    assert revoked.details == {"key": "finance-app"}
    assert signed_in.action == "sign_in" and signed_in.details == {"collections": ["finance"]}
    assert signed_in.client == "10.0.0.9"
    assert failed.actor == Actor("unknown", None, "oidc") and failed.details == {"why": "token expired"}
    assert (tmp_path / "audit" / "audit.jsonl").is_file()


def test_a_local_operator_is_an_admin_named_after_the_os_user() -> None:
    operator = local_operator()
    assert operator.role == Role.ADMIN and operator.via == "config" and operator.name.startswith("config:")
    assert len(operator.name) > len("config:")


def test_a_disabled_trail_keeps_nothing(tmp_path: Path) -> None:
    trail = open_audit_log(AuditSettings(enabled=False), tmp_path)
    assert isinstance(trail, NullAuditLog)
    trail.record(entry())
    assert list(trail.read()) == [] and not (tmp_path / "audit").exists()


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError):
        AuditSettings(query="plain")
    with pytest.raises(ValueError):
        AuditSettings(max_file_mb=0)
    with pytest.raises(ValueError):
        AuditSettings(keep_files=0)


def test_recent_reads_newest_first_across_rotated_files_and_skips_torn_lines(tmp_path: Path) -> None:
    one = len(json.dumps(entry(n=0).to_json())) + 1
    trail = JsonlAuditLog(tmp_path, max_bytes=one * 3, keep_files=5)
    for n in range(10):
        trail.record(entry("search" if n % 2 else "file", n=n))
    assert len(trail.files()) > 2  # the newest entries span several files
    assert [e.details["n"] for e in trail.recent(4)] == [9, 8, 7, 6]
    assert [e.details["n"] for e in trail.recent(3, action="search")] == [9, 7, 5]
    assert [e.details["n"] for e in trail.recent(100)] == [e.details["n"] for e in trail.read()][::-1]
    assert trail.recent(5, principal="bob") == []
    with trail.path.open("ab") as out:
        out.write(b'not json\n{"time": "2026-12-04T19:48:18Z", "unix": 1.0, "action": "fi')  # torn
    assert [e.details["n"] for e in trail.recent(2)] == [9, 8]
    big = JsonlAuditLog(tmp_path / "big", max_bytes=2**30, keep_files=1)
    for n in range(300):  # lines that cross the blocks read from the end
        big.record(entry(n=n, pad="x" * (n % 97)))
    assert [e.details["n"] for e in big.recent(300)] == list(range(299, -1, -1))
    assert NullAuditLog().recent(10) == [] and JsonlAuditLog(tmp_path / "none", 2**20, 1).recent(5) == []
