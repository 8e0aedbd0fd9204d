"""The eval report for people (one table: metrics down, configurations across) and for CI (JSON).

With one configuration the columns are its two stages, "vector" (first stage) and "reranked"; with
several (``--compare``) each configuration is a column and each metric has a row per stage. Latency
rows are per-query milliseconds, p50 and p95, of each stage: embedding the query, the vector search,
and reranking the candidates.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rich.table import Table

from mmsearch.eval.metrics import NAMES
from mmsearch.eval.runner import ConfigResult, EvalReport

STAGES = ("embed", "search", "rerank")


def to_dict(report: EvalReport) -> dict[str, Any]:
    return {
        "dataset": report.dataset,
        "layout": report.layout,
        "queries": report.queries,
        "corpus_rows": report.corpus_rows,
        "points": report.points,
        "model": report.model_id,
        "reranker": report.reranker_id,
        "corpus_reused": report.corpus_reused,
        "results": [_result(r) for r in report.results],
        "groups": {name: [_result(r) for r in results] for name, results in report.groups.items()},
    }


def _result(result: ConfigResult) -> dict[str, Any]:
    return {
        "config": {**asdict(result.config), "label": result.config.label},
        "first_stage": result.first_stage,
        "reranked": result.reranked,
        "latency_ms": {stage: asdict(value) for stage, value in result.latency.items()},
    }


def heading(report: EvalReport, group: str | None = None) -> str:
    where = f"{report.dataset}" + (f", group {group}" if group else "")
    return (
        f"{where}: {report.queries} queries, {report.corpus_rows} documents ({report.points} points); "
        f"model {report.model_id}" + (f", reranker {report.reranker_id}" if report.reranker_id else "")
    )


def table(report: EvalReport, results: tuple[ConfigResult, ...] | None = None) -> Table:
    """Metrics down, configurations (or, for one configuration, its two stages) across."""
    results = results if results is not None else report.results
    grid = Table()
    grid.add_column("metric")
    if len(results) == 1:
        return _one(grid, results[0])
    for result in results:
        grid.add_column(result.config.label, justify="right")
    for name in NAMES:
        grid.add_row(f"{name} vector", *[_num(r.first_stage[name]) for r in results])
    if any(r.reranked is not None for r in results):
        for name in NAMES:
            grid.add_row(
                f"{name} reranked",
                *[_num(r.reranked[name]) if r.reranked is not None else "–" for r in results],
            )
    for stage in STAGES:
        if any(stage in r.latency for r in results):
            for field_name in ("p50_ms", "p95_ms"):
                grid.add_row(f"{stage} ms {field_name[:3]}", *[_ms(r, stage, field_name) for r in results])
    return grid


def _one(grid: Table, result: ConfigResult) -> Table:
    """One configuration: a "vector" and a "reranked" column; each stage's latency under its column
    (query embedding and search under "vector", reranking under "reranked")."""
    grid.add_column("vector", justify="right")
    reranked = result.reranked
    if reranked is not None:
        grid.add_column("reranked", justify="right")
    for name in NAMES:
        grid.add_row(name, _num(result.first_stage[name]), *([_num(reranked[name])] if reranked else []))
    for stage in STAGES:
        if stage not in result.latency:
            continue
        for field_name in ("p50_ms", "p95_ms"):
            value = _ms(result, stage, field_name)
            cells = ["", value] if stage == "rerank" else [value, *([""] if reranked else [])]
            grid.add_row(f"{stage} ms {field_name[:3]}", *cells)
    return grid


def _ms(result: ConfigResult, stage: str, field_name: str) -> str:
    value = result.latency.get(stage)
    return f"{getattr(value, field_name):.1f}" if value is not None else "–"


def _num(value: float) -> str:
    return f"{value:.3f}"
