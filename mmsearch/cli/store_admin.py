"""``mmsearch optimize`` and ``mmsearch migrate``: look after the vector index itself."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mmsearch.cli.app import AppContext, pass_app
from mmsearch.config import Settings
from mmsearch.errors import ConfigError, StoreError

if TYPE_CHECKING:
    from mmsearch.index.migrate import MigrationReport


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--force", is_flag=True,
    help="First apply the current index settings (index.exact_below) to the collection, which keeps "
    "the ones it was created with otherwise.",
)  # fmt: skip
@pass_app
def optimize(app: AppContext, as_json: bool, force: bool) -> None:
    """Build the embedded store's HNSW index (and merge its segments) now.

    Every `mmsearch ingest` does this at its end; run it after ingesting through `mmsearch serve`
    (stop the server first: the build holds the store, and the Python interpreter, until it is done —
    minutes at a million points). Collections under their threshold stay exact: the index.exact_below of
    when the collection was created; `--force` applies today's (after lowering it). A Qdrant server
    optimizes by itself: there this does nothing.

    \b
    Examples:
      mmsearch optimize
      mmsearch optimize --json
      MMSEARCH_INDEX__EXACT_BELOW=1000 mmsearch optimize --force
    """
    from mmsearch import components

    settings = app.settings()
    started = time.perf_counter()
    with components.build_store(settings) as store:
        changed = store.optimize(force=force)
        points = store.count()
    out = {"changed": changed, "points": points, "seconds": round(time.perf_counter() - started, 2)}
    if as_json:
        click.echo(json.dumps(out))
    else:
        what = "index rebuilt" if changed else "nothing to do"
        click.echo(f"{what}: {points} points, {out['seconds']} s")


@click.command()
@click.option("--to", "to_url", metavar="URL", help="Copy the embedded collection to this Qdrant server.")
@click.option("--from", "from_url", metavar="URL", help="Copy a server's collection into the embedded store.")
@click.option(
    "--from-local", is_flag=True, help="Copy the old qdrant-client local-mode collection to Qdrant Edge."
)
@click.option(
    "--api-key", envvar="MMSEARCH_STORE__API_KEY", help="The server's key (env MMSEARCH_STORE__API_KEY)."
)
@click.option("--sample", default=100, show_default=True, help="Points compared vector by vector at the end.")
@click.option("--batch", default=256, show_default=True, help="Points per page copied.")
@click.option("--verify-only", is_flag=True, help="Compare counts and a sample; copy nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def migrate(
    app: AppContext,
    to_url: str | None,
    from_url: str | None,
    from_local: bool,
    api_key: str | None,
    sample: int,
    batch: int,
    verify_only: bool,
    as_json: bool,
) -> None:
    """Copy the collection — ids, vectors, payloads; nothing is re-embedded — between the embedded store
    and a Qdrant server or cluster, resumably (an interrupted copy goes on where it stopped), then verify
    it (point counts, and a sample of points compared vector by vector). The source is never changed.

    \b
    Examples:
      mmsearch migrate --to http://qdrant:6333          # one machine → a server (then set store.url)
      mmsearch migrate --to https://qdrant.example:6333 --api-key $KEY
      mmsearch migrate --from http://qdrant:6333        # a small collection back into the embedded store
      mmsearch migrate --from-local                     # a store made by mmsearch before Qdrant Edge
    """
    chosen = [x for x in (to_url, from_url, from_local or None) if x]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --to URL, --from URL, --from-local")
    settings = app.settings()
    if settings.store.url is not None:
        raise ConfigError(
            f"store.url is set ({settings.store.url}): migrate copies between the embedded store (store.path) "
            "and a server; unset store.url (and MMSEARCH_STORE__URL) for this command"
        )
    report = _copy(settings, to_url, from_url, api_key, sample, batch, verify_only, as_json)
    if as_json:
        click.echo(json.dumps({**asdict(report), "ok": report.ok}))
    else:
        _print(report, to_url)
    if not report.ok:
        raise SystemExit(1)


def _copy(
    settings: Settings,
    to_url: str | None,
    from_url: str | None,
    api_key: str | None,
    sample: int,
    batch: int,
    verify_only: bool,
    quiet: bool,
) -> MigrationReport:
    from mmsearch.index import migrate as mig
    from mmsearch.index.edge_store import connect_edge
    from mmsearch.index.qdrant_store import QdrantStore, connect

    collection, path = settings.store.collection, settings.store_path
    remote: QdrantStore | None = None
    if to_url or from_url:
        server = settings.store.model_copy(
            update={"url": to_url or from_url, "api_key": api_key, "path": None}
        )
        remote = connect(server, settings.index, path)
        local_side = connect_edge(settings.index, path, collection)
        source, target = (local_side, remote) if to_url else (remote, local_side)
    else:
        legacy = settings.store.model_copy(update={"backend": "qdrant-local"})
        if _legacy_missing(path, collection):
            raise StoreError(f"no local-mode collection '{collection}' at {path}: nothing to copy")
        remote = connect(legacy, settings.index, path)  # holds the folder's .lock for both
        source = remote
        target = connect_edge(settings.index, path, collection, allow_legacy=True, take_lock=False)
    try:
        if verify_only:
            return mig.verify(source, target, sample)
        progress_file = _progress_file(settings, source.location, target.location, collection)
        progress_file.parent.mkdir(parents=True, exist_ok=True)
        show = None if quiet else _progress_printer()
        report = mig.migrate(source, target, progress_file, page=batch, sample=sample, on_progress=show)
        if show is not None:
            click.echo("", err=True)
        if to_url is None and report.ok:
            target.optimize()  # into the embedded store: the HNSW graph is built now, by this command
        return report
    finally:
        source.close()
        target.close()


def _legacy_missing(path: Path, collection: str) -> bool:
    from mmsearch.index.edge_store import legacy_collection

    return legacy_collection(path, collection) is None


def _progress_file(settings: Settings, source: str, target: str, collection: str) -> Path:
    key = hashlib.sha256(f"{source}\n{target}\n{collection}".encode()).hexdigest()[:16]
    return settings.data_dir / "migrate" / f"{collection}-{key}.json"


def _progress_printer() -> Callable[[int, int], None]:
    def show(copied: int, total: int) -> None:
        click.echo(f"\rcopied {copied}/{total} points", nl=False, err=True)

    return show


def _print(report: MigrationReport, to_url: str | None) -> None:
    resumed = f" (resumed from {report.resumed_from})" if report.resumed_from else ""
    click.echo(
        f"{report.source} → {report.target}, collection '{report.collection}': copied {report.copied}{resumed}"
    )
    click.echo(
        f"points: source {report.source_points}, target {report.target_points}; "
        f"{report.sampled} sampled points compared, {len(report.mismatched)} differ"
    )
    if report.ok and to_url:
        click.echo(f"Verified. To search the server from now on, set store.url: {to_url}")
    elif not report.ok:
        bad = ", ".join(report.mismatched[:5])
        click.echo(
            f"Error: the copy does not match the source{': ' + bad if bad else ''}. Run it again.", err=True
        )
