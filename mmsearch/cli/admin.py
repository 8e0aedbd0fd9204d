"""``mmsearch stats`` and ``mmsearch delete``: look after what is in the index."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from mmsearch.cli.app import AppContext, pass_app
from mmsearch.config import Settings
from mmsearch.errors import NotFound
from mmsearch.index.listing import ListedDocument
from mmsearch.ingest.manifest import Manifest, ManifestEntry


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--documents", "list_documents", is_flag=True, help="Also list every document.")
@click.option(
    "--server", metavar="URL",
    help="Ask a running `mmsearch serve` (GET /v1/info, /v1/documents) instead of opening the local store.",
)  # fmt: skip
@click.option("--api-key", envvar="MMSEARCH_API_KEY", help="Read key for --server (env MMSEARCH_API_KEY).")
@pass_app
def stats(
    app: AppContext, as_json: bool, list_documents: bool, server: str | None, api_key: str | None
) -> None:
    """Points by modality, documents, model and dimension of the collection.

    \b
    Examples:
      mmsearch stats --documents
      mmsearch stats --json --server http://127.0.0.1:8000   # while `mmsearch serve` owns the store
    """
    from mmsearch import components

    settings = app.settings()
    out: dict[str, Any]
    if server:
        from mmsearch.cli import server_reader

        out, every = server_reader.stats(server, api_key)
        docs = every if list_documents else []
    else:
        from mmsearch.index.listing import committed_documents

        with components.build_store(settings) as store, components.build_manifest(settings) as manifest:
            out = asdict(store.stats())
            docs = committed_documents(store, manifest) if list_documents else []
            out.update(preprocessing_status(store, settings, out))
    if as_json:
        if list_documents:
            out["documents_list"] = [asdict(d) for d in docs]
        click.echo(json.dumps(out, indent=2, default=str))
        if out.get("preprocessing_warning"):
            click.echo(f"Warning: {out['preprocessing_warning']}", err=True)
        return
    console = Console()
    for key, value in out.items():
        if key != "preprocessing_warning":
            console.print(f"[bold]{key}[/bold]: {escape(str(value))}")
    if out.get("preprocessing_warning"):
        console.print(
            f"Warning: {out['preprocessing_warning']}", style="yellow", highlight=False, markup=False
        )
    own = out.get("exact_below")
    outside = unindexed(out, own if own is not None else settings.index.exact_below)
    if outside:
        console.print(
            f"{outside:,} points are outside the vector index and searched exactly (slower): run "
            "`mmsearch optimize` (with `mmsearch serve` stopped) to build it over them.",
            style="yellow", highlight=False,
        )  # fmt: skip
    elif (
        own is not None
        and own != settings.index.exact_below
        and out.get("points", 0) >= settings.index.exact_below
    ):
        console.print(
            f"the collection searches exactly below {own:,} points (its threshold when it was created), not "
            f"index.exact_below = {settings.index.exact_below:,}: run `mmsearch optimize --force` (with "
            "`mmsearch serve` stopped) to apply the setting.",
            style="yellow", highlight=False,
        )  # fmt: skip
    if docs:
        print_documents(console, docs)


def preprocessing_status(store: object, settings: Settings, stats: dict[str, Any]) -> dict[str, Any]:
    """The collection's preprocessing fingerprint against this environment (``index/fingerprint.py``),
    as ``preprocessing`` (a summary) and ``preprocessing_warning`` (None unless it differs for a
    modality the collection holds)."""
    if not stats.get("exists") or not stats.get("points"):
        return {}
    from mmsearch.index.fingerprint import check

    if stats.get("model_id") not in (None, settings.embedding.model):
        return {"preprocessing": "not compared: embedding.model is not the collection's model"}
    where = f"collection '{settings.store.collection}'"
    status = check(store, settings.embedding, where, lambda: stats["by_modality"])
    return {"preprocessing": status.summary(), "preprocessing_warning": status.warning}


def unindexed(stats: dict[str, Any], exact_below: int) -> int:
    """Points outside the embedded store's HNSW graph, where it should hold them (``exact_below``, the
    collection's own threshold, or more points); 0 when the store does not say (a server indexes by itself)."""
    indexed, points = stats.get("indexed_points"), stats.get("points", 0)
    if indexed is None or points < exact_below:
        return 0
    return max(0, points - indexed)


