"""The ``Store`` over Qdrant, through qdrant-client: embedded local mode (a folder) or a server/cluster (a URL).

Schema of a collection:

- named vectors ``full`` (the embedding dimension) and, when ``index.prefetch_dim`` is set, ``prefetch``
  (the first ``prefetch_dim`` components of the same vector, L2-renormalised: its MRL truncation), both
  cosine. Search with a prefetch vector is one Query API call: the top ``prefetch_limit`` by the small
  vector, rescored on the full one (Qdrant docs, "Hybrid and multi-stage queries"; qdrant/qdrant-client
  ``local/local_collection.py`` ``_prefetch``, which also shows the top-level filter reaching the prefetch).
- payload: ``Payload.to_dict()`` plus ``path_prefixes`` — the source path and each of its ancestor
  folders — so a folder filter is one exact keyword match — and ``name_prefixes``, the same for the
  document's name (the ``folder`` filter).
- collection metadata ``{"mmsearch": {"schema", "model_id", "dim", "prefetch_dim", "preprocessing"}}`` (the
  last: ``index/fingerprint.py``, from the first ingest on). qdrant-client 1.20
  keeps collection metadata in local mode too (``local/qdrant_local.py`` ``create_collection``, saved in the
  folder's ``meta.json``), so no reserved point or side collection is needed. A server too old to return
  metadata falls back to the ``model_id`` in a stored point's payload; the dimensions always come from the
  vector configuration itself.

The lexical stage (issue 20): a full-text payload index on ``search_text`` with BM25 ``scoring`` and
``phrase_matching`` (``text_index``), made on a server and in local mode alike — local mode keeps text
indexes with scoring and answers ``TextQuery`` (qdrant-client ``local/local_collection.py``
``_query_text``, ``local/bm25.py``), with its default word tokenizer only, so there the index is made
with ``schema.PLAIN_LEXICAL`` and ``index.lexical`` is ignored with a logged note. It is recorded in the
collection metadata as ``lexical``. A keyword search is one ``query_points`` with a ``TextQuery`` (``using``
names the field); a hybrid one is one ``query_batch_points`` of the lexical and the dense request, each
under its filter, fused by ``fusion.fuse`` (RRF or DBSF with qdrant-client's formulas, ``hybrid/fusion.py``,
in a fixed order among equal BM25 scores: see ``fusion.py``). Quoted phrases are ``MatchPhrase``
conditions on the lexical request (``local/payload_filters.py`` ``check_match``). In local mode the dense
request is the full vector alone (an exact search there; a rescoring stage would be a filtered scan in
Python).

Server-only parts (local mode is an exact brute-force search that would ignore them): payload indexes on
the filter fields (``PAYLOAD_INDEXES``; ``collection`` with ``is_tenant``, created on a collection that
lacks them when it is next opened for writing), quantization (``scalar`` int8 or ``binary``, searched with ``rescore``/``oversampling``),
``shard_number`` and ``replication_factor``. In embedded mode they are skipped with a logged note.

Embedded mode: qdrant-client locks the folder (``<path>/.lock``, an exclusive non-blocking lock) for the
life of the client, so one process at a time; a second gets ``StoreLocked``. Calls are serialised with a
lock of our own, so one ``QdrantStore`` may serve several threads (the API's worker threads).
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from mmsearch.errors import ConfigError, MmsearchError, StoreError
from mmsearch.index.checked import CheckedStore, Probe
from mmsearch.index.conditions import Bounds, Builders, Scalar, metadata_key
from mmsearch.index.fusion import Found, fuse, top
from mmsearch.index.schema import (
    FULL,
    LEXICAL,
    NAME_PREFIXES,
    PATH_PREFIXES,
    PLAIN_LEXICAL,
    PREFETCH,
    PREPROCESSING,
    SCHEMA_VERSION,
    SCROLL_PAGE,
    SEARCH_TEXT,
    Layout,
    lexical_record,
    locked_error,
    mrl,
    prefetch_text,
    stored_payload,
)
from mmsearch.index.settings import IndexSettings, LexicalSettings, StoreSettings
from mmsearch.index.store import (
    VERSION_FIELDS,
    Candidate,
    Mode,
    Point,
    ScoredPoint,
)

log = logging.getLogger(__name__)

META_KEY = "mmsearch"
# Every field a ``Filters`` names but the users' metadata keys; the collection is the tenant (Qdrant's
# multitenancy guidance: one collection, a tenant payload field indexed with ``is_tenant``).
PAYLOAD_INDEXES: dict[str, models.PayloadSchemaType | models.KeywordIndexParams] = {
    "collection": models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True),
    "doc_id": models.PayloadSchemaType.KEYWORD,
    "modality": models.PayloadSchemaType.KEYWORD,
    PATH_PREFIXES: models.PayloadSchemaType.KEYWORD,
    "name": models.PayloadSchemaType.KEYWORD,
    "groups": models.PayloadSchemaType.KEYWORD,
    NAME_PREFIXES: models.PayloadSchemaType.KEYWORD,
    "ingest_time": models.PayloadSchemaType.FLOAT,
}


def connect(store: StoreSettings, index: IndexSettings, path: Path) -> QdrantStore:
    """Open the client for ``store`` (server when ``store.url`` is set, else the folder ``path``)."""
    if store.url is not None:
        client = _server_client(store)
        qstore = QdrantStore(
            client, collection=store.collection, index=index, mode="server", location=store.url
        )
    else:
        client = _embedded_client(path)
        qstore = QdrantStore(
            client, collection=store.collection, index=index, mode="embedded", location=str(path)
        )
    try:
        qstore.exists()  # fail now, not after a model has loaded, when the server is down
    except MmsearchError:
        qstore.close()
        raise
    return qstore


def _server_client(store: StoreSettings) -> QdrantClient:
    try:
        return QdrantClient(
            url=store.url,
            api_key=store.api_key,
            timeout=math.ceil(store.timeout_s),
            check_compatibility=False,
        )
    except ValueError as exc:
        raise ConfigError(f"store.url {store.url!r} is not a usable Qdrant URL: {exc}") from exc


def _embedded_client(path: Path) -> QdrantClient:
    try:
        path.mkdir(parents=True, exist_ok=True)
        if _is_locked(path):
            raise locked_error(path)
        return QdrantClient(path=str(path), force_disable_check_same_thread=True)
    except RuntimeError as exc:  # lost a race for the lock with another process
        if "already accessed" in str(exc):
            raise locked_error(path) from exc
        raise StoreError(f"cannot open the embedded Qdrant store at {path}: {exc}") from exc
    except (OSError, ValueError, sqlite3.Error) as exc:
        raise StoreError(
            f"cannot open the embedded Qdrant store at {path}: {exc}. Check the folder (store.path / "
            "data_dir) is writable and was made by Qdrant, or point store.path at an empty folder."
        ) from exc


def _is_locked(path: Path) -> bool:
    """Whether another client holds the folder, tried with the same lock qdrant-client takes
    (qdrant/qdrant-client ``local/qdrant_local.py`` ``_load``), so we fail before loading any data."""
    import portalocker  # qdrant-client's own dependency; imported late as qdrant-client does

    lock_file = path / ".lock"
    if not lock_file.exists():
        return False
    with open(lock_file, "r+") as handle:
        try:
            portalocker.lock(handle, portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING)
        except portalocker.exceptions.LockException:
            return True
        portalocker.unlock(handle)
    return False


class QdrantStore(CheckedStore):
    """``Store`` over one Qdrant collection. Build it with ``connect`` (or ``open_store``)."""

    def __init__(
        self, client: QdrantClient, *, collection: str, index: IndexSettings, mode: Mode, location: str
    ) -> None:
        self.client = client
        self.collection = collection
        self.index = index
        self.mode = mode
        self.location = location
        self._lock: AbstractContextManager[Any] = threading.RLock() if mode == "embedded" else nullcontext()
        self._layout: Layout | None = None
        self._closed = False
        self._search_params = search_params(index) if mode == "server" else None
        # Where a prefetch's candidates are rescored on the full vector: by the server in the same
        # Query API call, or here (embedded mode; see ``_two_stages_here``).
        self.rescore_in_client = mode == "embedded"
        if mode == "embedded":
            _note_server_only(index)

    # -- collection --------------------------------------------------------------------------------

    def drop(self) -> bool:
        with self._calling("delete the collection"):
            existed = bool(self.client.delete_collection(self.collection))
        self._layout = None
        self._lexical_cache = None
        log.info("dropped collection '%s' at %s", self.collection, self.location)
        return existed

    def optimize(self, force: bool = False) -> bool:
        """Nothing to do: a server builds its HNSW index by itself, and local mode has none."""
        return False

    def _create(self, model_id: str, dim: int) -> None:
        server = self.mode == "server"
        try:
            with self._calling("create the collection"):
                self.client.create_collection(
                    self.collection,
                    vectors_config=vectors_config(dim, self.index.prefetch_dim),
                    metadata={META_KEY: _meta(model_id, dim, self.index.prefetch_dim)},
                    **(server_collection_options(self.index) if server else {}),
                )
        except StoreError:
            if not self.exists():  # else another process created it first: verify theirs
                raise
        if server:
            self._create_payload_indexes()
        log.info(
            "created collection '%s' at %s: %d-d %s (prefetch %s)",
            self.collection, self.location, dim, model_id, prefetch_text(self.index.prefetch_dim),
        )  # fmt: skip

    def _payload_indexes(self) -> dict[str, models.PayloadSchemaType | models.KeywordIndexParams]:
        """``PAYLOAD_INDEXES`` and a keyword index on each metadata key marked as a facet (``index.facets``)."""
        facets = {metadata_key(key): models.PayloadSchemaType.KEYWORD for key in self.index.facets}
        return {**PAYLOAD_INDEXES, **facets}

    def _create_payload_indexes(self, names: Sequence[str] | None = None) -> None:
        wanted = self._payload_indexes()
        for name in wanted if names is None else names:
            with self._calling(f"index the payload field {name}"):
                self.client.create_payload_index(self.collection, name, field_schema=wanted[name], wait=True)

    def _ensure_payload_indexes(self) -> None:
        """On a server, the indexes a collection made by an older version lacks (local mode keeps none)."""
        if self.mode != "server":
            return
        with self._calling("read the payload indexes"):
            have = self.client.get_collection(self.collection).payload_schema or {}
        missing = [name for name in self._payload_indexes() if name not in have]
        self._create_payload_indexes(missing)
        if missing:
            log.info("collection '%s': indexed the payload fields %s", self.collection, ", ".join(missing))

    @property
    def lexical(self) -> LexicalSettings:
        """The text index's settings: ``index.lexical`` on a server, the default word tokenizer in local mode."""
        return self.index.lexical if self.mode == "server" else PLAIN_LEXICAL

    def lexical_settings_record(self) -> dict[str, Any]:
        return lexical_record(self.lexical)

    def _read_lexical(self) -> dict[str, Any] | None:
        recorded = self._mmsearch_meta().get(LEXICAL)
        return recorded if isinstance(recorded, dict) else None

    def _make_text_index(self, record: dict[str, Any], replacing: bool) -> None:
        """Create (in place of one with other settings: Qdrant replaces a field's index) the text index,
        then record it."""
        self.client.create_payload_index(
            self.collection, SEARCH_TEXT, field_schema=text_index(self.lexical), wait=True
        )
        layout = self._read_layout()
        assert layout is not None
        meta = self._mmsearch_meta() or _meta(layout.model_id or "", layout.dim, layout.prefetch_dim)
        self.client.update_collection(self.collection, metadata={META_KEY: {**meta, LEXICAL: record}})

    def _set_payloads(self, patches: Sequence[tuple[list[str], dict[str, Any]]]) -> None:
        """All patches in one request (``batch_update_points``): one per point, when each gets its own
        ``search_text``, would be a request per point."""
        operations: list[models.UpdateOperation] = [
            models.SetPayloadOperation(set_payload=models.SetPayload(payload=values, points=list(ids)))
            for ids, values in patches
        ]
        if operations:
            self.client.batch_update_points(self.collection, operations, wait=True)

    def exists(self) -> bool:
        with self._calling("look up the collection"):
            return bool(self.client.collection_exists(self.collection))

    def _read_layout(self) -> Layout | None:
        if self._layout is not None:
            return self._layout
        if not self.exists():
            return None
        with self._calling("read the collection's configuration"):
            info = self.client.get_collection(self.collection)
        self._layout = self._layout_of(info)
        return self._layout

    def _layout_of(self, info: models.CollectionInfo) -> Layout:
        vectors = info.config.params.vectors
        if not isinstance(vectors, dict) or FULL not in vectors:
            raise StoreError(
                f"collection '{self.collection}' at {self.location} was not made by mmsearch (it has no "
                f"'{FULL}' vector). Use another store.collection."
            )
        prefetch = vectors.get(PREFETCH)
        meta = (info.config.metadata or {}).get(META_KEY) or {}
        model_id = meta.get("model_id") or self._model_of_a_point()
        return Layout(vectors[FULL].size, prefetch.size if prefetch else None, model_id)

    def _model_of_a_point(self) -> str | None:
        with self._calling("read a point"):
            records, _ = self.client.scroll(self.collection, limit=1, with_payload=["model_id"])
        return str(records[0].payload["model_id"]) if records and records[0].payload else None

    # -- preprocessing fingerprint (index/fingerprint.py), kept in the collection's metadata -----------

    def preprocessing(self) -> dict[str, Any] | None:
        """The collection's recorded preprocessing fingerprint; None when none is (or no collection)."""
        recorded = self._mmsearch_meta().get(PREPROCESSING)
        return recorded if isinstance(recorded, dict) else None

    def record_preprocessing(self, fingerprint: dict[str, Any]) -> None:
        """Keep ``fingerprint`` in the collection's metadata. A server that refuses to update metadata is
        logged and skipped: the fingerprint is then simply not recorded (and nothing is compared)."""
        layout = self._read_layout()
        if layout is None:
            return
        meta = self._mmsearch_meta() or {
            **_meta("", layout.dim, layout.prefetch_dim),
            "model_id": layout.model_id,
        }
        try:
            with self._calling("record the preprocessing fingerprint"):
                self.client.update_collection(
                    self.collection, metadata={META_KEY: {**meta, PREPROCESSING: fingerprint}}
                )
        except StoreError as exc:
            log.warning("collection '%s': preprocessing fingerprint not recorded: %s", self.collection, exc)

    def _mmsearch_meta(self) -> dict[str, Any]:
        if not self.exists():
            return {}
        with self._calling("read the collection's configuration"):
            metadata = self.client.get_collection(self.collection).config.metadata or {}
        meta = metadata.get(META_KEY)
        return dict(meta) if isinstance(meta, dict) else {}

    # -- writes ------------------------------------------------------------------------------------

    def _write(self, batch: Sequence[tuple[Point, np.ndarray]], layout: Layout) -> None:
        structs = [_struct(point, vector, layout.prefetch_dim) for point, vector in batch]
        with self._calling(f"store {len(structs)} points"):
            self.client.upsert(self.collection, points=structs, wait=True)

    def _set_payload(self, ids: list[str], values: dict[str, Any]) -> None:
        self.client.set_payload(self.collection, values, points=list(ids), wait=True)

    def _delete_ids(self, ids: list[str]) -> None:
        self.client.delete(self.collection, models.PointIdsList(points=list(ids)), wait=True)

    def _delete_matching(self, flt: models.Filter) -> None:
        self.client.delete(self.collection, models.FilterSelector(filter=flt), wait=True)

    # -- reads -------------------------------------------------------------------------------------

    def _search(self, probe: Probe, layout: Layout, limit: int) -> list[ScoredPoint]:
        found = self._found(probe, layout, limit, True)
        return [ScoredPoint(str(i), score, self._payload(i, payload)) for i, score, payload in found]

    def _nearest(self, probe: Probe, layout: Layout, limit: int) -> list[Candidate]:
        found = self._found(probe, layout, limit, list(VERSION_FIELDS))
        return [self._candidate(i, score, payload) for i, score, payload in found]

    def _found(self, probe: Probe, layout: Layout, limit: int, payload: bool | list[str]) -> list[Found]:
        """(id, score, payload with ``payload``'s fields) of the ``limit`` best points, best first."""
        if probe.lexical is not None:
            return self._found_lexical(probe, layout, limit, payload)
        assert probe.vector is not None
        return self._found_dense(probe.vector, layout, limit, probe.flt, payload)

    def _found_lexical(
        self, probe: Probe, layout: Layout, limit: int, payload: bool | list[str]
    ) -> list[Found]:
        """A keyword search, or a hybrid one: the lexical and the dense list in one batch, fused here."""
        assert probe.lexical is not None
        if probe.vector is not None and payload is True:  # hybrid: the fused hits' payloads only, below
            found = self._found_lexical(probe, layout, limit, list(VERSION_FIELDS))
            records = {str(r.id): r.payload for r in self._records([f[0] for f in found])} if found else {}
            return [(i, score, records[i]) for i, score, _ in found if i in records]
        text = models.TextQuery(text=probe.lexical.text)

        def text_request(depth: int) -> models.QueryRequest:
            return models.QueryRequest(
                query=text, using=SEARCH_TEXT, filter=probe.text_flt, limit=depth, with_payload=payload
            )

        requests = [text_request(limit + 1)]
        if probe.vector is not None:
            requests.append(self._dense_request(probe.vector, layout, limit, probe.flt, payload))
        with self._calling("search"):
            results = self.client.query_batch_points(self.collection, requests)
        lists = [[(str(p.id), float(p.score), p.payload) for p in r.points] for r in results]

        def deeper(depth: int) -> list[Found]:
            with self._calling("search"):
                found = self.client.query_batch_points(self.collection, [text_request(depth)])[0].points
            return [(str(p.id), float(p.score), p.payload) for p in found]

        lexical = top(lists[0], limit, limit + 1, deeper)
        return lexical if len(lists) == 1 else fuse(lexical, lists[1], probe.fusion, limit)

    def _dense_request(
        self,
        query: np.ndarray,
        layout: Layout,
        limit: int,
        flt: models.Filter | None,
        payload: bool | list[str],
    ) -> models.QueryRequest:
        """The dense list of a hybrid search: on a server the full vector over the MRL prefetch (when there
        is one), as a vector search runs; in local mode the full vector alone."""
        prefetch = None if self.rescore_in_client else self._prefetch(query, layout, limit, flt)
        return models.QueryRequest(
            query=query.tolist(), using=FULL, prefetch=prefetch, filter=flt, params=self._search_params,
            limit=limit, with_payload=payload,
        )  # fmt: skip

    def _found_dense(
        self,
        query: np.ndarray,
        layout: Layout,
        limit: int,
        flt: models.Filter | None,
        payload: bool | list[str],
    ) -> list[tuple[Any, float, dict[str, Any] | None]]:
        """The ``limit`` nearest points, best first."""
        if layout.prefetch_dim is not None and self.rescore_in_client:
            return self._two_stages_here(query, layout.prefetch_dim, limit, flt, payload)
        prefetch = self._prefetch(query, layout, limit)
        with self._calling("search"):
            found = self.client.query_points(
                self.collection, query=query.tolist(), using=FULL, prefetch=prefetch, query_filter=flt,
                search_params=self._search_params, limit=limit, with_payload=payload,
            ).points  # fmt: skip
        return [(p.id, float(p.score), p.payload) for p in found]

    def _prefetch(
        self, query: np.ndarray, layout: Layout, limit: int, flt: models.Filter | None = None
    ) -> models.Prefetch | None:
        """The MRL prefetch stage of a dense search (None without a prefetch vector): its candidates are
        rescored on the full vector."""
        if layout.prefetch_dim is None:
            return None
        return models.Prefetch(
            query=mrl(query, layout.prefetch_dim).tolist(), using=PREFETCH, filter=flt,
            limit=max(self.index.prefetch_limit, limit), params=self._search_params,
        )  # fmt: skip

    def _two_stages_here(
        self,
        query: np.ndarray,
        prefetch_dim: int,
        limit: int,
        flt: models.Filter | None,
        payload: bool | list[str],
    ) -> list[tuple[Any, float, dict[str, Any] | None]]:
        """Prefetch on the small vector, then rescore its candidates' full vectors with numpy.

        Embedded mode only: local mode runs the Query API's rescoring stage as a search of the whole
        collection under a has-id filter checked point by point in Python (qdrant/qdrant-client
        ``local/local_collection.py`` ``_merge_sources``), slower than no prefetch at all.
        """
        with self._calling("search"):
            candidates = self.client.query_points(
                self.collection, query=mrl(query, prefetch_dim).tolist(), using=PREFETCH, query_filter=flt,
                limit=max(self.index.prefetch_limit, limit), with_payload=False, with_vectors=[FULL],
            ).points  # fmt: skip
        if not candidates:
            return []
        full = np.array([_named_vector(c.vector, FULL) for c in candidates], dtype=np.float32)
        scores = full @ query
        best = [candidates[i].id for i in np.argsort(-scores, kind="stable")[:limit]]
        score_of = {c.id: float(score) for c, score in zip(candidates, scores, strict=True)}
        with self._calling(f"read {len(best)} payloads"):
            records = {r.id: r for r in self.client.retrieve(self.collection, best, with_payload=payload)}
        # a point deleted between the two calls is dropped, not returned without its payload
        return [(i, score_of[i], records[i].payload) for i in best if i in records]

    def _records(self, ids: list[str]) -> list[models.Record]:
        with self._calling(f"read {len(ids)} points"):
            return self.client.retrieve(self.collection, list(ids), with_payload=True)

    def _count(self, flt: models.Filter | None) -> int:
        with self._calling("count points"):
            return int(self.client.count(self.collection, count_filter=flt, exact=True).count)

    def _facet(self, key: str, flt: models.Filter | None, limit: int) -> list[tuple[str, int]]:
        with self._calling(f"count points by {key}"):
            answer = self.client.facet(self.collection, key, facet_filter=flt, limit=limit, exact=True)
        # Local mode counts without indexes: keep what a keyword index (Edge, a server) counts, strings.
        return [(hit.value, int(hit.count)) for hit in answer.hits if isinstance(hit.value, str)]

    @property
    def _builders(self) -> Builders[Any, models.Filter]:
        return QDRANT_FILTERS

    def _scroll(self, flt: models.Filter | None, payload: list[str] | bool) -> Iterator[models.Record]:
        offset: Any = None
        while True:
            with self._calling("list points"):
                records, offset = self.client.scroll(
                    self.collection, scroll_filter=flt, limit=SCROLL_PAGE, offset=offset, with_payload=payload
                )
            yield from records
            if offset is None:
                return

    # -- lifecycle ---------------------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._lock:
            self.client.close()

    @contextmanager
    def _calling(self, action: str) -> Iterator[None]:
        """Serialise (embedded) and translate every qdrant-client failure into a ``StoreError``."""
        if self._closed:
            raise StoreError(f"cannot {action}: the store at {self.location} is closed")
        with self._lock:
            try:
                yield
            except UnexpectedResponse as exc:
                detail = exc.content.decode(errors="replace")[:300]
                hint = " Check store.api_key." if exc.status_code in (401, 403) else ""
                raise StoreError(
                    f"Qdrant at {self.location} refused to {action} in collection '{self.collection}': "
                    f"HTTP {exc.status_code} {detail}.{hint}"
                ) from exc
            except (ResponseHandlingException, httpx.HTTPError) as exc:
                raise StoreError(
                    f"cannot reach the Qdrant server at {self.location} to {action}: {_cause(exc)}. Is it "
                    "running and is store.url right? (unset store.url to use the embedded store)"
                ) from exc
            except (ValueError, RuntimeError, OSError, sqlite3.Error) as exc:
                raise StoreError(f"the Qdrant store at {self.location} failed to {action}: {exc}") from exc


