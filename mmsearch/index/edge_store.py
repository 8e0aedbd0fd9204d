"""The embedded ``Store``: Qdrant Edge (qdrant-edge-py, Qdrant's Rust engine in this process).

One collection is one Edge shard. Layout of the store folder (``store.path``, default ``<data_dir>/qdrant``):

- ``.lock`` — held (exclusive, non-blocking ``flock`` through portalocker, the same file and lock that
  qdrant-client's local mode takes) for the life of the store: one process at a time, a second gets
  ``StoreLocked``. Edge's own WAL lock would refuse too, with ``Can't init WAL: WouldBlock``.
- ``edge/<collection>/`` — the shard (``edge_config.json``, ``wal/``, ``segments/``).
- ``edge/<collection>.json`` — our metadata ``{"schema", "model_id", "dim", "prefetch_dim", "engine",
  "preprocessing"}`` (the last: ``index/fingerprint.py``, from the first ingest on), written
  atomically (temporary file, fsync, rename, fsync of the folder). **Missing in qdrant-edge 0.9:**
  collection metadata; this side file covers it. If it is lost (a crash between creating the shard and
  writing it), the dimensions come from the shard's own ``edge_config.json`` and the model from a point.

Schema (the same as on a server, so ``mmsearch migrate`` copies points as they are): named vectors
``full`` and, with ``index.prefetch_dim``, ``prefetch`` (the MRL truncation), both cosine; keyword
payload indexes on ``collection`` (``is_tenant``: qdrant-edge 0.9 takes ``KeywordIndexParams`` as a
server does), ``doc_id``, ``modality``, ``path_prefixes``, ``name``, ``groups``, ``name_prefixes`` and a float index on
``ingest_time`` — every field a ``Filters`` can name but the users' own metadata keys — and the lexical
stage's full-text index on ``search_text`` (``edge_text_index``: BM25 scoring, phrase matching, the
``index.lexical`` tokenizer, stemmer and stopwords; recorded in the side file as ``lexical``). A collection
made before some of them gets the missing ones when it is next opened for writing
(``CheckedStore.upgrade``). A prefetch search is one Query API call (prefetch on the small vector, then
the full vector rescored), run inside the engine; so is a keyword search (``TextQuery``); a hybrid one is
one ``query_batch`` of the lexical and the dense request (``lexical_requests``), fused by ``fusion.fuse``
(RRF or DBSF, as the engine's ``Fusion`` would, but with a fixed order among equal BM25 scores, which the
engine's text query does not keep from one call to the next).

Exact below a size, HNSW above: a segment is searched exactly until its vectors pass ``index.exact_below``
points' worth (Qdrant's ``indexing_threshold``); filtered searches matching fewer than that many points are
exact too (``full_scan_threshold``). The HNSW graph (``hnsw_m``, ``hnsw_ef_construct``) is built only by
``optimize()``, which Edge runs in the calling thread **holding the GIL for the whole build** (minutes at
1 M points). So it is called at the end of an ingest and by ``mmsearch optimize``, never by a serving
process. With a prefetch vector only that vector gets a graph (``m=0`` for ``full``: it is only rescored).

Durability: every update goes to Edge's write-ahead log before the call returns, so ``kill -9`` loses no
acknowledged point (the manifest marks a file done only after that); ``close()`` flushes the segments.

**Missing in qdrant-edge 0.9** besides metadata: there is no way to create a snapshot (it only restores a
server's), so moving up is a point copy (``mmsearch migrate``); the engine holds the GIL while it searches
(one search at a time per process; calls are serialised here with a lock); and its Python binding reads
``True``/``False`` in a match as 1/0, so a filter on a boolean metadata value is refused here
(``conditions.py``; ``EDGE_FILTERS.booleans``) rather than answered with nothing.

Filters: ``Filters`` (the caller's scope included) become one ``conditions.Condition`` in ``checked.py``
and are compiled here by ``EDGE_FILTERS`` (``qe.Filter`` with must/should/must_not, ``MatchAny``,
``RangeFloat``/``RangeDateTime``, ``IsEmptyCondition``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np
import qdrant_edge as qe

from mmsearch.errors import MmsearchError, StoreError
from mmsearch.index.checked import CheckedStore, Probe, filter_condition
from mmsearch.index.conditions import Bounds, Builders, Scalar, compile_filter, metadata_key
from mmsearch.index.fusion import Found, fuse, top
from mmsearch.index.schema import (
    FULL,
    LEXICAL,
    NAME_PREFIXES,
    PATH_PREFIXES,
    PREFETCH,
    PREPROCESSING,
    SCHEMA_VERSION,
    SCROLL_PAGE,
    SEARCH_TEXT,
    Layout,
    locked_error,
    mrl,
    prefetch_text,
    stored_payload,
)
from mmsearch.index.settings import IndexSettings, LexicalSettings
from mmsearch.index.store import (
    VERSION_FIELDS,
    Candidate,
    Filters,
    Point,
    ScoredPoint,
    check_point_id,
)

log = logging.getLogger(__name__)

ENGINE = "qdrant-edge-py"
EDGE_DIR = "edge"
KEYWORD_FIELDS = ("doc_id", "modality", PATH_PREFIXES, "name", "groups", NAME_PREFIXES)
FLOAT_FIELDS = ("ingest_time",)
TENANT_FIELD = "collection"  # a keyword index with is_tenant: Edge keeps each collection's points together
LEGACY_META = "meta.json"  # qdrant-client local mode's folder index


def connect_edge(
    index: IndexSettings, path: Path, collection: str, allow_legacy: bool = False, take_lock: bool = True
) -> EdgeStore:
    """Open (lock) the embedded store at ``path``. A collection still in qdrant-client's local-mode
    format is refused with the command that copies it, unless ``allow_legacy`` (the migration itself,
    which holds the folder's lock through the local-mode client and so opens this with ``take_lock``
    False)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        (path / EDGE_DIR).mkdir(exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"cannot open the embedded Qdrant store at {path}: {exc}. Check the folder (store.path / "
            "data_dir) is writable."
        ) from exc
    lock = _take_lock(path) if take_lock else None
    if index.shard_number != 1 or index.replication_factor != 1:
        log.info(
            "the embedded store is one shard on one machine: ignoring index.shard_number=%d/"
            "replication_factor=%d (they apply to a Qdrant server or cluster)",
            index.shard_number, index.replication_factor,
        )  # fmt: skip
    store = EdgeStore(path, collection, index, lock)
    try:
        if not allow_legacy and not store.exists() and legacy_collection(path, collection) is not None:
            raise StoreError(
                f"the store at {path} holds collection '{collection}' in the old qdrant-client local-mode "
                "format, which this version no longer searches. Copy it into the new engine (the old files "
                f"are kept, nothing is re-embedded): `mmsearch migrate --from-local`; or keep using it as "
                "it is with store.backend: qdrant-local; or re-embed everything: `mmsearch ingest --reindex`"
                " after moving the folder away."
            )
    except MmsearchError:
        store.close()
        raise
    return store


