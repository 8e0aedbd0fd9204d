"""What the client returns: frozen dataclasses read from the API's JSON (``Hit``, ``SearchResult``,
``Job``, ``Document``, ``Deleted``).

They are the client's own, not the server's types: reading a reply takes only the fields it names and
defaults the ones an older server leaves out, so a newer server's extra fields never break an older
client (each object keeps the whole reply in ``raw``). A hit can fetch its image (``Hit.image()``, or
``await hit.aimage()``): from the reply itself with ``include_images="base64"``, else from its URL through
the client that found it.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

ACTIVE_STATES = ("queued", "running")


class ImageSource(Protocol):
    """How a hit gets its image bytes: the client that found it."""

    def image_bytes(self, hit: Hit) -> bytes: ...

    def aimage_bytes(self, hit: Hit) -> Awaitable[bytes]: ...


@dataclass(frozen=True)
class Hit:
    """One ranked page, image or video segment, with what a citation needs: the document's ``name`` and
    ``collection``, ``page``/``page_count`` or ``t_start``/``t_end``, and ``link`` (the original file at
    ``#page=N`` or ``#t=SECONDS``)."""

    rank: int
    point_id: str
    score: float  # what the ranking used (the reply's ``score_kind`` says which score)
    vector_score: float
    rerank_score: float | None
    doc_id: str
    collection: str
    name: str
    file_name: str
    modality: str  # page | image | video
    page: int | None
    page_count: int | None
    t_start: float | None
    t_end: float | None
    link: str
    file_url: str
    image_url: str | None
    thumbnail_url: str | None
    snippet: str
    snippet_ranges: tuple[tuple[int, int], ...] = ()  # (start, end) offsets into ``snippet`` of matches
    highlights: tuple[tuple[int, int, int, int], ...] = ()  # (x0, y0, x1, y1) on the hit's image
    text: str | None = None  # the unit's whole text, with ``include_text=True``
    text_truncated: bool = False  # ``text`` was cut at the server's bound
    content_hash: str = ""
    groups: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    frames: int = 1
    preview_frame: int = 0
    image_base64: str | None = field(default=None, repr=False)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    source: ImageSource | None = field(default=None, repr=False, compare=False)

    @property
    def citation(self) -> str:
        """``name, p. 3/12`` or ``name, 0:42–0:51`` (with ``collection:`` unless ``default``)."""
        where = ""
        if self.page is not None:
            where = f", p. {self.page}/{self.page_count}" if self.page_count else f", p. {self.page}"
        elif self.t_start is not None:
            where = f", {clock(self.t_start)}–{clock(self.t_end if self.t_end is not None else self.t_start)}"
        shown = self.name if self.collection == "default" else f"{self.collection}:{self.name}"
        return shown + where

    def image(self) -> bytes:
        """The page/frame image the models saw: from the reply (``include_images="base64"``), else
        fetched from ``image_url`` (or the image route) through the client that found the hit."""
        if self.image_base64 is not None:
            return base64.b64decode(self.image_base64)
        if self.source is None:
            raise ValueError("this hit was not found by a client: it cannot fetch its image")
        return self.source.image_bytes(self)

    def citation_metadata(self) -> dict[str, Any]:
        """What a framework document carries about the hit (LangChain, LlamaIndex): where it is (file,
        collection, page or time, link), how it scored, and its image's URL; flat, JSON values only (the
        document's own metadata is under ``metadata``)."""
        return {
            "citation": self.citation, "name": self.name, "file_name": self.file_name, "collection": self.collection,
            "doc_id": self.doc_id, "point_id": self.point_id, "modality": self.modality, "page": self.page,
            "page_count": self.page_count, "t_start": self.t_start, "t_end": self.t_end, "link": self.link,
            "file_url": self.file_url, "image_url": self.image_url, "thumbnail_url": self.thumbnail_url,
            "rank": self.rank, "score": self.score, "vector_score": self.vector_score,
            "rerank_score": self.rerank_score, "content_hash": self.content_hash, "metadata": dict(self.metadata),
        }  # fmt: skip

    @property
    def content(self) -> str:
        """The unit's text for a reader (an LLM): its whole text when the search asked for it
        (``include_text``), else the snippet."""
        return self.text if self.text else self.snippet

    async def aimage(self) -> bytes:
        """``image()`` for an ``AsyncClient``'s hit (works for a ``Client``'s too)."""
        if self.image_base64 is not None:
            return base64.b64decode(self.image_base64)
        if self.source is None:
            raise ValueError("this hit was not found by a client: it cannot fetch its image")
        return await self.source.aimage_bytes(self)


@dataclass(frozen=True)
class SearchResult:
    hits: tuple[Hit, ...]
    reranked: bool
    reranker: str | None
    candidates: int
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    mode: str | None = None  # hybrid | vector | keyword (a server that says)
    score_kind: str | None = None  # rerank | vector | fusion | keyword: the scale of ``score``
    next_offset: int | None = None  # the ``offset`` of the next page; None: no more hits
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __iter__(self) -> Any:
        return iter(self.hits)

    def __len__(self) -> int:
        return len(self.hits)


@dataclass(frozen=True)
class FileResult:
    name: str
    status: str  # queued | running | indexed | unchanged | failed | cancelled
    replaces: bool
    doc_id: str | None
    kind: str | None
    units: int
    seconds: float
    code: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class Progress:
    files_total: int
    files_done: int
    units_done: int
    current: str | None


@dataclass(frozen=True)
class Job:
    id: str
    collection: str
    state: str  # queued | running | done | cancelled | failed
    created: float
    started: float | None
    finished: float | None
    progress: Progress
    files: tuple[FileResult, ...]
    indexed: int
    unchanged: int
    failed: int
    error: str | None
    url: str
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def done(self) -> bool:
        """Whether the job has ended (done, cancelled or failed)."""
        return self.state not in ACTIVE_STATES


@dataclass(frozen=True)
class Document:
    doc_id: str
    collection: str
    name: str
    file_name: str
    modality: str
    units: int
    ingest_time: float
    source_sha256: str
    file_url: str
    groups: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Deleted:
    doc_id: str
    collection: str
    name: str
    deleted_points: int


# -- reading replies ---------------------------------------------------------------------------------


def read_hit(data: Mapping[str, Any], source: ImageSource | None = None) -> Hit:
    name = str(data.get("name") or data.get("file_name") or "")
    return Hit(
        rank=int(data["rank"]), point_id=str(data["point_id"]), score=float(data["score"]),
        vector_score=float(data.get("vector_score", data["score"])), rerank_score=_float(data.get("rerank_score")),
        doc_id=str(data["doc_id"]), collection=str(data.get("collection", "default")), name=name,
        file_name=str(data.get("file_name") or name.rsplit("/", 1)[-1]), modality=str(data.get("modality", "")),
        page=_int(data.get("page")), page_count=_int(data.get("page_count")), t_start=_float(data.get("t_start")),
        t_end=_float(data.get("t_end")), link=str(data.get("link", "")), file_url=str(data.get("file_url", "")),
        image_url=data.get("image_url"), thumbnail_url=data.get("thumbnail_url"), snippet=str(data.get("snippet", "")),
        snippet_ranges=tuple((int(a), int(b)) for a, b in data.get("snippet_ranges") or ()),
        highlights=tuple((int(a), int(b), int(c), int(d)) for a, b, c, d in data.get("highlights") or ()),
        text=data.get("text"), text_truncated=bool(data.get("text_truncated", False)), content_hash=str(data.get("content_hash") or ""),
        groups=tuple(data.get("groups") or ()), metadata=dict(data.get("metadata") or {}),
        frames=int(data.get("frames", 1)), preview_frame=int(data.get("preview_frame", 0)),
        image_base64=data.get("image_base64"), raw=data, source=source,
    )  # fmt: skip


def read_result(data: Mapping[str, Any], source: ImageSource | None = None) -> SearchResult:
    return SearchResult(
        hits=tuple(read_hit(hit, source) for hit in data.get("hits", ())),
        reranked=bool(data.get("reranked", False)),
        reranker=data.get("reranker"),
        candidates=int(data.get("candidates", 0)),
        timings_ms=dict(data.get("timings_ms") or {}),
        mode=data.get("mode"),
        score_kind=data.get("score_kind"),
        next_offset=_int(data.get("next_offset")),
        raw=data,
    )


def read_job(data: Mapping[str, Any]) -> Job:
    progress = data.get("progress") or {}
    return Job(
        id=str(data["job_id"]), collection=str(data.get("collection", "default")), state=str(data["state"]),
        created=float(data.get("created", 0.0)), started=_float(data.get("started")),
        finished=_float(data.get("finished")),
        progress=Progress(int(progress.get("files_total", 0)), int(progress.get("files_done", 0)),
                          int(progress.get("units_done", 0)), progress.get("current")),
        files=tuple(_file(f) for f in data.get("files", ())),
        indexed=int(data.get("indexed", 0)), unchanged=int(data.get("unchanged", 0)),
        failed=int(data.get("failed", 0)), error=data.get("error"), url=str(data.get("url", "")), raw=data,
    )  # fmt: skip


def read_document(data: Mapping[str, Any]) -> Document:
    name = str(data.get("name", ""))
    return Document(
        doc_id=str(data["doc_id"]), collection=str(data.get("collection", "default")), name=name,
        file_name=str(data.get("file_name") or name.rsplit("/", 1)[-1]), modality=str(data.get("modality", "")),
        units=int(data.get("units", 0)), ingest_time=float(data.get("ingest_time", 0.0)),
        source_sha256=str(data.get("source_sha256", "")), file_url=str(data.get("file_url", "")),
        groups=tuple(data.get("groups") or ()), metadata=dict(data.get("metadata") or {}), raw=data,
    )  # fmt: skip


def read_deleted(data: Mapping[str, Any]) -> Deleted:
    return Deleted(str(data["doc_id"]), str(data.get("collection", "default")), str(data.get("name", "")),
                   int(data.get("deleted_points", 0)))  # fmt: skip


def _file(data: Mapping[str, Any]) -> FileResult:
    return FileResult(
        name=str(data.get("name", "")), status=str(data.get("status", "")), replaces=bool(data.get("replaces")),
        doc_id=data.get("doc_id"), kind=data.get("kind"), units=int(data.get("units", 0)),
        seconds=float(data.get("seconds", 0.0)), code=data.get("code"), message=data.get("message"),
    )  # fmt: skip


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def clock(seconds: float) -> str:
    """``m:ss`` (``h:mm:ss`` past an hour) of a time in a video, as citations show it."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


ProgressFn = Callable[[Job], None]
