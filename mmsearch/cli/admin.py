"""``mmsearch stats`` and ``mmsearch delete``: look after what is in the index."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from mmsearch.cli.app import AppContext, pass_app


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--documents", "list_documents", is_flag=True, help="Also list every document.")
@pass_app
def stats(app: AppContext, as_json: bool, list_documents: bool) -> None:
    """Points by modality, documents, model and dimension of the collection."""
    from mmsearch import components

    settings = app.settings()
    with components.build_store(settings) as store:
        info = store.stats()
        docs = store.documents() if list_documents else []
    if as_json:
        out = asdict(info)
        if list_documents:
            out["documents_list"] = [asdict(d) for d in docs]
        click.echo(json.dumps(out, indent=2, default=str))
        return
    console = Console()
    for key, value in asdict(info).items():
        console.print(f"[bold]{key}[/bold]: {value}")
    if docs:
        table = Table("doc id", "source", "modality", "units")
        for d in docs:
            table.add_row(d.doc_id, d.source_path, d.modality, str(d.units))
        console.print(table)


@click.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def delete(app: AppContext, sources: tuple[str, ...], as_json: bool) -> None:
    """Remove documents (by source path or document id): their points, page images and manifest entry.

    \b
    Examples:
      mmsearch delete ~/reports/old.pdf
      mmsearch delete 3f2c9a1e-…                     # a doc id from `mmsearch stats --documents`
    """
    from mmsearch import components
    from mmsearch.ingest.media import delete_media
    from mmsearch.ingest.units import doc_id_for

    settings = app.settings()
    results = []
    with components.build_store(settings) as store, components.build_manifest(settings) as manifest:
        known = {d.doc_id: d.source_path for d in store.documents()}
        for source in sources:
            doc_id = source if source in known else doc_id_for(str(Path(source).expanduser().resolve()))
            if doc_id not in known:
                results.append({"source": source, "deleted": 0, "error": "not in the index"})
                continue
            removed = store.delete_document(doc_id)
            delete_media(doc_id, settings.data_dir)
            manifest.forget(known[doc_id])
            results.append({"source": known[doc_id], "doc_id": doc_id, "deleted": removed, "error": None})
    if as_json:
        click.echo(json.dumps({"results": results}, indent=2))
    else:
        for r in results:
            msg = (
                f"deleted {r['deleted']} points of {r['source']}"
                if not r["error"]
                else f"{r['source']}: {r['error']}"
            )
            click.echo(msg, err=bool(r["error"]))
    if any(r["error"] for r in results):
        raise SystemExit(1)
