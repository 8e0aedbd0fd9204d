"""The vector store seam: the ``Store`` protocol and the things that flow through it.

A store holds one collection of points — one per unit — each with the unit's embedding (full dimension,
L2-normalised) and a ``Payload`` describing where the unit came from. The collection records the model
id and dimensions it was built with; every operation checks them, so vectors of two models or two MRL
dimensions are never mixed and a query with another model is refused instead of silently wrong.

The backends (``edge_store.py``, ``qdrant_store.py``) import this module; ``store_registry.py`` names
them and opens the configured one (``open_store``), so nothing here imports a backend.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from types import TracebackType
from typing import Any, Literal, Protocol, Self, cast, get_args

import numpy as np

from mmsearch.errors import QueryError, StoreError
from mmsearch.index.conditions import Bounds, Scalar, metadata_key
from mmsearch.ingest.names import DEFAULT_COLLECTION  # the collection of a document given none
from mmsearch.ingest.units import WORD_FIELDS, Modality, TextSource  # noqa: F401  (WORD_FIELDS: re-exported)

Mode = Literal["embedded", "server"]
MODALITIES: tuple[Modality, ...] = get_args(Modality)
# How a search finds its candidates (issue 20): the dense vector only, BM25 over each point's
# ``search_text`` only, or both lists (one engine call) fused (the default).
SearchMode = Literal["hybrid", "vector", "keyword"]
SEARCH_MODES: tuple[SearchMode, ...] = get_args(SearchMode)
FusionMethod = Literal["rrf", "dbsf"]


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
    # Words (issue 20). ``search_text``: what the lexical (BM25) stage indexes: the unit's ``text`` (text
    # layer or OCR) with its name and metadata's text (an image's or video's only words, often); "" for
    # a point stored before it existed until the store's in-place upgrade fills it. ``words``: each word of
    # ``text`` with its box, WORD_FIELDS ints per word: (start, end) character offsets into ``text`` and
    # (x0, y0, x1, y1) in pixels of the stored image ``media_paths[0]``; empty where none were kept.
    # ``text_source``: where ``text`` came from (None: no text).
    search_text: str = ""
    words: Sequence[int] = ()  # stored as a tuple
    text_source: TextSource | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "media_paths", tuple(self.media_paths))
        object.__setattr__(self, "groups", tuple(self.groups))
        object.__setattr__(self, "words", tuple(self.words))
        if self.clip_times is not None:
            object.__setattr__(self, "clip_times", tuple(self.clip_times))
        if self.modality not in MODALITIES:
            raise StoreError(f"payload modality {self.modality!r} is not one of {', '.join(MODALITIES)}")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["media_paths"] = list(self.media_paths)
        out["groups"] = list(self.groups)
        out["metadata"] = dict(self.metadata)
        out["words"] = list(self.words)
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


# What ``Store.set_text`` rewrites: a unit's text and what is derived from it, never its vector.
TEXT_FIELDS = ("text", "words", "text_source", "search_text")
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

    @property
    def doc_id(self) -> str:
        return self.payload.doc_id

    @property
    def source_sha256(self) -> str:
        return self.payload.source_sha256


# The payload fields a candidate is read with (``Store.nearest``): which version of which document it is.
VERSION_FIELDS = ("doc_id", "source_sha256")
# The keyword fields ``Store.facet`` counts by (each has a payload index: the engine counts from it).
FACET_FIELDS = ("collection", "modality")


@dataclass(frozen=True)
class Candidate:
    """A point found by ``Store.nearest``: its id, score and ``VERSION_FIELDS`` only. The rest of its
    payload is read (``Store.retrieve``) only for the candidates that become hits."""

    id: str
    score: float
    doc_id: str
    source_sha256: str


@dataclass(frozen=True)
class Lexical:
    """The lexical half of a search (issue 20): BM25 over each point's ``search_text``.

    ``text``: the words to score, tokenised by the store's text index (the ``lexical`` settings);
    ``phrases``: the query's quoted phrases, each of which a point must contain as a phrase to be a lexical
    candidate. Built from a query's text by ``search.query_text.lexical_query``.
    """

    text: str
    phrases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Fusion:
    """How the dense and lexical candidate lists become one (Qdrant's fusions, ``index/fusion.py``):
    reciprocal rank fusion (the default) or distribution-based score fusion; ``weights`` (dense, lexical)
    when given."""

    method: FusionMethod = "rrf"
    weights: tuple[float, float] | None = None


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


# Bounds on one search's filters (a request is refused past them: ``QueryError``, a 400/422 in the API).
MAX_FILTER_CONDITIONS = 32  # fields, metadata keys and ranges given, ``not_`` included
MAX_FILTER_VALUES = 100  # values in one any-of list
MAX_FILTER_VALUE_CHARS = 1024  # one value (a path prefix: 4096)
MAX_FILTER_BYTES = 32 * 1024  # every string value together, UTF-8
LIST_FIELDS = ("path_prefix", "modality", "doc_id", "collection", "name", "groups", "folder")


@dataclass(frozen=True)
class Filters:
    """Restrict a search or a listing. All given conditions must hold.

    Each of ``LIST_FIELDS`` takes one value or a list (any of them): ``path_prefix`` matches whole path
    components (``/docs`` matches ``/docs/a.pdf`` and ``/docs`` itself, not ``/docs2/a.pdf``);
    ``groups``: the document has one of them; ``folder``: the document's name lies in that folder (whole
    components of the name: ``reports`` matches ``reports/2024/a.pdf``, not ``reports-old/a.pdf``; leading
    and trailing ``/`` ignored). ``metadata``: ``KEY`` equals a value (or one of a list; a
    list-valued field matches when one of its elements does). ``metadata_ranges``: ``KEY`` within the
    ``Bounds`` (numbers, or dates against ISO 8601 strings). The ingest-time range is ``ingested_after <= t
    < ingested_before`` (unix times). ``not_``: a point matching any of its conditions is left out (one
    level: it has no ``not_`` or scope of its own). ``scope``: set by the server (``dataclasses.replace``),
    never parsed from a request; it is added to everything else, so nothing here can widen it.
    """

    path_prefix: str | Sequence[str] | None = None
    modality: Modality | Sequence[Modality] | None = None
    doc_id: str | Sequence[str] | None = None
    ingested_after: float | None = None
    ingested_before: float | None = None
    collection: str | Sequence[str] | None = None
    name: str | Sequence[str] | None = None
    groups: str | Sequence[str] | None = None
    folder: str | Sequence[str] | None = None
    metadata: Mapping[str, Scalar | Sequence[Scalar]] | None = None
    metadata_ranges: Mapping[str, Bounds] | None = None
    not_: Filters | None = None
    scope: Scope | None = None

    def __post_init__(self) -> None:
        for name in LIST_FIELDS:
            object.__setattr__(self, name, _values(name, getattr(self, name)))
        for modality in self.values("modality"):
            if modality not in MODALITIES:
                raise QueryError(f"filter modality {modality!r} is not one of {', '.join(MODALITIES)}")
        if any(not p.strip() for p in self.values("path_prefix")):
            raise QueryError("filter path prefix is empty: give a folder or file path, or no path filter")
        if self.folder is not None:
            object.__setattr__(
                self, "folder", tuple(dict.fromkeys(_folder(f) for f in self.values("folder")))
            )
        after, before = self.ingested_after, self.ingested_before
        if after is not None and before is not None and after >= before:
            raise QueryError(f"filter time range is empty: after ({after}) is not before ({before})")
        if self.metadata is not None:
            object.__setattr__(self, "metadata", _metadata(self.metadata))
        if self.metadata_ranges is not None:
            object.__setattr__(self, "metadata_ranges", _ranges(self.metadata_ranges))
        if self.not_ is not None and (self.not_.not_ is not None or self.not_.scope is not None):
            raise QueryError("filter `not` goes one level deep: it holds no `not` (or scope) of its own")
        _check_size(self)

    def values(self, name: str) -> tuple[str, ...]:
        """The any-of values of list field ``name`` (empty when not given)."""
        given = getattr(self, name)
        return given if isinstance(given, tuple) else ()

    def metadata_values(self) -> dict[str, tuple[Scalar, ...]]:
        """``metadata`` as the any-of values of each key (empty when not given)."""
        return cast(dict[str, tuple[Scalar, ...]], self.metadata or {})

    @property
    def conditions(self) -> int:
        """How many conditions are given (the scope not counted)."""
        own = sum(getattr(self, n) is not None for n in (*LIST_FIELDS, "ingested_after", "ingested_before"))
        own += len(self.metadata or {}) + len(self.metadata_ranges or {})
        return own + (self.not_.conditions if self.not_ is not None else 0)

    @property
    def is_empty(self) -> bool:
        if self.scope is not None and not self.scope.is_everything:
            return False
        return self.conditions == 0


def _folder(value: str) -> str:
    """A folder of document names as they are stored (``/``-separated, no empty, ``.`` or ``..`` part)."""
    folder = value.strip("/")
    if not folder or any(part in ("", ".", "..") for part in folder.split("/")):
        raise QueryError(f"filter folder {value!r} is not a folder of document names (like reports/2024)")
    return folder


def _values(name: str, given: object) -> tuple[str, ...] | None:
    if given is None:
        return None
    values = (given,) if isinstance(given, str) else tuple(cast(Iterable[Any], given))
    if not values:
        raise QueryError(f"filter {name} is an empty list: give at least one value, or leave it out")
    if len(values) > MAX_FILTER_VALUES:
        raise QueryError(f"filter {name} has {len(values)} values; at most {MAX_FILTER_VALUES}")
    limit = 4096 if name == "path_prefix" else MAX_FILTER_VALUE_CHARS
    for value in values:
        if not isinstance(value, str) or not value or len(value) > limit:
            raise QueryError(f"filter {name}: each value is a non-empty string of at most {limit} characters")
    return tuple(dict.fromkeys(values))


def _metadata(given: Mapping[str, Any]) -> dict[str, tuple[Scalar, ...]]:
    out: dict[str, tuple[Scalar, ...]] = {}
    for key, value in given.items():
        metadata_key(key)
        values = tuple(value) if isinstance(value, list | tuple) else (value,)
        if not values or len(values) > MAX_FILTER_VALUES:
            raise QueryError(f"filter metadata.{key}: give 1 to {MAX_FILTER_VALUES} values")
        for item in values:
            bad_text = isinstance(item, str) and len(item) > MAX_FILTER_VALUE_CHARS
            bad_number = isinstance(item, float) and not math.isfinite(item)
            if not isinstance(item, str | int | float) or bad_text or bad_number:
                raise QueryError(
                    f"filter metadata.{key}: a value is a string (at most {MAX_FILTER_VALUE_CHARS} "
                    f"characters), a finite number or true/false, not {item!r}"
                )
        out[key] = tuple(dict.fromkeys(values))
    return out


def _ranges(given: Mapping[str, Bounds]) -> dict[str, Bounds]:
    for key, bounds in given.items():
        metadata_key(key)
        if not isinstance(bounds, Bounds):
            raise QueryError(f"filter range on metadata.{key} is not a range (gte, gt, lte, lt)")
    return dict(given)


def _check_size(filters: Filters) -> None:
    if filters.conditions > MAX_FILTER_CONDITIONS:
        raise QueryError(f"filters give {filters.conditions} conditions; at most {MAX_FILTER_CONDITIONS}")
    size = _text_bytes(filters)
    if size > MAX_FILTER_BYTES:
        raise QueryError(f"filters hold {size} bytes of text; at most {MAX_FILTER_BYTES}")


def _text_bytes(filters: Filters) -> int:
    size = sum(len(v.encode()) for name in LIST_FIELDS for v in filters.values(name))
    for key, values in filters.metadata_values().items():
        size += len(key) + sum(len(v.encode()) for v in values if isinstance(v, str))
    size += sum(len(key) for key in filters.metadata_ranges or {})
    return size + (_text_bytes(filters.not_) if filters.not_ is not None else 0)


@dataclass(frozen=True)
class DocumentInfo:
    """One ingested file as the store sees it (the ``stats --documents`` row)."""

    doc_id: str
    source_path: str
    modality: Modality
    units: int
    ingest_time: float  # the latest of its units
    source_sha256: str
    collection: str = DEFAULT_COLLECTION
    name: str = ""  # what the client called it; a store not yet upgraded: the file's base name
    groups: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)


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
    # The collection's own exact-search threshold in points (the embedded store: fixed when it was created,
    # whatever ``index.exact_below`` says now, until ``mmsearch optimize --force``); None where it has none.
    exact_below: int | None = None


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

    def set_text(self, payloads: Mapping[str, Payload]) -> None:
        """Rewrite ``TEXT_FIELDS`` of each existing point in ``payloads`` (id → payload) from its payload,
        in place: vector, id and every other field kept (text re-read after an OCR settings change)."""
        ...

    def search(
        self,
        vector: np.ndarray | None,
        limit: int,
        filters: Filters | None = None,
        *,
        lexical: Lexical | None = None,
        fusion: Fusion | None = None,
    ) -> list[ScoredPoint]:
        """The ``limit`` best points matching ``filters`` (the scope included), best first; empty when the
        collection is absent. ``vector`` alone: nearest by cosine. ``lexical`` alone (``vector`` None):
        best by BM25 over ``search_text``, only points holding one of its terms and each of its phrases.
        Both: the two candidate lists (one engine call) fused by ``fusion`` (default RRF), the phrases
        binding the lexical list only; the score is then the fused one. Neither: ``QueryError``."""
        ...

    def nearest(
        self,
        vector: np.ndarray | None,
        limit: int,
        filters: Filters | None = None,
        *,
        lexical: Lexical | None = None,
        fusion: Fusion | None = None,
    ) -> list[Candidate]:
        """As ``search``, with only ``VERSION_FIELDS`` of each point's payload read."""
        ...

    def has_text_index(self) -> bool:
        """Whether ``lexical`` searches can run (else they raise ``StoreError``): the collection has the
        text index, which it gets when opened for writing (``ensure_collection``)."""
        ...

    def retrieve(self, ids: Sequence[str]) -> dict[str, Payload]:
        """Payloads of the points that exist among ``ids``."""
        ...

    def documents(self, filters: Filters | None = None) -> list[DocumentInfo]:
        """One row per document with a point matching ``filters`` (its units: those points)."""
        ...

    def stats(self) -> StoreStats: ...

    def count(self, filters: Filters | None = None) -> int:
        """Points matching ``filters`` (all when None)."""
        ...

    def facet(self, key: str, filters: Filters | None = None, limit: int = 100) -> list[tuple[str, int]]:
        """How many points matching ``filters`` have each value of ``key`` (one of ``FACET_FIELDS``, or
        ``metadata.KEY`` for a key of ``index.facets``: its string values), the most first, at most ``limit``
        values; counted exactly by the engine (Qdrant's facet API)."""
        ...

    def drop(self) -> bool:
        """Delete the whole collection (for a re-index with another model); True if it existed."""
        ...

    def optimize(self, force: bool = False) -> bool:
        """Build the search index (HNSW) where the collection has grown past exact search; True if it
        changed anything. Slow and, embedded, blocking: for the end of an ingest or `mmsearch optimize`,
        never a serving process. A server optimizes by itself (False). ``force``: first give the collection
        the thresholds of the current ``index`` settings (``index.exact_below``), which otherwise stay as
        they were when it was created."""
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
