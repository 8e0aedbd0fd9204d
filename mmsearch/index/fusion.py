"""How a hybrid search's two candidate lists (lexical, dense) become one: RRF or DBSF, deterministically.

Both stores fetch the two lists in one engine call (a batch of two Query API requests, each under its
filter) and fuse them here rather than in the engine, because the engine's order among equal BM25 scores
changes from call to call (Qdrant Edge 0.9: the same ``TextQuery`` over points of equal text returns them
in another order each time, even in one segment), and RRF scores ranks: the same query would fuse to
other hits. Here each list is first put in a fixed order — score, then point id — and the formulas are
qdrant-client's (``hybrid/fusion.py``: ``reciprocal_rank_fusion``, ``distribution_based_score_fusion``),
which are the engine's own: with no ties the results equal the engine's fusion (tests/index/test_lexical.py
checks both). Fused hits are ordered by score, then id.

Which points make a list's top ``limit`` must not depend on that order either, when points tied with
the ``limit``-th go on past it: the lexical list is fetched one deeper than ``limit``, and once more, four
times as deep (``top``), when the last fetched point ties with the ``limit``-th, so ties are broken by id
over a tied group of up to ``4 * (limit + 1)`` points. Past that (hundreds of points of one text: copies
of a page) the engine's order decides which of them make the list: fetching the whole group on every
search cost 5x the search at 10k copies (``bench/query.py --serve``), for no better answer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from mmsearch.index.store import Fusion

RRF_K = 2  # 1 / (k + rank), rank from 0: Qdrant's and qdrant-client's default k
Found = tuple[str, float, Any]  # (point id, score, what the engine returned with it: its payload)


def ordered(found: Sequence[Found]) -> list[Found]:
    """Best first; equal scores by point id, so a list never depends on the engine's order among ties."""
    return sorted(found, key=lambda f: (-f[1], f[0]))


DEEPEN = 1  # times a list is fetched deeper (each 4 times as deep) to see the end of a tied group


def top(
    found: Sequence[Found], limit: int, depth: int, fetch: Callable[[int], Sequence[Found]]
) -> list[Found]:
    """The best ``limit`` of ``found`` (fetched ``depth`` > ``limit`` deep), ties by id: ``fetch``ed deeper
    first while the last point fetched scores as the ``limit``-th does (more may tie past it)."""
    for _ in range(DEEPEN):
        best = ordered(found)
        if len(best) < depth or best[-1][1] < best[limit - 1][1]:
            break
        depth *= 4
        found = fetch(depth)
    return ordered(found)[:limit]


def fuse(lexical: Sequence[Found], dense: Sequence[Found], fusion: Fusion, limit: int) -> list[Found]:
    """The two lists fused by ``fusion`` (weights: dense, lexical), best ``limit`` first."""
    lists = [ordered(lexical), ordered(dense)]
    if fusion.method == "dbsf":
        scores = _dbsf(lists)
    else:
        weights = (1.0, 1.0) if fusion.weights is None else (fusion.weights[1], fusion.weights[0])
        scores = _rrf(lists, weights)
    carried = {f[0]: f[2] for found in reversed(lists) for f in found}  # the lexical list's payload wins
    return ordered([(i, score, carried[i]) for i, score in scores.items()])[:limit]


def _rrf(lists: list[list[Found]], weights: tuple[float, float]) -> dict[str, float]:
    scores: dict[str, float] = {}
    for found, weight in zip(lists, weights, strict=True):
        for rank, (point_id, _, _) in enumerate(found):
            gain = 0.0 if weight <= 0 else 1.0 / ((rank + 1.0) / weight + RRF_K - 1.0)
            scores[point_id] = scores.get(point_id, 0.0) + gain
    return scores


def _dbsf(lists: list[list[Found]]) -> dict[str, float]:
    """Each list's scores mapped through (score - (mean - 3σ)) / 6σ (one point, or no spread: 0.5), summed."""
    scores: dict[str, float] = {}
    for found in lists:
        for point_id, normal in _normalised([f[1] for f in found], [f[0] for f in found]):
            scores[point_id] = scores.get(point_id, 0.0) + normal
    return scores


def _normalised(values: list[float], ids: list[str]) -> list[tuple[str, float]]:
    if len(values) < 2:
        return [(i, 0.5) for i in ids]
    mean = sum(values) / len(values)
    sigma = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    if sigma == 0:
        return [(i, 0.5) for i in ids]
    low = mean - 3 * sigma
    return [(i, (v - low) / (6 * sigma)) for i, v in zip(ids, values, strict=True)]