# -- schema: pure functions, shared by the store and its tests ---------------------------------------


def vectors_config(dim: int, prefetch_dim: int | None) -> dict[str, models.VectorParams]:
    config = {FULL: models.VectorParams(size=dim, distance=models.Distance.COSINE)}
    if prefetch_dim is not None:
        config[PREFETCH] = models.VectorParams(size=prefetch_dim, distance=models.Distance.COSINE)
    return config


def server_collection_options(index: IndexSettings) -> dict[str, Any]:
    """Collection options only a server acts on: sharding, replication, quantization."""
    options: dict[str, Any] = {
        "shard_number": index.shard_number,
        "replication_factor": index.replication_factor,
        "hnsw_config": models.HnswConfigDiff(m=index.hnsw_m, ef_construct=index.hnsw_ef_construct),
    }
    quantization = quantization_config(index)
    if quantization is not None:
        options["quantization_config"] = quantization
    return options


def quantization_config(index: IndexSettings) -> models.QuantizationConfig | None:
    if index.quantization == "scalar":
        return models.ScalarQuantization(
            scalar=models.ScalarQuantizationConfig(
                type=models.ScalarType.INT8, quantile=0.99, always_ram=True
            )
        )
    if index.quantization == "binary":
        return models.BinaryQuantization(binary=models.BinaryQuantizationConfig(always_ram=True))
    return None


