"""What the MCP tools tell an agent: a hit or a page as a citation, a document, and their text lines.

A ``Citation`` names where a unit is (collection, document name, page or time) and how to open it
(``link``: the API's signed file URL with ``#page=N`` / ``#t=S`` when served, a ``file://`` URI in
process); never a server path over HTTP. Its ``point_id`` is what ``get_page`` takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmsearch.client.results import clock
from mmsearch.index.store import Payload
from mmsearch.search.hits import Hit


@dataclass(frozen=True)
class Citation:
    point_id: str
    doc_id: str
    collection: str
    name: str
    modality: str
    page: int | None
    page_count: int | None
    t_start: float | None
    t_end: float | None
    link: str
    rank: int | None = None  # a search hit's rank (1-based); None for a page fetched by id
    score: float | None = None
    snippet: str = ""

    @classmethod
    def of_hit(cls, hit: Hit, link: str) -> Citation:
        return cls(
            hit.point_id, hit.doc_id, hit.collection, hit.display_name, hit.modality, hit.page,
            hit.page_count, hit.t_start, hit.t_end, link, hit.rank, hit.score, hit.snippet,
        )  # fmt: skip

    @classmethod
    def of_payload(cls, point_id: str, payload: Payload, link: str) -> Citation:
        name = payload.name or Path(payload.source_path).name
        return cls(
            point_id, payload.doc_id, payload.collection, name, payload.modality, payload.page,
            payload.page_count, payload.t_start, payload.t_end, link,
        )  # fmt: skip

    @property
    def where(self) -> str:
        if self.page is not None:
            return f"page {self.page} of {self.page_count}" if self.page_count else f"page {self.page}"
        if self.t_start is not None:
            return f"{clock(self.t_start)}-{clock(self.t_end if self.t_end is not None else self.t_start)}"
        return "image"

    def lines(self) -> list[str]:
        """The citation as the agent reads it: a heading line, then its ids, link and snippet."""
        head = f"[{self.rank}] " if self.rank is not None else ""
        score = f", score {self.score:.4f}" if self.score is not None else ""
        out = [
            f"{head}{self.name}, {self.where} (collection {self.collection}, {self.modality}{score})",
            f"    point_id: {self.point_id}  doc_id: {self.doc_id}",
            f"    link: {self.link}",
        ]
        snippet = " ".join(self.snippet.split())
        if snippet:
            out.append(f"    snippet: {snippet}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank, "point_id": self.point_id, "doc_id": self.doc_id,
            "collection": self.collection, "name": self.name, "modality": self.modality, "page": self.page,
            "page_count": self.page_count, "t_start": self.t_start, "t_end": self.t_end, "score": self.score,
            "link": self.link, "snippet": self.snippet,
        }  # fmt: skip


@dataclass(frozen=True)
class Found:
    """One search's answer: its citations in rank order, and how they were ranked."""

    citations: tuple[Citation, ...]
    reranked: bool
    candidates: int
    mode: str  # how the candidates were found: hybrid | vector | keyword


@dataclass(frozen=True)
class Unit:
    """One page, image or video segment fetched by point id: where it is, and its whole text."""

    citation: Citation
    text: str


@dataclass(frozen=True)
class Document:
    doc_id: str
    collection: str
    name: str
    modality: str
    units: int
    ingest_time: float
    link: str = ""

    def line(self) -> str:
        what = {"page": "pages", "image": "image", "video": "video segments"}.get(self.modality, "units")
        count = "" if self.modality == "image" else f"{self.units} "
        link = f"  {self.link}" if self.link else ""
        return f"{self.collection}/{self.name}: {count}{what}, doc_id {self.doc_id}{link}"


@dataclass(frozen=True)
class Listing:
    total: int  # every document that matched, not only this page
    documents: tuple[Document, ...]


@dataclass(frozen=True)
class CollectionCount:
    name: str
    documents: int
    units: int


def collection_counts(documents: Sequence[Document]) -> list[CollectionCount]:
    """The collections that hold ``documents``, by name, with their documents and units."""
    counts: dict[str, tuple[int, int]] = {}
    for doc in documents:
        docs, units = counts.get(doc.collection, (0, 0))
        counts[doc.collection] = (docs + 1, units + doc.units)
    return [CollectionCount(name, *counts[name]) for name in sorted(counts)]


def local_link(source_path: str, page: int | None, t_start: float | None) -> str:
    """A ``file://`` URI of a file on this machine, opening at the page or second (in-process only)."""
    path = Path(source_path)
    base = path.as_uri() if path.is_absolute() else source_path
    return base + fragment(page, t_start)


def fragment(page: int | None, t_start: float | None) -> str:
    """``#page=N`` for a PDF page, ``#t=S`` for a video second (as the API's ``link``), else ``""``."""
    if page is not None:
        return f"#page={page}"
    if t_start is not None:
        return f"#t={t_start:g}"
    return ""
