"""What both Qdrant stores share (``edge_store.EdgeStore``, ``qdrant_store.QdrantStore``): the layout
guard, checked and batched upserts, and every ``Store`` operation whose logic does not depend on the
engine.

A store says how to read its collection's ``Layout``, how to create the collection, how to write one
batch of points, and gives a few engine primitives (how it writes a filter: ``conditions.Builders``; count,
scroll, fetch by id, delete by ids or by filter, search one layout, and ``_calling``, which serialises a
call and translates the engine's failures into ``StoreError``). This base makes sure that a collection is only
ever used with the model, dimension and prefetch dimension it was made with (``schema.mismatch``), that
every vector is finite, of the right length and unit norm before anything is written, that a batch of
points is written in ``index.upsert_batch`` slices, and builds the rest of the ``Store`` protocol
(stale and document deletes, payload reads, listings, counts, stats, the context manager) on the
primitives, once.

Filters reach an engine one way: ``filter_condition`` turns ``Filters`` into one ``conditions.Condition``
— the client's conditions ANDed with the caller's ``Scope`` (``scope_condition``), so no condition a
client sends, negations included, can reach outside the scope — and each store compiles it
(``engine_filter``) for search, count and listing alike.

The lexical stage (issue 20): a search is a ``Probe`` — the checked unit vector (None: keyword only), the
``Lexical`` half (None: vector only) and their ``Fusion`` — and the filter, compiled once, is put on the
dense half and on the lexical half (with the query's quoted phrases added: ``text_flt``), so the scope
binds both halves; the two lists come from one engine call and are fused in ``fusion.py``. The text index on ``search_text`` (``schema.lexical_record``) is
made or rebuilt by ``upgrade`` and recorded in the collection; until it is, a lexical search is refused
(``has_text_index`` says whether it can run).
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import PurePath
from types import TracebackType
from typing import Any, Self, TypeVar

import numpy as np

from mmsearch.errors import DimensionMismatch, QueryError, StoreError
from mmsearch.index.conditions import (
    AnyOf,
    Bounds,
    Builders,
    Condition,
    Either,
    IsEmpty,
    Not,
    Range,
    compile_filter,
    conjunction,
    metadata_key,
)
from mmsearch.index.lexical_text import search_text_for
from mmsearch.index.schema import (
    NAME_PREFIXES,
    PATH_PREFIXES,
    SCROLL_PAGE,
    SEARCH_TEXT,
    Layout,
    check_dims,
    lexical_record,
    mismatch,
    name_prefixes,
    stored_payload,
    unit_vector,
)
from mmsearch.index.settings import IndexSettings
from mmsearch.index.store import (
    DEFAULT_COLLECTION,
    FACET_FIELDS,
    MODALITIES,
    TEXT_FIELDS,
    Candidate,
    DocumentInfo,
    Filters,
    Fusion,
    Lexical,
    Mode,
    Payload,
    Point,
    Scope,
    ScoredPoint,
    StoreStats,
    check_point_id,
)

log = logging.getLogger(__name__)
Found = TypeVar("Found")  # what a query returns: ScoredPoint (search) or Candidate (nearest)

# The payload fields a ``stats --documents`` row is read from.
DOCUMENT_FIELDS = [
    "doc_id", "source_path", "modality", "ingest_time", "source_sha256", "collection", "name", "groups",
    "metadata",
]  # fmt: skip


# What a point stored before collections, or before the lexical stage, lacks (``upgrade``); the fields
# its patch is made from.
UPGRADE_NEEDED = Either(
    (
        IsEmpty("collection"),
        IsEmpty("name"),
        AnyOf("name", ("",)),
        IsEmpty(SEARCH_TEXT),
        AnyOf(SEARCH_TEXT, ("",)),
        IsEmpty(NAME_PREFIXES),
    )
)
UPGRADE_FIELDS = [
    "source_path",
    "collection",
    "name",
    "groups",
    "metadata",
    "text",
    SEARCH_TEXT,
    NAME_PREFIXES,
]


def upgrade_patch(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload keys a point stored before collections or before the lexical stage gets
    (``CheckedStore.upgrade``): its ``search_text`` is what a new point's would be (``search_text_for``)."""
    patch: dict[str, Any] = {}
    if not payload.get("collection"):
        patch["collection"] = DEFAULT_COLLECTION
    if not payload.get("name"):
        patch["name"] = PurePath(str(payload.get("source_path") or "")).name or "unnamed"
    if payload.get("groups") is None:
        patch["groups"] = []
    if payload.get("metadata") is None:
        patch["metadata"] = {}
    full = {**payload, **patch}
    if not payload.get(NAME_PREFIXES):
        patch[NAME_PREFIXES] = name_prefixes(str(full["name"]))
    if not payload.get(SEARCH_TEXT):
        text = full.get("text")
        metadata = full.get("metadata")
        patch[SEARCH_TEXT] = search_text_for(
            text if isinstance(text, str) else "",
            str(full["name"]),
            metadata if isinstance(metadata, dict) else {},
        )
    return patch


