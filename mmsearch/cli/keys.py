"""``mmsearch keys create|list|revoke``: the managed API keys of a server, kept hashed under data_dir.

A key is shown once, when it is created; the store keeps only its hash. A server already running over
the same data_dir sees a new or revoked key at its next request. Creating and revoking go into the audit
trail, under the OS user who ran the command (``access.audit.local_operator``).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import click

from mmsearch.access.audit import audit_key_created, audit_key_revoked, local_operator, open_audit_log
from mmsearch.access.keys import ManagedKey, mint, parse_expiry
from mmsearch.access.principal import Role
from mmsearch.cli.app import AppContext, pass_app

ROLES = [role.label for role in Role]


@click.group()
def keys() -> None:
    """Manage API keys: who may read or write which collections.

    \b
    Examples:
      mmsearch keys create finance-app --role reader --collections finance --groups finance
      mmsearch keys create ingest-bot --role writer --collections finance,legal --expires 30d --json
      mmsearch keys list
      mmsearch keys revoke finance-app
    """


@keys.command()
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default="reader", show_default=True,
              help="reader: search, list, download; writer: also upload and delete; admin: all of it.")  # fmt: skip
@click.option("--collections", default="default", show_default=True,
              help="Comma-separated collections it may use; * = every one (also those made later).")  # fmt: skip
@click.option("--groups", default=None,
              help="Comma-separated document groups it is in (documents with other groups stay hidden); "
              "default: every document of its collections.")  # fmt: skip
@click.option("--expires", default=None, help="Lifetime, like 30d, 12h, 2w (default: until revoked).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the key included).")
@pass_app
def create(
    app: AppContext, name: str, role: str, collections: str, groups: str | None, expires: str | None,
    as_json: bool,
) -> None:  # fmt: skip
    """Create a key named NAME and print it (once: only its hash is kept)."""
    from mmsearch import components

    settings = app.settings()
    until = parse_expiry(expires) if expires is not None else None
    plain, record = mint(name, Role.parse(role), [collections], None if groups is None else [groups], until)
    components.build_key_store(settings).add(record)
    trail = open_audit_log(settings.access.audit, settings.data_dir)
    audit_key_created(
        trail, local_operator(), name=record.name, role=record.role.label, collections=record.collections,
        groups=record.groups, expires=record.expires,
    )  # fmt: skip
    if as_json:
        click.echo(json.dumps({**_row(record), "key": plain}))
        return
    click.echo(f"Created key {name!r} ({_describe(record)}). It is shown only this once:")
    click.echo(plain)


@keys.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def list_keys(app: AppContext, as_json: bool) -> None:
    """List the keys (never the keys themselves): name, role, collections, groups, state."""
    from mmsearch import components

    records = components.build_key_store(app.settings()).records()
    if as_json:
        click.echo(json.dumps([_row(r) for r in records]))
        return
    if not records:
        click.echo("No keys. Create one with: mmsearch keys create NAME --role reader --collections NAME")
        return
    for record in records:
        click.echo(f"{record.name:<24} {record.state():<8} {_describe(record)}")


@keys.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def revoke(app: AppContext, name: str, as_json: bool) -> None:
    """Revoke the key named NAME: it stops working at once, also on a server already running."""
    from mmsearch import components
    from mmsearch.errors import NotFound

    settings = app.settings()
    record = components.build_key_store(settings).revoke(name, time.time())
    if record is None:
        raise NotFound(f"no unrevoked key named {name!r} (mmsearch keys list shows them)")
    audit_key_revoked(open_audit_log(settings.access.audit, settings.data_dir), local_operator(), name=name)
    if as_json:
        click.echo(json.dumps(_row(record)))
    else:
        click.echo(f"Revoked key {name!r}.")


def _row(record: ManagedKey) -> dict[str, Any]:
    return {
        "name": record.name,
        "role": record.role.label,
        "collections": None if record.collections is None else sorted(record.collections),
        "groups": None if record.groups is None else sorted(record.groups),
        "created": _iso(record.created),
        "expires": _iso(record.expires),
        "revoked": _iso(record.revoked),
        "state": record.state(),
    }


def _describe(record: ManagedKey) -> str:
    collections = "every collection" if record.collections is None else ", ".join(sorted(record.collections))
    groups = "all documents" if record.groups is None else "groups " + ", ".join(sorted(record.groups))
    until = f", expires {_iso(record.expires)}" if record.expires is not None else ""
    return f"{record.role.label} of {collections}; {groups}{until}"


def _iso(when: float | None) -> str | None:
    return None if when is None else datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds")