def search_params(index: IndexSettings) -> models.SearchParams:
    quantization = None
    if index.quantization != "none":
        quantization = models.QuantizationSearchParams(rescore=index.rescore, oversampling=index.oversampling)
    return models.SearchParams(hnsw_ef=index.hnsw_ef, quantization=quantization)


def text_index(settings: LexicalSettings) -> models.TextIndexParams:
    """The text index of ``search_text`` (as ``edge_store.edge_text_index``): BM25 scoring, phrase
    matching, the tokenizer, stemmer and stopwords of ``settings``, lowercase."""
    stemmer = models.SnowballParams(
        type=models.Snowball.SNOWBALL, language=models.SnowballLanguage(settings.language)
    )
    return models.TextIndexParams(
        type=models.TextIndexType.TEXT,
        tokenizer=models.TokenizerType(settings.tokenizer),
        lowercase=True,
        phrase_matching=True,
        stemmer=stemmer if settings.stemmer else None,
        stopwords=None if settings.stopwords == "none" else models.Language(settings.stopwords),
        scoring=True,
    )


def _range(key: str, bounds: Bounds) -> models.FieldCondition:
    limits = models.DatetimeRange(**bounds.limits()) if bounds.dates else models.Range(**bounds.limits())
    return models.FieldCondition(key=key, range=limits)