def facet_fields(index: IndexSettings) -> tuple[str, ...]:
    """The keyword fields ``Store.facet`` counts by: ``FACET_FIELDS`` and ``metadata.KEY`` for each metadata
    key the admin marked as a facet (``index.facets``; each has a payload index)."""
    return FACET_FIELDS + tuple(metadata_key(key) for key in index.facets)


@dataclass(frozen=True, eq=False)
class Probe:
    """One checked search. ``vector``: the unit query vector (None: keyword only); ``lexical``: the BM25
    half (None: vector only); ``fusion``: how the two halves become one list. ``flt``: the engine filter
    (scope included; None: all points) of the dense half; ``text_flt``: ``flt`` and
    the lexical half's phrases, the filter of the lexical half."""

    vector: np.ndarray | None
    lexical: Lexical | None
    fusion: Fusion
    flt: Any
    text_flt: Any

    @property
    def hybrid(self) -> bool:
        return self.vector is not None and self.lexical is not None


def filter_condition(filters: Filters | None) -> Condition | None:
    """``filters`` as one condition: the client's conditions (``not_`` as a negation) and the scope, all
    of which must hold; None when it restricts nothing. A path prefix is a match on ``path_prefixes`` (a
    stored point lists its path and each ancestor folder)."""
    if filters is None:
        return None
    parts = _own_conditions(filters)
    if filters.not_ is not None:
        excluded = _own_conditions(filters.not_)
        if excluded:
            parts.append(Not(excluded[0] if len(excluded) == 1 else Either(tuple(excluded))))
    return conjunction([c for c in (scope_condition(filters.scope), conjunction(parts)) if c is not None])


def scope_condition(scope: Scope | None) -> Condition | None:
    """What ``scope`` admits (``Scope.admits``): its collections, and documents with no groups or one of
    its groups. None when it admits everything."""
    if scope is None or scope.is_everything:
        return None
    parts: list[Condition] = []
    if scope.collections is not None:
        parts.append(AnyOf("collection", tuple(sorted(scope.collections))))
    if scope.groups is not None:
        ungrouped = IsEmpty("groups")
        shared = AnyOf("groups", tuple(sorted(scope.groups)))
        parts.append(Either((ungrouped, shared)) if scope.groups else ungrouped)
    return conjunction(parts)


def _own_conditions(filters: Filters) -> list[Condition]:
    parts: list[Condition] = []
    prefixes = filters.values("path_prefix")
    if prefixes:
        parts.append(AnyOf(PATH_PREFIXES, tuple(dict.fromkeys(str(PurePath(p)) for p in prefixes))))
    for name in ("modality", "doc_id", "collection", "name", "groups"):
        if filters.values(name):
            parts.append(AnyOf(name, filters.values(name)))
    if filters.values("folder"):
        parts.append(AnyOf(NAME_PREFIXES, filters.values("folder")))
    if filters.ingested_after is not None or filters.ingested_before is not None:
        parts.append(Range("ingest_time", Bounds(gte=filters.ingested_after, lt=filters.ingested_before)))
    for key, values in filters.metadata_values().items():
        parts.append(AnyOf(metadata_key(key), values))
    for key, bounds in (filters.metadata_ranges or {}).items():
        parts.append(Range(metadata_key(key), bounds))
    return parts


