"""What a search returns: ranked ``Hit``s inside a ``SearchResult``, both JSON-serialisable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import PurePath
from typing import Any

from mmsearch.ingest.names import DEFAULT_COLLECTION


@dataclass(frozen=True)
class Hit:
    rank: int  # 1-based
    point_id: str
    score: float  # the score the ranking used: rerank score when reranked, else vector score
    vector_score: float  # first stage: cosine (vector), fused score (hybrid), BM25 (keyword)
    rerank_score: float | None  # None when the reranker was off
    doc_id: str
    source_path: str
    modality: str  # page | image | video
    page: int | None
    page_count: int | None
    t_start: float | None
    t_end: float | None
    snippet: str
    media_paths: tuple[str, ...]  # relative to data_dir; media_paths[preview_index] is the preview
    preview_index: int = 0
    source_sha256: str = ""  # the document's version: its URLs are bound to it (api/edge/signing.py)
    # The document as clients know it (``source_path`` is where its bytes were read on the server: the
    # API never shows it). ``name`` "" for a point of a store not yet upgraded to names.
    collection: str = DEFAULT_COLLECTION
    name: str = ""
    groups: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    # Words (issue 20). ``text``: the unit's whole text (text layer or OCR), only when the search asked for
    # it (``include_text``), else None. ``snippet_ranges``: (start, end) character offsets into ``snippet``
    # of the query's matched terms (plain offsets: a client marks them itself, never HTML). ``highlights``:
    # (x0, y0, x1, y1) pixel boxes of the matched words on the preview image (``image_path``), pages and
    # images only. ``content_hash``: the unit's content (the same bytes under two names share it).
    # ``text_truncated``: ``text`` was cut at ``search.highlight.MAX_TEXT_CHARS``.
    text: str | None = None
    snippet_ranges: tuple[tuple[int, int], ...] = ()
    highlights: tuple[tuple[int, int, int, int], ...] = ()
    content_hash: str = ""
    text_truncated: bool = False

    @property
    def display_name(self) -> str:
        """The name, or the file name of ``source_path`` for a point stored before names."""
        return self.name or PurePath(self.source_path).name

    @property
    def image_path(self) -> str | None:
        return self.media_paths[self.preview_index] if self.media_paths else None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["media_paths"] = list(self.media_paths)
        out["image_path"] = self.image_path
        out["groups"] = list(self.groups)
        out["metadata"] = dict(self.metadata)
        out["snippet_ranges"] = [list(r) for r in self.snippet_ranges]
        out["highlights"] = [list(b) for b in self.highlights]
        return out


@dataclass(frozen=True)
class SearchResult:
    hits: tuple[Hit, ...]
    reranked: bool  # False when reranking was off (backend none, --no-rerank): vector order
    reranker: str | None  # model id of the reranker that ordered the hits
    candidates: int  # how many vector hits were considered
    timings_ms: dict[str, float] = field(default_factory=dict)  # embed, search, rerank, total; *_wait: queued
    mode: str = "vector"  # how the candidates were found: hybrid | vector | keyword (issue 20)
    next_offset: int | None = None  # the ``offset`` of the next page; None when no hit follows (issue 21)

    def to_dict(self) -> dict[str, Any]:
        return {
            "hits": [hit.to_dict() for hit in self.hits],
            "reranked": self.reranked,
            "reranker": self.reranker,
            "candidates": self.candidates,
            "timings_ms": dict(self.timings_ms),
            "mode": self.mode,
            "next_offset": self.next_offset,
        }
