"""Runs every query of a dataset through the two stages under one or more configurations.

The stages are the searcher's (``search/searcher.py``): embed the query with the query instruction, take
the nearest points from the store, rerank the top ``candidates`` with the reranker; here each stage is
timed on its own and every configuration shares what it can:

- each query is embedded once at the full dimension; a configuration with ``dim=d`` uses its MRL
  truncation (cut + renormalise, what the embedder returns with ``embedding.dim = d``);
- one collection per (dim, prefetch) pair is built from the corpus's full vectors, in the real store;
- rerank scores are cached per (query, candidate list), so configurations that hand the reranker the
  same candidates (rerank on/off, or two dimensions that retrieve the same points) score them once.

The first-stage ranking is the store's order, ``max(candidates, DEPTH)`` deep (so recall@50 is
measured), found as the searcher finds it in the configuration's mode (``vector``; ``keyword``: BM25 over
each point's ``search_text``; ``hybrid``: both fused, a query without words searched as vector; a
keyword configuration ranks nothing for a query without words); the reranked ranking is the reranked
top ``candidates`` followed by the rest in first-stage order.
A point stands for the corpus rows that claim it; a ranking of points becomes a ranking of corpus ids by
first appearance (a document ranks where its best page or segment ranks).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mmsearch.errors import ConfigError
from mmsearch.eval.corpus import EmbeddedCorpus
from mmsearch.eval.dataset import Dataset, EvalQuery
from mmsearch.eval.metrics import evaluate
from mmsearch.index.embedder import Embedder, mrl
from mmsearch.index.inputs import Content, VideoClip, unit_content
from mmsearch.index.lexical_text import search_text_for
from mmsearch.index.settings import IndexSettings, StoreSettings
from mmsearch.index.store import DEFAULT_COLLECTION, Fusion, Payload, Point, ScoredPoint, SearchMode, Store
from mmsearch.ingest.image import load_query_image
from mmsearch.ingest.media import load_media
from mmsearch.ingest.reader import read_query_video
from mmsearch.ingest.settings import IngestSettings
from mmsearch.search.query_text import lexical_query
from mmsearch.search.reranker import Reranker

DEPTH = 50  # first-stage depth at least: recall@50 needs 50 results

StoreOpener = Callable[[StoreSettings, IndexSettings], Store]
Tick = Callable[[str], None]


@dataclass(frozen=True)
class EvalConfig:
    """One column of the report."""

    dim: int  # MRL dimension of the collection and the query
    prefetch_dim: int | None  # None: one-stage vector search
    rerank: bool
    candidates: int
    mode: SearchMode = "vector"  # how the first stage finds its candidates

    @property
    def label(self) -> str:
        parts = [self.mode, f"dim {self.dim}"]
        if self.prefetch_dim:
            parts.append(f"prefetch {self.prefetch_dim}")
        parts.append(f"rerank {self.candidates}" if self.rerank else "no rerank")
        return ", ".join(parts)


@dataclass(frozen=True)
class StageLatency:
    p50_ms: float
    p95_ms: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> StageLatency | None:
        if not samples:
            return None
        values = np.asarray(samples, dtype=np.float64)
        return cls(round(float(np.percentile(values, 50)), 3), round(float(np.percentile(values, 95)), 3))


@dataclass(frozen=True)
class ConfigResult:
    config: EvalConfig
    first_stage: dict[str, float]
    reranked: dict[str, float] | None
    latency: dict[str, StageLatency]  # "embed", "search", and "rerank" when reranked


@dataclass(frozen=True)
class EvalReport:
    dataset: str
    layout: str
    queries: int
    corpus_rows: int
    points: int
    model_id: str
    reranker_id: str | None
    corpus_reused: bool
    results: tuple[ConfigResult, ...]
    groups: dict[str, tuple[ConfigResult, ...]] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class _QueryRun:
    query: EvalQuery
    content: Content
    vector: np.ndarray  # full dimension
    embed_ms: float


def make_configs(
    dims: Iterable[int],
    prefetch: Iterable[int | None],
    rerank: Iterable[bool],
    candidates: Iterable[int],
    modes: Iterable[SearchMode] = ("vector",),
) -> list[EvalConfig]:
    """Every combination, in the order the values were given."""
    return [
        EvalConfig(d, p, r, c, m)
        for m in modes
        for d in dims
        for p in prefetch
        for r in rerank
        for c in candidates
    ]


def check_configs(configs: Sequence[EvalConfig], full_dim: int, has_reranker: bool) -> None:
    for config in configs:
        if not 64 <= config.dim <= full_dim:
            raise ConfigError(f"--compare dim={config.dim}: choose 64 ≤ dim ≤ {full_dim} for this model")
        if config.prefetch_dim is not None and not 32 <= config.prefetch_dim < config.dim:
            raise ConfigError(
                f"--compare prefetch={config.prefetch_dim}: the prefetch dimension must be ≥ 32 and "
                f"below the vector dimension ({config.dim})"
            )
        if config.rerank and not has_reranker:
            raise ConfigError(
                "a configuration reranks but reranker.backend is none: add --compare rerank=off or "
                "configure a reranker"
            )


class EvalRunner:
    """Parts are passed in; the runner builds only the eval collections."""

    def __init__(
        self,
        *,
        dataset: Dataset,
        corpus: EmbeddedCorpus,
        embedder: Embedder,
        reranker: Reranker | None,
        open_store: StoreOpener,
        store_settings: StoreSettings,
        index_settings: IndexSettings,
        ingest: IngestSettings,
        workdir: Path,
        query_instruction: str,
        document_instruction: str,
        rerank_instruction: str | None,
        tick: Tick | None = None,
        fusion: Fusion | None = None,
    ) -> None:
        self.dataset = dataset
        self.corpus = corpus
        self.embedder = embedder
        self.reranker = reranker
        self.open_store = open_store
        self.store_settings = store_settings
        self.index_settings = index_settings
        self.ingest = ingest
        self.workdir = workdir
        self.query_instruction = query_instruction
        self.document_instruction = document_instruction
        self.rerank_instruction = rerank_instruction
        self.tick = tick or (lambda _what: None)
        self.fusion = fusion or Fusion()
        self._rerank_cache: dict[tuple[str, tuple[str, ...]], tuple[list[float], float]] = {}
        self.rows_by_id = {row.id: row for row in dataset.corpus}

    def run(self, configs: Sequence[EvalConfig]) -> EvalReport:
        queries = [self._embed_query(q) for q in self.dataset.queries]
        rankings = self._rank(queries, configs)
        results = tuple(self._score(config, queries, rankings[config]) for config in configs)
        groups = {
            group: tuple(
                self._score(config, [q for q in queries if q.query.group == group], rankings[config])
                for config in configs
            )
            for group in self.dataset.groups
        }
        return EvalReport(
            dataset=self.dataset.name,
            layout=self.dataset.layout,
            queries=len(queries),
            corpus_rows=len(self.dataset.corpus),
            points=len(self.corpus.point_ids),
            model_id=self.corpus.model_id,
            reranker_id=self.reranker.model_id if self.reranker and any(c.rerank for c in configs) else None,
            corpus_reused=self.corpus.reused,
            results=results,
            groups=groups,
        )

    def _embed_query(self, query: EvalQuery) -> _QueryRun:
        images = (load_query_image(query.image, self.ingest),) if query.image is not None else ()
        video = unit_content(read_query_video(query.video, self.ingest)).video if query.video else None
        content = Content(text=query.text, images=images, video=video)
        started = time.perf_counter()
        instruction = self.document_instruction if query.as_document else query.instruction
        vector = self.embedder.embed([content], instruction or self.query_instruction)[0]
        elapsed = (time.perf_counter() - started) * 1000.0
        self.tick("embed")
        return _QueryRun(query, content, vector, elapsed)

    def _rank(
        self, queries: Sequence[_QueryRun], configs: Sequence[EvalConfig]
    ) -> dict[EvalConfig, dict[str, _Ranked]]:
        out: dict[EvalConfig, dict[str, _Ranked]] = {}
        layouts = list(dict.fromkeys((c.dim, c.prefetch_dim) for c in configs))
        for dim, prefetch in layouts:
            chosen = [c for c in configs if (c.dim, c.prefetch_dim) == (dim, prefetch)]
            depth = max([DEPTH, *(c.candidates for c in chosen)])
            modes = list(dict.fromkeys(c.mode for c in chosen))
            with self._collection(dim, prefetch) as store:
                searched = {
                    (mode, q.query.id): self._search(store, q, dim, depth, mode)
                    for mode in modes
                    for q in queries
                }
                for config in chosen:
                    out[config] = {
                        q.query.id: self._ranked(store, q, searched[config.mode, q.query.id], config)
                        for q in queries
                    }
        return out

    def _collection(self, dim: int, prefetch: int | None) -> Store:
        """A fresh collection of the corpus at ``dim`` (with the ``prefetch`` MRL vector when given)."""
        name = f"{self.store_settings.collection}-{dim}-{prefetch or 0}"
        settings = self.store_settings.model_copy(update={"collection": name})
        index = self.index_settings.model_copy(update={"prefetch_dim": prefetch})
        store = self.open_store(settings, index)
        try:
            store.drop()
            store.ensure_collection(self.corpus.model_id, dim)
            vectors = mrl(self.corpus.vectors, dim)
            store.upsert(
                [
                    Point(pid, vector, replace(payload, dim=dim, **self._labels(pid, payload)))
                    for pid, vector, payload in zip(
                        self.corpus.point_ids, vectors, self.corpus.payloads, strict=True
                    )
                ]
            )
        except BaseException:
            store.close()
            raise
        return store

    def _labels(self, point_id: str, payload: Payload) -> dict[str, Any]:
        """The collection and metadata the corpus rows claiming a point give it, and the ``search_text``
        its text, name and that metadata make (a filtered or keyword query's search sees them; the cached
        vectors and payloads do not depend on them)."""
        rows = self.rows_by_id
        claimed = [rows[r] for r in self.corpus.rows.get(point_id, ()) if r in rows]
        metadata: dict[str, Any] = {}
        for row in claimed:
            metadata.update(row.metadata)
        collection = next((row.collection for row in claimed if row.collection), DEFAULT_COLLECTION)
        words = search_text_for(payload.text, payload.name, metadata)
        return {"collection": collection, "metadata": metadata, "search_text": words}

    def _search(
        self, store: Store, query: _QueryRun, dim: int, depth: int, mode: SearchMode
    ) -> tuple[list[ScoredPoint], float | None]:
        """The first stage in ``mode`` (a hybrid query without words: vector; keyword: nothing, and no
        time, for a query without words)."""
        lexical = None if mode == "vector" else lexical_query(query.query.text)
        if mode == "keyword" and lexical is None:
            return [], None
        vector = None if mode == "keyword" else mrl(query.vector[None, :], dim)[0]
        started = time.perf_counter()
        points = store.search(
            vector, limit=depth, filters=query.query.filters, lexical=lexical, fusion=self.fusion
        )
        elapsed = (time.perf_counter() - started) * 1000.0
        self.tick("search")
        return points, elapsed

    def _ranked(
        self,
        store: Store,
        query: _QueryRun,
        searched: tuple[list[ScoredPoint], float | None],
        config: EvalConfig,
    ) -> _Ranked:
        points, search_ms = searched
        first = [p.id for p in points]
        if not config.rerank or self.reranker is None or not points:
            return _Ranked(first, None, search_ms, None)
        head = points[: config.candidates]
        scores, rerank_ms = self._rerank(query, head)
        order = sorted(range(len(head)), key=lambda i: -scores[i])  # stable: ties keep vector order
        reranked = [head[i].id for i in order] + first[len(head) :]
        return _Ranked(first, reranked, search_ms, rerank_ms)

    def _rerank(self, query: _QueryRun, head: Sequence[ScoredPoint]) -> tuple[list[float], float]:
        assert self.reranker is not None
        key = (query.query.id, tuple(p.id for p in head))
        if key not in self._rerank_cache:
            documents = [self.document_content(p.payload) for p in head]
            started = time.perf_counter()
            scores = self.reranker.score(query.content, documents, self.rerank_instruction)
            self._rerank_cache[key] = (list(scores), (time.perf_counter() - started) * 1000.0)
            self.tick("rerank")
        return self._rerank_cache[key]

    def document_content(self, payload: Payload) -> Content:
        """A candidate as the reranker sees it (``Searcher.document_content``; text rows as text)."""
        if not payload.media_paths:
            return Content(text=payload.text)
        images = tuple(load_media(rel, self.workdir) for rel in payload.media_paths)
        if payload.modality == "video":
            times = tuple(payload.clip_times or ())
            clip = VideoClip(
                frames=images,
                fps=payload.fps or 1.0,
                t_start=payload.t_start or 0.0,
                times=times if len(times) == len(images) else (),
            )
            return Content(video=clip)
        return Content(images=images)

    def _score(
        self, config: EvalConfig, queries: Sequence[_QueryRun], ranked: dict[str, _Ranked]
    ) -> ConfigResult:
        qrels = self.dataset.qrels
        chosen = [ranked[q.query.id] for q in queries]
        ids = [q.query.id for q in queries]
        first = evaluate(qrels, {qid: self._docs(r.first) for qid, r in zip(ids, chosen, strict=True)})
        reranked = None
        if config.rerank and self.reranker is not None:
            reranked = evaluate(
                qrels, {qid: self._docs(r.reranked or r.first) for qid, r in zip(ids, chosen, strict=True)}
            )
        latency = {
            "embed": StageLatency.of([q.embed_ms for q in queries]),
            "search": StageLatency.of([r.search_ms for r in chosen if r.search_ms is not None]),
        }
        if reranked is not None:
            latency["rerank"] = StageLatency.of([r.rerank_ms for r in chosen if r.rerank_ms is not None])
        return ConfigResult(config, first, reranked, {k: v for k, v in latency.items() if v is not None})

    def _docs(self, point_ids: Sequence[str]) -> list[str]:
        """Point ids → corpus ids, each at its first (best) position."""
        seen: dict[str, None] = {}
        for pid in point_ids:
            for doc in self.corpus.rows.get(pid, ()):
                seen.setdefault(doc, None)
        return list(seen)


@dataclass(frozen=True)
class _Ranked:
    first: list[str]
    reranked: list[str] | None
    search_ms: float | None  # None: no search ran (a keyword configuration, a query without words)
    rerank_ms: float | None
