"""``mmsearch audit``: --since (durations and ISO dates), --principal, --action, --json, the table."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import click
import pytest

from mmsearch.access.audit import Actor, AuditEntry, JsonlAuditLog
from mmsearch.cli.audit import parse_since
from tests.support import run_cli

NOW = time.time()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    trail = JsonlAuditLog(tmp_path / "data" / "audit", max_bytes=2**20, keep_files=3)
    alice = Actor("oidc:alice", "reader", "oidc")
    bob = Actor("key:bob", "writer", "key")
    trail.record(AuditEntry("search", alice, {"collections": ["finance"], "query": "old", "hits": 0,
                                              "doc_ids": []}, time=NOW - 3 * 86400))  # fmt: skip
    trail.record(AuditEntry("search", alice, {"collections": ["finance"], "query": "q3 revenue",
                                              "modalities": ["text"], "hits": 2, "doc_ids": ["d1", "d2"]},
                            "10.0.0.7", time=NOW - 3600))  # fmt: skip
    trail.record(AuditEntry("file", Actor("oidc:alice", None, "url"), {"doc_id": "d1", "collection": "finance",
                                                                      "name": "q3.pdf"}, time=NOW - 1500))  # fmt: skip
    trail.record(AuditEntry("delete", bob, {"doc_id": "d2", "collection": "legal", "name": "nda.pdf"},
                            time=NOW - 60))  # fmt: skip
    return tmp_path / "data"


def audit(data_dir: Path, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMSEARCH_")}
    result = run_cli(["--data-dir", str(data_dir), "audit", *args], env, data_dir.parent)
    return result.returncode, result.stdout, result.stderr


def test_json_lines_filtered_by_principal_and_action(data_dir: Path) -> None:
    code, out, err = audit(data_dir, "--since", "1d", "--principal", "alice", "--json")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["action"], r["principal"]["name"]) for r in rows] == [
        ("search", "oidc:alice"),
        ("file", "oidc:alice"),
    ]
    assert rows[0]["details"]["query"] == "q3 revenue" and rows[0]["details"]["doc_ids"] == ["d1", "d2"]
    assert rows[0]["client"] == "10.0.0.7" and rows[1]["principal"]["via"] == "url"
    code, out, _ = audit(
        data_dir, "--since", "2d", "--principal", "oidc:alice", "--action", "search", "--json"
    )
    assert [json.loads(line)["details"]["query"] for line in out.splitlines()] == ["q3 revenue"]
    code, out, _ = audit(data_dir, "--since", "30m", "--json")
    assert [json.loads(line)["action"] for line in out.splitlines()] == ["file", "delete"]


def test_since_takes_an_iso_date(data_dir: Path) -> None:
    day = time.strftime("%Y-%m-%d", time.gmtime(NOW - 4 * 86400))
    code, out, err = audit(data_dir, "--since", day, "--json")
    assert code == 0, err
    assert len(out.splitlines()) == 4  # the entry three days old too


def test_a_table_for_people(data_dir: Path) -> None:
    code, out, err = audit(data_dir)
    assert code == 0, err
    assert "oidc:alice (reader)" in out and '"q3 revenue" in finance: 2 hits' in out
    assert "finance/q3.pdf" in out and "legal/nda.pdf" in out and "key:bob (writer)" in out
    assert "old" not in out.split()  # older than the default --since 1d
    code, out, _ = audit(data_dir, "--principal", "carol", "--action", "delete")
    assert code == 0 and "no audit entries since" in out and "principal carol and action delete" in out


def test_bad_arguments_are_refused(data_dir: Path) -> None:
    code, _, err = audit(data_dir, "--since", "yesterday")
    assert code == 2 and "--since" in err and "30m" in err and "Traceback" not in err
    code, _, err = audit(data_dir, "--action", "explode")
    assert code == 2 and "explode" in err and "search" in err


def test_entries_kept_while_on_are_read_when_the_trail_is_off_now(data_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMSEARCH_")}
    env["MMSEARCH_ACCESS__AUDIT__ENABLED"] = "false"
    result = run_cli(["--data-dir", str(data_dir), "audit", "--json"], env, data_dir.parent)
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 3, result.stderr


def test_an_empty_data_dir_has_no_entries(tmp_path: Path) -> None:
    code, out, err = audit(tmp_path / "nothing", "--json")
    assert code == 0 and out == "", err


def test_parse_since() -> None:
    assert parse_since("30m", now=10_000.0) == 10_000.0 - 1800
    assert parse_since("2w", now=10**7) == 10**7 - 14 * 86400
    assert parse_since("1970-01-02") == 86400.0
    assert parse_since("1970-01-01T01:00:00+01:00") == 0.0
    assert parse_since("1970-01-01T00:01Z") == 60.0
    for bad in ("", "5", "-5m", "1y", "1d ago", "99999999999d"):
        with pytest.raises(click.BadParameter):
            parse_since(bad)
