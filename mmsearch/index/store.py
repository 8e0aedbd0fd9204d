"""The vector store seam: the ``Store`` protocol and the things that flow through it.

A store holds one collection of points — one per unit — each with the unit's embedding (full dimension,
L2-normalised) and a ``Payload`` describing where the unit came from. The collection records the model
id and dimensions it was built with; every operation checks them, so vectors of two models or two MRL
dimensions are never mixed and a query with another model is refused instead of silently wrong.

The backends (``edge_store.py``, ``qdrant_store.py``) import this module; ``store_registry.py`` names
them and opens the configured one (``open_store``), so nothing here imports a backend.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from types import TracebackType
from typing import Any, Literal, Protocol, Self, get_args

import numpy as np

from mmsearch.errors import QueryError, StoreError
from mmsearch.ingest.names import DEFAULT_COLLECTION  # the collection of a document given none
from mmsearch.ingest.units import Modality

Mode = Literal["embedded", "server"]
MODALITIES: tuple[Modality, ...] = get_args(Modality)


@dataclass(frozen=True)
class Payload:
    """What is stored beside a vector: enough to show a hit and to rebuild what the reranker must see.

    ``media_paths`` are relative to ``data_dir``; ``ingest_time`` is a unix time; ``model_id``/``dim``
    name the embedding that produced the vector.
    """

    doc_id: str
    source_path: str
    modality: Modality
    text: str
    media_paths: Sequence[str]  # stored as a tuple
    content_hash: str
    source_sha256: str
    ingest_time: float
    model_id: str
    dim: int
    page: int | None = None  # 1-based, pages only
    page_count: int | None = None
    t_start: float | None = None  # seconds, video segments only
    t_end: float | None = None
    fps: float | None = None  # sampling rate of the stored frames
    clip_times: Sequence[float] | None = (
        None  # video: each frame's time in the segment, as the model reads it
    )
    # Who the document belongs to and what it is called (issue 19). ``collection``: a short name, the
    # tenant; ``name``: what the client called it (the path relative to the ingest root, the upload's file
    # name), shown instead of ``source_path``; ``groups``: who may read it (empty: everyone who may use
    # the collection); ``metadata``: flat JSON (strings, numbers, booleans, lists of strings).
    collection: str = DEFAULT_COLLECTION
    name: str = ""
    groups: Sequence[str] = ()  # stored as a tuple
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "media_paths", tuple(self.media_paths))
        object.__setattr__(self, "groups", tuple(self.groups))
        if self.clip_times is not None:
            object.__setattr__(self, "clip_times", tuple(self.clip_times))
        if self.modality not in MODALITIES:
            raise StoreError(f"payload modality {self.modality!r} is not one of {', '.join(MODALITIES)}")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["media_paths"] = list(self.media_paths)
        out["groups"] = list(self.groups)
        out["metadata"] = dict(self.metadata)
        if self.clip_times is not None:
            out["clip_times"] = list(self.clip_times)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Payload:
        """Rebuild from a stored mapping; keys this version does not know are ignored."""
        missing = [name for name in _REQUIRED if name not in data]
        if missing:
            raise StoreError(f"stored payload is not an mmsearch payload: it lacks {', '.join(missing)}")
        return cls(**{name: data[name] for name in _KNOWN if name in data})


_KNOWN = tuple(f.name for f in fields(Payload))  # read once: from_dict runs for every hit of every search
_REQUIRED = tuple(f.name for f in fields(Payload) if f.default is MISSING)


@dataclass(frozen=True, eq=False)
class Point:
    """One unit to store. ``id`` is the unit's deterministic UUID, so storing it again overwrites."""

    id: str
    vector: np.ndarray  # shape (dim,), L2-normalised
    payload: Payload

    def __post_init__(self) -> None:
        check_point_id(self.id, StoreError)


@dataclass(frozen=True)
class ScoredPoint:
    id: str
    score: float  # cosine similarity to the query (higher is closer)
    payload: Payload


@dataclass(frozen=True)
class Scope:
    """What one principal may see, set by the server and never by a client (``access.principal``).

    A point is inside when its collection is one of ``collections`` (None: any) and, unless ``groups`` is
    None (sees every document of those collections), its document has no groups or shares one with
    ``groups``. Stores add it to every query (``Filters.scope``); ``admits`` is the same rule in Python,
    for a payload already read (an image or file fetched by id).
    """

    collections: frozenset[str] | None = None
    groups: frozenset[str] | None = None

    def admits(self, payload: Payload) -> bool:
        if self.collections is not None and payload.collection not in self.collections:
            return False
        if self.groups is None or not payload.groups:
            return True
        return not self.groups.isdisjoint(payload.groups)

    @property
    def is_everything(self) -> bool:
        return self.collections is None and self.groups is None