def legacy_collection(path: Path, collection: str) -> Path | None:
    """The folder of ``collection`` in qdrant-client local-mode format under ``path``, if there is one."""
    meta = path / LEGACY_META
    folder = path / "collection" / collection
    if not meta.is_file() or not folder.is_dir():
        return None
    try:
        known = json.loads(meta.read_text()).get("collections", {})
    except (OSError, ValueError, AttributeError):
        return None
    return folder if collection in known else None


def _take_lock(path: Path) -> IO[str]:
    import portalocker

    handle = open(path / ".lock", "a+")  # noqa: SIM115 - held for the life of the store
    try:
        portalocker.lock(handle, portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING)
    except portalocker.exceptions.LockException as exc:
        handle.close()
        raise locked_error(path) from exc
    return handle


class EdgeStore(CheckedStore):
    """``Store`` over one Qdrant Edge shard. Build it with ``connect_edge`` (or ``open_store``)."""

    mode = "embedded"

    def __init__(self, path: Path, collection: str, index: IndexSettings, lock: IO[str] | None) -> None:
        self.path = path
        self.collection = collection
        self.index = index
        self.location = str(path)
        self._lock_file: IO[str] | None = lock
        self._calls = threading.RLock()
        self._shard: qe.EdgeShard | None = None
        self._layout: Layout | None = None
        self._closed = False
        self._sweep_dropped()

    @property
    def shard_dir(self) -> Path:
        return self.path / EDGE_DIR / self.collection

    @property
    def meta_file(self) -> Path:
        return self.path / EDGE_DIR / f"{self.collection}.json"

    # -- collection --------------------------------------------------------------------------------

    def exists(self) -> bool:
        return (self.shard_dir / "edge_config.json").is_file()

    def drop(self) -> bool:
        with self._calling("delete the collection"):
            if self._shard is not None:
                self._shard.close()
                self._shard = None
            self._layout = None
            self._lexical_cache = None
            existed = self.shard_dir.exists()
            if existed:  # rename first: a crash mid-delete never leaves a half shard under the real name
                graveyard = self.path / EDGE_DIR / f".dropped-{self.collection}-{uuid.uuid4().hex[:8]}"
                self.shard_dir.rename(graveyard)
                _fsync_dir(self.path / EDGE_DIR)
                self.meta_file.unlink(missing_ok=True)
                shutil.rmtree(graveyard, ignore_errors=True)
            else:
                self.meta_file.unlink(missing_ok=True)
        if existed:
            log.info("dropped collection '%s' at %s", self.collection, self.location)
        return existed

    def _sweep_dropped(self) -> None:
        for leftover in (self.path / EDGE_DIR).glob(f".dropped-{self.collection}-*"):
            shutil.rmtree(leftover, ignore_errors=True)

    def _create(self, model_id: str, dim: int) -> None:
        with self._calling("create the collection"):
            self._shard = qe.EdgeShard.create(str(self.shard_dir), edge_config(self.index, dim))
            for name, schema in payload_indexes(self.index).items():
                self._shard.update(qe.UpdateOperation.create_field_index(name, schema))
            self._shard.flush()
            write_json_atomically(self.meta_file, _meta(model_id, dim, self.index.prefetch_dim))
            self._layout = Layout(dim, self.index.prefetch_dim, model_id)
        log.info(
            "created collection '%s' at %s: %d-d %s (prefetch %s), %s",
            self.collection, self.location, dim, model_id, prefetch_text(self.index.prefetch_dim), ENGINE,
        )  # fmt: skip

    def _read_layout(self) -> Layout | None:
        if self._closed:
            raise StoreError(f"cannot use the store at {self.location}: it is closed")
        if self._layout is not None:
            return self._layout
        if not self.exists():
            return None
        meta = _read_json(self.meta_file)
        if meta is not None and meta.get("schema") == SCHEMA_VERSION:
            layout = Layout(int(meta["dim"]), meta.get("prefetch_dim"), meta.get("model_id"))
        else:  # the side file is missing (crash right after creation): read the shard's own config
            layout = self._layout_from_shard()
        self._layout = layout
        return layout

    def _layout_from_shard(self) -> Layout:
        config = _read_json(self.shard_dir / "edge_config.json") or {}
        vectors = config.get("vectors") or {}
        if FULL not in vectors:
            raise StoreError(
                f"collection '{self.collection}' at {self.location} was not made by mmsearch (it has no "
                f"'{FULL}' vector). Use another store.collection."
            )
        prefetch = vectors.get(PREFETCH)
        return Layout(int(vectors[FULL]["size"]), int(prefetch["size"]) if prefetch else None, self._model())

    def _model(self) -> str | None:
        records, _ = self._open_shard().scroll(qe.ScrollRequest(limit=1, with_payload=["model_id"]))
        return str(records[0].payload["model_id"]) if records and records[0].payload else None

    def _open_shard(self) -> qe.EdgeShard:
        if self._shard is None:
            try:
                self._shard = qe.EdgeShard.load(str(self.shard_dir))
            except Exception as exc:  # the engine raises plain Exception
                raise StoreError(
                    f"cannot load the Qdrant Edge shard {self.shard_dir}: {exc}. If another process has it "
                    "open, stop it; if the folder was damaged, move it away and re-ingest."
                ) from exc
        return self._shard

    # -- writes ------------------------------------------------------------------------------------

    def _write(self, batch: Sequence[tuple[Point, np.ndarray]], layout: Layout) -> None:
        points = [edge_point(p.id, v, stored_payload(p.payload), layout.prefetch_dim) for p, v in batch]
        with self._calling(f"store {len(points)} points"):
            self._open_shard().update(qe.UpdateOperation.upsert_points(points))

    def upsert_raw(self, points: Sequence[qe.Point]) -> None:
        """Store ready-made points (a migration's copy, already in this schema)."""
        self._require_layout("store points")
        with self._calling(f"store {len(points)} points"):
            self._open_shard().update(qe.UpdateOperation.upsert_points(list(points)))

    def _set_payload(self, ids: list[str], values: dict[str, Any]) -> None:
        batch: list[qe.PointId] = list(ids)
        self._open_shard().update(qe.UpdateOperation.set_payload(batch, values))

    def _ensure_payload_indexes(self) -> None:
        with self._calling("read the payload indexes"):
            shard = self._open_shard()
            missing = {
                k: v for k, v in payload_indexes(self.index).items() if k not in shard.info().payload_schema
            }
            for name, schema in missing.items():
                shard.update(qe.UpdateOperation.create_field_index(name, schema))
            if missing:
                shard.flush()
        if missing:
            log.info("collection '%s': indexed the payload fields %s", self.collection, ", ".join(missing))

    def _read_lexical(self) -> dict[str, Any] | None:
        recorded = (_read_json(self.meta_file) or {}).get(LEXICAL)
        return recorded if isinstance(recorded, dict) else None

    def _make_text_index(self, record: dict[str, Any], replacing: bool) -> None:
        shard = self._open_shard()
        if SEARCH_TEXT in shard.info().payload_schema:  # made with other settings, or never recorded
            shard.update(qe.UpdateOperation.delete_field_index(SEARCH_TEXT))
        shard.update(qe.UpdateOperation.create_field_index(SEARCH_TEXT, edge_text_index(self.index.lexical)))
        shard.flush()
        self._update_meta(LEXICAL, record)

    def _update_meta(self, key: str, value: Any) -> None:
        """Set ``key`` in the side file (rebuilt from the shard when it was lost)."""
        layout = self._read_layout()
        assert layout is not None
        meta = _read_json(self.meta_file)
        if meta is None or meta.get("schema") != SCHEMA_VERSION:  # lost side file: rebuilt from the shard
            meta = {**_meta("", layout.dim, layout.prefetch_dim), "model_id": layout.model_id}
        write_json_atomically(self.meta_file, {**meta, key: value})

    def payload_index_types(self) -> dict[str, str]:
        """Each indexed payload field and its type (``keyword``, ``float``…), as the shard reports them."""
        self._require_layout("read the payload indexes")
        with self._calling("read the payload indexes"):
            schema = self._open_shard().info().payload_schema
        return {name: str(info.data_type).rsplit(".", 1)[-1].lower() for name, info in schema.items()}

    def _delete_ids(self, ids: list[str]) -> None:
        batch: list[qe.PointId] = list(ids)
        self._open_shard().update(qe.UpdateOperation.delete_points(batch))

    def _delete_matching(self, flt: qe.Filter) -> None:
        self._open_shard().update(qe.UpdateOperation.delete_points_by_filter(flt))

    def optimize(self, force: bool = False) -> bool:
        """Merge segments and build the HNSW graph where a segment has passed the collection's threshold
        (``index.exact_below`` when it was created; ``force``: the current ``index.exact_below``, written
        into the shard's config first). Holds the GIL until done: call it from a command, never from a
        serving process."""
        layout = self._read_layout()
        if layout is None:
            return False
        if force:
            with self._calling("rewrite the collection's index thresholds"):
                self._open_shard().close()
                self._shard = qe.EdgeShard.load(str(self.shard_dir), edge_config(self.index, layout.dim))
        with self._calling("optimize the collection"):
            changed = bool(self._open_shard().optimize())
            self._open_shard().flush()
        return changed

    # -- reads -------------------------------------------------------------------------------------

    def _search(self, probe: Probe, layout: Layout, limit: int) -> list[ScoredPoint]:
        found = self._query(probe, layout, limit, True)
        return [ScoredPoint(i, score, self._payload(i, payload)) for i, score, payload in found]

    def _nearest(self, probe: Probe, layout: Layout, limit: int) -> list[Candidate]:
        found = self._query(probe, layout, limit, list(VERSION_FIELDS))
        return [self._candidate(i, score, payload) for i, score, payload in found]

    def _query(self, probe: Probe, layout: Layout, limit: int, payload: bool | list[str]) -> list[Found]:
        """(id, score, payload) of the ``limit`` best points: one request, or for a hybrid search one
        batch of two (lexical, dense) fused here (``fusion.fuse``)."""
        if probe.lexical is None:
            assert probe.vector is not None
            request = search_request(self.index, layout, probe.vector, limit, probe.flt, with_payload=payload)
            with self._calling("search"):
                found = self._open_shard().query(request)
            return [(str(p.id), float(p.score), p.payload) for p in found]  # each read of ``id``: a new UUID
        if probe.vector is not None and payload is True:  # hybrid: the fused hits' payloads only, below
            return self._with_payloads(self._query(probe, layout, limit, list(VERSION_FIELDS)))
        requests = lexical_requests(self.index, layout, probe, limit, limit + 1, with_payload=payload)
        with self._calling("search"):
            results = self._open_shard().query_batch(qe.QueryBatchRequest(requests))
        lists = [[(str(p.id), float(p.score), p.payload) for p in found] for found in results]

        def deeper(depth: int) -> list[Found]:
            request = lexical_requests(self.index, layout, probe, limit, depth, payload)[0]
            with self._calling("search"):
                return [(str(p.id), float(p.score), p.payload) for p in self._open_shard().query(request)]

        lexical = top(lists[0], limit, limit + 1, deeper)
        return lexical if len(lists) == 1 else fuse(lexical, lists[1], probe.fusion, limit)

    def _with_payloads(self, found: list[Found]) -> list[Found]:
        """``found`` with whole payloads (one read); a point deleted since is dropped."""
        records = {str(r.id): r.payload for r in self._records([f[0] for f in found])} if found else {}
        return [(i, score, records[i]) for i, score, _ in found if i in records]

    def query(self, request: qe.QueryRequest) -> list[qe.ScoredPoint]:
        """Run a ready-made Query API request (``search_request``): for benchmarks and tools."""
        self._require_layout("search")
        with self._calling("search"):
            return self._open_shard().query(request)

    def _records(self, ids: list[str]) -> list[qe.Record]:
        wanted: list[qe.PointId] = list(ids)
        with self._calling(f"read {len(wanted)} points"):
            return self._open_shard().retrieve(wanted, True, False)

    def _indexed_points(self, layout: Layout) -> int:
        with self._calling("read the shard's info"):
            indexed_vectors = self._open_shard().info().indexed_vectors_count
        per_point = 1 if layout.prefetch_dim is None else 2  # Edge counts every named vector of a point
        return int(indexed_vectors // per_point)

    def _exact_below(self, layout: Layout) -> int | None:
        config = _read_json(self.shard_dir / "edge_config.json") or {}
        kb = (config.get("optimizers") or {}).get("indexing_threshold")
        if kb is None:
            return None
        if int(kb) == max(1, self.index.exact_below * layout.dim * 4 // 1024):  # as ``edge_config`` writes it
            return self.index.exact_below  # the setting's threshold (the kilobytes round it)
        return int(kb) * 1024 // (layout.dim * 4)

    def layout(self) -> Layout | None:
        return self._read_layout()

    def _count(self, flt: qe.Filter | None) -> int:
        with self._calling("count points"):
            return int(self._open_shard().count(qe.CountRequest(exact=True, filter=flt)))

    def _facet(self, key: str, flt: qe.Filter | None, limit: int) -> list[tuple[str, int]]:
        with self._calling(f"count points by {key}"):
            answer = self._open_shard().facet(qe.FacetRequest(key, limit=limit, exact=True, filter=flt))
        return [(str(hit.value), int(hit.count)) for hit in answer.hits]

    @property
    def _builders(self) -> Builders[Any, qe.Filter]:
        return EDGE_FILTERS

    def _scroll(
        self,
        flt: qe.Filter | None,
        payload: list[str] | bool,
        vectors: bool = False,
        offset: str | None = None,
        page: int = SCROLL_PAGE,
    ) -> Iterator[qe.Record]:
        """Every point (matching ``flt``) in id order, from ``offset`` on, a page at a time."""
        if self._read_layout() is None:
            return
        start: Any = offset
        while True:
            with self._calling("list points"):
                records, start = self._open_shard().scroll(
                    qe.ScrollRequest(
                        offset=start, limit=page, filter=flt, with_payload=payload, with_vector=vectors
                    )
                )
            yield from records
            if start is None:
                return

    def scroll_page(
        self, offset: Any, limit: int, with_vectors: bool = True, with_payload: bool = True
    ) -> tuple[list[qe.Record], Any]:
        """One page of points in id order from ``offset`` (inclusive), and the first id of the next page."""
        self._require_layout("list points")
        request = qe.ScrollRequest(
            offset=offset, limit=limit, with_payload=with_payload, with_vector=with_vectors
        )
        with self._calling("list points"):
            return self._open_shard().scroll(request)

    def retrieve_raw(self, ids: Sequence[str]) -> list[qe.Record]:
        """Points with their vectors and payloads, as stored (for a migration's check)."""
        wanted: list[qe.PointId] = [check_point_id(i, StoreError) for i in ids]
        self._require_layout("read points")
        with self._calling(f"read {len(wanted)} points"):
            return self._open_shard().retrieve(wanted, True, True)

    # -- preprocessing fingerprint (index/fingerprint.py), kept in the side file ----------------------

    def preprocessing(self) -> dict[str, Any] | None:
        """The collection's recorded preprocessing fingerprint; None when none is (or no collection)."""
        if self._read_layout() is None:
            return None
        recorded = (_read_json(self.meta_file) or {}).get(PREPROCESSING)
        return recorded if isinstance(recorded, dict) else None

    def record_preprocessing(self, fingerprint: dict[str, Any]) -> None:
        """Keep ``fingerprint`` in the collection's side file (nothing when there is no collection)."""
        if self._read_layout() is None:
            return
        with self._calling("record the preprocessing fingerprint"):
            self._update_meta(PREPROCESSING, fingerprint)

    # -- lifecycle ---------------------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        with self._calls:
            self._closed = True
            try:
                if self._shard is not None:
                    self._shard.flush()
                    self._shard.close()
            finally:
                self._shard = None
                if self._lock_file is not None:
                    self._lock_file.close()  # releases the flock
                    self._lock_file = None

    @contextmanager
    def _calling(self, action: str) -> Iterator[None]:
        """Serialise calls and translate every engine failure into a ``StoreError``."""
        with self._calls:
            if self._closed:
                raise StoreError(f"cannot {action}: the store at {self.location} is closed")
            try:
                yield
            except MmsearchError:
                raise
            except Exception as exc:  # qdrant-edge raises plain Exception (and ValueError/TypeError)
                raise StoreError(
                    f"the embedded Qdrant store at {self.location} failed to {action} in collection "
                    f"'{self.collection}': {exc}"
                ) from exc


# -- schema: pure functions, shared by the store, the migration and the tests ------------------------


def edge_config(index: IndexSettings, dim: int) -> qe.EdgeConfig:
    """The shard's configuration: named cosine vectors, HNSW and its thresholds, quantization."""
    prefetch_dim = index.prefetch_dim
    graph_dim = prefetch_dim if prefetch_dim is not None else dim
    # A segment is indexed once any one vector's storage passes the threshold: the full vector's first.
    indexing_kb = max(1, index.exact_below * dim * 4 // 1024)
    # A filtered search is exact when the matching points' vectors (of the searched one) stay under this.
    threshold_kb = max(1, index.exact_below * graph_dim * 4 // 1024)
    hnsw = qe.HnswIndexConfig(
        m=index.hnsw_m, ef_construct=index.hnsw_ef_construct, full_scan_threshold=threshold_kb
    )
    vectors = {FULL: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine)}
    if prefetch_dim is not None:  # only the prefetch vector is searched by graph; full is rescored
        vectors[FULL] = qe.EdgeVectorParams(
            size=dim,
            distance=qe.Distance.Cosine,
            hnsw_config=qe.HnswIndexConfig(
                m=0, ef_construct=index.hnsw_ef_construct, full_scan_threshold=threshold_kb
            ),
        )
        vectors[PREFETCH] = qe.EdgeVectorParams(size=prefetch_dim, distance=qe.Distance.Cosine)
    return qe.EdgeConfig(
        vectors=vectors,
        hnsw_config=hnsw,
        quantization_config=edge_quantization(index),
        optimizers=qe.EdgeOptimizersConfig(indexing_threshold=indexing_kb),
    )


def edge_quantization(
    index: IndexSettings,
) -> qe.ScalarQuantizationConfig | qe.BinaryQuantizationConfig | None:
    if index.quantization == "scalar":
        return qe.ScalarQuantizationConfig(type=qe.ScalarType.Int8, quantile=0.99, always_ram=True)
    if index.quantization == "binary":
        return qe.BinaryQuantizationConfig(always_ram=True)
    return None


def edge_search_params(index: IndexSettings, exact: bool = False) -> qe.SearchParams:
    quantization = None
    if index.quantization != "none":
        quantization = qe.QuantizationSearchParams(rescore=index.rescore, oversampling=index.oversampling)
    return qe.SearchParams(hnsw_ef=index.hnsw_ef, exact=exact, quantization=quantization)


def search_request(
    index: IndexSettings,
    layout: Layout,
    query: np.ndarray,
    limit: int,
    flt: qe.Filter | None,
    exact: bool = False,
    with_payload: bool | list[str] = True,
) -> qe.QueryRequest:
    """One Query API request: the full vector, or the MRL prefetch rescored on the full vector."""
    params = edge_search_params(index, exact)
    prefetches = None
    if layout.prefetch_dim is not None:
        prefetches = [
            qe.Prefetch(
                limit=max(index.prefetch_limit, limit),
                query=qe.Query.Nearest(mrl(query, layout.prefetch_dim).tolist(), using=PREFETCH),
                params=params,
                filter=flt,
            )
        ]
    return qe.QueryRequest(
        limit=limit,
        query=qe.Query.Nearest(query.tolist(), using=FULL),
        prefetches=prefetches,
        filter=flt,
        params=params,
        with_payload=with_payload,
    )


def lexical_requests(
    index: IndexSettings,
    layout: Layout,
    probe: Probe,
    limit: int,
    depth: int,
    with_payload: bool | list[str] = True,
) -> list[qe.QueryRequest]:
    """BM25 over ``search_text`` under the phrase filter ``probe.text_flt``, ``depth`` deep, and with a
    vector the dense request (``search_request``, ``limit`` deep) under ``probe.flt``: the two lists of a
    hybrid search."""
    assert probe.lexical is not None
    text = qe.QueryRequest(
        limit=depth, query=qe.TextQuery(SEARCH_TEXT, probe.lexical.text), filter=probe.text_flt,
        with_payload=with_payload,
    )  # fmt: skip
    if probe.vector is None:
        return [text]
    return [text, search_request(index, layout, probe.vector, limit, probe.flt, with_payload=with_payload)]


def edge_text_index(settings: LexicalSettings) -> qe.TextIndexParams:
    """The text index of ``search_text``: BM25 scoring, phrase matching, the configured tokenizer,
    stemmer and stopwords, lowercase."""
    stemmer = qe.SnowballParams(getattr(qe.SnowballLanguage, settings.language.capitalize()))
    return qe.TextIndexParams(
        tokenizer=getattr(qe.TokenizerType, settings.tokenizer.capitalize()),
        lowercase=True,
        phrase_matching=True,
        stemmer=stemmer if settings.stemmer else None,
        stopwords=None
        if settings.stopwords == "none"
        else getattr(qe.Language, settings.stopwords.capitalize()),
        scoring=True,
    )


def edge_point(
    point_id: str, vector: np.ndarray, payload: dict[str, Any], prefetch_dim: int | None
) -> qe.Point:
    vectors: dict[str, qe.NamedVector] = {FULL: vector.tolist()}
    if prefetch_dim is not None:
        vectors[PREFETCH] = mrl(vector, prefetch_dim).tolist()
    return qe.Point(point_id, vectors, payload)


def build_edge_filter(filters: Filters | None) -> qe.Filter | None:
    """``filters`` (scope included) as a Qdrant Edge filter; None when it restricts nothing (for tools
    that build their own requests: ``search_request``)."""
    condition = filter_condition(filters)
    return None if condition is None else compile_filter(condition, EDGE_FILTERS)


def payload_indexes(index: IndexSettings) -> dict[str, qe.PayloadSchemaType | qe.KeywordIndexParams]:
    """The payload indexes of a collection: every field a ``Filters`` names but metadata (its keys are
    the users'), the collection as the tenant, and a keyword index on each metadata key marked as a facet
    (``index.facets``)."""
    indexes: dict[str, qe.PayloadSchemaType | qe.KeywordIndexParams] = {
        TENANT_FIELD: qe.KeywordIndexParams(is_tenant=True)
    }
    indexes.update({name: qe.PayloadSchemaType.Keyword for name in KEYWORD_FIELDS})
    indexes.update({name: qe.PayloadSchemaType.Float for name in FLOAT_FIELDS})
    indexes.update({metadata_key(key): qe.PayloadSchemaType.Keyword for key in index.facets})
    return indexes


def _edge_range(key: str, bounds: Bounds) -> qe.FieldCondition:
    limits = qe.RangeDateTime(**bounds.limits()) if bounds.dates else qe.RangeFloat(**bounds.limits())
    return qe.FieldCondition(key=key, range=limits)


def _edge_match(key: str, value: Scalar) -> qe.FieldCondition:
    return qe.FieldCondition(key=key, match=qe.MatchValue(value))  # type: ignore[arg-type]


def _edge_filter(must: list[Any], should: list[Any], must_not: list[Any]) -> qe.Filter:
    return qe.Filter(must=must or None, should=should or None, must_not=must_not or None)


EDGE_FILTERS: Builders[Any, qe.Filter] = Builders(
    match=_edge_match,
    match_any=lambda key, values: qe.FieldCondition(key=key, match=qe.MatchAny(values)),
    range=_edge_range,
    is_empty=qe.IsEmptyCondition,
    filter=_edge_filter,
    booleans=False,  # qdrant-edge 0.9 reads True/False in a match as 1/0 (conditions.py)
    engine="the embedded store (Qdrant Edge 0.9)",
    phrase=lambda key, text: qe.FieldCondition(key=key, match=qe.MatchPhrase(text)),
)


def _meta(model_id: str, dim: int, prefetch_dim: int | None) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION, "model_id": model_id, "dim": dim, "prefetch_dim": prefetch_dim,
        "engine": f"{ENGINE} {_engine_version()}",
    }  # fmt: skip


def _engine_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(ENGINE)
    except PackageNotFoundError:
        return "unknown"


def write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    """Write ``path`` so that a crash leaves either the old file or the new one, never a torn one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as handle:
        json.dump(data, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot read {path}: {exc}. Move it away; mmsearch re-derives it.") from exc
    return data if isinstance(data, dict) else None