def _filter(must: list[Any], should: list[Any], must_not: list[Any]) -> models.Filter:
    return models.Filter(must=must or None, should=should or None, must_not=must_not or None)


def _field_match(key: str, value: Scalar) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


QDRANT_FILTERS: Builders[Any, models.Filter] = Builders(
    match=_field_match,
    match_any=lambda key, values: models.FieldCondition(key=key, match=models.MatchAny(any=values)),
    range=_range,
    is_empty=lambda key: models.IsEmptyCondition(is_empty=models.PayloadField(key=key)),
    filter=_filter,
    engine="Qdrant",
    phrase=lambda key, text: models.FieldCondition(key=key, match=models.MatchPhrase(phrase=text)),
)


def _struct(point: Point, vector: np.ndarray, prefetch_dim: int | None) -> models.PointStruct:
    vectors = {FULL: vector.tolist()}
    if prefetch_dim is not None:
        vectors[PREFETCH] = mrl(vector, prefetch_dim).tolist()
    return models.PointStruct(id=point.id, vector=vectors, payload=stored_payload(point.payload))


def _named_vector(vectors: Any, name: str) -> list[float]:
    if not isinstance(vectors, dict) or not isinstance(vectors.get(name), list):
        raise StoreError(f"Qdrant returned no '{name}' vector for a search candidate")
    return vectors[name]


def _meta(model_id: str, dim: int, prefetch_dim: int | None) -> dict[str, Any]:
    return {"schema": SCHEMA_VERSION, "model_id": model_id, "dim": dim, "prefetch_dim": prefetch_dim}


def _cause(exc: Exception) -> str:
    source = exc.source if isinstance(exc, ResponseHandlingException) else exc
    return f"{type(source).__name__}: {source}"


def _note_server_only(index: IndexSettings) -> None:
    ignored = []
    if index.quantization != "none":
        ignored.append(f"index.quantization={index.quantization}")
    if index.shard_number != 1 or index.replication_factor != 1:
        ignored.append(
            f"index.shard_number={index.shard_number}/replication_factor={index.replication_factor}"
        )
    if index.lexical != PLAIN_LEXICAL:
        ignored.append("index.lexical (local mode splits words with the default word tokenizer only)")
    if ignored:
        log.info("embedded Qdrant searches exactly and has no cluster: ignoring %s", ", ".join(ignored))
