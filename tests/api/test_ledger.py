"""The reservation ledger on its own: all three limits checked in one step under many threads, a claim's
reservations ahead of its bytes and their true-up, the refusal's numbers, usage derived from an uploads
folder, the quota settings, and the job list's principal column (added in place to an older list)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
import yaml

from mmsearch.api.services.job_store import JobStore
from mmsearch.api.services.ledger import DISK, STEP, Claim, Limits, QuotaExceeded
from mmsearch.api.services.local_ledger import LocalLedger
from mmsearch.api.services.uploads import INCOMING, collection_of, usage_by_collection
from mmsearch.api.settings import ApiSettings
from mmsearch.config import load_settings
from mmsearch.errors import ConfigError

MiB = 2**20
ROOMY = 10**15  # a disk with room for anything


def limits(global_mb: float = 1000, reserve_mb: float = 16, default_mb: float | None = None,
           **quotas_mb: float) -> Limits:  # fmt: skip
    server = ApiSettings(uploads_quota_mb=global_mb, min_free_disk_mb=reserve_mb, collection_quota_mb=default_mb,
                         collection_quotas_mb=quotas_mb)  # fmt: skip
    return Limits.of(server)


def test_quotas_come_from_the_override_then_the_default() -> None:
    rules = limits(default_mb=5, finance=10)
    assert rules.quota("finance") == (10 * MiB, "server.collection_quotas_mb.finance")
    assert rules.quota("legal") == (5 * MiB, "server.collection_quota_mb")
    assert limits().quota("legal") == (None, "server.collection_quota_mb")
    assert (rules.global_quota, rules.min_free) == (1000 * MiB, 16 * MiB)


def test_many_threads_never_pass_a_quota_together() -> None:
    ledger = LocalLedger({"finance": 3 * MiB}, lambda: ROOMY)
    rules = limits(finance=10)
    granted: list[int] = []
    start = threading.Barrier(16)

    def grab() -> None:
        start.wait()
        for _ in range(200):
            try:
                ledger.reserve("finance", 4096, rules)
            except QuotaExceeded:
                return
            granted.append(4096)

    threads = [threading.Thread(target=grab) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(granted) == 7 * MiB  # exactly what was left, to the byte
    assert ledger.usage() == {"finance": 10 * MiB}


@pytest.mark.parametrize(
    ("used", "free", "quota", "limit", "counted"),
    [
        ({"finance": 9 * MiB}, ROOMY, "server.collection_quotas_mb.finance", 10 * MiB, 9 * MiB),
        ({"legal": 99 * MiB}, ROOMY, "server.uploads_quota_mb", 100 * MiB, 99 * MiB),
        ({}, 16 * MiB + MiB // 2, DISK, MiB // 2, 0),
    ],
    ids=["collection", "global", "disk"],
)
def test_a_refusal_names_its_limit_and_counts_nothing(
    used: dict[str, int], free: int, quota: str, limit: int, counted: int
) -> None:
    ledger = LocalLedger(used, lambda: free)
    with pytest.raises(QuotaExceeded) as info:
        ledger.reserve("finance", 2 * MiB, limits(global_mb=100, finance=10))
    refused = info.value
    assert (refused.http_status, refused.code) == (507, "insufficient_storage")
    assert refused.body() == {"name": quota, "collection": "finance", "limit_bytes": limit,
                              "used_bytes": counted, "asked_bytes": 2 * MiB}  # fmt: skip
    assert quota in str(refused) and "'finance'" in str(refused)
    assert ledger.usage() == used  # nothing counted


def test_the_disk_reserve_counts_what_uploads_in_flight_have_not_yet_written() -> None:
    free = {"bytes": 16 * MiB + 3 * MiB}  # 3 MiB beyond the reserve
    ledger = LocalLedger({}, lambda: free["bytes"])
    rules = limits()
    ledger.reserve("a", 2 * MiB, rules)  # not yet on the disk: the disk still shows 3 MiB free
    with pytest.raises(QuotaExceeded, match=DISK):
        ledger.reserve("b", 2 * MiB, rules)
    ledger.written(2 * MiB)
    free["bytes"] -= 2 * MiB  # now it is: the same 1 MiB is left
    with pytest.raises(QuotaExceeded, match=DISK):
        ledger.reserve("b", 2 * MiB, rules)
    ledger.reserve("b", MiB, rules)
    ledger.release("b", MiB, unwritten=MiB)  # given back before it was written
    ledger.reserve("b", MiB, rules)


def test_a_claim_reserves_ahead_and_trues_up() -> None:
    ledger = LocalLedger({}, lambda: ROOMY)
    claim = Claim(ledger, "finance", limits(finance=10))
    claim.need(1000)
    assert claim.held == STEP  # a step ahead of the bytes
    claim.need(STEP)
    assert claim.held == STEP
    claim.need(STEP + 1)
    assert claim.held == 2 * STEP
    claim.wrote(STEP + 1)
    claim.keep(STEP + 1)  # stored: the spare goes back
    assert ledger.usage() == {"finance": STEP + 1}


def test_a_claim_near_its_quota_takes_just_what_it_needs_then_refuses_as_the_upload() -> None:
    ledger = LocalLedger({"finance": 10 * MiB - 5000}, lambda: ROOMY)
    claim = Claim(ledger, "finance", limits(finance=10))
    claim.need(3000)  # a whole step would not fit; the 3000 bytes do
    assert claim.held == 3000
    with pytest.raises(QuotaExceeded) as info:
        claim.need(6000)
    assert info.value.body() == {"name": "server.collection_quotas_mb.finance", "collection": "finance",
                                 "limit_bytes": 10 * MiB, "used_bytes": 10 * MiB - 5000, "asked_bytes": 6000}  # fmt: skip
    claim.give_back()
    assert ledger.usage() == {"finance": 10 * MiB - 5000}


def test_a_declared_length_is_reserved_whole_or_not_at_all() -> None:
    ledger = LocalLedger({}, lambda: ROOMY)
    first = Claim(ledger, "finance", limits(finance=10))
    first.expect(6 * MiB)
    with pytest.raises(QuotaExceeded):
        Claim(ledger, "finance", limits(finance=10)).expect(6 * MiB)
    assert ledger.usage() == {"finance": 6 * MiB}
    first.give_back()
    assert ledger.usage() == {}


def test_usage_is_derived_per_collection_from_the_uploads_folder(tmp_path: Path) -> None:
    uploads = tmp_path / "uploads"
    files = {
        "finance/q3/report.pdf": 300,
        "legal/nda.pdf": 50,
        "old.png": 7,  # stored before collections: default's
        f"{INCOMING}/job1/0/a.png": 20,  # staged for a job of legal
        f"{INCOMING}/job2/0/b.png": 4,  # a job nobody knows: default's
    }
    for name, size in files.items():
        (uploads / name).parent.mkdir(parents=True, exist_ok=True)
        (uploads / name).write_bytes(b"x" * size)
    assert usage_by_collection(uploads, {"job1": "legal"}) == {"finance": 300, "legal": 70, "default": 11}
    assert collection_of(uploads, uploads / "finance" / "q3" / "report.pdf") == "finance"
    assert collection_of(uploads, uploads / "old.png") == "default"


@pytest.mark.parametrize(
    ("server", "needle"),
    [
        ({"collection_quotas_mb": {"finance": 0}}, "server.collection_quotas_mb"),
        ({"collection_quotas_mb": {" ": 5}}, "server.collection_quotas_mb"),
        ({"collection_quota_mb": 0}, "server.collection_quota_mb"),
        ({"max_queued_jobs": 0}, "server.max_queued_jobs"),
        ({"max_queued_jobs_per_principal": 0}, "server.max_queued_jobs_per_principal"),
    ],
)
def test_bad_limit_settings_name_the_key(tmp_path: Path, server: dict[str, object], needle: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"server": server}))
    with pytest.raises(ConfigError, match=needle):
        load_settings(path)


def test_collection_quotas_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMSEARCH_SERVER__COLLECTION_QUOTAS_MB", '{"finance": 10, "legal": 2.5}')
    assert load_settings().server.collection_quotas_mb == {"finance": 10, "legal": 2.5}


def test_jobs_record_their_principal_and_the_list_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    with sqlite3.connect(path) as db:  # a job list from before principals were recorded
        db.execute("CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, "
                   "state TEXT NOT NULL, created REAL NOT NULL, started REAL, finished REAL, "
                   "cancel INTEGER NOT NULL DEFAULT 0, error TEXT)")  # fmt: skip
        db.execute("INSERT INTO jobs (id, state, created) VALUES ('old', 'queued', 0)")
    db.close()
    with JobStore(path) as jobs:
        assert jobs.get("old") is not None and jobs.get("old").principal == ""  # type: ignore[union-attr]
        jobs.create("a1", [("a.pdf", 1)], principal="key:alice")
        jobs.create("a2", [("b.pdf", 1)], principal="key:alice")
        jobs.create("b1", [("c.pdf", 1)], principal="key:bob")
        jobs.finish("a2", "done")
        assert jobs.active_counts("key:alice") == (1, 3)
        assert jobs.active_counts("key:carol") == (0, 3)
        assert jobs.get("b1").principal == "key:bob"  # type: ignore[union-attr]
