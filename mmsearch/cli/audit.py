"""``mmsearch audit``: read the audit trail (who searched, opened, uploaded, deleted, signed in, was refused).

It reads the JSON lines under ``data_dir/audit/`` directly (``access/audit.py``), so it works while
``mmsearch serve`` runs and after it stopped.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from typing import Any

import click

from mmsearch.access.audit import ACTIONS, AuditEntry, iso_time, open_audit_log
from mmsearch.cli.app import AppContext, pass_app

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_AGO = re.compile(r"(\d{1,9})([smhdw])")


def parse_since(value: str, now: float | None = None) -> float:
    """A unix time from ``30m``, ``12h``, ``1d``, ``2w`` (that long ago) or an ISO date or date-time
    (``2026-12-01``, ``2026-12-01T09:30``, ``…Z`` or with an offset; naive = UTC)."""
    text = value.strip()
    ago = _AGO.fullmatch(text.lower())
    if ago:
        return (time.time() if now is None else now) - int(ago.group(1)) * UNITS[ago.group(2)]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is neither a duration (30m, 12h, 1d, 2w) nor an ISO date (2026-12-01, "
            "2026-12-01T09:30Z)",
            param_hint="--since",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@click.command()
@click.option("--since", "since_text", default="1d", show_default=True,
              help="From this long ago (30m, 12h, 1d, 2w) or this ISO date/time (UTC unless it says).")  # fmt: skip
@click.option("--principal", metavar="NAME", help="Only this principal (`alice` or `oidc:alice`).")
@click.option("--action", type=click.Choice(ACTIONS), help="Only this kind of event.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line (JSON Lines), as stored.")
@pass_app
def audit(app: AppContext, since_text: str, principal: str | None, action: str | None, as_json: bool) -> None:
    """Show the audit trail, oldest first: searches, files and images opened, uploads, deletes, keys
    created and revoked, sign-ins, refused requests.

    \b
    Examples:
      mmsearch audit                                   # the last day, as a table
      mmsearch audit --since 30m --principal alice --action search
      mmsearch audit --since 2026-12-01 --json > december.jsonl
    """
    settings = app.settings()
    since = parse_since(since_text)
    stored = settings.access.audit.model_copy(update={"enabled": True})  # what was kept, even if off now
    entries = open_audit_log(stored, settings.data_dir).read(since, principal, action)
    if as_json:
        for entry in entries:
            click.echo(json.dumps(entry.to_json(), ensure_ascii=False))
        return
    rows = [
        (iso_time(e.time)[:19], e.actor.name + (f" ({e.actor.role})" if e.actor.role else ""), e.action,
         e.client or "-", summary(e))
        for e in entries
    ]  # fmt: skip
    if not rows:
        click.echo(f"no audit entries since {iso_time(since)[:19]} UTC" + _filters(principal, action))
        return
    header = ("time (UTC)", "principal", "action", "client", "what")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:  # whole lines, never cut: for people and for grep
        click.echo("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[4]]))


def summary(entry: AuditEntry) -> str:
    """One line about an entry's details, for people."""
    d: dict[str, Any] = dict(entry.details)
    where = d.get("collections")
    scope = f" in {','.join(where)}" if isinstance(where, list) else ""
    if entry.action == "search":
        query = d.get("query") or (f"sha256:{d['query_sha256'][:12]}…" if d.get("query_sha256") else "")
        return f"{json.dumps(query, ensure_ascii=False) if query else '(no text)'}{scope}: {d.get('hits', 0)} hits"
    if entry.action in ("file", "image", "delete"):
        return f"{d.get('collection', '?')}/{d.get('name') or d.get('doc_id', '?')}"
    if entry.action == "upload":
        return f"job {d.get('job_id', '?')} into {d.get('collection', '?')}: {', '.join(d.get('names', []))}"
    if entry.action in ("key_created", "key_revoked"):
        grants = f" {d['role']}{scope}" if d.get("role") else ""
        return f"key {d.get('key', '?')}{grants}"
    if entry.action == "denied":
        return f"{d.get('status')} {d.get('method')} {d.get('path')}: {d.get('why', '')}"
    if entry.action == "sign_in_failed":
        return str(d.get("why", ""))
    return scope.strip()


def _filters(principal: str | None, action: str | None) -> str:
    parts = [f"principal {principal}" if principal else "", f"action {action}" if action else ""]
    named = " and ".join(p for p in parts if p)
    return f" for {named}" if named else ""
