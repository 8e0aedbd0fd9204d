"""``mmsearch query``: text and/or image in, ranked pages/images/video segments out."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from mmsearch.cli.app import AppContext, pass_app
from mmsearch.cli.filter_flags import HELP as FILTER_HELP
from mmsearch.cli.filter_flags import parse_filters
from mmsearch.config import Settings
from mmsearch.errors import QueryError
from mmsearch.index.store import SEARCH_MODES, Filters, SearchMode
from mmsearch.ingest.names import DEFAULT_COLLECTION
from mmsearch.search.hits import Hit, SearchResult


@click.command()
@click.argument("text", required=False)
@click.option(
    "--image",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Query by an image (with or without text).",
)
@click.option(
    "--video", type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Query by a video clip (its first ingest.video_segment_seconds, sampled as ingest samples).",
)  # fmt: skip
@click.option(
    "--top-k", type=click.IntRange(1, 1000), help="Hits to return (config search.top_k, default 10)."
)
@click.option(
    "--candidates", type=click.IntRange(1, 1000),
    help="First-stage hits to rerank (config search.candidates, default 50); at least --top-k.",
)  # fmt: skip
@click.option("--no-rerank", is_flag=True, help="Keep the first stage's order (no reranker model is loaded).")
@click.option(
    "--mode", type=click.Choice(SEARCH_MODES), metavar="MODE",
    help="hybrid | vector | keyword. hybrid: the vector and BM25 over the page text, fused; vector: the embedding only; keyword: BM25 "
    'only (nothing is embedded; "quoted phrases" must match as phrases). Default: search.mode (hybrid).',
)  # fmt: skip
@click.option("--filter", "filters", multiple=True, metavar="KEY=VALUE", help=FILTER_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (hits, scores, timings).")
@click.option(
    "--include-text", is_flag=True,
    help="Each hit's whole text (text layer or OCR, cut at 20000 characters): after the table, or in --json.",
)  # fmt: skip
@click.option(
    "--server", metavar="URL",
    help="Search through a running `mmsearch serve` (POST /v1/search) instead of opening the local store.",
)  # fmt: skip
@click.option("--api-key", envvar="MMSEARCH_API_KEY", help="Read key for --server (env MMSEARCH_API_KEY).")
@pass_app
def query(
    app: AppContext,
    text: str | None,
    image: Path | None,
    video: Path | None,
    top_k: int | None,
    candidates: int | None,
    no_rerank: bool,
    mode: SearchMode | None,
    filters: tuple[str, ...],
    as_json: bool,
    include_text: bool,
    server: str | None,
    api_key: str | None,
) -> None:
    """Search the index with TEXT, an --image, a --video clip, or a mix.

    \b
    Examples:
      mmsearch query "gross margin by quarter"
      mmsearch query --image photo.jpg --top-k 5
      mmsearch query "safety briefing" --filter modality=video --json
      mmsearch query "contract" --filter collection=finance,legal --filter '!group=execs'
      mmsearch query "budget" --filter 'metadata.year>=2023' --filter metadata.dept=fin,ops
      mmsearch query 'invoice "INV-2024-117"' --mode keyword   # exact words; the quoted part as a phrase
      mmsearch query --video clip.mp4 --filter modality=video
      mmsearch -v query "invoice total" --no-rerank     # -v prints per-stage timings
      mmsearch query "invoice total" --server http://127.0.0.1:8000   # while `mmsearch serve` owns the store
      mmsearch query '"net revenue" 2024' --include-text --json   # each hit's text, snippet ranges, boxes

    In the table the query's words are bold in each snippet (on a terminal only).
    """
    from mmsearch import components
    from mmsearch.search.searcher import Query

    if not text and image is None and video is None:
        raise click.UsageError("give a query TEXT, an --image, a --video, or a mix")
    settings = app.settings()
    _check_candidates(top_k, candidates, settings)
    parsed = parse_filters(filters)
    if server:
        _query_server(server, api_key, text, image, video, top_k, candidates, no_rerank, parsed, as_json,
                      include_text, app.verbose > 0, mode)  # fmt: skip
        return
    query_image = clip = None
    if image is not None:  # the image readers (PyMuPDF, OCR) only for an image query
        from mmsearch.ingest.image import load_query_image

        query_image = load_query_image(image, settings.ingest)
    if video is not None:
        from mmsearch.index.inputs import query_clip

        clip = query_clip(video, settings.ingest)
    store = components.build_store(settings)
    try:
        if store.count() == 0:
            raise QueryError(
                f"the collection '{settings.store.collection}' in {_where(settings)} is empty: "
                "run `mmsearch ingest PATH…` first"
            )
        embedder = components.build_embedder(settings)
        reranker = None if no_rerank else components.build_reranker(settings)
        searcher = components.build_searcher(settings, embedder, store, reranker)
        result = searcher.search(
            Query(text=text, image=query_image, video=clip, filters=parsed),
            top_k=top_k, candidates=candidates, rerank=not no_rerank, mode=mode, include_text=include_text,
        )  # fmt: skip
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        print_hits(result, verbose=app.verbose > 0)


def _check_candidates(top_k: int | None, candidates: int | None, settings: Settings) -> None:
    """The reranker can only return hits from its candidates: fewer candidates than hits is a mistake."""
    if candidates is None or candidates >= (top_k or settings.search.top_k):
        return
    asked = f"--top-k {top_k}" if top_k else f"search.top_k {settings.search.top_k} (the default --top-k)"
    raise click.UsageError(
        f"--candidates {candidates} is below {asked}: a search returns at most its candidates. "
        "Raise --candidates or lower --top-k."
    )


def _query_server(
    url: str, api_key: str | None, text: str | None, image: Path | None, video: Path | None,
    top_k: int | None, candidates: int | None, no_rerank: bool, filters: Filters | None, as_json: bool,
    include_text: bool, verbose: bool, mode: SearchMode | None,
) -> None:  # fmt: skip
    from mmsearch.cli.server_reader import as_local, search

    result = search(
        url, api_key, text, image, video, top_k, candidates, not no_rerank, filters, include_text, mode
    )
    if as_json:
        click.echo(json.dumps(dict(result.raw), indent=2))
    else:
        print_hits(as_local(result), verbose=verbose)


def _where(settings: Settings) -> str:
    return settings.store.url or str(settings.store_path)


def where(hit: Hit) -> str:
    if hit.page is not None:
        return f"p. {hit.page}/{hit.page_count}" if hit.page_count else f"p. {hit.page}"
    if hit.t_start is not None:
        return f"{_clock(hit.t_start)}–{_clock(hit.t_end or hit.t_start)}"
    return "image"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def short_names(paths: list[str]) -> dict[str, str]:
    """Each path's shortest tail of whole components that no other path ends with (``a/talk.mp4`` and
    ``b/talk.mp4``; a lone ``talk.mp4`` stays ``talk.mp4``)."""
    parts = {path: Path(path).parts for path in dict.fromkeys(paths)}
    out: dict[str, str] = {}
    for path, own in parts.items():
        others = [p for q, p in parts.items() if q != path]
        n = 1
        while n < len(own) and any(other[-n:] == own[-n:] for other in others):
            n += 1
        out[path] = str(Path(*own[-n:]))
    return out


def _shown(hit: Hit, short: dict[str, str]) -> str:
    """A hit's document as the table shows it: its name (with its collection unless ``default``), or
    for a point stored before names, the shortest distinct tail of its path."""
    if not hit.name:
        return short[hit.source_path]
    return hit.name if hit.collection == DEFAULT_COLLECTION else f"{hit.collection}:{hit.name}"


def marked_snippet(hit: Hit) -> Text:
    """The snippet as plain text (never read as markup; control characters shown as �) with the query's
    matched terms bold: a style the console writes only to a terminal."""
    snippet = Text(_printable(hit.snippet))
    for start, end in hit.snippet_ranges:
        snippet.stylize("bold", start, end)
    return snippet


def _printable(text: str) -> str:
    """``text`` with each control character but newline and tab replaced by U+FFFD, one for one (offsets
    into it still hold): a document's bytes never drive the terminal."""
    return "".join("\ufffd" if unicodedata.category(c) == "Cc" and c not in "\n\t" else c for c in text)


def print_hits(result: SearchResult, verbose: bool, console: Console | None = None) -> None:
    console = console or Console()
    if not result.hits:
        console.print("No results.")
        return
    table = Table(show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("vector", justify="right")
    names = short_names([hit.source_path for hit in result.hits if not hit.name])
    table.add_column("file", overflow="fold")
    table.add_column("where")
    table.add_column("snippet", overflow="fold", max_width=60)
    for hit in result.hits:
        table.add_row(
            str(hit.rank), f"{hit.score:.4f}", f"{hit.vector_score:.4f}", Text(_shown(hit, names)),
            where(hit), marked_snippet(hit),
        )  # fmt: skip
    console.print(table)
    order = f"reranked by {result.reranker}" if result.reranked else "not reranked"
    order = f"{result.mode} search, {order}"
    console.print(f"{len(result.hits)} of {result.candidates} candidates, {order}")
    for hit in result.hits:
        if hit.text is not None:
            cut = " (cut)" if hit.text_truncated else ""
            console.print(Text(f"\n#{hit.rank} {_shown(hit, names)} {where(hit)}{cut}", style="bold"))
            console.print(Text(_printable(hit.text)))
    if verbose:
        console.print("timings (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in result.timings_ms.items()))
