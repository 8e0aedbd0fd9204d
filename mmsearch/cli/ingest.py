"""``mmsearch ingest``: files → units → vectors in the store (or just the units, with --dry-run)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from mmsearch.cli.app import AppContext, pass_app
from mmsearch.cli.progress import IngestProgress
from mmsearch.config import Settings
from mmsearch.errors import DimensionMismatch
from mmsearch.index.embedder import Embedder
from mmsearch.index.pipeline import IngestReport
from mmsearch.index.store import Store
from mmsearch.ingest.names import Labels, parse_meta_options

if TYPE_CHECKING:
    from mmsearch.index.fingerprint import Fingerprint


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Read files into units and list them; embed and store nothing.")
@click.option("--reindex", is_flag=True, help="Re-process files even when the manifest says they are done.")
@click.option(
    "--server", metavar="URL",
    help="Ingest through a running `mmsearch serve` (uploads the files) instead of the local store.",
)  # fmt: skip
@click.option("--api-key", envvar="MMSEARCH_API_KEY", help="Write key for --server (env MMSEARCH_API_KEY).")
@click.option("--collection", metavar="NAME", default=None,
              help="The collection the documents belong to (default: default).")  # fmt: skip
@click.option("--groups", "groups", metavar="G1,G2", multiple=True,
              help="Access groups of the documents (comma list; repeatable). None: all of the collection's users.")  # fmt: skip
@click.option("--meta", "meta", metavar="KEY=VALUE", multiple=True,
              help="Metadata of the documents (repeatable; numbers and true/false are typed, a key given twice is a list).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (no progress bar).")
@pass_app
def ingest(
    app: AppContext,
    paths: tuple[Path, ...],
    dry_run: bool,
    reindex: bool,
    server: str | None,
    api_key: str | None,
    collection: str | None,
    groups: tuple[str, ...],
    meta: tuple[str, ...],
    as_json: bool,
) -> None:
    """Ingest files and folders: PDFs (one unit per page), images, videos (segments).

    Files are recognised by content, not name. Each document is named by its path relative to the
    folder given (a file given directly: its file name), in --collection; the same name in the same
    collection replaces the document. Symlinks are never followed out of the folders given (each such
    link is reported as skipped). Unchanged files are skipped (see the manifest in data_dir); a file that
    fails is reported and the rest go on; the exit code is 1 if any failed.

    \b
    Examples:
      mmsearch ingest ~/reports
      mmsearch ingest scan.pdf talk.mp4 --json
      mmsearch ingest ~/inbox --dry-run --json     # what would be embedded, and what fails
      mmsearch ingest new.pdf --server http://127.0.0.1:8000   # while `mmsearch serve` owns the store
      mmsearch ingest ~/finance --collection finance --groups finance,execs --meta year=2024

    --reindex re-embeds the given files even when unchanged; if the collection was built with another
    embedding model or dimension, or by preprocessing this environment renders differently for a kind of
    unit it holds (`mmsearch stats` says), it is dropped and rebuilt (every other document must be
    re-ingested). Without --reindex an ingest into such a collection is refused.
    """
    settings = app.settings()
    labels = Labels.checked(collection, groups, parse_meta_options(meta))
    if server and (dry_run or reindex):
        raise click.UsageError("--server uploads files to the server; --dry-run and --reindex are local only")
    waiting = "walking the files…" if dry_run or server else "opening the store, loading the model…"
    with IngestProgress(enabled=not as_json, waiting=waiting) as progress:
        if dry_run:
            from mmsearch.index.pipeline import plan

            report = plan(list(paths), settings.ingest, on_progress=progress, labels=labels)
        elif server:
            from mmsearch.cli.remote import RemoteIngest

            with RemoteIngest(server, api_key) as remote:
                report = remote.run(list(paths), settings.ingest, on_progress=progress, labels=labels)
        else:
            report = _run(settings, list(paths), reindex, progress, labels)
    _print_report(report, as_json, dry_run)
    if report.failed:
        raise SystemExit(1)


def _run(
    settings: Settings, paths: list[Path], reindex: bool, progress: IngestProgress, labels: Labels
) -> IngestReport:
    from mmsearch import components

    store = components.build_store(settings)  # first: a locked store fails before a model loads
    try:
        embedder = components.build_embedder(settings)
        if reindex:
            _rebuild_if_mismatched(store, embedder)
        made_by = _check_preprocessing(store, settings, embedder, reindex)
        with components.build_manifest(settings) as manifest:
            indexer = components.build_indexer(settings, embedder, store, manifest, progress)
            indexer.labels = labels
            report = indexer.run(paths, reindex=reindex)
        _record_preprocessing(store, made_by)  # a collection this ingest created gets it now
        if any(f.status == "indexed" for f in report.files):
            _optimize(store, settings)
        return report
    finally:
        store.close()


def _optimize(store: Store, settings: Settings) -> None:
    """Build the HNSW graph past index.exact_below points: here, at the end of an ingest, never in `serve`.
    On a large embedded collection that takes minutes and shows no progress of its own: say so first."""
    points = store.count() if settings.store.url is None else 0
    large = points >= settings.index.exact_below
    if large:
        click.echo(f"Building the vector index over {points:,} points (minutes at a million)…", err=True)
    started = time.perf_counter()
    store.optimize()
    if large:
        click.echo(f"Vector index ready in {time.perf_counter() - started:,.1f} s.", err=True)


def _rebuild_if_mismatched(store: Store, embedder: Embedder) -> None:
    """--reindex with another model or dimension: drop the old collection, say what that means."""
    try:
        store.verify(embedder.model_id, embedder.dim)
    except DimensionMismatch as exc:
        before = store.stats()
        store.drop()
        click.echo(
            f"Rebuilding the collection for {embedder.model_id} at dim {embedder.dim}: dropped "
            f"{before.points} points of {before.documents} documents ({exc}). "
            "Re-ingest every folder you had indexed.",
            err=True,
        )


def _check_preprocessing(store: Store, settings: Settings, embedder: Embedder, reindex: bool) -> Fingerprint:
    """Refuse to add to a collection whose vectors this environment would render differently
    (``index/fingerprint.py``); with --reindex, drop it instead. Then record this environment's
    fingerprint (also for a collection made before fingerprints, which has none to compare)."""
    from mmsearch.index.fingerprint import current, record, refusal, stale_in

    now = current(settings.embedding, embedder)
    stored, kinds = stale_in(store, now)
    if stored is not None and kinds:
        where = f"collection '{settings.store.collection}'"
        if not reindex:
            raise refusal(where, kinds, stored, now)
        before = store.stats()
        store.drop()
        click.echo(
            f"Rebuilding {where}: its {', '.join(kinds)} vectors were made by other preprocessing "
            f"({stored.rendered_by}; now {now.rendered_by}). Dropped {before.points} points of "
            f"{before.documents} documents. Re-ingest every folder you had indexed.",
            err=True,
        )
    record(store, now)
    return now


def _record_preprocessing(store: Store, made_by: Fingerprint) -> None:
    from mmsearch.index.fingerprint import record

    record(store, made_by)


def _print_report(report: IngestReport, as_json: bool, dry_run: bool) -> None:
    counts: dict[str, int] = {}
    for f in report.files:  # a file whose text only was re-read (its vectors kept) is counted apart
        key = "reread" if f.reread else f.status
        counts[key] = counts.get(key, 0) + 1
    summary = {
        "files": len(report.files),
        **counts,
        "units": report.units,
        "seconds": round(report.seconds, 3),
        "units_per_s": round(report.units / report.seconds, 3) if report.seconds > 0 else None,
        "dry_run": dry_run,
    }
    if as_json:
        click.echo(json.dumps({"summary": summary, "files": [asdict(f) for f in report.files]}, indent=2))
    else:
        _print_table(report, summary, counts, dry_run)
    for f in report.files:  # on stderr in both modes: stdout stays the machine-readable report
        if f.status == "skipped":
            click.echo(f"Skipped: {f.path}: {f.message}", err=True)
    for f in report.failed:
        click.echo(f"Error: {f.path}: {f.message}", err=True)
    if report.failed:
        click.echo(f"{len(report.failed)} file(s) failed.", err=True)


def _print_table(
    report: IngestReport, summary: Mapping[str, object], counts: dict[str, int], dry_run: bool
) -> None:
    console = Console()
    table = Table(title="dry run: nothing embedded or stored" if dry_run else None)
    for col in ("file", "name", "status", "kind", "units", "seconds"):
        table.add_column(col, justify="right" if col in ("units", "seconds") else "left")
    for f in report.files:
        style = "red" if f.status == "failed" else None
        name = f"{f.collection}/{f.name}" if f.name else ""
        status = "re-read text" if f.reread else f.status
        table.add_row(f.path, name, status, f.kind or "", str(f.units), f"{f.seconds:.2f}", style=style)
    console.print(table)
    rate = f", {summary['units_per_s']} units/s" if summary["units_per_s"] else ""
    parts = ", ".join(f"{v} {'text re-read' if k == 'reread' else k}" for k, v in counts.items())
    console.print(f"{len(report.files)} files ({parts}), {report.units} units in {report.seconds:.1f}s{rate}")