@dataclass(frozen=True)
class Filters:
    """Restrict a search. All given conditions must hold.

    ``path_prefix`` matches whole path components: ``/docs`` matches ``/docs/a.pdf`` and ``/docs`` itself,
    not ``/docs2/a.pdf``. The ingest-time range is ``ingested_after <= t < ingested_before`` (unix times).
    """

    path_prefix: str | None = None
    modality: Modality | None = None
    doc_id: str | None = None
    ingested_after: float | None = None
    ingested_before: float | None = None
    # The caller's scope: set by the server from the principal (``dataclasses.replace``), never parsed
    # from a request. None (or a scope that admits everything): no restriction.
    scope: Scope | None = None

    def __post_init__(self) -> None:
        if self.modality is not None and self.modality not in MODALITIES:
            raise QueryError(f"filter modality {self.modality!r} is not one of {', '.join(MODALITIES)}")
        if self.path_prefix is not None and not self.path_prefix.strip():
            raise QueryError("filter path prefix is empty: give a folder or file path, or no path filter")
        after, before = self.ingested_after, self.ingested_before
        if after is not None and before is not None and after >= before:
            raise QueryError(f"filter time range is empty: after ({after}) is not before ({before})")

    @property
    def is_empty(self) -> bool:
        if self.scope is not None and not self.scope.is_everything:
            return False
        return all(value is None for key, value in asdict(self).items() if key != "scope")


@dataclass(frozen=True)
class DocumentInfo:
    """One ingested file as the store sees it (the ``stats --documents`` row)."""

    doc_id: str
    source_path: str
    modality: Modality
    units: int
    ingest_time: float  # the latest of its units
    source_sha256: str


@dataclass(frozen=True)
class StoreStats:
    collection: str
    mode: Mode
    location: str  # folder (embedded) or URL (server)
    exists: bool
    model_id: str | None
    dim: int | None
    prefetch_dim: int | None
    points: int
    documents: int
    by_modality: dict[str, int] = field(default_factory=dict)
    # Points inside the HNSW graph (the embedded store); None where the store does not say (a server
    # builds its graph by itself). Points outside it are searched exactly until ``mmsearch optimize``.
    indexed_points: int | None = None


class Store(Protocol):
    """One collection of unit vectors.

    A failing or refusing store raises ``StoreError`` (``DimensionMismatch``, ``StoreLocked``); bad
    arguments from a query (a limit below 1, an id that is not a UUID) raise ``QueryError``.
    """

    def ensure_collection(self, model_id: str, dim: int) -> None:
        """Create the collection if absent; else refuse (``DimensionMismatch``) unless it was built
        with this model, this dimension and the configured prefetch dimension."""
        ...

    def verify(self, model_id: str, dim: int) -> None:
        """Like ``ensure_collection`` but never creates: for the query path."""
        ...

    def upsert(self, points: Sequence[Point]) -> None: ...

    def delete_stale(self, doc_id: str, keep: Collection[str]) -> int:
        """Delete the document's points whose ids are not in ``keep``; return how many."""
        ...

    def delete_document(self, doc_id: str) -> int: ...

    def search(self, vector: np.ndarray, limit: int, filters: Filters | None = None) -> list[ScoredPoint]:
        """The ``limit`` nearest points by cosine, best first; empty when the collection is absent."""
        ...

    def retrieve(self, ids: Sequence[str]) -> dict[str, Payload]:
        """Payloads of the points that exist among ``ids``."""
        ...

    def documents(self) -> list[DocumentInfo]: ...

    def stats(self) -> StoreStats: ...

    def count(self) -> int: ...

    def drop(self) -> bool:
        """Delete the whole collection (for a re-index with another model); True if it existed."""
        ...

    def optimize(self) -> bool:
        """Build the search index (HNSW) where the collection has grown past exact search; True if it
        changed anything. Slow and, embedded, blocking: for the end of an ingest or `mmsearch optimize`,
        never a serving process. A server optimizes by itself (False)."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


def check_point_id(value: str, error: type[Exception]) -> str:
    """``value`` as a canonical UUID string, or ``error`` saying it is not one."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError) as exc:
        raise error(f"{value!r} is not a point id (a UUID)") from exc
