"""Retrieval metrics through ``ir-measures`` (which runs ``pytrec_eval``, i.e. trec_eval's own code).

A run is each query's ranked list of corpus ids. trec_eval orders documents by score and breaks ties
by document id, so the scores handed to it are derived from the rank (``n - rank``): the order it
evaluates is exactly the order mmsearch returned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import ir_measures
import numpy as np
from ir_measures import RR, R, nDCG

MEASURES = (nDCG @ 5, nDCG @ 10, R @ 1, R @ 5, R @ 10, R @ 50, RR @ 10)
NAMES = ("nDCG@5", "nDCG@10", "recall@1", "recall@5", "recall@10", "recall@50", "MRR@10")

Ranking = Mapping[str, Sequence[str]]  # query id → corpus ids, best first


def evaluate(qrels: Mapping[str, Mapping[str, int]], ranking: Ranking) -> dict[str, float]:
    """The mean of each metric over the queries of ``ranking`` (a query with an empty list scores 0)."""
    judged = {qid: dict(qrels.get(qid, {})) for qid in ranking}
    run = {qid: _scores(ids) for qid, ids in ranking.items()}
    per_query: dict[str, list[float]] = {name: [] for name in NAMES}
    by_measure = dict(zip(MEASURES, NAMES, strict=True))
    for metric in ir_measures.iter_calc(list(MEASURES), judged, run):
        name = by_measure[metric.measure]
        per_query[name].append(float(metric.value))
    count = len(ranking)
    # trec_eval leaves out queries whose run is empty; they count as 0 here.
    return {name: float(np.sum(values)) / count if count else 0.0 for name, values in per_query.items()}


def _scores(ids: Sequence[str]) -> dict[str, float]:
    return {doc: float(len(ids) - rank) for rank, doc in enumerate(ids)}
