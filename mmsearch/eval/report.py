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


def table(
    report: EvalReport, results: tuple[ConfigResult, ...] | None = None, title: str | None = None
) -> Table:
    results = results if results is not None else report.results
    heading = title or (
        f"{report.dataset}: {report.queries} queries, {report.corpus_rows} documents "
        f"({report.points} points), {report.model_id}"
    )
    grid = Table(title=heading, title_justify="left")
    grid.add_column("metric")
    if len(results) == 1:
        only = results[0]
        grid.add_column("vector", justify="right")
        if only.reranked is not None:
            grid.add_column("reranked", justify="right")
        for name in NAMES:
            cells = [_num(only.first_stage[name])]
            if only.reranked is not None:
                cells.append(_num(only.reranked[name]))
            grid.add_row(name, *cells)
        _latency_rows(grid, results)
        return grid
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
    _latency_rows(grid, results)
    return grid


def _latency_rows(grid: Table, results: tuple[ConfigResult, ...]) -> None:
    for stage in STAGES:
        if not any(stage in r.latency for r in results):
            continue
        for field_name, label in (("p50_ms", "p50"), ("p95_ms", "p95")):
            cells = []
            for result in results:
                value = result.latency.get(stage)
                cells.append(f"{getattr(value, field_name):.1f}" if value is not None else "–")
            if len(results) == 1 and results[0].reranked is not None:
                cells.append("")
            grid.add_row(f"{stage} ms {label}", *cells)


def _num(value: float) -> str:
    return f"{value:.3f}"