class CheckedStore(ABC):
    collection: str
    location: str
    index: IndexSettings
    mode: Mode
    _upgraded: bool = False  # ``upgrade`` has run on this store
    _lexical_cache: tuple[dict[str, Any] | None] | None = None  # the recorded text index, once read
    _warned_lexical: bool = False

    # -- what each engine provides ---------------------------------------------------------------
    # ``Filter`` and records are the engine's own types (qdrant-edge or qdrant-client models); a record
    # has ``.id`` and ``.payload``.

    @abstractmethod
    def _read_layout(self) -> Layout | None:
        """The collection's layout, or None when it does not exist."""

    @abstractmethod
    def _create(self, model_id: str, dim: int) -> None:
        """Create the collection (``_read_layout`` finds it afterwards)."""

    @abstractmethod
    def _write(self, batch: Sequence[tuple[Point, np.ndarray]], layout: Layout) -> None:
        """Store one slice of checked points (vectors already unit length)."""

    @abstractmethod
    def _calling(self, action: str) -> AbstractContextManager[None]:
        """Serialise one engine call and translate its failures into ``StoreError`` naming ``action``."""

    @property
    @abstractmethod
    def _builders(self) -> Builders[Any, Any]:
        """How this engine writes a ``Condition`` (``conditions.compile_filter``)."""

    @abstractmethod
    def _count(self, flt: Any) -> int:
        """Points matching ``flt`` (None: all), counted exactly."""

    @abstractmethod
    def _facet(self, key: str, flt: Any, limit: int) -> list[tuple[str, int]]:
        """Exact counts of the points matching ``flt`` by their values of keyword field ``key``."""

    @abstractmethod
    def _scroll(self, flt: Any, payload: list[str] | bool) -> Iterator[Any]:
        """Every record matching ``flt``, with these payload fields, a page at a time."""

    @abstractmethod
    def _records(self, ids: list[str]) -> Iterable[Any]:
        """The records (with payload) of the points among ``ids`` that exist."""

    @abstractmethod
    def _set_payload(self, ids: list[str], values: dict[str, Any]) -> None:
        """Set these payload keys (others kept) on these points (at most ``SCROLL_PAGE``)."""

    def _ensure_payload_indexes(self) -> None:
        """Create the payload indexes this version wants that the collection lacks (where the engine
        keeps them); nothing by default."""

    @abstractmethod
    def _delete_ids(self, ids: list[str]) -> None:
        """Delete these points (at most ``SCROLL_PAGE``)."""

    @abstractmethod
    def _delete_matching(self, flt: Any) -> None:
        """Delete every point matching ``flt``."""

    @abstractmethod
    def _search(self, probe: Probe, layout: Layout, limit: int) -> list[ScoredPoint]:
        """The ``limit`` best points for ``probe`` in a collection of ``layout``: nearest to its vector,
        best by BM25 over ``search_text``, or both fused (``fusion.fuse``), among those its filters
        admit."""

    @abstractmethod
    def _nearest(self, probe: Probe, layout: Layout, limit: int) -> list[Candidate]:
        """As ``_search``, reading only ``VERSION_FIELDS`` of the payloads."""

    @abstractmethod
    def _read_lexical(self) -> dict[str, Any] | None:
        """The collection's recorded text index (``schema.lexical_record``), or None when it has none."""

    @abstractmethod
    def _make_text_index(self, record: dict[str, Any], replacing: bool) -> None:
        """Create the text index on ``search_text`` (``replacing``: in place of one with other settings)
        and record ``record`` in the collection's metadata."""

    def lexical_settings_record(self) -> dict[str, Any]:
        """The text index this store makes (``schema.lexical_record`` of ``index.lexical``)."""
        return lexical_record(self.index.lexical)

    def _set_payloads(self, patches: Sequence[tuple[list[str], dict[str, Any]]]) -> None:
        """Each ``(ids, values)``: set those payload keys on those points; one engine call per patch
        unless the engine batches them."""
        for ids, values in patches:
            self._set_payload(ids, values)

    def _indexed_points(self, layout: Layout) -> int | None:
        """Points inside the HNSW graph, where the engine says (``StoreStats.indexed_points``)."""
        return None

    def _exact_below(self, layout: Layout) -> int | None:
        """The collection's own exact-search threshold in points (``StoreStats.exact_below``), or None."""
        return None

    @abstractmethod
    def close(self) -> None: ...

    # -- the Store protocol, built on them -------------------------------------------------------

    def ensure_collection(self, model_id: str, dim: int) -> None:
        check_dims(dim, self.index.prefetch_dim)
        layout = self._read_layout()
        if layout is None:
            self._create(model_id, dim)
            layout = self._read_layout()
            if layout is None:
                raise StoreError(f"collection '{self.collection}' at {self.location} vanished after creation")
        self._check(layout, model_id, dim)
        if not self._upgraded:
            self.upgrade()

    def upgrade(self) -> int:
        """Bring a collection written by an older version up to this one, in place, without re-embedding:
        the payload indexes it lacks, the text index of the lexical stage (made, or rebuilt when the
        ``index.lexical`` settings changed), on every point stored before collections existed
        ``collection: "default"``, ``groups: []``, ``metadata: {}`` and a ``name`` (its file's base name,
        never the server path), and on every point stored before the lexical stage its ``search_text`` (and
        before the folder filter its ``name_prefixes``).
        Each page is one write per distinct patch and the points are found by what they lack, so a run cut
        short is finished by the next (``ensure_collection`` runs it once per store: every writer and the
        server go through it). Returns the points changed."""
        if self._read_layout() is None:
            return 0
        self._ensure_payload_indexes()
        self._ensure_text_index()
        flt = compile_filter(UPGRADE_NEEDED, self._builders)
        changed = 0
        seen: set[str] = set()
        while True:
            page = list(islice(self._scroll(flt, UPGRADE_FIELDS), SCROLL_PAGE))
            if not page:
                break
            patches: dict[str, tuple[dict[str, Any], list[str]]] = {}
            for record in page:
                point_id = str(record.id)
                if point_id in seen:  # a write that did not take: never loop
                    raise StoreError(f"upgrading collection '{self.collection}': point {point_id} kept "
                                     "its old payload after it was rewritten")  # fmt: skip
                seen.add(point_id)
                patch = upgrade_patch(record.payload or {})
                patches.setdefault(json.dumps(patch, sort_keys=True), (patch, []))[1].append(point_id)
            with self._calling(f"upgrade {len(page)} points"):
                self._set_payloads([(ids, patch) for patch, ids in patches.values()])
            changed += len(page)
            log.info("collection '%s': %d points upgraded so far", self.collection, changed)
        if changed:
            log.info(
                "upgraded collection '%s' at %s in place: %d points given what they lacked (collection, "
                "name, the words the lexical stage indexes); nothing re-embedded",
                self.collection, self.location, changed,
            )  # fmt: skip
        self._upgraded = True
        return changed

    def _ensure_text_index(self) -> None:
        """Make the text index when the collection has none; rebuild it when it was made with other
        ``index.lexical`` settings (its terms would no longer be the query's)."""
        wanted = self.lexical_settings_record()
        recorded = self._lexical()
        if recorded == wanted:
            return
        try:
            with self._calling("index the words of every point (the lexical stage)"):
                self._make_text_index(wanted, replacing=recorded is not None)
        except StoreError as exc:
            if self.mode != "server":
                raise
            log.warning(  # a server too old for BM25 text indexes: vector search goes on without it
                "collection '%s': no text index (keyword and hybrid search fall back to vector or are "
                "refused until the Qdrant server can make one): %s", self.collection, exc,
            )  # fmt: skip
            return
        self._lexical_cache = (wanted,)
        if recorded is None:
            log.info("collection '%s': text index for the lexical stage made (%s)", self.collection, wanted)
        else:
            log.warning(
                "collection '%s': the text index was made with %s; index.lexical now asks for %s: rebuilt "
                "in place (nothing re-embedded)", self.collection, recorded, wanted,
            )  # fmt: skip

    def _lexical(self) -> dict[str, Any] | None:
        """The recorded text index, read once per store (``upgrade`` updates it)."""
        if self._lexical_cache is None:
            self._lexical_cache = (self._read_lexical(),)
        return self._lexical_cache[0]

    def has_text_index(self) -> bool:
        """Whether the lexical stage can run: the collection exists and has its text index (made when it
        is opened for writing: ``ensure_collection``)."""
        if self._read_layout() is None:
            return False
        recorded = self._lexical()
        if recorded is not None and recorded != self.lexical_settings_record() and not self._warned_lexical:
            self._warned_lexical = True
            log.warning(
                "collection '%s': its text index was made with %s, but index.lexical asks for %s; queries "
                "are split as the index was made until it is opened for writing (`mmsearch ingest`, "
                "`mmsearch serve`), which rebuilds it", self.collection, recorded, self.lexical_settings_record(),
            )  # fmt: skip
        return recorded is not None

    def verify(self, model_id: str, dim: int) -> None:
        layout = self._read_layout()
        if layout is not None:
            self._check(layout, model_id, dim)

    def upsert(self, points: Sequence[Point]) -> None:
        """Store points (overwriting same ids). All are checked before any is written."""
        if not points:
            return
        layout = self._require_layout("store points")
        checked = [(point, self._checked_vector(point, layout)) for point in points]
        step = self.index.upsert_batch
        for start in range(0, len(checked), step):
            self._write(checked[start : start + step], layout)

    def delete_stale(self, doc_id: str, keep: Collection[str]) -> int:
        if self._read_layout() is None:
            return 0
        kept = {check_point_id(i, StoreError) for i in keep}
        stale = [i for i in self._ids_of(doc_id) if i not in kept]
        for start in range(0, len(stale), SCROLL_PAGE):
            batch = stale[start : start + SCROLL_PAGE]
            with self._calling(f"delete {len(batch)} stale points of document {doc_id}"):
                self._delete_ids(batch)
        if stale:
            log.info("removed %d stale points of document %s", len(stale), doc_id)
        return len(stale)

    def set_text(self, payloads: Mapping[str, Payload]) -> None:
        if not payloads:
            return
        self._require_layout("rewrite the text of points")
        patches = []
        for point_id, payload in payloads.items():
            check_point_id(point_id, StoreError)
            stored = stored_payload(payload)  # ``search_text`` built when the payload came without one
            patches.append(([point_id], {name: stored[name] for name in TEXT_FIELDS}))
        with self._calling(f"rewrite the text of {len(patches)} points"):  # one request on a server
            self._set_payloads(patches)

    def delete_document(self, doc_id: str) -> int:
        if self._read_layout() is None:
            return 0
        selector = self._match("doc_id", doc_id)
        with self._calling(f"delete document {doc_id}"):  # one hold: nothing lands between the two
            removed = self._count(selector)
            self._delete_matching(selector)
        return removed

    def search(
        self,
        vector: np.ndarray | None,
        limit: int,
        filters: Filters | None = None,
        *,
        lexical: Lexical | None = None,
        fusion: Fusion | None = None,
    ) -> list[ScoredPoint]:
        return self._checked_query(self._search, vector, limit, filters, lexical, fusion)

    def nearest(
        self,
        vector: np.ndarray | None,
        limit: int,
        filters: Filters | None = None,
        *,
        lexical: Lexical | None = None,
        fusion: Fusion | None = None,
    ) -> list[Candidate]:
        return self._checked_query(self._nearest, vector, limit, filters, lexical, fusion)

    def _checked_query(
        self,
        run: Callable[[Probe, Layout, int], list[Found]],
        vector: np.ndarray | None,
        limit: int,
        filters: Filters | None,
        lexical: Lexical | None,
        fusion: Fusion | None,
    ) -> list[Found]:
        """The checks ``search`` and ``nearest`` share, then ``run`` on the checked ``Probe``."""
        if limit < 1:
            raise QueryError(f"search limit must be at least 1, got {limit}")
        if vector is None and lexical is None:
            raise QueryError("a search needs a query vector, query words (lexical), or both")
        fusion = fusion or Fusion()
        if fusion.weights is not None and fusion.method != "rrf":
            raise QueryError(f"fusion weights apply to rrf only, not {fusion.method}")
        layout = self._read_layout()
        if layout is None:
            return []
        self._check(layout, None, None)
        if lexical is not None and not self.has_text_index():
            raise StoreError(
                f"collection '{self.collection}' at {self.location} has no text index yet (it was made "
                "before keyword and hybrid search): open it for writing once (`mmsearch ingest`, `mmsearch "
                "serve`), which adds it in place without re-embedding, or search with mode vector"
            )
        flt = self.engine_filter(filters)
        unit = None if vector is None else unit_vector(vector, layout.dim, "the query vector")
        return run(Probe(unit, lexical, fusion, flt, self._text_filter(flt, lexical)), layout, limit)

    def _text_filter(self, flt: Any, lexical: Lexical | None) -> Any:
        """``flt`` (compiled once) with each quoted phrase of ``lexical`` required as a phrase."""
        if lexical is None or not lexical.phrases:
            return flt
        build = self._builders
        if build.phrase is None:
            raise QueryError(f"{build.engine} cannot match quoted phrases")
        phrases = [build.phrase(SEARCH_TEXT, phrase) for phrase in lexical.phrases]
        return build.filter([*([flt] if flt is not None else []), *phrases], [], [])

    def _candidate(self, point_id: Any, score: float, data: dict[str, Any] | None) -> Candidate:
        try:
            return Candidate(str(point_id), float(score), str(data["doc_id"]), str(data["source_sha256"]))  # type: ignore[index]
        except (KeyError, TypeError) as exc:
            raise StoreError(
                f"point {point_id} in collection '{self.collection}' has a bad payload: it lacks {exc}"
            ) from exc

    def retrieve(self, ids: Sequence[str]) -> dict[str, Payload]:
        wanted = [check_point_id(i, QueryError) for i in ids]
        if not wanted or self._read_layout() is None:
            return {}
        return {str(r.id): self._payload(r.id, r.payload) for r in self._records(wanted)}

    def documents(self, filters: Filters | None = None) -> list[DocumentInfo]:
        if self._read_layout() is None:  # no collection yet: nothing ingested
            return []
        docs: dict[str, DocumentInfo] = {}
        for record in self._scroll(self.engine_filter(filters), DOCUMENT_FIELDS):
            p = record.payload or {}
            seen = docs.get(p["doc_id"])
            if seen is not None:
                latest = max(seen.ingest_time, p["ingest_time"])
                docs[p["doc_id"]] = replace(seen, units=seen.units + 1, ingest_time=latest)
            else:
                docs[p["doc_id"]] = _document(p)
        return sorted(docs.values(), key=lambda d: (d.collection, d.name, d.source_path, d.doc_id))

    def stats(self) -> StoreStats:
        layout = self._read_layout()
        if layout is None:
            return StoreStats(self.collection, self.mode, self.location, False, None, None, None, 0, 0, {})
        by_modality: dict[str, int] = {m: self._count(self._match("modality", m)) for m in MODALITIES}
        documents = len({r.payload["doc_id"] for r in self._scroll(None, ["doc_id"]) if r.payload})
        return StoreStats(
            self.collection, self.mode, self.location, True, layout.model_id, layout.dim,
            layout.prefetch_dim, self._count(None), documents, by_modality, self._indexed_points(layout),
            self._exact_below(layout),
        )  # fmt: skip

    def count(self, filters: Filters | None = None) -> int:
        if self._read_layout() is None:
            return 0
        return self._count(self.engine_filter(filters))

    def facet(self, key: str, filters: Filters | None = None, limit: int = 100) -> list[tuple[str, int]]:
        countable = facet_fields(self.index)
        if key not in countable:
            raise QueryError(f"cannot count by {key!r}: only by {', '.join(countable)}")
        if limit < 1:
            raise QueryError(f"facet limit must be at least 1, not {limit}")
        if self._read_layout() is None:
            return []
        counts = self._facet(key, self.engine_filter(filters), limit)
        # A value whose points were all deleted can linger in the engine's index with a count of 0: no
        # point has it, so it is not a facet value (nor a collection to offer).
        return sorted(((v, c) for v, c in counts if c > 0), key=lambda vc: (-vc[1], vc[0]))

    def engine_filter(self, filters: Filters | None) -> Any:
        """``filters`` (scope included) in this engine's types; None when it restricts nothing."""
        condition = filter_condition(filters)
        return None if condition is None else compile_filter(condition, self._builders)

    def _match(self, key: str, value: str) -> Any:
        return compile_filter(AnyOf(key, (value,)), self._builders)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _ids_of(self, doc_id: str) -> list[str]:
        return [str(r.id) for r in self._scroll(self._match("doc_id", doc_id), False)]

    def _payload(self, point_id: Any, data: dict[str, Any] | None) -> Payload:
        try:
            return Payload.from_dict(data or {})
        except (StoreError, TypeError) as exc:
            raise StoreError(
                f"point {point_id} in collection '{self.collection}' has a bad payload: {exc}"
            ) from exc

    def _check(self, layout: Layout, model_id: str | None, dim: int | None) -> None:
        """Refuse unless the collection matches the model/dim asked for and the configured prefetch."""
        where = f"collection '{self.collection}' at {self.location}"
        refusal = mismatch(layout, model_id, dim, self.index.prefetch_dim, where)
        if refusal is not None:
            raise refusal

    def _require_layout(self, action: str) -> Layout:
        layout = self._read_layout()
        if layout is None:
            raise StoreError(
                f"cannot {action}: collection '{self.collection}' does not exist at {self.location} "
                "(ensure_collection creates it)"
            )
        self._check(layout, None, None)
        return layout

    def _checked_vector(self, point: Point, layout: Layout) -> np.ndarray:
        payload = point.payload
        if payload.dim != layout.dim or (layout.model_id and payload.model_id != layout.model_id):
            raise DimensionMismatch(
                f"point {point.id} of {payload.source_path} was embedded by {payload.model_id!r} at "
                f"{payload.dim}-d, but collection '{self.collection}' holds {layout.describe()}"
            )
        return unit_vector(point.vector, layout.dim, f"point {point.id}")


def _document(p: dict[str, Any]) -> DocumentInfo:
    """A listing row from one point's ``DOCUMENT_FIELDS`` (a point stored before collections: in
    ``default``, named by its file's base name)."""
    return DocumentInfo(
        p["doc_id"], p["source_path"], p["modality"], 1, p["ingest_time"], p["source_sha256"],
        collection=p.get("collection") or DEFAULT_COLLECTION,
        name=p.get("name") or PurePath(p["source_path"]).name,
        groups=tuple(p.get("groups") or ()),
        metadata=dict(p.get("metadata") or {}),
    )  # fmt: skip
