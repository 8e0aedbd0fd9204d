"""The query path: embed the query, take the top candidates from the store, rerank, return hits.

With ``committed`` (document id → the sha256 of its searchable version:
``manifest.committed_versions``), only points of each document's committed version are candidates: the
points of a version still being written, or of one replaced but not yet removed, are skipped (and more
are fetched in their place, up to ``MAX_WIDENINGS`` times ``WIDEN`` as many), so a search never shows two
versions of one file or half of one.

Without the reranker, the candidates are found with their versions only (``Store.nearest``) and the whole
payload is read for the page's hits (``Store.retrieve``); the reranker reads every candidate's.

Which of the ranked points become hits, and which page of them, is ``selection.py``'s: a score floor
(``min_score``), one hit per document or content (``collapse``), and ``offset``. A reranked query pages
through its ``candidates`` (reranked once per page: pages of one query and ``candidates`` agree); an
unreranked one through the store's order, fetching more when a floor or collapse left too few.

Whether the collection is empty (``EmptyCollection``) is asked of the store only when a search found
nothing: an exact count on every search costs as much as the search itself at 10k points. The count is
of the whole store, never of the caller's scope, as the answer "empty" was before.

Modes (issue 20; ``mode`` per search, else the searcher's, ``search.mode``): ``hybrid`` hands the store
the query vector and the query's words (``query_text.lexical_query``), fused by the store;
``vector`` the vector only; ``keyword`` the words only (nothing is embedded; a query without words is
refused). A hybrid query without words (an image, a video clip) is a vector search, and so is one on a
collection without its text index yet (logged); ``SearchResult.mode`` says which ran. The scope and
filters bind every mode alike (the store puts them on both halves), and so does the committed-versions
widening.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
from PIL import Image

from mmsearch.errors import EmptyCollection, MmsearchError, QueryError, SearchAbandoned
from mmsearch.index.embedder import Embedder
from mmsearch.index.inputs import Content, VideoClip
from mmsearch.index.store import (
    SEARCH_MODES,
    Candidate,
    Filters,
    Fusion,
    Lexical,
    Payload,
    ScoredPoint,
    SearchMode,
    Store,
)
from mmsearch.ingest.media import load_media
from mmsearch.search.highlight import find_marks, hit_text
from mmsearch.search.hits import Hit, SearchResult
from mmsearch.search.query_text import lexical_query
from mmsearch.search.reranker import Reranker
from mmsearch.search.selection import Collapse, Page, Selection, select
from mmsearch.search.terms import Terms, query_terms
from mmsearch.search.ticket import Ticket, holding

log = logging.getLogger(__name__)

Committed = Callable[[Collection[str]], Mapping[str, str]]
WIDEN = 4  # when hidden points leave fewer candidates than asked, fetch this many times more
MAX_WIDENINGS = 3
SCAN_LIMIT = 4096  # the most points an unreranked search reads to fill a page after its floor or collapse
P = TypeVar("P", Candidate, ScoredPoint)  # a point found: with its whole payload, or only its version


@dataclass(frozen=True, eq=False)
class Query:
    text: str | None = None
    image: Image.Image | None = None
    filters: Filters | None = None
    video: VideoClip | None = None

    def content(self) -> Content:
        text = self.text.strip() if self.text else None
        images = (self.image,) if self.image is not None else ()
        return Content(text=text or None, images=images, video=self.video)


class Searcher:
    """Two-stage search over one collection. Parts are passed in; nothing is built here."""

    def __init__(
        self,
        *,
        embedder: Embedder,
        store: Store,
        reranker: Reranker | None,
        data_dir: Path,
        query_instruction: str,
        rerank_instruction: str | None = None,
        use_text_layer: bool = False,
        candidates: int = 50,
        top_k: int = 10,
        committed: Committed | None = None,
        mode: SearchMode = "hybrid",
        fusion: Fusion | None = None,
    ) -> None:
        self.embedder = embedder
        self.store = store
        self.reranker = reranker
        self.data_dir = data_dir
        self.query_instruction = query_instruction
        self.rerank_instruction = rerank_instruction
        self.use_text_layer = use_text_layer
        self.candidates = candidates
        self.top_k = top_k
        self.committed = committed
        self.mode = _checked_mode(mode)
        self.fusion = fusion or Fusion()
        self._verified = False
        self._warned_no_index = False

    def search(
        self,
        query: Query,
        *,
        top_k: int | None = None,
        candidates: int | None = None,
        rerank: bool = True,
        cancelled: Callable[[], bool] | None = None,
        mode: SearchMode | None = None,
        include_text: bool = False,
        offset: int = 0,
        min_score: float | None = None,
        collapse: Collapse | None = None,
        vector: np.ndarray | None = None,
    ) -> SearchResult:
        """``cancelled``: asked before the embedding, before the rerank and (through this search's ticket,
        ``search.ticket``) by the model queues before each batch; True stops the search there with
        ``SearchAbandoned`` (the API's route passes "the client has gone"). ``mode``: hybrid | vector |
        keyword (None: the searcher's). ``include_text``: each hit carries its unit's text (``Hit.text``,
        cut at ``highlight.MAX_TEXT_CHARS``). ``offset``, ``min_score``, ``collapse``: which hits
        (``selection.Selection``). ``vector``: the query's embedding, when ``embed_queries`` made it with
        others (a keyword search uses none)."""
        ticket = Ticket(gone=cancelled) if cancelled is not None else None
        selection = Selection(top_k or self.top_k, offset, min_score, collapse)
        with holding(ticket) as waits:  # the model queues add their waits to this search's ticket
            return self._search(
                query, waits, selection, candidates=candidates, rerank=rerank, cancelled=cancelled,
                mode=_checked_mode(mode or self.mode), include_text=include_text, vector=vector,
            )  # fmt: skip

    def embed_queries(
        self, queries: Sequence[Query], cancelled: Callable[[], bool] | None = None
    ) -> np.ndarray:
        """The queries' vectors from one call of the embedder (one batch, not one per query), for
        ``search(vector=)``: a batch of searches embeds once."""
        contents = [query.content() for query in queries]
        if any(content.is_empty for content in contents):
            raise QueryError("empty query: give some text, an image, a video clip, or a mix")
        self._verify()
        with holding(Ticket(gone=cancelled) if cancelled is not None else None):
            _stop_if(cancelled, "before its embedding")
            return self.embedder.embed(contents, self.query_instruction)

    def _verify(self) -> None:
        if not self._verified:  # a query embedded by another model/dim than the index's is refused
            self.store.verify(self.embedder.model_id, self.embedder.dim)
            self._verified = True

    def _plan(self, query: Query, mode: SearchMode) -> tuple[SearchMode, Lexical | None]:
        """The mode that runs and the lexical half: a hybrid query without words, or on a collection
        without its text index, runs as vector; a keyword query without words is refused."""
        lexical = None if mode == "vector" else lexical_query(query.text)
        if mode == "keyword":
            if lexical is None:
                raise QueryError(
                    "a keyword search needs words to search for: give query text (an image or a video clip "
                    "is searched with mode hybrid or vector)"
                )
            return mode, lexical
        if lexical is None:
            return "vector", None
        if not self.store.has_text_index():
            if not self._warned_no_index:
                self._warned_no_index = True
                log.warning(
                    "hybrid search runs as vector search: the collection has no text index yet (open it "
                    "for writing once: `mmsearch ingest`, `mmsearch serve`)"
                )
            return "vector", None
        return mode, lexical

    def _search(
        self,
        query: Query,
        waits: Ticket,
        selection: Selection,
        *,
        candidates: int | None,
        rerank: bool,
        cancelled: Callable[[], bool] | None,
        mode: SearchMode,
        include_text: bool,
        vector: np.ndarray | None,
    ) -> SearchResult:
        window = max(candidates or self.candidates, selection.top_k)
        content = query.content()
        if content.is_empty:
            raise QueryError("empty query: give some text, an image, a video clip, or a mix")
        reranking = rerank and self.reranker is not None
        if reranking and selection.end > window:
            raise QueryError(
                f"offset + top_k is {selection.end}, past the {window} candidates a reranked query pages "
                f"through: ask each page of this query with candidates ≥ {selection.end} (at most 1000), "
                "or without reranking"
            )
        self._verify()
        mode, lexical = self._plan(query, mode)
        timings: dict[str, float] = {}
        started = time.perf_counter()
        if mode == "keyword":  # a keyword search embeds nothing
            vector = None
        elif vector is None:
            before = replace(waits)
            _stop_if(cancelled, "before its embedding")
            vector = self.embedder.embed([content], self.query_instruction)[0]
            _stage(timings, "embed", started, waits, before)
        mark = time.perf_counter()
        if reranking:
            points = _ordered(self._visible_search(self.store.search, vector, lexical, window, query.filters))
            found = len(points)
        else:
            points, found, page = self._store_page(vector, lexical, window, selection, query.filters)
        if not found and self.store.count() == 0:  # counted only when nothing was found, not per search
            raise EmptyCollection(
                "the collection is empty: ingest some files first (`mmsearch ingest PATH…`, or "
                "POST /v1/documents on the API)"
            )
        timings["search"] = _ms_since(mark)
        rerank_scores: list[float] | None = None
        if reranking and points:
            assert self.reranker is not None
            mark, before = time.perf_counter(), replace(waits)
            points, documents = self._contents(points)
            _stop_if(cancelled, "before its rerank")
            rerank_scores = self.reranker.score(
                content, documents, self.rerank_instruction, cancelled=cancelled
            )
            _stage(timings, "rerank", mark, waits, before)
        if reranking:
            page = _reranked_page(points, rerank_scores or [], selection)
        timings["total"] = _ms_since(started)
        terms = query_terms(query.text)
        hits = _rank(points, page.chosen, rerank_scores, terms, selection.offset, include_text)
        return SearchResult(
            hits=hits,
            reranked=rerank_scores is not None,
            reranker=self.reranker.model_id if rerank_scores is not None and self.reranker else None,
            candidates=len(points) if reranking else found,
            timings_ms={k: round(v, 2) for k, v in timings.items()},
            mode=mode,
            next_offset=selection.end if page.more else None,
        )

    def _store_page(
        self,
        vector: np.ndarray | None,
        lexical: Lexical | None,
        window: int,
        selection: Selection,
        filters: Filters | None,
    ) -> tuple[list[ScoredPoint], int, Page]:
        """An unreranked page: the page's points (with payloads, in rank order), how many points were
        considered, and the page (its ``chosen`` index the returned points, 0..n-1). At least ``window``
        points are considered (the reply's ``candidates``), more while a floor or collapse leaves the page
        short and more exist, up to ``SCAN_LIMIT``; only the page's payloads are read, unless collapsing
        by content needs every one's hash."""
        lookup = self.store.search if selection.collapse == "content" else self.store.nearest
        limit = max(window, selection.end + 1)
        for _ in range(MAX_WIDENINGS + 1):
            found: list[Any] = _ordered(self._visible_search(lookup, vector, lexical, limit, filters))
            page = _in_store_order(found, selection)
            short = page.kept <= selection.end and len(found) >= limit and selection.narrows
            floored = selection.min_score is not None and found and found[-1].score < selection.min_score
            if not short or floored or limit >= SCAN_LIMIT:
                break
            limit = min(limit * WIDEN, SCAN_LIMIT)
        chosen = [found[i] for i in page.chosen]
        points = chosen if selection.collapse == "content" else self._with_payloads(chosen)
        return points, len(found), replace(page, chosen=tuple(range(len(points))))

    def _visible_search(
        self,
        lookup: Callable[..., list[P]],
        vector: np.ndarray | None,
        lexical: Lexical | None,
        limit: int,
        filters: Filters | None,
    ) -> list[P]:
        """The ``limit`` best points of committed versions (all points when there is no ``committed``),
        found by ``lookup`` (``store.search`` or ``store.nearest``)."""
        asked = limit
        for _ in range(MAX_WIDENINGS + 1):
            found = lookup(vector, limit=asked, filters=filters, lexical=lexical, fusion=self.fusion)
            if self.committed is None:
                return found
            visible = self._visible(found)
            if len(visible) >= limit or len(found) < asked:
                return visible[:limit]
            asked *= WIDEN
        return visible[:limit]

    def _visible(self, points: Sequence[P]) -> list[P]:
        if self.committed is None:
            return list(points)
        versions = self.committed({p.doc_id for p in points})
        return [p for p in points if versions.get(p.doc_id) == p.source_sha256]

    def _with_payloads(self, hits: Sequence[Candidate]) -> list[ScoredPoint]:
        """The hits with their whole payloads; one deleted since the search is dropped."""
        payloads = self.store.retrieve([c.id for c in hits]) if hits else {}
        return [ScoredPoint(c.id, c.score, payloads[c.id]) for c in hits if c.id in payloads]

    def _contents(self, points: list[ScoredPoint]) -> tuple[list[ScoredPoint], list[Content]]:
        """Each candidate's stored media; a candidate whose version was replaced (and its images
        removed) since the store search is dropped, any other missing media is an error."""
        kept, contents = [], []
        for point in points:
            try:
                contents.append(self.document_content(point.payload))
            except QueryError:
                if self._visible([point]):
                    raise
                continue
            kept.append(point)
        return kept, contents

    def document_content(self, payload: Payload) -> Content:
        """A candidate as the reranker sees it: the stored page/image/frames the embedder saw."""
        try:
            images = tuple(load_media(rel, self.data_dir) for rel in payload.media_paths)
        except MmsearchError as exc:
            raise QueryError(
                f"stored media of {payload.source_path} ({_where(payload)}) cannot be read: {exc}. "
                f"Was data_dir ({self.data_dir}) moved or pruned? Re-ingest the file."
            ) from exc
        # The text layer only (``reranker.use_text_layer``): OCR text is never shown to a model.
        text = payload.text if self.use_text_layer and payload.text and payload.text_source != "ocr" else None
        if payload.modality == "video":
            fps = payload.fps or 1.0
            times = tuple(payload.clip_times or ())
            if len(times) != len(images):
                times = ()  # stored before clip times were kept: i / fps
            clip = VideoClip(frames=images, fps=fps, t_start=payload.t_start or 0.0, times=times)
            return Content(text=text, video=clip)
        return Content(text=text, images=images)


def _stop_if(cancelled: Callable[[], bool] | None, where: str) -> None:
    if cancelled is not None and cancelled():
        raise SearchAbandoned(f"the search was abandoned {where}")


def _checked_mode(mode: str) -> SearchMode:
    if mode not in SEARCH_MODES:
        raise QueryError(f"search mode {mode!r} is not one of {', '.join(SEARCH_MODES)}")
    return cast(SearchMode, mode)


def _ordered(points: list[P]) -> list[P]:
    """Best first, equal scores by point id: the store orders ties as its search happens to meet them,
    which differs with the limit and the filters, and a page boundary between two tied points must not."""
    return sorted(points, key=lambda p: (-p.score, p.id))


def _reranked_page(points: Sequence[ScoredPoint], scores: list[float], selection: Selection) -> Page:
    """The page of the reranked candidates: by rerank score, equal scores in the first stage's order."""
    order = sorted(range(len(points)), key=lambda i: -scores[i])  # stable
    return select(order, lambda i: scores[i], lambda i: _key(points[i], selection.collapse), selection)


def _in_store_order(found: Sequence[ScoredPoint | Candidate], selection: Selection) -> Page:
    """The page of points in the store's order (best first)."""
    return select(
        range(len(found)), lambda i: found[i].score, lambda i: _key(found[i], selection.collapse), selection
    )


def _key(point: ScoredPoint | Candidate, collapse: Collapse | None) -> str:
    """What ``collapse`` keeps one of: the point's content hash (``_store_page`` reads such points whole),
    else its document."""
    if collapse == "content" and isinstance(point, ScoredPoint):
        return point.payload.content_hash or point.id
    return point.doc_id


def _rank(
    points: Sequence[ScoredPoint],
    chosen: Sequence[int],
    rerank_scores: list[float] | None,
    terms: Terms,
    offset: int,
    include_text: bool = False,
) -> tuple[Hit, ...]:
    """The hits of the ``chosen`` points, in that order, ranked from ``offset + 1``."""
    return tuple(
        _hit(rank, points[i], rerank_scores[i] if rerank_scores is not None else None, terms, include_text)
        for rank, i in enumerate(chosen, start=offset + 1)
    )


def _hit(rank: int, point: ScoredPoint, rerank_score: float | None, terms: Terms, include_text: bool) -> Hit:
    """One hit: the point's payload as shown, with its snippet and highlights for the query's ``terms``."""
    payload = point.payload
    marks = find_marks(payload, terms)
    text, cut = hit_text(payload.text or "") if include_text else (None, False)
    return Hit(
        rank=rank,
        point_id=point.id,
        score=rerank_score if rerank_score is not None else point.score,
        vector_score=point.score,
        rerank_score=rerank_score,
        doc_id=payload.doc_id,
        source_path=payload.source_path,
        collection=payload.collection,
        name=payload.name,
        groups=tuple(payload.groups),
        metadata=dict(payload.metadata),
        modality=payload.modality,
        page=payload.page,
        page_count=payload.page_count,
        t_start=payload.t_start,
        t_end=payload.t_end,
        snippet=marks.snippet.text,
        snippet_ranges=marks.snippet.ranges,
        highlights=marks.highlights,
        text=text,
        text_truncated=cut,
        content_hash=payload.content_hash,
        media_paths=tuple(payload.media_paths),
        preview_index=len(payload.media_paths) // 2 if payload.modality == "video" else 0,
        source_sha256=payload.source_sha256,
    )


def _where(payload: Payload) -> str:
    if payload.page is not None:
        return f"page {payload.page}"
    if payload.t_start is not None:
        return f"{payload.t_start:.1f}s–{payload.t_end or 0:.1f}s"
    return payload.modality


def _stage(timings: dict[str, float], stage: str, mark: float, waits: Ticket, before: Ticket) -> None:
    """``stage``'s time since ``mark`` split into queue wait (``<stage>_wait``, present when the model
    sat behind a queue or lock, as in the API) and the rest (``stage``: model time)."""
    waited = waits.waited_ms - before.waited_ms
    timings[stage] = _ms_since(mark) - waited
    if waits.queued > before.queued:
        timings[f"{stage}_wait"] = waited


def _ms_since(mark: float) -> float:
    return (time.perf_counter() - mark) * 1000.0
