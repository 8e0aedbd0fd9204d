"""``mmsearch eval``: retrieval quality on a local dataset (BEIR or ViDoRe layout), per configuration."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click
from rich.console import Console

from mmsearch.cli.app import AppContext, pass_app
from mmsearch.cli.filter_flags import HELP as FILTER_HELP
from mmsearch.cli.filter_flags import parse_filters
from mmsearch.config import Settings
from mmsearch.index.store import SEARCH_MODES

if TYPE_CHECKING:
    from mmsearch.eval.runner import EvalConfig
    from mmsearch.index.store import Filters, SearchMode

COMPARE_KEYS = ("dim", "prefetch", "rerank", "candidates", "mode")
DEFAULT_PREFETCH = 256
_ON, _OFF = ("on", "true", "yes", "1"), ("off", "false", "no", "0", "none")


@click.command("eval")
@click.argument("dataset", required=False, type=click.Path(path_type=Path, file_okay=False))
@click.option("--split", default="test", show_default=True, help="BEIR qrels split (qrels/SPLIT.tsv).")
@click.option("--group", help='Evaluate only the queries of this group (a queries.jsonl "group").')
@click.option(
    "--compare", "compare", multiple=True, metavar="KEY=V1,V2",
    help="Compare configurations: dim=256,1024  prefetch=off,on,128  rerank=on,off  candidates=20,50,100  "
    "mode=vector,keyword,hybrid. Repeatable; every combination becomes a column.",
)  # fmt: skip
@click.option(
    "--candidates", type=click.IntRange(1, 1000), help="Vector hits to rerank (default search.candidates)."
)
@click.option("--no-rerank", is_flag=True, help="First stage only (no reranker model is loaded).")
@click.option(
    "--filter", "filters", multiple=True, metavar="KEY=VALUE",
    help=f"Restrict every query's search, as `mmsearch query --filter`: {FILTER_HELP} (A query's own "
    '"filters" in queries.jsonl do the same per query; the two are not combined.)',
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (for CI).")
@click.option(
    "--make-sample", type=click.Path(path_type=Path, file_okay=False),
    help="Write the small generated eval set into this folder and exit.",
)  # fmt: skip
@pass_app
def evaluate(
    app: AppContext,
    dataset: Path | None,
    split: str,
    group: str | None,
    compare: tuple[str, ...],
    candidates: int | None,
    no_rerank: bool,
    filters: tuple[str, ...],
    as_json: bool,
    make_sample: Path | None,
) -> None:
    """Measure retrieval quality on DATASET: nDCG@5/10, recall@1/5/10/50, MRR@10 for the vector stage
    and after reranking, and the latency of each stage (p50/p95 per query).

    DATASET is a local folder in the BEIR layout (corpus.jsonl whose rows name an image, a PDF page,
    a video segment or carry text; queries.jsonl; qrels/test.tsv) or the ViDoRe layout (vidore.jsonl:
    query, image, answer rows). Nothing is downloaded; docs/eval.md shows how to export a Hub dataset.
    The corpus gets its own collections under <data_dir>/eval/ (your index is not touched) and is
    embedded once; a re-run with the same model, settings and files reuses those vectors.

    \b
    Examples:
      mmsearch eval --make-sample ./evalset && mmsearch eval ./evalset
      mmsearch eval ./evalset --group exact --no-rerank
      mmsearch eval ./docvqa --compare dim=256,1024 --compare candidates=20,50,100
      mmsearch eval ./docvqa --compare prefetch=off,on --compare rerank=on,off --json
      mmsearch eval ./evalset --compare mode=vector,keyword,hybrid --no-rerank
      mmsearch eval ./evalset --filter modality=page --filter 'metadata.year>=2023'
    """
    if make_sample is not None:
        from mmsearch.eval.sample import make_eval_sample

        counts = make_eval_sample(make_sample)
        summary = ", ".join(f"{n} {name}" for name, n in counts.items())
        click.echo(
            f"wrote an eval set to {make_sample} (queries: {summary}); run: mmsearch eval {make_sample}"
        )
        return
    if dataset is None:
        raise click.UsageError("give a DATASET folder (or --make-sample DIR)")
    restrict = parse_filters(filters)  # a bad flag is a usage error before anything loads
    _run(app, dataset, split, group, compare, candidates, no_rerank, as_json, restrict)


def _run(
    app: AppContext,
    root: Path,
    split: str,
    group: str | None,
    compare: tuple[str, ...],
    candidates: int | None,
    no_rerank: bool,
    as_json: bool,
    filters: Filters | None = None,
) -> None:
    from mmsearch import components
    from mmsearch.eval import report
    from mmsearch.eval.corpus import embed_corpus
    from mmsearch.eval.dataset import load_dataset
    from mmsearch.eval.runner import EvalRunner, check_configs
    from mmsearch.index.store import Fusion
    from mmsearch.index.store_registry import open_store

    settings = app.settings()
    data = load_dataset(root, split).only_group(group).with_filters(filters)
    console = Console(stderr=True, quiet=as_json)
    axes = parse_compare(compare, settings, candidates, rerank=not no_rerank)  # before any model loads
    full = settings.model_copy(update={"embedding": settings.embedding.model_copy(update={"dim": None})})
    embedder = components.build_embedder(full)
    configs = compare_configs(axes, embedder.dim)
    wants_rerank = any(c.rerank for c in configs)
    reranker = components.build_reranker(settings) if wants_rerank else None
    check_configs(configs, embedder.dim, reranker is not None)
    workdir = eval_dir(settings, root)
    base = settings.store.model_copy(update={"collection": collection_name(root)})
    if settings.store.url is None:
        base = base.model_copy(update={"path": workdir / "qdrant"})
    with console.status(f"embedding the corpus of {data.name} ({len(data.corpus)} rows)…"):
        corpus = embed_corpus(
            data, embedder, settings.ingest, settings.embedding.document_instruction, workdir
        )
    runner = EvalRunner(
        dataset=data,
        corpus=corpus,
        embedder=embedder,
        reranker=reranker,
        open_store=lambda store, index: open_store(store, index, store.path or workdir / "qdrant"),
        store_settings=base,
        index_settings=settings.index,
        ingest=settings.ingest,
        workdir=workdir,
        query_instruction=settings.embedding.query_instruction,
        document_instruction=settings.embedding.document_instruction,
        rerank_instruction=settings.reranker.instruction,
        fusion=Fusion(settings.search.fusion, settings.search.weights),
    )
    with console.status(f"running {len(data.queries)} queries × {len(configs)} configurations…"):
        result = runner.run(configs)
    if as_json:
        click.echo(json.dumps(report.to_dict(result), indent=2))
        return
    out = Console()
    out.print(report.heading(result, group), highlight=False)
    if corpus.reused:
        out.print("(corpus vectors reused from an earlier run)", highlight=False)
    out.print(report.table(result))
    if result.groups and group is None:
        out.print(
            f"query groups: {', '.join(result.groups)} (evaluate one with --group NAME)", highlight=False
        )


def parse_compare(
    items: tuple[str, ...], settings: Settings, candidates: int | None, *, rerank: bool
) -> dict[str, list[object]]:
    """``--compare`` flags → the values of each key; unset keys keep the configured value (``dim``
    None: the model's full dimension, known once it loads). Needs no model, so a typo fails at once."""
    has_reranker = settings.reranker.backend != "none"
    axes: dict[str, list[object]] = {
        "dim": [settings.embedding.dim],
        "prefetch": [settings.index.prefetch_dim],
        "rerank": [rerank and has_reranker],
        "candidates": [candidates or settings.search.candidates],
        "mode": [settings.search.mode],
    }
    seen: set[str] = set()
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep or not values.strip():
            raise click.BadParameter(f"{item!r}: expected KEY=V1,V2", param_hint="--compare")
        if key not in COMPARE_KEYS:
            raise click.BadParameter(
                f"unknown key {key!r}; valid: {', '.join(COMPARE_KEYS)}", param_hint="--compare"
            )
        if key in seen:
            raise click.BadParameter(f"{key} is given twice", param_hint="--compare")
        seen.add(key)
        axes[key] = [_value(key, v.strip(), settings) for v in values.split(",") if v.strip()]
    return axes


def compare_configs(axes: dict[str, list[object]], full_dim: int) -> list[EvalConfig]:
    """Every combination of the ``parse_compare`` values."""
    from mmsearch.eval.runner import make_configs

    return make_configs(
        [full_dim if v is None else int(str(v)) for v in axes["dim"]],
        [None if v is None else int(str(v)) for v in axes["prefetch"]],
        [bool(v) for v in axes["rerank"]],
        [int(str(v)) for v in axes["candidates"]],
        [cast("SearchMode", v) for v in axes["mode"]],
    )


def _value(key: str, text: str, settings: Settings) -> object:
    lowered = text.lower()
    if key == "mode":
        if lowered not in SEARCH_MODES:
            raise click.BadParameter(f"mode={text}: use {', '.join(SEARCH_MODES)}", param_hint="--compare")
        return lowered
    if key == "rerank":
        if lowered in _ON:
            return True
        if lowered in _OFF:
            return False
        raise click.BadParameter(f"rerank={text}: use on or off", param_hint="--compare")
    if key == "prefetch":
        if lowered in _OFF:
            return None
        if lowered in _ON:
            return settings.index.prefetch_dim or DEFAULT_PREFETCH
    try:
        number = int(text)
    except ValueError:
        raise click.BadParameter(f"{key}={text}: not a whole number", param_hint="--compare") from None
    if number < 1 or (key == "candidates" and number > 1000):
        raise click.BadParameter(f"{key}={text}: out of range", param_hint="--compare")
    return number


def eval_dir(settings: Settings, root: Path) -> Path:
    """``<data_dir>/eval/<name>-<hash of its absolute path>``: one folder per dataset."""
    resolved = str(root.resolve())
    return settings.data_dir / "eval" / f"{_slug(root.resolve().name)}-{_short(resolved)}"


def collection_name(root: Path) -> str:
    return f"eval-{_slug(root.resolve().name)[:24]}-{_short(str(root.resolve()))}"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "dataset"


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]
