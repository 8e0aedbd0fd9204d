"""The MCP tools over a store opened in this process: ``mmsearch mcp`` (stdio), and the base of ``served.py``.

Blocking work (the models, the store, the manifest, image files) runs in worker threads. Every query
carries the backend's ``scope`` (None: the whole index, as for the CLI), and a point read by id that the
scope does not admit is answered as absent. The searcher is asked for at the first search
(``LazySearcher``), so an agent connects at once and the models load only when a search needs them.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import anyio
import anyio.to_thread

from mmsearch import components
from mmsearch.api.edge.paths import media_file
from mmsearch.config import Settings
from mmsearch.errors import MmsearchError, NotFound
from mmsearch.index.listing import ListedDocument, committed_documents
from mmsearch.index.store import Filters, Payload, Scope, SearchMode, Store
from mmsearch.mcp.citations import Citation, Document, Found, Listing, Unit, local_link
from mmsearch.search.hits import Hit, SearchResult
from mmsearch.search.searcher import Query, Searcher


class LazySearcher:
    """Builds the embedder, the reranker (unless ``rerank`` is off) and the searcher at the first call."""

    def __init__(self, settings: Settings, store: Store, rerank: bool) -> None:
        self.settings = settings
        self.store = store
        self.rerank = rerank
        self._searcher: Searcher | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Searcher:
        with self._lock:
            if self._searcher is None:
                embedder = components.build_embedder(self.settings)
                reranker = components.build_reranker(self.settings) if self.rerank else None
                self._searcher = components.build_searcher(self.settings, embedder, self.store, reranker)
            return self._searcher


class StoreBackend:
    """``Backend`` over a store and the manifest beside it, seeing what ``scope`` admits (None: all)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        searcher: Callable[[], Searcher],
        *,
        scope: Scope | None = None,
        rerank: bool = True,
    ) -> None:
        self.settings = settings
        self.store = store
        self.searcher = searcher
        self.scope = scope
        self.rerank = rerank
        self._one_search = anyio.Lock()  # in process, the models take one search at a time

    # Links: a file on this machine. ``served.py`` gives the API's signed URLs instead.
    def hit_link(self, hit: Hit) -> str:
        return local_link(hit.source_path, hit.page, hit.t_start)

    def payload_link(self, payload: Payload) -> str:
        return local_link(payload.source_path, payload.page, payload.t_start)

    def document_link(self, doc: ListedDocument) -> str:
        return local_link(doc.path, None, None)

    async def search(
        self, query: str, *, top_k: int | None, filters: Filters | None, mode: SearchMode | None
    ) -> Found:
        async with self._one_search:
            result = await anyio.to_thread.run_sync(partial(self.search_now, query, top_k, filters, mode))
        return self.found(result)

    def search_now(
        self,
        query: str,
        top_k: int | None,
        filters: Filters | None,
        mode: SearchMode | None,
        cancelled: Callable[[], bool] | None = None,
    ) -> SearchResult:
        """The search itself (blocking), inside the scope."""
        if self.scope is not None:
            filters = replace(filters or Filters(), scope=self.scope)
        query_of = Query(text=query, filters=filters)
        return self.searcher().search(
            query_of, top_k=top_k, rerank=self.rerank, cancelled=cancelled, mode=mode
        )

    def found(self, result: SearchResult) -> Found:
        citations = tuple(Citation.of_hit(hit, self.hit_link(hit)) for hit in result.hits)
        return Found(citations, result.reranked, result.candidates, result.mode)

    async def unit(self, point_id: str) -> Unit:
        payload = await anyio.to_thread.run_sync(self.payload, point_id)
        return Unit(Citation.of_payload(point_id, payload, self.payload_link(payload)), payload.text)

    async def image(self, point_id: str) -> bytes | None:
        return await anyio.to_thread.run_sync(self._image, point_id)

    def _image(self, point_id: str) -> bytes | None:
        payload = self.payload(point_id)
        paths = payload.media_paths
        if not paths:
            return None
        # The preview: the middle frame of a video segment (as ``Hit.preview_index``), else the only one.
        path = paths[len(paths) // 2 if payload.modality == "video" else 0]
        try:
            return media_file(self.settings.data_dir, path).read_bytes()
        except MmsearchError:  # missing under data_dir/media (the API's 404): no image to show
            return None

    def payload(self, point_id: str) -> Payload:
        """The stored payload of a point the scope admits, else ``NotFound``."""
        missing = NotFound(
            f"no page {point_id[:80]!r}: give the point_id of a search hit (it may have been deleted or "
            "re-ingested since; search again)"
        )
        try:
            point_id = str(uuid.UUID(point_id))
        except ValueError:
            raise missing from None
        payload = self.store.retrieve([point_id]).get(point_id)
        if payload is None or (self.scope is not None and not self.scope.admits(payload)):
            raise missing
        return payload

    async def documents(self, collection: str | None, offset: int, limit: int) -> Listing:
        docs = await self.all_documents(collection)
        return Listing(len(docs), tuple(docs[offset : offset + limit]))

    async def all_documents(self, collection: str | None = None) -> list[Document]:
        listed = await anyio.to_thread.run_sync(self._listed, collection)
        return [
            Document(d.doc_id, d.collection, d.name or Path(d.path).name, d.modality, d.units, d.ingest_time,
                     self.document_link(d))
            for d in listed
        ]  # fmt: skip

    def _listed(self, collection: str | None) -> list[ListedDocument]:
        filters = Filters(collection=collection, scope=self.scope)
        with components.build_manifest(self.settings) as manifest:
            return committed_documents(self.store, manifest, None if filters.is_empty else filters)
