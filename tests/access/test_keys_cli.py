"""``mmsearch keys create|list|revoke`` through the console entry point: the key shown once, never listed,
hashed on disk, and refused names, duplicates and expiries."""

from __future__ import annotations

import json
import os
from pathlib import Path

from mmsearch.access.audit import open_audit_log
from mmsearch.access.key_sqlite import SqliteKeyStore
from mmsearch.access.keys import authenticate
from mmsearch.access.settings import AuditSettings
from tests.support import run_cli


def env(data_dir: Path) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "MMSEARCH_DATA_DIR": str(data_dir)}


def test_create_shows_the_key_once_and_list_never(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made = run_cli(
        ["keys", "create", "finance-app", "--role", "reader", "--collections", "finance", "--groups", "finance",
         "--expires", "30d", "--json"], env(data), tmp_path,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    out = json.loads(made.stdout)
    assert set(out) >= {"name", "key", "role", "collections", "groups", "expires"}
    assert (out["name"], out["role"], out["collections"], out["groups"]) == (
        "finance-app", "reader", ["finance"], ["finance"]
    )  # fmt: skip
    assert out["expires"] is not None and out["state"] == "active"
    record = authenticate(SqliteKeyStore(data / "access.sqlite"), out["key"])
    assert record is not None and record.principal().collections == frozenset({"finance"})
    listed = run_cli(["keys", "list", "--json"], env(data), tmp_path)
    assert listed.returncode == 0 and out["key"] not in listed.stdout
    assert [row["name"] for row in json.loads(listed.stdout)] == ["finance-app"]
    table = run_cli(["keys", "list"], env(data), tmp_path)
    assert "finance-app" in table.stdout and "active" in table.stdout and out["key"] not in table.stdout
    on_disk = b"".join(p.read_bytes() for p in data.glob("access.sqlite*"))
    assert out["key"].encode() not in on_disk


def test_plain_create_prints_the_key_on_its_own_line(tmp_path: Path) -> None:
    made = run_cli(
        ["keys", "create", "ops", "--role", "writer", "--collections", "*"], env(tmp_path), tmp_path
    )
    assert made.returncode == 0, made.stderr
    lines = made.stdout.strip().splitlines()
    assert "shown only this once" in lines[0] and "every collection" in lines[0]
    assert authenticate(SqliteKeyStore(tmp_path / "access.sqlite"), lines[1]) is not None


def test_revoke_then_the_name_is_free_again(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = json.loads(run_cli(["keys", "create", "app", "--json"], env(data), tmp_path).stdout)
    again = run_cli(["keys", "create", "app"], env(data), tmp_path)
    assert again.returncode == 1 and "Error:" in again.stderr and "revoke it first" in again.stderr
    revoked = run_cli(["keys", "revoke", "app", "--json"], env(data), tmp_path)
    assert revoked.returncode == 0 and json.loads(revoked.stdout)["state"] == "revoked"
    assert authenticate(SqliteKeyStore(data / "access.sqlite"), first["key"]) is None
    assert run_cli(["keys", "create", "app"], env(data), tmp_path).returncode == 0
    states = [
        row["state"] for row in json.loads(run_cli(["keys", "list", "--json"], env(data), tmp_path).stdout)
    ]
    assert sorted(states) == ["active", "revoked"]
    trail = [(e.action, e.details["key"]) for e in open_audit_log(AuditSettings(), data).read()]
    assert trail == [("key_created", "app"), ("key_revoked", "app"), ("key_created", "app")]
    assert first["key"] not in b"".join(p.read_bytes() for p in (data / "audit").iterdir()).decode()


def test_bad_input_is_an_error_naming_the_fix(tmp_path: Path) -> None:
    cases = [
        (["keys", "revoke", "nobody"], "no unrevoked key named 'nobody'"),
        (["keys", "create", "bad name"], "key name"),
        (["keys", "create", "x", "--expires", "soon"], "expiry"),
        (["keys", "create", "x", "--collections", "a/b"], "collection name"),
    ]
    for args, needle in cases:
        result = run_cli(args, env(tmp_path), tmp_path)
        assert result.returncode == 1 and needle in result.stderr, (args, result.stderr)
    role = run_cli(["keys", "create", "x", "--role", "root"], env(tmp_path), tmp_path)
    assert role.returncode == 2 and "root" in role.stderr
    assert (
        not (tmp_path / "access.sqlite").exists()
        or SqliteKeyStore(tmp_path / "access.sqlite").records() == []
    )


def test_list_without_keys_says_how_to_make_one(tmp_path: Path) -> None:
    result = run_cli(["keys", "list"], env(tmp_path), tmp_path)
    assert result.returncode == 0 and "mmsearch keys create" in result.stdout