def print_documents(console: Console, docs: list[ListedDocument]) -> None:
    """A table whose doc ids are never cut; on a terminal too narrow for that, one block per document."""
    id_width = max(len(d.doc_id) for d in docs)
    collection_width = max(len("collection"), *(len(d.collection) for d in docs))
    if (
        console.width < id_width + collection_width + len("modality") + len("units") + 30
    ):  # borders, padding, a bit of name
        for d in docs:
            console.print(f"{d.doc_id}\n  {d.modality}, {d.units} units\n  {d.collection}/{d.name}",
                          soft_wrap=True, markup=False, highlight=False)  # fmt: skip
        return
    table = Table("doc id", "collection", "name", "modality", "units")
    table.columns[0].no_wrap = True
    table.columns[0].min_width = id_width
    table.columns[1].min_width = collection_width
    table.columns[2].overflow = "fold"
    for d in docs:
        table.add_row(d.doc_id, Text(d.collection), Text(d.name), d.modality, str(d.units))
    console.print(table)


@click.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--collection", metavar="NAME", default=None,
              help="The collection of the names given (default: default).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def delete(app: AppContext, sources: tuple[str, ...], collection: str | None, as_json: bool) -> None:
    """Remove documents (by name, document id, or the path of a file ingested here): their points, page
    images and manifest entry. Nothing is deleted unless every one is found.

    \b
    Examples:
      mmsearch delete q3/report.pdf --collection finance
      mmsearch delete 3f2c9a1e-…                     # a doc id from `mmsearch stats --documents`
      mmsearch delete ~/reports/old.pdf              # a file as it was ingested on this machine
    """
    from mmsearch import components
    from mmsearch.ingest.media import delete_media
    from mmsearch.ingest.names import check_collection

    settings = app.settings()
    chosen_collection = check_collection(collection)
    results = []
    with components.build_store(settings) as store, components.build_manifest(settings) as manifest:
        stored = {d.doc_id for d in store.documents()}
        chosen = {source: _entry(manifest, source, chosen_collection) for source in sources}
        missing = [s for s, entry in chosen.items() if entry is None or entry.doc_id not in stored]
        if missing:
            raise NotFound(
                f"not in the index: {', '.join(missing)} (nothing was deleted). Give a name (with "
                "--collection), a doc id, or the path of a file ingested here; `mmsearch stats --documents` "
                "lists names and ids"
            )
        for entry in {e.doc_id: e for e in chosen.values() if e is not None}.values():
            removed = store.delete_document(entry.doc_id)
            delete_media(entry.doc_id, settings.data_dir)
            manifest.forget(entry.doc_id)
            results.append({"collection": entry.collection, "name": entry.name, "doc_id": entry.doc_id,
                            "deleted": removed})  # fmt: skip
    if as_json:
        click.echo(json.dumps({"results": results}, indent=2))
    else:
        for r in results:
            click.echo(f"deleted {r['deleted']} points of {r['collection']}/{r['name']}")


def _entry(manifest: Manifest, source: str, collection: str) -> ManifestEntry | None:
    """The document ``source`` means: a doc id, a name in ``collection``, or a local file ingested into it."""
    from mmsearch.errors import InvalidName
    from mmsearch.ingest.names import normalise_name

    entry = manifest.get(source)
    if entry is not None:
        return entry
    try:
        entry = manifest.find(collection, normalise_name(source))
    except InvalidName:
        entry = None
    if entry is not None:
        return entry
    here = [e for e in manifest.at_path(Path(source).expanduser()) if e.collection == collection]
    return here[0] if len(here) == 1 else None
